"""Remote operations on sessions, each one script over the transport."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from hoplab.errors import (
    JobRejectedError,
    JupyterNotFoundError,
    ProtocolError,
    RemoteError,
    WorkdirError,
)
from hoplab.launcher import handshake, render
from hoplab.protocol import (
    SAY,
    Detail,
    DirState,
    Expect,
    FailKind,
    Listen,
    Process,
    PurgeFinding,
    Reach,
    Reply,
    SchedulerName,
    SocketDir,
    SocketState,
    StopFinding,
    View,
    Where,
)
from hoplab.remote import frames, jobs
from hoplab.schedulers.base import BatchScheduler

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Iterator

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
    socket: str = ""  # without a scheduler: the Unix socket the launcher gives Jupyter


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
        scheduler=SchedulerName(scheduler.name),
        version=version or "-",
        environment=jobs.environment(scheduler) if isinstance(scheduler, BatchScheduler) else "",
    )
    frame = frames.run(transport, script, timeout=120)
    found = frame.values()
    if Reply.DIR not in found:
        raise RemoteError(
            f"could not create the session directory on {transport.target.label}: "
            f"{frame.text.strip() or f'exit code {frame.code}'}",
            "check that your home directory there is writable and not full",
        )
    answer = frame.first(Reply.SUBMITTED, Reply.REJECTED)
    if answer is None or answer.kind is Reply.REJECTED:
        said = answer.payload if answer else frame.text.split("\n", 2)[-1]
        words = said.strip() or "no reason given"
        raise JobRejectedError(
            f"{scheduler.submit_command} refused the job on {transport.target.label}: {words}",
            "fix the option it names (--partition, --time, --account...); nothing was left behind",
        )
    try:
        job_id = scheduler.parse_job_id(answer.payload)
    except ValueError as exc:
        raise JobRejectedError(str(exc), "run the submit command by hand to see why") from exc
    return Started(found[Reply.DIR], found.get(Reply.HOST, ""), job_id, found.get(Reply.SOCKET, ""))


def wait_round(
    transport: Transport, session: Session, seconds: float, *, ask: bool
) -> frames.ReplyLine:
    """One remote wait of up to ``seconds``: ready, failed, exited, node, gone or waiting."""
    script = render.wait(
        session.id,
        seconds,
        local=not session.batch,
        ask=ask,
        expect=(
            Expect.TCP
            if session.reach == Reach.LOGIN_TCP
            else Expect.HOME
            if session.socket_home
            else Expect.ANY
        ),
    )
    reply = frames.run(transport, script, timeout=seconds + 30).first()
    if reply is None:
        raise ProtocolError(f"the wait for session {session.id} answered nothing")
    return reply


def tell_reach(transport: Transport, session: Session, listen: Listen, ip: str = "") -> None:
    """Tell the waiting launcher how to listen."""
    frame = frames.run(transport, render.reach(session.id, listen, ip), timeout=30)
    if frame.code != 0:
        raise RemoteError(f"could not write to {session.remote_dir}: {frame.text.strip()}")


def renew_lease(transport: Transport, session: Session) -> None:
    """Tell the launcher a client is still there (``--lease``)."""
    frame = frames.run(transport, render.renew_lease(session.id), timeout=30)
    if frame.code != 0:
        raise RemoteError(f"the session directory {session.remote_dir} is gone")


def launch_failure(reply: frames.ReplyLine, session: Session) -> RemoteError:
    """The error for a launcher that said ``failed KIND`` (with its message after)."""
    kind = FailKind.parse(reply.arg(0), f"failed {' '.join(reply.args)}")
    message = reply.payload.strip() or f"the launcher failed ({kind})"
    if kind is FailKind.NO_JUPYTER:
        return JupyterNotFoundError(message, ENV_HINT)
    if kind is FailKind.OTHER_JUPYTER:
        return JupyterNotFoundError(
            message,
            "install Jupyter in that environment (pip install jupyterlab), or leave out "
            "--venv/--conda to run the one on PATH (a venv that borrows Jupyter from its base, "
            "--system-site-packages: activate it with --setup '. VENV/bin/activate' instead)",
        )
    if kind is FailKind.WORKDIR:
        return WorkdirError(message, "create the directory, or fix --workdir")
    if kind is FailKind.ENV:
        return RemoteError(message, "check the --conda/--venv/--module/--setup values")
    return RemoteError(message, f"'hoplab logs {session.id}' may say more")


@dataclass(frozen=True)
class Liveness:
    """What the remote check saw of one session."""

    process: Process  # alive, dead, or job (a batch job: the scheduler knows)
    socket: SocketState
    directory: bool

    @property
    def alive(self) -> bool:
        return self.process is not Process.DEAD and self.socket is not SocketState.MISSING


def _rows(sessions: list[Session], *, on_node: bool = False) -> list[render.Row]:
    """Where the script runs for each session: its plain host, its job's node, or its login."""

    def where(session: Session) -> Where:
        if on_node:
            return Where.NODE
        return Where.LOGIN if session.batch else Where.HOST

    return [(s.id, s.jupyter_pid, s.socket, where(s)) for s in sessions]


