"""Bad values are refused while parsing: not one ssh call is made (issue 16)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def laptop(tmp_path: Path) -> dict[str, str]:
    """An environment whose `ssh` is a wrapper that records each call and fails."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "ssh"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {tmp_path / "ssh-calls"}\n'
        'echo "ssh: connect to host nowhere port 22: Connection refused" >&2\n'
        "exit 255\n"
    )
    wrapper.chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOPLAB_CONFIG": str(tmp_path / "config.toml"),
        "HOPLAB_STATE_DIR": str(tmp_path / "state"),
        "HOPLAB_RUNTIME_DIR": str(tmp_path / "run"),
        "CALLS": str(tmp_path / "ssh-calls"),
    }


def hoplab(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hoplab", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def ssh_calls(env: dict[str, str]) -> list[str]:
    calls = Path(env["CALLS"])
    return calls.read_text(encoding="utf-8").splitlines() if calls.exists() else []


def test_the_wrapper_sees_a_good_value(laptop: dict[str, str]) -> None:
    """The control: with good values, hoplab does reach the (recording) ssh."""
    done = hoplab(laptop, "up", "nowhere", "--time", "90", "--mem", "4G", "--no-browser")
    assert done.returncode == 1
    assert ssh_calls(laptop)


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (("--time", "99:99"), "seconds must be below 60"),
        (("--time", "1:99:00"), "minutes must be below 60"),
        (("--time", "0"), "zero"),
        (("--mem", "4X"), "amount of memory"),
        (("--lease", "1h99m"), "minutes must be below 60"),
        (("--port", "99999"), "from 1 to 65535"),
        (("--forward", "tb"), "NAME=PORT"),
    ],
)
def test_bad_command_line_values_make_no_ssh_call(
    laptop: dict[str, str], flags: tuple[str, ...], said: str
) -> None:
    done = hoplab(laptop, "up", "nowhere", *flags)
    assert done.returncode == 2
    assert said in done.stderr
    assert "H:MM:SS" in done.stderr or flags[0] != "--time"
    assert "Traceback" not in done.stderr
    assert ssh_calls(laptop) == []


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ('time = "99:99"', "seconds must be below 60"),
        ('time = "1:99:00"', "minutes must be below 60"),
        ('time = "0"', "zero"),
        ('mem = "4X"', "amount of memory"),
        ("port = 99999", "from 1 to 65535"),
        ("cpus = -1", "at least 1"),
        ("start_timeout = 0", "at least 5"),
    ],
)
def test_bad_profile_values_make_no_ssh_call(laptop: dict[str, str], line: str, said: str) -> None:
    path = laptop["HOPLAB_CONFIG"]
    Path(path).write_text(f'[profiles.gpu]\nhost = "nowhere"\n{line}\n', encoding="utf-8")
    done = hoplab(laptop, "up", "gpu")
    assert done.returncode == 1
    key = line.split(" =", maxsplit=1)[0]
    assert f"{path}, line 3, key '{key}'" in done.stderr
    assert said in done.stderr
    assert "Traceback" not in done.stderr
    assert ssh_calls(laptop) == []
