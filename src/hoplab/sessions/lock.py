"""One ``up`` per target at a time: an advisory lock per ssh chain, held while ``up`` connects
and decides between reusing a session and starting one.

Two terminals running ``hoplab up login.hpc`` at once would otherwise both find no session and
submit two jobs (and race to create the same ControlMaster). The lock is ``flock`` on a 0600
file in the private state directory: the kernel releases it when its holder exits, even by
SIGKILL, so a crashed ``up`` never leaves a stale lock behind.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import TYPE_CHECKING

from hoplab.paths import private_dir, state_dir
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

# What a holder does under the lock (connect, maybe with a 2FA prompt; decide; record) is short.
LOCK_TIMEOUT = 600.0


@contextmanager
def target_lock(key: str, *, waiting: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the lock for ssh chain ``key``; ``waiting`` is called once if another holds it."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; one terminal per target is then the user's part
        yield
        return
    path = private_dir(state_dir() / "locks") / f"{key}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def grab() -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    try:
        if not grab():
            if waiting is not None:
                waiting()
            wait_until(
                grab,
                LOCK_TIMEOUT,
                what=f"another hoplab up on the same target to finish (lock {path})",
                cap=0.25,
            )
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
