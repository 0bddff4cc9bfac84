"""Nagle off on every hop hoplab controls (issue 19): the ssh argv and the listener check.

The ssh calls are recorded (nothing reaches a network); the relay is real.
"""

from __future__ import annotations

import http.server
import os
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hoplab import process
from hoplab.errors import ForeignListenerError
from hoplab.process import Completed
from hoplab.records.model import Session, SessionState
from hoplab.ssh import direct, mux
from hoplab.ssh.direct import DirectTransport
from hoplab.ssh.mux import MuxTransport
from hoplab.ssh.target import SshTarget
from hoplab.tunnel import forwards, listener, relay

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    short = Path(f"/tmp/hoplab-test-{os.getpid()}")  # socket paths must stay short
    monkeypatch.setenv("HOPLAB_RUNTIME_DIR", str(short))
    monkeypatch.setenv("HOPLAB_STATE_DIR", str(tmp_path / "state"))
    yield short
    for leftover in short.rglob("*"):
        if not leftover.is_dir():
            leftover.unlink()
    for folder in sorted(short.rglob("*"), reverse=True):
        folder.rmdir()
    short.rmdir()


class Recorder:
    """Stands in for ``process.run``: records each argv; ``-O check`` names a master."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str], **_kwargs: object) -> Completed:
        self.calls.append(list(argv))
        if "-O" in argv and argv[argv.index("-O") + 1] == "check":
            started = any("ControlMaster=yes" in call for call in self.calls)
            return Completed(argv, 0 if started else 255, "", "Master running (pid=4242)\r\n")
        return Completed(argv, 0, "", "")


def test_a_master_starts_with_a_short_first_session_not_with_minus_n(
    runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder()
    monkeypatch.setattr(process, "run", recorder)
    transport = MuxTransport(SshTarget("login01"))
    transport.connect(interactive=False)
    [start] = [call for call in recorder.calls if "ControlMaster=yes" in call]
    # the first session runs the one command, after the destination: every shell's builtin
    assert start[-3:] == ["--", "login01", mux.PRIMARY]
    assert mux.PRIMARY == "exit"
    # no -N (no session at all) and no -f (with ControlPersist, -f would skip the command)
    assert "-N" not in start
    assert "-f" not in start
    assert "-n" in start  # the command reads nothing from hoplab's stdin
    assert "ControlPersist=yes" in start
    # hoplab's own options still win over a RemoteCommand or RequestTTY in the user's config
    assert "RemoteCommand=none" in start
    assert "RequestTTY=no" in start
    assert transport.pid_file.read_text() == "4242\n"


def test_without_multiplexing_the_forward_has_a_session_that_waits_as_long_as_it_lives(
    runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned: list[tuple[list[str], dict[str, object]]] = []
    path = forwards.socket_path("abcd1234")

    class Ssh:
        """A forward's ssh that listens on its socket."""

        pid = 31337
        returncode = None

        def poll(self) -> None:
            return None

    listening = socket.socket(socket.AF_UNIX)
    listening.bind(path)
    listening.listen()

    def spawn(argv: list[str], **kwargs: object) -> Ssh:
        spawned.append((list(argv), kwargs))
        return Ssh()

    monkeypatch.setattr(process, "spawn", spawn)
    try:
        forward = DirectTransport(SshTarget("host")).forward(path, "/remote/jupyter.sock")
    finally:
        listening.close()
    assert forward.spec == f"{path}:/remote/jupyter.sock"
    assert forward.pid == Ssh.pid
    [(argv, kwargs)] = spawned
    assert argv[argv.index("-L") + 1] == forward.spec
    assert "-N" not in argv  # a session, so that both ends set TCP_NODELAY
    assert argv[-3:] == ["--", "host", direct.HOLD]
    assert "ControlMaster=no" in argv  # no control socket: ssh clients that cannot multiplex
    assert kwargs["endless_input"] is True


def test_an_endless_stdin_never_ends(tmp_path: Path) -> None:
    """What keeps the no-mux forward's remote ``cat`` waiting: no data and no end of file."""
    out = tmp_path / "out"
    waited = process.spawn(["timeout", "0.5", "cat"], endless_input=True, output=out)
    assert waited.wait(10) == 124  # still reading when timeout ended it
    ended = process.spawn(["timeout", "10", "cat"], output=out)
    assert ended.wait(10) == 0  # the ordinary stdin: end of file at once


def test_forward_sockets_are_private_and_short(runtime: Path) -> None:
    path = Path(forwards.socket_path("abcd1234", 8787))
    assert path.parent == runtime / "fw"
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    assert path.name == "abcd1234-8787.sock"
    assert len(os.fsencode(str(path))) < 104


class _Status(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []  # noqa: RUF012 - one server per test

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("Authorization", ""))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def address_string(self) -> str:
        return "unix"

    def log_message(self, *args: object) -> None:
        pass


class _UnixHttp(http.server.ThreadingHTTPServer):
    address_family = socket.AF_UNIX
    daemon_threads = True

    def server_bind(self) -> None:  # no host name for a socket path
        self.socket.bind(self.server_address)


@pytest.fixture
def jupyter_socket(runtime: Path) -> Iterator[str]:
    """A Jupyter stand-in where ssh's forward socket would be: it records the tokens it got."""
    path = forwards.socket_path("cafe0001")
    _Status.seen = []
    server = _UnixHttp(path, _Status)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield path
    server.shutdown()
    server.server_close()
    thread.join(5)


def _session(path: str, port: int, relay_pid: int | None) -> Session:
    return Session(
        id="cafe0001",
        target="host",
        destination="host",
        jumps=(),
        ssh_config=None,
        multiplex=True,
        app="lab",
        token="secret-token",
        state=SessionState.READY,
        remote="/remote/jupyter.sock",
        local_port=port,
        forward_socket=path,
        relay_pid=relay_pid,
    )


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc/net/tcp (Linux)")
def test_the_token_goes_to_our_relay_only(jupyter_socket: str) -> None:
    served = relay.serve(0, jupyter_socket)
    try:
        session = _session(jupyter_socket, served.port, os.getpid())
        assert forwards.owner(session) == os.getpid()
        assert listener.held_by(served.port, os.getpid())
        assert forwards.probe(session) == 200
        assert _Status.seen == ["token secret-token"]
        # a record naming another process as the relay: the listener is not it, nothing sent
        stranger = _session(jupyter_socket, served.port, 1)
        with pytest.raises(ForeignListenerError):
            forwards.probe(stranger)
        assert _Status.seen == ["token secret-token"]
    finally:
        relay.stop_all()
    # the relay is gone and the port free: no answer, and still nothing sent
    assert forwards.probe(_session(jupyter_socket, served.port, os.getpid())) is None
    assert _Status.seen == ["token secret-token"]


def test_a_master_is_known_by_the_name_ssh_gives_it_in_the_background() -> None:
    path = Path("/run/user/1000/hoplab/cm/0123456789abcdef")
    # Linux: ssh renames the master it backgrounds itself (no -f), padding the old argv
    assert mux.is_master_command(f"ssh: {path} [mux]          ", path)
    # macOS keeps the argv it was started with
    assert mux.is_master_command(f"ssh -o ControlPath={path} -o ControlMaster=yes host", path)
    assert not mux.is_master_command(f"ssh: {path}0 [mux]", path)
    assert not mux.is_master_command(f"vim {path}", path)
