"""Scheduler backends behind one contract (see :mod:`hoplab.schedulers.base`), by name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hoplab.errors import ConfigError
from hoplab.schedulers.none import NoScheduler
from hoplab.schedulers.slurm import Slurm

if TYPE_CHECKING:
    from hoplab.schedulers.base import BatchScheduler, Scheduler

BATCH: dict[str, type[BatchScheduler]] = {"slurm": Slurm}

# What `--scheduler auto` looks for on the login node, in this order.
DETECT = ("sbatch", "qsub", "bsub", "oarsub", "condor_submit")


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
