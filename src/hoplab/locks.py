"""Advisory locks between hoplab processes, by name: ``flock`` on a 0600 file in the private
state directory. The kernel releases a lock when its holder exits, even by SIGKILL, so a
crashed hoplab never leaves a stale one behind.

Two are used, per ssh chain: ``up-<key>`` while ``up`` connects and decides between reusing a
session and starting one (two terminals running ``hoplab up login.hpc`` get one session, not
two jobs), and ``master-<key>`` while a ControlMaster is created (two processes starting one at
once would leave the loser as a plain, unshared ssh connection running in the background).
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from typing import TYPE_CHECKING

from hoplab.paths import private_dir, state_dir
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

# What a holder does under a lock (connect, maybe with a 2FA prompt; decide; record) is short.
LOCK_TIMEOUT = 600.0


@contextmanager
def held(name: str, *, waiting: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the lock ``name``; ``waiting`` is called once if another process holds it.

    Locks of one name do not nest, not even within one process: take each once.
    """
    path = private_dir(state_dir() / "locks") / f"{name}.lock"
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
                what=f"another hoplab process to let go of {path}",
                cap=0.25,
            )
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
