"""Profiles: TOML plus the command line, each value with where it came from.

The profiles file (``hoplab config init`` writes a commented one) looks like::

    [defaults]            # applies to every target
    app = "lab"

    [profiles.gpu]        # `hoplab up gpu`
    host = "gpu-server"   # anything ssh accepts, including ~/.ssh/config aliases
    venv = "~/envs/jupyter"

Precedence: command line > profile > environment (HOPLAB_SSH_CONFIG, HOPLAB_SCHEDULER) >
[defaults] > built-in. Each key is defined once, in :mod:`hoplab.options`, with the rule the
command line applies too. Every validation error names the file, the line and the key.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hoplab.errors import ConfigError, UnknownProfileError
from hoplab.options import OPTIONS, Option, check, parse_forward

__all__ = ["OPTIONS", "ConfigFile", "Resolved", "Setting", "load", "parse_forward", "resolve"]

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path


@dataclass(frozen=True)
class Setting:
    """A resolved value and a human-readable note of where it came from."""

    value: Any
    source: str
    general: bool = False  # from [defaults] or the environment: meant for every target


@dataclass(frozen=True)
class ConfigFile:
    """The parsed profiles file. A missing file is an empty one."""

    path: Path
    text: str = ""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    profiles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def line_of(self, table: str, key: str) -> int | None:
        """The line where ``key`` is set inside ``[table]``, for error messages."""
        current = ""
        for number, line in enumerate(self.text.splitlines(), start=1):
            header = re.match(r"\s*\[\s*([^\]]+?)\s*\]", line)
            if header:
                current = header.group(1).replace('"', "").replace(" ", "")
            elif current == table and re.match(rf"\s*\"?{re.escape(key)}\"?\s*=", line):
                return number
        return None


@dataclass(frozen=True)
class Resolved:
    """Everything ``up`` needs to know about a target, each value with its source."""

    target: str
    profile: str | None
    settings: Mapping[str, Setting]

    def __getitem__(self, name: str) -> Any:
        return self.settings[name].value

    @property
    def destination(self) -> str:
        host = self.settings["host"].value
        return str(host) if host else self.target


def load(path: Path) -> ConfigFile:
    """Read and validate the profiles file at ``path`` (a missing file is empty)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ConfigFile(path)
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=str(path)) from exc
    if sys.version_info >= (3, 11):  # imported here: most runs have no profiles file
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = _error_line(exc)
        raise ConfigError(
            f"not valid TOML: {str(exc).split(' (at line')[0]}",
            file=str(path),
            line=line,
            key=_key_on_line(text, line),
            hint="fix the line, or start again from 'hoplab config init --force'",
        ) from exc
    config = ConfigFile(path, text)
    unknown_tables = set(data) - {"defaults", "profiles"}
    if unknown_tables:
        name = min(unknown_tables)
        raise ConfigError(
            "unknown table (expected [defaults] or [profiles.NAME])",
            file=str(path),
            line=config.line_of(name, "") or _first_line_with(text, name),
            key=name,
        )
    defaults = _validated(config, "defaults", data.get("defaults", {}))
    profiles = {
        name: _validated(config, f"profiles.{name}", values)
        for name, values in data.get("profiles", {}).items()
    }
    return ConfigFile(path, text, defaults, profiles)


def resolve(
    target: str,
    command_line: Mapping[str, Any],
    config: ConfigFile,
    *,
    profile: str | None = None,
) -> Resolved:
    """Combine command line, profile, environment and defaults for ``target``.

    ``target`` is a profile name when the file has one of that name, else an ssh destination.
    ``profile`` names one explicitly; an unknown explicit name is an error.
    """
    if profile is not None and profile not in config.profiles:
        known = ", ".join(sorted(config.profiles)) or "none yet"
        raise UnknownProfileError(
            f"unknown profile '{profile}' (known: {known})",
            file=str(config.path),
            hint="list them with 'hoplab config show'; create one with 'hoplab config init'",
        )
    name = profile or (target if target in config.profiles else None)
    values = config.profiles.get(name, {}) if name else {}
    settings: dict[str, Setting] = {}
    for option in OPTIONS.values():
        settings[option.name] = _pick(option, command_line, values, name, config)
    return Resolved(target, name, settings)


