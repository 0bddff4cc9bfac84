from __future__ import annotations

import stat
from typing import TYPE_CHECKING

import pytest

from hoplab.errors import SessionNotFoundError, StateStoreError
from hoplab.records.model import Session, SessionState
from hoplab.records.store import SessionStore

if TYPE_CHECKING:
    from pathlib import Path


def make(sid: str) -> Session:
    return Session(sid, "t", "host", ("jump",), None, True, "lab", token="secret")


def test_round_trip_and_permissions(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "state" / "sessions.db")
    store.save(make("abcd1234"))
    got = store.get("abcd")
    assert got.jumps == ("jump",)
    assert got.state is SessionState.STARTING
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    for path in (tmp_path / "state").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_unknown_and_ambiguous(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.db")
    store.save(make("ab01"))
    store.save(make("ab02"))
    with pytest.raises(SessionNotFoundError):
        store.get("zz")
    with pytest.raises(SessionNotFoundError, match="ambiguous"):
        store.get("ab")


def test_public_never_has_token() -> None:
    assert "secret" not in str(make("x").public())


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_database_is_a_clear_error(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "s.db"
    store = SessionStore(path)
    store.save(make("abcd"))
    store.close()
    for extra in ("-wal", "-shm"):
        (tmp_path / f"s.db{extra}").unlink(missing_ok=True)
    data = path.read_bytes()
    path.write_bytes(data[:200] if damage == "truncate" else b"not a database" * 100)
    with pytest.raises(StateStoreError) as caught:
        SessionStore(path).all()
    assert str(path) in caught.value.hint
    assert path.exists()  # nothing was silently dropped


def test_a_commit_is_not_a_disk_sync(tmp_path: Path) -> None:
    """WAL with synchronous=NORMAL, on every thread's connection: commits wait for no fsync."""
    import threading

    store = SessionStore(tmp_path / "s.db")
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    seen = []
    worker = threading.Thread(
        target=lambda: seen.append(store._db.execute("PRAGMA synchronous").fetchone()[0])
    )
    worker.start()
    worker.join()
    assert [store._db.execute("PRAGMA synchronous").fetchone()[0], *seen] == [1, 1]  # NORMAL
    store.close()
