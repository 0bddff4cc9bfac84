"""Decisions the CLI used to make itself, now in the library: request, holding, pruning."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from hoplab import config
from hoplab.records.model import Session, SessionState
from hoplab.records.store import SessionStore
from hoplab.sessions import holding
from hoplab.sessions.listing import Row, prunable
from hoplab.sessions.request import up_request

if TYPE_CHECKING:
    from pathlib import Path


def make(sid: str, state: SessionState, *, orphan: bool = False) -> Session:
    return Session(
        sid, "t", "host", (), None, True, "lab", token="secret", state=state, orphan=orphan
    )


def test_up_request_from_a_profile_and_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[profiles.gpu]\nhost = "login.hpc"\njump = ["gw"]\nssh_config = "~/cfg"\n'
        'time = "1h30m"\nmem = "16G"\nforward = ["tb=6006"]\nlease = "30"\nmodule = "py"\n'
    )
    resolved = config.resolve(
        "gpu", {"cpus": 4, "idle_timeout": "1:00:00", "mux": False}, config.load(path)
    )
    request = up_request(resolved, new=True, detach=False, interactive=False)
    assert request.label == "gpu"
    assert request.target.destination == "login.hpc"
    assert request.target.jumps == ("gw",)
    assert request.target.config_file == os.path.expanduser("~/cfg")  # noqa: PTH111
    assert request.resources.time == 5400
    assert request.resources.cpus == 4
    assert request.resources.mem == "16G"
    assert request.forwards == (("tb", 6006),)
    assert request.lease_seconds == 1800
    assert request.idle_timeout_seconds == 3600
    assert request.environment.modules == ("py",)
    assert request.multiplex is False
    assert request.new is True
    assert request.start_timeout == 120.0


def test_release_detaches_only_a_live_session(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.db")
    ready = make("aa01", SessionState.READY)
    ready.attached_pid, ready.error = os.getpid(), "kept"
    store.save(ready)
    store.save(make("aa02", SessionState.ENDED))
    assert holding.release(store, "aa01").state is SessionState.DETACHED
    again = store.get("aa01")
    assert (again.state, again.attached_pid, again.error) == (SessionState.DETACHED, None, "kept")
    assert holding.release(store, "aa02").state is SessionState.ENDED


def test_take_holds_a_ready_session_but_not_a_starting_one(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.db")
    detached = make("bb01", SessionState.DETACHED)
    detached.local_port = 8888
    store.save(detached)
    store.save(make("bb02", SessionState.STARTING))
    assert holding.take(store, "bb01").attached_pid == os.getpid()
    assert store.get("bb01").shown_state is SessionState.READY
    assert holding.take(store, "bb02").attached_pid is None


def test_prune_stops_lost_orphans_only() -> None:
    rows = [
        Row(make("o1", SessionState.LOST, orphan=True)),
        Row(make("o2", SessionState.STOPPED, orphan=True)),  # down already stopped it
        Row(make("u1", SessionState.LOST)),  # the user's own lost session: down it yourself
        Row(make("u2", SessionState.DETACHED)),
    ]
    assert prunable(rows) == ["o1"]
