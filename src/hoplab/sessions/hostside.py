"""What ``shell``, ``ssh-config``, ``sync`` and ``attach --script`` share: a live session, the
connection to its login node, and the chain to the host where its Jupyter runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hoplab.errors import SessionStateError
from hoplab.protocol import Reach
from hoplab.tunnel.chain import open_transport
from hoplab.tunnel.reach import forward_target

if TYPE_CHECKING:
    from hoplab.records.model import Session
    from hoplab.records.store import SessionStore
    from hoplab.ssh.target import SshTarget
    from hoplab.ssh.transport import Transport


def live_session(session_id: str, store: SessionStore) -> Session:
    """The session, refused when it no longer runs or has no host yet (a job in the queue)."""
    session = store.get(session_id)
    session.require_protocol()
    if not session.state.is_live:
        raise SessionStateError(
            f"session {session.id} is {session.state.value}: nothing runs there",
            f"start a new one with 'hoplab up {session.target}'",
        )
    if session.batch and not session.node:
        raise SessionStateError(
            f"session {session.id} has no node yet: its job {session.job_id or ''} waits in the "
            "queue",
            f"wait until 'hoplab ls' shows it ready (or 'hoplab attach {session.id}')",
        )
    return session


def login(session: Session, *, interactive: bool) -> Transport:
    """The session's own target (its login node), connected: ssh may prompt once here."""
    transport = open_transport(session.ssh_target, multiplex=session.multiplex)
    transport.connect(interactive=interactive)
    return transport


def over_ssh(session: Session) -> bool:
    """Whether ssh reaches the host where Jupyter runs (False: the node refused ssh when the
    session started, and Jupyter runs over the scheduler's TCP fallback)."""
    return not (session.batch and session.reach == Reach.LOGIN_TCP)


def host(session: Session, connected: Transport, *, interactive: bool) -> Transport:
    """The connected transport to where Jupyter runs: ``connected`` itself (the login node's,
    for a plain session on it), or the node (or other login host) through its master, with
    the host key the login node vouched for."""
    target: SshTarget = forward_target(session)
    if target == connected.target:
        return connected
    carrier = open_transport(target, multiplex=session.multiplex)
    carrier.connect(interactive=interactive)
    return carrier
