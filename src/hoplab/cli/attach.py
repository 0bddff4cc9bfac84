"""``hoplab attach SESSION``."""

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
from hoplab.cli.completion import session_ids
from hoplab.cli.flags import setting_options
from hoplab.cli.render import err, out


@click.command()
@click.argument("session_id", metavar="SESSION", shell_complete=session_ids(live_only=True))
@setting_options(
    "port",
    "browser",
    "notify",
    helps={
        "port": "Local port for the tunnel (default: the old one).",
        "notify": "No desktop notification and no bell while this attach supervises the tunnel.",
    },
)
@click.option("--detach", is_flag=True, help="Return once the tunnel answers.")
@click.option(
    "--background",
    is_flag=True,
    help="Return once the tunnel answers and keep it supervised by a detached hoplab process.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the result as JSON (implies --detach)."
)
def attach(
    session_id: str,
    detach: bool,
    background: bool,
    as_json: bool,
    command_line: dict[str, Any],
) -> None:
    """Tunnel to a running session again: after sleep, a reboot, or on a new laptop.

    Rebuilds the ssh connection and the forward as needed, proves Jupyter answers, and
    opens the browser. SESSION is an id from 'hoplab ls' (a unique prefix is enough).
    """
    from hoplab.records.store import SessionStore
    from hoplab.sessions import background as detached
    from hoplab.sessions.attach import attach as reattach

    store = SessionStore()
    session = store.get(session_id)
    if not (detach or as_json or background) and detached.running(session.id):
        detached.stop(session.id)
        err.print("the background supervisor stopped; this terminal supervises the tunnel now")
    with signals_raise(KeyboardInterrupt):
        result = reattach(
            session_id,
            store,
            port=command_line["port"],
            detach=detach or as_json or background,
            interactive=interactive(),
            progress=ProgressLines(quiet=as_json),
        )
    notify = command_line["notify"] is not False
    supervisor = detached.start(result.session.id, notify=notify) if background else None
    if as_json:
        print_json(
            "attach",
            {
                "session": result.session.public(),
                "url": result.url,
                "port_changed": result.port_changed,
                "port_taken_by_stranger": result.stranger,
                "supervisor_pid": supervisor,
            },
        )
        return
    if result.stranger:
        err.print(
            "[yellow]the local port changed: another process held the old one (it was not "
            "sent the token); use the new URL[/]"
        )
    elif result.port_changed:
        err.print("[yellow]the local port changed; use the new URL[/]")
    out.print(result.url, markup=False, soft_wrap=True)
    if command_line["browser"] is not False:
        open_browser(result.session)
    if supervisor is not None:
        err.print(f"supervised in the background (pid {supervisor})")
        return
    if detach:
        return
    from hoplab.cli.foreground import stay_attached

    stay_attached(result.session, store, notices=notifier(enabled=notify))
