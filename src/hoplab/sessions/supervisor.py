"""The supervised tunnel: prove Jupyter answers, rebuild what broke, renew the lease.

``ssh -O check`` cannot see a master that is half dead after the laptop slept or the wifi
changed: the process is there, its connection carries nothing. So the supervisor asks Jupyter
itself, ``GET /api/status`` with the token through the forward, every few seconds. When that
fails it looks at each master (absent, wedged, stalled), ends the ones that no longer serve,
and rebuilds the master and the forwards with ``attach``: the first retry at once, then with a
backoff capped at 30 s. Two things wake it before its next probe: the end of a master process
it watches (Linux pidfd), and, while a retry waits, the first hop of the ssh chain accepting
TCP connections again (the network is back).

The supervisor never prints; it hands each change to ``notify``, and the changes that deserve
a desktop notice (the walltime warning, a job that ended on its own, a lost session, an
authentication it cannot ask for) to ``notices`` as well. Run in the foreground by
``up``/``attach``, or detached by ``up --background`` or ``--detach`` (see
:mod:`hoplab.sessions.background`). Its process holds the session's relay (the browser's
127.0.0.1 port, see :mod:`hoplab.tunnel.relay`): a rebuild keeps the port and its relay and
forwards ssh's Unix socket again.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import threading
import time
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING

from hoplab import notify as notifying
from hoplab import process
from hoplab.errors import ForeignListenerError, HoplabError, SessionNotFoundError, SshError
from hoplab.notify import Notice, Topic
from hoplab.records.model import SessionState
from hoplab.remote import scripts
from hoplab.sessions.attach import attach
from hoplab.sessions.walltime import Walltime
from hoplab.ssh.mux import MasterHealth, MuxTransport
from hoplab.ssh.target import SshTarget
from hoplab.tunnel import forwards, relay
from hoplab.tunnel.chain import open_transport
from hoplab.tunnel.reach import forward_transport
from hoplab.waiting import backoff

if TYPE_CHECKING:
    from collections.abc import Callable

    from hoplab.records.model import Session
    from hoplab.records.store import SessionStore

PROBE_INTERVAL = 5.0
PROBE_TIMEOUT = 3.0  # Jupyter answers /api/status in milliseconds; the tunnel is what is slow
RETRY_CAP = 30.0
PATH_CHECK = 0.5  # as a rebuild fails: how long one TCP connect to the first hop may take
PATH_STEP = 0.05  # while a retry waits and the first hop is unreachable: how often to try it
PATH_PATIENCE = 3.0  # how long one such TCP connect may take
GIVE_UP_AFTER = 12 * 3600.0  # a tunnel down this long is not coming back by itself
LEASE_RENEW_MAX = 60.0
# A rebuilt tunnel to a Jupyter known to be alive answers at once; waiting longer would hide a
# master that died again meanwhile (the next retry rebuilds it).
REBUILD_READY_TIMEOUT = 10.0


class Change(str, Enum):
    """What the supervisor tells its caller."""

    BROKEN = "broken"  # the probe failed
    MASTER = "master"  # a master no longer serves and is being replaced
    RETRY = "retry"  # a rebuild failed; the next one is scheduled
    REBUILT = "rebuilt"  # Jupyter answers through the tunnel again
    PORT = "port"  # ... on a new local port: a new URL
    WALLTIME = "walltime"  # the job's walltime ends soon
    AUTH = "auth"  # reconnecting needs an authentication that cannot be asked for here
    ENDED = "ended"  # the session is over; the supervisor stops


@dataclass(frozen=True)
class Event:
    """One change, in words; ``seconds`` is how long the tunnel was down (REBUILT)."""

    change: Change
    message: str
    seconds: float | None = None


class SessionOverError(HoplabError):
    """The session ended, was lost or was stopped while it was supervised; ``topic`` says
    whether that deserves a notice (a ``down`` from elsewhere does not)."""

    def __init__(self, message: str, topic: Topic | None = None) -> None:
        super().__init__(message)
        self.topic = topic


# ssh's words when it would have needed a password, a second factor or a key it may not use
# (it runs in batch mode here: nobody is there to answer)
_AUTH_FAILURES = ("Permission denied", "Too many authentication failures")


def needs_authentication(exc: HoplabError) -> bool:
    """Whether ``exc`` is ssh refusing because it would have had to ask the user something."""
    return isinstance(exc, SshError) and any(word in exc.stderr for word in _AUTH_FAILURES)


class Supervisor:
    """Keeps one session's tunnel answering until the session ends or the caller stops it.

    The caller stops it with an exception from a signal handler (Ctrl-C, SIGTERM); every wait
    here is a bounded ``select``/``Event.wait`` that such a signal interrupts.
    """

    def __init__(
        self,
        session_id: str,
        store: SessionStore,
        *,
        notify: Callable[[Event], None],
        notices: notifying.Notifier = notifying.quiet,
        warn_minutes: int | None = None,
        interval: float = PROBE_INTERVAL,
    ) -> None:
        self.session_id = session_id
        self.store = store
        self.notify = notify
        self.notices = notices
        self.walltime = Walltime(warn_minutes)
        self.interval = interval
        self._pause = threading.Event()  # never set: an interruptible, bounded wait
        self._renewed = 0.0

    def run(self) -> None:
        """Probe, rebuild, renew, until the session is over (then notify ENDED and return)."""
        try:
            self._take_over()
            while True:
                session = self._current()
                if self._answers(session):
                    self._renew_lease(session)
                    self._warn_walltime(session)
                    self._wait(self.interval, session)
                    continue
                self._recover()
        except SessionOverError as over:
            self.notify(Event(Change.ENDED, over.message))
            if over.topic is not None:
                self.notices(Notice(over.topic, self.session_id, over.message))

    def _warn_walltime(self, session: Session) -> None:
        warning = self.walltime.warning(session)
        if warning is not None:
            self.notify(Event(Change.WALLTIME, warning))
            self.notices(Notice(Topic.WALLTIME, session.id, f"{session.id}: {warning}"))

    def _take_over(self) -> None:
        """Serve the session's port from this process, the relay's home from now on, unless
        another live hoplab still serves it (then this one steps in only when that one goes).

        A supervisor started when a foreground ``up`` detached finds the port free: it forwards
        and relays at once, without first reporting a broken tunnel. A failure here is left to
        the probe, which then recovers and says so.
        """
        session = self._current()
        if session.forward_socket is None or relay.serving(session.local_port) is not None:
            return
        try:
            self._rebuild(session)
        except SessionOverError:
            raise
        except HoplabError:
            return

    # probing ---------------------------------------------------------------------------

    def _current(self) -> Session:
        """The session as recorded now; over when it is no longer live, or no longer recorded
        (its store moved aside or its record gone: whoever did that stops the tunnel too)."""
        if self.store.replaced():
            raise SessionOverError(
                f"the session database {self.store.path} was moved or removed; supervision of "
                f"{self.session_id} stops ('hoplab ls --scan TARGET' finds the session again)"
            )
        try:
            session = self.store.get(self.session_id)
        except SessionNotFoundError:
            raise SessionOverError(f"{self.session_id} is no longer recorded") from None
        if not session.state.is_live:
            raise _over(session)
        return session

    @staticmethod
    def _answers(session: Session) -> bool:
        try:  # the token goes only to our own relay: a stranger on the port is a broken tunnel
            return forwards.probe(session, timeout=PROBE_TIMEOUT) == 200
        except ForeignListenerError:
            return False

    def _wait(self, seconds: float, session: Session) -> None:
        """Up to ``seconds``; sooner if a master or forward process this session rides ends."""
        fds: list[int] = []
        try:
            watched = _watched_pids(session)
        except HoplabError:  # a chain it cannot work out now: the probe after the wait will see
            watched = []
        for pid in watched:
            try:
                fds.append(os.pidfd_open(pid))
            except (AttributeError, OSError):  # not Linux, or already gone
                continue
        try:
            if fds:
                select.select(fds, [], [], seconds)
            else:
                self._pause.wait(seconds)
        finally:
            for fd in fds:
                os.close(fd)

    # recovery --------------------------------------------------------------------------

    def _recover(self) -> None:
        """Rebuild until Jupyter answers: at once, then 1, 2, 4 ... 30 s apart."""
        began = time.monotonic()
        self.notify(Event(Change.BROKEN, "Jupyter does not answer through the tunnel"))
        delays = backoff(1.0, 2.0, RETRY_CAP)
        asked = False  # the user was told once, this outage, to authenticate again
        while time.monotonic() - began < GIVE_UP_AFTER:
            session = self._current()
            try:
                self._rebuild(session)
            except SessionOverError:
                raise
            except HoplabError as exc:
                self._current()  # over now (stopped meanwhile, say): no retry
                if not asked and needs_authentication(exc):
                    asked = True
                    said = (
                        f"ssh to {session.ssh_target.label} needs you to authenticate again: "
                        f"run 'hoplab attach {session.id}' in a terminal"
                    )
                    self.notify(Event(Change.AUTH, said))
                    self.notices(Notice(Topic.AUTH, session.id, f"{session.id}: {said}"))
                delay = next(delays)
                closed = _closed_hop(session)  # before anyone hears of the retry
                self.notify(
                    Event(Change.RETRY, f"{_first_line(exc.message)}; again in {delay:.0f} s")
                )
                self._wait_for_path(delay, closed)
                continue
            took = time.monotonic() - began
            self.notify(Event(Change.REBUILT, "Jupyter answers again", seconds=took))
            return
        raise SessionOverError(
            f"the tunnel to {self.session_id} stayed down for {GIVE_UP_AFTER / 3600:.0f} h; "
            f"supervision stops ('hoplab attach {self.session_id}' tries again)",
            Topic.LOST,
        )

    def _rebuild(self, session: Session) -> None:
        for master in _masters(session):
            health = master.health()
            if health in {MasterHealth.WEDGED, MasterHealth.STALLED}:
                what = "does not answer" if health is MasterHealth.WEDGED else "carries nothing"
                self.notify(
                    Event(Change.MASTER, f"the ssh connection to {master.target.label} {what}")
                )
                master.reset()
        old_port = session.local_port
        result = attach(
            session.id,
            self.store,
            interactive=False,
            ready_timeout=REBUILD_READY_TIMEOUT,
            answered_lately=True,
        )
        if result.session.local_port != old_port:
            by = " by a process hoplab did not start (no token sent)" if result.stranger else ""
            url = result.session.url(with_token=False)
            self.notify(
                Event(Change.PORT, f"127.0.0.1:{old_port} is taken{by}; Jupyter is now on {url}")
            )

    def _wait_for_path(self, seconds: float, closed: tuple[str, int] | None) -> None:
        """Wait out a retry delay; when the first hop refused connections as the rebuild
        failed (``closed``), stop early once it accepts them again (a link that came back, an
        sshd that restarted). A hop that accepted is not tried meanwhile: each connection
        there is a line in its sshd's log, and the retry was for another reason."""
        if closed is None:
            self._pause.wait(seconds)
        else:
            accepting(closed, seconds)

        # the lease -------------------------------------------------------------------------

    def _renew_lease(self, session: Session) -> None:
        if session.lease_seconds is None:
            return
        every = min(session.lease_seconds / 4, LEASE_RENEW_MAX)
        if time.monotonic() - self._renewed < every:
            return
        try:
            transport = open_transport(session.ssh_target, multiplex=session.multiplex)
            scripts.renew_lease(transport, session)
        except HoplabError as exc:
            self.notify(Event(Change.RETRY, f"could not renew the lease: {exc.message}"))
            return
        self._renewed = time.monotonic()


