"""Leave nothing behind when a session cannot start, or when it is stopped."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hoplab.errors import HoplabError
from hoplab.sessions import remote
from hoplab.sessions.model import SessionState
from hoplab.ssh.transport import Forward

if TYPE_CHECKING:
    from hoplab.sessions.model import Session
    from hoplab.sessions.store import SessionStore
    from hoplab.ssh.transport import Transport

log = logging.getLogger(__name__)


def session_forward(session: Session) -> Forward | None:
    if session.local_port is None or session.remote is None:
        return None
    return Forward(session.local_port, session.remote, session.forward_pid)


def release(transport: Transport, session: Session) -> list[str]:
    """Stop Jupyter, remove its files and cancel its forward; return what could not be done."""
    problems = remote.stop(transport, [session])[session.id]
    forward = session_forward(session)
    if forward is not None:
        transport.cancel(forward)
    return problems


LOST = "Jupyter is no longer running on the remote side"


def mark_lost(transport: Transport, session: Session, store: SessionStore) -> None:
    """Jupyter is gone: drop the forward that led to it and record the session as lost."""
    forward = session_forward(session)
    if forward is not None:
        transport.cancel(forward)
    session.settle(SessionState.LOST, LOST)
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
        problems = release(transport, session)
    except HoplabError as exc:
        log.debug("cleanup of %s failed: %s", session.id, exc)
        problems = [f"cleanup failed: {exc}"]
    if problems:
        error = f"{error}; left behind: {', '.join(problems)}"
    session.settle(SessionState.STOPPED if interrupted else SessionState.FAILED, error)
    store.save(session)
