"""Who serves a session's port once hoplab relays it: ``down`` (every target at once) closes
this process's relays and removes the forward sockets, a relay of another live hoplab is left
to it, ``--detach`` hands the port to the background supervisor with the warning and notice
settings of the command, ``attach`` (also ``--on``) takes the port from a background
supervisor before it relays again, and ``up`` reusing a session leaves a detached one to the
supervisor that serves it (stopping that supervisor first whenever this process relays).

Nothing reaches a network: transports and remote scripts are stand-ins; the relays are real.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

import hoplab.sessions.attach
import hoplab.sessions.up
from hoplab.records.model import ExtraForward, Session, SessionState
from hoplab.records.store import SessionStore
from hoplab.remote import scripts
from hoplab.sessions import background, cleanup, down, masters, orphans
from hoplab.sessions.attach import AttachResult
from hoplab.ssh.ports import port_is_free
from hoplab.ssh.target import SshTarget
from hoplab.ssh.transport import Transport
from hoplab.tunnel import forwards, relay

if TYPE_CHECKING:
    from collections.abc import Iterator

    from hoplab.ssh.transport import Forward


@pytest.fixture
def laptop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """State in ``tmp_path``; the runtime directory short (Unix socket paths must be)."""
    short = Path(f"/tmp/hoplab-holders-{os.getpid()}")
    monkeypatch.setenv("HOPLAB_RUNTIME_DIR", str(short))
    monkeypatch.setenv("HOPLAB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HOPLAB_CONFIG", str(tmp_path / "config.toml"))
    yield short
    relay.stop_all()
    for leftover in short.rglob("*"):
        if not leftover.is_dir():
            leftover.unlink()
    for folder in sorted(short.rglob("*"), reverse=True):
        folder.rmdir()
    short.rmdir()


class Listening:
    """What ssh's forward makes: a Unix socket that accepts (and holds) connections."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)

    def close(self) -> None:
        self.sock.close()


def relayed(sid: str, target: str, **extra: object) -> tuple[Session, Listening]:
    """A ready session whose forward socket exists and whose port this process relays."""
    path = forwards.socket_path(sid)
    forward = Listening(path)
    served = relay.serve(0, path)
    session = Session(
        sid,
        target,
        target,
        (),
        None,
        True,
        "lab",
        token="secret",
        state=SessionState.DETACHED,
        remote="/remote/jupyter.sock",
        local_port=served.port,
        forward_socket=path,
        relay_pid=os.getpid(),
        **extra,  # type: ignore[arg-type]
    )
    return session, forward


class Carrier:
    """The transport a session's forwards ride: it records what it cancels."""

    def __init__(self, cancelled: list[str], name: str = "carrier") -> None:
        self.cancelled = cancelled
        self.target = SshTarget(name)

    def cancel(self, forward: Forward) -> None:
        self.cancelled.append(forward.local)

    cancel_all = Transport.cancel_all  # the real one: a cancel for each


class Reached:
    """A connected transport to a target; it runs nothing itself."""

    multiplexed = True

    def __init__(self, target: SshTarget) -> None:
        self.target = self.effective = target

    def connect(self, *, interactive: bool) -> None:
        pass


# down ----------------------------------------------------------------------------------------


