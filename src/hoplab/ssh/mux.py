"""One ControlMaster per target chain: authenticate once, then everything rides on it."""

from __future__ import annotations

import os
import re
import stat
from enum import Enum
from typing import TYPE_CHECKING

from hoplab import locks, process
from hoplab.errors import CommandTimeoutError, HoplabError
from hoplab.paths import (
    SSH_TEMPORARY_SUFFIX,
    fitting_socket_path,
    private_dir,
    runtime_dir,
    write_private,
)
from hoplab.ssh.target import raise_for_ssh
from hoplab.ssh.transport import Forward, Transport

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from hoplab.process import Completed

# `ssh -O` control commands answer at once on a live master; a slow answer means a wedged one.
CONTROL_TIMEOUT = 10.0
# A live master answers `-O check` and runs `true` in milliseconds; one that takes this long is
# stopped (the laptop slept) or its connection carries nothing any more (the network went away).
HEALTH_TIMEOUT = 3.0


# The master's first session: a command every login shell (sh, bash, zsh, tcsh, fish) runs as a
# builtin and that ends at once. sshd sets TCP_NODELAY on its end of a connection only on the
# first exec or pty request, so a master made with -N and used only for forwards had Nagle's
# algorithm on at the far end: a kernel's several small answers then each waited for a delayed
# ACK (~40 ms). With ControlPersist and no -f, ssh backgrounds the master once authenticated and
# runs this command through it as its first client (with -f the command would never run), so
# the connection has had an exec before anything else uses it, and nothing stays running.
PRIMARY = "exit"


def master_options(control_path: Path, interactive: bool) -> list[str]:
    """ssh options that start a persistent master at ``control_path`` (with :data:`PRIMARY`)."""
    return [
        "-o", "ControlMaster=yes",
        "-o", f"ControlPath={control_path}",
        "-o", "ControlPersist=yes",
        "-o", f"BatchMode={'no' if interactive else 'yes'}",
        "-n",  # the first session reads nothing from our stdin
    ]  # fmt: skip


def is_master_command(args: str, control_path: Path | str) -> bool:
    """Whether the command line ``args`` is the ssh master at ``control_path``.

    Once authenticated, ssh backgrounds a ControlPersist master started without ``-f`` itself
    and renames the process ``ssh: PATH [mux]`` (OpenSSH's ``control_persist_detach``; where
    the system cannot rename a process, as on macOS, the original argv stays and names the
    path in its ``ControlPath=`` option).
    """
    return (
        f"ControlPath={control_path}" in args.split()
        or " ".join(args.split()) == f"ssh: {control_path} [mux]"
    )


class MasterHealth(str, Enum):
    """What a master looks like from its control socket."""

    ABSENT = "absent"  # no master: never started, exited, or killed
    WEDGED = "wedged"  # the process is there but does not answer its control socket
    STALLED = "stalled"  # it answers, but nothing gets through its connection
    ALIVE = "alive"


