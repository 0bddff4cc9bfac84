"""``hoplab up``: start Jupyter on a host or in a batch job, tunnel to it, prove it answers.

What only a reused session, the tunnel or a failure needs is imported where it is used: the
tunnel's modules (asyncio, http.client among them) load while Jupyter starts, not before the
launch, which then comes sooner.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hoplab import locks, notify
from hoplab.errors import HoplabError, PortInUseError, SchedulerError
from hoplab.launcher.render import Environment, LaunchSpec
from hoplab.protocol import Listen, Reach, SchedulerName
from hoplab.records.model import (
    ExtraForward,
    Session,
    SessionState,
    target_key,
)
from hoplab.remote import jobs, scripts
from hoplab.schedulers.base import BatchScheduler, JobSpec, Resources
from hoplab.sessions import startup
from hoplab.sessions.progress import Progress, Step, silent, step
from hoplab.ssh.ports import port_is_free
from hoplab.ssh.transport import Forward
from hoplab.tunnel import landing, reach
from hoplab.tunnel.chain import open_transport
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from collections.abc import Callable

    from hoplab.records.store import SessionStore
    from hoplab.schedulers.base import Scheduler
    from hoplab.sessions.attach import AttachResult
    from hoplab.ssh.target import SshTarget
    from hoplab.ssh.transport import Transport

log = logging.getLogger(__name__)

# How long a second ``up`` waits for the session that another one is starting (queue included),
# and how many such sessions in a row it waits for before it starts its own.
SHARE_TIMEOUT = 6 * 3600.0
SHARE_ROUNDS = 3


@dataclass(frozen=True)
class UpRequest:
    """What ``up`` was asked for, after profiles and the command line were combined."""

    target: SshTarget
    label: str
    app: str = "lab"
    environment: Environment = field(default_factory=Environment)
    multiplex: bool = True
    port: int | None = None
    new: bool = False
    detach: bool = False
    interactive: bool = False
    start_timeout: float = 120.0
    scheduler: str = "auto"  # auto, none, or a backend name
    scheduler_module: str | None = None  # `module load` it to find the scheduler
    resources: Resources = field(default_factory=Resources)
    # cluster options as "--name (source)": asked for this target, and set for every target
    cluster_options: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
    notes: tuple[str, ...] = ()  # said once before connecting (how a path was read...)
    reach: str = Reach.AUTO.value
    forwards: tuple[tuple[str, int], ...] = ()  # (name, remote port)
    lease_seconds: int | None = None
    idle_timeout_seconds: int | None = None
    master_idle_seconds: int = 600  # how long the masters outlive the session (``down``)


@dataclass(frozen=True)
class UpResult:
    """The ready session, its URL with the token, and whether an existing one was reused."""

    session: Session
    url: str
    reused: bool


def up(
    request: UpRequest,
    store: SessionStore,
    progress: Progress = silent,
    notices: notify.Notifier = notify.quiet,
) -> UpResult:
    """Start a session (or reuse a live one on the same target) and return it ready.

    Connecting and choosing between reuse and a new session happen under the target's lock:
    a second ``up`` on the same target waits for it, then shares the session it started.
    ``notices`` is told when Jupyter is ready after a long wait in the queue.
    """
    if request.port is not None and not port_is_free(request.port):
        raise PortInUseError(request.port)
    for said in request.notes:
        progress(Step("settings", said))
    if request.scheduler == SchedulerName.NONE and request.cluster_options[0]:
        _without_scheduler(request, request.target.label, progress)  # refused before any ssh
    transport = open_transport(request.target, multiplex=request.multiplex)

    def waiting() -> None:
        progress(
            Step("lock", f"another hoplab up on {request.target.label} goes first", done=False)
        )

    for round_ in range(SHARE_ROUNDS):
        with locks.held(f"up-{request.target.key}", waiting=waiting):
            with step(progress, "connect", f"connecting to {request.target.label}") as note:
                transport.connect(interactive=request.interactive)
                how = "shared connection" if transport.multiplexed else "no multiplexing"
                note[0] = f"connected to {request.target.label} ({how})"
            for said in transport.notes:
                progress(Step("hostkey", said))
            transport.notes.clear()
            last = round_ == SHARE_ROUNDS - 1
            starting = None if request.new or last else _starting_elsewhere(request, store)
            if starting is None:
                if not request.new:
                    reused = _reuse(request, store, progress)
                    if reused is not None:
                        return UpResult(reused.session, reused.url, reused=True)
                session, scheduler, job = _record(request, transport, store, progress)
                break
        # outside the lock: its job may wait in the queue for hours, and --new must not wait
        progress(
            Step("reuse", f"session {starting.id} is starting; waiting to share it", done=False)
        )
        _wait_settled(store, starting.id)
    try:
        _start(request, transport, scheduler, job, session, store, progress, notices=notices)
    except BaseException as exc:
        from hoplab.sessions.cleanup import abandon

        abandon(transport, session, store, exc)
        _release_masters(session, store)
        raise
    url = session.hold(detach=request.detach)
    store.save(session)
    return UpResult(session, url, reused=False)


def _release_masters(session: Session, store: SessionStore) -> None:
    """A start that failed leaves no master for good: each goes after its idle time, unless
    another live session rides it."""
    from hoplab.sessions import masters

    masters.release(store, sessions=[session])


def _record(
    request: UpRequest, transport: Transport, store: SessionStore, progress: Progress
) -> tuple[Session, Scheduler, JobSpec]:
    """A new session's record (starting, held by this process), its scheduler and its job."""
    scheduler = jobs.detect(transport, request.scheduler, request.scheduler_module)
    resources = request.resources
    if not scheduler.batch:
        _without_scheduler(request, transport.target.label, progress)
        resources = Resources()
    session_id = secrets.token_hex(4)
    # a job's launcher writes jupyter.log itself: schedulers may spool their own output file
    output = "job.out" if scheduler.batch else "jupyter.log"
    job = JobSpec(f"hoplab-{session_id}", output, resources)
    scheduler.header(job)  # refuse a bad value before anything exists remotely
    session = Session(
        id=session_id,
        target=request.label,
        destination=request.target.destination,
        jumps=request.target.jumps,
        ssh_config=request.target.config_file,
        multiplex=transport.multiplexed,
        app=request.app,
        token=secrets.token_hex(24),
        attached_pid=os.getpid(),
        scheduler=scheduler.name,
        scheduler_version=_version(scheduler),
        scheduler_module=scheduler.module if isinstance(scheduler, BatchScheduler) else None,
        forwards=[ExtraForward(name, port) for name, port in request.forwards],
        lease_seconds=request.lease_seconds,
        master_idle=request.master_idle_seconds,
    )
    store.save(session)
    return session, scheduler, job


