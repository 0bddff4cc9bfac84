"""One ControlMaster per target chain: authenticate once, then everything rides on it."""

from __future__ import annotations

import os
import re
import stat
from typing import TYPE_CHECKING

from hoplab import process
from hoplab.errors import CommandTimeoutError, PortInUseError
from hoplab.paths import private_dir, runtime_dir
from hoplab.ssh.target import raise_for_ssh
from hoplab.ssh.transport import Forward, Transport

if TYPE_CHECKING:
    from pathlib import Path

    from hoplab.process import Completed

# `ssh -O` control commands answer at once on a live master; a slow answer means a wedged one.
CONTROL_TIMEOUT = 10.0


class MuxTransport(Transport):
    """Remote commands and forwards over one persistent, authenticated ControlMaster."""

    multiplexed = True

    @property
    def control_path(self) -> Path:
        return private_dir(runtime_dir() / "cm") / self.target.key

    def _control(self, command: str, *extra: str) -> Completed:
        argv = self.target.argv("-o", f"ControlPath={self.control_path}", "-O", command, *extra)
        return process.run(argv, check=False, timeout=CONTROL_TIMEOUT)

    def master_pid(self) -> int | None:
        """PID of the running master, from ``ssh -O check``; None when there is none."""
        try:
            done = self._control("check")
        except CommandTimeoutError:
            return None
        match = re.search(r"pid=(\d+)", done.stderr)
        return int(match.group(1)) if done.returncode == 0 and match else None

    def connect(self, *, interactive: bool) -> None:
        if self.master_pid() is not None:
            return
        self._remove_stale_socket()
        options = [
            "-o", "ControlMaster=yes",
            "-o", f"ControlPath={self.control_path}",
            "-o", "ControlPersist=yes",
            "-o", f"BatchMode={'no' if interactive else 'yes'}",
            "-f", "-N",
        ]  # fmt: skip
        done = process.run(
            self.target.argv(*options),
            check=False,
            timeout=300 if interactive else 60,
            interactive=interactive,
        )
        raise_for_ssh(self.target, done)

    def _remove_stale_socket(self) -> None:
        """A socket left by a dead master blocks a new one; remove it, but only if it is ours."""
        path = self.control_path
        try:
            info = path.lstat()
        except FileNotFoundError:
            return
        if stat.S_ISSOCK(info.st_mode) and info.st_uid == os.getuid():
            path.unlink()

    def command(self, *remote: str) -> list[str]:
        options = ("-o", f"ControlPath={self.control_path}", "-o", "ControlMaster=no")
        return [*self.target.argv(*options, "-o", "BatchMode=yes"), *remote]

    def forward(self, local_port: int, remote: str) -> Forward:
        forward = Forward(local_port, remote)
        done = self._control("forward", "-L", forward.spec)
        if done.returncode != 0:
            if "forwarding failed" in done.stderr or "Address already in use" in done.stderr:
                raise PortInUseError(local_port)
            raise_for_ssh(self.target, done, always=True)
        return forward

    def cancel(self, forward: Forward) -> None:
        # Cancelling a forward the master no longer has fails harmlessly; nothing to undo.
        self._control("cancel", "-L", forward.spec)

    def close(self) -> None:
        if self.master_pid() is not None:
            self._control("exit")
