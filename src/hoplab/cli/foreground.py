"""Staying attached after ``up`` or ``attach``: watch the tunnel; Ctrl-C asks what to do."""

from __future__ import annotations

import signal
import sys
import time
from typing import TYPE_CHECKING

import click
from rich.markup import escape

from hoplab.cli.common import Detach, interactive, signals_raise
from hoplab.cli.render import err, out
from hoplab.sessions.holding import release
from hoplab.sessions.supervisor import Change, Event, Supervisor

if TYPE_CHECKING:
    from hoplab.records.model import Session
    from hoplab.records.store import SessionStore


class Walltime:
    """The job's walltime: shown once, then one warning ``warn_minutes`` before it ends."""

    def __init__(self, session: Session, warn_minutes: int) -> None:
        self.end = session.walltime_end
        self.warn_at = None if self.end is None else self.end - 60 * warn_minutes
        self.warned = False

    def left(self) -> str:
        if self.end is None:
            return ""
        minutes = max(0, int(self.end - time.time()) // 60)
        return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes} min"

    def check(self) -> None:
        if self.warn_at is None or self.warned or time.time() < self.warn_at:
            return
        self.warned = True
        err.print(
            f"[yellow]the job's walltime ends in {self.left()}: save your work[/] "
            "(Jupyter stops with the job)"
        )


def stay_attached(session: Session, store: SessionStore, *, warn_minutes: int = 10) -> None:
    """Supervise the tunnel in this terminal until the user detaches or stops the session."""
    walltime = Walltime(session, warn_minutes)
    left = f" Walltime left: {walltime.left()}." if walltime.end else ""
    err.print(
        f"[bold]{escape(session.id)}[/] is ready.{left} Press Ctrl-C to detach or stop; "
        f"'hoplab attach {escape(session.id)}' reconnects later."
    )
    supervisor = Supervisor(
        session.id,
        store,
        notify=lambda event: show_event(event, store, session.id),
        tick=lambda _current: walltime.check(),
    )
    try:
        with signals_raise(Detach):
            supervisor.run()
    except KeyboardInterrupt:
        _ask_and_finish(session, store)
    except Detach as why:
        err.print(f"{why}: detaching; the session keeps running")
        release(store, session.id)


STYLE = {
    Change.BROKEN: "yellow",
    Change.MASTER: "yellow",
    Change.RETRY: "yellow",
    Change.REBUILT: "green",
    Change.PORT: "yellow",
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


def _ask_and_finish(session: Session, store: SessionStore) -> None:
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
        release(store, session.id)
        err.print(
            f"detached; 'hoplab attach {escape(session.id)}' reconnects, 'hoplab down' stops it"
        )
        return
    from hoplab.cli.down import render_results
    from hoplab.sessions.down import down

    render_results(down([session.id], store, interactive=interactive()))
