"""``hoplab ls``."""

from __future__ import annotations

import click

from hoplab.cli.common import age, print_json
from hoplab.cli.render import out

STATE_STYLE = {
    "ready": "green",
    "detached": "cyan",
    "starting": "yellow",
    "lost": "red",
    "ended": "magenta",
    "failed": "red",
    "stopped": "dim",
}


@click.command()
@click.option("--all", "-a", "everything", is_flag=True, help="Include stopped and failed ones.")
@click.option("--json", "as_json", is_flag=True, help="Print the sessions as JSON.")
def ls(everything: bool, as_json: bool) -> None:
    """List sessions with their live state.

    Each live session is checked on its host (Jupyter process alive, socket present), one
    command per host over the shared connection; the ones that died are marked lost and
    stay listed until 'hoplab down' removes what they left. Batch jobs are checked with
    one scheduler query per host: a job that ended (walltime, cancelled outside hoplab,
    node failure) shows as ended, with the scheduler's reason.
    """
    from rich.table import Table

    from hoplab.sessions.listing import list_sessions
    from hoplab.sessions.store import SessionStore

    rows = list_sessions(SessionStore(), everything=everything)
    if as_json:
        sessions = [{**row.session.public(), "note": row.note} for row in rows]
        print_json("ls", {"sessions": sessions})
        return
    if not rows:
        out.print("no sessions" + ("" if everything else " (--all shows finished ones)"))
        return
    table = Table(box=None, header_style="bold")
    for column in ("ID", "TARGET", "STATE", "JOB", "HOST", "URL", "AGE", "NOTE"):
        table.add_column(column)
    for row in rows:
        session = row.session
        state = session.shown_state.value
        extras = "".join(f" {f.name}:{f.local_port}" for f in session.forwards if f.local_port)
        table.add_row(
            session.id,
            session.target,
            f"[{STATE_STYLE.get(state, '')}]{state}[/]",
            f"{session.scheduler} {session.job_id}" if session.batch else "",
            session.node or session.remote_host or "",
            (session.url(with_token=False) or "") + extras,
            age(session.created),
            row.note or (session.error or "" if not session.state.is_live else ""),
        )
    out.print(table)
