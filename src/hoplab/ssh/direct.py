"""No multiplexing: a fresh ssh for every command and one ssh process per forward.

For ``--no-mux``: sites that forbid persistent masters, and ssh clients that cannot multiplex.
Each forward's ssh runs detached with its PID recorded, so a detached session keeps its tunnel
and ``down`` ends exactly that process.
"""

from __future__ import annotations

import os
import signal
import socket

from hoplab import process
from hoplab.errors import PortInUseError
from hoplab.paths import private_dir, state_dir
from hoplab.ssh.ports import LOOPBACK, port_is_free
from hoplab.ssh.target import raise_for_ssh, ssh_error
from hoplab.ssh.transport import Forward, Transport
from hoplab.waiting import wait_until

FORWARD_READY_TIMEOUT = 60.0


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

    def forward(self, local_port: int, remote: str) -> Forward:
        if not port_is_free(local_port):
            raise PortInUseError(local_port)
        self.prepare(interactive=False)  # its own connection: the vouched key, the jump
        spec = Forward(local_port, remote).spec
        log_path = private_dir(state_dir() / "forwards") / f"{local_port}.log"
        log_path.unlink(missing_ok=True)
        proc = process.spawn(
            [
                *self.effective.argv(
                    "-o", "ControlMaster=no", "-o", "BatchMode=yes", "-N", "-L", spec
                )
            ],
            detach=True,
            output=log_path,
        )

        def listening() -> bool:
            if proc.poll() is not None:
                return True
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                return probe.connect_ex((LOOPBACK, local_port)) == 0

        wait_until(listening, FORWARD_READY_TIMEOUT, what=f"ssh to listen on port {local_port}")
        if proc.returncode is not None:
            stderr = log_path.read_text(encoding="utf-8", errors="replace")
            if "Address already in use" in stderr or "cannot listen" in stderr:
                raise PortInUseError(local_port)
            raise ssh_error(self.target, stderr)
        return Forward(local_port, remote, proc.pid)

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
