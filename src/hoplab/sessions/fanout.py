"""Work on several targets at once: one thread per target, results in the order given.

``ls`` and ``down --all`` spend their time waiting for remote hosts; each target's work is
independent of the others (its own connection, its own scheduler), so they overlap. The
results come back in the order of the targets, whatever order they finish in, so what is
printed is stable. Each target's work keeps its own errors (an unreachable target gives its
sessions a note, or a ``not stopped`` result, and never hides the others'); an error that
escapes it (a bug) is raised once every target is done.

The session store gives each thread its own SQLite connection; callers close those with
:meth:`~hoplab.records.store.SessionStore.close_threads` once the fan-out is over.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

T = TypeVar("T")
R = TypeVar("R")

# Enough for every target a person has sessions on; each thread mostly waits for ssh.
MAX_THREADS = 16


def each(items: Sequence[T], work: Callable[[T], R]) -> list[R]:
    """``work(item)`` for every item, at once (one alone runs in this thread), in order."""
    if len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(
        max_workers=min(MAX_THREADS, len(items)), thread_name_prefix="hoplab-target"
    ) as pool:
        futures = [pool.submit(work, item) for item in items]
        return [future.result() for future in futures]
