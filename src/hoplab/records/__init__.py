"""The session records: what a session is, and the SQLite store that keeps them."""
