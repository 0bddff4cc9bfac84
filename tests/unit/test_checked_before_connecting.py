"""Bad values are refused while parsing: not one ssh call is made (issue 16)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_laptop import environment, hoplab, ssh_calls


@pytest.fixture
def laptop(tmp_path: Path) -> dict[str, str]:
    return environment(tmp_path)


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
