"""Helper threads leave the signals a user sends to the main thread.

Python runs signal handlers in the main thread only, but POSIX lets a signal sent to the
process reach any thread that does not block it (Linux mostly picks the main thread; macOS
need not). One that reaches a helper thread (the relay's event loop waiting in kqueue or epoll,
say) interrupts nothing in the main thread, so a Ctrl-C while ``up`` waits for the queue would
be seen only when that wait's round trip ends. A helper thread therefore blocks them as it
starts, and the system gives them to the main thread.
"""

from __future__ import annotations

import signal

# what a terminal, a logout or ``kill`` sends: each ends or detaches hoplab
USER_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


def leave_signals_to_main() -> None:
    """Block the user's signals in the calling (helper) thread."""
    signal.pthread_sigmask(signal.SIG_BLOCK, USER_SIGNALS)