def _start(  # noqa: PLR0917 - one private step of up(), called once
    request: UpRequest,
    transport: Transport,
    scheduler: Scheduler,
    job: JobSpec,
    session: Session,
    store: SessionStore,
    progress: Progress,
    *,
    notices: notify.Notifier,
) -> None:
    queue = scheduler if isinstance(scheduler, BatchScheduler) else None
    spec = LaunchSpec(
        session.id,
        request.app,
        request.environment,
        listen=_listen(queue, request.reach),
        batch=queue is not None,
        lease_seconds=request.lease_seconds or 0,
        jupyter_args=_jupyter_args(request),
    )
    label = request.target.label
    doing = f"submitting a job to {scheduler.name}" if queue else f"starting on {label}"
    with step(progress, "submit", doing) as note:
        started = scripts.launch(
            transport, spec, session.token, scheduler, job, version=session.scheduler_version
        )
        session.remote_dir, session.remote_host = started.remote_dir, started.host
        session.job_id = started.job_id
        if queue is None:
            session.jupyter_pid = int(started.job_id)
        store.save(session)
        note[0] = (
            f"submitted job {started.job_id} to {scheduler.name} on {label}"
            if queue
            else f"launcher started on {started.host}"
        )

    watch = startup.Watch(
        transport,
        session,
        queue,
        progress,
        request.start_timeout,
        on_node=_decider(transport, session, queue, request.reach, store, progress)
        if queue
        else None,
        on_estimate=store.save,
    )
    if queue:
        progress(Step("queue", f"job {started.job_id} submitted", done=False))
    else:
        progress(Step("start", f"starting Jupyter on {label}", done=False))
    from hoplab.tunnel import forwards, relay  # while Jupyter starts (see the module's docstring)

    path = forwards.socket_path(session.id)
    # the launch ran `hostname` through this connection: where it landed, for those who ask
    landing.remember(transport, started.host)
    # While Jupyter starts: the port and the relay that serves it (a --port that is taken is
    # said now, not after the wait); on a plain host also ssh's forward from the relay's path
    # to the socket the launcher gives Jupyter. Elsewhere ssh forwards once Jupyter is ready.
    port = relay.serve(request.port or 0, path).port
    early = None
    ahead = bool(started.socket) and spec.listen is Listen.SOCKET and transport.multiplexed
    try:
        if ahead:
            early = _forward_early(transport, path, started.socket)
        _tunnel(request, transport, queue, watch, session, store, progress, path, port, early)
    except BaseException:
        relay.stop(port)
        if ahead and session.forward_socket is None:  # the record has no forward yet: ours
            # (tried even when none came back: a Ctrl-C may have come while ssh made it)
            forwards.clear_socket(transport, Forward(path, started.socket))
        raise
    ready = notify.ready(session.id, session.node or started.host, watch.queued)
    if ready is not None:
        notices(ready)


