"""A site's shell environment: Lmod's module tree, and scheduler commands that only the user's
login shell finds.

Every host has Debian's real Lmod (installed machine-wide; its /etc/profile.d/lmod.sh defines
``module`` in login shells only) and a site module tree of its own, bind-mounted over Lmod's
``/etc/lmod/modules``: ``jupyter`` puts the sandbox's Jupyter on the PATH, ``slurm`` the SLURM
commands.

:func:`hide_scheduler` makes a login node look like the many sites whose scheduler is not on
the default PATH: in that host's mount namespace, /usr/bin is replaced by a directory of links
to every program except the SLURM, Grid Engine and OAR commands, and a copy of /etc/profile.d adds
:attr:`Paths.scheduler_bin` (links to the SLURM commands) to a login shell's PATH. A plain
``sh`` over ssh then finds no scheduler; ``bash -l`` finds SLURM. The machine's own files are
never touched.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hoplab.testing.layout import Paths

USR_BIN = Path("/usr/bin")
ETC_PROFILE = Path("/etc/profile.d")
LMOD_SITE_TREE = Path("/etc/lmod/modules")  # on Debian's Lmod MODULEPATH (/etc/lmod/modulespath)

SLURM_COMMANDS = (
    *("sacct", "sacctmgr", "salloc", "sattach", "sbatch", "sbcast", "scancel", "scontrol"),
    *("sdiag", "sinfo", "sprio", "squeue", "sreport", "srun", "sshare", "sstat", "strigger"),
)
GRIDENGINE_COMMANDS = (
    *("qacct", "qalter", "qconf", "qdel", "qhold", "qhost", "qlogin", "qmake_sge", "qmod"),
    *("qping", "qquota", "qrdel", "qresub", "qrls", "qrsh", "qrstat", "qrsub", "qsched"),
    *("qselect", "qsh", "qstat", "qstatus", "qsub", "qtcsh"),
)
OAR_COMMANDS = (
    *("oardel", "oarhold", "oarmonitor_graph_gen", "oarnodes", "oarresume", "oarstat"),
    *("oarsub", "oarwalltime", "oarcp", "oarprint", "oarsh", "oarnodechecklist"),
    "oarnodecheckquery",
)
PROFILE_SCRIPT = "hoplab-sandbox-slurm.sh"


def write_modules(paths: Paths, jupyter_venv: Path) -> None:
    """The site module tree: ``jupyter`` and ``slurm``, as Lua modulefiles."""
    tree = paths.modulefiles
    tree.mkdir(parents=True, exist_ok=True)
    modules = {
        "jupyter": ("The sandbox's JupyterLab", jupyter_venv / "bin"),
        "slurm": ("SLURM's commands", paths.scheduler_bin),
    }
    for name, (what, directory) in modules.items():
        text = f'whatis("{what}")\nprepend_path("PATH", "{directory}")\n'
        (tree / f"{name}.lua").write_text(text)
        (tree / f"{name}.lua").chmod(0o644)


def binds(paths: Paths, host: str) -> tuple[tuple[Path, str], ...]:
    """What :func:`hide_scheduler` and the module tree add to ``host``'s mount namespace."""
    found: tuple[tuple[Path, str], ...] = ()
    if LMOD_SITE_TREE.is_dir() and paths.modulefiles.is_dir():
        found += ((paths.modulefiles, str(LMOD_SITE_TREE)),)
    if paths.scheduler_hidden(host).exists():
        # the real /usr/bin first stays reachable where the links point, then the links
        found += ((USR_BIN, str(paths.real_bin)), (paths.shadow_bin(host), str(USR_BIN)))
        found += ((paths.etc_profile(host), str(ETC_PROFILE)),)
    return found


def hide_scheduler(paths: Paths, host: str) -> None:
    """Write what hides the scheduler from ``host``'s plain shells (effective once its sshd
    restarts with :func:`binds`)."""
    hidden = {*SLURM_COMMANDS, *GRIDENGINE_COMMANDS, *OAR_COMMANDS}
    paths.real_bin.mkdir(parents=True, exist_ok=True)
    shadow = paths.shadow_bin(host)
    shutil.rmtree(shadow, ignore_errors=True)
    shadow.mkdir(parents=True)
    for entry in os.scandir(USR_BIN):
        if entry.name not in hidden:
            (shadow / entry.name).symlink_to(paths.real_bin / entry.name)
    paths.scheduler_bin.mkdir(parents=True, exist_ok=True)
    for name in SLURM_COMMANDS:
        link = paths.scheduler_bin / name
        link.unlink(missing_ok=True)
        link.symlink_to(paths.real_bin / name)
    profile = paths.etc_profile(host)
    shutil.rmtree(profile, ignore_errors=True)
    shutil.copytree(ETC_PROFILE, profile, symlinks=True)
    script = profile / PROFILE_SCRIPT
    script.write_text(f'PATH="$PATH:{paths.scheduler_bin}"\nexport PATH\n')
    script.chmod(0o644)
    paths.scheduler_hidden(host).write_text("hidden\n")


def show_scheduler(paths: Paths, host: str) -> bool:
    """Undo :func:`hide_scheduler` (effective once the sshd restarts); whether it was on."""
    marker = paths.scheduler_hidden(host)
    was = marker.exists()
    marker.unlink(missing_ok=True)
    shutil.rmtree(paths.shadow_bin(host), ignore_errors=True)
    shutil.rmtree(paths.etc_profile(host), ignore_errors=True)
    return was
