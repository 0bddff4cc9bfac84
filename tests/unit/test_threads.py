"""Helper threads block the user's signals (see hoplab.threads): the system then gives a Ctrl-C
to the main thread and interrupts its wait, never to a relay waiting in epoll or kqueue, where
it would interrupt nothing."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest

from hoplab.sessions import fanout
from hoplab.threads import USER_SIGNALS
from hoplab.tunnel import relay

linux_only = pytest.mark.skipif(
    not Path("/proc/thread-self/status").exists(), reason="reads /proc (Linux)"
)


def blocked(native_id: int) -> set[int]:
    """The signals the thread ``native_id`` of this process blocks."""
    for line in Path(f"/proc/self/task/{native_id}/status").read_text().splitlines():
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
        assert blocked(thread.native_id) >= {int(s) for s in USER_SIGNALS}
    finally:
        relay.stop(served.port)
    assert not blocked(threading.get_native_id()) & {int(s) for s in USER_SIGNALS}


@linux_only
def test_the_threads_that_work_on_each_target_leave_them_too() -> None:
    masks = fanout.each([1, 2], lambda _n: blocked(threading.get_native_id()))
    for mask in masks:
        assert mask >= {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