def _forward_early(transport: Transport, path: str, remote: str) -> Forward | None:
    """ssh's forward from ``path`` to where Jupyter is to listen, made before it does (ssh
    connects to ``remote`` only when the relay does), or None should the master not take it
    now: then it is made once Jupyter is ready, as elsewhere. Through a master only (no new
    login, with its prompts, while the spinner shows)."""
    try:
        return transport.forward(path, remote)
    except HoplabError as exc:
        log.debug("no forward while Jupyter starts: %s", exc.message)
        return None


def _tunnel(  # noqa: PLR0917 - one private step of up(), called once
    request: UpRequest,
    transport: Transport,
    queue: BatchScheduler | None,
    watch: startup.Watch,
    session: Session,
    store: SessionStore,
    progress: Progress,
    path: str,
    port: int,
    early: Forward | None,
) -> None:
    """Wait until Jupyter is ready, forward ``path`` to it (``early``: the forward made while it
    started, kept if Jupyter listens where it leads) and prove it answers on ``port``."""
    from hoplab.sessions.cleanup import extra_remote
    from hoplab.tunnel import forwards

    info = startup.wait_ready(watch)
    session.jupyter_pid, session.remote, session.socket = info.pid, info.remote, info.socket
    session.base_url = info.base_url
    store.save(session)
    where = f"socket {info.socket}" if info.socket else f"tcp {info.remote}"
    host = session.node or session.remote_host
    took = time.monotonic() - (watch.running_since or watch.began)
    progress(Step("start", f"Jupyter {request.app} ready on {host} ({where})", took))
    with step(progress, "tunnel", "opening the tunnel") as note:
        # a plain session runs where this connection landed: its forward rides it
        carrier = reach.forward_transport(session) if queue else transport
        forward, port = forwards.open_tunnel(carrier, info.remote, path, port, early=early)
        session.forward_socket, session.relay_pid = path, os.getpid()
        session.local_port, session.forward_pid = port, forward.pid
        store.save(session)
        for extra in session.forwards:
            remote_end = extra_remote(session, extra.port)
            extra.socket = forwards.socket_path(session.id, extra.port)
            opened, extra.local_port = forwards.open_tunnel(carrier, remote_end, extra.socket, None)
            extra.pid = opened.pid
            store.save(session)
        forwards.prove_ready(session)
        note[0] = f"Jupyter answers on 127.0.0.1:{port}"
        if queue and session.walltime_end is None and session.job_id:
            # the job started before a poll saw it running: ask once, for the walltime shown
            status = jobs.query(transport, queue, [session.job_id])[session.job_id]
            if status.time_left is not None:
                session.walltime_end = time.time() + status.time_left
        for extra in session.forwards:
            note[0] += f"; {extra.name} on 127.0.0.1:{extra.local_port}"