def _masters(session: Session) -> list[MuxTransport]:
    """The masters the session's tunnel rides: the login chain's, and the node's if apart."""
    if not session.multiplex:
        return []
    found = [open_transport(session.ssh_target), forward_transport(session)]
    unique = {t.target.key: t for t in found if isinstance(t, MuxTransport)}
    return list(unique.values())


def _watched_pids(session: Session) -> list[int]:
    if not session.multiplex:
        return [pid for pid in (session.forward_pid,) if pid is not None]
    return [pid for master in _masters(session) if (pid := master.watched_pid()) is not None]


def _closed_hop(session: Session) -> tuple[str, int] | None:
    """The session's first hop, if it does not accept a TCP connection now."""
    hop = first_hop(session.ssh_target)
    if hop is None or accepting(hop, PATH_CHECK, step=PATH_CHECK):
        return None
    return hop


def accepting(
    hop: tuple[str, int],
    seconds: float,
    *,
    step: float = PATH_STEP,
    patience: float = PATH_PATIENCE,
) -> bool:
    """Whether ``hop`` accepts a TCP connection within ``seconds``.

    A new try starts ``step`` after the last, the step growing by a quarter each time up to a
    second, and each try may take up to ``patience`` (a far host's round trip, a SYN sent
    again): several are under way at once, so a link that comes back soon is seen within
    about ``step`` plus one round trip, however long a try takes while it is down. Nothing
    reaches the host while it is unreachable; the first connection that succeeds is closed.
    """
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(*hop, type=socket.SOCK_STREAM)[0]
    except OSError:
        return False
    deadline = time.monotonic() + seconds
    tries: dict[socket.socket, float] = {}
    steps = backoff(step, 1.25, max(step, 1.0))
    next_try = time.monotonic()
    try:
        for _ in range(100_000):  # bounded: each round waits for a try or the deadline
            now = time.monotonic()
            if now >= next_try:
                next_try = now + next(steps)
                attempt = socket.socket(family, kind, proto)
                attempt.setblocking(False)
                code = attempt.connect_ex(address)
                if code == 0:
                    attempt.close()
                    return True
                if code in _CONNECTING:
                    tries[attempt] = now
                else:  # refused or unreachable at once
                    attempt.close()
            for stale in [t for t, began in tries.items() if now - began > patience]:
                stale.close()
                del tries[stale]
            wait = min(next_try, deadline) - time.monotonic()
            _read, done, _error = select.select([], list(tries), [], max(0.0, wait))
            for attempt in done:
                if attempt.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    return True
                attempt.close()
                del tries[attempt]
            if time.monotonic() >= deadline:
                return False
        return False
    finally:
        for attempt in tries:
            attempt.close()


