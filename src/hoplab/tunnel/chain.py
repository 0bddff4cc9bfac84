"""How hoplab reaches a host behind a login node, as a real site allows it.

Before the first connection to a target that sits behind a jump (``--jump``, or ProxyJump in
the user's ssh config), the login node's own master is made (or found): the target then rides
it, so a login that asks for a one-time code asks once per login node. A destination whose host
key the laptop's known_hosts files do not list gets the keys that login node vouches for (its
system and user known_hosts, and its @cert-authority lines), or, when it vouches for none, the
keys it scans (trust on first use inside the cluster network, said as a note). Host key
checking is never turned off.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from hoplab.remote import scripts
from hoplab.ssh import connect, hostkeys
from hoplab.ssh.mux import MuxTransport
from hoplab.ssh.target import SshTarget

if TYPE_CHECKING:
    from hoplab.ssh.transport import Transport


def open_transport(target: SshTarget, *, multiplex: bool = True) -> Transport:
    """A transport to ``target`` that, before connecting, rides and asks its login node."""
    return connect.open_transport(target, multiplex=multiplex, prepare=_prepare)


def hops(target: SshTarget) -> list[SshTarget]:
    """The login hosts ``target`` is reached through (``--jump`` or the config's ProxyJump),
    nearest first; a master of each may carry it."""
    jumps = target.jumps or hostkeys.resolve(target).proxy_jump
    if not jumps:
        return []
    hop = SshTarget(jumps[-1], jumps[:-1], target.config_file)
    return [hop, *hops(hop)]


def _prepare(transport: Transport, interactive: bool) -> None:
    target = transport.target
    resolved = hostkeys.resolve(target)
    jumps = target.jumps or resolved.proxy_jump
    if not jumps:
        return  # a direct host: the user's own known_hosts decides, as with plain ssh
    hop = SshTarget(jumps[-1], jumps[:-1], target.config_file)
    login = open_transport(hop, multiplex=transport.multiplexed)
    login.connect(interactive=interactive)
    via = target.via
    if via is None and isinstance(login, MuxTransport):
        via = str(login.control_path)
    known_hosts = None
    if not hostkeys.known(resolved, resolved.files):
        vouched = hostkeys.vouched_file(resolved)
        if not hostkeys.known(resolved, (vouched,)):
            said = scripts.host_keys(login, list(resolved.names), resolved.port)
            if said.lines:
                hostkeys.record(resolved, list(said.lines))
                how = (
                    "scanned from there: trust on first use inside the cluster network"
                    if said.scanned
                    else "vouched for by its known_hosts"
                )
                transport.notes.append(
                    f"{target.destination}'s host key comes from {login.target.label} ({how})"
                )
        if vouched.exists():
            known_hosts = str(vouched)
    transport.effective = replace(target, jumps=jumps, via=via, known_hosts=known_hosts)
