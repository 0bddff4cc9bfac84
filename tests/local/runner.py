"""Run hoplab's rendered scripts in a real ``sh`` with a private HOME, as ssh would."""

from __future__ import annotations

import http.client
import socket
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hoplab.launcher import handshake, render
from hoplab.protocol import Listen, Reply, Where
from hoplab.remote import frames
from hoplab.schedulers.base import JobSpec, Resources
from hoplab.schedulers.none import NoScheduler

if TYPE_CHECKING:
    from pathlib import Path

    from hoplab.launcher.frame import Script

TOKEN = "c0ffee" * 8


@dataclass
class Host:
    """A plain host: this machine, with ``home`` as the remote home and ``path`` as PATH."""

    home: Path
    path: str
    env: dict[str, str] = field(default_factory=dict)  # what the login shell would export

    def run(self, script: Script, timeout: float = 60) -> frames.Frame:
        env = {"HOME": str(self.home), "PATH": self.path, "LANG": "C.UTF-8", **self.env}
        done = subprocess.run(
            ["sh", "-s"],
            input=script.text,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
        return frames.read(done.stdout, script.nonce)

    def up(self, spec: render.LaunchSpec) -> frames.Frame:
        job = JobSpec(f"hoplab-{spec.session_id}", "jupyter.log", Resources())
        return self.run(render.prepare(spec, TOKEN, submit=NoScheduler().submit_line(job)))

    def wait(self, session_id: str, seconds: float = 30) -> frames.ReplyLine:
        reply = self.run(render.wait(session_id, seconds), timeout=seconds + 30).first()
        assert reply is not None
        return reply

    def stop(self, session_id: str, pid: int, sock: str | None) -> list[str]:
        frame = self.run(render.stop([(session_id, pid, sock, Where.HOST)]))
        return [reply.arg(1) for reply in frame.replies() if reply.kind is Reply.STOP]


def status(info: handshake.ServerInfo, token: str | None) -> int:
    """``GET /api/status`` on the server itself (its socket or loopback port)."""
    headers = {"Authorization": f"token {token}"} if token else {}
    if info.listen is Listen.SOCKET:
        connection: http.client.HTTPConnection = _UnixConnection(info.socket or "")
    else:
        assert info.host in {"127.0.0.1", "localhost"}, info.host  # loopback only
        connection = http.client.HTTPConnection("127.0.0.1", info.port or 0, timeout=10)
    try:
        connection.request("GET", f"{info.base_url}api/status", headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)
