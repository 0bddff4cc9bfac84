"""A session this computer has no record of: started on another computer, found on its target.

``hoplab attach --on TARGET`` lists what runs in ``~/.hoplab/sessions/`` there. Attaching to
one reads its token from the session's 0600 ``token`` file, inside the framed answer of a
script sent on ssh's standard input: the token crosses only the ssh connection, and lands in
the local state database (0600), never in an argv or a log. The session is then recorded here
(the job, its node and how the tunnel reaches it, from the session directory and the
scheduler) and attached like one of this computer's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from typing import TYPE_CHECKING

from hoplab.errors import HoplabError, SessionNotFoundError, SessionStateError
from hoplab.protocol import Detail, Process
from hoplab.records.model import SessionState
from hoplab.remote import jobs, scripts
from hoplab.schedulers.base import JobState
from hoplab.sessions import masters
from hoplab.sessions.attach import AttachResult, attach
from hoplab.sessions.orphans import record_of
from hoplab.sessions.progress import Progress, silent, step
from hoplab.tunnel import forwards
from hoplab.tunnel.chain import open_transport

if TYPE_CHECKING:
    from hoplab.records.model import Session
    from hoplab.records.store import SessionStore
    from hoplab.sessions.orphans import Place
    from hoplab.ssh.transport import Transport


@dataclass(frozen=True)
class Running:
    """A session that runs on a target and answers there, as ``attach --on`` lists it."""

    session: Session  # the record it would get here, without its token
    status: str  # "job 4242 RUNNING on node001", "Jupyter (pid 1234) on login01"
    known: bool  # this computer has a live record of it already


def running_on(place: Place, store: SessionStore, *, interactive: bool = False) -> list[Running]:
    """The sessions on ``place`` whose Jupyter is ready, oldest record first.

    A job counts while its scheduler says it runs (or cannot say: unknown is not ended); a
    session on a plain host while its Jupyter runs (or runs on another host of a shared home).
    """
    transport = open_transport(place.target, multiplex=place.multiplex)
    transport.connect(interactive=interactive)
    return _running(transport, place, store)


def _running(transport: Transport, place: Place, store: SessionStore) -> list[Running]:
    found: list[tuple[Session, Process]] = []
    for entry in scripts.scan(transport, [], detail=Detail.REACH):
        session = record_of(entry, place)
        if session is not None and session.remote is not None:
            found.append((session, entry.process))
    known = {s.id for s in store.live()}
    listed = [
        Running(s, f"Jupyter (pid {s.jupyter_pid}) on {s.remote_host}", s.id in known)
        for s, process in found
        if not s.batch and process is not Process.DEAD
    ]
    batch = sorted((s for s, _ in found if s.batch), key=_backend)
    for _, group in groupby(batch, key=_backend):
        members = list(group)
        states = jobs.query(
            transport, jobs.for_session(members[0]), [s.job_id for s in members if s.job_id]
        )
        for session in members:
            status = states.get(session.job_id or "")
            if status is None or not (status.state.active or status.state is JobState.UNKNOWN):
                continue
            session.node = status.node or session.node
            said = f"job {session.job_id} {status.describe()}"
            listed.append(Running(session, said, session.id in known))
    return listed


def _backend(session: Session) -> tuple[str, str]:
    return session.scheduler, session.scheduler_version or ""


def pick(found: list[Running], wanted: str, label: str) -> Running:
    """The session named ``wanted`` (an id or a unique prefix of one) among ``found``."""
    matches = [r for r in found if r.session.id.startswith(wanted)] if wanted else []
    exact = [r for r in matches if r.session.id == wanted]
    if exact or len(matches) == 1:
        return (exact or matches)[0]
    if matches:
        raise SessionNotFoundError(
            f"{wanted} on {label} (ambiguous: it starts {', '.join(r.session.id for r in matches)})"
        )
    listed = ", ".join(r.session.id for r in found) or "none"
    raise SessionStateError(
        f"no running session {wanted!r} on {label} (running and ready there: {listed})",
        f"'hoplab attach --on {label}' lists them; a session whose job still waits in the "
        "queue can be attached to once its Jupyter is ready",
    )


def adopt(
    place: Place, session_id: str, store: SessionStore, *, interactive: bool = False
) -> Session:
    """Record the session ``session_id`` of ``place`` here, with its token, ready to attach.

    A live record this computer has already (its own session) is kept as it is.
    """
    try:
        mine = store.get(session_id)
    except SessionNotFoundError:
        mine = None
    if mine is not None and mine.id == session_id and mine.state.is_live and mine.token:
        return mine
    transport = open_transport(place.target, multiplex=place.multiplex)
    transport.connect(interactive=interactive)
    entries = scripts.scan(transport, [], only=[session_id], detail=Detail.TOKEN)
    session = record_of(entries[0], place) if entries else None
    if session is None:
        raise SessionStateError(
            f"session {session_id} is not on {place.label} any more, or its directory "
            "says too little to attach to it",
            f"'hoplab attach --on {place.label}' lists the sessions that run there",
        )
    if session.remote is None or not session.token:
        raise SessionStateError(
            f"session {session_id} on {place.label} is not ready: its Jupyter has not said "
            "where it listens yet",
            "attach once it is ready (a job may still wait in the queue)",
        )
    if mine is not None and mine.id == session_id:
        session.created, session.local_port = mine.created, mine.local_port
    session.state = SessionState.DETACHED
    store.save(session)
    return session


def attach_on(
    place: Place,
    session_id: str,
    store: SessionStore,
    *,
    port: int | None = None,
    detach: bool = False,
    interactive: bool = False,
    progress: Progress = silent,
    ready_timeout: float = forwards.READY_TIMEOUT,
) -> AttachResult:
    """Find ``session_id`` (or a unique prefix) running on ``place``, record it here with its
    token, and attach to it."""
    with step(progress, "connect", f"looking for session {session_id} on {place.label}") as note:
        chosen = pick(running_on(place, store, interactive=interactive), session_id, place.label)
        session = adopt(place, chosen.session.id, store, interactive=interactive)
        note[0] = f"found {chosen.status} on {place.label}"
    return attach(
        session.id,
        store,
        port=port,
        detach=detach,
        interactive=interactive,
        progress=progress,
        ready_timeout=ready_timeout,
    )


def let_go(place: Place, store: SessionStore) -> None:
    """After ``attach --on``: the masters to ``place`` (and its login nodes) go after its idle
    time, unless a live session rides them (the one attached to does). Never raises."""
    try:
        targets = [(target, place.idle) for target in masters.Chains().to(place.target)]
    except HoplabError:
        return  # its chain cannot be worked out: left as it is, as masters.release does
    masters.release(store, targets=targets)
