"""Pick the transport for a target: the one place that knows both implementations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hoplab.ssh.direct import DirectTransport
from hoplab.ssh.mux import MuxTransport

if TYPE_CHECKING:
    from hoplab.ssh.target import SshTarget
    from hoplab.ssh.transport import Prepare, Transport


def open_transport(
    target: SshTarget, *, multiplex: bool = True, prepare: Prepare | None = None
) -> Transport:
    """The right transport for ``target``: multiplexed unless asked not to (``--no-mux``).

    ``prepare`` runs before its first connection (see :mod:`hoplab.tunnel.chain`).
    """
    if multiplex:
        return MuxTransport(target, prepare)
    return DirectTransport(target, prepare)
