"""Which host a connection landed on, for login nodes behind one name (DNS round robin).

A plain session runs on the host its ``up`` landed on (``Session.remote_host``). A later
connection to the same name may land on another login node; the session's Jupyter, its socket
and its PID are then reached from there through one more hop to the recorded host, over the
same master, with that host's key vouched for as a node's is (see :mod:`hoplab.tunnel.chain`).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from hoplab.errors import HoplabError
from hoplab.paths import write_private
from hoplab.remote import frames
from hoplab.ssh.mux import MuxTransport
from hoplab.ssh.target import SshTarget
from hoplab.tunnel.chain import open_transport

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from hoplab.records.model import Session
    from hoplab.ssh.transport import Transport


def landed(transport: Transport) -> str | None:
    """The host name of the machine ``transport``'s master is connected to: asked once per
    master, then kept beside its control socket. None without a master, or when the master
    could not say (it went meanwhile)."""
    if not isinstance(transport, MuxTransport):
        return None
    pid = transport.master_pid()
    if pid is None:
        return None
    try:
        kept_pid, kept_host = _note(transport).read_text(encoding="utf-8").split()
    except (OSError, ValueError):
        kept_pid, kept_host = "", ""
    if kept_pid == str(pid):
        return kept_host
    try:
        host = frames.run_commands(transport, [("host", "hostname")], timeout=30)["host"]
    except HoplabError:
        return None
    name = host.stdout.strip()
    if host.returncode != 0 or not _is_name(name):
        return None
    write_private(_note(transport), f"{pid} {name}\n")
    return name


def remember(transport: Transport, host: str) -> None:
    """Keep ``host`` as where ``transport``'s master landed, when a script that ran through it
    said so (the launch reports ``hostname``): :func:`landed` need not ask again."""
    if not isinstance(transport, MuxTransport) or not _is_name(host):
        return
    pid = transport.master_pid()
    if pid is not None:
        write_private(_note(transport), f"{pid} {host}\n")


def _note(master: MuxTransport) -> Path:
    return master.control_path.with_name(f"{master.control_path.name}.host")


def _is_name(host: str) -> bool:
    return bool(host) and not any(c.isspace() for c in host)


def host_target(
    session: Session, login: Transport, where: Callable[[], str | None] | None = None
) -> SshTarget:
    """Where a plain session's Jupyter runs, seen through ``login``: ``login``'s own target, or
    a hop from the login node it landed on to the one the session was started on (``where``:
    that node, asked once for many sessions; else :func:`landed`)."""
    if session.batch or not session.remote_host or not isinstance(login, MuxTransport):
        return login.target
    here = (where or (lambda: landed(login)))()
    if here is None or here == session.remote_host:
        return login.target
    target = login.target
    return SshTarget(
        session.remote_host,
        (*target.jumps, target.destination),
        target.config_file,
        via=str(login.control_path),
        as_named=True,
    )


def host_transport(
    session: Session, login: Transport, where: Callable[[], str | None] | None = None
) -> Transport:
    """A connected transport to where a plain session's Jupyter runs (see :func:`host_target`),
    for its check and stop scripts."""
    target = host_target(session, login, where)
    if target == login.target:
        return login
    carrier = open_transport(target, multiplex=True)
    carrier.connect(interactive=False)
    return carrier


def by_host(
    sessions: list[Session], login: Transport, where: Callable[[], str | None] | None = None
) -> list[tuple[Transport, list[Session]]]:
    """``sessions`` grouped by the transport that reaches where each runs (see
    :func:`host_transport`): one remote call per host, not per session (``where``: see
    :func:`host_target`; else asked once here)."""
    groups: dict[str, tuple[Transport, list[Session]]] = {}
    where = where or cache(lambda: landed(login))  # one question to the master for all
    for session in sessions:
        carrier = host_transport(session, login, where)
        groups.setdefault(carrier.target.key, (carrier, []))[1].append(session)
    return list(groups.values())
