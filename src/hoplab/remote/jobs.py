"""Scheduler commands over the login node's connection: detect, query, cancel, verify.

Queries are batched (one command for all of a target's jobs) and never run in a tight loop:
callers space them with :data:`POLL_SCHEDULE`. A query that fails or times out reports every
job UNKNOWN, which is never taken for a dead job.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from hoplab.errors import CommandTimeoutError, HoplabError, SchedulerError, WaitTimeoutError
from hoplab.launcher.frame import framed
from hoplab.protocol import SchedulerName
from hoplab.remote import frames
from hoplab.schedulers import UNDRIVEN, backend, batch_backend, batch_classes
from hoplab.schedulers.base import JobState, JobStatus, unknown
from hoplab.waiting import backoff, wait_until

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from hoplab.process import Completed
    from hoplab.records.model import Session
    from hoplab.schedulers.base import BatchScheduler, Scheduler
    from hoplab.ssh.transport import Transport

QUERY_TIMEOUT = 30.0
CANCEL_TIMEOUT = 60.0


def poll_schedule() -> Iterator[float]:
    """Seconds between scheduler queries: 1, 2, 4, 8, then every 15."""
    return backoff(1.0, 2.0, 15.0)


MARK = "@@hoplab-scheduler"


def probe_script() -> str:
    """One remote command: for each backend whose submit command is on the PATH, a marked
    section with what its version command printed."""
    lines = [
        f"if command -v {cls.submit_command} >/dev/null 2>&1; then echo '{MARK} {name}'; "
        f"{shlex.join(cls.version_argv)} 2>&1; fi"
        for name, cls in batch_classes().items()
    ]
    lines += [f"command -v {name} >/dev/null 2>&1 && echo '{MARK} ?{name}'" for name in UNDRIVEN]
    return "\n".join((*lines, "true"))


def read_probe(output: str) -> dict[str, str]:
    """The probe's sections: backend name (or ``?command``) -> its version text."""
    sections: dict[str, str] = {}
    name = None
    for line in output.splitlines():
        if line.startswith(MARK + " "):
            name = line[len(MARK) + 1 :].strip()
            sections[name] = ""
        elif name is not None:
            sections[name] += line + "\n"
    return sections


def choose(sections: dict[str, str], wanted: str, label: str) -> Scheduler:
    """The backend for ``wanted`` (``auto``: the first whose submit command answers as it)."""
    if wanted != "auto":
        cls = type(batch_backend(wanted))
        if wanted not in sections:
            raise SchedulerError(
                f"{cls.submit_command} is not on the PATH of {label}",
                "load the site's scheduler module in --setup, or pick another --scheduler",
            )
        return cls(cls.parse_version(sections[wanted]))
    for name, text in sections.items():
        found = batch_classes().get(name)
        if found is not None and found.recognizes(text):
            return found(found.parse_version(text))
    if not sections:
        return backend(SchedulerName.NONE)
    classes = batch_classes()
    commands = sorted({classes[n].submit_command if n in classes else n[1:] for n in sections})
    driven = sorted(n for n, cls in classes.items() if cls.submit_command in commands)
    first = next(iter(sections.values()), "").strip().splitlines()
    said = f" (its version command said {first[0]!r})" if first else ""
    if driven:
        raise SchedulerError(
            f"{label} has {', '.join(commands)}, but hoplab cannot tell which scheduler{said}",
            f"name it with --scheduler {' or '.join(driven)}, or use --scheduler none",
        )
    raise SchedulerError(
        f"{label} has {', '.join(commands)}, whose scheduler hoplab does not drive",
        "use --scheduler none to run Jupyter on that host itself",
    )


def detect(transport: Transport, wanted: str) -> Scheduler:
    """The backend named ``wanted``, or (``auto``) the one the login node has.

    One remote command looks for every submit command and asks each backend for its version:
    that tells PBS from Torque from Grid Engine (all three submit with ``qsub``) and picks
    the output formats a version is read with.
    """
    if wanted == SchedulerName.NONE:
        return backend(SchedulerName.NONE)
    found = frames.run(transport, framed(probe_script()), timeout=QUERY_TIMEOUT).text
    return choose(read_probe(found), wanted, transport.target.label)


