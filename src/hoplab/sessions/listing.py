"""``hoplab ls``: the registry, reconciled with what is really running."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from itertools import groupby
from typing import TYPE_CHECKING

from hoplab.errors import HoplabError
from hoplab.records.model import SessionState
from hoplab.remote import jobs, scripts
from hoplab.schedulers.base import JobState
from hoplab.sessions import fanout, masters, orphans
from hoplab.sessions.cleanup import LOST, ended_reason, mark_elsewhere, mark_ended, mark_lost
from hoplab.sessions.down import down
from hoplab.tunnel.chain import open_transport
from hoplab.tunnel.landing import by_host

if TYPE_CHECKING:
    from hoplab.records.model import Session
    from hoplab.records.store import SessionStore
    from hoplab.sessions.down import DownResult
    from hoplab.ssh.target import SshTarget
    from hoplab.ssh.transport import Transport


@dataclass(frozen=True)
class Row:
    """A session as ``ls`` shows it, with a note when its live state could not be checked."""

    session: Session
    note: str = ""

    @property
    def orphan(self) -> bool:
        """Found with no owner and not ended yet (``down`` has not stopped it): ``--prune``
        stops it."""
        return self.session.orphan and self.session.state is SessionState.LOST


def prunable(rows: list[Row]) -> list[str]:
    """The ids ``ls --prune`` stops: the orphans among ``rows``, nothing a user still owns;
    and those stopped elsewhere, whose records it settles (their tombstones go too)."""
    return [
        row.session.id
        for row in rows
        if row.orphan or row.session.state is SessionState.STOPPED_ELSEWHERE
    ]


def prune(rows: list[Row], store: SessionStore, *, interactive: bool) -> list[DownResult]:
    """Stop the orphans among ``rows`` as ``down`` would, verified, and settle the sessions
    stopped elsewhere (empty when none)."""
    ids = prunable(rows)
    return down(ids, store, interactive=interactive) if ids else []


@dataclass
class Visit:
    """One target ``ls`` reaches: its live sessions to check, and whether to look for orphans."""

    target: SshTarget
    multiplex: bool
    live: list[Session] = field(default_factory=list)
    place: orphans.Place | None = None


def list_sessions(
    store: SessionStore, *, everything: bool = False, scan: tuple[orphans.Place, ...] = ()
) -> list[Row]:
    """Live, lost and ended sessions, checked through their master (all with ``everything``).

    A session whose Jupyter is gone becomes ``lost``, one whose batch job ended becomes
    ``ended`` with the scheduler's reason, one that a ``down`` on another computer stopped (it
    left a tombstone) ``stopped-elsewhere``; either way its forwards are removed. A host or a
    scheduler that cannot be reached leaves the record as it was: unreachable is not dead.
    Orphans (see :mod:`hoplab.sessions.orphans`) are looked for on ``scan`` and where a
    connection is there anyway: no master is opened to a target that no live session needs.

    Every target is reached at once (one thread each; see :mod:`hoplab.sessions.fanout`), and
    the masters that no live session needs any more go after their idle time.
    """
    notes = orphans.abandoned_starts(store)
    trips = visits(store, scan)
    for found in fanout.each(trips, lambda visit: _visit(visit, store)):
        notes.update(found)
    store.close_threads()
    masters.release(
        store,
        sessions=[s for visit in trips for s in visit.live if not s.state.is_live],
        targets=[
            (target, visit.place.idle)
            for visit in trips
            if visit.place is not None and visit.multiplex
            for target in masters.Chains().to(visit.place.target)
        ],
    )
    sessions = store.all() if everything else store.unfinished()
    return [Row(s, notes.get(s.id, "")) for s in sessions]


def visits(store: SessionStore, scan: tuple[orphans.Place, ...] = ()) -> list[Visit]:
    """The targets ``ls`` reaches, in a stable order: each with a live session to check (one
    that another ``up`` is starting is its business), then the places to look for orphans."""
    found: dict[tuple[str, bool], Visit] = {}
    for session in store.live():
        if session.starting_elsewhere:
            continue
        key = (session.ssh_target.key, session.multiplex)
        found.setdefault(key, Visit(session.ssh_target, session.multiplex)).live.append(session)
    reached = frozenset(key for key, _ in found)
    for place in orphans.places(store, scan, reached=reached):
        key = (place.target.key, place.multiplex)
        visit = found.setdefault(key, Visit(place.target, place.multiplex))
        visit.place = place
    return list(found.values())


def _visit(visit: Visit, store: SessionStore) -> dict[str, str]:
    """Check the visit's live sessions, then look for orphans there: one connection."""
    transport = open_transport(visit.target, multiplex=visit.multiplex)
    try:
        transport.connect(interactive=False)
    except HoplabError as exc:
        return {s.id: f"not checked: {exc.message}" for s in visit.live}
    notes = _reconcile(transport, visit.live, store) if visit.live else {}
    if visit.place is not None:
        notes.update(orphans.look(visit.place, store, transport))
    return notes


