"""One definition per setting: the command line and a profile apply the same rule."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import click
import pytest

from hoplab import config, options
from hoplab.cli.flags import SettingType, param_name
from hoplab.cli.up import up
from hoplab.errors import ConfigError
from hoplab.schedulers.base import checked_mem, parse_duration

if TYPE_CHECKING:
    from pathlib import Path

# Flags of `up` that are about this run, not settings a profile could hold.
COMMAND_ONLY = {"profile", "detach", "new", "background", "as_json", "verbose", "help"}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 5400),
        ("1:30:00", 5400),
        ("2-00:00:00", 172800),
        ("2-12", 216000),
        ("1h30m", 5400),
        ("45m", 2700),
        ("2h", 7200),
        ("10:30", 630),  # MM:SS, as SLURM reads it
        ("0:00:12", 12),
    ],
)
def test_durations_accepted(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("99:99", "seconds must be below 60"),
        ("1:99:00", "minutes must be below 60"),
        ("1:30:75", "seconds must be below 60"),
        ("1h75m", "minutes must be below 60 after hours"),
        ("2-30:00:00", "hours must be below 24 after days"),
        ("0", "zero"),
        ("0:00:00", "zero"),
        ("400-00:00:00", "longer than a year"),
        ("90s", "none of the accepted forms"),
        ("", "none of the accepted forms"),
    ],
)
def test_durations_refused_with_the_accepted_forms(text: str, why: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_duration(text)
    assert why in caught.value.detail
    assert "H:MM:SS (1:30:00)" in caught.value.detail
    assert "1h30m" in caught.value.detail


@pytest.mark.parametrize("text", ["4X", "G4", "4 GB B", "-1G", ""])
def test_memory_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="amount of memory"):
        checked_mem(text)


@pytest.mark.parametrize("text", ["4G", "500M", "1.5T", "2048", "4gb"])
def test_memory_accepted(text: str) -> None:
    assert checked_mem(text) == text


@pytest.mark.parametrize(
    ("key", "toml", "said"),
    [
        ("port", "99999", "from 1 to 65535"),
        ("cpus", "-1", "at least 1"),
        ("gpus", "0", "at least 1"),
        ("start_timeout", "0", "at least 5"),
        ("walltime_warning", "-5", "at least 0"),
        ("time", '"99:99"', "seconds must be below 60"),
        ("time", '"1:99:00"', "minutes must be below 60"),
        ("time", '"0"', "zero"),
        ("lease", '"1h99m"', "minutes must be below 60"),
        ("idle_timeout", '"0"', "zero"),
        ("mem", '"4X"', "amount of memory"),
        ("forward", '["dask=87x"]', "NAME=PORT"),
        ("directive", '["a\\nb"]', "line break"),
        ("app", '"classic"', "one of lab, notebook"),
    ],
)
def test_a_profile_gets_the_command_lines_rule(
    tmp_path: Path, key: str, toml: str, said: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'[defaults]\napp = "lab"\n\n[profiles.x]\nhost = "h"\n{key} = {toml}\n')
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    error = caught.value
    assert (error.file, error.line, error.key) == (str(path), 6, key)
    assert f"{path}, line 6, key '{key}'" in str(error)
    assert said in str(error)
    # ... and the command line refuses the same value with the same words
    option = options.OPTIONS[key]
    if option.choices:
        return
    given = toml.strip('"[]').replace("\\n", "\n")
    with pytest.raises(click.BadParameter) as refused:
        SettingType(option).convert(given, None, None)
    assert said in refused.value.message


def test_good_profile_values_settle(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[profiles.x]\nhost = "h"\nport = 8888\ntime = "2-00:00:00"\nmem = "16G"\n'
        'forward = "tb=6006"\nmux = false\n'
    )
    values = config.load(path).profiles["x"]
    assert values["port"] == 8888
    assert values["forward"] == ("tb=6006",)
    assert values["mux"] is False


def test_environment_values_get_the_same_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOPLAB_SCHEDULER", "slurmm")
    with pytest.raises(ConfigError) as caught:
        config.resolve("h", {}, config.load(tmp_path / "none.toml"))
    assert "environment HOPLAB_SCHEDULER" in str(caught.value)
    assert "HOPLAB_SCHEDULER" in caught.value.hint


def test_no_option_is_defined_twice() -> None:
    """Every click option of `up` comes from a definition, and each definition is one key."""
    keys = [option.key for option in options.DEFINITIONS]
    assert len(keys) == len(set(keys))
    assert all(option.key for option in options.DEFINITIONS)  # every option has a profile key
    from_definitions = {
        param_name(option): option for option in options.DEFINITIONS if option.flag_names
    }
    params = [param for param in up.params if isinstance(param, click.Option)]
    for param in params:
        assert param.name in from_definitions or param.name in COMMAND_ONLY, param.name
    names = [param.name for param in params]
    assert len(names) == len(set(names))
    assert set(from_definitions) <= set(names)
    spellings = [flag for param in params for flag in param.opts + param.secondary_opts]
    assert len(spellings) == len(set(spellings))
    for name, option in from_definitions.items():
        [param] = [p for p in params if p.name == name]
        assert param.help is not None
        assert param.help.startswith(option.off_help or option.help)
        assert tuple(param.opts) == tuple(sorted(option.flag_names, key=option.flag_names.index))
    # a profile key maps to exactly one definition, and the template lists them all
    assert set(config.OPTIONS) == set(keys)
    assert all(key in config.template() for key in keys)


def test_settings_are_not_given_defaults_on_the_command_line() -> None:
    """A click default would beat the profile: precedence needs None when not given."""
    for param in up.params:
        if isinstance(param, click.Option) and param.name not in COMMAND_ONLY:
            assert param.default in (None, False, ()), param.name


def test_reference_markdown_lists_every_option() -> None:
    table = options.reference_markdown()
    lines = table.splitlines()
    assert len(lines) == 2 + len(options.DEFINITIONS)
    assert "`HOPLAB_SSH_CONFIG`" in table
    assert "`HOPLAB_SCHEDULER`" in table
    assert "`--partition TEXT`, `--queue TEXT`" in table
    assert "`--no-mux`" in table
    assert all(line.count("|") - line.count("\\|") == 6 for line in lines)
    printed = subprocess.run(
        [sys.executable, "-m", "hoplab.options"], capture_output=True, text=True, check=True
    ).stdout
    assert printed == table