_CONNECTING = {errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN, errno.EALREADY}


@cache  # one `ssh -G` per chain for the supervisor's life
def first_hop(target: SshTarget) -> tuple[str, int] | None:
    """``(hostname, port)`` of the chain's first hop as ssh resolves it (``ssh -G``); None when
    ssh reaches it through a proxy command or jump of its own (nothing to check directly)."""
    name = target.jumps[0] if target.jumps else target.destination
    first = SshTarget(name, (), target.config_file)
    try:
        done = process.run(first.argv("-G"), check=False, timeout=10)
    except HoplabError:
        return None
    settings: dict[str, str] = {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition(" ")
        settings.setdefault(key.lower(), value.strip())
    if done.returncode != 0 or settings.get("proxycommand", "none") != "none":
        return None
    if settings.get("proxyjump", "none") != "none":
        return None
    try:
        return settings["hostname"], int(settings.get("port", "22"))
    except (KeyError, ValueError):
        return None


_OVER_TOPICS = {SessionState.ENDED: Topic.ENDED, SessionState.LOST: Topic.LOST}


def _over(session: Session) -> SessionOverError:
    """The end of supervision; a notice unless someone stopped the session (``down``)."""
    return SessionOverError(
        f"session {session.id} is over: {session.error or session.state.value}",
        _OVER_TOPICS.get(session.state),
    )


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "reconnect failed"
