"""The local end: a forward on 127.0.0.1, and proof that Jupyter answers through it."""

from __future__ import annotations

import http.client
from typing import TYPE_CHECKING

from hoplab.errors import ForeignListenerError, HoplabError, OpenJupyterError, PortInUseError
from hoplab.ssh.mux import MuxTransport
from hoplab.ssh.ports import LOOPBACK, free_port, port_is_free
from hoplab.tunnel import listener
from hoplab.tunnel.reach import forward_transport
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from hoplab.records.model import Session
    from hoplab.ssh.transport import Forward, Transport

PORT_ATTEMPTS = 5
READY_TIMEOUT = 30.0


def status_code(port: int, base_url: str, token: str, *, timeout: float = 5.0) -> int | None:
    """``GET {base_url}api/status`` with the token through the tunnel; None if no answer."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        connection.request(
            "GET", f"{base_url}api/status", headers={"Authorization": f"token {token}"}
        )
        return connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def owner(session: Session) -> int | None:
    """The ssh process that holds the session's forward: its master (from the ControlPath's
    pidfile, else ``ssh -O check``), or the forward's own ssh without multiplexing."""
    if not session.multiplex:
        return session.forward_pid
    carrier = forward_transport(session)
    if not isinstance(carrier, MuxTransport):
        return None
    return carrier.watched_pid() or carrier.master_pid()


def is_ours(session: Session, expected: int | None = None) -> bool:
    """Whether the listener on the session's local port is the ssh process hoplab started
    (``expected``, when the caller already knows it)."""
    port = session.local_port
    holder = expected if expected is not None else owner(session)
    return port is not None and listener.held_by(port, holder)


def probe(session: Session, *, timeout: float = 5.0, expected: int | None = None) -> int | None:
    """``status_code`` through the session's forward, the token sent only to our own ssh
    (``expected``: its PID, found once by a caller that probes in a loop).

    None when nothing answers; :class:`ForeignListenerError` when another process holds the
    port (the token was not sent).
    """
    port = session.local_port
    if port is None:
        return None
    if not is_ours(session, expected):
        if port_is_free(port):
            return None  # nobody listens: the forward is simply gone
        raise ForeignListenerError(port)
    return status_code(port, session.base_url, session.token, timeout=timeout)


def answers_without_token(port: int, base_url: str, *, timeout: float = 5.0) -> bool:
    """Whether ``GET {base_url}api/status`` with no token succeeds: authentication is off."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        connection.request("GET", f"{base_url}api/status")
        return connection.getresponse().status < 300
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def require_token(session: Session, port: int) -> None:
    """Refuse a Jupyter that answers without a token (``up`` then stops it)."""
    if answers_without_token(port, session.base_url):
        raise OpenJupyterError(
            f"Jupyter on {session.node or session.remote_host} accepts requests without a "
            "token: your Jupyter config disables authentication (c.ServerApp.token = ''); "
            "hoplab stopped it",
            "remove that setting (or a c.NotebookApp.token / c.IdentityProvider.token = '') "
            "from ~/.jupyter on the remote host, then run 'hoplab up' again",
        )


def open_forward(transport: Transport, remote: str, wanted: int | None) -> Forward:
    """Forward a local port to ``remote``: ``wanted`` exactly, or a free one (retrying races)."""
    if wanted is not None:
        return transport.forward(wanted, remote)
    for _ in range(PORT_ATTEMPTS):
        try:
            return transport.forward(free_port(), remote)
        except PortInUseError:
            continue
    raise HoplabError(f"could not find a free local port in {PORT_ATTEMPTS} tries")


def prove_ready(session: Session, timeout: float = READY_TIMEOUT) -> None:
    """Wait until /api/status answers 200 through the forward; a 403 is a wrong token at once,
    and a listener that is not our ssh is an error at once (the token is never sent to it).

    Ready also means closed to others: a Jupyter that answers without the token is refused.
    """
    port = session.local_port
    if port is None:
        raise HoplabError(f"session {session.id} has no local port")

    expected = owner(session)  # once: each call may ask ssh or a login node

    def answered() -> int | None:
        code = probe(session, expected=expected)
        if code == 403:
            raise HoplabError(
                f"Jupyter on {session.remote_host} refused the session token",
                f"another server may be answering; stop it with 'hoplab down {session.id}'",
            )
        return code if code == 200 else None

    wait_until(answered, timeout, what="Jupyter to answer /api/status through the tunnel")
    require_token(session, port)
