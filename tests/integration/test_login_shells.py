"""tcsh as the test user's login shell, as many older sites still give their users.

sshd runs every remote command through the login shell (``tcsh -c 'sh -s'``). hoplab sends
its scripts on stdin to ``sh -s``, so up, ls, logs (also ``-f``) and down work as with bash;
job scripts run under /bin/sh whatever the login shell.
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import pytest
from kernel import run_code, split_url

import shims
from conftest import OTHERS, hide
from hoplab.testing.layout import LOGIN
from hoplab.tunnel.forwards import status_code
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from conftest import Laptop
    from hoplab.testing.info import SandboxInfo

pytestmark = pytest.mark.sandbox

TCSH = "/usr/bin/tcsh"
HOSTNAME = "import socket; print(socket.gethostname())"


@pytest.fixture
def tcsh_user(hoplab_sandbox: SandboxInfo) -> Iterator[str]:
    """The test user's login shell is tcsh for this test; bash again afterwards."""
    before = (
        subprocess.run(
            ["getent", "passwd", hoplab_sandbox.user], capture_output=True, text=True, check=True
        )
        .stdout.strip()
        .split(":")[-1]
    )
    subprocess.run(["usermod", "-s", TCSH, hoplab_sandbox.user], check=True, timeout=30)
    try:
        said = hoplab_sandbox.run_as_user(LOGIN, "echo $0\n")  # sh's own $0: via tcsh -c
        assert said.returncode == 0
        shell = hoplab_sandbox.run_as_user(LOGIN, "ps -o comm= -p $PPID\n").stdout.strip()
        assert shell == "tcsh", f"the login shell is {shell!r}, not tcsh"
        yield TCSH
    finally:
        subprocess.run(["usermod", "-s", before, hoplab_sandbox.user], check=True, timeout=30)


def _follow(laptop: Laptop, session_id: str, port: int) -> str:
    """``logs -f`` sees a line Jupyter writes while it follows (a refused request)."""
    follower = laptop.spawn("logs", session_id, "-f", "-n", "1")
    try:
        assert follower.stdout is not None
        wait_until(follower.stdout.readline, 30, what="the last log line")
        assert status_code(port, "/", "wrong-token") == 403
        return wait_until(
            lambda: (
                (text if "403" in (text := follower.stdout.readline()) else None)
                if follower.stdout
                else None
            ),
            30,
            what="the 403 in the followed log",
        )
    finally:
        follower.terminate()
        follower.communicate(timeout=30)


@pytest.mark.parametrize("where", ["plain", "slurm", "pbs", "lsf"])
def test_tcsh_login_shell(
    where: str,
    tcsh_user: str,
    cluster_laptop: Laptop,
    login_path: Path,
    hoplab_sandbox: SandboxInfo,
) -> None:
    """PBS runs a job in the login shell unless ``-S`` names one, and LSF runs its script file
    by its ``#!`` line (the OpenPBS 23.06 and LSF 10.1 shims do as those documents say): the
    launcher is POSIX sh, so the job only starts when it runs under /bin/sh."""
    laptop = cluster_laptop
    if where == "plain":
        result = laptop.up("node001", "--scheduler", "none")
    elif where == "slurm":
        result = laptop.up(LOGIN, "--time", "10")
    else:
        laptop.env.pop("HOPLAB_SCHEDULER")  # found on its own
        hide(login_path, *OTHERS)
        shims.install(where, hoplab_sandbox.root_dir, login_path)
        result = laptop.up(LOGIN, "--time", "10")
        assert result["session"]["scheduler"] == where
    session = result["session"]
    base, token = split_url(result["url"])
    assert run_code(base, token, HOSTNAME).strip() == session["host"]
    (listed,) = laptop.json("ls")["sessions"]
    assert listed["state"] == "ready"
    assert laptop.run("logs", session["id"], "-n", "5").stdout.strip()
    port = int(base.rsplit(":", 1)[1].split("/")[0])
    assert "/api/status" in _follow(laptop, session["id"], port)
    (down,) = laptop.json("down", session["id"])["results"]
    assert down["clean"], down
