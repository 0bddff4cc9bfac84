"""Staying attached after ``up`` or ``attach``: watch the tunnel; Ctrl-C asks what to do."""

from __future__ import annotations

import signal
import sys
import time
from typing import TYPE_CHECKING

import click

from hoplab.cli.common import Detach, interactive, notifier, signals_raise
from hoplab.cli.render import err, escape, out
from hoplab.sessions.holding import release
from hoplab.sessions.supervisor import Change, Event, Supervisor
from hoplab.sessions.walltime import left_text

if TYPE_CHECKING:
    from hoplab.records.model import Session
    from hoplab.records.store import SessionStore


def stay_attached(
    session: Session, store: SessionStore, *, warn_minutes: int = 10, notify: bool = True
) -> None:
    """Supervise the tunnel in this terminal until the user detaches or stops the session.

    ``warn_minutes`` before the walltime ends it warns; with ``notify`` it rings the bell and
    shows desktop notices, here and in the background supervisor that a detach hands over to.
    """
    left = ""
    if session.walltime_end is not None:
        left = f" Walltime left: {left_text(session.walltime_end, time.time())}."
    err.print(
        f"[bold]{escape(session.id)}[/] is ready.{left} Press Ctrl-C to detach or stop; "
        f"'hoplab attach {escape(session.id)}' reconnects later."
    )
    supervisor = Supervisor(
        session.id,
        store,
        notify=lambda event: show_event(event, store, session.id),
        notices=notifier(enabled=notify),
        warn_minutes=warn_minutes,
    )
    try:
        with signals_raise(Detach):
            supervisor.run()
    except KeyboardInterrupt:
        _ask_and_finish(session, store, warn_minutes=warn_minutes, notify=notify)
    except Detach as why:
        err.print(f"{why}: detaching; the session keeps running")
        hand_over(session, store, warn_minutes=warn_minutes, notify=notify)


def hand_over(
    session: Session,
    store: SessionStore,
    *,
    warn_minutes: int = 10,
    notify: bool = True,
) -> tuple[int, Session]:
    """The browser's port is served by this process's relay, which ends with it: hand the
    session to the background supervisor (which warns ``warn_minutes`` before the walltime
    ends, and shows desktop notices with ``notify``). Its PID and the session as it now
    stands."""
    from hoplab.errors import HoplabError
    from hoplab.sessions import background

    try:
        pid = background.hand_over(
            session.id, store, warn_minutes=warn_minutes, notify=notify, after_exit=True
        )
    except HoplabError:
        release(store, session.id)
        raise
    return pid, store.get(session.id)


STYLE = {
    Change.BROKEN: "yellow",
    Change.MASTER: "yellow",
    Change.RETRY: "yellow",
    Change.REBUILT: "green",
    Change.PORT: "yellow",
    Change.WALLTIME: "yellow",
    Change.AUTH: "yellow",
    Change.ENDED: "red",
}


def show_event(event: Event, store: SessionStore, session_id: str, *, url: bool = True) -> None:
    """One line per change, with the time; a new URL (with its token) on stdout if ``url``."""
    took = f" after {event.seconds:.1f} s" if event.seconds is not None else ""
    stamp = time.strftime("%H:%M:%S")
    err.print(f"[dim]{stamp}[/] [{STYLE[event.change]}]{escape(event.message)}{took}[/]")
    if event.change is Change.PORT and url:
        new = store.get(session_id).url(with_token=True)
        if new:
            out.print(new, markup=False, soft_wrap=True)


def _ask_and_finish(
    session: Session, store: SessionStore, *, warn_minutes: int, notify: bool
) -> None:
    # A second Ctrl-C while asking must not kill us half-way: ignore it during the question.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        choice = "s"
        if sys.stdin.isatty() and sys.stderr.isatty():  # a person can answer here
            err.print()
            choice = click.prompt(
                "Detach (keep it running) or stop it?",
                type=click.Choice(["d", "s"]),
                default="d",
                err=True,
            )
    finally:
        signal.signal(signal.SIGINT, previous)
    if choice == "d":
        pid, _current = hand_over(session, store, warn_minutes=warn_minutes, notify=notify)
        err.print(
            f"detached; a background hoplab (pid {pid}) keeps the tunnel, "
            f"'hoplab attach {escape(session.id)}' takes it back, 'hoplab down' stops it"
        )
        return
    from hoplab.cli.down import render_results
    from hoplab.sessions.down import down

    render_results(down([session.id], store, interactive=interactive()))
