"""Notices: when the library raises one, how the desktop is told, and how they are turned off."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner
from fake_laptop import environment

import hoplab.sessions.supervisor as supervisor_module
from hoplab import notify
from hoplab.errors import HoplabError, SshError
from hoplab.notify import Notice, Topic, applescript_string, desktop_argv
from hoplab.process import Completed
from hoplab.records.model import Session, SessionState
from hoplab.records.store import SessionStore
from hoplab.schedulers.slurm import Slurm
from hoplab.sessions import background, startup
from hoplab.sessions.progress import silent
from hoplab.sessions.supervisor import (
    Change,
    Event,
    SessionOverError,
    Supervisor,
    _over,
    needs_authentication,
)
from hoplab.sessions.walltime import Walltime

if TYPE_CHECKING:
    from collections.abc import Sequence


TOKEN = "5ecret" * 8


def make_session(state: SessionState = SessionState.READY) -> Session:
    return Session(
        "ab12cd34", "login01", "login01", (), None, True, "lab", token=TOKEN, state=state
    )


def tools(*found: str) -> object:
    return lambda name: f"/usr/bin/{name}" if name in found else None


NOTICE = Notice(Topic.READY, "ab12cd34", 'ab12cd34: Jupyter is ready on "node001" \\ now')


# -- the desktop ---------------------------------------------------------------------------


def test_linux_uses_notify_send() -> None:
    argv = desktop_argv(NOTICE, platform="linux", which=tools("notify-send", "osascript"))
    assert argv == ["/usr/bin/notify-send", "--app-name=hoplab", "--", "hoplab", NOTICE.message]


def test_macos_uses_osascript_with_a_quoted_applescript_string() -> None:
    argv = desktop_argv(NOTICE, platform="darwin", which=tools("osascript", "notify-send"))
    assert argv == [
        "/usr/bin/osascript",
        "-e",
        (
            'display notification "ab12cd34: Jupyter is ready on \\"node001\\" \\\\ now" '
            'with title "hoplab"'
        ),
    ]
    # a line break cannot end the string literal and start a second AppleScript statement
    assert applescript_string('a"\nb\\') == '"a\\" b\\\\"'


@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
def test_no_tool_no_notification(platform: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert desktop_argv(NOTICE, platform=platform, which=tools()) is None

    def run(*_args: object, **_kwargs: object) -> Completed:
        raise AssertionError("nothing may run without a notifier")

    monkeypatch.setattr(notify.shutil, "which", tools())
    monkeypatch.setattr(notify.process, "run", run)
    assert notify.send(NOTICE) is False


def test_send_goes_through_the_process_chokepoint(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[list[str]] = []

    def run(argv: Sequence[str], **_kwargs: object) -> Completed:
        ran.append(list(argv))
        return Completed(list(argv), 1, "", "Cannot autolaunch D-Bus without X11 $DISPLAY")

    monkeypatch.setattr(notify.sys, "platform", "linux")
    monkeypatch.setattr(notify.shutil, "which", tools("notify-send"))
    monkeypatch.setattr(notify.process, "run", run)
    assert notify.send(NOTICE) is False  # a failed notification is only a missed courtesy
    assert ran == [["/usr/bin/notify-send", "--app-name=hoplab", "--", "hoplab", NOTICE.message]]


# -- Jupyter ready after a wait in the queue -----------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("waited", "told"), [(9.0, False), (10.0, False), (12.5, True)])
def test_ready_after_more_than_ten_seconds_in_the_queue(waited: float, told: bool) -> None:
    clock = FakeClock()
    session = make_session(SessionState.STARTING)
    watch = startup.Watch(None, session, Slurm(), silent, 60.0, clock=clock)  # type: ignore[arg-type]
    clock.now += waited
    watch.running("node001")
    clock.now += 30.0  # Jupyter's own start-up is not time in the queue
    assert watch.queued == waited
    notice = notify.ready(session.id, "node001", watch.queued)
    assert (notice is not None) is told
    if notice is not None:
        assert notice.topic is Topic.READY
        assert "node001" in notice.message
        assert TOKEN not in notice.message


def test_a_plain_host_has_no_queue_time() -> None:
    watch = startup.Watch(None, make_session(), None, silent, 60.0, clock=FakeClock())  # type: ignore[arg-type]
    assert watch.queued == 0.0


# -- the supervisor's notices --------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.notices: list[Notice] = []

    def supervisor(self, store: object = None, warn_minutes: int | None = 10) -> Supervisor:
        return Supervisor(
            "ab12cd34",
            store,  # type: ignore[arg-type]
            notify=self.events.append,
            notices=self.notices.append,
            warn_minutes=warn_minutes,
        )


def test_walltime_warning_once_with_a_notice() -> None:
    clock = FakeClock()
    walltime = Walltime(10, clock=clock)
    session = make_session()
    assert walltime.warning(session) is None  # no walltime known
    session.walltime_end = clock.now + 11 * 60
    assert walltime.warning(session) is None
    clock.now += 90
    said = walltime.warning(session)
    assert said is not None
    assert "walltime ends in 9 min" in said
    assert walltime.warning(session) is None  # once
    recorder = Recorder()
    supervisor = recorder.supervisor()
    session.walltime_end = 1.0  # long past, from the supervisor's real clock
    supervisor._warn_walltime(session)
    supervisor._warn_walltime(session)
    assert [e.change for e in recorder.events] == [Change.WALLTIME]
    assert [n.topic for n in recorder.notices] == [Topic.WALLTIME]


@pytest.mark.parametrize(
    ("state", "topic"),
    [
        (SessionState.ENDED, Topic.ENDED),
        (SessionState.LOST, Topic.LOST),
        (SessionState.STOPPED, None),  # 'hoplab down' from elsewhere: the user did it
    ],
)
def test_the_end_of_a_session(
    state: SessionState, topic: Topic | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder()
    supervisor = recorder.supervisor()
    session = make_session(state)
    session.error = "job 31 ended: TIMEOUT (TimeLimit)"

    def current() -> Session:
        raise _over(session)

    monkeypatch.setattr(supervisor, "_current", current)
    supervisor.run()
    assert [e.change for e in recorder.events] == [Change.ENDED]
    assert [n.topic for n in recorder.notices] == ([topic] if topic else [])
    if topic is Topic.ENDED:
        assert "TIMEOUT" in recorder.notices[0].message


@pytest.mark.parametrize("how", ["moved aside", "removed"])
def test_supervision_stops_when_the_session_is_no_longer_recorded(how: str, tmp_path: Path) -> None:
    """The way back from a broken database moves it aside; SQLite would go on reading the old
    file, and the supervisor would keep a tunnel (and its relay) to a session nobody records."""
    store = SessionStore(tmp_path / "state" / "sessions.db")
    store.save(make_session())
    recorder = Recorder()
    supervisor = recorder.supervisor(store)
    assert supervisor._current().id == "ab12cd34"
    if how == "moved aside":
        (tmp_path / "aside").mkdir()
        store.path.rename(tmp_path / "aside" / store.path.name)
    else:
        store.path.unlink()
    with pytest.raises(SessionOverError):
        supervisor._current()
    supervisor.run()  # and run() ends on it, with the one event that says so
    assert [e.change for e in recorder.events] == [Change.ENDED]
    assert recorder.notices == []
    store.close()


class Store:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, _session_id: str) -> Session:
        return self.session

    def replaced(self) -> bool:
        return False


class StopError(Exception):
    pass


def test_an_authentication_it_cannot_ask_for_is_told_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = make_session()
    recorder = Recorder()
    supervisor = recorder.supervisor(Store(session))
    waits: list[float] = []

    def rebuild(_session: Session) -> None:
        raise SshError("login01", "hopuser@login01: Permission denied (keyboard-interactive).")

    def wait(seconds: float, _closed: object) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            raise StopError

    monkeypatch.setattr(supervisor, "_rebuild", rebuild)
    monkeypatch.setattr(supervisor, "_wait_for_path", wait)
    monkeypatch.setattr(supervisor_module, "_closed_hop", lambda _session: None)
    with pytest.raises(StopError):
        supervisor._recover()
    assert [n.topic for n in recorder.notices] == [Topic.AUTH]
    assert "hoplab attach ab12cd34" in recorder.notices[0].message
    changes = [e.change for e in recorder.events]
    assert changes.count(Change.AUTH) == 1
    assert changes.count(Change.RETRY) == 3  # it keeps trying: a key may come back


def test_what_needs_authentication() -> None:
    assert needs_authentication(SshError("h", "Permission denied (publickey)."))
    assert needs_authentication(
        SshError("h", "Received disconnect: Too many authentication failures")
    )
    assert not needs_authentication(SshError("h", "connect to host h port 22: Connection refused"))
    assert not needs_authentication(HoplabError("Permission denied (publickey)."))
    assert SessionOverError("x").topic is None


# -- turned off ----------------------------------------------------------------------------


def test_background_supervisor_gets_no_notify_and_the_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOPLAB_STATE_DIR", str(tmp_path / "state"))
    store = SessionStore()
    session = make_session()
    session.local_port = 41873
    store.save(session)
    spawned: list[list[str]] = []

    class Started:
        pid = 99999999  # no such process: the next hand-over starts one again

    def spawn(argv: Sequence[str], **_kwargs: object) -> Started:
        spawned.append(list(argv))
        return Started()

    monkeypatch.setattr(background.process, "spawn", spawn)
    for notify_on in (True, False):
        assert background.hand_over("ab12cd34", store, warn_minutes=7, notify=notify_on) == (
            Started.pid
        )
    assert spawned[0][-3:] == ["supervise", "ab12cd34", "--walltime-warning=7"]
    assert spawned[1][-2:] == ["--walltime-warning=7", "--no-notify"]
    store.close()


@pytest.mark.parametrize(
    ("argv", "profile", "sent"),
    [
        ([], "", 1),
        (["--no-notify"], "", 0),
        ([], "notify = false\n", 0),
    ],
)
def test_no_notify_and_the_profile_key_turn_notices_off(
    argv: list[str],
    profile: str,
    sent: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ``up`` command hands the library a notifier; turned off, nothing reaches the desktop
    (the library's notice is raised all the same). ``--detach`` hands the session to the
    background supervisor with the same setting."""
    import hoplab.sessions.up
    from hoplab.cli import cli
    from hoplab.sessions.up import UpResult

    laptop = environment(tmp_path)
    Path(laptop["HOPLAB_CONFIG"]).write_text(f'[profiles.gpu]\nhost = "login01"\n{profile}')
    for name in ("HOPLAB_STATE_DIR", "HOPLAB_RUNTIME_DIR", "HOPLAB_CONFIG"):
        monkeypatch.setenv(name, laptop[name])
    shown: list[Notice] = []
    monkeypatch.setattr(notify, "send", lambda notice: shown.append(notice) or True)

    def fake_up(
        _request: object, store: SessionStore, _progress: object, notices: notify.Notifier
    ) -> UpResult:
        notices(Notice(Topic.READY, "ab12cd34", "ab12cd34: Jupyter is ready on node001"))
        session = make_session()
        session.local_port = 41873
        store.save(session)
        return UpResult(session, session.url(with_token=True) or "", reused=False)

    handed: list[dict[str, object]] = []

    def hand_over(_session_id: str, _store: object, **settings: object) -> int:
        handed.append(settings)
        return 4242

    monkeypatch.setattr(hoplab.sessions.up, "up", fake_up)
    monkeypatch.setattr(background, "hand_over", hand_over)
    done = CliRunner().invoke(cli, ["up", "gpu", "--detach", "--no-browser", *argv])
    assert done.exception is None, done.output
    assert len(shown) == sent
    assert handed == [{"warn_minutes": 10, "notify": bool(sent), "after_exit": True}]
    assert all(TOKEN not in notice.message for notice in shown)


def test_the_option_is_defined_once() -> None:
    from hoplab.options import OPTIONS, reference_markdown

    option = OPTIONS["notify"]
    assert option.flag_names == ("--no-notify",)
    assert option.default is True
    assert "`--no-notify`" in reference_markdown()


# -- the first hop, while a retry waits ----------------------------------------------------


def test_a_hop_that_starts_accepting_is_seen_within_a_step() -> None:
    """A port that refuses, then listens: accepting() returns soon after, not after a try's
    patience or the whole wait."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now: refused at once
    began = time.monotonic()
    assert not supervisor_module.accepting(("127.0.0.1", port), 0.3, step=0.02)
    assert time.monotonic() - began >= 0.3  # it waited the whole time, trying
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    later = threading.Timer(0.2, lambda: (server.bind(("127.0.0.1", port)), server.listen()))
    later.start()
    try:
        began = time.monotonic()
        assert supervisor_module.accepting(("127.0.0.1", port), 20, step=0.02)
        assert time.monotonic() - began < 5  # seen soon after it listened, not at the end
    finally:
        later.join()
        server.close()