def query(
    transport: Transport, scheduler: BatchScheduler, job_ids: Sequence[str]
) -> dict[str, JobStatus]:
    """Every job's status in one remote command (and, for jobs the queue no longer lists,
    one to the accounting); UNKNOWN (with why) when the scheduler cannot tell."""
    if not job_ids:
        return {}
    line = shlex.join(scheduler.query_argv(job_ids))
    found = _ask(transport, line, job_ids, "the scheduler", scheduler.parse_query)
    gone = [job for job, status in found.items() if status.state is JobState.GONE]
    argvs = scheduler.history_argvs(gone) if gone else []
    if argvs:
        line = "; ".join(shlex.join(argv) for argv in argvs)
        found.update(_ask(transport, line, gone, "the accounting", scheduler.parse_history))
    return found


def _ask(
    transport: Transport,
    line: str,
    job_ids: Sequence[str],
    who: str,
    parse: Callable[[Completed, Sequence[str]], dict[str, JobStatus]],
) -> dict[str, JobStatus]:
    """Run ``line`` on the login node and ``parse`` its answer; UNKNOWN when none came."""
    try:
        done = _command(transport, line, QUERY_TIMEOUT)
    except CommandTimeoutError:
        return unknown(job_ids, f"{who} did not answer within {QUERY_TIMEOUT:g} s")
    except HoplabError as exc:
        return unknown(job_ids, exc.message)
    return parse(done, job_ids)


def _command(transport: Transport, line: str, timeout: float) -> Completed:
    """Run one scheduler command line inside a framed script: only its own output is read."""
    return frames.run_commands(transport, [("command", line)], timeout=timeout)["command"]


def cancel(transport: Transport, scheduler: BatchScheduler, job_ids: Sequence[str]) -> str:
    """Ask the scheduler to cancel; its complaint, if any (verification is :func:`wait_gone`)."""
    if not job_ids:
        return ""
    try:
        done = _command(transport, shlex.join(scheduler.cancel_argv(job_ids)), CANCEL_TIMEOUT)
    except HoplabError as exc:
        return exc.message
    return "" if done.returncode == 0 else done.stderr.strip()


def wait_gone(
    transport: Transport,
    scheduler: BatchScheduler,
    job_ids: Sequence[str],
    timeout: float = 60.0,
) -> dict[str, JobStatus]:
    """Query with backoff until no job is active; the last status of each (active = not gone)."""
    last: dict[str, JobStatus] = {}
    if not job_ids:
        return last

    def settled() -> dict[str, JobStatus] | None:
        last.update(query(transport, scheduler, job_ids))
        done = all(s.state.finished for s in last.values())
        return last if done else None

    try:
        return wait_until(
            settled, timeout, what="the jobs to leave the queue", initial=0.2, cap=5.0
        )
    except WaitTimeoutError:
        return last


def details(transport: Transport, scheduler: BatchScheduler, job_id: str) -> str:
    """What the scheduler says about how ``job_id`` ended ('' when it says nothing)."""
    argv = scheduler.details_argv(job_id)
    if argv is None:
        return ""
    try:
        done = _command(transport, shlex.join(argv), QUERY_TIMEOUT)
    except HoplabError:
        return ""
    return scheduler.parse_details(done.stdout) if done.returncode == 0 else ""


def node_address(transport: Transport, scheduler: BatchScheduler, node: str) -> str:
    """How the login node reaches ``node`` (the scheduler's NodeAddr), else the name itself."""
    argv = scheduler.node_address_argv(node)
    if argv is None:
        return node
    try:
        done = _command(transport, shlex.join(argv), QUERY_TIMEOUT)
    except HoplabError:
        return node
    return scheduler.parse_node_address(done.stdout) or node


def for_session(session: Session) -> BatchScheduler:
    """The backend that runs ``session``'s job, with the version seen when it was submitted."""
    version = None
    if session.scheduler_version:
        major, _, minor = session.scheduler_version.partition(".")
        version = (int(major), int(minor or 0))
    return batch_backend(session.scheduler, version)
