"""The job's walltime as a supervisor sees it: the time left, and one warning before the end."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from hoplab.records.model import Session


def left_text(end: float, now: float) -> str:
    """``3h59m`` or ``7 min``: the walltime left, in whole minutes."""
    minutes = max(0, int(end - now) // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes} min"


class Walltime:
    """Warns once, ``warn_minutes`` before the job's walltime ends (None: never)."""

    def __init__(self, warn_minutes: int | None, clock: Callable[[], float] = time.time) -> None:
        self.warn_minutes = warn_minutes
        self.clock = clock
        self.warned = False

    def warning(self, session: Session) -> str | None:
        """The warning, the first time it is due for ``session`` (whose end the scheduler may
        have told since the last call); None otherwise."""
        end = session.walltime_end
        if self.warned or self.warn_minutes is None or end is None:
            return None
        now = self.clock()
        if now < end - 60 * self.warn_minutes:
            return None
        self.warned = True
        return (
            f"the job's walltime ends in {left_text(end, now)}: save your work "
            "(Jupyter stops with the job)"
        )
