"""A real cluster on one machine, for hoplab's tests and for ``hoplab sandbox``.

Network namespaces ``login01``, ``node001`` and ``node002`` (the laptop is the root namespace),
a real OpenSSH sshd in each, munge and SLURM (slurmctld on login01, slurmd on the nodes), Grid
Engine (sge_qmaster on login01, sge_execd on the nodes), test users with keys, and a Jupyter
venv every user can run. The nodes are reachable only through
login01, as on a real HPC site. Linux and root only. Everything it owns sits in 10.201.0.0/16,
behind a blackhole route added first, so no packet for a sandbox address leaves the machine;
docs/sandbox.md describes it for users.

    from hoplab.testing import Sandbox
    info = Sandbox().up()          # start, or reuse a healthy running one
    info.run_as_user("node001", "hostname")
    Sandbox().down()               # idempotent; leaves no process, namespace or route

The names below are imported on first use, so importing this package costs nothing and needs
nothing Linux-only.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hoplab.testing.cluster import DaemonStatus, Sandbox, SandboxStatus, TeardownReport
    from hoplab.testing.info import SandboxInfo
    from hoplab.testing.tools import missing_requirements

__all__ = [
    "DaemonStatus",
    "Sandbox",
    "SandboxInfo",
    "SandboxStatus",
    "TeardownReport",
    "missing_requirements",
]

_HOMES = {
    "DaemonStatus": "cluster",
    "Sandbox": "cluster",
    "SandboxStatus": "cluster",
    "TeardownReport": "cluster",
    "SandboxInfo": "info",
    "missing_requirements": "tools",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
