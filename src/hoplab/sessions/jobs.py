"""Scheduler commands over the login node's connection: detect, query, cancel, verify.

Queries are batched (one command for all of a target's jobs) and never run in a tight loop:
callers space them with :data:`POLL_SCHEDULE`. A query that fails or times out reports every
job UNKNOWN, which is never taken for a dead job.
"""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING

from hoplab.errors import CommandTimeoutError, HoplabError, SchedulerError, WaitTimeoutError
from hoplab.schedulers import DETECT, backend
from hoplab.schedulers.base import JobStatus, unknown
from hoplab.waiting import backoff, wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from hoplab.schedulers.base import Scheduler
    from hoplab.sessions.model import Session
    from hoplab.ssh.transport import Transport

QUERY_TIMEOUT = 30.0
CANCEL_TIMEOUT = 60.0


def poll_schedule() -> Iterator[float]:
    """Seconds between scheduler queries: 1, 2, 4, 8, then every 15."""
    return backoff(1.0, 2.0, 15.0)


def detect(transport: Transport, wanted: str) -> Scheduler:
    """The backend named ``wanted``, or (``auto``) the one whose submit command the host has."""
    probe = [f"command -v {name} >/dev/null 2>&1 && echo {name}" for name in DETECT]
    version = "sbatch --version 2>/dev/null || true"
    if wanted not in {"auto", "slurm"}:
        return backend(wanted)
    done = transport.run("\n".join((*probe, version, "true")), timeout=QUERY_TIMEOUT)
    lines = done.stdout.split()
    found = [name for name in DETECT if name in lines]
    match = re.search(r"slurm(?:-wlm)?\s+(\d+)\.(\d+)", done.stdout)
    slurm_version = (int(match.group(1)), int(match.group(2))) if match else None
    if wanted == "slurm" or (found and found[0] == "sbatch"):
        if "sbatch" not in found:
            raise SchedulerError(
                f"sbatch is not on the PATH of {transport.target.label}",
                "load the site's SLURM module in --setup, or pick another --scheduler",
            )
        return backend("slurm", slurm_version)
    if found:
        raise SchedulerError(
            f"{transport.target.label} has {found[0]}, whose scheduler hoplab does not drive yet",
            "use --scheduler none to run Jupyter on that host itself",
        )
    return backend("none")


def query(
    transport: Transport, scheduler: Scheduler, job_ids: Sequence[str]
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


def cancel(transport: Transport, scheduler: Scheduler, job_ids: Sequence[str]) -> str:
    """Ask the scheduler to cancel; its complaint, if any (verification is :func:`wait_gone`)."""
    if not job_ids:
        return ""
    try:
        done = transport.run(shlex.join(scheduler.cancel_argv(job_ids)), timeout=CANCEL_TIMEOUT)
    except HoplabError as exc:
        return exc.message
    return "" if done.returncode == 0 else done.stderr.strip()


def wait_gone(
    transport: Transport, scheduler: Scheduler, job_ids: Sequence[str], timeout: float = 60.0
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


def node_address(transport: Transport, scheduler: Scheduler, node: str) -> str:
    """How the login node reaches ``node`` (the scheduler's NodeAddr), else the name itself."""
    argv = scheduler.node_address_argv(node)
    if argv is None:
        return node
    try:
        done = transport.run(shlex.join(argv), timeout=QUERY_TIMEOUT)
    except HoplabError:
        return node
    return scheduler.parse_node_address(done.stdout) or node


def for_session(session: Session) -> Scheduler:
    """The backend that runs ``session``'s job, with the version seen when it was submitted."""
    version = None
    if session.scheduler_version:
        major, _, minor = session.scheduler_version.partition(".")
        version = (int(major), int(minor or 0))
    return backend(session.scheduler, version)