def _reconcile(transport: Transport, batch: list[Session], store: SessionStore) -> dict[str, str]:
    over: dict[str, str] = {}
    try:
        over = _stopped_elsewhere(transport, batch, store)
        batch = [s for s in batch if s.id not in over]
        orphans.recover_job_ids(transport, batch, store)
        notes, forgotten = _reconcile_jobs(
            transport, [s for s in batch if s.batch and s.job_id], store
        )
    except HoplabError as exc:  # the connection broke on the way: the next target still counts
        return {**over, **{s.id: f"not checked: {exc.message}" for s in batch}}
    notes.update(over)
    remaining = [s for s in batch if s.id not in notes]
    if not remaining:
        return notes
    try:
        seen = {}
        for carrier, members in by_host(remaining, transport):
            seen.update(scripts.check(carrier, members))
    except HoplabError as exc:
        notes.update({s.id: f"not checked: {exc.message}" for s in remaining})
        return notes
    for session in remaining:
        state = seen.get(session.id)
        if state is not None and state.alive:
            if session.id in forgotten:  # the queue forgot it; the launcher recorded no end
                notes[session.id] = (
                    f"job state unknown: the scheduler no longer lists job {session.job_id}, "
                    "and its launcher has recorded no end"
                )
            continue
        if session.id in forgotten:  # the queue forgot it, and its launcher recorded its end
            session.job_over = True
        mark_lost(session, store)
        notes[session.id] = LOST
    return notes


def _stopped_elsewhere(
    transport: Transport, batch: list[Session], store: SessionStore
) -> dict[str, str]:
    """The sessions a ``down`` on another computer stopped (its tombstone says who and when),
    recorded so, each with the sentence ``ls`` shows."""
    tombstones = scripts.ended(transport, [s.id for s in batch])
    notes = {}
    for session in batch:
        if session.id in tombstones:
            mark_elsewhere(session, store, tombstones[session.id])
            notes[session.id] = session.error or ""
    return notes


def _reconcile_jobs(
    transport: Transport, sessions: list[Session], store: SessionStore
) -> tuple[dict[str, str], set[str]]:
    """One scheduler query per backend for all of this target's jobs; ended jobs become ENDED.

    Returns notes for the sessions settled here (ended, or not checked because the scheduler
    did not answer: UNKNOWN is never taken for a dead job), and the sessions whose job the
    scheduler no longer lists (GONE), for the launcher's own status to decide.
    """
    notes: dict[str, str] = {}
    forgotten: set[str] = set()
    ordered = sorted(sessions, key=lambda s: (s.scheduler, s.scheduler_version or ""))
    for _, group in groupby(ordered, key=lambda s: (s.scheduler, s.scheduler_version or "")):
        members = list(group)
        scheduler = jobs.for_session(members[0])
        seen = jobs.query(transport, scheduler, [s.job_id for s in members if s.job_id])
        for session in members:
            status = seen[session.job_id or ""]
            if status.state is JobState.UNKNOWN:
                notes[session.id] = f"job state unknown: {status.reason}"
            elif status.state is JobState.GONE:
                forgotten.add(session.id)  # not definite: the launcher's status decides
            elif status.state is JobState.ENDING:
                # its final state (and so the reason) is known once the scheduler is done
                notes[session.id] = "the job is ending"
            elif status.state.ended:
                session.job_over = True
                mark_ended(session, store, ended_reason(status.state, status.reason))
                notes[session.id] = session.error or ""
            elif status.time_left is not None:
                session.walltime_end = time.time() + status.time_left
                session.estimated_start = None
                store.save(session)
            elif session.estimated_start != status.estimated_start:
                session.estimated_start = status.estimated_start  # pending: the queue's estimate
                store.save(session)
    return notes, forgotten
