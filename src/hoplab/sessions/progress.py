"""Progress events: the library reports steps; the CLI decides how to show them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

log = logging.getLogger(__name__)


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
    log.debug("step %s begins", name)
    progress(Step(name, starting, done=False))
    result = [starting]
    yield result
    took = time.monotonic() - began
    log.debug("step %s done in %.3f s", name, took)
    progress(Step(name, result[0], took))
