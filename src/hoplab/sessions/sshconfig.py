"""``hoplab ssh-config``: an ssh ``Host`` block that lands any ssh client on the session's host.

``ssh hoplab-ID``, VS Code Remote-SSH or any client that reads ``~/.ssh/config`` then reaches
the host where the session's Jupyter runs (a compute node, inside its job where the site uses
pam_slurm_adopt) through hoplab's master to the login node, with the node's host key that
the login node vouched for. Host key checking stays on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hoplab.errors import SessionStateError
from hoplab.sessions import hostside
from hoplab.ssh import hostkeys
from hoplab.ssh.mux import MuxTransport
from hoplab.ssh.target import known_hosts_command

if TYPE_CHECKING:
    from hoplab.records.model import Session
    from hoplab.records.store import SessionStore
    from hoplab.ssh.target import SshTarget
    from hoplab.ssh.transport import Transport

ALIAS_PREFIX = "hoplab-"


@dataclass(frozen=True)
class HostBlock:
    """The block as ssh reads it, and the alias it defines."""

    session: Session
    alias: str
    text: str
    host: str


@dataclass(frozen=True)
class BlockSettings:
    """What the block says, each value as ssh_config takes it (see :func:`render_block`)."""

    alias: str
    hostname: str
    user: str = ""
    port: int = hostkeys.DEFAULT_PORT
    proxy_command: str | None = None
    proxy_jump: str | None = None
    control_path: str | None = None
    known_hosts_command: str | None = None
    identity_files: tuple[str, ...] = ()
    identities_only: bool = False
    comment: tuple[str, ...] = ()


def ssh_config(session_id: str, store: SessionStore, *, interactive: bool) -> HostBlock:
    """Connect the chain once (so the login master lives and the node's key is vouched for),
    then describe it as a ``Host hoplab-ID`` block."""
    session = hostside.live_session(session_id, store)
    if not hostside.over_ssh(session):
        raise SessionStateError(
            f"ssh to {session.node} was refused when session {session.id} started (Jupyter "
            "runs on its cluster address): no ssh client can land there",
            f"'hoplab shell {session.id}' goes in through the scheduler instead",
        )
    login = hostside.login(session, interactive=interactive)
    carrier = hostside.host(session, login, interactive=False)
    settings = block_settings(session, carrier.target, login)
    return HostBlock(session, settings.alias, render_block(settings), settings.hostname)


def block_settings(session: Session, target: SshTarget, login: Transport) -> BlockSettings:
    """The block for ``target`` (where Jupyter runs), reached the way hoplab reaches it."""
    resolved = hostkeys.resolve(target)
    vouched = hostkeys.vouched_file(resolved)
    found = hostkeys.identities(target)
    where = session.node or session.remote_host or target.destination
    job = f" (job {session.job_id} on {session.ssh_target.label})" if session.job_id else ""
    comment = [
        f"hoplab session {session.id}: Jupyter on {where}{job}.",
        f"Include this in ~/.ssh/config, then: ssh {ALIAS_PREFIX}{session.id}",
    ]
    proxy_command = proxy_jump = control_path = None
    if target.jumps and target.via:
        proxy_command = target.proxy_command(batch=False)
        comment.append(f"It rides hoplab's connection to {target.jumps[-1]} while that lives.")
    elif target.jumps:
        proxy_jump = ",".join(target.jumps)
    else:
        if isinstance(login, MuxTransport):
            control_path = str(login.control_path)
            comment.append(f"It rides hoplab's connection to {target.destination} while it lives.")
        if resolved.proxy_jump:
            proxy_jump = ",".join(resolved.proxy_jump)
    return BlockSettings(
        alias=f"{ALIAS_PREFIX}{session.id}",
        hostname=resolved.hostname,
        user=resolved.user,
        port=resolved.port,
        proxy_command=proxy_command,
        proxy_jump=proxy_jump,
        control_path=control_path,
        known_hosts_command=known_hosts_command(str(vouched)) if vouched.is_file() else None,
        identity_files=found.files,
        identities_only=found.only,
        comment=tuple(comment),
    )


def render_block(settings: BlockSettings) -> str:
    """``Host ALIAS`` and its indented settings, one per line; comments on top."""
    lines = [f"# {line}" for line in settings.comment]
    lines.append(f"Host {settings.alias}")
    lines.append(f"    HostName {settings.hostname}")
    if settings.user:
        lines.append(f"    User {_word(settings.user)}")
    if settings.port != hostkeys.DEFAULT_PORT:
        lines.append(f"    Port {settings.port}")
    if settings.proxy_command:
        lines.append(f"    ProxyCommand {settings.proxy_command}")
    if settings.proxy_jump:
        lines.append(f"    ProxyJump {settings.proxy_jump}")
    if settings.control_path:
        lines.append(f"    ControlPath {_word(settings.control_path.replace('%', '%%'))}")
        lines.append("    ControlMaster no")
    if settings.known_hosts_command:
        lines.append(f"    KnownHostsCommand {settings.known_hosts_command}")
    # the keys hoplab logs in with: the alias matches none of the config's Host lines
    lines += [f"    IdentityFile {_word(path)}" for path in settings.identity_files]
    if settings.identities_only:
        lines.append("    IdentitiesOnly yes")
    return "\n".join(lines) + "\n"


def _word(value: str) -> str:
    """One ssh_config argument: double-quoted when it holds a blank."""
    if any(c in value for c in '"\n'):
        raise SessionStateError(f"{value!r} cannot be written in an ssh config")
    return f'"{value}"' if any(c.isspace() for c in value) else value
