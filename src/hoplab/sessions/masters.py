"""Masters no live session needs: ended after an idle time, neither at once nor never.

A master that outlives its last session for a short while spares the next command a password
or a one-time code; one that lives for good leaves an authenticated connection behind, which
some sites forbid. So a master goes ``master_idle`` after the last command that used it
(10 minutes unless the profile says otherwise; ``0``: at once).

OpenSSH's own ``ControlPersist=<time>`` cannot do this for hoplab. It counts from the master's
last *client* (a command through it, a connection through a forward, a hop riding it), and a
forward that only listens is not one (``channel_still_open()`` in OpenSSH's channels.c skips
``SSH_CHANNEL_PORT_LISTENER``). A master carrying a detached session, with no browser connected
and no hoplab process running, would exit after that time and take the session's forward with
it. Nor can a running master's ControlPersist be changed. So masters persist while a live
session rides them, and once none does, hoplab ends them itself: a small detached
``hoplab close-idle KEY`` process waits out the idle time (each later command that leaves the
master unneeded moves the time on), then ends the master, unless a live session rides it again
by then (the ``down`` of that session starts the wait anew). The process watches the master and
goes as soon as the master does.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import TYPE_CHECKING

from hoplab import locks, process
from hoplab.errors import HoplabError, WaitTimeoutError
from hoplab.paths import private_dir, state_dir, write_private
from hoplab.sessions import fanout
from hoplab.ssh.mux import MuxTransport
from hoplab.ssh.target import SshTarget
from hoplab.tunnel.chain import hops
from hoplab.tunnel.reach import forward_target
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from hoplab.records.model import Session
    from hoplab.records.store import SessionStore

log = logging.getLogger(__name__)

DEFAULT_IDLE = 600  # seconds
# How often the waiting process looks whether its master is still there (and the time moved).
WATCH = 5.0


class Chains:
    """The masters sessions ride, each chain worked out once per call (``ssh -G`` for the
    login hops, ``ssh -O check`` for the host a plain session landed on)."""

    def __init__(self) -> None:
        self._hops: dict[str, list[SshTarget]] = {}
        self._carriers: dict[tuple[object, ...], SshTarget] = {}

    def of(self, session: Session) -> list[SshTarget]:
        """The masters ``session`` rides, innermost first: its node's (or its host's), its
        target's, then the login nodes' that the target's chain goes through."""
        if not session.multiplex:
            return []
        target = session.ssh_target
        where = (target.key, session.scheduler, session.reach, session.node, session.remote_host)
        if where not in self._carriers:
            self._carriers[where] = forward_target(session)
        found = [self._carriers[where], *self.to(target)]
        return list({t.key: t for t in found}.values())

    def to(self, target: SshTarget) -> list[SshTarget]:
        """The masters a connection to ``target`` rides: its own, then its login nodes'."""
        if target.key not in self._hops:
            self._hops[target.key] = hops(target)
        return [target, *self._hops[target.key]]


def needed(store: SessionStore) -> set[str]:
    """The keys of the masters some live session rides."""
    chains = Chains()
    return {target.key for live in store.live() for target in chains.of(live)}


def _has_master(target: SshTarget) -> bool:
    """Cheap first (no control socket: no master), then ``ssh -O check``."""
    master = MuxTransport(target)
    return master.control_path.exists() and master.master_pid() is not None