class MuxTransport(Transport):
    """Remote commands and forwards over one persistent, authenticated ControlMaster."""

    multiplexed = True

    @property
    def control_path(self) -> Path:
        path = private_dir(runtime_dir() / "cm") / self.target.key
        return fitting_socket_path(path, extra=SSH_TEMPORARY_SUFFIX)

    def _control(self, command: str, *extra: str) -> Completed:
        argv = self.target.argv("-o", f"ControlPath={self.control_path}", "-O", command, *extra)
        return process.run(argv, check=False, timeout=CONTROL_TIMEOUT)

    @property
    def pid_file(self) -> Path:
        """Where the master's PID is kept: a wedged master cannot tell it through ``-O check``."""
        return self.control_path.with_name(f"{self.control_path.name}.pid")

    def master_pid(self, timeout: float = CONTROL_TIMEOUT) -> int | None:
        """PID of the running master, from ``ssh -O check``; None when there is none."""
        argv = self.target.argv("-o", f"ControlPath={self.control_path}", "-O", "check")
        try:
            done = process.run(argv, check=False, timeout=timeout)
        except CommandTimeoutError:
            return None
        match = re.search(r"pid=(\d+)", done.stderr)
        return int(match.group(1)) if done.returncode == 0 and match else None

    def health(self) -> MasterHealth:
        """Ask the master itself, then through it: a process alone proves nothing after sleep."""
        argv = self.target.argv("-o", f"ControlPath={self.control_path}", "-O", "check")
        try:
            done = process.run(argv, check=False, timeout=HEALTH_TIMEOUT)
        except CommandTimeoutError:
            return MasterHealth.WEDGED
        if done.returncode != 0:
            return MasterHealth.ABSENT
        try:
            process.run(self.command("true"), check=False, timeout=HEALTH_TIMEOUT)
        except CommandTimeoutError:
            return MasterHealth.STALLED
        return MasterHealth.ALIVE

    def watched_pid(self) -> int | None:
        return self._recorded_pid()

    def connect(self, *, interactive: bool) -> None:
        if self.master_pid() is not None:
            return
        with locks.held(f"master-{self.target.key}"):
            if self.master_pid() is None:  # another process may have made it meanwhile
                self._start_master(interactive=interactive)

    def _start_master(self, *, interactive: bool) -> None:
        self.prepare(interactive=interactive)
        self.reset()
        done = process.run(
            [*self.effective.argv(*master_options(self.control_path, interactive)), PRIMARY],
            check=False,
            timeout=300 if interactive else 60,
            interactive=interactive,
        )
        raise_for_ssh(self.target, done)
        pid = self.master_pid()
        if pid is not None:
            write_private(self.pid_file, f"{pid}\n")

    def reset(self) -> None:
        """End a master that no longer serves (by its recorded PID, if it is still that master)
        and remove its control socket, so that :meth:`connect` can start a fresh one.

        Nothing else is touched: a PID whose command line is not this master's is left alone,
        and a control path that is not our own socket is an error, not something to delete.
        """
        pid = self._recorded_pid()
        if pid is not None and self._is_our_master(pid):
            process.terminate(pid)
        self.pid_file.unlink(missing_ok=True)
        self._remove_stale_socket()

    def _recorded_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text(encoding="utf-8").strip())
        except (FileNotFoundError, ValueError):
            return None

    def _is_our_master(self, pid: int) -> bool:
        args = process.own_command(pid)
        return args is not None and is_master_command(args, self.control_path)

    def _remove_stale_socket(self) -> None:
        """A socket left by a dead master blocks a new one; remove it, but only if it is ours."""
        path = self.control_path
        try:
            info = path.lstat()
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.getuid():
            raise HoplabError(
                f"{path} is in the way of the ssh connection and is not a socket of yours "
                f"(uid {info.st_uid})",
                f"check who put it there, then remove it; or set HOPLAB_RUNTIME_DIR to a "
                f"private directory of your own (now {path.parent.parent})",
            )
        path.unlink()

    def command(self, *remote: str, tty: bool = False) -> list[str]:
        options = ("-o", f"ControlPath={self.control_path}", "-o", "ControlMaster=no")
        return [*self.effective.argv(*options, "-o", "BatchMode=yes", tty=tty), *remote]

    def forward(self, path: str, remote: str) -> Forward:
        forward = Forward(path, remote)
        done = self._control("forward", "-L", forward.spec)
        if done.returncode != 0:
            raise_for_ssh(self.target, done, always=True)
        return forward

    def cancel(self, forward: Forward) -> None:
        # Cancelling a forward the master no longer has fails harmlessly; nothing to undo.
        self._control("cancel", "-L", forward.spec)

    def cancel_all(self, forwards: Sequence[Forward]) -> None:
        # one ssh for all: the client asks the master to cancel each -L in turn, and goes on
        # past one it no longer has
        if forwards:
            self._control("cancel", *(word for f in forwards for word in ("-L", f.spec)))

    def close(self) -> None:
        if self.master_pid() is not None:
            self._control("exit")
        self.pid_file.unlink(missing_ok=True)
