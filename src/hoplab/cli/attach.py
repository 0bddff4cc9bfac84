"""``hoplab attach SESSION``."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hoplab.cli.common import (
    ProgressLines,
    interactive,
    open_browser,
    place,
    print_json,
    signals_raise,
)
from hoplab.cli.completion import profile_names, session_ids
from hoplab.cli.flags import setting_options
from hoplab.cli.render import err, escape, out, plain_table

if TYPE_CHECKING:
    from hoplab.records.store import SessionStore
    from hoplab.sessions.adopt import Running
    from hoplab.sessions.attach import AttachResult


@click.command()
@click.argument(
    "session_id", metavar="[SESSION]", required=False, shell_complete=session_ids(live_only=True)
)
@click.option(
    "--on",
    "on",
    metavar="TARGET",
    shell_complete=profile_names,
    help="Find SESSION on TARGET (a profile or ssh destination), where it was started from "
    "another computer: its token is read there over ssh. Without SESSION, list the sessions "
    "that run there (one alone is attached to).",
)
@setting_options(
    "port",
    "browser",
    "notify",
    helps={
        "port": "Local port for the tunnel (default: the old one).",
        "notify": "No desktop notification and no bell while this attach supervises the tunnel.",
    },
)
@click.option(
    "--detach",
    is_flag=True,
    help="Return once the tunnel answers; a detached hoplab process keeps it (as --background).",
)
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
    session_id: str | None,
    on: str | None,
    detach: bool,
    background: bool,
    script: Path | None,
    as_json: bool,
    command_line: dict[str, Any],
) -> None:
    """Tunnel to a running session again: after sleep, a reboot, or from another computer.

    Rebuilds the ssh connection and the forward as needed, proves Jupyter answers, and
    opens the browser. SESSION is an id from 'hoplab ls' (a unique prefix is enough).

    \b
      hoplab attach 3f9c --script reconnect.sh    then, anywhere: sh reconnect.sh

    --script FILE writes a POSIX sh script (0700) that makes the same ssh chain, picks a
    free port, waits until Jupyter answers and prints the URL, on any Linux or macOS machine
    with OpenSSH and your ssh credentials, without hoplab; Ctrl-C ends its tunnel. It holds
    no token (it reads it over ssh from the session directory) and carries the compute
    node's host key that the login node vouched for.

    \b
    From another computer, which has no record of the session:
      hoplab attach --on TARGET          list the sessions that run on TARGET
      hoplab attach --on TARGET SESSION  record SESSION here and attach to it

    The token is read over ssh from the session's 0600 file on TARGET; it is never in a
    command line or a log. A 'hoplab down' from either computer ends the session; the other
    computer's 'hoplab ls' then shows it as stopped elsewhere, until a 'hoplab down' or
    'hoplab ls --prune' there settles its record.
    """
    from hoplab.records.store import SessionStore

    if session_id is None and on is None:
        raise click.UsageError("name a SESSION, or use --on TARGET to find the ones running there")
    if script is not None and (session_id is None or on is not None):
        raise click.UsageError(
            "--script writes the reconnect script of a SESSION recorded here (one started "
            "elsewhere: 'hoplab attach --on TARGET SESSION --detach' records it first)"
        )
    store = SessionStore()
    if script is not None:
        _write_script(session_id or "", store, script, as_json=as_json)
        return
    quiet = detach or as_json or background
    if on is None:
        result = _attach_known(
            store, session_id or "", quiet=quiet, as_json=as_json, command_line=command_line
        )
    else:
        result = _attach_on(
            store, on, session_id, quiet=quiet, as_json=as_json, command_line=command_line
        )
    notify = command_line["notify"] is not False
    supervisor = None
    if quiet:  # the port's relay needs a process that stays: the background supervisor's
        from hoplab.cli.foreground import hand_over

        supervisor, session = hand_over(result.session, store, notify=notify)
        result = replace(
            result,
            session=session,
            url=session.url(with_token=True) or result.url,
            port_changed=result.port_changed or session.local_port != result.session.local_port,
        )
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
    _render(result, supervisor=supervisor, command_line=command_line, store=store)


def _render(
    result: AttachResult,
    *,
    supervisor: int | None,
    command_line: dict[str, Any],
    store: SessionStore,
) -> None:
    notify = command_line["notify"] is not False
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
    from hoplab.cli.foreground import stay_attached

    stay_attached(result.session, store, notify=notify)


def _write_script(session_id: str, store: SessionStore, path: Path, *, as_json: bool) -> None:
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


def _attach_known(
    store: SessionStore,
    session_id: str,
    *,
    quiet: bool,
    as_json: bool,
    command_line: dict[str, Any],
) -> AttachResult:
    """``attach SESSION``: a session this computer has a record of."""
    from hoplab.errors import SessionNotFoundError
    from hoplab.sessions.attach import attach as reattach

    try:
        session = store.get(session_id)
    except SessionNotFoundError as exc:
        exc.hint = (
            f"{exc.hint}; a session started from another computer is found on its target: "
            f"'hoplab attach --on TARGET {session_id}'"
        )
        raise
    _take_over_from_background(session.id, quiet=quiet)
    with signals_raise(KeyboardInterrupt):
        return reattach(
            session_id,
            store,
            port=command_line["port"],
            detach=quiet,
            interactive=interactive(),
            progress=ProgressLines(quiet=as_json),
        )


def _attach_on(
    store: SessionStore,
    on: str,
    session_id: str | None,
    *,
    quiet: bool,
    as_json: bool,
    command_line: dict[str, Any],
) -> AttachResult:
    """``attach --on TARGET [SESSION]``: find it there, record it here, attach. The masters
    it opened go after their idle time unless the session attached to rides them."""
    from hoplab.sessions.adopt import attach_on, let_go, running_on

    where = place(on)
    try:
        if session_id is None:
            found = running_on(where, store, interactive=interactive())
            session_id = _choose(found, on, as_json=as_json)
        known = {s.id for s in store.live()}
        if session_id in known:
            _take_over_from_background(session_id, quiet=quiet)
        with signals_raise(KeyboardInterrupt):
            return attach_on(
                where,
                session_id,
                store,
                port=command_line["port"],
                detach=quiet,
                interactive=interactive(),
                progress=ProgressLines(quiet=as_json),
            )
    finally:
        let_go(where, store)


def _take_over_from_background(session_id: str, *, quiet: bool) -> None:
    """A background supervisor serves the session's port (its relay): it stops, and this
    process forwards and relays again (a quiet attach then hands the port to a new one)."""
    from hoplab.sessions import background as detached

    if detached.running(session_id):
        detached.stop(session_id)
        if not quiet:
            err.print("the background supervisor stopped; this terminal supervises the tunnel now")


CANDIDATE_COLUMNS = ("ID", "APP", "STATUS", "HERE")


def candidate_lines(found: list[Running]) -> list[str]:
    """The sessions found on a target, one aligned line each (plain text: values come from
    the target)."""
    rows = [[r.session.id, r.session.app, r.status, "recorded" if r.known else ""] for r in found]
    return plain_table(CANDIDATE_COLUMNS, rows)


def _choose(found: list[Running], on: str, *, as_json: bool) -> str:
    """The session to attach to among those running on ``on``: the only one; else the user's
    pick when stdin is a terminal; else the list (JSON with ``--json``), and exit 1."""
    from hoplab.errors import SessionStateError

    if not found:
        raise SessionStateError(
            f"no hoplab session runs and answers on {on}",
            f"'hoplab up {on}' starts one (a job that waits in the queue can be attached to "
            "once its Jupyter is ready)",
        )
    if len(found) == 1:
        only = found[0]
        if not as_json:
            err.print(f"one session runs on {on}: {only.session.id} ({only.status})", markup=False)
        return only.session.id
    if as_json:
        sessions = [{**r.session.public(), "status": r.status, "recorded": r.known} for r in found]
        print_json("attach", {"sessions": sessions})
        raise SystemExit(1)
    lines = candidate_lines(found)
    if sys.stdin.isatty():
        for line in lines:
            err.print(line, markup=False, highlight=False, soft_wrap=True)
        ids = [r.session.id for r in found]
        return str(click.prompt("attach to", type=click.Choice(ids), err=True))
    for line in lines:
        out.print(line, markup=False, highlight=False, soft_wrap=True)
    err.print(
        f"{len(found)} sessions run on {on}: name one, 'hoplab attach --on {on} SESSION'",
        markup=False,
    )
    raise SystemExit(1)
