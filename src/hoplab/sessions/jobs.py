"""Scheduler commands over the login node's connection: detect, query, cancel, verify.

Queries are batched (one command for all of a target's jobs) and never run in a tight loop:
callers space them with :data:`POLL_SCHEDULE`. A query that fails or times out reports every
job UNKNOWN, which is never taken for a dead job.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from hoplab.errors import CommandTimeoutError, HoplabError, SchedulerError, WaitTimeoutError
from hoplab.schedulers import BATCH, DETECT, backend, batch_backend
from hoplab.schedulers.base import JobStatus, unknown
from hoplab.waiting import backoff, wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from hoplab.schedulers.base import BatchScheduler, Scheduler
    from hoplab.sessions.model import Session
    from hoplab.ssh.transport import Transport

QUERY_TIMEOUT = 30.0
CANCEL_TIMEOUT = 60.0


def poll_schedule() -> Iterator[float]:
    """Seconds between scheduler queries: 1, 2, 4, 8, then every 15."""
    return backoff(1.0, 2.0, 15.0)


def detect(transport: Transport, wanted: str) -> Scheduler:
    """The backend named ``wanted``, or (``auto``) the one whose submit command the host has.

    One remote command looks for every submit command and asks each driven scheduler for
    its version, which picks the output formats it is read with.
    """
    if wanted == "none":
        return backend("none")
    lines = [f"command -v {name} >/dev/null 2>&1 && echo {name}" for name in DETECT]
    lines += [f"{shlex.join(cls.version_argv)} 2>/dev/null" for cls in BATCH.values()]
    found = transport.run("\n".join((*lines, "true")), timeout=QUERY_TIMEOUT).stdout
    present = [name for name in DETECT if name in found.split()]
    drivers = {cls.submit_command: cls for cls in BATCH.values()}
    if wanted != "auto":
        cls = type(batch_backend(wanted))
        if cls.submit_command not in present:
            raise SchedulerError(
                f"{cls.submit_command} is not on the PATH of {transport.target.label}",
                "load the site's scheduler module in --setup, or pick another --scheduler",
            )
    elif not present:
        return backend("none")
    elif present[0] not in drivers:
        raise SchedulerError(
            f"{transport.target.label} has {present[0]}, whose scheduler hoplab does not drive yet",
            "use --scheduler none to run Jupyter on that host itself",
        )
    else:
        cls = drivers[present[0]]
    return cls(cls.parse_version(found))


def query(
    transport: Transport, scheduler: BatchScheduler, job_ids: Sequence[str]
) -> dict[str, JobStatus]:
    """Every job's status in one remote command; UNKNOWN (with why) when it cannot tell."""
    if not job_ids:
        return {}
    try:
        done = transport.run(shlex.join(scheduler.query_argv(job_ids)), timeout=QUERY_TIMEOUT)
    except CommandTimeoutError:
        return unknown(job_ids, f"the scheduler did not answer within {QUERY_TIMEOUT:g} s")
    except HoplabError as exc:
        return unknown(job_ids, exc.message)
    if done.returncode == 255:
        return unknown(job_ids, f"ssh failed: {done.stderr.strip()}")
    return scheduler.parse_query(done, job_ids)


def cancel(transport: Transport, scheduler: BatchScheduler, job_ids: Sequence[str]) -> str:
    """Ask the scheduler to cancel; its complaint, if any (verification is :func:`wait_gone`)."""
    if not job_ids:
        return ""
    try:
        done = transport.run(shlex.join(scheduler.cancel_argv(job_ids)), timeout=CANCEL_TIMEOUT)
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
        done = transport.run(shlex.join(argv), timeout=QUERY_TIMEOUT)
    except HoplabError:
        return ""
    return scheduler.parse_details(done.stdout) if done.returncode == 0 else ""


def node_address(transport: Transport, scheduler: BatchScheduler, node: str) -> str:
    """How the login node reaches ``node`` (the scheduler's NodeAddr), else the name itself."""
    argv = scheduler.node_address_argv(node)
    if argv is None:
        return node
    try:
        done = transport.run(shlex.join(argv), timeout=QUERY_TIMEOUT)
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
