"""Signals and hoplab's threads: the relay's thread blocks the user's signals, so that the system
gives a Ctrl-C to the main thread and interrupts its wait, never to the relay's loop waiting in
epoll or kqueue, where it would interrupt nothing; a thread that starts processes blocks none,
for its children would inherit the mask and ignore a TERM."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest

from hoplab import process
from hoplab.sessions import fanout
from hoplab.tunnel import relay

linux_only = pytest.mark.skipif(
    not Path("/proc/thread-self/status").exists(), reason="reads /proc (Linux)"
)
USER = {int(s) for s in relay.USER_SIGNALS}


def blocked(status: Path) -> set[int]:
    """The signals blocked by the thread or process whose /proc status file is ``status``."""
    for line in status.read_text().splitlines():
        if line.startswith("SigBlk:"):
            mask = int(line.split()[1], 16)
            return {n for n in range(1, 65) if mask & (1 << (n - 1))}
    raise AssertionError("no SigBlk line")


@linux_only
def test_the_relay_thread_leaves_the_users_signals_to_the_main_thread(tmp_path: Path) -> None:
    served = relay.serve(0, str(tmp_path / "absent.sock"))
    try:
        (thread,) = [t for t in threading.enumerate() if t.name == f"hoplab-relay-{served.port}"]
        assert thread.native_id is not None
        assert blocked(Path(f"/proc/self/task/{thread.native_id}/status")) >= USER
    finally:
        relay.stop(served.port)
    assert not blocked(Path("/proc/thread-self/status")) & USER


@linux_only
def test_a_process_started_by_a_per_target_thread_obeys_a_term() -> None:
    """ssh masters and ``close-idle`` are started from these threads."""
    children = fanout.each([1, 2], lambda _n: process.spawn(["sleep", "60"]))
    try:
        for child in children:
            assert not blocked(Path(f"/proc/{child.pid}/status")) & USER
            child.terminate()
            assert child.wait(10) == -signal.SIGTERM
    finally:
        for child in children:
            child.kill()
            child.communicate(timeout=10)  # reaped, and its pipes closed
