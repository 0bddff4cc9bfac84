"""``hoplab ls``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from hoplab.cli.common import age, place, print_json
from hoplab.cli.completion import profile_names
from hoplab.cli.render import err, out, plain_table

if TYPE_CHECKING:
    from hoplab.records.store import SessionStore
    from hoplab.sessions.listing import Row

STATE_STYLE = {
    "ready": "green",
    "detached": "cyan",
    "starting": "yellow",
    "lost": "red",
    "ended": "magenta",
    "failed": "red",
    "stopped": "dim",
    "stopped-elsewhere": "dim",
}


@click.command()
@click.option("--all", "-a", "everything", is_flag=True, help="Include stopped and failed ones.")
@click.option(
    "--prune", is_flag=True, help="Stop the orphans found (as 'hoplab down' would), verified."
)
@click.option(
    "--scan",
    multiple=True,
    metavar="TARGET",
    shell_complete=profile_names,
    help="Also look for orphans on TARGET, a profile or ssh destination (repeatable): "
    "after the state database was moved aside, this finds what still runs there, with its "
    "token, so that 'hoplab attach ID' can take it over.",
)
@click.option(
    "--wide",
    "-w",
    is_flag=True,
    help="Full values, one line per session, never cut (what a pipe gets).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the sessions as JSON.")
def ls(everything: bool, prune: bool, scan: tuple[str, ...], wide: bool, as_json: bool) -> None:
    """List sessions with their live state.

    Each live session is checked on its host (Jupyter process alive, socket present), one
    command per host over the shared connection; the ones that died are marked lost and
    stay listed until 'hoplab down' removes what they left. Batch jobs are checked with
    one scheduler query per host: a job that ended (walltime, cancelled outside hoplab,
    node failure) shows as ended, with the scheduler's reason, and a job still in the queue
    shows the start the scheduler estimates for it, when it gives one.

    A session that a 'hoplab down' on another computer stopped shows as stopped-elsewhere
    (with who and when) until 'hoplab down ID' or '--prune' settles it here.

    Orphans are what hoplab started that no live session owns: a job whose 'hoplab up' was
    killed while it waited in the queue, a session directory no record knows, a job that
    'down' could not verify gone. They show as lost with a note "orphan: ..."; 'hoplab
    down ID', 'down --all' or 'ls --prune' end them.

    On a terminal the sessions are a table that fits its width; piped (or with --wide)
    each session is one line with every value in full, columns aligned, '-' for nothing.
    """
    from rich.table import Table
    from rich.text import Text

    from hoplab.records.store import SessionStore
    from hoplab.sessions import background
    from hoplab.sessions.listing import list_sessions

    store = SessionStore()
    places = tuple(place(target, adopt=True) for target in scan)
    rows = list_sessions(store, everything=everything, scan=places)
    supervisors = {row.session.id: background.recorded(row.session.id) for row in rows}
    if as_json:
        sessions = [
            {
                **row.session.public(),
                "note": row.note,
                "supervisor_pid": supervisors[row.session.id],
            }
            for row in rows
        ]
        print_json("ls", {"sessions": sessions})
        if prune:
            _prune(rows, store, quiet=True)
        return
    if not rows:
        out.print("no sessions" + ("" if everything else " (--all shows finished ones)"))
        if prune:
            _prune(rows, store, quiet=False)
        return
    cells = [_cells(row, supervisors[row.session.id]) for row in rows]
    if wide or not out.is_terminal:
        for line in plain_table(COLUMNS, cells):
            out.print(line, markup=False, highlight=False, soft_wrap=True)
    else:
        table = Table(box=None, header_style="bold")
        for column in COLUMNS:
            table.add_column(column)
        for row, values in zip(rows, cells, strict=True):
            state = row.session.shown_state.value
            styled = [Text(value) for value in values]
            styled[COLUMNS.index("STATE")].stylize(STATE_STYLE.get(state, ""))
            table.add_row(*styled)
        out.print(table)
    if any(f.local_port for row in rows if row.session.state.is_live for f in row.session.forwards):
        err.print(
            "extra --forward ports (NAME:PORT above) carry no token: "
            "every user of this machine can reach them",
            markup=False,
            highlight=False,
        )
    if prune:
        _prune(rows, store, quiet=False)
    else:
        _what_to_do(rows)


def _what_to_do(rows: list[Row]) -> None:
    from hoplab.records.model import SessionState

    if any(row.orphan for row in rows):
        err.print("orphans found: 'hoplab ls --prune' (or 'hoplab down ID') ends them")
    elif any(row.session.state is SessionState.STOPPED_ELSEWHERE for row in rows):
        err.print(
            "stopped elsewhere: 'hoplab ls --prune' (or 'hoplab down ID') settles them here",
            markup=False,
        )


COLUMNS = ("ID", "TARGET", "STATE", "JOB", "HOST", "URL", "AGE", "NOTE")


def _cells(row: Row, supervisor: int | None) -> list[str]:
    """One session's values, as plain text (never markup: they come from users and hosts)."""
    session = row.session
    extras = "".join(f" {f.name}:{f.local_port}" for f in session.forwards if f.local_port)
    return [
        session.id,
        session.target,
        session.shown_state.value,
        f"{session.scheduler} {session.job_id}" if session.batch else "",
        session.node or session.remote_host or "",
        (session.url(with_token=False) or "") + extras,
        age(session.created),
        _note(row, supervisor),
    ]


def _note(row: Row, supervisor: int | None) -> str:
    from hoplab.records.model import SessionState
    from hoplab.schedulers.base import clock_time

    session = row.session
    note = row.note or (session.error or "" if not session.state.is_live else "")
    if session.state is SessionState.STARTING and session.estimated_start is not None:
        note = f"pending, estimated start {clock_time(session.estimated_start)} {note}".strip()
    if supervisor is not None:
        note = f"supervised (pid {supervisor}) {note}".strip()
    return note


def _prune(rows: list[Row], store: SessionStore, *, quiet: bool) -> None:
    from hoplab.cli.common import interactive
    from hoplab.cli.down import render_results
    from hoplab.sessions.listing import prune

    results = prune(rows, store, interactive=interactive())
    if not results:
        if not quiet:
            err.print("no orphans to prune")
        return
    if not quiet:
        render_results(results)
    if not all(result.clean for result in results):
        raise SystemExit(1)
