"""Scheduler backends behind one contract (see :mod:`hoplab.schedulers.base`), by name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hoplab.errors import ConfigError
from hoplab.schedulers.htcondor import HtCondor
from hoplab.schedulers.lsf import Lsf
from hoplab.schedulers.none import NoScheduler
from hoplab.schedulers.oar import Oar
from hoplab.schedulers.pbs import PbsPro, Torque
from hoplab.schedulers.sge import GridEngine
from hoplab.schedulers.slurm import Slurm

if TYPE_CHECKING:
    from hoplab.schedulers.base import BatchScheduler, Scheduler

# Every driven scheduler by name, in the order `--scheduler auto` tries them. PBS, Torque and
# Grid Engine share `qsub`: each recognises its own answer to its version command.
BATCH: dict[str, type[BatchScheduler]] = {
    cls.name: cls for cls in (Slurm, PbsPro, Torque, GridEngine, Lsf, Oar, HtCondor)
}

# Submit commands of schedulers hoplab does not drive: found, they get a clear refusal.
UNDRIVEN = ("flux",)


def backend(name: str) -> Scheduler:
    """The backend called ``name`` (``none`` or a batch scheduler, in its newest format)."""
    return NoScheduler() if name == "none" else batch_backend(name)


def batch_backend(name: str, version: tuple[int, int] | None = None) -> BatchScheduler:
    """The batch backend called ``name``, reading the formats of ``version`` where they differ."""
    cls = BATCH.get(name)
    if cls is None:
        raise ConfigError(
            f"unknown scheduler {name!r}",
            key="scheduler",
            hint=f"choose one of: auto, none, {', '.join(BATCH)}",
        )
    return cls(version)
