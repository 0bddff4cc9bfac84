"""Command shims for the schedulers that cannot be installed here: PBS Pro, Torque, LSF, OAR,
HTCondor.

Each shim prints its scheduler's documented (and, where we have one, recorded) output and
runs the job for real in the sandbox's SLURM, as the calling user, on a sandbox node (see
:mod:`engine`). The package uses the standard library only and relative imports, so the
sandbox can copy it beside the login node's ``/usr/bin/python3``; :func:`install` puts one
wrapper per command on a host's PATH.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

COMMANDS = {
    "pbs": ("qsub", "qstat", "qdel"),
    "torque": ("qsub", "qstat", "qdel"),
    "lsf": ("bsub", "bjobs", "bkill"),
    "oar": ("oarsub", "oarstat", "oardel"),
    "htcondor": ("condor_submit", "condor_q", "condor_history", "condor_rm", "condor_version"),
}
PACKAGE = "hoplab_shims"


def install(scheduler: str, root: Path, path_dir: Path) -> list[Path]:
    """Copy the shims under ``root`` and put ``scheduler``'s commands in ``path_dir``."""
    target = root / "shims" / PACKAGE
    target.mkdir(parents=True, exist_ok=True)
    for source in Path(__file__).parent.glob("*.py"):
        shutil.copyfile(source, target / source.name)
        (target / source.name).chmod(0o644)
    for folder in (root / "shims", target):
        folder.chmod(0o755)
    path_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for command in COMMANDS[scheduler]:
        wrapper = path_dir / command
        wrapper.write_text(
            "#!/bin/sh\n"
            f"PYTHONPATH={shlex.quote(str(root / 'shims'))} exec /usr/bin/python3 -m {PACKAGE} "
            f'{scheduler} {command} "$@"\n'
        )
        wrapper.chmod(0o755)
        written.append(wrapper)
    return written


def remove(scheduler: str, path_dir: Path) -> None:
    """Take ``scheduler``'s commands off the host's PATH again."""
    for command in COMMANDS[scheduler]:
        (path_dir / command).unlink(missing_ok=True)
