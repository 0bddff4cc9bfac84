"""The local relay that serves the browser's port (issue 19): real sockets, no ssh.

A Unix-socket echo server (and a tiny HTTP server on a Unix socket) stands where ssh's local
forward socket is; the relay serves 127.0.0.1 in front of it, as it does in front of ssh.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import os
import socket
import socketserver
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hoplab.errors import PortInUseError
from hoplab.tunnel import relay

if TYPE_CHECKING:
    from collections.abc import Iterator


class _Echo(socketserver.BaseRequestHandler):
    """Echo every byte; on EOF from the client, say so, then end its own writing."""

    def handle(self) -> None:
        conn: socket.socket = self.request
        while data := conn.recv(65536):
            conn.sendall(data)
        conn.sendall(b"<eof seen>")
        conn.shutdown(socket.SHUT_WR)


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    block_on_close = True
    request_queue_size = 128  # as ssh's own listeners


class _Http(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = f"you asked for {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def address_string(self) -> str:  # a Unix peer has no (host, port)
        return "unix"

    def log_message(self, *args: object) -> None:
        pass


def _serve_unix(path: Path, handler: type[socketserver.BaseRequestHandler]) -> Iterator[str]:
    server = _Server(str(path), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield str(path)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def echo(tmp_path: Path) -> Iterator[str]:
    yield from _serve_unix(tmp_path / "echo.sock", _Echo)


@pytest.fixture
def web(tmp_path: Path) -> Iterator[str]:
    yield from _serve_unix(tmp_path / "web.sock", _Http)


@pytest.fixture
def relayed(echo: str) -> Iterator[relay.Relay]:
    running = relay.Relay(0, echo).start()
    try:
        yield running
    finally:
        running.close()


def _connect(port: int) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", port), timeout=10)
    client.settimeout(10)
    return client


def _read_all(conn: socket.socket) -> bytes:
    chunks = []
    while data := conn.recv(65536):
        chunks.append(data)
    return b"".join(chunks)


def _open_fds() -> set[int]:
    return {int(entry.name) for entry in Path("/proc/self/fd").iterdir()}


def test_bytes_go_both_ways_unchanged(relayed: relay.Relay) -> None:
    payload = os.urandom(3 * 1024 * 1024) + bytes(range(256))  # more than any buffer holds
    with _connect(relayed.port) as client:
        sender = threading.Thread(target=lambda: (client.sendall(payload), client.shutdown(1)))
        sender.start()
        received = _read_all(client)
        sender.join(10)
    assert received == payload + b"<eof seen>"


def test_a_half_close_is_passed_on_and_the_other_way_stays_open(relayed: relay.Relay) -> None:
    with _connect(relayed.port) as client:
        client.sendall(b"ping")
        assert client.recv(4) == b"ping"
        client.shutdown(socket.SHUT_WR)  # the server must see EOF and may still answer
        assert _read_all(client) == b"<eof seen>"


def test_http_on_a_unix_socket_through_the_relay(web: str) -> None:
    running = relay.Relay(0, web).start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
        for path in ("/api/status", "/lab"):  # one keep-alive connection, two requests
            connection.request("GET", path)
            answer = connection.getresponse()
            assert (answer.status, answer.read()) == (200, f"you asked for {path}".encode())
        connection.close()
    finally:
        running.close()


def test_many_connections_at_once(relayed: relay.Relay) -> None:
    def exchange(n: int) -> bytes:
        with _connect(relayed.port) as client:
            message = f"connection {n} ".encode() * 100
            client.sendall(message)
            client.shutdown(socket.SHUT_WR)
            return _read_all(client)

    with ThreadPoolExecutor(max_workers=64) as pool:
        answers = list(pool.map(exchange, range(200)))
    assert answers == [f"connection {n} ".encode() * 100 + b"<eof seen>" for n in range(200)]


def test_every_accepted_socket_has_nagle_off(relayed: relay.Relay) -> None:
    clients = [_connect(relayed.port) for _ in range(3)]
    try:
        for client in clients:  # a round trip: the relay has accepted and set its options
            client.sendall(b"x")
            assert client.recv(1) == b"x"
        peers = {client.getsockname() for client in clients}
        accepted = _sockets_of_this_process(("127.0.0.1", relayed.port), peers)
        assert len(accepted) == 3
        assert all(nodelay for nodelay in accepted)
        for client in clients:  # the client end is the test's own: Nagle on by default
            assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
    finally:
        for client in clients:
            client.close()


def _sockets_of_this_process(local: tuple[str, int], peers: set[object]) -> list[bool]:
    """TCP_NODELAY of each socket of this process bound to ``local`` and connected to one of
    ``peers``: the relay's accepted sockets, looked at from outside the relay."""
    found = []
    for fd in _open_fds():
        try:
            probe = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        with probe:
            try:
                if probe.family != socket.AF_INET or probe.getsockname() != local:
                    continue
                if probe.getpeername() not in peers:
                    continue
            except OSError:
                continue
            found.append(probe.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0)
    return found


def test_it_listens_on_127_0_0_1_only(relayed: relay.Relay) -> None:
    listeners = [
        line.split()
        for table in ("/proc/net/tcp", "/proc/net/tcp6")
        if Path(table).exists()
        for line in Path(table).read_text().splitlines()[1:]
    ]
    ours = [f for f in listeners if f[3] == "0A" and int(f[1].split(":")[1], 16) == relayed.port]
    assert [f[1].split(":")[0] for f in ours] == ["0100007F"]  # 127.0.0.1, no IPv6, no 0.0.0.0


def test_a_taken_port_is_port_in_use(echo: str) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        with pytest.raises(PortInUseError):
            relay.Relay(other.getsockname()[1], echo).start()


def test_a_missing_forward_closes_the_connection(tmp_path: Path) -> None:
    running = relay.Relay(0, str(tmp_path / "gone.sock")).start()
    try:
        with _connect(running.port) as client:
            assert _read_all(client) == b""
    finally:
        running.close()


def test_close_leaves_nothing(echo: str) -> None:
    before_fds = _open_fds()
    before_threads = set(threading.enumerate())
    running = relay.Relay(0, echo).start()
    clients = [_connect(running.port) for _ in range(5)]
    for client in clients:  # live connections, one of them a long-lived idle one
        client.sendall(b"hello")
        assert client.recv(5) == b"hello"
    running.close()
    try:
        assert not running.running
        assert not [t for t in threading.enumerate() if t.name.startswith("hoplab-relay")]
        for handler in set(threading.enumerate()) - before_threads:
            handler.join(5)  # the echo server's handlers end: the relay closed its Unix ends
            assert not handler.is_alive()
        for client in clients:  # the relay closed its end: EOF (or a reset), never a hang
            with contextlib.suppress(ConnectionResetError):
                assert client.recv(100) in {b"", b"<eof seen>"}
        with socket.socket() as again:  # the port is free again
            again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            again.bind(("127.0.0.1", running.port))
    finally:
        for client in clients:
            client.close()
    assert _open_fds() <= before_fds
    running.close()  # twice is harmless


def test_this_process_keeps_one_relay_per_port(echo: str, tmp_path: Path) -> None:
    first = relay.serve(0, echo)
    try:
        assert relay.serving(first.port) is first
        assert relay.serve(first.port, echo) is first  # the same target: kept
        other = relay.serve(first.port, str(tmp_path / "other.sock"))  # another: replaced
        assert other is not first
        assert not first.running
        assert relay.serving(first.port) is other
        assert first.port in list(relay.ports())
    finally:
        relay.stop_all()
    assert relay.serving(first.port) is None
    assert not relay.stop(first.port)
