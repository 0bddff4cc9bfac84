"""The supervisor as a detached local process (``up --background`` or ``--detach``): its
pidfile and its log.

The browser's port is served by a relay in the process that holds the session (see
:mod:`hoplab.tunnel.relay`), so a session whose tunnel should stay up without a terminal needs
a process: this one. :func:`hand_over` moves the port from a foreground hoplab to it.

The child is ``hoplab supervise SESSION`` in a new process session, so it outlives the terminal
and ignores its Ctrl-C. It writes its own PID into a 0600 pidfile when it starts and removes it
when it ends; ``down`` ends it by that PID only after checking that the process is still that
supervisor. Its output goes to a 0600 log beside the pidfile and never holds the token.
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

from hoplab import process
from hoplab.errors import HoplabError, WaitTimeoutError
from hoplab.paths import private_dir, state_dir, write_private
from hoplab.sessions.cleanup import drop_forwards
from hoplab.tunnel import relay
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from hoplab.records.model import Session
    from hoplab.records.store import SessionStore

START_TIMEOUT = 20.0

log = logging.getLogger(__name__)


def _folder() -> Path:
    return private_dir(state_dir() / "supervisors")


def pid_file(session_id: str) -> Path:
    return _folder() / f"{session_id}.pid"


def log_file(session_id: str) -> Path:
    return _folder() / f"{session_id}.log"


def recorded(session_id: str) -> int | None:
    """The PID in the session's pidfile, if that process still exists (cheap: for ``ls``)."""
    try:
        pid = int(pid_file(session_id).read_text(encoding="utf-8").strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if process.alive(pid) else None


def running(session_id: str) -> int | None:
    """The PID of the session's supervisor, checked by its command line (before a signal)."""
    pid = recorded(session_id)
    if pid is None:
        return None
    words = (process.own_command(pid) or "").split()
    return pid if "supervise" in words and session_id in words else None


def start(session_id: str, *, warn_minutes: int = 10, notify: bool = True) -> int:
    """Start the detached supervisor and return its PID once it has claimed the session.

    It warns ``warn_minutes`` before the walltime ends; with ``notify`` it shows desktop
    notifications (it has no terminal to ring), or none.
    """
    if (pid := running(session_id)) is not None:
        return pid
    log = log_file(session_id)
    argv = [sys.executable, "-m", "hoplab", "supervise", session_id]
    argv += [f"--walltime-warning={warn_minutes}", *(() if notify else ("--no-notify",))]
    child = process.spawn(argv, detach=True, output=log)

    def claimed() -> bool:
        if child.poll() is not None:
            raise HoplabError(
                f"the background supervisor exited at once (code {child.returncode})",
                f"its log says why: {log}",
            )
        return recorded(session_id) == child.pid

    wait_until(claimed, START_TIMEOUT, what="the background supervisor to start")
    return child.pid


def hand_over(
    session_id: str, store: SessionStore, *, warn_minutes: int = 10, notify: bool = True
) -> tuple[int, bool]:
    """Let the background supervisor serve the session's port instead of this process: this
    process's relays close, the supervisor forwards and relays again (on the same port while
    it is free), and warns and notifies as :func:`start` says. Its PID, and whether it serves
    the port yet (False: it keeps trying, and its log says why)."""
    relay.stop_all()
    pid = start(session_id, warn_minutes=warn_minutes, notify=notify)
    try:
        wait_until(
            lambda: served(store.get(session_id)) or not process.alive(pid),
            START_TIMEOUT,
            what="the background supervisor to serve the tunnel",
        )
    except WaitTimeoutError:
        return pid, False
    return pid, served(store.get(session_id))


def served(session: Session) -> bool:
    """Whether the session's port is served without this process: by the relay of another
    live hoplab (the supervisor, or a foreground ``up`` or ``attach`` in another terminal that
    a reused session kept), or by ssh itself in the record of a hoplab from before the relay."""
    if session.forward_socket is None:
        return True
    holder = session.relay_pid
    return holder is not None and holder != os.getpid() and process.is_hoplab(holder)


def stop(session_id: str) -> bool:
    """End the session's supervisor, if one runs; True when none is left."""
    pid = running(session_id)
    if pid is None:
        pid_file(session_id).unlink(missing_ok=True)
        return True
    gone = process.terminate(pid, patience=5.0)
    if gone:
        pid_file(session_id).unlink(missing_ok=True)
    return gone


@contextmanager
def claim(session_id: str) -> Iterator[None]:
    """Run as the session's supervisor: the pidfile names this process while the block runs."""
    path = pid_file(session_id)
    write_private(path, f"{os.getpid()}\n")
    try:
        yield
    finally:
        if recorded(session_id) == os.getpid():
            path.unlink(missing_ok=True)


def let_go(store: SessionStore, session: Session) -> None:
    """This supervisor stops serving ``session``: its relays close, and ssh's forwards that fed
    them go with their sockets, for nothing reads from them any more (``attach`` makes them
    again). The session itself runs on. ``session``: as it was when supervision began, used
    when its record can no longer be read."""
    try:
        # moved aside or unreadable: the forwards are still those it began with
        with suppress(HoplabError):
            session = store.get(session.id)
        drop_forwards(session)
    except HoplabError as exc:
        log.debug("the forwards of %s stay: %s", session.id, exc.message)
    finally:
        relay.stop_all()
