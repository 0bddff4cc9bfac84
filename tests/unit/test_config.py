from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from hoplab import config
from hoplab.errors import ConfigError, UnknownProfileError

if TYPE_CHECKING:
    from pathlib import Path

GOOD = """\
[defaults]
app = "notebook"

[profiles.gpu]
host = "gpu-server"
jump = ["gateway"]
venv = "~/envs/jupyter"
module = "python/3.11"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_missing_file_is_empty(tmp_path: Path) -> None:
    loaded = config.load(tmp_path / "nope.toml")
    assert loaded.profiles == {}


def test_precedence_and_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, GOOD)
    monkeypatch.setenv("HOPLAB_SSH_CONFIG", "/env/ssh_config")
    resolved = config.resolve("gpu", {"workdir": "/cli"}, config.load(path))
    assert resolved.destination == "gpu-server"
    assert resolved["workdir"] == "/cli"
    assert resolved.settings["workdir"].source == "command line"
    assert resolved["venv"] == "~/envs/jupyter"
    assert resolved.settings["venv"].source == f"profile 'gpu' ({path}:7)"
    assert resolved["module"] == ("python/3.11",)
    assert resolved["jump"] == ("gateway",)
    assert resolved["ssh_config"] == "/env/ssh_config"
    assert resolved.settings["ssh_config"].source == "environment HOPLAB_SSH_CONFIG"
    assert resolved["app"] == "notebook"
    assert resolved.settings["app"].source.startswith("[defaults]")
    assert resolved["mux"] is True
    assert resolved.settings["mux"].source == "default"


def test_command_line_beats_profile(tmp_path: Path) -> None:
    resolved = config.resolve("gpu", {"venv": "/other"}, config.load(write(tmp_path, GOOD)))
    assert resolved["venv"] == "/other"


def test_a_plain_host_is_not_a_profile(tmp_path: Path) -> None:
    resolved = config.resolve("user@elsewhere", {}, config.load(write(tmp_path, GOOD)))
    assert resolved.profile is None
    assert resolved.destination == "user@elsewhere"
    assert resolved["venv"] is None


def test_unknown_explicit_profile(tmp_path: Path) -> None:
    with pytest.raises(UnknownProfileError) as caught:
        config.resolve("x", {}, config.load(write(tmp_path, GOOD)), profile="gpx")
    assert "unknown profile 'gpx'" in str(caught.value)
    assert "gpu" in str(caught.value)


def test_malformed_toml_names_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[profiles.a]\nhost = "x"\nvenv = "unterminated\n')
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    error = caught.value
    assert error.file == str(path)
    assert error.line == 3
    assert error.key == "venv"
    assert str(path) in str(error)
    assert "line 3" in str(error)


def test_unknown_key_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[profiles.a]\nhost = "x"\n\nvnev = "/typo"\n')
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    assert (caught.value.line, caught.value.key) == (4, "vnev")
    assert "venv" in caught.value.hint


def test_wrong_type_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[defaults]\napp = "lab"\nport = "eighty"\n')
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    assert (caught.value.line, caught.value.key) == (3, "port")
    assert "whole number" in str(caught.value)


def test_bad_choice(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="one of lab, notebook"):
        config.load(write(tmp_path, '[defaults]\napp = "classic"\n'))


def test_template_is_valid(tmp_path: Path) -> None:
    loaded = config.load(write(tmp_path, config.template()))
    assert loaded.defaults == {"app": "lab"}
