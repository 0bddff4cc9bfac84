"""``hoplab attach SESSION``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from hoplab.records.store import SessionStore


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
    "--script",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write a script that reconnects without hoplab (no tunnel is opened here).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the result as JSON (implies --detach)."
)
def attach(
    session_id: str,
    detach: bool,
    background: bool,
    script: Path | None,
    as_json: bool,
    command_line: dict[str, Any],
) -> None:
    """Tunnel to a running session again: after sleep, a reboot, or on a new laptop.

    Rebuilds the ssh connection and the forward as needed, proves Jupyter answers, and
    opens the browser. SESSION is an id from 'hoplab ls' (a unique prefix is enough).

    \b
      hoplab attach 3f9c --script reconnect.sh    then, anywhere: sh reconnect.sh

    --script FILE writes a POSIX sh script (0700) that makes the same ssh chain, picks a
    free port, waits until Jupyter answers and prints the URL, on any Linux or macOS machine
    with OpenSSH and your ssh credentials, without hoplab; Ctrl-C ends its tunnel. It holds
    no token (it reads it over ssh from the session directory) and carries the compute
    node's host key that the login node vouched for.
    """
    from hoplab.records.store import SessionStore
    from hoplab.sessions import background as detached
    from hoplab.sessions.attach import attach as reattach

    store = SessionStore()
    if script is not None:
        _write_script(session_id, store, script, as_json=as_json)
        return
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


def _write_script(session_id: str, store: SessionStore, path: Path, *, as_json: bool) -> None:
    from rich.markup import escape

    from hoplab.sessions.reconnect import write_script

    result = write_script(session_id, store, path, interactive=interactive())
    if as_json:
        print_json(
            "attach-script",
            {"session": result.session.public(), "script": str(result.path.resolve())},
        )
        return
    out.print(str(result.path), markup=False, soft_wrap=True)
    key = "; it carries the node's host key" if result.carries_key else ""
    err.print(
        f"wrote {escape(str(result.path))} (mode 0700): it reconnects to {result.session.id} "
        f"through {escape(' → '.join(result.hops))}{key}. Run it with: sh {escape(str(path))}",
        soft_wrap=True,
    )
