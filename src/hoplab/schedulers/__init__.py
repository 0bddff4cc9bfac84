"""Scheduler backends behind one contract (see :mod:`hoplab.schedulers.base`), by name.

Only the names live here: every CLI start reads them (option choices, config checks), while
the backend modules (their parsers, json, xml) are imported when a job is really at hand.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING

from hoplab.errors import ConfigError
from hoplab.protocol import SchedulerName

if TYPE_CHECKING:
    from hoplab.schedulers.base import BatchScheduler, Scheduler

# Every driven scheduler, in the order `--scheduler auto` tries them, with its class. PBS,
# Torque and Grid Engine share `qsub`: each recognises its own answer to its version command.
_CLASSES = {
    "slurm": "slurm:Slurm",
    "pbs": "pbs:PbsPro",
    "torque": "pbs:Torque",
    "sge": "sge:GridEngine",
    "lsf": "lsf:Lsf",
    "oar": "oar:Oar",
    "htcondor": "htcondor:HtCondor",
}
NAMES = tuple(_CLASSES)

# Submit commands of schedulers hoplab does not drive: found, they get a clear refusal.
UNDRIVEN = ("flux",)


@cache
def batch_classes() -> dict[str, type[BatchScheduler]]:
    """Every batch backend's class by name, in detection order."""
    found = {}
    for name, where in _CLASSES.items():
        module, _, cls = where.partition(":")
        found[name] = getattr(importlib.import_module(f"hoplab.schedulers.{module}"), cls)
    return found


def backend(name: str) -> Scheduler:
    """The backend called ``name`` (``none`` or a batch scheduler, in its newest format)."""
    if name == SchedulerName.NONE:
        from hoplab.schedulers.none import NoScheduler

        return NoScheduler()
    return batch_backend(name)


def batch_backend(
    name: str, version: tuple[int, int] | None = None, module: str | None = None
) -> BatchScheduler:
    """The batch backend called ``name``, reading the formats of ``version`` where they differ
    (its commands found after ``module load module``, when one is named)."""
    cls = batch_classes().get(name)
    if cls is None:
        raise ConfigError(
            f"unknown scheduler {name!r}",
            key="scheduler",
            hint=f"choose one of: auto, none, {', '.join(NAMES)}",
        )
    return cls(version, module)
