"""The detached processes hoplab starts itself: ``hoplab supervise SESSION`` (``up
--background``) and ``hoplab close-idle KEY`` (a master no session needs, after its idle time)."""

from __future__ import annotations

import contextlib
import os
import select

import click

from hoplab.cli.common import Detach, signals_raise
from hoplab.errors import HoplabError

# a hoplab that hands over exits (or lets go) at once; one that hangs is not waited for
AFTER_PATIENCE = 5.0


def _listens(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> dict[int, int]:
    """``PORT:FD`` values: a port and the descriptor of its inherited listening socket."""
    found = {}
    for value in values:
        port, _, fd = value.partition(":")
        if not (port.isdigit() and fd.isdigit()):
            raise click.BadParameter(f"{value!r} is not PORT:FD")
        found[int(port)] = int(fd)
    return found


@click.command(hidden=True)
@click.argument("session_id", metavar="SESSION")
@click.option("--walltime-warning", type=click.IntRange(min=0), default=10, metavar="MINUTES")
@click.option("--no-notify", is_flag=True, help="No desktop notifications.")
@click.option(
    "--listen",
    "listens",
    multiple=True,
    callback=_listens,
    metavar="PORT:FD",
    help="Serve the listening socket inherited as descriptor FD (127.0.0.1:PORT).",
)
@click.option(
    "--after",
    type=click.IntRange(min=0),
    metavar="FD",
    help="Start once the hoplab that handed over has exited (FD, the pipe it holds, ends).",
)
def supervise(
    session_id: str,
    walltime_warning: int,
    no_notify: bool,
    listens: dict[int, int],
    after: int | None,
) -> None:
    """Keep SESSION's tunnel answering, detached; 'hoplab down SESSION' ends it.

    Started by 'hoplab up --background' or '--detach' (and attach's), with its output in the
    state directory's supervisors/SESSION.log. It serves the session's 127.0.0.1 port (the
    relay to ssh's forward), probes Jupyter through it every 5 s, rebuilds the ssh connection
    and the forward when that fails, and renews the --lease. It warns before the walltime
    ends, and, unless --no-notify, shows a desktop notification for that, for a job that ends
    on its own, for a lost session and for an authentication it cannot ask for.
    """
    if after is not None:
        _wait_for_end(after)
    from hoplab.cli.common import notifier
    from hoplab.cli.foreground import show_event
    from hoplab.records.store import SessionStore
    from hoplab.sessions import background, holding
    from hoplab.sessions.supervisor import Supervisor

    store = SessionStore()
    session = store.get(session_id)
    with background.claim(session.id):
        session = holding.take(store, session.id)
        try:
            background.adopt(session, listens)
        except HoplabError as exc:  # then the supervisor forwards and relays anew
            click.echo(f"the ports handed over are not served: {exc.message}", err=True)
        # plain lines into its log: rich is imported only should an event be shown
        click.echo(f"supervising {session.id} on {session.ssh_target.label}", err=True)
        supervisor = Supervisor(
            session.id,
            store,
            # no URL here: the token must not reach a log file
            notify=lambda event: show_event(event, store, session.id, url=False),
            notices=notifier(enabled=not no_notify),  # no terminal here: no bell, only desktop
            warn_minutes=walltime_warning,
        )
        drop = True  # its forwards go with it...
        try:
            with signals_raise(Detach):
                supervisor.run()
        except Detach as why:
            # ...unless a signal came from down or attach: they remove or replace the forwards
            # their record names, this one's while the store is the same
            drop = store.replaced()
            holding.release(store, session.id)
            click.echo(f"{why}: supervision stops; the session itself keeps running", err=True)
        finally:
            # nothing serves the port once this process ends
            background.let_go(store, session, forwards=drop)


def _wait_for_end(fd: int) -> None:
    """Until the pipe ``fd`` ends (its writer, the hoplab that handed the session over, has
    exited or let go), for at most AFTER_PATIENCE seconds; meanwhile connections wait in the
    queue of the inherited listening sockets."""
    with contextlib.suppress(OSError, ValueError):
        waiting = select.poll()  # any descriptor number, unlike select()
        waiting.register(fd, select.POLLIN)
        waiting.poll(AFTER_PATIENCE * 1000)
    with contextlib.suppress(OSError):
        os.close(fd)


@click.command(name="close-idle", hidden=True)
@click.argument("key")
def close_idle(key: str) -> None:
    """End the ssh master KEY once it has been idle for its time and no live session rides it.

    Started by the command that left the master unneeded (see hoplab.sessions.masters); it
    goes as soon as the master does.
    """
    from hoplab.records.store import SessionStore
    from hoplab.sessions.masters import close_when_idle

    click.echo(f"{key}: {close_when_idle(key, SessionStore())}", err=True)
