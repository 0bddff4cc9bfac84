"""``hoplab sandbox up|down|status``: a real local cluster to try hoplab on (root, Linux).

The commands only render what :mod:`hoplab.testing` returns; starting, reusing and tearing
down live there, shared with the test suite's fixtures.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import TYPE_CHECKING

import click
from rich.table import Table

from hoplab.cli.render import err, out
from hoplab.testing import Sandbox

if TYPE_CHECKING:
    from hoplab.testing import SandboxInfo, SandboxStatus


@click.group()
def sandbox() -> None:
    """A real local cluster to try hoplab on: login01, node001, node002.

    \b
    Network namespaces on this machine, each with its own sshd; SLURM with the
    partitions 'debug' and 'short'; Grid Engine with the queue 'all.q' and the
    parallel environment 'smp'; OAR on request (up --with oar); Lmod with the
    modules 'jupyter' and 'slurm'; the user 'hopuser' with a generated key; a
    Jupyter venv. The nodes are reachable only through login01. Needs root.
    """


@sandbox.command()
@click.option(
    "--with",
    "extras",
    type=click.Choice(["oar"]),
    multiple=True,
    help="Also start OAR 2.5.9 (PostgreSQL and Almighty on login01, OAR's sshd on the nodes).",
)
def up(extras: tuple[str, ...]) -> None:
    """Start the sandbox, or reuse the running one, and print how to use it."""
    begin = time.monotonic()
    cluster = Sandbox()
    info = cluster.up(progress=lambda message: err.print(f"[dim]{message}[/]"))
    if "oar" in extras:
        err.print("[dim]starting OAR[/]")
        cluster.start_oar()
    seconds = time.monotonic() - begin
    if info.reused:
        since = datetime.fromtimestamp(info.started_at).strftime("%Y-%m-%d %H:%M:%S")
        out.print(f"[green]✓[/] sandbox already running since {since} (checked in {seconds:.2f} s)")
    else:
        out.print(f"[green]✓[/] sandbox started in {seconds:.2f} s")
    _print_usage(info)


@sandbox.command()
def down() -> None:
    """Stop every process of the sandbox and remove its namespaces and route."""
    report = Sandbox().down()
    if not (report.stopped or report.namespaces or report.blackhole_removed):
        out.print("nothing to do: the sandbox was not running")
        return
    out.print(
        f"[green]✓[/] sandbox stopped: {len(report.stopped)} process(es) ended, "
        f"namespaces removed: {', '.join(report.namespaces) or 'none'}, "
        f"route {'removed' if report.blackhole_removed else 'was already gone'}"
    )


@sandbox.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> None:
    """Show the sandbox's daemons (PIDs, alive or not), namespaces and route."""
    current = Sandbox().status()
    if as_json:
        out.print_json(json.dumps(_status_payload(current)))
        return
    if current.started_at is None and not any(current.namespaces.values()):
        out.print("the sandbox is not running (start it with 'hoplab sandbox up')")
        return
    if current.healthy:
        state = "[green]healthy[/]"
    elif current.busy:
        state = "[yellow]starting or stopping[/] (another sandbox command is running)"
    else:
        state = "[red]broken[/] (run 'hoplab sandbox up')"
    out.print(f"sandbox in {current.root_dir}: {state}")
    table = Table("daemon", "pid", "state")
    for daemon in current.daemons:
        table.add_row(
            daemon.name, str(daemon.pid), "[green]alive[/]" if daemon.alive else "[red]gone[/]"
        )
    out.print(table)
    present = [name for name, there in current.namespaces.items() if there]
    out.print(f"namespaces: {', '.join(present) or 'none'}")
    out.print(f"blackhole route: {'present' if current.blackhole else 'missing'}")
    if current.refused:
        out.print(f"sshd refusing the test user on: {', '.join(current.refused)}")


def _print_usage(info: SandboxInfo) -> None:
    """Where the ssh config is, a line to export, and profiles to paste into hoplab's config."""
    config = str(info.ssh_config)
    out.print(f"ssh config: {config}", markup=False, soft_wrap=True)
    out.print(f"try:        ssh -F {config} {info.nodes[0]} hostname", markup=False, soft_wrap=True)
    out.print()
    out.print(f"export HOPLAB_SSH_CONFIG={config}", markup=False, soft_wrap=True)
    out.print()
    out.print("# profiles for hoplab's config file:", markup=False)
    out.print(_profiles_toml(info), markup=False, soft_wrap=True)


def _profiles_toml(info: SandboxInfo) -> str:
    """Ready profiles: Jupyter on a compute node through login01, and on login01 itself."""
    venv, config = json.dumps(str(info.jupyter_venv)), json.dumps(str(info.ssh_config))
    return "\n".join(
        [
            "[profiles.sandbox]",
            f"host = {json.dumps(info.nodes[0])}",
            f"ssh_config = {config}",
            f"venv = {venv}",
            'scheduler = "none"',
            "",
            "[profiles.sandbox-login]",
            f"host = {json.dumps(info.login_host)}",
            f"ssh_config = {config}",
            f"venv = {venv}",
            'scheduler = "slurm"  # login01 also has Grid Engine and OAR',
        ]
    )


def _status_payload(current: SandboxStatus) -> dict[str, object]:
    return {
        "version": 1,
        "kind": "sandbox-status",
        "root_dir": str(current.root_dir),
        "healthy": current.healthy,
        "busy": current.busy,
        "started_at": current.started_at,
        "daemons": [{"name": d.name, "pid": d.pid, "alive": d.alive} for d in current.daemons],
        "namespaces": current.namespaces,
        "blackhole": current.blackhole,
        "refused": list(current.refused),
    }
