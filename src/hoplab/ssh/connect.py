"""Pick the transport for a target: the one place that knows both implementations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hoplab.ssh.direct import DirectTransport
from hoplab.ssh.mux import MuxTransport

if TYPE_CHECKING:
    from hoplab.ssh.target import SshTarget
    from hoplab.ssh.transport import Transport


def open_transport(target: SshTarget, *, multiplex: bool = True) -> Transport:
    """The right transport for ``target``: multiplexed unless asked not to (``--no-mux``)."""
    if multiplex:
        return MuxTransport(target)
    return DirectTransport(target)
