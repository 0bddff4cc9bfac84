"""hoplab: Jupyter on a remote host or an HPC compute node, one command from the laptop."""

from __future__ import annotations

__version__ = "0.1.0"
