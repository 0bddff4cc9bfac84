"""``hoplab down SESSION... | --all``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from hoplab.cli.completion import profile_names, session_ids
from hoplab.cli.render import err, escape, out

if TYPE_CHECKING:
    from hoplab.sessions.down import DownResult
    from hoplab.sessions.purge import PurgeResult


@click.command()
@click.argument("session_ids", nargs=-1, metavar="[SESSION]...", shell_complete=session_ids())
@click.option("--all", "-a", "every", is_flag=True, help="Stop every live session.")
@click.option(
    "--purge",
    multiple=True,
    metavar="TARGET",
    shell_complete=profile_names,
    help="Then remove hoplab's directory (~/.hoplab) from TARGET (repeatable), once nothing "
    "of hoplab runs there; refused, saying what runs, otherwise.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def down(session_ids: tuple[str, ...], every: bool, purge: tuple[str, ...], as_json: bool) -> None:
    """Stop sessions and clean up everything, verified.

    Stops Jupyter (TERM, then KILL after a bounded wait, with its kernels), removes the
    socket and the remote session directory, cancels the local forward, and checks each
    step. The record stays, as stopped, in 'hoplab ls --all'. Every target is reached at
    once; the ssh connections no live session needs go after their idle time (master_idle).

    'hoplab down --all --purge TARGET' stops everything, then removes ~/.hoplab from TARGET
    when nothing of hoplab runs there any more (checked on the target and with its
    scheduler); '--purge TARGET' alone only removes it, or says what still runs.
    """
    from hoplab.cli.common import interactive, place, print_json
    from hoplab.records.store import SessionStore
    from hoplab.sessions.down import down as stop
    from hoplab.sessions.purge import purge as remove

    if not session_ids and not every and not purge:
        raise click.UsageError("name a session (see 'hoplab ls'), use --all, or --purge TARGET")
    places = [place(text) for text in purge]  # a bad TARGET stops before anything is stopped
    store = SessionStore()
    results = (
        stop(list(session_ids), store, every=every, interactive=interactive())
        if session_ids or every
        else []
    )
    purged = remove(places, store, interactive=interactive()) if places else []
    if as_json:
        answer: dict[str, object] = {
            "results": [
                {
                    "id": r.session.id,
                    "clean": r.clean,
                    "checks": dict(r.checks),
                    "error": r.error,
                }
                for r in results
            ]
        }
        if places:
            answer["purged"] = [
                {
                    "target": p.label,
                    "done": p.done,
                    "finding": p.finding.value if p.finding else None,
                    "running": list(p.running),
                    "error": p.error,
                }
                for p in purged
            ]
        print_json("down", answer)
    else:
        if session_ids or every:
            render_results(results)
        render_purged(purged)
    if not all(result.clean for result in results) or not all(p.done for p in purged):
        raise SystemExit(1)


def render_purged(purged: list[PurgeResult]) -> None:
    for result in purged:
        label = escape(result.label)
        if result.error is not None:
            err.print(f"[bold]{label}[/] [red]not purged[/]: {escape(result.error)}")
        elif result.running:
            err.print(f"[bold]{label}[/] [red]not purged[/]: hoplab still runs there")
            for line in result.running:
                err.print(f"  {escape(line)}", highlight=False)
        elif result.finding is not None and result.done:
            what = "removed" if result.finding.value == "removed" else "there was none"
            err.print(f"[bold]{label}[/] purged: [green]✓[/] ~/.hoplab {what}")
        else:
            err.print(
                f"[bold]{label}[/] [red]not purged[/]: ~/.hoplab is still there, or is not a "
                "plain directory of yours (a link is never followed); look at it there"
            )


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
