"""Shell completion, driven the way bash drives it (COMP_WORDS, COMP_CWORD)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fake_laptop import environment, record

from hoplab.records.model import SessionState


@pytest.fixture
def laptop(tmp_path: Path) -> dict[str, str]:
    env = environment(tmp_path)
    Path(env["HOPLAB_CONFIG"]).write_text(
        '[profiles.gpu]\nhost = "login.hpc"\n\n[profiles.gpu-big]\nhost = "x"\n\n'
        '[profiles.cpu]\nhost = "y"\n'
    )
    record(env, "cafe1234", state=SessionState.DETACHED)
    record(env, "cab00000", state=SessionState.LOST)
    record(env, "deadbeef", state=SessionState.STOPPED)
    return env


def complete(env: dict[str, str], line: str) -> list[str]:
    """What bash would offer after ``line`` (a trailing space starts a new word)."""
    words = line.split() + ([""] if line.endswith(" ") else [])
    done = subprocess.run(
        [sys.executable, "-m", "hoplab"],
        env={
            **env,
            "_HOPLAB_COMPLETE": "bash_complete",
            "COMP_WORDS": " ".join(words),
            "COMP_CWORD": str(len(words) - 1),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [item.split(",", 1)[1] for item in done.stdout.splitlines() if item]


def test_session_ids(laptop: dict[str, str]) -> None:
    assert complete(laptop, "hoplab attach ca") == ["cafe1234"]  # live ones only
    assert sorted(complete(laptop, "hoplab down ca")) == ["cab00000", "cafe1234"]
    assert sorted(complete(laptop, "hoplab logs ")) == ["cab00000", "cafe1234"]


def test_profile_names(laptop: dict[str, str]) -> None:
    assert complete(laptop, "hoplab up gp") == ["gpu", "gpu-big"]
    assert complete(laptop, "hoplab up x --profile c") == ["cpu"]
    assert complete(laptop, "hoplab up x -p gpu-") == ["gpu-big"]
    assert complete(laptop, "hoplab config show c") == ["cpu"]


def test_choices_and_commands(laptop: dict[str, str]) -> None:
    assert complete(laptop, "hoplab up gpu --scheduler sl") == ["slurm"]
    assert complete(laptop, "hoplab up gpu --reach ") == ["auto", "ssh-node", "login-tcp"]
    assert "completion" in complete(laptop, "hoplab co")
    assert complete(laptop, "hoplab completion z") == ["zsh"]


def test_a_broken_profiles_file_completes_nothing(laptop: dict[str, str]) -> None:
    Path(laptop["HOPLAB_CONFIG"]).write_text("[profiles.gpu\n")
    assert complete(laptop, "hoplab up g") == []


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script(laptop: dict[str, str], shell: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hoplab", "completion", shell],
        env=laptop,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "_HOPLAB_COMPLETE" in done.stdout
    assert f"{shell}_complete" in done.stdout or f"{shell}_source" in done.stdout


def test_a_local_file_option_completes_files(laptop: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hoplab"],
        env={
            **laptop,
            "_HOPLAB_COMPLETE": "bash_complete",
            "COMP_WORDS": "hoplab up gpu --ssh-config ~/.ss",
            "COMP_CWORD": "4",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.split() == ["file,~/.ss"]