def check(transport: Transport, sessions: list[Session]) -> dict[str, Liveness]:
    """One remote call that checks every given session on this target."""
    frame = frames.run(transport, render.check(_rows(sessions)), timeout=30)
    found: dict[str, Liveness] = {}
    for reply in frame.replies():
        if reply.kind is not Reply.CHECK or len(reply.args) != 4:
            raise ProtocolError(f"an unexpected answer to a check: {reply}")
        sid, process, socket, directory = reply.args
        found[sid] = Liveness(
            Process.parse(process),
            SocketState.parse(socket),
            DirState.parse(directory) is DirState.PRESENT,
        )
    return found


@dataclass(frozen=True)
class StopReport:
    """What the stop script found for one session: ``answered`` is False when it said nothing."""

    findings: tuple[StopFinding, ...] = ()
    answered: bool = False

    @property
    def problems(self) -> list[StopFinding]:
        return [finding for finding in self.findings if finding.problem]


def stop(
    transport: Transport, sessions: list[Session], *, on_node: bool = False, by: str = ""
) -> dict[str, StopReport]:
    """Stop sessions remotely; for each, the problems left (empty means verified clean).

    ``on_node``: the transport reaches the compute node of these batch sessions, so their
    Jupyter is stopped there by PID (checked to be Jupyter) and the socket removed; the
    directory stays until the job is gone (the launcher writes its end there). ``by``: who
    stops them (a ``down``), written in a tombstone for the other computers.
    """
    rows = _rows(sessions, on_node=on_node)
    script = render.stop(rows, by=by, at=int(time.time()) if by else 0)
    frame = frames.run(transport, script, timeout=60 + 15 * len(rows))
    found: dict[str, list[StopFinding]] = {s.id: [] for s in sessions}
    for reply in frame.replies():
        if reply.kind is not Reply.STOP or len(reply.args) != 2 or reply.args[0] not in found:
            raise ProtocolError(f"an unexpected answer to a stop: {reply}")
        found[reply.args[0]].append(StopFinding.parse(reply.args[1], str(reply)))
    return {
        sid: StopReport(
            tuple(f for f in said if f is not StopFinding.DONE), StopFinding.DONE in said
        )
        for sid, said in found.items()
    }


@dataclass(frozen=True)
class Purged:
    """What the purge script did: its finding, and the session directories that appeared."""

    finding: PurgeFinding
    new: tuple[str, ...] = ()


def purge(transport: Transport, known: list[str]) -> Purged:
    """Remove ~/.hoplab on the target unless a session directory not in ``known`` is there."""
    frame = frames.run(transport, render.purge(known), timeout=60)
    findings: list[PurgeFinding] = []
    new: list[str] = []
    for reply in frame.replies():
        if reply.kind is not Reply.PURGE or not reply.args:
            raise ProtocolError(f"an unexpected answer to a purge: {reply}")
        finding = PurgeFinding.parse(reply.args[0], str(reply))
        if finding is PurgeFinding.NEW and len(reply.args) == 2:
            new.append(reply.args[1])
        findings.append(finding)
    if new:
        return Purged(PurgeFinding.NEW, tuple(new))
    if len(findings) != 1:
        raise ProtocolError(f"the purge answered {findings or 'nothing'}")
    return Purged(findings[0])


@dataclass(frozen=True)
class Entry:
    """A session directory found on a host, whatever the local records say."""

    id: str
    process: Process  # alive or dead (a session on this host), UNSEEN (a batch job)
    node: str | None
    scheduler: SchedulerName | None
    version: str | None
    app: str | None
    protocol: int  # the protocol version of the hoplab that made it
    submitted: str  # the submit command's answer, for the job id
    host: str | None = None  # where it was made: the host itself, or a job's login node
    # with Detail.REACH: how its Jupyter is reached
    listen: Listen | None = None  # a job's reach file: socket, home-socket or tcp (on ``ip``)
    ip: str = ""
    lease: int | None = None
    server: handshake.ServerInfo | None = None  # Jupyter's handshake, once it is ready
    # with Detail.TOKEN
    token: str = field(default="", repr=False)