def test_down_on_every_target_at_once_closes_this_process_relays_and_removes_the_sockets(
    laptop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SessionStore()
    one, first = relayed("aa000001", "x")
    two, second = relayed("bb000002", "z")
    extra_path = forwards.socket_path(two.id, 6006)
    extra_forward = Listening(extra_path)
    extra_port = relay.serve(0, extra_path).port
    two.forwards = [ExtraForward("tb", 6006, extra_port, socket=extra_path)]
    for session in (one, two):
        store.save(session)
    barrier = threading.Barrier(2, timeout=10)
    cancelled: list[str] = []

    def stop(
        _transport: Reached, sessions: list[Session], *, by: str = ""
    ) -> dict[str, scripts.StopReport]:
        barrier.wait()  # both targets at the same time: down goes on in parallel
        return {s.id: scripts.StopReport((), answered=True) for s in sessions}

    monkeypatch.setattr(down, "open_transport", lambda target, **_kw: Reached(target))
    monkeypatch.setattr(scripts, "stop", stop)
    monkeypatch.setattr(scripts, "ended", lambda *_args, **_kwargs: {})
    monkeypatch.setattr(orphans, "recover_job_ids", lambda *_args: None)
    monkeypatch.setattr(masters, "release", lambda *_args, **_kwargs: None)
    monkeypatch.setattr(
        cleanup,
        "forward_transport",
        lambda session, _where=None: Carrier(cancelled, session.target),
    )
    try:
        results = down.down([one.id, two.id], store)
    finally:
        for forward in (first, second, extra_forward):
            forward.close()
    assert [r.session.id for r in results] == [one.id, two.id]
    assert all(r.clean for r in results), results
    checks = dict(results[1].checks)
    assert checks[f"local forward 127.0.0.1:{two.local_port} removed"] is True
    assert checks[f"local forward 127.0.0.1:{extra_port} removed"] is True
    for port in (one.local_port, two.local_port, extra_port):
        assert relay.serving(port) is None
        assert port is not None
        assert port_is_free(port)
    assert not Path(first.path).exists()
    assert not Path(second.path).exists()
    assert not Path(extra_path).exists()
    assert set(cancelled) >= {first.path, second.path, extra_path}  # ssh's forwards too


def test_down_of_many_sessions_cancels_their_forwards_with_one_ssh_per_carrier(
    laptop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three sessions whose forwards ride one master, one on another: two cancel calls (one
    ssh each, see MuxTransport.cancel_all), each session's port freed."""
    made = [relayed(f"ee00000{n}", "x") for n in range(3)]
    other, other_forward = relayed("ee000009", "z")
    calls: list[list[str]] = []

    class Batch(Carrier):
        def cancel_all(self, forwards: list[Forward]) -> None:
            calls.append([forward.local for forward in forwards])
            super().cancel_all(forwards)

    def carrier(session: Session, _where: object = None) -> Batch:
        return Batch([], session.target)

    monkeypatch.setattr(cleanup, "forward_transport", carrier)
    sessions = [session for session, _ in made] + [other]
    try:
        freed = cleanup.drop_forwards_of(sessions)
    finally:
        for _, forward in [*made, (other, other_forward)]:
            forward.close()
    assert sorted(map(len, calls)) == [1, 3]
    assert freed == {s.id: [s.local_port] for s in sessions}
    assert all(relay.serving(s.local_port) is None for s in sessions)


def test_a_master_cancels_many_forwards_in_one_ssh(monkeypatch: pytest.MonkeyPatch) -> None:
    from hoplab.ssh import mux
    from hoplab.ssh.transport import Forward

    ran: list[list[str]] = []
    monkeypatch.setattr(mux.process, "run", lambda argv, **_kw: ran.append(list(argv)))
    master = mux.MuxTransport(SshTarget("login01"))
    master.cancel_all([Forward("/l/a.sock", "/r/a.sock"), Forward("/l/b.sock", "/r/b.sock")])
    master.cancel_all([])
    assert len(ran) == 1
    argv = ran[0]
    assert argv[argv.index("-O") + 1] == "cancel"
    assert [argv[i + 1] for i, word in enumerate(argv) if word == "-L"] == [
        "/l/a.sock:/r/a.sock",
        "/l/b.sock:/r/b.sock",
    ]


def test_down_stops_jupyter_while_the_supervisors_end_and_drops_forwards_after(
    laptop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The supervisors get their TERM first (one left running would rebuild a forward), the
    target stops Jupyter meanwhile, and the forwards go only once the supervisors are gone."""
    store = SessionStore()
    session, forward = relayed("ff000001", "x")
    forward.close()
    store.save(session)
    events: list[str] = []

    def ask(ids: list[str]) -> dict[str, int | None]:
        events.append("TERM to the supervisors")
        return dict.fromkeys(ids, 4444)

    def stopped(asked: dict[str, int | None]) -> dict[str, bool]:
        events.append("supervisors gone")
        rebuilt = store.get(session.id)  # one rebuilt its forward meanwhile: a new ssh
        rebuilt.forward_pid = 5555
        store.save(rebuilt)
        return dict.fromkeys(asked, True)

    def stop(_t: object, sessions: list[Session], **_kw: str) -> dict[str, scripts.StopReport]:
        events.append("Jupyter stopped")
        return {s.id: scripts.StopReport((), answered=True) for s in sessions}

    def dropped(sessions: list[Session], _where: object = None) -> dict[str, list[int]]:
        events.append(f"forwards dropped, the forward's ssh {sessions[0].forward_pid}")
        return {s.id: [] for s in sessions}

    monkeypatch.setattr(down, "open_transport", lambda target, **_kw: Reached(target))
    monkeypatch.setattr(background, "recorded", lambda _sid: 4444)
    monkeypatch.setattr(background, "ask_to_stop", ask)
    monkeypatch.setattr(background, "stopped", stopped)
    monkeypatch.setattr(scripts, "stop", stop)
    monkeypatch.setattr(scripts, "ended", lambda *_args, **_kwargs: {})
    monkeypatch.setattr(orphans, "recover_job_ids", lambda *_args: None)
    monkeypatch.setattr(masters, "release", lambda *_args, **_kwargs: None)
    monkeypatch.setattr(down, "drop_forwards_of", dropped)
    (result,) = down.down([session.id], store)
    assert result.clean, result
    assert dict(result.checks)["background supervisor stopped"] is True
    assert events == [
        "TERM to the supervisors",
        "Jupyter stopped",
        "supervisors gone",
        "forwards dropped, the forward's ssh 5555",  # as the record is now
    ]


def test_a_supervisor_ended_by_a_signal_leaves_the_forwards_to_whoever_sent_it(
    laptop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """down removes them itself and attach replaces them: the supervisor only closes its relays
    (no ssh); one that stops on its own drops them (see test_supervision)."""
    store = SessionStore()
    session, forward = relayed("ff000002", "x")
    store.save(session)
    monkeypatch.setattr(
        background, "drop_forwards", lambda _s: pytest.fail("the forwards were dropped")
    )
    try:
        background.let_go(store, session, forwards=False)
    finally:
        forward.close()
    assert relay.serving(session.local_port) is None


def test_a_relay_of_another_live_hoplab_is_left_to_it(
    laptop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session, forward = relayed("cc000003", "x")
    session.relay_pid = os.getpid() + 100000  # a foreground up in another terminal
    monkeypatch.setattr(cleanup, "is_hoplab", lambda pid: pid == session.relay_pid)
    monkeypatch.setattr(cleanup, "forward_transport", lambda _session, _where=None: Carrier([]))
    try:
        assert cleanup.drop_forwards(session) == []  # its port is not this down's to check
    finally:
        forward.close()
    assert not Path(forward.path).exists()  # what it relays into is gone all the same


# --detach: the background supervisor takes the port over ------------------------------------


def test_hand_over_passes_the_listening_socket_so_the_port_never_closes(
    laptop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The supervisor inherits the port's listening socket: a connection made while it starts
    waits in the queue and is relayed once it serves; this process's relay is closed and the
    record names the supervisor at once."""
    store = SessionStore()
    session, forward = relayed("dd000004", "x")
    store.save(session)
    inherited: dict[int, int] = {}
    started: list[list[str]] = []

    class Started:
        pid = 4242

    def spawn(argv: list[str], **kwargs: object) -> Started:
        started.append(argv)
        passed = kwargs["pass_fds"]
        assert isinstance(passed, tuple)
        for word in argv:  # what the child gets: the same descriptors, still open in it
            if word.startswith("--listen="):
                port, fd = map(int, word.removeprefix("--listen=").split(":"))
                assert fd in passed
                inherited[port] = os.dup(fd)
        return Started()

    monkeypatch.setattr(background.process, "spawn", spawn)
    monkeypatch.setattr(background, "running", lambda _sid: None)
    try:
        assert background.hand_over(session.id, store, warn_minutes=7, notify=False) == 4242
        assert started[0][-2:] == ["--walltime-warning=7", "--no-notify"]
        assert list(inherited) == [session.local_port]
        assert relay.serving(session.local_port) is None  # this process serves it no more
        kept = store.get(session.id)
        assert (kept.relay_pid, kept.attached_pid, kept.state) == (4242, 4242, SessionState.READY)
        assert background.pid_file(session.id).read_text(encoding="utf-8").strip() == "4242"
        port = session.local_port
        assert port is not None
        early = socket.create_connection(("127.0.0.1", port), timeout=5)  # not refused
        try:
            background.adopt(kept, inherited)  # what the supervisor does first
            early.sendall(b"hello")
            far, _ = forward.sock.accept()  # relayed into the forward's socket
            far.settimeout(5)
            assert far.recv(5) == b"hello"
            far.close()
        finally:
            early.close()
    finally:
        forward.close()


def test_a_supervisor_handed_over_by_a_command_starts_once_that_command_has_exited(
    laptop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``after_exit``: the child gets the read end of a pipe whose write end this process
    holds until it exits; ``supervise --after`` waits for that end (bounded) before it starts,
    so its start-up does not compete with the command's last steps."""
    from hoplab.cli import supervise

    store = SessionStore()
    session, forward = relayed("dd000006", "x")
    forward.close()
    store.save(session)
    ends: list[int] = []

    class Started:
        pid = 4243

    def spawn(argv: list[str], **kwargs: object) -> Started:
        passed = kwargs["pass_fds"]
        assert isinstance(passed, tuple)
        (after,) = [int(w.removeprefix("--after=")) for w in argv if w.startswith("--after=")]
        assert after in passed
        ends.append(os.dup(after))  # what the child holds
        return Started()

    monkeypatch.setattr(background.process, "spawn", spawn)
    monkeypatch.setattr(background, "running", lambda _sid: None)
    monkeypatch.setattr(background, "_held_until_exit", [])
    monkeypatch.setattr(supervise, "AFTER_PATIENCE", 30.0)
    assert background.hand_over(session.id, store, notify=False, after_exit=True) == 4243
    assert len(background._held_until_exit) == 1

    finished = threading.Event()
    waiter = threading.Thread(target=lambda: (supervise._wait_for_end(ends[0]), finished.set()))
    waiter.start()
    try:
        assert not finished.wait(0.3)  # this process (the command) is still there
    finally:
        background.let_start()  # what its exit does, or opening the browser before it waits
    waiter.join(10)
    assert finished.is_set()
    assert background._held_until_exit == []


def test_adopt_closes_a_descriptor_for_a_port_the_session_no_longer_has(laptop: Path) -> None:
    session, forward = relayed("dd000005", "x")
    forward.close()
    stray = socket.socket()
    stray.bind(("127.0.0.1", 0))
    stray.listen()
    fd = os.dup(stray.fileno())
    stray.close()
    background.adopt(session, {1: fd})
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(fd)  # closed, not leaked
    assert relay.serving(1) is None


def test_a_port_served_elsewhere_needs_no_wait(laptop: Path) -> None:
    session, forward = relayed("ff000006", "x")
    forward.close()
    assert not background.served(session)  # this process's own relay: about to close
    session.relay_pid = os.getppid()  # not hoplab: served by nobody
    assert not background.served(session)
    session.forward_socket = None  # an older hoplab's record: ssh serves the port itself
    assert background.served(session)


# attach: the port moves from a background supervisor ---------------------------------------


@pytest.mark.parametrize("on", [False, True], ids=["recorded", "on-target"])
def test_a_quiet_attach_takes_the_port_from_the_supervisor_and_hands_it_back(
    laptop: Path, monkeypatch: pytest.MonkeyPatch, on: bool
) -> None:
    import hoplab.sessions.adopt
    from hoplab.cli import cli

    store = SessionStore()
    session, forward = relayed("ab000007", "login01")
    forward.close()
    store.save(session)
    events: list[object] = []
    monkeypatch.setattr(background, "running", lambda _sid: 777 if 777 not in events else None)
    monkeypatch.setattr(background, "stop", lambda _sid: events.append(777) or True)

    def attached(session_id: str, *_args: object, **_kwargs: object) -> AttachResult:
        events.append("relayed here")  # after the supervisor stopped: the port is free
        current = SessionStore().get(session_id)
        return AttachResult(current, current.url(with_token=True) or "", port_changed=False)

    def hand_over(session_id: str, _store: object, **settings: object) -> int:
        events.append(("handed over", settings))
        return 4243

    monkeypatch.setattr(hoplab.sessions.attach, "attach", attached)
    monkeypatch.setattr(
        hoplab.sessions.adopt, "attach_on", lambda _place, sid, *args, **kw: attached(sid)
    )
    monkeypatch.setattr(hoplab.sessions.adopt, "let_go", lambda *_args: None)
    monkeypatch.setattr(background, "hand_over", hand_over)
    argv = ["attach", "--on", "login01", session.id] if on else ["attach", session.id]
    done = CliRunner().invoke(cli, [*argv, "--json", "--no-notify"])
    assert done.exception is None, done.output
    assert events == [
        777,
        "relayed here",
        ("handed over", {"warn_minutes": 10, "notify": False, "after_exit": True}),
    ]
    assert json.loads(done.stdout)["supervisor_pid"] == 4243


# up reuses a session the background supervisor serves -------------------------------------


SUPERVISOR = 4244


def supervised(
    monkeypatch: pytest.MonkeyPatch, store: SessionStore, *, answering: bool
) -> tuple[Session, list[object]]:
    """A ready session held and relayed by a running background supervisor (its relay, its
    record); whether Jupyter answers through its port. What happens is listed."""
    import hoplab.records.model
    import hoplab.sessions.attach
    from hoplab.tunnel import listener

    session = Session(
        "ac000008",
        "x",
        "x",
        (),
        None,
        True,
        "lab",
        token="secret",
        state=SessionState.READY,
        remote="/remote/jupyter.sock",
        local_port=48123,
        forward_socket=forwards.socket_path("ac000008"),
        relay_pid=SUPERVISOR,
        attached_pid=SUPERVISOR,
    )
    store.save(session)
    events: list[object] = []
    alive = {SUPERVISOR}

    def stop(_sid: str) -> bool:
        events.append("supervisor stopped")
        alive.discard(SUPERVISOR)
        return True

    monkeypatch.setattr(hoplab.sessions.up, "open_transport", lambda target, **_kw: Reached(target))
    monkeypatch.setattr(Reached, "notes", [], raising=False)
    monkeypatch.setattr(
        hoplab.sessions.attach, "open_transport", lambda target, **_kw: Reached(target)
    )
    monkeypatch.setattr(hoplab.records.model, "is_hoplab", lambda pid: pid in alive)
    monkeypatch.setattr(background.process, "is_hoplab", lambda pid: pid in alive)
    monkeypatch.setattr(background.process, "alive", lambda pid: pid in alive)
    monkeypatch.setattr(background, "running", lambda _sid: next(iter(alive), None))
    monkeypatch.setattr(background, "stop", stop)
    monkeypatch.setattr(listener, "held_by", lambda port, pid: pid in alive and port == 48123)
    monkeypatch.setattr(
        forwards, "status_code", lambda *_args, **_kw: 200 if answering and alive else None
    )
    return session, events


def test_a_detached_up_reusing_a_supervised_session_leaves_it_held_by_the_supervisor(
    laptop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hoplab.cli import cli

    store = SessionStore()
    session, events = supervised(monkeypatch, store, answering=True)
    done = CliRunner().invoke(cli, ["up", "x", "--json", "--no-notify"])
    assert done.exception is None, done.output
    answer = json.loads(done.stdout)
    assert answer["reused"] is True
    assert answer["supervisor_pid"] == SUPERVISOR
    assert answer["session"]["state"] == "ready"
    assert answer["url"] == f"http://127.0.0.1:48123/lab?token={session.token}"
    kept = store.get(session.id)
    assert (kept.state, kept.attached_pid, kept.relay_pid) == (
        SessionState.READY,
        SUPERVISOR,
        SUPERVISOR,
    )
    assert events == []  # it kept serving its port: nothing stopped, nothing relayed here
    assert relay.serving(48123) is None


def test_an_up_that_must_relay_itself_stops_the_supervisor_first(
    laptop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hoplab.cli import cli

    store = SessionStore()
    _session, events = supervised(monkeypatch, store, answering=False)

    def attached(session_id: str, *_args: object, **kwargs: object) -> AttachResult:
        events.append(("relayed here", kwargs["detach"]))  # the port is free by now
        current = store.get(session_id)
        current.relay_pid = os.getpid()
        url = current.hold(detach=bool(kwargs["detach"]))
        store.save(current)
        return AttachResult(current, url, port_changed=False)

    def hand_over(session_id: str, _store: object, **_settings: object) -> int:
        events.append("handed over")
        return 4245

    monkeypatch.setattr(hoplab.sessions.attach, "attach", attached)
    monkeypatch.setattr(background, "hand_over", hand_over)
    done = CliRunner().invoke(cli, ["up", "x", "--json", "--no-notify"])
    assert done.exception is None, done.output
    assert events == ["supervisor stopped", ("relayed here", True), "handed over"]
    assert json.loads(done.stdout)["supervisor_pid"] == 4245


def test_opening_the_browser_lets_the_supervisor_start_first(
    laptop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page leads to the port, and the command stays until the browser has read it: the
    supervisor handed over ``after_exit`` starts before, not up to AFTER_PATIENCE later."""
    from types import SimpleNamespace

    from hoplab import browser
    from hoplab.cli import common

    events: list[str] = []
    monkeypatch.setattr(background, "let_start", lambda: events.append("supervisor starts"))
    monkeypatch.setattr(
        browser,
        "hand_over",
        lambda _sid, _url: events.append("page opened") or SimpleNamespace(reason=None),
    )
    session, forward = relayed("dd000007", "x")
    forward.close()
    common.open_browser(session)
    for thread in threading.enumerate():
        if thread.name == "hoplab-browser-page":
            thread.join(10)
    assert events == ["supervisor starts", "page opened"]