def release(
    store: SessionStore,
    *,
    sessions: Iterable[Session] = (),
    targets: Iterable[tuple[SshTarget, int]] = (),
) -> None:
    """After a command: the masters that ``sessions`` rode, and ``targets`` (each with its idle
    seconds), that no live session needs go after that idle time (at once for 0).

    Never raises: a chain it cannot work out (its login node does not answer) is left as it
    is, and so is every master when it cannot tell which ones live sessions need. The masters
    are asked about at once (see :mod:`hoplab.sessions.fanout`); the chains one after the
    other, for they share what they work out.
    """
    chains = Chains()
    pairs = list(targets)
    for session in sessions:
        try:
            pairs += [(target, session.master_idle) for target in chains.of(session)]
        except HoplabError as exc:
            log.debug("the masters of %s are left as they are: %s", session.id, exc)
    wanted: dict[str, tuple[SshTarget, int]] = {}
    for target, idle in pairs:
        known = wanted.get(target.key)
        wanted[target.key] = (target, max(idle, known[1]) if known else idle)
    if not wanted:
        return
    try:
        keep = needed(store)
    except HoplabError as exc:
        log.debug("masters left as they are: %s", exc)
        return

    def end_or_schedule(target: SshTarget, idle: int) -> None:
        if target.key in keep or not _has_master(target):
            return
        if idle <= 0:
            MuxTransport(target).close()
        else:
            schedule(target, idle)

    fanout.each(list(wanted.values()), lambda item: end_or_schedule(*item))


def _folder() -> Path:
    return private_dir(state_dir() / "idle")


def _plan_file(key: str) -> Path:
    return _folder() / f"{key}.json"


def _pid_file(key: str) -> Path:
    return _folder() / f"{key}.pid"


def schedule(target: SshTarget, idle: int) -> None:
    """End ``target``'s master ``idle`` seconds from now, unless a session needs it by then."""
    plan = {
        "deadline": time.time() + idle,
        "destination": target.destination,
        "jumps": list(target.jumps),
        "config": target.config_file,
    }
    write_private(_plan_file(target.key), json.dumps(plan))
    if closer(target.key) is None:
        process.spawn(
            [sys.executable, "-m", "hoplab", "close-idle", target.key],
            detach=True,
            output=_folder() / f"{target.key}.log",
        )


def closer(key: str) -> int | None:
    """The PID of the process waiting to end the master ``key``, if one runs."""
    try:
        pid = int(_pid_file(key).read_text(encoding="utf-8").strip())
    except (FileNotFoundError, ValueError):
        return None
    words = (process.own_command(pid) or "").split()
    return pid if "close-idle" in words and key in words else None


def _read_plan(key: str) -> tuple[SshTarget, float] | None:
    try:
        plan = json.loads(_plan_file(key).read_text(encoding="utf-8"))
        target = SshTarget(plan["destination"], tuple(plan["jumps"]), plan["config"])
        return target, float(plan["deadline"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def close_when_idle(key: str, store: SessionStore) -> str:
    """Run as the waiting process for master ``key``: what became of it, in a few words."""
    write_private(_pid_file(key), f"{os.getpid()}\n")
    try:
        return _wait_and_close(key, store)
    finally:
        if closer(key) == os.getpid():
            _pid_file(key).unlink(missing_ok=True)


def _wait_and_close(key: str, store: SessionStore) -> str:
    while True:
        plan = _read_plan(key)
        if plan is None or plan[0].key != key:
            return "no plan for this master"
        target, deadline = plan
        master = MuxTransport(target)
        pid = master.watched_pid() or master.master_pid()
        if pid is None or not process.alive(pid):
            _plan_file(key).unlink(missing_ok=True)
            return "the master is gone"

        def over(pid: int = pid, deadline: float = deadline) -> bool:
            return not process.alive(pid) or time.time() >= deadline

        try:
            wait_until(over, deadline - time.time() + WATCH, what="the idle time", cap=WATCH)
        except WaitTimeoutError:
            continue  # the laptop slept through it: look again
        if not process.alive(pid):
            continue  # gone by itself (the next round says so)
        with locks.held(f"master-{key}"):
            again = _read_plan(key)
            if again is not None and again[1] > time.time():
                continue  # a command used it meanwhile: its idle time starts again
            _plan_file(key).unlink(missing_ok=True)
            if key in needed(store):
                return "a live session rides it again"
            try:
                master.close()
            except HoplabError as exc:
                return f"could not end it: {exc.message}"
            return "ended after its idle time"
