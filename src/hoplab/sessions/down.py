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
from hoplab.ssh.ports import port_is_free
from hoplab.tunnel.chain import open_transport
from hoplab.tunnel.reach import forward_transport
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
    reports = scripts.stop(transport, sessions)
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
    _close_idle(transport, sessions, store)
    return results


def _close_idle(transport: Transport, sessions: list[Session], store: SessionStore) -> None:
    """Let masters go that no live session needs any more: the nodes' first, then the login's."""
    if not transport.multiplexed:
        return
    live = store.live()
    needed = {forward_transport(s).target.key for s in live if s.multiplex}
    for session in sessions:
        carrier = forward_transport(session)
        if carrier.target.key != transport.target.key and carrier.target.key not in needed:
            carrier.close()
    if not any(s.ssh_target.key == transport.target.key and s.multiplex for s in live):
        transport.close()


def _forward_gone(port: int) -> bool:
    try:
        wait_until(lambda: port_is_free(port), 5.0, what=f"port {port} to be released")
    except HoplabError:
        return False
    return True
