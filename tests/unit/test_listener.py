"""The token goes only to our own forward: whose listener is on 127.0.0.1:PORT (issue 15).

Real listeners: a socket this test process binds, and a small HTTP server in a child process
that records every request it gets (standing in for a stranger, or for our ssh).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hoplab.errors import ForeignListenerError
from hoplab.records.model import Session, SessionState
from hoplab.tunnel import forwards, listener

if TYPE_CHECKING:
    from collections.abc import Iterator

linux_only = pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(), reason="reads /proc/net/tcp (Linux)"
)

RECORDER = """
import http.server, sys
log = open(sys.argv[1], "a", buffering=1)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        log.write(repr(dict(self.headers)) + "\\n")
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@pytest.fixture
def listening() -> Iterator[int]:
    """A LISTEN socket on 127.0.0.1 held by this very process; its port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    """Another process listening on 127.0.0.1: (process, port, file of the requests it got)."""
    requests = tmp_path / "requests"
    requests.touch()
    child = subprocess.Popen(
        [sys.executable, "-c", RECORDER, str(requests)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        yield child, port, requests
    finally:
        child.kill()
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()


@pytest.fixture
def other_pid() -> Iterator[int]:
    child = subprocess.Popen(["sleep", "60"])
    yield child.pid
    child.kill()
    child.wait(timeout=10)


@linux_only
def test_our_own_listener_is_ours(listening: int, other_pid: int) -> None:
    assert listener.listening_inodes(listening)
    assert listener.held_by(listening, os.getpid())
    assert not listener.held_by(listening, other_pid)
    assert not listener.held_by(listening, None)


@linux_only
def test_another_process_listener_is_not_ours(
    recorder: tuple[subprocess.Popen[str], int, Path],
) -> None:
    child, port, _ = recorder
    assert not listener.held_by(port, os.getpid())
    assert listener.held_by(port, child.pid)


@linux_only
def test_no_listener_is_not_ours() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening
        port = sock.getsockname()[1]
        assert listener.listening_inodes(port) == set()
        assert not listener.held_by(port, os.getpid())


TABLE = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1
   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1001        0 222 1
   2: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 333 1
   3: 0A000001:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1002        0 444 1
   4: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 555 1
"""

TABLE6 = """\
  sl  local_address                         remote_address                        st tx_queue \
rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A \
00000000:00000000 00:00000000 00000000  1001        0 666 1
   1: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A \
00000000:00000000 00:00000000 00000000  1001        0 777 1
"""


def test_listening_inodes_are_every_listener_127_0_0_1_reaches(tmp_path: Path) -> None:
    v4, v6 = tmp_path / "tcp", tmp_path / "tcp6"
    v4.write_text(TABLE)
    v6.write_text(TABLE6)
    # 127.0.0.1 and 0.0.0.0 and [::] on port 8080 (0x1F90); not an established connection,
    # not another interface's address, not another port, not ::1
    assert listener.listening_inodes(8080, (v4, v6)) == {111, 222, 666}
    assert listener.listening_inodes(8081, (v4, v6)) == {555}
    assert listener.listening_inodes(9, (tmp_path / "absent",)) == set()


def test_lsof_output_is_read_per_process() -> None:
    text = "p4242\nf7\nn127.0.0.1:8080\np777\nf3\nn*:8080\nf4\nn[::1]:8080\n"
    assert listener.parse_lsof(text) == [
        (4242, "127.0.0.1"),
        (777, "*"),
        (777, "[::1]"),
    ]


def _session(port: int, forward_pid: int | None) -> Session:
    return Session(
        "5e551011",
        "t",
        "t",
        (),
        None,
        False,  # no multiplexing: the forward's own ssh is the expected listener
        "lab",
        token="the-token",
        state=SessionState.DETACHED,
        local_port=port,
        forward_pid=forward_pid,
    )


@linux_only
def test_probe_never_sends_the_token_to_a_stranger(
    recorder: tuple[subprocess.Popen[str], int, Path], other_pid: int
) -> None:
    _, port, requests = recorder
    with pytest.raises(ForeignListenerError, match="token was not sent"):
        forwards.probe(_session(port, other_pid))
    assert requests.read_text() == ""
    with pytest.raises(ForeignListenerError):
        forwards.probe(_session(port, None))
    assert requests.read_text() == ""


@linux_only
def test_probe_sends_the_token_to_our_own_forward(
    recorder: tuple[subprocess.Popen[str], int, Path],
) -> None:
    child, port, requests = recorder
    assert forwards.probe(_session(port, child.pid)) == 200
    assert "token the-token" in requests.read_text()


def test_probe_of_a_port_nobody_holds_is_no_answer() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert forwards.probe(_session(port, os.getpid())) is None


@linux_only
def test_with_multiplexing_the_expected_listener_is_the_recorded_master(
    recorder: tuple[subprocess.Popen[str], int, Path],
    other_pid: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The master's PID comes from the pidfile beside its ControlPath (no ssh is run)."""
    from hoplab.tunnel.reach import forward_transport

    monkeypatch.setenv("HOPLAB_RUNTIME_DIR", str(tmp_path / "run"))
    child, port, requests = recorder
    session = _session(port, None)
    session.multiplex = True
    master = forward_transport(session)
    pid_file = master.control_path.with_name(f"{master.control_path.name}.pid")

    pid_file.write_text(f"{other_pid}\n")  # a master that is not the listener
    with pytest.raises(ForeignListenerError):
        forwards.probe(session)
    assert requests.read_text() == ""

    pid_file.write_text(f"{child.pid}\n")  # the listener is the recorded master
    assert forwards.probe(session) == 200
    assert "token the-token" in requests.read_text()


def test_a_port_this_process_relays_needs_no_lookup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This process holds the listening socket of its own relay: nobody else can listen on
    that port, so the probe sends the token without reading the socket tables (or lsof)."""
    from hoplab.tunnel import relay

    def looked_up(*_args: object) -> bool:
        raise AssertionError("the listener was looked up")

    monkeypatch.setattr(listener, "held_by", looked_up)
    served = relay.serve(0, str(tmp_path / "absent.sock"))
    try:
        session = _session(served.port, None)
        session.forward_socket, session.relay_pid = served.target, os.getpid()
        assert forwards.is_ours(session)
        session.relay_pid = os.getpid() + 1  # recorded as another process's relay: looked up
        with pytest.raises(AssertionError, match="looked up"):
            forwards.is_ours(session)
    finally:
        relay.stop(served.port)
    session.relay_pid = os.getpid()  # this process no longer relays it: looked up
    with pytest.raises(AssertionError, match="looked up"):
        forwards.is_ours(session)
