"""``hoplab down``: stop sessions and verify that nothing is left."""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import groupby
from typing import TYPE_CHECKING

from hoplab.errors import HoplabError
from hoplab.protocol import Reach
from hoplab.records.model import SessionState
from hoplab.remote import scripts
from hoplab.sessions import background, orphans
from hoplab.sessions.cleanup import Leftover, drop_forwards, end_job, leftovers
from hoplab.ssh.mux import MuxTransport
from hoplab.ssh.ports import port_is_free
from hoplab.tunnel.chain import hops, open_transport
from hoplab.tunnel.landing import by_host
from hoplab.tunnel.reach import forward_target
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from hoplab.records.model import Session
    from hoplab.records.store import SessionStore
    from hoplab.ssh.transport import Transport


@dataclass(frozen=True)
class DownResult:
    """One session ``down`` went through and each verified step (name, passed).

    ``error`` says why it was not stopped at all (its target did not answer, or a newer
    hoplab started it): such a session is kept exactly as it was, for a later ``down``.
    """

    session: Session
    checks: tuple[tuple[str, bool], ...]
    error: str | None = None

    @property
    def clean(self) -> bool:
        return self.error is None and all(passed for _, passed in self.checks)


def down(
    session_ids: list[str], store: SessionStore, *, every: bool = False, interactive: bool = False
) -> list[DownResult]:
    """Stop the named sessions (or every live or lost one, orphans included), reaching each
    target once.

    A target that cannot be reached, or a session a newer hoplab started, stops nothing else:
    its sessions come back unstopped with the reason, their records and background supervisors
    untouched, and every other session is stopped.
    """
    if every:
        orphans.abandoned_starts(store)
        orphans.find(store, orphans.places(store))
    sessions = store.unfinished() if every else [store.get(sid) for sid in session_ids]
    results: list[DownResult] = []
    drivable = []
    for session in sessions:
        try:
            session.require_protocol()
        except HoplabError as exc:
            results.append(_not_stopped(session, "protocol understood", exc))
            continue
        drivable.append(session)
    ordered = sorted(drivable, key=lambda s: (s.ssh_target.key, s.multiplex))
    for (_, multiplex), group in groupby(ordered, key=lambda s: (s.ssh_target.key, s.multiplex)):
        batch = list(group)
        transport = open_transport(batch[0].ssh_target, multiplex=multiplex)
        try:
            transport.connect(interactive=interactive)
        except HoplabError as exc:
            results += [_not_stopped(s, f"{s.ssh_target.label} reached", exc) for s in batch]
            continue
        # first their supervisors: one left running would rebuild the forwards removed below
        supervised = {s.id: background.stop(s.id) for s in batch if background.recorded(s.id)}
        try:
            done = _down_on(transport, batch, store)
        except HoplabError as exc:  # the connection broke on the way: try again later
            results += [_not_stopped(s, f"{s.ssh_target.label} answered", exc) for s in batch]
            continue
        results += [
            replace(
                r, checks=(("background supervisor stopped", supervised[r.session.id]), *r.checks)
            )
            if r.session.id in supervised
            else r
            for r in done
        ]
    _close_idle(drivable, store)
    order = {s.id: n for n, s in enumerate(sessions)}
    return sorted(results, key=lambda r: order[r.session.id])


def _not_stopped(session: Session, check: str, cause: HoplabError) -> DownResult:
    """``session`` left exactly as it was: ``check`` failed because of ``cause``."""
    reason = f"{cause.message}; {cause.hint}" if cause.hint else cause.message
    return DownResult(session, ((check, False),), reason)


def _down_on(
    transport: Transport, sessions: list[Session], store: SessionStore
) -> list[DownResult]:
    # the job id of a session whose up died right after its submit lives only on the target
    orphans.recover_job_ids(transport, sessions, store)
    job_problems = {s.id: end_job(transport, s) for s in sessions if s.batch}
    reports = {}
    for carrier, members in by_host(sessions, transport):
        reports.update(scripts.stop(carrier, members))
    results = []
    for session in sessions:
        found = leftovers(reports[session.id]) + job_problems.get(session.id, [])
        checks = [
            (check.value, check not in found)
            for check in (
                Leftover.STILL_RUNNING,
                Leftover.SOCKET_LEFT,
                Leftover.DIR_LEFT,
                Leftover.NO_ANSWER,
            )
        ]
        if session.batch and session.job_id:
            checks.append(
                (f"job {session.job_id} gone from the queue", Leftover.JOB_NOT_GONE not in found)
            )
        if session.batch and session.reach == Reach.SSH_NODE:
            checks.append((f"node {session.node} reached", Leftover.NODE_UNREACHABLE not in found))
        checks += [
            (f"local forward 127.0.0.1:{port} removed", _forward_gone(port))
            for port in drop_forwards(session)
        ]
        failed = [name for name, ok in checks if not ok]
        session.settle(
            SessionState.STOPPED, f"down could not verify: {', '.join(failed)}" if failed else None
        )
        store.save(session)
        results.append(DownResult(session, tuple(checks)))
    return results


def _close_idle(sessions: list[Session], store: SessionStore) -> None:
    """Once every target is done, let masters go that no live session needs any more: the
    nodes' first, then the targets', then the login nodes' their chains rode."""
    needed: set[str] = set()
    for live in store.live():
        if live.multiplex:  # its own master, its node's, and the login masters its chain rides
            needed |= {live.ssh_target.key, forward_target(live).key}
            needed |= {hop.key for hop in hops(live.ssh_target)}
    ours = [s for s in sessions if s.multiplex]
    carriers = [forward_target(s) for s in ours]
    targets = [s.ssh_target for s in ours]
    logins = [hop for s in ours for hop in hops(s.ssh_target)]
    closed: set[str] = set()
    for target in (*carriers, *targets, *logins):
        if target.key not in needed and target.key not in closed:
            closed.add(target.key)
            MuxTransport(target).close()


def _forward_gone(port: int) -> bool:
    try:
        wait_until(lambda: port_is_free(port), 5.0, what=f"port {port} to be released")
    except HoplabError:
        return False
    return True
