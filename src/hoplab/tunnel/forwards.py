"""The local end: ssh's forward to a private Unix socket, hoplab's relay on 127.0.0.1 in front of
it, and proof that Jupyter answers through them."""

from __future__ import annotations

import http.client
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from hoplab import process
from hoplab.errors import ForeignListenerError, HoplabError, OpenJupyterError
from hoplab.paths import fitting_socket_path, private_dir, runtime_dir
from hoplab.ssh.mux import MuxTransport
from hoplab.ssh.ports import LOOPBACK, port_is_free
from hoplab.ssh.transport import Forward
from hoplab.tunnel import listener, relay
from hoplab.tunnel.reach import forward_transport
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from hoplab.records.model import Session
    from hoplab.ssh.transport import Transport

READY_TIMEOUT = 30.0
REFUSED = (401, 403)  # Jupyter's answer to a request without its token

log = logging.getLogger(__name__)


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
    """The process that holds the session's local port: the hoplab process whose relay serves
    it; in records from before the relay, the ssh that forwarded it (its master, from the
    ControlPath's pidfile, else ``ssh -O check``; or the forward's own ssh without
    multiplexing)."""
    if session.forward_socket is not None:
        return session.relay_pid
    if not session.multiplex:
        return session.forward_pid
    carrier = forward_transport(session)
    if not isinstance(carrier, MuxTransport):
        return None
    return carrier.watched_pid() or carrier.master_pid()


def is_ours(session: Session, expected: int | None = None) -> bool:
    """Whether the listener on the session's local port is the process hoplab expects there
    (see :func:`owner`; ``expected``, when the caller already knows it)."""
    port = session.local_port
    holder = expected if expected is not None else owner(session)
    if port is None:
        return False
    if holder == os.getpid() and relay.serving(port) is not None:
        # this process listens on 127.0.0.1:PORT itself, without SO_REUSEPORT: no other socket
        # can bind that address and port, and a wildcard bind (where a system allows one) gets
        # only what no specific bind takes, so connections there reach us: nothing to look up
        return True
    return listener.held_by(port, holder)


def probe(session: Session, *, timeout: float = 5.0, expected: int | None = None) -> int | None:
    """``status_code`` through the session's forward, the token sent only to our own relay
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


def status_without_token(port: int, base_url: str, *, timeout: float = 5.0) -> int | None:
    """``GET {base_url}api/status`` with no token: its status (below 300: authentication is
    off), or None if nothing answered."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        connection.request("GET", f"{base_url}api/status")
        return connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def require_token(session: Session, port: int, answered: int | None = None) -> None:
    """Refuse a Jupyter that answers without a token (``up`` then stops it). ``answered``: the
    status such a request already got, if one did; unless it says yes (2xx) or no (401, 403),
    the request is made now."""
    if answered is None or not (answered < 300 or answered in REFUSED):
        answered = status_without_token(port, session.base_url)
    if answered is not None and answered < 300:
        raise OpenJupyterError(
            f"Jupyter on {session.node or session.remote_host} accepts requests without a "
            "token: your Jupyter config disables authentication (c.ServerApp.token = ''); "
            "hoplab stopped it",
            "remove that setting (or a c.NotebookApp.token / c.IdentityProvider.token = '') "
            "from ~/.jupyter on the remote host, then run 'hoplab up' again",
        )


def socket_path(session_id: str, remote_port: int | None = None) -> str:
    """Where ssh's local end of a session's forward is: a Unix socket in hoplab's private
    runtime directory (``remote_port``: an extra forward's), short enough for any system."""
    name = session_id if remote_port is None else f"{session_id}-{remote_port}"
    return str(fitting_socket_path(private_dir(runtime_dir() / "fw") / f"{name}.sock"))


def open_tunnel(
    transport: Transport,
    remote: str,
    path: str,
    wanted: int | None,
    *,
    early: Forward | None = None,
) -> tuple[Forward, int]:
    """ssh forwards the Unix socket ``path`` to ``remote``, and this process's relay serves
    127.0.0.1:``wanted`` (any free port when None; :class:`PortInUseError` when taken) in front
    of it, with Nagle off. The ssh forward and the port.

    ``early``: the forward ``up`` made at ``path`` while Jupyter started, to where the launcher
    said it would listen: kept when that is ``remote``, else removed first (an older Jupyter
    listens on TCP instead).
    """
    if early is not None and early.remote == remote and _still_carried(transport, early):
        forward = early
    else:
        if early is not None:
            clear_socket(transport, early)
        clear_socket(transport, Forward(path, remote))
        forward = transport.forward(path, remote)
    try:
        port = relay.serve(wanted or 0, path).port
    except BaseException:
        transport.cancel(forward)
        clear_socket(transport, forward)
        raise
    log.debug("relaying 127.0.0.1:%d to %s", port, path)
    return forward, port


def _still_carried(transport: Transport, forward: Forward) -> bool:
    """Whether ``forward`` is still there, as far as can be told without a process: its socket
    file, and the master that made it (its PID file) alive. A master that went while Jupyter
    started took it along; a new forward then says why at once."""
    if not Path(forward.local).exists():
        return False
    pid = transport.watched_pid() if isinstance(transport, MuxTransport) else None
    return pid is None or process.alive(pid)


def clear_socket(transport: Transport, forward: Forward) -> None:
    """Remove what is at a forward's local socket path: the master's own forward there, if it
    still has one, and the file (a socket left by an ssh that died). Older records' TCP forwards
    have no file: nothing to do."""
    path = Path(forward.local)
    if not path.is_absolute() or not path.exists():
        return
    transport.cancel(Forward(forward.local, forward.remote))  # a pid-less cancel: masters only
    remove_socket_file(forward)


def remove_socket_file(forward: Forward) -> None:
    """Remove the local socket file of a forward that was cancelled (ssh leaves it); older
    records' TCP forwards have none."""
    path = Path(forward.local)
    if path.is_absolute():
        path.unlink(missing_ok=True)


def prove_ready(session: Session, timeout: float = READY_TIMEOUT) -> None:
    """Wait until /api/status answers 200 through the forward; a 403 is a wrong token at once,
    and a listener that is not our relay is an error at once (the token is never sent to it).

    Ready also means closed to others: a Jupyter that answers without the token is refused.
    """
    port = session.local_port
    if port is None:
        raise HoplabError(f"session {session.id} has no local port")

    expected = owner(session)  # once: each call may ask ssh or a login node
    # The request without the token goes along with the first probe: once Jupyter answers,
    # its answer is most likely in, a round trip through the tunnel sooner. Nothing of the
    # session is sent with it, so it may go before the probe has checked the listener.
    unguarded: list[int | None] = []
    early = threading.Thread(
        # no longer than the probes may take (attach's quick look gives up sooner)
        target=lambda: unguarded.append(
            status_without_token(port, session.base_url, timeout=min(timeout, 5.0))
        ),
        name="hoplab-token-check",
        daemon=True,
    )
    early.start()

    def answered() -> int | None:
        code = probe(session, expected=expected)
        if code == 403:
            raise HoplabError(
                f"Jupyter on {session.remote_host} refused the session token",
                f"another server may be answering; stop it with 'hoplab down {session.id}'",
            )
        return code if code == 200 else None

    wait_until(answered, timeout, what="Jupyter to answer /api/status through the tunnel")
    log.debug("Jupyter answers through 127.0.0.1:%d", port)
    early.join(min(timeout, 5.0))
    # no answer (sent before Jupyter listened), or none about the token: asked again now
    require_token(session, port, unguarded[0] if unguarded else None)
