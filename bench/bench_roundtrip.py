"""A kernel round trip through the tunnel, against a floor measured in the same run (issue 19).

A round trip is ``execute('1')`` sent over the kernel's websocket until the kernel says idle
(busy, execute_input, execute_result, idle: several small messages, the case Nagle's algorithm
and delayed ACKs cost ~40 ms each). For each path (the plain host, the node of a SLURM job, the
plain host without multiplexing) one Jupyter and one kernel are reached four ways, interleaved
in every round:

- floor: a plain local TCP -> Unix socket relay with TCP_NODELAY, no ssh, to Jupyter's socket
  itself (the sandbox's hosts share this machine's file system: ``SandboxInfo.host_path``);
- hoplab: the session's own URL (the relay of hoplab's background supervisor, ssh's forward);
- raw ssh: ``ssh -N -L 127.0.0.1:PORT:SOCKET`` as every recipe does (what hoplab beats).

Each figure is printed as a ratio to the floor of its path. Target: hoplab at most 2x.

Run as root: ``.venv/bin/python bench/bench_roundtrip.py [--rounds N] [--executes N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any
from urllib.request import Request, urlopen

import websocket

from bench_sessions import finish, had_hoplab, laptop_env, timed
from hoplab.records.store import SessionStore
from hoplab.ssh.ports import free_port
from hoplab.testing.cluster import Sandbox
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator

    from hoplab.testing.info import SandboxInfo

LOGIN, NODE = "login01", "node001"
WARM_UP = 5


class Floor:
    """127.0.0.1:port relayed to a Unix socket, TCP_NODELAY on each accepted socket: two
    threads per connection, nothing of hoplab's (so hoplab's relay is measured, not used)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            far = socket.socket(socket.AF_UNIX)
            far.connect(self.target)
            self.open += [client, far]
            for source, sink in ((client, far), (far, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()

    def close(self) -> None:
        self.listener.close()
        for conn in self.open:
            conn.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)


@contextmanager
def raw_ssh(info: SandboxInfo, host: str, remote: str) -> Iterator[int]:
    """``ssh -N -L 127.0.0.1:PORT:remote host`` (the harness's config: it knows every host's
    key and reaches nodes through the login node); the port."""
    port = free_port()
    spec = f"127.0.0.1:{port}:{remote}"
    options = ["-N", "-o", "ExitOnForwardFailure=yes", "-L", spec]
    proc = subprocess.Popen(info.ssh_argv(host, options=options), stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: _accepts(port), 30, what=f"ssh -N -L on port {port}")
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def api(port: int, base: str, token: str, method: str, path: str) -> Any:
    request = Request(
        f"http://127.0.0.1:{port}{base}{path}",
        data=b"{}" if method == "POST" else None,
        method=method,
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    with urlopen(request, timeout=30) as answer:  # noqa: S310
        raw = answer.read()
    return json.loads(raw) if raw else None


def round_trips(port: int, base: str, token: str, kernel: str, count: int) -> float:
    """Median milliseconds of ``count`` execute('1') round trips through 127.0.0.1:port."""
    url = f"ws://127.0.0.1:{port}{base}api/kernels/{kernel}/channels"
    ws = websocket.create_connection(url, header=[f"Authorization: token {token}"], timeout=30)
    session = uuid.uuid4().hex
    times = []
    try:
        for n in range(WARM_UP + count):
            msg_id = uuid.uuid4().hex
            request = {
                "header": {"msg_id": msg_id, "username": "bench", "session": session,
                           "msg_type": "execute_request", "version": "5.3"},
                "parent_header": {}, "metadata": {}, "channel": "shell",
                "content": {"code": "1", "silent": False},
            }  # fmt: skip
            began = time.perf_counter()
            ws.send(json.dumps(request))
            for _ in range(100):  # bounded: a handful of messages per execute
                message = json.loads(ws.recv())
                if (
                    message.get("parent_header", {}).get("msg_id") == msg_id
                    and message["msg_type"] == "status"
                    and message["content"]["execution_state"] == "idle"
                ):
                    break
            else:
                raise AssertionError("the kernel never went idle")
            if n >= WARM_UP:
                times.append((time.perf_counter() - began) * 1000)
    finally:
        ws.close()
    return statistics.median(times)


def measure(
    info: SandboxInfo, env: dict[str, str], up: list[str], *, host: str, rounds: int, count: int
) -> dict[str, float]:
    """Start a session with ``up``, then the medians (ms) of each way to it, over the rounds."""
    out = timed(up, env)[1]
    result = json.loads(out)
    session = SessionStore().get(result["session"]["id"])
    assert session.socket, "Jupyter listens on a Unix socket"
    assert session.local_port, "the session has a local port"
    where = session.node or host
    socket_path = str(info.host_path(where, session.socket))
    base, token = session.base_url, session.token
    kernel = api(session.local_port, base, token, "POST", "api/kernels")["id"]
    found: dict[str, list[float]] = {"floor": [], "hoplab": [], "raw ssh -N -L": []}
    floor = Floor(socket_path)
    try:
        for _ in range(rounds):
            found["floor"].append(round_trips(floor.port, base, token, kernel, count))
            found["hoplab"].append(round_trips(session.local_port, base, token, kernel, count))
            with raw_ssh(info, where, session.socket) as port:
                found["raw ssh -N -L"].append(round_trips(port, base, token, kernel, count))
    finally:
        floor.close()
        with suppress(OSError):
            api(session.local_port, base, token, "DELETE", f"api/kernels/{kernel}")
    return {name: statistics.median(values) for name, values in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--executes", type=int, default=100)
    known = parser.parse_args()
    info = Sandbox().up()
    had = had_hoplab(info)
    env = laptop_env(info)
    os.environ["HOPLAB_STATE_DIR"] = env["HOPLAB_STATE_DIR"]  # SessionStore() reads the same
    hoplab = [sys.executable, "-m", "hoplab"]
    venv = str(info.jupyter_venv)
    common = ["--venv", venv, "--detach", "--new", "--json", "--no-browser"]
    paths = {
        f"plain host ({LOGIN})": (LOGIN, [*hoplab, "up", LOGIN, "--scheduler", "none", *common]),
        f"node path ({LOGIN} -> {NODE}, SLURM, ssh to the node)": (
            LOGIN,
            [
                *hoplab,
                "up",
                LOGIN,
                "--scheduler",
                "slurm",
                "--reach",
                "ssh-node",
                "--directive=--nodelist=node001",
                *common,
            ],
        ),
        f"plain host ({LOGIN}), --no-mux": (
            LOGIN,
            [*hoplab, "up", LOGIN, "--scheduler", "none", "--no-mux", *common],
        ),
    }
    print(f"rounds: {known.rounds}, {known.executes} executes each (medians, ms)")
    try:
        for label, (host, up) in paths.items():
            figures = measure(info, env, up, host=host, rounds=known.rounds, count=known.executes)
            floor = figures["floor"]
            print(f"{label}")
            print(f"  floor  local TCP->Unix relay, TCP_NODELAY, no ssh: {floor:6.1f} ms")
            for name in ("hoplab", "raw ssh -N -L"):
                target = " (target <= 2x)" if name == "hoplab" else ""
                print(
                    f"  {name:<13} {figures[name]:6.1f} ms = {figures[name] / floor:5.1f}x floor"
                    f"{target}"
                )
    finally:
        timed([*hoplab, "down", "--all"], env)
        finish(env, info, had=had)


if __name__ == "__main__":
    main()