# A token as hoplab writes it (hex), or as a URL carries one: nothing a shell or a URL reads.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9._~-]{8,256}")


def scan(
    transport: Transport,
    skip: list[str],
    only: list[str] | None = None,
    *,
    detail: Detail = Detail.NONE,
) -> list[Entry]:
    """The session directories under ~/.hoplab/sessions on the target, but those in ``skip``
    (with ``only``: just those); ``detail`` says how much of each (see ``scan.sh``).

    With more detail the answer carries tokens (Jupyter's handshake holds one too): an
    unreadable one raises an error that quotes none of it.
    """
    script = render.scan(skip, only, detail)
    if detail is Detail.NONE:
        return read_scan(frames.run(transport, script, timeout=30).text)
    try:
        frame = frames.run(transport, script, timeout=30)
    except ProtocolError as exc:  # its message would quote what the target said
        raise ProtocolError(
            f"the list of sessions on {transport.target.label} could not be read (what it "
            "said is not shown: it holds session tokens)",
            exc.hint,
        ) from None
    return read_scan(frame.text)  # its own errors quote no token


def read_scan(text: str) -> list[Entry]:
    """The entries of a scan's frame text, each with the detail lines that follow it."""
    entries: dict[str, Entry] = {}
    for line in text.splitlines():
        if not line.startswith(SAY + " "):
            continue
        reply = frames.ReplyLine.read(line)
        if reply.kind is Reply.ENTRY:
            entry = _entry(reply)
            entries[entry.id] = entry
            continue
        sid = reply.args[0] if reply.args else ""
        if sid not in entries:
            raise ProtocolError(f"a scan said {reply.kind.value!r} of no entry")
        entries[sid] = _detail(entries[sid], reply, line)
    return list(entries.values())


def _entry(reply: frames.ReplyLine) -> Entry:
    if len(reply.args) < 8:
        raise ProtocolError(f"an unexpected answer to a scan: {reply}")
    sid, process, node, scheduler, version, app, protocol, host = reply.args[:8]
    return Entry(
        sid,
        Process.parse(process, str(reply)),
        None if node == "-" else node,
        None if scheduler == "-" else SchedulerName.parse(scheduler),
        None if version == "-" else version,
        None if app == "-" else app,
        int(protocol) if protocol.isdigit() else 1,
        " ".join(reply.args[8:]),
        None if host == "-" else host,
    )


def _detail(entry: Entry, reply: frames.ReplyLine, line: str) -> Entry:
    """``entry`` with what one detail line says (``line``: the raw text, for the JSON)."""
    if reply.kind is Reply.REACH and len(reply.args) in {2, 3}:
        listen = Listen.parse(reply.args[1], str(reply))
        return replace(entry, listen=listen, ip=reply.args[2] if len(reply.args) == 3 else "")
    if reply.kind is Reply.LEASE and len(reply.args) == 2 and reply.args[1].isdigit():
        return replace(entry, lease=int(reply.args[1]))
    if reply.kind is Reply.SERVER and len(reply.args) >= 3 and reply.args[1].isdigit():
        # the JSON as Jupyter wrote it, its spacing kept: after "HOPLAB server ID PID "
        payload = line.split(maxsplit=4)[4]
        return replace(entry, server=handshake.server_info(payload))
    if reply.kind is Reply.TOKEN:
        # never quoted in an error: the line carries the token
        if len(reply.args) != 2 or not TOKEN_SHAPE.fullmatch(reply.args[1]):
            raise ProtocolError(f"the token file of session {entry.id} is not a token")
        return replace(entry, token=reply.args[1])
    raise ProtocolError(f"an unexpected answer to a scan: {reply.kind.value} {reply.args[:1]}")


@dataclass(frozen=True)
class Tombstone:
    """What a ``down`` left on the target for the other computers: when, and by whom."""

    at: float | None
    by: str


