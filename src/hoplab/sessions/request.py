"""From resolved settings (profile, environment, command line) to what ``up`` is asked for.

Every value was checked when it was read (:mod:`hoplab.options`), so nothing here can fail
on a malformed value after a connection exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hoplab.launcher.render import Environment
from hoplab.options import parse_forward
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


def up_request(resolved: Resolved, *, new: bool, detach: bool, interactive: bool) -> UpRequest:
    """The request ``up`` runs for ``resolved`` (its TARGET is the session's label)."""
    lease, idle = resolved["lease"], resolved["idle_timeout"]
    return UpRequest(
        target=ssh_target(resolved),
        label=resolved.target,
        app=resolved["app"],
        environment=Environment(
            modules=tuple(resolved["module"]),
            conda=resolved["conda"],
            venv=resolved["venv"],
            setup=tuple(resolved["setup"]),
            workdir=resolved["workdir"],
        ),
        multiplex=resolved["mux"],
        port=resolved["port"],
        new=new,
        detach=detach,
        interactive=interactive,
        start_timeout=float(resolved["start_timeout"]),
        scheduler=resolved["scheduler"],
        resources=resources(resolved),
        reach=resolved["reach"],
        forwards=tuple(parse_forward(text) for text in resolved["forward"]),
        lease_seconds=parse_duration(lease, "lease") if lease else None,
        idle_timeout_seconds=parse_duration(idle, "idle_timeout") if idle else None,
    )
