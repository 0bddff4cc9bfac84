"""``hoplab logs SESSION``."""

from __future__ import annotations

import click

from hoplab.cli.completion import session_ids
from hoplab.cli.render import out


@click.command()
@click.argument("session_id", metavar="SESSION", shell_complete=session_ids())
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@click.option("--lines", "-n", default=200, show_default=True, help="How many lines to show.")
def logs(session_id: str, follow: bool, lines: int) -> None:
    """Show the remote Jupyter log of a session."""
    from hoplab.cli.common import interactive
    from hoplab.records.store import SessionStore
    from hoplab.sessions.logs import follow_log, read_log

    store = SessionStore()
    if not follow:
        out.print(
            read_log(session_id, store, lines=lines, interactive=interactive()),
            end="",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return
    for line in follow_log(session_id, store, lines=lines, interactive=interactive()):
        out.print(line, end="", markup=False, highlight=False, soft_wrap=True)