def ended(transport: Transport, session_ids: list[str]) -> dict[str, Tombstone]:
    """The tombstones of these sessions on the target: each was stopped by a ``down``."""
    if not session_ids:
        return {}
    frame = frames.run(transport, render.ended(session_ids), timeout=30)
    found = {}
    for reply in frame.replies():
        if reply.kind is not Reply.ENDED or len(reply.args) != 3:
            raise ProtocolError(f"an unexpected answer about ended sessions: {reply}")
        sid, at, by = reply.args
        found[sid] = Tombstone(float(at) if at.isdigit() else None, "" if by == "-" else by)
    return found


def forget_ended(transport: Transport, session_ids: list[str]) -> bool:
    """Remove the tombstones of these sessions (this computer settled its records of them)."""
    if not session_ids:
        return True
    frame = frames.run(transport, render.ended(session_ids, forget=True), timeout=30)
    return frame.code == 0


def read_log(transport: Transport, session_id: str, *, lines: int) -> str:
    """The last ``lines`` of the session's Jupyter log ('' if there is none)."""
    frame = frames.run(transport, render.log(session_id, lines=lines, follow=False), timeout=30)
    return frame.text if frame.code == 0 else ""


def follow_log(
    transport: Transport, session_id: str, *, lines: int
) -> tuple[subprocess.Popen[str], Iterator[str]]:
    """A process streaming the log as Jupyter writes it, and its lines (inside the frame)."""
    script = render.log(session_id, lines=lines, follow=True)
    proc = transport.stream(script.text)
    return proc, frames.stream_start(proc.stdout or iter(()), script.nonce)


@dataclass(frozen=True)
class HostKeys:
    """What a host said about another host's keys: trusted lines, or only a scan."""

    lines: tuple[str, ...]  # "keytype key" (re-keyed by the caller) or "@cert-authority ..."
    scanned: bool  # nothing vouched: the keys come from ssh-keyscan run on that host


def host_keys(transport: Transport, names: list[str], port: int) -> HostKeys:
    """Ask the host of ``transport`` which keys it trusts for the host ``names`` on ``port``."""
    frame = frames.run(transport, render.host_keys(names, port), timeout=30)
    trusted: list[str] = []
    scanned: list[str] = []
    for reply in frame.replies():
        if reply.kind is Reply.CA:
            trusted.append(" ".join(reply.args))
        elif reply.kind in {Reply.KEY, Reply.SCANNED} and len(reply.args) >= 3:
            kept = " ".join(reply.args[1:3])  # drop the host field: the caller names it
            (trusted if reply.kind is Reply.KEY else scanned).append(kept)
        else:
            raise ProtocolError(f"an unexpected answer about host keys: {reply}")
    if trusted:
        return HostKeys(tuple(dict.fromkeys(trusted)), scanned=False)
    return HostKeys(tuple(dict.fromkeys(scanned)), scanned=True)


def same_view(
    transport: Transport, session_id: str, *, timeout: float = 20.0, trial: bool = False
) -> bool:
    """Whether an ssh session on the node (``transport``) sees the job's socket directory
    (``trial``: of ``hoplab doctor``'s test job)."""
    script = render.view(session_id, timeout, trial=trial)
    frame = frames.run(transport, script, timeout=timeout + 30)
    reply = frame.first(Reply.VIEW)
    if reply is None:
        raise ProtocolError("the view check answered nothing")
    return View.parse(reply.arg(0), str(reply)) is View.SAME


@dataclass(frozen=True)
class SocketPlace:
    """Where Jupyter's socket would go on a host, and whether the launcher could use it."""

    state: SocketDir
    path: str


@dataclass(frozen=True)
class Probe:
    """What ``hoplab doctor`` learnt on the target (``doctor.sh``)."""

    shell: str  # the login shell, "-" when $SHELL is unset
    failures: tuple[tuple[FailKind, str], ...]  # what would stop the launcher, with its words
    jupyter: str | None  # the jupyter-APP the launcher would run
    server: tuple[int, int] | None  # jupyter_server's (or classic Notebook's) version
    sockets: bool  # whether that Jupyter listens on a Unix socket
    socket_dir: SocketPlace | None
    activation: str  # what activating the environment printed (stdout and stderr)
    startup: str  # what the login printed outside hoplab's frame (startup files)


# ssh's own words on stderr, which are not the login's
_SSH_NOTES = ("Warning: Permanently added",)


def probe(transport: Transport, environment: render.Environment, app: str) -> Probe:
    """Ask the target what ``up`` will meet there (it changes nothing)."""
    script = render.doctor(environment, app)
    done = transport.run(script.text, timeout=120)
    return read_probe(done.stdout, done.stderr, script.nonce, transport.target.label)


