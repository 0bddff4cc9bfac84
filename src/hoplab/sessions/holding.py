"""Who holds a session: settling the record when a foreground or background hoplab lets go.

A session is READY while a hoplab process holds it (``attached_pid``) and DETACHED when none
does. ``up`` and ``attach`` take it in the foreground; the background supervisor takes it when
it starts; both let go here when the user detaches, the terminal goes away, or the supervisor
is asked to stop. A session that ended meanwhile keeps its final state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hoplab.records.model import SessionState

if TYPE_CHECKING:
    from hoplab.records.model import Session
    from hoplab.records.store import SessionStore


def take(store: SessionStore, session_id: str, pid: int | None = None) -> Session:
    """The supervisor ``pid`` (this process when None) holds the session from now on: ``ls``
    shows it ready.

    A session still starting stays the ``up`` that starts it; a finished one is left as is.
    """
    session = store.get(session_id)
    if session.state.is_live and session.state is not SessionState.STARTING:
        session.hold(detach=False, by=pid)
        store.save(session)
    return session


def release(store: SessionStore, session_id: str) -> Session:
    """No hoplab holds the session any more: a live one becomes DETACHED, keeping its error."""
    session = store.get(session_id)
    if session.state.is_live:
        session.settle(SessionState.DETACHED, session.error)
        store.save(session)
    return session
