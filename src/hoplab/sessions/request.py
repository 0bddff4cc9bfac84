"""From resolved settings (profile, environment, command line) to what ``up`` is asked for.

Every value was checked when it was read (:mod:`hoplab.options`), so nothing here can fail
on a malformed value after a connection exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hoplab.launcher.render import Environment
from hoplab.options import idle_seconds, parse_forward
from hoplab.schedulers.base import Resources, parse_duration
from hoplab.sessions.up import UpRequest
from hoplab.ssh.target import SshTarget

if TYPE_CHECKING:
    from hoplab.config import Resolved


def ssh_target(resolved: Resolved) -> SshTarget:
    """The ssh chain a resolved TARGET names: destination, jumps, and the -F file."""
    ssh_config = resolved["ssh_config"]
    return SshTarget(
        resolved.destination,
        tuple(resolved["jump"]),
        str(Path(ssh_config).expanduser()) if ssh_config else None,
    )


def resources(resolved: Resolved) -> Resources:
    """What the batch job asks for."""
    time_text = resolved["time"]
    return Resources(
        queue=resolved["partition"],
        time=parse_duration(time_text) if time_text else None,
        cpus=resolved["cpus"],
        mem=resolved["mem"],
        gpus=resolved["gpus"],
        account=resolved["account"],
        qos=resolved["qos"],
        constraint=resolved["constraint"],
        directives=tuple(resolved["directive"]),
        pe=resolved["pe"],
        mem_resource=resolved["mem_resource"],
    )


# The options that only a batch job can use: refused on a host without a scheduler when asked
# for this target (command line, profile), ignored there when they come from [defaults].
CLUSTER_OPTIONS = (
    "partition",
    "time",
    "cpus",
    "mem",
    "gpus",
    "account",
    "qos",
    "constraint",
    "directive",
    "pe",
    "mem_resource",
)


def cluster_options(resolved: Resolved) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The cluster options set for this target, and those set for every target, as
    ``--name (source)``; options left at their built-in default are neither."""
    asked: list[str] = []
    general: list[str] = []
    for name in CLUSTER_OPTIONS:
        setting = resolved.settings[name]
        if setting.source == "default" or setting.value in (None, ()):
            continue
        said = f"--{name.replace('_', '-')} ({setting.source})"
        (general if setting.general else asked).append(said)
    return tuple(asked), tuple(general)


PATH_OPTIONS = ("venv", "conda", "workdir")


def remote_path(name: str, value: str | None, local_home: str) -> tuple[str | None, str | None]:
    """A path option as the remote host reads it, and a note when it was changed.

    Paths mean paths on the remote host, relative ones in the remote home. A value under the
    laptop's home (``--venv ~/envs/x`` expanded by the laptop's shell) means the same place in
    the remote home: it is sent as ``~/envs/x`` (the launcher takes the path as given only
    when that one exists there and ``~/envs/x`` does not), and hoplab says so.
    """
    home = local_home.rstrip("/")
    if not value or not home or not value.startswith(f"{home}/"):
        return value, None
    remote = "~/" + value[len(home) + 1 :]
    return remote, (
        f"--{name} {value}: read as {remote} on the remote host, unless only {value} exists "
        "there (your shell expanded ~ to the laptop's home; quote it: '~/...')"
    )


def up_request(resolved: Resolved, *, new: bool, detach: bool, interactive: bool) -> UpRequest:
    """The request ``up`` runs for ``resolved`` (its TARGET is the session's label)."""
    lease, idle = resolved["lease"], resolved["idle_timeout"]
    paths: dict[str, str | None] = {}
    notes: list[str] = []
    fallbacks: list[tuple[str, str]] = []
    for name in PATH_OPTIONS:
        paths[name], note = remote_path(name, resolved[name], str(Path.home()))
        if note:
            notes.append(note)
            fallbacks.append((name, resolved[name]))
    return UpRequest(
        target=ssh_target(resolved),
        label=resolved.target,
        app=resolved["app"],
        environment=Environment(
            modules=tuple(resolved["module"]),
            conda=paths["conda"],
            venv=paths["venv"],
            setup=tuple(resolved["setup"]),
            workdir=paths["workdir"],
            fallbacks=tuple(fallbacks),
        ),
        multiplex=resolved["mux"],
        port=resolved["port"],
        new=new,
        detach=detach,
        interactive=interactive,
        start_timeout=float(resolved["start_timeout"]),
        scheduler=resolved["scheduler"],
        scheduler_module=resolved["scheduler_module"],
        resources=resources(resolved),
        cluster_options=cluster_options(resolved),
        notes=tuple(notes),
        reach=resolved["reach"],
        forwards=tuple(parse_forward(text) for text in resolved["forward"]),
        lease_seconds=parse_duration(lease, "lease") if lease else None,
        idle_timeout_seconds=parse_duration(idle, "idle_timeout") if idle else None,
        master_idle_seconds=idle_seconds(resolved["master_idle"]),
    )
