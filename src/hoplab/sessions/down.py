"""``hoplab down``: stop sessions and verify that nothing is left."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from typing import TYPE_CHECKING

from hoplab.errors import HoplabError
from hoplab.sessions import remote
from hoplab.sessions.cleanup import session_forward
from hoplab.sessions.model import SessionState
from hoplab.ssh.ports import port_is_free
from hoplab.ssh.transport import open_transport
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from hoplab.sessions.model import Session
    from hoplab.sessions.store import SessionStore
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
    """Stop the named sessions (or every live or lost one), reaching each target once."""
    sessions = store.unfinished() if every else [store.get(sid) for sid in session_ids]
    results: list[DownResult] = []
    ordered = sorted(sessions, key=lambda s: (s.ssh_target.key, s.multiplex))
    for (_, multiplex), group in groupby(ordered, key=lambda s: (s.ssh_target.key, s.multiplex)):
        batch = list(group)
        transport = open_transport(batch[0].ssh_target, multiplex=multiplex)
        results += _down_on(transport, batch, store, interactive=interactive)
    return results


def _down_on(
    transport: Transport, sessions: list[Session], store: SessionStore, *, interactive: bool
) -> list[DownResult]:
    transport.connect(interactive=interactive)
    problems = remote.stop(transport, sessions)
    results = []
    for session in sessions:
        checks = [
            ("Jupyter stopped", "still-running" not in problems[session.id]),
            ("socket removed", "socket-left" not in problems[session.id]),
            ("session directory removed", "dir-left" not in problems[session.id]),
            ("remote answered", "no-answer" not in problems[session.id]),
        ]
        forward = session_forward(session)
        if forward is not None:
            transport.cancel(forward)
            checks.append(("local forward removed", _forward_gone(forward.local_port)))
        failed = [name for name, ok in checks if not ok]
        session.settle(
            SessionState.STOPPED, f"down could not verify: {', '.join(failed)}" if failed else None
        )
        store.save(session)
        results.append(DownResult(session, tuple(checks)))
    if transport.multiplexed and not _has_live(store, transport):
        transport.close()
    return results


def _forward_gone(port: int) -> bool:
    try:
        wait_until(lambda: port_is_free(port), 5.0, what=f"port {port} to be released")
    except HoplabError:
        return False
    return True


def _has_live(store: SessionStore, transport: Transport) -> bool:
    key = transport.target.key
    return any(s.ssh_target.key == key and s.multiplex for s in store.live())
