"""``hoplab down SESSION... | --all``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.markup import escape

from hoplab.cli.completion import session_ids
from hoplab.cli.render import err, out

if TYPE_CHECKING:
    from hoplab.sessions.down import DownResult


@click.command()
@click.argument("session_ids", nargs=-1, metavar="[SESSION]...", shell_complete=session_ids())
@click.option("--all", "-a", "every", is_flag=True, help="Stop every live session.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def down(session_ids: tuple[str, ...], every: bool, as_json: bool) -> None:
    """Stop sessions and clean up everything, verified.

    Stops Jupyter (TERM, then KILL after a bounded wait, with its kernels), removes the
    socket and the remote session directory, cancels the local forward, and checks each
    step. The record stays, as stopped, in 'hoplab ls --all'.
    """
    from hoplab.cli.common import interactive, print_json
    from hoplab.records.store import SessionStore
    from hoplab.sessions.down import down as stop

    if not session_ids and not every:
        raise click.UsageError("name a session (see 'hoplab ls') or use --all")
    results = stop(list(session_ids), SessionStore(), every=every, interactive=interactive())
    if as_json:
        print_json(
            "down",
            {
                "results": [
                    {
                        "id": r.session.id,
                        "clean": r.clean,
                        "checks": dict(r.checks),
                        "error": r.error,
                    }
                    for r in results
                ]
            },
        )
    else:
        render_results(results)
    if not all(result.clean for result in results):
        raise SystemExit(1)


def render_results(results: list[DownResult]) -> None:
    if not results:
        out.print("no live sessions")
    for result in results:
        if result.error is not None:
            err.print(
                f"[bold]{escape(result.session.id)}[/] [red]not stopped[/]: {escape(result.error)}"
            )
            err.print(
                f"  kept as it was (nothing of it was stopped); "
                f"'hoplab down {escape(result.session.id)}' tries again",
                highlight=False,
            )
            continue
        marks = "  ".join(
            f"[{'green' if ok else 'red'}]{'✓' if ok else '✗'}[/] {escape(name)}"
            for name, ok in result.checks
        )
        err.print(f"[bold]{escape(result.session.id)}[/] stopped: {marks}")
