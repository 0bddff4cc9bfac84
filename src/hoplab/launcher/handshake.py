"""Read the remote scripts' answers: ``HOPLAB <word> ...`` lines, then any payload."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class Reply:
    """The first ``HOPLAB`` line split into words, and the text after it."""

    words: tuple[str, ...]
    payload: str

    @property
    def kind(self) -> str:
        return self.words[0] if self.words else ""


def replies(stdout: str) -> list[tuple[str, ...]]:
    """Every ``HOPLAB ...`` line as its words (the marker dropped)."""
    return [tuple(line.split()[1:]) for line in stdout.splitlines() if line.startswith("HOPLAB ")]


def first_reply(stdout: str) -> Reply:
    """The first marked line and everything printed after it."""
    lines = stdout.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("HOPLAB "):
            return Reply(tuple(line.split()[1:]), "\n".join(lines[index + 1 :]))
    return Reply((), stdout)


def reply_to(stdout: str, kinds: tuple[str, ...]) -> Reply | None:
    """The first marked line whose word is one of ``kinds``, and everything after it."""
    lines = stdout.splitlines()
    for index, line in enumerate(lines):
        words = tuple(line.split()[1:])
        if line.startswith("HOPLAB ") and words and words[0] in kinds:
            return Reply(words, "\n".join(lines[index + 1 :]))
    return None


def values(stdout: str) -> dict[str, str]:
    """``HOPLAB key value...`` lines as a dict (the value is the rest of the line)."""
    found: dict[str, str] = {}
    for line in stdout.splitlines():
        if line.startswith("HOPLAB "):
            _, key, *rest = [*line.split(" ", 2), ""]
            found[key] = rest[0]
    return found


class Listen(str, Enum):
    """Where Jupyter listens on the remote side."""

    SOCKET = "socket"
    TCP = "tcp"


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
