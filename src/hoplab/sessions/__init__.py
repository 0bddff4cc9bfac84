"""The use cases (up, attach, down, ls, logs), the session store, and what they share."""
