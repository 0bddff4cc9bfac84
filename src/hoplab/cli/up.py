"""``hoplab up TARGET``."""

from __future__ import annotations

from typing import Any

import click

from hoplab.cli.common import (
    ProgressLines,
    interactive,
    open_browser,
    print_json,
    signals_raise,
    ssh_target,
)
from hoplab.cli.render import err, out
from hoplab.schedulers import NAMES


@click.command()
@click.argument("target")
@click.option(
    "-p", "--profile", help="Use this profile (default: TARGET, if a profile has that name)."
)
@click.option(
    "--jump", "-J", multiple=True, help="ProxyJump hop before TARGET (repeatable, in order)."
)
@click.option(
    "--ssh-config",
    type=click.Path(dir_okay=False),
    help="ssh config file passed as -F to every ssh call [env: HOPLAB_SSH_CONFIG].",
)
@click.option("--conda", help="conda environment to activate before Jupyter.")
@click.option("--venv", help="virtualenv directory to activate before Jupyter.")
@click.option("--module", multiple=True, help="Environment module to load (repeatable).")
@click.option("--setup", multiple=True, help="Shell line to run before Jupyter (repeatable).")
@click.option("--workdir", help="Directory Jupyter starts in [default: remote home].")
@click.option("--app", type=click.Choice(["lab", "notebook"]), help="Front end [default: lab].")
@click.option("--port", type=click.IntRange(1, 65535), help="Local port [default: a free one].")
@click.option(
    "--no-mux", is_flag=True, default=None, help="One ssh connection per command and forward."
)
@click.option("--no-browser", is_flag=True, default=None, help="Do not open the browser.")
@click.option(
    "--start-timeout", type=click.IntRange(5), help="Seconds to wait for Jupyter [default: 120]."
)
@click.option(
    "--detach", is_flag=True, help="Return once ready; the tunnel stays up in the background."
)
@click.option("--new", is_flag=True, help="Start another session even if one runs on TARGET.")
@click.option(
    "--scheduler",
    type=click.Choice(["auto", "none", *NAMES]),
    help="Batch scheduler: auto looks on TARGET; none runs Jupyter on TARGET itself.",
)
@click.option("--partition", "--queue", "partition", help="Partition (queue) for the job.")
@click.option("--time", help="Walltime: 90 (minutes), 1:30:00, 2-00:00:00 or 1h30m.")
@click.option("--cpus", type=click.IntRange(1), help="CPU cores for the job.")
@click.option("--mem", help="Memory for the job: 4G, 500M.")
@click.option("--gpus", type=click.IntRange(1), help="GPUs for the job.")
@click.option("--account", help="Account (project) the job is charged to.")
@click.option("--qos", help="Quality of service for the job.")
@click.option("--constraint", help="Node features the job needs.")
@click.option(
    "--pe", help="Grid Engine parallel environment for --cpus on one node [default: smp]."
)
@click.option(
    "--mem-resource",
    type=click.Choice(["h_vmem", "mem_free"]),
    help="Grid Engine complex that --mem is asked with, per slot [default: h_vmem].",
)
@click.option(
    "--directive",
    multiple=True,
    help="Raw scheduler directive, one line each (repeatable): --directive='--exclusive'.",
)
@click.option(
    "--reach",
    type=click.Choice(["auto", "ssh-node", "login-tcp"]),
    help="How to reach a compute node: ssh to it (Unix socket) or TCP via the login node "
    "[default: auto, ssh first].",
)
@click.option(
    "--forward",
    multiple=True,
    metavar="NAME=PORT",
    help="Also forward PORT on Jupyter's host (repeatable): --forward dask=8787.",
)
@click.option(
    "--walltime-warning",
    type=click.IntRange(0),
    help="Minutes before the walltime ends to warn [default: 10].",
)
@click.option(
    "--background",
    is_flag=True,
    help="Return once ready, and keep the tunnel supervised by a detached hoplab process "
    "(reconnects after sleep or a network change; 'hoplab down' ends it).",
)
@click.option(
    "--lease",
    metavar="MINUTES",
    help="End Jupyter and its job when no hoplab client has renewed the lease for this long "
    "(renewed by a foreground or --background hoplab). Also 1h, 0:00:30.",
)
@click.option(
    "--idle-timeout",
    metavar="MINUTES",
    help="Jupyter shuts itself down after this long with no activity "
    "(shutdown_no_activity_timeout). Also 1h, 0:00:30.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the result as JSON (implies --detach)."
)
@click.option("--verbose", "-v", is_flag=True, help="Say where each setting came from.")
def up(
    target: str,
    profile: str | None,
    no_mux: bool | None,
    no_browser: bool | None,
    detach: bool,
    background: bool,
    new: bool,
    as_json: bool,
    verbose: bool,
    **values: Any,
) -> None:
    """Start Jupyter on TARGET, tunnel to it, and open it in your browser.

    TARGET is a profile name or anything ssh accepts (user@host, an ~/.ssh/config alias).
    hoplab authenticates once, starts Jupyter on a private Unix socket, forwards a local
    port on 127.0.0.1 to it, and waits until Jupyter really answers. If TARGET already has
    a live session, hoplab attaches to it instead (--new starts another).

    On a cluster, TARGET is the login node: hoplab finds its scheduler (SLURM, PBS Pro,
    Torque, Grid Engine, LSF, OAR or HTCondor), submits a job, shows it through the queue,
    and tunnels to Jupyter on the compute node, by ssh to the node when it allows that,
    else over TCP through the login node (--reach).
    Ctrl-C before Jupyter is ready cancels the job.

    \b
    Examples:
      hoplab up myserver --venv ~/envs/jupyter
      hoplab up node001 --jump login01 --workdir ~/project
      hoplab up login.hpc --partition gpu --gpus 1 --time 4:00:00 --forward tb=6006
      hoplab up mylab --detach --json
      hoplab up login.hpc --background --lease 30
    """
    from hoplab import config
    from hoplab.launcher.render import Environment
    from hoplab.paths import config_file
    from hoplab.records.store import SessionStore
    from hoplab.schedulers.base import Resources, parse_duration
    from hoplab.sessions.up import UpRequest
    from hoplab.sessions.up import up as start

    command_line = dict(values)
    command_line["mux"] = False if no_mux else None
    command_line["browser"] = False if no_browser else None
    resolved = config.resolve(target, command_line, config.load(config_file()), profile=profile)
    if verbose:
        for name, setting in resolved.settings.items():
            if setting.value not in (None, ()):
                err.print(f"[dim]{name} = {setting.value!r}  ({setting.source})[/]")
    time_text = resolved["time"]
    lease, idle = resolved["lease"], resolved["idle_timeout"]
    resources = Resources(
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
    request = UpRequest(
        target=ssh_target(resolved),
        label=target,
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
        detach=detach or as_json or background,
        interactive=interactive(),
        start_timeout=float(resolved["start_timeout"]),
        scheduler=resolved["scheduler"],
        resources=resources,
        reach=resolved["reach"],
        forwards=tuple(config.parse_forward(text) for text in resolved["forward"]),
        lease_seconds=parse_duration(lease, "lease") if lease else None,
        idle_timeout_seconds=parse_duration(idle, "idle_timeout") if idle else None,
    )
    store = SessionStore()
    with signals_raise(KeyboardInterrupt):
        result = start(request, store, ProgressLines(quiet=as_json))
    supervisor = None
    if background:
        from hoplab.sessions import background as detached

        supervisor = detached.start(result.session.id)
    if as_json:
        print_json(
            "up",
            {
                "session": result.session.public(),
                "url": result.url,
                "reused": result.reused,
                "supervisor_pid": supervisor,
            },
        )
        return
    if result.reused:
        err.print(f"reusing session [bold]{result.session.id}[/] (--new starts another)")
    out.print(result.url, soft_wrap=True)
    if resolved["browser"]:
        open_browser(result.session)
    if supervisor is not None:
        err.print(
            f"supervised in the background (pid {supervisor}); "
            f"'hoplab down {result.session.id}' stops both"
        )
        return
    if request.detach:
        if request.lease_seconds:
            err.print(
                "[yellow]nothing renews the lease while detached:[/] Jupyter ends in "
                f"{request.lease_seconds // 60} min unless 'hoplab attach' (or --background) "
                "renews it"
            )
        err.print(f"detached; 'hoplab down {result.session.id}' stops it")
        return
    from hoplab.cli.foreground import stay_attached

    stay_attached(result.session, store, warn_minutes=resolved["walltime_warning"])
