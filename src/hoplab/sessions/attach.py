"""``hoplab attach``: tunnel to a running session again, proving it answers."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hoplab.errors import ForeignListenerError, HoplabError, PortInUseError, SessionStateError
from hoplab.records.model import SessionState
from hoplab.remote import jobs, scripts
from hoplab.sessions.cleanup import (
    ended_reason,
    extra_remote,
    mark_elsewhere,
    mark_ended,
    mark_lost,
    session_forward,
)
from hoplab.sessions.progress import Progress, Step, silent, step
from hoplab.ssh.transport import Forward
from hoplab.tunnel import forwards
from hoplab.tunnel.chain import open_transport
from hoplab.tunnel.landing import host_transport
from hoplab.tunnel.reach import forward_transport

if TYPE_CHECKING:
    from hoplab.records.model import Session
    from hoplab.records.store import SessionStore
    from hoplab.ssh.transport import Transport


QUICK_ANSWER = 2.0  # a rebuilt tunnel to a Jupyter that answered lately answers within this


@dataclass(frozen=True)
class AttachResult:
    """The session, its URL with the token, and whether the local port changed (``stranger``:
    because another process held the old one; it was never sent the token)."""

    session: Session
    url: str
    port_changed: bool
    stranger: bool = False


def attach(
    session_id: str,
    store: SessionStore,
    *,
    port: int | None = None,
    detach: bool = False,
    interactive: bool = False,
    progress: Progress = silent,
    ready_timeout: float = forwards.READY_TIMEOUT,
    answered_lately: bool = False,
) -> AttachResult:
    """Reconnect the master and forward as needed, then prove Jupyter answers.

    An orphan that ``ls --scan`` found with its token and handshake is taken over: once it
    answers, it is this computer's session like any other.

    ``answered_lately``: the caller saw Jupyter answer a moment ago (the supervisor, rebuilding
    a broken tunnel). The tunnel is then rebuilt first, and an answer with the token proves the
    session alive; what the target says about it (stopped elsewhere, its job over, Jupyter
    gone) is asked only when nothing answers at once. That saves two round trips when the link
    comes back.
    """
    session = store.get(session_id)
    session.require_protocol()
    _require_attachable(session)
    transport = open_transport(session.ssh_target, multiplex=session.multiplex)
    old_port = session.local_port
    answers = still_answers(session) if old_port is not None else False
    if port is None and answers:
        progress(Step("tunnel", f"the tunnel on 127.0.0.1:{old_port} still answers"))
    else:
        with step(progress, "connect", f"connecting to {session.ssh_target.label}"):
            transport.connect(interactive=interactive)
        if not answered_lately:
            _require_alive(transport, session, store)
        carrier = forward_transport(session)
        if carrier.target != transport.target:
            with step(progress, "connect", f"connecting to {carrier.target.label}"):
                carrier.connect(interactive=interactive)
        with step(progress, "tunnel", "opening the tunnel") as note:
            _reforward(carrier, session, port)
            _reforward_extras(carrier, session)
            store.save(session)
            if not (answered_lately and _answers_at_once(session)):
                if answered_lately:
                    _require_alive(transport, session, store)
                forwards.prove_ready(session, ready_timeout)
            note[0] = f"Jupyter answers on 127.0.0.1:{session.local_port}"
    url = session.hold(detach=detach)
    if session.orphan:  # found by ls --scan: taken over, it is this computer's session now
        session.orphan, session.error = False, None
    store.save(session)
    changed = session.local_port != old_port
    return AttachResult(session, url, port_changed=changed, stranger=changed and answers is None)


def _require_attachable(session: Session) -> None:
    adoptable = session.orphan and session.state is SessionState.LOST and bool(session.token)
    if (session.state.is_live or adoptable) and session.remote is not None:
        return
    if session.orphan and session.state is SessionState.LOST:
        raise SessionStateError(
            f"session {session.id} was found on {session.target} without what it takes to "
            "connect to it (its token and where its Jupyter listens)",
            f"'hoplab attach --on {session.target} {session.id}' reads them from there",
        )
    raise SessionStateError(
        f"session {session.id} is {session.state.value}; nothing to attach to",
        f"start a new one with 'hoplab up {session.target}'",
    )


def still_answers(session: Session) -> bool | None:
    """True when Jupyter answers through our own forward; None when a stranger holds the port
    (the token is not sent), False otherwise."""
    try:
        return forwards.probe(session, timeout=2) == 200
    except ForeignListenerError:
        return None


def _answers_at_once(session: Session) -> bool:
    """Jupyter answers through the new tunnel within a moment (a few tries: ssh may still be
    opening the forward's channel)."""
    try:
        forwards.prove_ready(session, QUICK_ANSWER)
    except HoplabError:
        return False
    return True


def _require_alive(transport: Transport, session: Session, store: SessionStore) -> None:
    tombstone = scripts.ended(transport, [session.id]).get(session.id)
    if tombstone is not None:
        mark_elsewhere(session, store, tombstone)
        raise SessionStateError(
            f"session {session.id} is over: {session.error}",
            f"'hoplab down {session.id}' settles its record here; "
            f"'hoplab up {session.target}' starts a new one",
        )
    if session.batch and session.job_id:
        status = jobs.query(transport, jobs.for_session(session), [session.job_id])[session.job_id]
        if status.state.definite:  # UNKNOWN and GONE: the launcher's status decides below
            mark_ended(session, store, ended_reason(status.state, status.reason))
            raise SessionStateError(
                f"session {session.id} has ended: {session.error}",
                f"start a new one with 'hoplab up {session.target}'",
            )
        if status.time_left is not None:
            session.walltime_end = time.time() + status.time_left
    seen = scripts.check(host_transport(session, transport), [session]).get(session.id)
    if seen is None or not seen.alive:
        mark_lost(session, store)
        raise SessionStateError(
            f"session {session.id} is gone: Jupyter no longer runs on "
            f"{session.node or session.remote_host}",
            f"start a new one with 'hoplab up {session.target}'",
        )


def _reforward(transport: Transport, session: Session, port: int | None) -> None:
    """Forward again, and relay from this process: the asked port, else the old one when free
    (or still ours), else any."""
    if session.remote is None:  # pragma: no cover - checked by the caller
        raise HoplabError(f"session {session.id} has no remote endpoint")
    old = session_forward(session)
    if old is not None and (not transport.multiplexed or session.forward_socket is None):
        transport.cancel(old)  # its ssh, or an older hoplab's TCP forward on the master
    wanted = port if port is not None else session.local_port
    path = forwards.socket_path(session.id)
    try:
        forward, local_port = forwards.open_tunnel(transport, session.remote, path, wanted)
    except PortInUseError:
        if port is not None:
            raise
        forward, local_port = forwards.open_tunnel(transport, session.remote, path, None)
    session.forward_socket, session.relay_pid = path, os.getpid()
    session.local_port, session.forward_pid = local_port, forward.pid


def _reforward_extras(transport: Transport, session: Session) -> None:
    """Extra forwards again, each on its old local port when it is still free."""
    for extra in session.forwards:
        remote_end = extra_remote(session, extra.port)
        if extra.local_port is not None and (not transport.multiplexed or extra.socket is None):
            old = extra.socket or f"127.0.0.1:{extra.local_port}"
            transport.cancel(Forward(old, remote_end, extra.pid))
        path = forwards.socket_path(session.id, extra.port)
        try:
            opened, local_port = forwards.open_tunnel(transport, remote_end, path, extra.local_port)
        except PortInUseError:
            opened, local_port = forwards.open_tunnel(transport, remote_end, path, None)
        extra.socket, extra.local_port, extra.pid = path, local_port, opened.pid
