"""The system programs the sandbox needs, found once, with the package that provides each.

Daemons live in /usr/sbin, which is not on every PATH (a non-root shell, some CI runners), so
the lookup adds the system directories after PATH. sshd must be started by absolute path.
"""

from __future__ import annotations

import os
import shutil
import sys
from functools import cache
from pathlib import Path

from hoplab.errors import SandboxError

SYSTEM_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
SYSTEM_PYTHON = Path("/usr/bin/python3")

PACKAGES = {
    "ip": "iproute2",
    "nsenter": "util-linux",
    "unshare": "util-linux",
    "setsid": "util-linux",
    "mount": "mount",
    "env": "coreutils",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "sshd": "openssh-server",
    "munged": "munge",
    "mungekey": "munge",
    "slurmctld": "slurm-wlm",
    "slurmd": "slurm-wlm",
    "sinfo": "slurm-wlm",
    "sge_qmaster": "gridengine-master",
    "sge_execd": "gridengine-exec",
    "qconf": "gridengine-client",
    "useradd": "passwd",
    "usermod": "passwd",
    "nc": "netcat-openbsd",  # the ProxyCommand behind the name "login"
    "oathtool": "oathtool",  # the one-time codes (tests that switch that login on)
}


def find(program: str) -> str | None:
    """Absolute path of ``program`` on PATH or in the system directories, or None."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *SYSTEM_DIRS])
    return shutil.which(program, path=search)


@cache
def tool(program: str) -> str:
    """Absolute path of ``program``; a :class:`SandboxError` naming the package otherwise."""
    path = find(program)
    if path is None:
        package = PACKAGES.get(program, program)
        raise SandboxError(f"{program} not found", f"install it: apt-get install -y {package}")
    return path


def missing_requirements() -> list[str]:
    """Why this machine cannot run the sandbox (empty when it can), one reason per item."""
    if sys.platform != "linux":
        return [f"the sandbox needs Linux (network namespaces), not {sys.platform}"]
    reasons = []
    if os.geteuid() != 0:
        reasons.append("not running as root (network namespaces and daemons need root)")
    reasons.extend(
        f"{program} not found (apt-get install -y {package})"
        for program, package in PACKAGES.items()
        if find(program) is None
    )
    if not SYSTEM_PYTHON.exists():
        reasons.append(f"{SYSTEM_PYTHON} not found (apt-get install -y python3 python3-venv)")
    return reasons