def _pick(
    option: Option,
    command_line: Mapping[str, Any],
    profile_values: Mapping[str, Any],
    profile: str | None,
    config: ConfigFile,
) -> Setting:
    given = command_line.get(option.name)
    if given is not None and given != ():
        return Setting(given, "command line")
    if option.name in profile_values:
        line = config.line_of(f"profiles.{profile}", option.name)
        return Setting(profile_values[option.name], f"profile '{profile}' ({config.path}:{line})")
    if option.env and os.environ.get(option.env):
        try:
            value = check(option, os.environ[option.env])
        except ConfigError as exc:
            raise ConfigError(
                f"environment {option.env}: {exc.detail}",
                key=option.name,
                hint=exc.hint or f"fix or unset {option.env}",
            ) from exc
        return Setting(value, f"environment {option.env}", general=True)
    if option.name in config.defaults:
        line = config.line_of("defaults", option.name)
        return Setting(
            config.defaults[option.name], f"[defaults] ({config.path}:{line})", general=True
        )
    return Setting(option.default, "default")


def _validated(config: ConfigFile, table: str, values: Any) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise ConfigError(
            "expected a table",
            file=str(config.path),
            key=table,
            line=_first_line_with(config.text, table),
        )
    clean: dict[str, Any] = {}
    for key, value in values.items():
        line = config.line_of(table, key)
        option = OPTIONS.get(key)
        if option is None or (table == "defaults" and key == "host"):
            raise ConfigError(
                f"unknown key in [{table}]",
                file=str(config.path),
                line=line,
                key=key,
                hint=f"known keys: {', '.join(sorted(OPTIONS))}",
            )
        clean[key] = _coerce(option, value, config, line)
    return clean


def _coerce(option: Option, value: Any, config: ConfigFile, line: int | None) -> Any:
    """The command line's rule for ``option``, with the file, the line and the key on error."""
    try:
        return check(option, value)
    except ConfigError as exc:
        raise ConfigError(
            exc.detail, file=str(config.path), line=line, key=option.name, hint=exc.hint
        ) from exc


def _error_line(exc: Exception) -> int | None:
    lineno = getattr(exc, "lineno", None)
    if isinstance(lineno, int):
        return lineno
    match = re.search(r"at line (\d+)", str(exc))
    return int(match.group(1)) if match else None


def _key_on_line(text: str, line: int | None) -> str | None:
    if not line:
        return None
    lines = text.splitlines()
    if line > len(lines):
        return None
    match = re.match(r"\s*\"?([A-Za-z0-9_.-]+)\"?\s*=", lines[line - 1])
    return match.group(1) if match else None


def _first_line_with(text: str, word: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if word in line:
            return number
    return None


TEMPLATE = """\
# hoplab profiles. `hoplab up NAME` uses [profiles.NAME]; every key can also be given on the
# command line (command line > profile > environment > [defaults]).
# Keys: {keys}

[defaults]
app = "lab"            # or "notebook"

# [profiles.myserver]
# host = "myserver"              # anything ssh accepts; ~/.ssh/config aliases work
# jump = ["gateway"]             # ProxyJump hops before the host, in order
# venv = "~/envs/jupyter"        # or: conda = "myenv"
# module = ["python/3.11"]       # environment modules to load first
# setup = ["export OMP_NUM_THREADS=4"]
# workdir = "~/projects"

# [profiles.cluster]             # a batch cluster: Jupyter runs in a job on a compute node
# host = "login.cluster.example"
# scheduler = "auto"             # or "slurm"; "none" runs Jupyter on the login node itself
# partition = "interactive"
# time = "4:00:00"
# cpus = 4
# mem = "16G"
# forward = ["dask=8787"]        # more ports from the node, beside Jupyter
"""


def template() -> str:
    """A commented starting point for the profiles file."""
    return TEMPLATE.format(keys=", ".join(sorted(OPTIONS)))
