"""A store written by hoplab 0.1.0 (schema 1) opens in this hoplab, migrated, with nothing lost."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hoplab.errors import SessionStateError
from hoplab.protocol import VERSION
from hoplab.records.model import SessionState
from hoplab.records.store import SCHEMA_VERSION, SessionStore

RECORDED = Path(__file__).parent.parent / "data" / "store-schema1.sql"


@pytest.fixture
def old_store(tmp_path: Path) -> Path:
    path = tmp_path / "sessions.db"
    with sqlite3.connect(path) as db:
        db.executescript(RECORDED.read_text())
    db.close()
    path.chmod(0o600)
    return path


def test_a_schema_1_store_migrates_and_keeps_every_session(old_store: Path) -> None:
    store = SessionStore(old_store)
    sessions = {s.id: s for s in store.all()}
    assert set(sessions) == {"3f9c2a1b", "77aa00cc"}
    plain, batch = sessions["3f9c2a1b"], sessions["77aa00cc"]
    assert (plain.state, plain.jupyter_pid, plain.local_port) == (
        SessionState.DETACHED,
        4242,
        41873,
    )
    assert (batch.scheduler, batch.job_id, batch.node) == ("slurm", "17", "node002")
    assert plain.protocol == batch.protocol == 1  # what 0.1.0 spoke
    plain.require_protocol()  # an older session is driven as it is
    store.close()
    with sqlite3.connect(old_store) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        columns = [row[1] for row in db.execute("PRAGMA table_info(sessions)")]
    db.close()
    assert "protocol" in columns


def test_a_migrated_store_opens_again_unchanged(old_store: Path) -> None:
    SessionStore(old_store).close()
    again = SessionStore(old_store)
    assert len(again.all()) == 2
    again.close()


def test_a_session_of_a_newer_protocol_is_refused_with_what_to_do(old_store: Path) -> None:
    store = SessionStore(old_store)
    session = store.get("3f9c2a1b")
    session.protocol = VERSION + 1
    store.save(session)
    again = store.get("3f9c2a1b")
    with pytest.raises(SessionStateError, match="newer hoplab") as caught:
        again.require_protocol()
    assert "upgrade" in caught.value.hint
    store.close()


def test_hoplabs_that_meet_a_new_store_at_once_all_open_it(tmp_path: Path) -> None:
    """Two `up` started together on a fresh machine: neither finds the store "locked"."""
    import subprocess
    import sys

    path = tmp_path / "sessions.db"
    code = "import sys; from pathlib import Path; from hoplab.records.store import SessionStore; "
    code += "SessionStore(Path(sys.argv[1])).close()"
    for _ in range(5):
        path.unlink(missing_ok=True)
        starts = [
            subprocess.Popen([sys.executable, "-c", code, str(path)], stderr=subprocess.PIPE)
            for _ in range(4)
        ]
        errors = [process.communicate(timeout=60)[1] for process in starts]
        assert [process.returncode for process in starts] == [0, 0, 0, 0], errors
