"""The use cases (up, attach, down, ls, logs, supervise) and what they share."""