def _without_scheduler(request: UpRequest, label: str, progress: Progress) -> None:
    """Refuse cluster options asked for a host without a scheduler (before anything starts);
    say that those of [defaults] are left out there."""
    asked, general = request.cluster_options
    why = (
        "--scheduler none was given"
        if request.scheduler == SchedulerName.NONE
        else f"no batch scheduler was found on {label}"
    )
    if asked:
        raise SchedulerError(
            f"{', '.join(asked)} need a batch job, but {why}; nothing was started",
            f"leave them out to run Jupyter on {label} itself, or point hoplab at the "
            "cluster's login node (--scheduler NAME if it is not found there)",
        )
    if general:
        progress(Step("settings", f"ignored on {label} ({why}): {', '.join(general)}"))


def _decider(  # noqa: PLR0917 - a closure's context, private to _start
    transport: Transport,
    session: Session,
    queue: BatchScheduler,
    wanted: str,
    store: SessionStore,
    progress: Progress,
) -> Callable[[str], None]:
    """What to do when the job announces its node: choose the path and tell the launcher."""

    def on_node(node: str) -> None:
        decision = reach.decide(transport, session, queue, node, wanted)
        store.save(session)
        progress(Step("reach", decision.why))

    return on_node


def _jupyter_args(request: UpRequest) -> tuple[str, ...]:
    seconds = request.idle_timeout_seconds
    return () if seconds is None else (f"--ServerApp.shutdown_no_activity_timeout={seconds}",)


def _listen(queue: BatchScheduler | None, wanted: str) -> Listen:
    """How the launcher starts listening (see ``launcher.sh``): socket first unless login-tcp."""
    if queue is None:
        return Listen.SOCKET
    # ssh-node too starts on the socket and waits for the word: it may have to move it to
    # the session directory (a job-private /tmp)
    return Listen.ASK if wanted == Reach.LOGIN_TCP else Listen.TRY_SOCKET


def _version(scheduler: Scheduler) -> str | None:
    version = scheduler.version if isinstance(scheduler, BatchScheduler) else None
    return f"{version[0]}.{version[1]}" if version else None


def _reuse(request: UpRequest, store: SessionStore, progress: Progress) -> AttachResult | None:
    """Attach to a ready session of the same target and app, if one still answers."""
    from hoplab.sessions.attach import attach

    for candidate in reversed(store.live_for(target_key(request.target, request.app))):
        if candidate.state is SessionState.STARTING:
            continue
        kept = _kept_by_supervisor(request, candidate, store, progress)
        if kept is not None:
            return kept
        try:
            return attach(
                candidate.id,
                store,
                port=request.port,
                detach=request.detach,
                interactive=request.interactive,
                progress=progress,
            )
        except HoplabError:
            continue  # attach marked it lost; look at the next one or start anew
    return None


def _kept_by_supervisor(
    request: UpRequest, session: Session, store: SessionStore, progress: Progress
) -> AttachResult | None:
    """A session whose port the background supervisor serves: a detached ``up`` leaves it to
    that supervisor, which holds it, while Jupyter answers there and no other port is asked
    for. Otherwise the supervisor stops first, as ``attach`` stops it, and this process
    forwards and relays (a detached ``up`` then hands the port to a new supervisor): one
    hoplab serves and rebuilds a session's tunnel, never two."""
    from hoplab.sessions import background, holding
    from hoplab.sessions.attach import AttachResult, still_answers

    pid = background.running(session.id)
    if pid is None:
        return None
    if request.detach and request.port is None and still_answers(session):
        kept = holding.take(store, session.id, pid)
        url = kept.url(with_token=True)
        if kept.state is SessionState.READY and url is not None:
            progress(
                Step(
                    "tunnel",
                    f"the background supervisor (pid {pid}) serves 127.0.0.1:{kept.local_port}",
                )
            )
            return AttachResult(kept, url, port_changed=False)
    background.stop(session.id)
    return None


def _starting_elsewhere(request: UpRequest, store: SessionStore) -> Session | None:
    """A session of the same target and app that another live ``up`` is still starting: it is
    shared once ready (if that ``up`` dies or fails, this one starts its own)."""
    for candidate in store.live_for(target_key(request.target, request.app)):
        if candidate.starting_elsewhere:
            return candidate
    return None


def _wait_settled(store: SessionStore, session_id: str) -> None:
    wait_until(
        lambda: not store.get(session_id).starting_elsewhere,
        SHARE_TIMEOUT,
        what=f"session {session_id} to be ready",
        cap=1.0,
    )
