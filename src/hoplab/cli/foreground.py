"""Staying attached after ``up`` or ``attach``: watch the tunnel; Ctrl-C asks what to do."""

from __future__ import annotations

import signal
import threading
import time
from typing import TYPE_CHECKING

import click

from hoplab.cli.common import Detach, interactive, signals_raise
from hoplab.cli.render import err, out
from hoplab.errors import HoplabError
from hoplab.sessions import tunnel
from hoplab.sessions.model import SessionState

if TYPE_CHECKING:
    from hoplab.sessions.model import Session
    from hoplab.sessions.store import SessionStore

PROBE_INTERVAL = 5.0


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


class Ended(Exception):  # noqa: N818  (control flow: the session is over, stop watching)
    """The session ended or was lost while we watched it."""


def stay_attached(session: Session, store: SessionStore, *, warn_minutes: int = 10) -> None:
    """Probe Jupyter through the tunnel until the user detaches or stops the session."""
    walltime = Walltime(session, warn_minutes)
    left = f" Walltime left: {walltime.left()}." if walltime.end else ""
    err.print(
        f"[bold]{session.id}[/] is ready.{left} Press Ctrl-C to detach or stop; "
        f"'hoplab attach {session.id}' reconnects later."
    )
    wake = threading.Event()
    healthy = True
    try:
        with signals_raise(Detach):
            while not wake.wait(PROBE_INTERVAL):
                healthy = _probe(session, store, healthy)
                walltime.check()
    except Ended as why:
        err.print(f"[red]session {session.id} is over:[/] {why}")
    except KeyboardInterrupt:
        _ask_and_finish(session, store)
    except Detach as why:
        err.print(f"{why}: detaching; the session keeps running")
        _detach(session, store)


def _probe(session: Session, store: SessionStore, healthy: bool) -> bool:
    port = session.local_port
    ok = port is not None and tunnel.status_code(port, session.base_url, session.token) == 200
    if ok and not healthy:
        err.print("[green]tunnel answers again[/]")
    if ok:
        return True
    err.print("[yellow]Jupyter does not answer through the tunnel; reconnecting[/]")
    from hoplab.sessions.attach import attach

    try:
        result = attach(session.id, store, interactive=interactive())
    except HoplabError as exc:
        current = store.get(session.id)
        if not current.state.is_live:
            raise Ended(current.error or current.state.value) from exc
        err.print(f"[red]reconnect failed:[/] {exc.message}")
        return False
    session.local_port = result.session.local_port
    if result.port_changed:
        out.print(result.url, soft_wrap=True)
    return True


def _ask_and_finish(session: Session, store: SessionStore) -> None:
    # A second Ctrl-C while asking must not kill us half-way: ignore it during the question.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        choice = "s"
        if interactive():
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
        _detach(session, store)
        err.print(f"detached; 'hoplab attach {session.id}' reconnects, 'hoplab down' stops it")
        return
    from hoplab.cli.down import render_results
    from hoplab.sessions.down import down

    render_results(down([session.id], store, interactive=interactive()))


def _detach(session: Session, store: SessionStore) -> None:
    current = store.get(session.id)
    if current.state.is_live:
        current.settle(SessionState.DETACHED, current.error)
        store.save(current)
