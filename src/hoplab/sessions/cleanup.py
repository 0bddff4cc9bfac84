"""Leave nothing behind when a session cannot start, when it is stopped, or when it ended."""

from __future__ import annotations

import getpass
import logging
import os
import socket
import time
from enum import Enum
from typing import TYPE_CHECKING

from hoplab.errors import HoplabError
from hoplab.process import is_hoplab
from hoplab.protocol import Reach, StopFinding
from hoplab.records.model import SessionState
from hoplab.remote import jobs, scripts
from hoplab.schedulers.base import JobState
from hoplab.sessions.orphans import recover_job_ids
from hoplab.ssh.transport import Forward
from hoplab.tunnel import relay
from hoplab.tunnel.forwards import remove_socket_file
from hoplab.tunnel.landing import host_transport
from hoplab.tunnel.reach import forward_target, forward_transport

if TYPE_CHECKING:
    from collections.abc import Callable

    from hoplab.records.model import Session
    from hoplab.records.store import SessionStore
    from hoplab.remote.scripts import StopReport, Tombstone
    from hoplab.ssh.transport import Transport

log = logging.getLogger(__name__)


class Leftover(str, Enum):
    """What stopping a session could not verify gone; each is one of ``down``'s checks."""

    STILL_RUNNING = "Jupyter stopped"
    SOCKET_LEFT = "socket removed"
    DIR_LEFT = "session directory removed"
    NO_ANSWER = "remote answered"
    JOB_NOT_GONE = "job gone from the queue"
    NODE_UNREACHABLE = "node reached"

    def __str__(self) -> str:
        return self.name.lower().replace("_", "-")


_FROM_STOP = {
    StopFinding.STILL_RUNNING: Leftover.STILL_RUNNING,
    StopFinding.SOCKET_LEFT: Leftover.SOCKET_LEFT,
    StopFinding.DIR_LEFT: Leftover.DIR_LEFT,
}


def leftovers(report: StopReport) -> list[Leftover]:
    """What the stop script said is left (and whether it answered at all)."""
    found = [_FROM_STOP[finding] for finding in report.problems]
    if StopFinding.KILLED in report.findings:
        log.debug("Jupyter ignored TERM and was killed")
    return found if report.answered else [*found, Leftover.NO_ANSWER]


def session_forward(session: Session) -> Forward | None:
    """Jupyter's ssh forward: from the session's Unix socket, or (older records) its port."""
    if session.remote is None:
        return None
    if session.forward_socket is not None:
        return Forward(session.forward_socket, session.remote, session.forward_pid)
    if session.local_port is None:
        return None
    return Forward.tcp(session.local_port, session.remote, session.forward_pid)


def extra_remote(session: Session, port: int) -> str:
    """Where an extra forward goes: the port on Jupyter's host, as the carrying ssh sees it."""
    if session.reach == Reach.LOGIN_TCP and session.remote:
        return f"{session.remote.rsplit(':', 1)[0]}:{port}"
    return f"127.0.0.1:{port}"


def all_forwards(session: Session) -> list[Forward]:
    """Jupyter's forward and every extra one the session holds."""
    found = [session_forward(session)]
    for extra in session.forwards:
        remote = extra_remote(session, extra.port)
        if extra.socket is not None:
            found.append(Forward(extra.socket, remote, extra.pid))
        elif extra.local_port is not None:
            found.append(Forward.tcp(extra.local_port, remote, extra.pid))
    return [forward for forward in found if forward is not None]


def local_ports(session: Session) -> list[int]:
    """The 127.0.0.1 ports the session's tunnel serves (Jupyter's, then the extra ones)."""
    ports = [session.local_port, *(extra.local_port for extra in session.forwards)]
    return [port for port in ports if port is not None]


def drop_forwards(session: Session) -> list[int]:
    """Cancel the session's ssh forwards (harmless when already gone), remove their sockets
    and this process's relays; the local ports that are free now or soon.

    A relay of another live hoplab (a foreground ``up`` in another terminal) is left to it: it
    relays into a removed socket, so nothing answers there, and it ends when its supervisor
    sees the session is over. Its ports are not among those returned.
    """
    return drop_forwards_of([session])[session.id]


def drop_forwards_of(
    sessions: list[Session], where: Callable[[], str | None] | None = None
) -> dict[str, list[int]]:
    """:func:`drop_forwards` for many sessions at once: one ssh per connection that carries
    them (``where``: the login node their target's master landed on, asked once for all).
    Each session's ports, as there."""
    carriers: dict[tuple[str, bool], tuple[Transport, list[Forward]]] = {}
    freed = {}
    for session in sessions:
        ports = local_ports(session)
        for port in ports:
            relay.stop(port)
        if forwards := all_forwards(session):
            carrier = forward_transport(session, where)
            key = (carrier.target.key, session.multiplex)
            carriers.setdefault(key, (carrier, []))[1].extend(forwards)
        elsewhere = (
            session.forward_socket is not None
            and session.relay_pid is not None
            and session.relay_pid != os.getpid()
            and is_hoplab(session.relay_pid)
        )
        freed[session.id] = [] if elsewhere else ports
    for carrier, forwards in carriers.values():
        carrier.cancel_all(forwards)
        for forward in forwards:  # ssh leaves the socket file of a cancelled forward
            remove_socket_file(forward)
    return freed


def end_job(transport: Transport, session: Session) -> list[Leftover]:
    """Stop a batch session's Jupyter on its node, cancel its job, verify (see :func:`end_jobs`)."""
    return end_jobs(transport, [session])[session.id]


