"""How hoplab talks to a target: one interface, two implementations.

:class:`~hoplab.ssh.mux.MuxTransport` keeps one authenticated ControlMaster per target chain and
runs everything through it (one password or 2FA prompt, ~11 ms a command).
:class:`~hoplab.ssh.direct.DirectTransport` makes a new connection for each command and one ssh
process per forward (``--no-mux``: sites that forbid persistent masters, clients that cannot
multiplex).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hoplab import process
from hoplab.ssh.ports import LOOPBACK
from hoplab.ssh.target import raise_for_ssh

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Sequence

    from hoplab.process import Completed
    from hoplab.ssh.target import SshTarget


@dataclass(frozen=True)
class Forward:
    """``local`` on this machine carried to ``remote`` (a socket path or host:port).

    ``local`` is a Unix socket path in hoplab's private runtime directory (hoplab's relay serves
    the browser's 127.0.0.1 port in front of it: see :mod:`hoplab.tunnel.relay`), or, in records
    of a hoplab from before the relay, ``127.0.0.1:PORT`` itself (see :meth:`tcp`). ``pid`` is
    the ssh process holding it when it is not on a shared master.
    """

    local: str
    remote: str
    pid: int | None = None

    @classmethod
    def tcp(cls, local_port: int, remote: str, pid: int | None = None) -> Forward:
        """A forward of 127.0.0.1:``local_port`` by ssh itself (what older records hold)."""
        return cls(f"{LOOPBACK}:{local_port}", remote, pid)

    @property
    def spec(self) -> str:
        return f"{self.local}:{self.remote}"


# Called before a connection is first made (with whether ssh may prompt): it may set
# ``effective``, the target as ssh must reach it (jump master, vouched host key), and add notes.
Prepare = Callable[["Transport", bool], None]


class Transport(ABC):
    """Remote scripts and local forwards for one :class:`SshTarget`.

    ``target`` names the chain (its key names the ControlPath); ``effective`` is how ssh
    reaches it once prepared. ``notes`` says what preparing did that the user should know.
    """

    multiplexed: bool

    def __init__(self, target: SshTarget, prepare: Prepare | None = None) -> None:
        self.target = target
        self.effective = target
        self.notes: list[str] = []
        self._prepare = prepare
        self._prepared = False

    def prepare(self, *, interactive: bool) -> None:
        """Run the preparation once, before the first connection of this transport."""
        if self._prepare is not None and not self._prepared:
            self._prepared = True
            self._prepare(self, interactive)

    @abstractmethod
    def connect(self, *, interactive: bool) -> None:
        """Authenticate (prompting in the terminal when ``interactive``) or raise SshError."""

    @abstractmethod
    def command(self, *remote: str, tty: bool = False) -> list[str]:
        """The ssh argv that runs ``remote`` on the target through this transport (with a
        remote terminal when ``tty``: an interactive shell; no ``remote``: the login shell)."""

    def run(self, script: str, *, timeout: float = 60.0) -> Completed:
        """Run a POSIX sh ``script`` (sent on stdin, never in argv) and return its output.

        Raises SshError when ssh itself fails; the script's own exit code is the caller's.
        """
        done = process.run(self.command("sh", "-s"), input=script, check=False, timeout=timeout)
        raise_for_ssh(self.target, done)
        return done

    def stream(self, script: str) -> subprocess.Popen[str]:
        """Start ``script`` remotely (on stdin, as :meth:`run` does: any login shell takes
        ``sh -s``) and hand back the process to read its stdout as it comes."""
        return process.spawn(self.command("sh", "-s"), input=script)

    @abstractmethod
    def forward(self, path: str, remote: str) -> Forward:
        """Carry the Unix socket ``path`` (made by ssh, mode 0600, in a 0700 directory of ours)
        to ``remote``; the caller has removed whatever was at ``path`` before."""

    @abstractmethod
    def cancel(self, forward: Forward) -> None:
        """Remove ``forward``; a forward that is already gone is not an error."""

    def cancel_all(self, forwards: Sequence[Forward]) -> None:
        """Remove each of ``forwards`` (see :meth:`cancel`)."""
        for forward in forwards:
            self.cancel(forward)

    @abstractmethod
    def close(self) -> None:
        """End the shared connection, if there is one."""
