"""``hoplab up``: start Jupyter on a host, tunnel to it, prove it answers."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hoplab.errors import HoplabError, PortInUseError
from hoplab.launcher.render import Environment, LaunchSpec
from hoplab.sessions import remote, tunnel
from hoplab.sessions.attach import AttachResult, attach
from hoplab.sessions.cleanup import abandon
from hoplab.sessions.model import Session, SessionState, target_key
from hoplab.sessions.progress import Progress, silent, step
from hoplab.ssh.ports import port_is_free
from hoplab.ssh.transport import open_transport

if TYPE_CHECKING:
    from hoplab.sessions.store import SessionStore
    from hoplab.ssh.target import SshTarget


@dataclass(frozen=True)
class UpRequest:
    """What ``up`` was asked for, after profiles and the command line were combined."""

    target: SshTarget
    label: str
    app: str = "lab"
    environment: Environment = field(default_factory=Environment)
    multiplex: bool = True
    port: int | None = None
    new: bool = False
    detach: bool = False
    interactive: bool = False
    start_timeout: float = 120.0


@dataclass(frozen=True)
class UpResult:
    """The ready session, its URL with the token, and whether an existing one was reused."""

    session: Session
    url: str
    reused: bool


def up(request: UpRequest, store: SessionStore, progress: Progress = silent) -> UpResult:
    """Start a session (or reuse a live one on the same target) and return it ready."""
    if request.port is not None and not port_is_free(request.port):
        raise PortInUseError(request.port)
    transport = open_transport(request.target, multiplex=request.multiplex)
    with step(progress, "connect", f"connecting to {request.target.label}") as note:
        transport.connect(interactive=request.interactive)
        how = "shared connection" if transport.multiplexed else "no multiplexing"
        note[0] = f"connected to {request.target.label} ({how})"
    if not request.new:
        reused = _reuse(request, store, progress)
        if reused is not None:
            return UpResult(reused.session, reused.url, reused=True)

    session = Session(
        id=secrets.token_hex(4),
        target=request.label,
        destination=request.target.destination,
        jumps=request.target.jumps,
        ssh_config=request.target.config_file,
        multiplex=transport.multiplexed,
        app=request.app,
        token=secrets.token_hex(24),
        attached_pid=os.getpid(),
    )
    store.save(session)
    spec = LaunchSpec(session.id, request.app, request.environment)
    try:
        with step(progress, "start", f"starting Jupyter on {request.target.label}") as note:
            started = remote.prepare(transport, spec, session.token, start=True)
            session.remote_dir, session.remote_host = started.remote_dir, started.host
            session.jupyter_pid = started.pid
            store.save(session)
            info = remote.wait_ready(transport, session, request.start_timeout)
            session.jupyter_pid, session.remote, session.socket = info.pid, info.remote, info.socket
            session.base_url = info.base_url
            store.save(session)
            where = f"socket {info.socket}" if info.socket else f"tcp {info.remote}"
            note[0] = f"Jupyter {request.app} running on {started.host} ({where})"
        with step(progress, "tunnel", "opening the tunnel") as note:
            forward = tunnel.open_forward(transport, info.remote, request.port)
            session.local_port, session.forward_pid = forward.local_port, forward.pid
            store.save(session)
            tunnel.prove_ready(session)
            note[0] = f"Jupyter answers on 127.0.0.1:{forward.local_port}"
    except BaseException as exc:
        abandon(transport, session, store, exc)
        raise
    url = session.hold(detach=request.detach)
    store.save(session)
    return UpResult(session, url, reused=False)


def _reuse(request: UpRequest, store: SessionStore, progress: Progress) -> AttachResult | None:
    """Attach to a live session of the same target and app, if one still answers."""
    for candidate in reversed(store.live_for(target_key(request.target, request.app))):
        if candidate.state is SessionState.STARTING:
            continue
        try:
            return attach(
                candidate.id,
                store,
                port=request.port,
                detach=request.detach,
                interactive=request.interactive,
                progress=progress,
            )
        except HoplabError:
            continue  # attach marked it lost; look at the next one or start anew
    return None
