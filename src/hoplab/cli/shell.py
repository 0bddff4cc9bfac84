"""``hoplab shell SESSION [-- COMMAND...]``."""

from __future__ import annotations

import click

from hoplab.cli.completion import session_ids
from hoplab.cli.render import err, escape


@click.command()
@click.argument("session_id", metavar="SESSION", shell_complete=session_ids(live_only=True))
@click.argument("command", nargs=-1, metavar="[-- COMMAND...]")
@click.option(
    "--tty/--no-tty",
    "-t/-T",
    default=None,
    help="A remote terminal for COMMAND (an interactive shell always gets one).",
)
def shell(session_id: str, command: tuple[str, ...], tty: bool | None) -> int:
    """Open a shell on the host where a session's Jupyter runs.

    \b
      hoplab shell 3f9c                  a login shell on the job's compute node
      hoplab shell 3f9c -- nvidia-smi    one command there; its exit code is hoplab's
      hoplab shell 3f9c -t -- htop       a command that needs a terminal

    It goes through the login node's shared connection, so nothing asks for a password or a
    code again. COMMAND is read by the remote shell, as with ssh. Where the node refuses ssh,
    it goes in through the scheduler's own way into the running job (srun --overlap
    --jobid for SLURM, condor_ssh_to_job, battach, oarsub -C) and says so.
    """
    from hoplab.cli.common import interactive
    from hoplab.records.store import SessionStore
    from hoplab.sessions.shell import plan_shell, run_shell

    plan = plan_shell(
        session_id, SessionStore(), command=command, tty=tty, interactive=interactive()
    )
    if plan.note:
        err.print(f"[yellow]{escape(plan.note)}[/]", soft_wrap=True)
    return run_shell(plan)
