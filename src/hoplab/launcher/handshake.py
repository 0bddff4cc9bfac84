"""Jupyter's handshake: what its ``jpserver-<pid>.json`` says about where it listens."""

from __future__ import annotations

import json
from dataclasses import dataclass

from hoplab.protocol import Listen


@dataclass(frozen=True)
class ServerInfo:
    """What Jupyter's ``jpserver-<pid>.json`` tells us; the token in it is deliberately dropped."""

    pid: int
    listen: Listen
    socket: str | None
    host: str | None
    port: int | None
    base_url: str

    @property
    def remote(self) -> str:
        """The forward target: the socket path, or host:port."""
        if self.listen is Listen.SOCKET and self.socket:
            return self.socket
        return f"{self.host}:{self.port}"


def server_info(payload: str) -> ServerInfo | None:
    """Parse a jpserver JSON payload; None if it is not (yet) complete."""
    try:
        data = json.loads(payload)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or "pid" not in data:
        return None
    sock = data.get("sock") or None
    return ServerInfo(
        pid=int(data["pid"]),
        listen=Listen.SOCKET if sock else Listen.TCP,
        socket=sock,
        host=None if sock else str(data.get("hostname") or "127.0.0.1"),
        port=None if sock else int(data.get("port") or 0),
        base_url=str(data.get("base_url") or "/"),
    )
