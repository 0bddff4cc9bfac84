"""``hoplab logs``: the remote Jupyter log of a session."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hoplab.remote import scripts
from hoplab.sessions import masters
from hoplab.tunnel.chain import open_transport

if TYPE_CHECKING:
    from collections.abc import Iterator

    from hoplab.records.model import Session
    from hoplab.records.store import SessionStore


def read_log(session_id: str, store: SessionStore, *, lines: int, interactive: bool) -> str:
    session = store.get(session_id)
    transport = open_transport(session.ssh_target, multiplex=session.multiplex)
    transport.connect(interactive=interactive)
    try:
        return scripts.read_log(transport, session.id, lines=lines)
    finally:
        _done_with(session, store)


def _done_with(session: Session, store: SessionStore) -> None:
    """The log of a session that is over was read through a master nothing else may need."""
    if not session.state.is_live:
        masters.release(store, sessions=[session])


def follow_log(
    session_id: str, store: SessionStore, *, lines: int, interactive: bool
) -> Iterator[str]:
    """Lines as Jupyter writes them; ends when the remote log ends or the caller stops."""
    session = store.get(session_id)
    transport = open_transport(session.ssh_target, multiplex=session.multiplex)
    transport.connect(interactive=interactive)
    proc, lines_seen = scripts.follow_log(transport, session.id, lines=lines)
    try:
        yield from lines_seen
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        _done_with(session, store)
