"""Bounded waits with backoff: the only way hoplab (and its tests) wait for anything."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TypeVar

from hoplab.errors import WaitTimeoutError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

T = TypeVar("T")


def backoff(initial: float, factor: float, cap: float) -> Iterator[float]:
    """Delays ``initial, initial*factor, ...`` up to ``cap``, forever (the caller bounds it)."""
    delay = initial
    while True:
        yield delay
        delay = min(delay * factor, cap)


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float,
    *,
    what: str,
    initial: float = 0.02,
    factor: float = 2.0,
    cap: float = 0.5,
    hint: str = "",
) -> T:
    """Call ``predicate`` until it returns something truthy, and return that.

    Waits with exponential backoff between calls and never past ``timeout`` seconds; then
    raises :class:`WaitTimeoutError` naming ``what``. The predicate is always called at least
    once, and once more right at the deadline, so a slow first call cannot waste the budget.
    """
    deadline = time.monotonic() + timeout
    for delay in backoff(initial, factor, cap):
        result = predicate()
        if result:
            return result
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeoutError(what, timeout, hint)
        time.sleep(min(delay, remaining))
    raise AssertionError("unreachable")  # pragma: no cover
