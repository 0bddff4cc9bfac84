"""``hoplab ssh-config SESSION``."""

from __future__ import annotations

import click

from hoplab.cli.completion import session_ids
from hoplab.cli.render import out


@click.command("ssh-config")
@click.argument("session_id", metavar="SESSION", shell_complete=session_ids(live_only=True))
@click.option("--json", "as_json", is_flag=True, help="Print the block and its alias as JSON.")
def ssh_config(session_id: str, as_json: bool) -> None:
    """Print an ssh Host block that lands any ssh client on the session's host.

    \b
      hoplab ssh-config 3f9c >> ~/.ssh/config   then: ssh hoplab-3f9c2a1b
      hoplab ssh-config 3f9c > ~/.ssh/hoplab    with 'Include hoplab' on top of ~/.ssh/config

    The block reaches the compute node through hoplab's connection to the login node
    (a ProxyCommand on its control socket: no new prompt while it lives) and trusts the
    node's host key that the login node vouched for (KnownHostsCommand; checking stays on).
    VS Code Remote-SSH and any other client that reads ~/.ssh/config then land on the node,
    inside the job where the site uses pam_slurm_adopt. Put it before any 'Host *' block.
    """
    from hoplab.cli.common import interactive, print_json
    from hoplab.records.store import SessionStore
    from hoplab.sessions.sshconfig import ssh_config as host_block

    block = host_block(session_id, SessionStore(), interactive=interactive())
    if as_json:
        print_json(
            "ssh-config",
            {"id": block.session.id, "alias": block.alias, "host": block.host, "block": block.text},
        )
        return
    out.print(block.text, end="", markup=False, highlight=False, soft_wrap=True)
