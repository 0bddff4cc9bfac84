"""Scheduler backends behind one contract (see :mod:`hoplab.schedulers.base`), by name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hoplab.errors import ConfigError
from hoplab.schedulers.none import NoScheduler
from hoplab.schedulers.slurm import Slurm

if TYPE_CHECKING:
    from hoplab.schedulers.base import Scheduler

BACKENDS: dict[str, type[Scheduler]] = {"none": NoScheduler, "slurm": Slurm}

# What `--scheduler auto` looks for on the login node, in this order.
DETECT = ("sbatch", "qsub", "bsub", "oarsub", "condor_submit")


def backend(name: str, version: tuple[int, int] | None = None) -> Scheduler:
    """The backend called ``name``."""
    cls = BACKENDS.get(name)
    if cls is None:
        raise ConfigError(
            f"unknown scheduler {name!r}",
            key="scheduler",
            hint=f"choose one of: auto, {', '.join(BACKENDS)}",
        )
    return cls(version)
