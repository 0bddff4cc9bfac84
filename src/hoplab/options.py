"""Every setting of ``hoplab up``, defined once: profile key, flag, type, rule, default, help.

A profile key and a command-line option are the same setting, so they share one definition
and one rule: ``port = 99999`` in a profile is refused exactly as ``--port 99999`` is, before
anything connects. The command line's click options are generated from these definitions
(:mod:`hoplab.cli.flags`), the profile validation in :mod:`hoplab.config` uses :func:`check`,
and ``python -m hoplab.options`` prints the reference table the documentation is built from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hoplab.errors import ConfigError
from hoplab.protocol import Reach, SchedulerName
from hoplab.schedulers.base import checked, checked_mem, parse_duration

if TYPE_CHECKING:
    from collections.abc import Callable


def _module_name(text: str) -> str:
    """A module name as ``module load`` takes it (it is written into the login shell)."""
    if not re.fullmatch(r"[A-Za-z0-9._+/-]+", text):
        raise ConfigError(
            f"scheduler_module {text!r} is not a module name",
            key="scheduler_module",
            hint="use the name 'module avail' shows, e.g. slurm or slurm/23.02",
        )
    return text


@dataclass(frozen=True)
class Option:
    """One setting: a profile key and (unless ``flags`` is empty) a command-line option.

    ``kind`` is str, int, bool or list (of str). A bool with ``negated`` is offered on the
    command line as ``--no-NAME`` (it only turns the setting off). ``parse`` checks one string
    value (one item of a list) and raises :class:`ConfigError`; ``minimum``/``maximum`` bound
    an int.
    """

    name: str
    kind: type
    help: str
    default: Any = None
    choices: tuple[str, ...] = ()
    env: str | None = None
    flags: tuple[str, ...] | None = None  # None: --NAME (or --no-NAME); (): profile only
    metavar: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    parse: Callable[[str], object] | None = None
    negated: bool = False
    off_help: str = ""  # the help of --no-NAME, when ``negated``
    local_file: bool = False  # a file on this machine (shells complete it as one)

    @property
    def key(self) -> str:
        """The profile key."""
        return self.name

    @property
    def flag_names(self) -> tuple[str, ...]:
        """The command-line spellings, the main one first."""
        if self.flags is not None:
            return self.flags
        dashed = self.name.replace("_", "-")
        return (f"--no-{dashed}",) if self.negated else (f"--{dashed}",)

    @property
    def repeatable(self) -> bool:
        return self.kind is list


def _duration(key: str) -> Callable[[str], object]:
    return lambda text: parse_duration(text, key)


def idle_seconds(text: str) -> int:
    """``master_idle``: a duration as ``--lease`` takes it, or ``0`` (no idle time at all)."""
    if text.strip() == "0":
        return 0
    return parse_duration(text, "master_idle")


def _not_a_directory(key: str, text: str) -> str:
    if Path(text).expanduser().is_dir():
        raise ConfigError(f"{text!r} is a directory", key=key, hint="name the file itself")
    return text


def parse_forward(text: str) -> tuple[str, int]:
    """``NAME=PORT`` (``dask=8787``) as a name and a port number."""
    name, sep, port = text.partition("=")
    if not sep or not name.strip() or not port.strip().isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f"cannot read {text!r} as NAME=PORT",
            key="forward",
            hint="for example --forward dask=8787 (a port on the node where Jupyter runs)",
        )
    return name.strip(), int(port)


DEFINITIONS: tuple[Option, ...] = (
    Option("host", str, "ssh destination of a profile (anything ssh accepts).", flags=()),
    Option(
        "jump",
        list,
        "ProxyJump hop before TARGET (repeatable, in order).",
        (),
        flags=("--jump", "-J"),
        metavar="HOST",
    ),
    Option(
        "ssh_config",
        str,
        "ssh client config file, passed as -F to every ssh call.",
        env="HOPLAB_SSH_CONFIG",
        metavar="FILE",
        parse=lambda text: _not_a_directory("ssh_config", text),
        local_file=True,
    ),
    Option(
        "conda", str, "conda environment to activate before Jupyter (name or path).", metavar="ENV"
    ),
    Option("venv", str, "Python virtualenv directory to activate before Jupyter.", metavar="PATH"),
    Option("module", list, "Environment module to load (repeatable).", (), metavar="NAME"),
    Option(
        "setup",
        list,
        "Shell line to run before Jupyter (repeatable).",
        (),
        metavar="LINE",
        parse=lambda line: checked("setup", line),
    ),
    Option(
        "workdir", str, "Directory Jupyter starts in (default: the remote home).", metavar="DIR"
    ),
    Option("app", str, "Jupyter front end.", "lab", ("lab", "notebook")),
    Option(
        "port",
        int,
        "Local port for the tunnel (default: a free one).",
        minimum=1,
        maximum=65535,
        metavar="N",
    ),
    Option(
        "mux",
        bool,
        "Share one ssh connection (ControlMaster) per target, so you authenticate once.",
        True,
        negated=True,
        off_help="One ssh connection per command and forward, no ControlMaster (mux = false).",
    ),
    Option(
        "browser",
        bool,
        "Open the local browser once Jupyter is ready.",
        True,
        negated=True,
        off_help="Do not open the browser (browser = false).",
    ),
    Option(
        "start_timeout",
        int,
        "Seconds to wait for Jupyter to become ready (queue time not included).",
        120,
        minimum=5,
        metavar="S",
    ),
    Option(
        "scheduler",
        str,
        "Batch scheduler on TARGET: auto looks for one; none runs Jupyter on TARGET itself.",
        "auto",
        ("auto", *(name.value for name in SchedulerName)),
        env="HOPLAB_SCHEDULER",
    ),
    Option(
        "scheduler_module",
        str,
        "Site module that provides the scheduler's commands, where they are not on the PATH: "
        "hoplab runs 'module load NAME' in your login shell for every scheduler call.",
        metavar="NAME",
        parse=_module_name,
    ),
    Option("partition", str, "Partition (queue) for the job.", flags=("--partition", "--queue")),
    Option(
        "time",
        str,
        "Walltime of the job: 90 (minutes), 1:30:00, 2-00:00:00 or 1h30m.",
        metavar="DURATION",
        parse=_duration("time"),
    ),
    Option("cpus", int, "CPU cores for the job.", minimum=1, metavar="N"),
    Option(
        "mem",
        str,
        "Memory for the job, with a unit: 4G, 500M.",
        metavar="SIZE",
        parse=checked_mem,
    ),
    Option("gpus", int, "GPUs for the job.", minimum=1, metavar="N"),
    Option("account", str, "Account (project) the job is charged to."),
    Option("qos", str, "Quality of service for the job."),
    Option("constraint", str, "Node features the job needs."),
    Option(
        "pe",
        str,
        "Grid Engine parallel environment that gives --cpus on one node.",
        "smp",
    ),
    Option(
        "mem_resource",
        str,
        "Grid Engine complex that --mem is asked with, per slot.",
        "h_vmem",
        ("h_vmem", "mem_free"),
    ),
    Option(
        "directive",
        list,
        "Raw scheduler directive, one line each (repeatable): --directive='--exclusive'.",
        (),
        metavar="LINE",
        parse=lambda line: checked("directive", line),
    ),
    Option(
        "reach",
        str,
        "How to reach Jupyter on a compute node: ssh to it (Unix socket), or TCP through the "
        "login node; auto tries ssh first.",
        Reach.AUTO.value,
        tuple(mode.value for mode in Reach),
    ),
    Option(
        "forward",
        list,
        "Also forward PORT on Jupyter's host (repeatable): --forward dask=8787.",
        (),
        metavar="NAME=PORT",
        parse=parse_forward,
    ),
    Option(
        "walltime_warning",
        int,
        "Minutes before the job's walltime ends to warn.",
        10,
        minimum=0,
        metavar="MINUTES",
    ),
    Option(
        "notify",
        bool,
        "Notices: a desktop notification (notify-send, osascript) and the terminal bell when "
        "Jupyter is ready after a wait in the queue, at the walltime warning, when the job "
        "ends on its own, and when a supervisor loses the session or needs you to "
        "authenticate again.",
        True,
        negated=True,
        off_help="No notices (notify = false).",
    ),
    Option(
        "lease",
        str,
        "End Jupyter and its job when no hoplab client has renewed the lease for this long "
        "(a foreground hoplab or the background supervisor renews it): minutes, or 1h, 0:00:30.",
        metavar="MINUTES",
        parse=_duration("lease"),
    ),
    Option(
        "idle_timeout",
        str,
        "Jupyter shuts itself down after this long with no activity "
        "(shutdown_no_activity_timeout): minutes, or 1h, 0:00:30.",
        metavar="MINUTES",
        parse=_duration("idle_timeout"),
    ),
    Option(
        "master_idle",
        str,
        "How long an ssh connection (ControlMaster) outlives the last session that rode it, "
        "so that the next command asks no password again: minutes, or 1h, 0:00:30; 0 ends it "
        "with the session.",
        "10",
        metavar="MINUTES",
        parse=idle_seconds,
    ),
)

OPTIONS: dict[str, Option] = {option.name: option for option in DEFINITIONS}


def check(option: Option, value: Any) -> Any:
    """``value`` (from TOML, the environment or the command line) checked by ``option``'s rule.

    Returns the value in its settled form (a list becomes a tuple); raises
    :class:`ConfigError` whose ``detail`` says what is wrong, without where it came from.
    """

    def bad(expected: str) -> ConfigError:
        return ConfigError(f"expected {expected}, got {value!r}")

    if option.kind is list:
        items = (value,) if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
            raise bad("a string or a list of strings")
        for item in items:
            _parse(option, item)
        return tuple(items)
    if option.kind is bool:
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if option.kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("a whole number")
        low, high = option.minimum, option.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            raise bad(_range(low, high))
        return value
    if not isinstance(value, str):
        raise bad("a string")
    if option.choices and value not in option.choices:
        raise bad(f"one of {', '.join(option.choices)}")
    _parse(option, value)
    return value


def _parse(option: Option, text: str) -> None:
    if option.parse is None:
        return
    try:
        option.parse(text)
    except ConfigError as exc:
        raise ConfigError(exc.detail, hint=exc.hint) from exc


def _range(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"a whole number from {low} to {high}"
    if low is not None:
        return f"a whole number of at least {low}"
    return f"a whole number of at most {high}"


def default_text(option: Option) -> str:
    """The default as a user reads it, '' when there is none."""
    if option.default in (None, ()):
        return ""
    if isinstance(option.default, bool):
        return "true" if option.default else "false"
    return str(option.default)


def reference_markdown() -> str:
    """A Markdown table of every setting: flag, profile key, environment variable, default."""
    rows = [
        "| flag | profile key | environment | default | what it does |",
        "|------|-------------|-------------|---------|--------------|",
    ]
    for option in DEFINITIONS:
        flags = ", ".join(f"`{_flag(option, name)}`" for name in option.flag_names)
        if option.choices:
            flags += " " + "\\|".join(f"`{choice}`" for choice in option.choices)
        rows.append(
            "| "
            + " | ".join(
                (
                    flags or "(profile only; TARGET on the command line)",
                    f"`{option.key}`",
                    f"`{option.env}`" if option.env else "",
                    f"`{default_text(option)}`" if default_text(option) else "",
                    (option.help + (f" {option.off_help}" if option.off_help else "")).replace(
                        "|", "\\|"
                    )
                    + (" In a profile: a list." if option.repeatable else ""),
                )
            )
            + " |"
        )
    return "\n".join(rows) + "\n"


def _flag(option: Option, name: str) -> str:
    if option.kind is bool or option.choices:
        return name
    return f"{name} {option.metavar or 'TEXT'}"


if __name__ == "__main__":
    import sys

    sys.stdout.write(reference_markdown())
