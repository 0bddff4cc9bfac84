"""Sessions in SQLite (WAL): 0600 file in a 0700 directory, with a schema version.

One store may be used from several threads (``ls`` and ``down`` reach their targets in
parallel): each thread gets its own connection to the same file, and SQLite's own locking
(WAL, a busy timeout) orders their writes. Every write is one statement, so no transaction
spans threads.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from typing import TYPE_CHECKING

from hoplab.errors import SessionNotFoundError, StateStoreError
from hoplab.paths import private_dir, state_dir
from hoplab.records.model import Session

if TYPE_CHECKING:
    from pathlib import Path

SCHEMA_VERSION = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    target_key TEXT NOT NULL,
    state TEXT NOT NULL,
    created REAL NOT NULL,
    data TEXT NOT NULL,
    protocol INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS sessions_target ON sessions (target_key, state);
"""
# Each step takes a store from the version before it to its own; run in order, one transaction.
MIGRATIONS = {
    # 2: the protocol version of the hoplab that started each session (all were 1 before).
    2: "ALTER TABLE sessions ADD COLUMN protocol INTEGER NOT NULL DEFAULT 1",
}


class SessionStore:
    """The local registry of sessions. Every write is one transaction."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or state_dir() / "sessions.db"
        private_dir(self.path.parent)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        self.path.chmod(0o600)
        self._file = self._identity()
        # Two hoplab processes that meet a new (or older) store set it up one after the other:
        # SQLite may refuse a second journal-mode or schema change at once ("locked") rather
        # than wait for it.
        lock = os.open(self.path.with_name(f"{self.path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._owner = threading.get_ident()
            self._main = self._connect()
            self._main.execute("PRAGMA journal_mode=WAL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StateStoreError(
                    f"{self.path} was written by a newer hoplab (schema {version})",
                    "upgrade hoplab: pip install -U hoplab",
                )
            self._migrate(version)
            self._db.execute("SELECT count(*) FROM sessions").fetchone()
            self._local = threading.local()
            self._others: list[sqlite3.Connection] = []
            self._others_lock = threading.Lock()
        except sqlite3.DatabaseError as exc:
            raise self._broken(exc) from exc
        finally:
            os.close(lock)  # and with it the lock

    def _identity(self) -> tuple[int, int] | None:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return None
        return info.st_dev, info.st_ino

    def replaced(self) -> bool:
        """Whether the file at :attr:`path` is no longer the one this store opened: moved aside
        (the way back from a broken database) or removed. SQLite goes on reading the old file,
        so a long-lived process asks this before trusting what it reads."""
        return self._identity() != self._file

    def _connect(self) -> sqlite3.Connection:
        # check_same_thread=False only so that close() may close another thread's connection
        # once that thread is done; each connection is used by the thread that made it.
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
        # In WAL mode, NORMAL syncs at checkpoints rather than at every commit (SQLite's advice
        # for WAL): a commit survives hoplab being killed, and the store stays whole on a power
        # loss, which may take the last commits with it (the sessions of a laptop that lost
        # power are found again by 'ls --scan'). `up` commits seven times; FULL cost a sync each.
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    @property
    def _db(self) -> sqlite3.Connection:
        """This thread's connection: the first one for the thread that made the store."""
        if threading.get_ident() == self._owner:
            return self._main
        found: sqlite3.Connection | None = getattr(self._local, "db", None)
        if found is None:
            try:
                found = self._connect()
            except sqlite3.DatabaseError as exc:
                raise self._broken(exc) from exc
            self._local.db = found
            with self._others_lock:
                self._others.append(found)
        return found

    def _migrate(self, version: int) -> None:
        """Bring a store of ``version`` (0: new) to :data:`SCHEMA_VERSION`, atomically."""
        if version == 0:
            self._db.executescript(SCHEMA)  # idempotent: IF NOT EXISTS
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            return
        if version == SCHEMA_VERSION:
            return
        self._db.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait, then see it
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            for step in range(version + 1, SCHEMA_VERSION + 1):
                self._db.execute(MIGRATIONS[step])
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _broken(self, exc: sqlite3.Error) -> StateStoreError:
        if "locked" in str(exc) or "busy" in str(exc):
            return StateStoreError(
                f"the session database {self.path} stayed busy: another hoplab holds it",
                "try again in a moment; if it lasts, look for a hoplab process that hangs",
            )
        aside = self.path.with_name(f"broken-{time.strftime('%Y%m%d-%H%M%S')}")
        return StateStoreError(
            f"the session database {self.path} is unreadable ({exc})",
            f"move it (with its -wal and -shm files) aside to start a fresh one: "
            f"mkdir {aside} && mv {self.path}* {aside}/ ; running sessions keep running, and "
            "'hoplab ls --scan TARGET' then finds them (from ~/.hoplab/sessions/ on TARGET) "
            "so that 'hoplab down' can stop them",
        )

    def close_threads(self) -> None:
        """Close the other threads' connections, once those threads are done with the store
        (a thread that uses it again gets a new one)."""
        with self._others_lock:
            others, self._others = self._others, []
            self._local = threading.local()
        for db in others:
            db.close()

    def close(self) -> None:
        self.close_threads()
        self._main.close()

    def save(self, session: Session) -> None:
        """Insert or update ``session``."""
        session.updated = time.time()
        try:
            self._db.execute(
                "INSERT INTO sessions (id, target_key, state, created, data, protocol) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                "target_key = excluded.target_key, state = excluded.state, data = excluded.data, "
                "protocol = excluded.protocol",
                (
                    session.id,
                    session.target_key,
                    session.state.value,
                    session.created,
                    json.dumps(session.to_record()),
                    session.protocol,
                ),
            )
        except sqlite3.DatabaseError as exc:
            raise self._broken(exc) from exc

    def _select(self, where: str = "", params: tuple[str, ...] = ()) -> list[Session]:
        query = f"SELECT data, protocol FROM sessions {where} ORDER BY created"  # noqa: S608  (constant clauses)
        try:
            rows = self._db.execute(query, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._broken(exc) from exc
        return [
            Session.from_record({**json.loads(data), "protocol": protocol})
            for data, protocol in rows
        ]

    def all(self) -> list[Session]:
        return self._select()

    def live(self) -> list[Session]:
        return self._select("WHERE state IN ('starting', 'ready', 'detached')")

    def unfinished(self) -> list[Session]:
        """Live, lost and ended sessions, whose remote leftovers ``down`` still has to remove,
        and those stopped elsewhere, whose record (and tombstone) it has to settle."""
        return self._select(
            "WHERE state IN ('starting', 'ready', 'detached', 'lost', 'ended', 'stopped-elsewhere')"
        )

    def live_for(self, target_key: str) -> list[Session]:
        return self._select(
            "WHERE target_key = ? AND state IN ('starting', 'ready', 'detached')", (target_key,)
        )

    def get(self, session_id: str) -> Session:
        """The session with this id, or the only one whose id starts with it."""
        # A literal, case-sensitive prefix: no LIKE, whose % and _ would match anything.
        matches = self._select("WHERE substr(id, 1, length(?)) = ?", (session_id, session_id))
        exact = [session for session in matches if session.id == session_id]
        if exact:
            return exact[0]
        if len(matches) == 1 and session_id:
            return matches[0]
        if not matches or not session_id:
            raise SessionNotFoundError(session_id)
        raise SessionNotFoundError(
            f"{session_id} (ambiguous: it starts {', '.join(s.id for s in matches)})"
        )
