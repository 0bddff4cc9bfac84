"""A login that talks: shell startup files print banners on stdout and stderr, as real sites'
``.bashrc``, ``.profile``, motd scripts and ``module`` banners do.

hoplab reads only its own frames, so with the banners on every session still becomes ready, ``ls``
shows the job's real state (never "unknown"), ``down`` is clean without waiting out a query,
and ``logs`` (also ``-f``) show Jupyter's log without a banner line. SLURM is the sandbox's
real one; PBS Pro is the shim (tests/shims) printing OpenPBS 23.06's ``qstat -f -F json`` format.
"""

from __future__ import annotations

import json
import os
import pwd
import select
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import shims
from conftest import OTHERS, hide
from hoplab.testing.layout import LOGIN

if TYPE_CHECKING:
    from collections.abc import Iterator

    from conftest import Laptop
    from hoplab.testing.info import SandboxInfo

pytestmark = pytest.mark.sandbox

BANNER = "Welcome to the cluster"
NOISE = (
    f'echo "{BANNER}, $(id -un)"\n'
    'echo "quota: 91% of /home used" >&2\n'
    'echo "HOPLAB dir /not/hoplab"\n'  # even a line that looks like ours is only noise
)


@pytest.fixture
def noisy_login(hoplab_sandbox: SandboxInfo) -> Iterator[str]:
    """Banners at the top of the test user's ``.bashrc`` and ``.profile``; restored after."""
    home = Path(pwd.getpwnam(hoplab_sandbox.user).pw_dir)
    saved: dict[Path, bytes | None] = {}
    try:
        for name in (".bashrc", ".profile"):
            path = home / name
            saved[path] = path.read_bytes() if path.exists() else None
            path.write_bytes(NOISE.encode() + (saved[path] or b""))
        said = hoplab_sandbox.run_as_user(LOGIN, "true\n")
        assert BANNER in said.stdout, "the banner must really reach ssh's output"
        assert "quota" in said.stderr
        yield BANNER
    finally:
        for path, content in saved.items():
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)


def _follow_first_lines(laptop: Laptop, session_id: str, count: int) -> list[str]:
    """The first ``count`` lines of ``logs -f`` (bounded in time), then stop it."""
    follower = laptop.spawn("logs", session_id, "-f", "-n", str(count))
    received = b""
    deadline = time.monotonic() + 30
    try:
        assert follower.stdout is not None
        fd = follower.stdout.fileno()  # raw reads: select sees no data a buffer already holds
        while received.count(b"\n") < count and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                received += chunk
    finally:
        follower.terminate()
        follower.communicate(timeout=30)
    return received.decode().splitlines(keepends=True)[:count]


@pytest.mark.parametrize("name", ["slurm", "pbs"])
def test_a_talking_login_changes_nothing(
    name: str,
    noisy_login: str,
    cluster_laptop: Laptop,
    hoplab_sandbox: SandboxInfo,
    login_path: Path,
) -> None:
    if name == "pbs":
        cluster_laptop.env.pop("HOPLAB_SCHEDULER")  # found on its own, behind the noise
        hide(login_path, *OTHERS)
        shims.install(name, hoplab_sandbox.root_dir, login_path)
    laptop = cluster_laptop
    session = laptop.up(LOGIN, "--time", "30")["session"]
    assert session["scheduler"] == name

    (listed,) = laptop.json("ls")["sessions"]
    assert listed["state"] == "ready"
    assert "unknown" not in listed["note"]
    table = laptop.run("ls").stdout
    assert "unknown" not in table
    assert noisy_login not in table

    log = laptop.run("logs", session["id"], "-n", "50").stdout
    assert log.strip(), "the Jupyter log is there"
    assert noisy_login not in log
    assert "quota" not in log
    followed = _follow_first_lines(laptop, session["id"], 5)
    assert len(followed) == 5
    assert not [line for line in followed if noisy_login in line or "quota" in line]

    down = laptop.run("--debug", "down", session["id"], "--json", timeout=120)
    for symptom in ("did not answer", "unknown", "unreadable", "unexpected line"):
        assert symptom not in down.stderr  # the queue answered at once, as without the noise
    (result,) = json.loads(down.stdout)["results"]
    assert result["clean"], result
    assert all(result["checks"].values())
