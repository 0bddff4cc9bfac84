"""Remote operations on sessions, each one script over the transport."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hoplab.errors import (
    JupyterNotFoundError,
    JupyterStartError,
    RemoteError,
    WorkdirError,
)
from hoplab.launcher import handshake, render

if TYPE_CHECKING:
    import subprocess

    from hoplab.launcher.handshake import ServerInfo
    from hoplab.sessions.model import Session
    from hoplab.ssh.transport import Transport

# One remote wait lasts at most this long, so progress can be shown between rounds.
WAIT_ROUND = 15.0

ENV_HINT = (
    "point hoplab at an environment that has Jupyter: --venv PATH, --conda ENV or "
    "--module NAME (or install it there: pip install jupyterlab)"
)


@dataclass(frozen=True)
class Started:
    """What the prepare script reported."""

    remote_dir: str
    host: str
    pid: int | None


def prepare(transport: Transport, spec: render.LaunchSpec, token: str, *, start: bool) -> Started:
    """Create the session directory with token and launcher; start it when ``start``."""
    done = transport.run(render.prepare(spec, token, start=start), timeout=60)
    found = handshake.values(done.stdout)
    if done.returncode != 0 or "dir" not in found:
        raise RemoteError(
            f"could not create the session directory on {transport.target.label}: "
            f"{done.stderr.strip() or done.stdout.strip()}",
            "check that your home directory there is writable and not full",
        )
    pid = found.get("pid")
    return Started(found["dir"], found.get("host", ""), int(pid) if pid else None)


def wait_ready(transport: Transport, session: Session, timeout: float) -> ServerInfo:
    """Wait until Jupyter's handshake file appears; turn every failure into a clear error."""
    deadline = time.monotonic() + timeout
    state = "none"
    while True:
        remaining = deadline - time.monotonic()
        script = render.wait(session.id, max(0.1, min(WAIT_ROUND, remaining)))
        reply = handshake.first_reply(transport.run(script, timeout=WAIT_ROUND + 30).stdout)
        if reply.kind == "ready":
            info = handshake.server_info(reply.payload)
            if info is not None:
                return info
        elif reply.kind == "failed":
            raise _launch_failure(reply, session)
        elif reply.kind == "exited":
            raise JupyterStartError(
                f"Jupyter exited during start-up on {session.remote_host}",
                reply.payload,
                f"the log lines above say why; 'hoplab logs {session.id}' shows the whole log",
            )
        elif reply.kind == "gone":
            raise RemoteError(f"the session directory {session.remote_dir} disappeared")
        elif reply.kind == "waiting" and len(reply.words) > 1:
            state = reply.words[1]
        if time.monotonic() >= deadline:
            raise JupyterStartError(
                f"Jupyter did not become ready within {timeout:g} s (launcher state: {state})",
                read_log(transport, session.id, lines=20),
                "raise --start-timeout if the host is slow, or read the log above",
            )


def _launch_failure(reply: handshake.Reply, session: Session) -> RemoteError:
    kind = reply.words[1] if len(reply.words) > 1 else "unknown"
    message = reply.payload.strip() or f"the launcher failed ({kind})"
    if kind == "no-jupyter":
        return JupyterNotFoundError(message, ENV_HINT)
    if kind == "workdir":
        return WorkdirError(message, "create the directory, or fix --workdir")
    if kind == "env":
        return RemoteError(message, "check the --conda/--venv/--module/--setup values")
    return RemoteError(message, f"'hoplab logs {session.id}' may say more")


@dataclass(frozen=True)
class Liveness:
    """What the remote check saw of one session."""

    process_alive: bool
    socket: str  # present, missing, none
    directory: bool

    @property
    def alive(self) -> bool:
        return self.process_alive and self.socket != "missing"


def check(transport: Transport, sessions: list[Session]) -> dict[str, Liveness]:
    """One remote call that checks every given session on this target."""
    rows = [(s.id, s.jupyter_pid, s.socket) for s in sessions]
    done = transport.run(render.check(rows), timeout=30)
    found: dict[str, Liveness] = {}
    for words in handshake.replies(done.stdout):
        if len(words) == 4:
            sid, process, socket, directory = words
            found[sid] = Liveness(process == "alive", socket, directory == "present")
    return found


def stop(transport: Transport, sessions: list[Session]) -> dict[str, list[str]]:
    """Stop sessions remotely; for each, the problems left (empty means verified clean)."""
    rows = [(s.id, s.jupyter_pid, s.socket) for s in sessions]
    done = transport.run(render.stop(rows), timeout=60 + 15 * len(rows))
    problems: dict[str, list[str]] = {s.id: [] for s in sessions}
    finished: set[str] = set()
    for words in handshake.replies(done.stdout):
        if len(words) == 2 and words[0] in problems:
            sid, word = words
            if word == "done":
                finished.add(sid)
            elif word in {"still-running", "socket-left", "dir-left", "not-jupyter"}:
                problems[sid].append(word)
    for sid, found in problems.items():
        if sid not in finished:
            found.append("no-answer")
    return problems


def read_log(transport: Transport, session_id: str, *, lines: int) -> str:
    """The last ``lines`` of the session's Jupyter log ('' if there is none)."""
    done = transport.run(render.log(session_id, lines=lines, follow=False), timeout=30)
    return done.stdout if done.returncode == 0 else ""


def follow_log(transport: Transport, session_id: str, *, lines: int) -> subprocess.Popen[str]:
    """A process streaming the log as Jupyter writes it."""
    return transport.stream(render.log(session_id, lines=lines, follow=True))
