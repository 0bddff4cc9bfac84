"""How the tunnel reaches Jupyter in a batch job: ssh to the node, or TCP via the login node.

``auto`` tries ssh to the compute node through the login node's master (one authentication
for the whole chain) and uses Jupyter's Unix socket there. A node that refuses ssh gets
Jupyter on its cluster address with a random port instead, forwarded through the login master.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hoplab.errors import HoplabError, SshError
from hoplab.protocol import Listen, Reach
from hoplab.remote import jobs, scripts
from hoplab.ssh.mux import MuxTransport
from hoplab.ssh.target import SshTarget
from hoplab.tunnel.chain import open_transport
from hoplab.tunnel.landing import host_target

if TYPE_CHECKING:
    from collections.abc import Callable

    from hoplab.records.model import Session
    from hoplab.schedulers.base import BatchScheduler
    from hoplab.ssh.transport import Transport


def node_target(session: Session, node: str) -> SshTarget:
    """ssh to ``node`` through the session's login chain, riding the login master if any."""
    return behind(session.ssh_target, node, multiplex=session.multiplex)


def behind(login: SshTarget, node: str, *, multiplex: bool) -> SshTarget:
    """ssh to ``node`` through ``login``'s chain, riding its master when ``multiplex``."""
    via = str(MuxTransport(login).control_path) if multiplex else None
    return SshTarget(node, (*login.jumps, login.destination), login.config_file, via, as_named=True)


def forward_transport(session: Session, where: Callable[[], str | None] | None = None) -> Transport:
    """The connection that carries the session's forwards (see :func:`forward_target`); the
    caller connects it."""
    return open_transport(forward_target(session, where), multiplex=session.multiplex)


def forward_target(session: Session, where: Callable[[], str | None] | None = None) -> SshTarget:
    """The chain the session's forwards ride (nothing connects here): the node's; or, for a
    plain session, the target's, with one hop more when it landed on another login node
    (``where``: the login node its master landed on, asked once for many sessions)."""
    if session.reach == Reach.SSH_NODE and session.node:
        return node_target(session, session.node)
    login = open_transport(session.ssh_target, multiplex=session.multiplex)
    return host_target(session, login, where)


@dataclass(frozen=True)
class Decision:
    """The path taken, and why (shown to the user)."""

    reach: str
    why: str


def decide(
    login: Transport, session: Session, scheduler: BatchScheduler, node: str, wanted: str
) -> Decision:
    """Pick the path for a job now running on ``node`` and tell its launcher how to listen."""
    session.node = node
    if wanted != Reach.LOGIN_TCP:
        carrier = open_transport(node_target(session, node), multiplex=session.multiplex)
        try:
            carrier.connect(interactive=False)
        except HoplabError as exc:
            if wanted == Reach.SSH_NODE:
                exc.hint = f"ssh to {node} failed from here: use --reach login-tcp (or auto)"
                raise
            return _tcp(login, session, scheduler, node, refusal(node, exc))
        session.reach = Reach.SSH_NODE
        said = "".join(f"; {note}" for note in carrier.notes)
        if scripts.same_view(carrier, session.id):
            scripts.tell_reach(login, session, Listen.SOCKET)
            where = "a private Unix socket (or the node's 127.0.0.1 where it has no socket support)"
        else:
            session.socket_home = True
            scripts.tell_reach(login, session, Listen.HOME_SOCKET)
            where = (
                "a private Unix socket in the session directory (ssh sessions on the node do "
                "not see the job's own /tmp)"
            )
        return Decision(Reach.SSH_NODE, f"ssh to {node} works: Jupyter listens on {where}{said}")
    return _tcp(login, session, scheduler, node, "--reach login-tcp")


def refusal(node: str, exc: HoplabError) -> str:
    """The real reason ssh to ``node`` failed, as the one line of the TCP fallback says it."""
    said = exc.message.strip().splitlines()[-1].strip() if exc.message.strip() else "ssh failed"
    if not isinstance(exc, SshError):
        return f"ssh to {node} failed ({said})"
    if "Host key" in exc.message or "host key" in exc.message:
        return f"{node}'s host key could not be verified ({said})"
    if "Permission denied" in exc.message or "Connection closed" in exc.message:
        return f"{node} refuses ssh ({said})"
    return f"ssh to {node} failed ({said})"


def _tcp(
    login: Transport, session: Session, scheduler: BatchScheduler, node: str, why: str
) -> Decision:
    address = jobs.node_address(login, scheduler, node)
    session.reach = Reach.LOGIN_TCP
    scripts.tell_reach(login, session, Listen.TCP, address)
    return Decision(
        Reach.LOGIN_TCP,
        f"{why}: Jupyter listens on {address} (random port), forwarded through "
        f"{session.ssh_target.destination}",
    )
