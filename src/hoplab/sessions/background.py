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
from hoplab.errors import HoplabError
from hoplab.paths import private_dir, state_dir, write_private
from hoplab.sessions import holding
from hoplab.sessions.cleanup import drop_forwards, local_ports
from hoplab.tunnel import relay

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

    from hoplab.records.model import Session
    from hoplab.records.store import SessionStore

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


# The write ends of the pipes whose end a supervisor waits for (``after_exit``): held open
# until this process exits, when the system closes them, or lets them start (let_start).
_held_until_exit: list[int] = []


def let_start() -> None:
    """The supervisors handed over with ``after_exit`` start now: this process stays on a while
    (it waits for the browser to read its page) and has nothing left to do that competes."""
    while _held_until_exit:
        os.close(_held_until_exit.pop())


def hand_over(
    session_id: str,
    store: SessionStore,
    *,
    warn_minutes: int = 10,
    notify: bool = True,
    after_exit: bool = False,
) -> int:
    """Let the background supervisor serve the session's ports instead of this process; its PID.

    It inherits this process's listening sockets, so the ports never close and ssh's forwards
    stay as they are: a connection that arrives while it starts waits in the socket's queue.
    The record names it as the session's holder and relay at once, and this process's relays
    close. It warns ``warn_minutes`` before the walltime ends; with ``notify`` it shows desktop
    notifications (it has no terminal to ring), or none.

    ``after_exit``, for a command that exits next: the supervisor starts its work once this
    process has exited (see ``hoplab supervise --after``), so that its start-up does not
    compete with this process's last steps for the CPU.
    """
    session = store.get(session_id)
    if (pid := running(session_id)) is not None:  # one already: it takes the ports when free
        relay.stop_all()
        return pid
    mine = [found for port in local_ports(session) if (found := relay.serving(port))]
    listeners = {served.port: served.listening_fd() for served in mine}
    argv = [sys.executable, "-m", "hoplab", "supervise", session_id]
    argv += [f"--listen={port}:{fd}" for port, fd in listeners.items()]
    argv += [f"--walltime-warning={warn_minutes}", *(() if notify else ("--no-notify",))]
    passed = list(listeners.values())
    if after_exit:
        ends_with_us, held = os.pipe()  # neither end is inherited by anything else
        _held_until_exit.append(held)
        passed.append(ends_with_us)
        argv.append(f"--after={ends_with_us}")
    try:
        child = process.spawn(
            argv, detach=True, output=log_file(session_id), pass_fds=tuple(passed)
        )
    finally:
        for fd in passed:
            os.close(fd)
    write_private(pid_file(session_id), f"{child.pid}\n")  # it writes the same when it runs
    holding.take(store, session_id, pid=child.pid)
    if listeners:
        session = store.get(session_id)
        session.relay_pid = child.pid
        store.save(session)
    relay.stop_all()
    log.debug("the background supervisor (pid %d) serves %s", child.pid, sorted(listeners))
    return child.pid


def adopt(session: Session, listeners: Mapping[int, int]) -> None:
    """Serve, from this process, the listening sockets a hoplab handed over (port ->
    descriptor), each relayed to its forward's socket; one the session no longer has is
    closed."""
    targets = {extra.local_port: extra.socket for extra in session.forwards}
    targets[session.local_port] = session.forward_socket
    for port, fd in listeners.items():
        target = targets.get(port)
        if target is None:
            os.close(fd)
            continue
        served = relay.adopt(fd, target)
        if served.port != port:
            relay.stop(served.port)
            raise HoplabError(f"the descriptor handed over for port {port} listens on another")


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
    return stop_all([session_id])[session_id]


def stop_all(session_ids: list[str]) -> dict[str, bool]:
    """End these sessions' supervisors, all at once; for each, True when none is left."""
    return stopped(ask_to_stop(session_ids))


def ask_to_stop(session_ids: list[str]) -> dict[str, int | None]:
    """Send these sessions' supervisors their TERM, all at once, and wait for none: the
    caller does other work while they end, then waits in :func:`stopped`. A supervisor ended by
    a signal leaves the session's forwards to whoever sent it (see :func:`let_go`)."""
    pids = {sid: running(sid) for sid in session_ids}
    process.term_all([pid for pid in pids.values() if pid is not None])
    return pids


def stopped(asked: dict[str, int | None]) -> dict[str, bool]:
    """Wait until the supervisors :func:`ask_to_stop` asked have ended (KILL after 5 s); for
    each session, True when none is left."""
    pids = [pid for pid in asked.values() if pid is not None]
    gone = process.terminate_all(pids, patience=5.0, termed=True)
    result = {}
    for sid, pid in asked.items():
        result[sid] = pid is None or gone[pid]
        if result[sid]:
            pid_file(sid).unlink(missing_ok=True)
    return result


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


def let_go(store: SessionStore, session: Session, *, forwards: bool = True) -> None:
    """This supervisor stops serving ``session``: its relays close, and ssh's forwards that fed
    them go with their sockets, for nothing reads from them any more (``attach`` makes them
    again). The session itself runs on. ``session``: as it was when supervision began, used
    when its record can no longer be read.

    Without ``forwards``, for a supervisor ended by a signal while its store is the one
    everyone reads, the forwards stay to whoever sent it: ``down`` removes them itself,
    ``attach`` replaces them (and one ended by hand leaves them to the next of these).
    """
    if not forwards:
        relay.stop_all()
        return
    try:
        # moved aside or unreadable: the forwards are still those it began with
        with suppress(HoplabError):
            session = store.get(session.id)
        drop_forwards(session)
    except HoplabError as exc:
        log.debug("the forwards of %s stay: %s", session.id, exc.message)
    finally:
        relay.stop_all()
