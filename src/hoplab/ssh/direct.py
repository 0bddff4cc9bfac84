"""No multiplexing: a fresh ssh for every command and one ssh process per forward.

For ``--no-mux``: sites that forbid persistent masters, and ssh clients that cannot multiplex.
Each forward's ssh runs detached with its PID recorded, and ``down`` ends exactly that process.
It forwards a Unix socket in hoplab's private runtime directory, which hoplab's relay serves on
127.0.0.1 (see :mod:`hoplab.tunnel.relay`).
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

from hoplab import process
from hoplab.paths import private_dir, state_dir
from hoplab.ssh.target import raise_for_ssh, ssh_error
from hoplab.ssh.transport import Forward, Transport
from hoplab.waiting import wait_until

FORWARD_READY_TIMEOUT = 60.0
HOLD = "cat"  # the forward's session: waits on a stdin that never ends (every shell runs it)


class DirectTransport(Transport):
    """Every remote command authenticates on its own; forwards are separate ssh processes."""

    multiplexed = False
    interactive = False

    def command(self, *args: str, tty: bool = False) -> list[str]:
        batch = "no" if self.interactive else "yes"
        self.prepare(interactive=self.interactive)  # every command is a new connection
        target = self.effective
        options = ("-o", "ControlMaster=no", "-o", f"BatchMode={batch}")
        return [*target.argv(*options, tty=tty), *args]

    def connect(self, *, interactive: bool) -> None:
        self.interactive = interactive
        self.prepare(interactive=interactive)
        done = process.run(
            self.command("true"),
            check=False,
            timeout=300 if interactive else 60,
            interactive=interactive,
        )
        raise_for_ssh(self.target, done, always=True)

    def forward(self, path: str, remote: str) -> Forward:
        """One ssh for this forward, with a remote ``cat`` as its session: sshd sets TCP_NODELAY
        on its end of a connection only when a session starts, and ssh on its own end likewise,
        so an ``ssh -N`` forward made Jupyter's small answers wait for delayed ACKs (~40 ms
        each). ``cat`` reads a stdin that never ends and writes nothing; it ends with the
        connection (sshd closes its stdin), so nothing is left on the remote host."""
        self.prepare(interactive=False)  # its own connection: the vouched key, the jump
        spec = Forward(path, remote).spec
        log_path = private_dir(state_dir() / "forwards") / f"{Path(path).name}.log"
        log_path.unlink(missing_ok=True)
        argv = self.effective.argv("-o", "ControlMaster=no", "-o", "BatchMode=yes", "-L", spec)
        proc = process.spawn([*argv, HOLD], detach=True, output=log_path, endless_input=True)

        def listening() -> bool:
            if proc.poll() is not None:
                return True
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                return probe.connect_ex(path) == 0

        wait_until(listening, FORWARD_READY_TIMEOUT, what=f"ssh to listen on {path}")
        if proc.returncode is not None:
            raise ssh_error(self.target, log_path.read_text(encoding="utf-8", errors="replace"))
        return Forward(path, remote, proc.pid)

    def cancel(self, forward: Forward) -> None:
        if forward.pid is not None and is_our_forward(forward):
            os.kill(forward.pid, signal.SIGTERM)

    def close(self) -> None:
        """Nothing is shared, so nothing to close."""


def is_our_forward(forward: Forward) -> bool:
    """Whether ``forward.pid`` is still the ssh process holding exactly this forward.

    PIDs are reused; checking the command line keeps hoplab from signalling a stranger.
    """
    if forward.pid is None:
        return False
    args = process.own_command(forward.pid)
    return args is not None and forward.spec in args and "ssh" in args
