"""``hoplab up TARGET``."""

from __future__ import annotations

from typing import Any

import click

from hoplab.cli.common import (
    ProgressLines,
    interactive,
    notifier,
    open_browser,
    print_json,
    signals_raise,
)
from hoplab.cli.flags import target_settings
from hoplab.cli.render import err, escape, out


@click.command()
@target_settings
@click.option(
    "--detach",
    is_flag=True,
    help="Return once ready; a detached hoplab process keeps the tunnel up (as --background).",
)
@click.option("--new", is_flag=True, help="Start another session even if one runs on TARGET.")
@click.option(
    "--background",
    is_flag=True,
    help="Return once ready, and keep the tunnel supervised by a detached hoplab process "
    "(reconnects after sleep or a network change; 'hoplab down' ends it).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the result as JSON (implies --detach)."
)
@click.option("--verbose", "-v", is_flag=True, help="Say where each setting came from.")
def up(
    target: str,
    profile: str | None,
    detach: bool,
    background: bool,
    new: bool,
    as_json: bool,
    verbose: bool,
    command_line: dict[str, Any],
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
      hoplab up myserver --venv '~/envs/jupyter'
      hoplab up node001 --jump login01 --workdir '~/project'
      hoplab up login.hpc --partition gpu --gpus 1 --time 4:00:00 --forward tb=6006
      hoplab up mylab --detach --json
      hoplab up login.hpc --background --lease 30
    """
    from hoplab import config
    from hoplab.paths import config_file
    from hoplab.records.store import SessionStore
    from hoplab.sessions.request import up_request
    from hoplab.sessions.up import up as start

    resolved = config.resolve(target, command_line, config.load(config_file()), profile=profile)
    if verbose:
        from rich.text import Text

        for name, setting in resolved.settings.items():
            if setting.value not in (None, ()):
                err.print(Text(f"{name} = {setting.value!r}  ({setting.source})", style="dim"))
    detached = detach or as_json or background
    request = up_request(resolved, new=new, detach=detached, interactive=interactive())
    store = SessionStore()
    notices = notifier(enabled=resolved["notify"])
    with signals_raise(KeyboardInterrupt):
        result = start(request, store, ProgressLines(quiet=as_json), notices)
    session, url = result.session, result.url
    supervisor = None
    if detached:  # the port's relay needs a process: the background supervisor takes it over
        from hoplab.cli.foreground import hand_over

        supervisor, session = hand_over(
            session,
            store,
            warn_minutes=resolved["walltime_warning"],
            notify=resolved["notify"],
        )
        url = session.url(with_token=True) or url
    if as_json:
        print_json(
            "up",
            {
                "session": session.public(),
                "url": url,
                "reused": result.reused,
                "supervisor_pid": supervisor,
            },
        )
        return
    if result.reused:
        err.print(f"reusing session [bold]{escape(session.id)}[/] (--new starts another)")
    out.print(url, markup=False, soft_wrap=True)
    if resolved["browser"]:
        open_browser(session)
    if supervisor is not None:
        err.print(
            f"supervised in the background (pid {supervisor}); "
            f"'hoplab down {escape(session.id)}' stops both"
        )
        return
    from hoplab.cli.foreground import stay_attached

    stay_attached(
        result.session, store, warn_minutes=resolved["walltime_warning"], notify=resolved["notify"]
    )
