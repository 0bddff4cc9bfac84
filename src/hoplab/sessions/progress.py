"""Progress events: the library reports steps; the CLI decides how to show them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """A step that started (``done`` False) or finished, with how long it took."""

    name: str
    message: str
    seconds: float = 0.0
    done: bool = True


Progress = Callable[[Step], None]


def silent(_: Step) -> None:
    """A progress sink that shows nothing."""


@contextmanager
def step(progress: Progress, name: str, starting: str) -> Iterator[list[str]]:
    """Report ``starting``, run the block, then report the message the block left in ``[0]``."""
    began = time.monotonic()
    progress(Step(name, starting, done=False))
    result = [starting]
    yield result
    progress(Step(name, result[0], time.monotonic() - began))
