"""``alive`` of the remote scripts (``common.sh``), run by sh here on real processes: a stop asks
it in a loop for every session, so it reads /proc without starting a process where it can."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hoplab import paths
from hoplab.waiting import wait_until

COMMON = Path(paths.__file__).parent / "launcher" / "sh" / "common.sh"


def alive(pid: int, path: str = "/usr/bin:/bin") -> bool:
    script = f'{COMMON.read_text()}\nalive "$1"'
    done = subprocess.run(
        ["/bin/sh", "-c", script, "sh", str(pid)], env={"PATH": path, "HOME": "/nonexistent"},
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    assert done.stderr == ""
    return done.returncode == 0


@pytest.fixture
def odd_name(tmp_path: Path) -> subprocess.Popen[bytes]:
    """A process whose name holds ") " (the state in /proc/PID/stat follows the name)."""
    link = tmp_path / "a) b"
    link.symlink_to("/bin/sleep")
    return subprocess.Popen([str(link), "60"])


def test_a_running_process_is_alive_even_with_an_odd_name(
    odd_name: subprocess.Popen[bytes],
) -> None:
    try:
        assert alive(odd_name.pid)
        assert alive(odd_name.pid, path="/nonexistent")  # no ps needed on Linux
    finally:
        odd_name.kill()
        odd_name.wait(10)
    assert not alive(odd_name.pid)  # reaped: gone


def test_a_zombie_and_a_missing_process_are_not_alive() -> None:
    child = subprocess.Popen(["true"])
    try:
        wait_until(
            lambda: Path(f"/proc/{child.pid}/stat").read_text().rsplit(") ", 1)[1][0] == "Z",
            10,
            what="the child to exit (not reaped)",
        )
        assert not alive(child.pid)
    finally:
        child.wait(10)
    assert not alive(0x3FFFFFFF)  # beyond any pid_max
