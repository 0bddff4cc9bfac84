"""``hoplab ls``: the registry, reconciled with what is really running."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from typing import TYPE_CHECKING

from hoplab.errors import HoplabError
from hoplab.sessions import remote
from hoplab.sessions.cleanup import LOST, mark_lost
from hoplab.sessions.model import SessionState, pid_alive
from hoplab.ssh.transport import open_transport

if TYPE_CHECKING:
    from hoplab.sessions.model import Session
    from hoplab.sessions.store import SessionStore


@dataclass(frozen=True)
class Row:
    """A session as ``ls`` shows it, with a note when its live state could not be checked."""

    session: Session
    note: str = ""


def list_sessions(store: SessionStore, *, everything: bool = False) -> list[Row]:
    """Live and lost sessions, checked through their master (all of them with ``everything``).

    A session whose Jupyter is gone becomes ``lost`` and its forward is removed. A host that
    cannot be reached leaves the record as it was: unreachable is not dead.
    """
    live = store.live()
    notes: dict[str, str] = {}
    ordered = sorted(live, key=lambda s: (s.ssh_target.key, s.multiplex))
    for (_, multiplex), group in groupby(ordered, key=lambda s: (s.ssh_target.key, s.multiplex)):
        batch = [s for s in group if not _starting_in_foreground(s)]
        if batch:
            notes.update(_reconcile(batch, store, multiplex=multiplex))
    sessions = store.all() if everything else store.unfinished()
    return [Row(s, notes.get(s.id, "")) for s in sessions]


def _starting_in_foreground(session: Session) -> bool:
    return (
        session.state is SessionState.STARTING
        and session.attached_pid is not None
        and pid_alive(session.attached_pid)
    )


def _reconcile(batch: list[Session], store: SessionStore, *, multiplex: bool) -> dict[str, str]:
    transport = open_transport(batch[0].ssh_target, multiplex=multiplex)
    try:
        transport.connect(interactive=False)
        seen = remote.check(transport, batch)
    except HoplabError as exc:
        return {s.id: f"not checked: {exc.message}" for s in batch}
    notes = {}
    for session in batch:
        state = seen.get(session.id)
        if state is not None and state.alive:
            continue
        mark_lost(transport, session, store)
        notes[session.id] = LOST
    return notes
