"""Remote operations on sessions, each one script over the transport."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hoplab.errors import (
    JobRejectedError,
    JupyterNotFoundError,
    RemoteError,
    WorkdirError,
)
from hoplab.launcher import handshake, render
from hoplab.records.model import LOGIN_TCP

if TYPE_CHECKING:
    import subprocess

    from hoplab.records.model import Session
    from hoplab.schedulers.base import JobSpec, Scheduler
    from hoplab.ssh.transport import Transport


ENV_HINT = (
    "point hoplab at an environment that has Jupyter: --venv PATH, --conda ENV or "
    "--module NAME (or install it there: pip install jupyterlab)"
)


@dataclass(frozen=True)
class Started:
    """What the launch script reported: where the session lives and the job that runs it."""

    remote_dir: str
    host: str
    job_id: str


def launch(
    transport: Transport,
    spec: render.LaunchSpec,
    token: str,
    scheduler: Scheduler,
    job: JobSpec,
    *,
    version: str | None = None,
) -> Started:
    """Create the session directory with token and launcher, then submit (or start) it.

    A refused job leaves nothing behind: the script removes the directory again, and the
    scheduler's own words become the error.
    """
    script = render.prepare(
        spec,
        token,
        submit=scheduler.submit_line(job),
        header=scheduler.header(job),
        scheduler=scheduler.name,
        version=version or "-",
    )
    done = transport.run(script, timeout=120)
    found = handshake.values(done.stdout)
    if "dir" not in found:
        raise RemoteError(
            f"could not create the session directory on {transport.target.label}: "
            f"{done.stderr.strip() or done.stdout.strip()}",
            "check that your home directory there is writable and not full",
        )
    answer = handshake.reply_to(done.stdout, ("submitted", "rejected"))
    if answer is None or answer.kind == "rejected":
        words = (answer.payload if answer else done.stderr).strip() or "no reason given"
        raise JobRejectedError(
            f"{scheduler.submit_command} refused the job on {transport.target.label}: {words}",
            "fix the option it names (--partition, --time, --account...); nothing was left behind",
        )
    try:
        job_id = scheduler.parse_job_id(answer.payload)
    except ValueError as exc:
        raise JobRejectedError(str(exc), "run the submit command by hand to see why") from exc
    return Started(found["dir"], found.get("host", ""), job_id)


def wait_round(
    transport: Transport, session: Session, seconds: float, *, ask: bool
) -> handshake.Reply:
    """One remote wait of up to ``seconds``: ready, failed, exited, node, gone or waiting."""
    script = render.wait(
        session.id,
        seconds,
        local=not session.batch,
        ask=ask,
        expect_tcp=session.reach == LOGIN_TCP,
    )
    return handshake.first_reply(transport.run(script, timeout=seconds + 30).stdout)


def tell_reach(transport: Transport, session: Session, listen: str, ip: str = "") -> None:
    """Tell the waiting launcher how to listen."""
    done = transport.run(render.reach(session.id, listen, ip), timeout=30)
    if done.returncode != 0:
        raise RemoteError(f"could not write to {session.remote_dir}: {done.stderr.strip()}")


def renew_lease(transport: Transport, session: Session) -> None:
    """Tell the launcher a client is still there (``--lease``)."""
    done = transport.run(render.renew_lease(session.id), timeout=30)
    if done.returncode != 0:
        raise RemoteError(f"the session directory {session.remote_dir} is gone")


def launch_failure(reply: handshake.Reply, session: Session) -> RemoteError:
    """The error for a launcher that said ``failed KIND`` (with its message after)."""
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

    process: str  # alive, dead, or job (a batch job: the scheduler knows)
    socket: str  # present, missing, none
    directory: bool

    @property
    def alive(self) -> bool:
        return self.process != "dead" and self.socket != "missing"


def _rows(sessions: list[Session], *, on_node: bool = False) -> list[render.Row]:
    """Where the script runs for each session: its plain host, its job's node, or its login."""
    where = {s.id: "node" if on_node else ("login" if s.batch else "host") for s in sessions}
    return [(s.id, s.jupyter_pid, s.socket, where[s.id]) for s in sessions]


def check(transport: Transport, sessions: list[Session]) -> dict[str, Liveness]:
    """One remote call that checks every given session on this target."""
    rows = _rows(sessions)
    done = transport.run(render.check(rows), timeout=30)
    found: dict[str, Liveness] = {}
    for words in handshake.replies(done.stdout):
        if len(words) == 4:
            sid, process, socket, directory = words
            found[sid] = Liveness(process, socket, directory == "present")
    return found


def stop(
    transport: Transport, sessions: list[Session], *, on_node: bool = False
) -> dict[str, list[str]]:
    """Stop sessions remotely; for each, the problems left (empty means verified clean).

    ``on_node``: the transport reaches the compute node of these batch sessions, so their
    Jupyter is stopped there by PID (checked to be Jupyter) and the socket removed; the
    directory stays until the job is gone (the launcher writes its end there).
    """
    rows = _rows(sessions, on_node=on_node)
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


@dataclass(frozen=True)
class Entry:
    """A session directory found on a host, whatever the local records say."""

    id: str
    process: str  # alive or dead (a session on this host), "-" (a batch job)
    node: str | None
    scheduler: str | None
    version: str | None
    app: str | None
    submitted: str  # the submit command's answer, for the job id


def scan(transport: Transport, skip: list[str]) -> list[Entry]:
    """The session directories under ~/.hoplab/sessions on the target, but those in ``skip``."""
    done = transport.run(render.scan(skip), timeout=30)
    entries = []
    for words in handshake.replies(done.stdout):
        if len(words) >= 7 and words[0] == "entry":
            sid, process, node, scheduler, version, app = words[1:7]
            entries.append(
                Entry(
                    sid,
                    process,
                    None if node == "-" else node,
                    None if scheduler == "-" else scheduler,
                    None if version == "-" else version,
                    None if app == "-" else app,
                    " ".join(words[7:]),
                )
            )
    return entries


def read_log(transport: Transport, session_id: str, *, lines: int) -> str:
    """The last ``lines`` of the session's Jupyter log ('' if there is none)."""
    done = transport.run(render.log(session_id, lines=lines, follow=False), timeout=30)
    return done.stdout if done.returncode == 0 else ""


def follow_log(transport: Transport, session_id: str, *, lines: int) -> subprocess.Popen[str]:
    """A process streaming the log as Jupyter writes it."""
    return transport.stream(render.log(session_id, lines=lines, follow=True))