def read_probe(stdout: str, stderr: str, nonce: str, where: str = "the remote host") -> Probe:
    """The probe's answer; what the login printed around it is kept apart as ``startup``."""
    frame = frames.read(stdout, nonce, where=where)
    shell, jupyter, server, sockets, place = "-", None, None, False, None
    failures: list[tuple[FailKind, str]] = []
    for reply in frame.replies():
        if reply.kind is Reply.SHELL:
            shell = " ".join(reply.args) or "-"
        elif reply.kind is Reply.FAILED:
            kind = FailKind.parse(reply.arg(0), str(reply))
            failures.append((kind, " ".join(reply.args[1:])))
        elif reply.kind is Reply.JUPYTER:
            jupyter = None if reply.args in {(), ("-",)} else " ".join(reply.args)
        elif reply.kind is Reply.SERVER:
            server = _version(reply.args)
        elif reply.kind is Reply.SOCKETS:
            sockets = reply.arg(0) == "yes"
        elif reply.kind is Reply.SOCKET_DIR:
            place = socket_place(reply)
        else:
            raise ProtocolError(f"an unexpected answer to doctor's probe: {reply}")
    said = frame.commands.get("activate")
    noise = [
        line
        for line in (frames.outside(stdout, nonce), stderr)
        for line in line.splitlines()
        if line.strip() and not line.startswith(_SSH_NOTES)
    ]
    return Probe(
        shell,
        tuple(failures),
        jupyter,
        server,
        sockets,
        place,
        said.stdout.strip() if said else "",
        "\n".join(noise),
    )


def socket_place(reply: frames.ReplyLine) -> SocketPlace:
    """``socket-dir STATE DIR`` (``sockdir.sh``)."""
    return SocketPlace(SocketDir.parse(reply.arg(0), str(reply)), " ".join(reply.args[1:]))


def _version(args: tuple[str, ...]) -> tuple[int, int] | None:
    if len(args) == 2 and all(arg.isdigit() for arg in args):
        return int(args[0]), int(args[1])
    return None


@dataclass(frozen=True)
class TrialStart:
    """The test job of ``hoplab doctor --job`` runs: on which node, with which socket place."""

    node: str
    socket_dir: SocketPlace | None


def submit_trial(
    transport: Transport, trial_id: str, scheduler: BatchScheduler, job: JobSpec, hold: float
) -> str:
    """Write and submit the test job; its id. A refusal is the scheduler's own words."""
    script = render.trial_submit(
        trial_id,
        render.trial_job(trial_id, scheduler.header(job), hold),
        scheduler.submit_line(job),
        environment=jobs.environment(scheduler),
    )
    frame = frames.run(transport, script, timeout=120)
    answer = frame.first(Reply.SUBMITTED, Reply.REJECTED)
    if answer is None or answer.kind is Reply.REJECTED:
        words = (answer.payload if answer else frame.text).strip() or "no reason given"
        raise JobRejectedError(
            f"{scheduler.submit_command} refused the test job on {transport.target.label}: {words}",
            "fix the option it names (--partition, --time, --account...)",
        )
    try:
        return scheduler.parse_job_id(answer.payload)
    except ValueError as exc:
        raise JobRejectedError(str(exc), "run the submit command by hand to see why") from exc


def wait_trial(transport: Transport, trial_id: str, seconds: float) -> TrialStart | None:
    """Up to ``seconds`` for the test job to start; None while it has not."""
    frame = frames.run(transport, render.trial_wait(trial_id, seconds), timeout=seconds + 30)
    node, place = None, None
    for reply in frame.replies():
        if reply.kind is Reply.GONE:
            raise RemoteError(
                f"the test job's directory ~/.hoplab/doctor/{trial_id} disappeared on "
                f"{transport.target.label}",
                "run doctor --job again; check that nothing cleans ~/.hoplab meanwhile",
            )
        if reply.kind is Reply.NODE:
            node = reply.arg(0)
        elif reply.kind is Reply.SOCKET_DIR:
            place = socket_place(reply)
        else:
            raise ProtocolError(f"an unexpected answer about the test job: {reply}")
    return None if node is None else TrialStart(node, place)


def end_trial(transport: Transport, trial_id: str, *, remove: bool) -> None:
    """Let the test job end (and, with ``remove``, remove its directory)."""
    frames.run(transport, render.trial_end(trial_id, remove=remove), timeout=30)
