"""``hoplab down``: stop sessions and verify that nothing is left."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from typing import TYPE_CHECKING

from hoplab.errors import HoplabError
from hoplab.protocol import Reach
from hoplab.records.model import SessionState
from hoplab.remote import scripts
from hoplab.sessions import background, fanout, masters, orphans
from hoplab.sessions.cleanup import Leftover, drop_forwards_of, end_jobs, leftovers, signature
from hoplab.ssh.ports import port_is_free
from hoplab.tunnel.chain import open_transport
from hoplab.tunnel.landing import by_host, landed
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from collections.abc import Callable

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
    target once, every target at once (see :mod:`hoplab.sessions.fanout`).

    A target that cannot be reached, or a session a newer hoplab started, stops nothing else:
    its sessions come back unstopped with the reason, their records and background supervisors
    untouched, and every other session is stopped. Results come in the order of the sessions.
    Masters that no live session needs any more go after the sessions' idle time.

    Each stop leaves a tombstone on the target, signed ``user@computer``, for the other
    computers that know the session; a session that such a tombstone (or ``ls``) says another
    computer stopped is settled here: its tombstone removed, its job verified gone.
    """
    if every:
        orphans.abandoned_starts(store)
        going = frozenset(s.ssh_target.key for s in store.unfinished())
        orphans.find(store, orphans.places(store, reached=going))
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
    groups: dict[tuple[str, bool], list[Session]] = {}
    for session in drivable:
        groups.setdefault((session.ssh_target.key, session.multiplex), []).append(session)
    batches = list(groups.values())
    connected: list[Transport | HoplabError | None] = (
        [_reach(batch, interactive=True) for batch in batches]
        if interactive
        else [None] * len(batches)
    )
    work = list(zip(batches, connected, strict=True))
    for done in fanout.each(work, lambda item: _down_target(item[0], item[1], store)):
        results += done
    store.close_threads()
    masters.release(store, sessions=drivable)
    order = {s.id: n for n, s in enumerate(sessions)}
    return sorted(results, key=lambda r: order[r.session.id])


def _reach(batch: list[Session], *, interactive: bool) -> Transport | HoplabError:
    """A connected transport to the batch's target, or why there is none.

    With a terminal, targets are reached one after the other before the work starts at once:
    two ssh asking for a password or a code on one terminal at the same time would mix up.
    """
    transport = open_transport(batch[0].ssh_target, multiplex=batch[0].multiplex)
    try:
        transport.connect(interactive=interactive)
    except HoplabError as exc:
        return exc
    return transport


def _down_target(
    batch: list[Session], reached: Transport | HoplabError | None, store: SessionStore
) -> list[DownResult]:
    """Stop one target's sessions (``reached``: its connection, if made already)."""
    transport = _reach(batch, interactive=False) if reached is None else reached
    if isinstance(transport, HoplabError):
        return [_not_stopped(s, f"{s.ssh_target.label} reached", transport) for s in batch]
    # first their supervisors' TERM: one left running would rebuild the forwards removed
    # below. They end while the target stops Jupyter; the forwards go once they are gone.
    asked = background.ask_to_stop([s.id for s in batch if background.recorded(s.id)])
    supervisors_gone = cache(lambda: background.stopped(asked))
    try:
        done = _down_on(transport, batch, store, supervisors_gone)
    except HoplabError as exc:  # the connection broke on the way: try again later
        return [_not_stopped(s, f"{s.ssh_target.label} answered", exc) for s in batch]
    finally:
        supervised = supervisors_gone()
    return [
        replace(r, checks=(("background supervisor stopped", supervised[r.session.id]), *r.checks))
        if r.session.id in supervised
        else r
        for r in done
    ]


def _not_stopped(session: Session, check: str, cause: HoplabError) -> DownResult:
    """``session`` left exactly as it was: ``check`` failed because of ``cause``."""
    reason = f"{cause.message}; {cause.hint}" if cause.hint else cause.message
    return DownResult(session, ((check, False),), reason)


def _down_on(
    transport: Transport,
    sessions: list[Session],
    store: SessionStore,
    supervisors_gone: Callable[[], object],
) -> list[DownResult]:
    # stopped by a down on another computer (its tombstone says so): Jupyter and the session
    # directory are gone; the record is left to settle, and the job to verify
    tombstones = scripts.ended(transport, [s.id for s in sessions])
    over = [s for s in sessions if s.id in tombstones or s.state is SessionState.STOPPED_ELSEWHERE]
    where = cache(lambda: landed(transport))  # one question to the master for all of them
    if over:
        supervisors_gone()
        over = _as_recorded_now(store, over)
    results = _settle_elsewhere(transport, over, store, where) if over else []
    sessions = [s for s in sessions if s.id not in {o.id for o in over}]
    if not sessions:
        return results
    # the job id of a session whose up died right after its submit lives only on the target
    orphans.recover_job_ids(transport, sessions, store)
    job_problems = end_jobs(transport, [s for s in sessions if s.batch])
    reports = {}
    by = signature()
    for carrier, members in by_host(sessions, transport, where):
        reports.update(scripts.stop(carrier, members, by=by))
    supervisors_gone()
    freed = drop_forwards_of(_as_recorded_now(store, sessions), where)
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
            for port in freed[session.id]
        ]
        if session.batch and session.job_id and Leftover.JOB_NOT_GONE not in found:
            session.job_over = True
        failed = [name for name, ok in checks if not ok]
        session.settle(
            SessionState.STOPPED, f"down could not verify: {', '.join(failed)}" if failed else None
        )
        store.save(session)
        results.append(DownResult(session, tuple(checks)))
    return results


def _as_recorded_now(store: SessionStore, sessions: list[Session]) -> list[Session]:
    """The records as their supervisors left them: one may have rebuilt a forward (a new ssh,
    without multiplexing) after this ``down`` read them."""
    found = []
    for session in sessions:
        try:
            found.append(store.get(session.id))
        except HoplabError:
            found.append(session)
    return found


def _settle_elsewhere(
    transport: Transport,
    sessions: list[Session],
    store: SessionStore,
    where: Callable[[], str | None],
) -> list[DownResult]:
    """Sessions a ``down`` on another computer stopped (Jupyter and the session directory are
    gone): their jobs verified gone (cancelled, should that ``down`` have left one), their
    tombstones and their forwards here removed, and their records settled as stopped."""
    job_problems = end_jobs(transport, [s for s in sessions if s.batch], on_nodes=False)
    forgotten = scripts.forget_ended(transport, [s.id for s in sessions])
    freed = drop_forwards_of(sessions, where)
    results = []
    for session in sessions:
        checks = [("tombstone of the other computer's down removed", forgotten)]
        job_gone = Leftover.JOB_NOT_GONE not in job_problems.get(session.id, [])
        if session.batch and session.job_id:
            checks.append((f"job {session.job_id} gone from the queue", job_gone))
            session.job_over = session.job_over or job_gone
        checks += [
            (f"local forward 127.0.0.1:{port} removed", _forward_gone(port))
            for port in freed[session.id]
        ]
        failed = [name for name, ok in checks if not ok]
        session.settle(
            SessionState.STOPPED, f"down could not verify: {', '.join(failed)}" if failed else None
        )
        store.save(session)
        results.append(DownResult(session, tuple(checks)))
    return results


def _forward_gone(port: int) -> bool:
    try:
        wait_until(lambda: port_is_free(port), 5.0, what=f"port {port} to be released")
    except HoplabError:
        return False
    return True