def end_jobs(
    transport: Transport, sessions: list[Session], *, on_nodes: bool = True
) -> dict[str, list[Leftover]]:
    """Stop batch sessions' Jupyter on their nodes (by PID, where ssh reaches them: one script
    per node), cancel their jobs and verify that the scheduler no longer runs them (one cancel
    and one query per scheduler for them all). What could not be done, by session id.

    A job already known to be over (:attr:`Session.job_over`) is neither cancelled nor asked
    about: a long-purged id only earns an error from the scheduler. Without ``on_nodes`` the
    nodes are left alone: a ``down`` on another computer stopped Jupyter there already (its
    tombstone says so), and a node whose job is gone may refuse ssh.
    """
    problems: dict[str, list[Leftover]] = {s.id: [] for s in sessions}
    by_node: dict[str, list[Session]] = {}
    for session in sessions:
        if on_nodes and session.reach == Reach.SSH_NODE and session.node:
            by_node.setdefault(forward_target(session).key, []).append(session)
    for members in by_node.values():
        # First, while the jobs still hold the node: some sites refuse ssh to a node once
        # the job is gone, and a cancelled job's processes can outlive it.
        try:
            node = forward_transport(members[0])
            node.connect(interactive=False)
            reports = scripts.stop(node, members, on_node=True)
            for session in members:
                problems[session.id] += leftovers(reports[session.id])
        except HoplabError as exc:
            log.debug("could not stop %s on their node: %s", [s.id for s in members], exc)
            for session in members:
                problems[session.id].append(Leftover.NODE_UNREACHABLE)
    pending = [s for s in sessions if s.job_id and not s.job_over]
    by_backend: dict[tuple[str, str], list[Session]] = {}
    for session in pending:
        key = (session.scheduler, session.scheduler_version or "")
        by_backend.setdefault(key, []).append(session)
    for members in by_backend.values():
        scheduler = jobs.for_session(members[0])
        ids = [s.job_id for s in members if s.job_id]
        complaint = jobs.cancel(transport, scheduler, ids)
        seen = jobs.wait_gone(transport, scheduler, ids)
        for session in members:
            status = seen.get(session.job_id or "")
            if status is None or not status.state.finished:
                problems[session.id].append(Leftover.JOB_NOT_GONE)
                log.debug("cancel of job %s: %s (%s)", session.job_id, complaint, status)
    return problems


def release(transport: Transport, session: Session) -> list[Leftover]:
    """Stop Jupyter (and its job), remove its files and forwards; what could not be done."""
    problems = end_job(transport, session) if session.batch else []
    found = leftovers(scripts.stop(host_transport(session, transport), [session])[session.id])
    problems += [p for p in found if p not in problems]
    drop_forwards(session)
    return problems


LOST = "Jupyter is no longer running on the remote side"


def mark_lost(session: Session, store: SessionStore) -> None:
    """Jupyter is gone: drop the forwards that led to it and record the session as lost."""
    drop_forwards(session)
    session.settle(SessionState.LOST, LOST)
    store.save(session)


def mark_ended(session: Session, store: SessionStore, reason: str) -> None:
    """The job ended on its own (walltime, cancelled outside, node failure): say so, unforward."""
    drop_forwards(session)
    session.settle(SessionState.ENDED, reason)
    store.save(session)


def signature() -> str:
    """Who runs this ``down``, as its tombstone tells the other computers: ``user@computer``."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "?"
    said = f"{user}@{socket.gethostname() or '?'}"
    return "".join(c for c in said if c.isprintable() and not c.isspace())


def stopped_elsewhere(tombstone: Tombstone) -> str:
    """The sentence ``ls`` shows for a session that a ``down`` on another computer stopped."""
    when = (
        f" at {time.strftime('%Y-%m-%d %H:%M', time.localtime(tombstone.at))}"
        if tombstone.at is not None
        else ""
    )
    return f"stopped elsewhere: hoplab down from {tombstone.by or 'another computer'}{when}"


def mark_elsewhere(session: Session, store: SessionStore, tombstone: Tombstone) -> None:
    """A ``down`` on another computer stopped it: unforward, and keep the record until a
    ``down`` or ``ls --prune`` here settles it (and removes the tombstone)."""
    drop_forwards(session)
    session.settle(SessionState.STOPPED_ELSEWHERE, stopped_elsewhere(tombstone))
    store.save(session)


def abandon(
    transport: Transport, session: Session, store: SessionStore, cause: BaseException
) -> None:
    """``up`` failed or was interrupted: undo everything and record why (never lose the record).

    A failure while cleaning up is recorded with the session, but never hides ``cause``.
    """
    interrupted = isinstance(cause, KeyboardInterrupt)
    error = "interrupted before ready" if interrupted else str(cause)
    try:
        # interrupted while the submit answered: the job id is in the session directory only
        recover_job_ids(transport, [session], store)
        problems = [str(p) for p in release(transport, session)]
    except HoplabError as exc:
        log.debug("cleanup of %s failed: %s", session.id, exc)
        problems = [f"cleanup failed: {exc}"]
    if problems:
        error = f"{error}; left behind: {', '.join(problems)}"
    session.settle(SessionState.STOPPED if interrupted else SessionState.FAILED, error)
    store.save(session)


def ended_reason(state: JobState, reason: str) -> str:
    """The sentence ``ls`` shows for a job that ended on its own."""
    what = {
        JobState.TIMEOUT: "the job reached its walltime",
        JobState.CANCELLED: "the job was cancelled outside hoplab",
        JobState.NODE_FAIL: "the job's node failed",
        JobState.FAILED: "the job failed",
        JobState.COMPLETED: "the job ended",
        JobState.ENDING: "the job is ending",
        JobState.GONE: "the scheduler no longer lists the job",
    }.get(state, f"the job is {state.value}")
    return f"{what} ({reason})" if reason else what
