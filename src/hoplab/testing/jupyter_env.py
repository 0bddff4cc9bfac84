"""The "remote" Jupyter: a venv of Debian's Python with jupyterlab and notebook, for every user.

It is made from /usr/bin/python3 on purpose: a venv made from a Python under /root points at an
interpreter the test users cannot execute ("bad interpreter"). The first creation downloads
Jupyter and takes about a minute; afterwards a marker file, written last and naming the
packages, makes the check instant.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from hoplab import process
from hoplab.errors import CommandError, SandboxError
from hoplab.testing.tools import SYSTEM_PYTHON

MARKER = ".hoplab-sandbox-ready"
PACKAGES = ("jupyterlab", "notebook")  # both front ends of ``hoplab up --app lab|notebook``
# The older Jupyters users still have, each in a venv beside the main one (``jupyter-NAME``),
# made when a test first asks for it (see :func:`ensure_version_venv`), then kept.
VERSION_VENVS = {
    "notebook6": ("notebook==6.5.7",),  # classic: NotebookApp options, nbserver-<pid>.json
    "lab3": ("jupyterlab==3.6.8", "jupyter_server<2"),  # jupyter_server 1.24: "port": 0
}
INSTALL_TIMEOUT = 1200.0

Progress = Callable[[str], None]


def _quiet(message: str) -> None:
    """The default progress callback: the library never prints."""


def _marker_line(packages: tuple[str, ...] = PACKAGES) -> str:
    return "packages: " + " ".join(packages)


def _made_from_system_python(venv: Path) -> bool:
    config = venv / "pyvenv.cfg"
    return (venv / "bin" / "python").exists() and (
        config.exists() and f"home = {SYSTEM_PYTHON.parent}" in config.read_text()
    )


def venv_ready(venv: Path, packages: tuple[str, ...] = PACKAGES) -> bool:
    """True when ``venv`` was completed by us, from the system Python, with every package."""
    marker = venv / MARKER
    return (
        _made_from_system_python(venv)
        and marker.exists()
        and marker.read_text().splitlines()[:1] == [_marker_line(packages)]
    )


def ensure_version_venv(main: Path, name: str, progress: Progress = _quiet) -> Path:
    """The venv of one of :data:`VERSION_VENVS`, beside the ``main`` one; made once."""
    return ensure_jupyter_venv(main.parent / f"jupyter-{name}", progress, VERSION_VENVS[name])


def ensure_jupyter_venv(
    venv: Path, progress: Progress = _quiet, packages: tuple[str, ...] = PACKAGES
) -> Path:
    """Make sure ``venv`` holds a working Jupyter (``packages``) for every user; return it.

    Idempotent: returns at once when the venv is ready. A venv of another interpreter is made
    again; one that misses a package (an interrupted install, an older sandbox) gets it added.
    """
    if venv_ready(venv, packages):
        return venv
    try:
        if not _made_from_system_python(venv):
            if venv.exists():
                progress(f"removing the unusable Jupyter venv at {venv}")
                shutil.rmtree(venv)
            venv.parent.mkdir(parents=True, exist_ok=True)
            venv.parent.chmod(0o755)
            progress(f"creating the Jupyter venv at {venv} from {SYSTEM_PYTHON}")
            process.run([str(SYSTEM_PYTHON), "-m", "venv", str(venv)], timeout=300)
        progress(f"installing {', '.join(packages)} into it (once, about a minute)")
        process.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *packages],
            timeout=INSTALL_TIMEOUT,
        )
        _make_world_readable(venv)
        app = "lab" if (venv / "bin" / "jupyter-lab").exists() else "notebook"
        version = process.run([str(venv / "bin" / f"jupyter-{app}"), "--version"]).stdout.strip()
        process.run([str(venv / "bin" / "jupyter-notebook"), "--version"])
    except CommandError as exc:
        raise SandboxError(
            f"could not create the Jupyter venv at {venv}: {exc.message}",
            "check that python3-venv is installed (apt-get install -y python3-venv) and that "
            "PyPI is reachable; the next start tries again",
        ) from exc
    app_name = "jupyterlab" if app == "lab" else "notebook"
    (venv / MARKER).write_text(f"{_marker_line(packages)}\n{app_name} {version}\n")
    (venv / MARKER).chmod(0o644)
    progress(f"Jupyter venv ready ({app_name} {version})")
    return venv


def _make_world_readable(root: Path) -> None:
    """Whatever root's umask was, let every user read the venv and run its programs."""
    for directory, dirnames, filenames in os.walk(root):
        Path(directory).chmod(0o755)
        for name in filenames:
            path = Path(directory, name)
            if path.is_symlink():
                continue
            mode = path.stat().st_mode
            path.chmod(mode | 0o444 | (0o111 if mode & 0o100 else 0))
        dirnames[:] = [d for d in dirnames if not Path(directory, d).is_symlink()]
