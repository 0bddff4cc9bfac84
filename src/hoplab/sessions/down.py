"""``hoplab down``: stop sessions and verify that nothing is left."""

from __future__ import annotations

from dataclasses import dataclass
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
    """One stopped session and each verified step (name, passed)."""

    session: Session
    checks: tuple[tuple[str, bool], ...]

    @property
    def clean(self) -> bool:
        return all(passed for _, passed in self.checks)


def down(
    session_ids: list[str], store: SessionStore, *, every: bool = False, interactive: bool = False
) -> list[DownResult]:
    """Stop the named sessions (or every live or lost one, orphans included), reaching each
    target once."""
    if every:
        orphans.abandoned_starts(store)
        orphans.find(store, orphans.places(store))
    sessions = store.unfinished() if every else [store.get(sid) for sid in session_ids]
    for session in sessions:
        session.require_protocol()
    # first the supervisors: one left running would rebuild the forwards removed below
    supervised = {s.id: background.stop(s.id) for s in sessions if background.recorded(s.id)}
    results: list[DownResult] = []
    ordered = sorted(sessions, key=lambda s: (s.ssh_target.key, s.multiplex))
    for (_, multiplex), group in groupby(ordered, key=lambda s: (s.ssh_target.key, s.multiplex)):
        batch = list(group)
        transport = open_transport(batch[0].ssh_target, multiplex=multiplex)
        results += _down_on(transport, batch, store, interactive=interactive)
    return [
        DownResult(
            r.session, (("background supervisor stopped", supervised[r.session.id]), *r.checks)
        )
        if r.session.id in supervised
        else r
        for r in results
    ]


def _down_on(
    transport: Transport, sessions: list[Session], store: SessionStore, *, interactive: bool
) -> list[DownResult]:
    transport.connect(interactive=interactive)
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
        if session.batch:
            checks.append(
                (f"job {session.job_id} gone from the queue", Leftover.JOB_NOT_GONE not in found)
            )
            if session.reach == Reach.SSH_NODE:
                checks.append(
                    (f"node {session.node} reached", Leftover.NODE_UNREACHABLE not in found)
                )
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
