"""Orphans: what hoplab started on a target that no live session owns any more.

Three ways to become one:

- the ``up`` that was starting it died (SIGKILL, a closed lid while the job waited in the
  queue): its record still says *starting*, with no process behind it;
- the record is gone or never written (a state database moved aside): the target still has
  the session directory, whose ``meta`` and ``submitted`` files name the scheduler and the job
  ``hoplab-<id>``;
- the record has no job id (its ``up`` was killed between the submit and saving the id): the
  ``submitted`` file names it, and :func:`recover_job_ids` reads it back before ``ls`` asks the
  scheduler and before ``down`` removes the directory, so a submitted job is never lost;
- the record says *stopped* or *failed*, but ``down`` could not verify the job was gone.

Each one found is recorded as a *lost* session marked ``orphan`` with what was seen, so
``hoplab down ID``, ``down --all`` and ``ls --prune`` end it like any other session. On a
place named with ``ls --scan`` the record also gets the session's token and where its Jupyter
listens (read from the target, over ssh only), so that ``hoplab attach ID`` can take it over
instead. A job is an orphan only while its scheduler says it is queued or running; a
scheduler that does not answer leaves it alone (unknown is not dead, and not orphaned either).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from typing import TYPE_CHECKING

from hoplab.errors import HoplabError
from hoplab.protocol import Detail, Listen, Process, Reach, SchedulerName
from hoplab.records.model import Session, SessionState
from hoplab.remote import jobs, scripts
from hoplab.schedulers import backend
from hoplab.sessions import fanout
from hoplab.sessions.masters import DEFAULT_IDLE
from hoplab.ssh.mux import MuxTransport
from hoplab.tunnel.chain import open_transport

if TYPE_CHECKING:
    from hoplab.records.store import SessionStore
    from hoplab.remote.scripts import Entry
    from hoplab.ssh.target import SshTarget
    from hoplab.ssh.transport import Transport


@dataclass(frozen=True)
class Place:
    """A target to look at, as a person named it (``idle``: its master's idle seconds)."""

    label: str
    target: SshTarget
    multiplex: bool = True
    idle: int = DEFAULT_IDLE
    adopt: bool = False  # named by the user (ls --scan): read tokens, to make orphans usable


def abandoned_starts(store: SessionStore) -> dict[str, str]:
    """Sessions still *starting* whose ``up`` is gone: orphans at once, with a note each."""
    notes = {}
    for session in store.live():
        if session.state is not SessionState.STARTING or session.held:
            continue
        owner = session.attached_pid
        job = f"job {session.job_id} " if session.batch and session.job_id else ""
        adopt(
            session,
            store,
            f"orphan: the hoplab up that started it (pid {owner}) is gone; {job}left running",
        )
        notes[session.id] = session.error or ""
    return notes


def places(
    store: SessionStore, extra: tuple[Place, ...] = (), *, reached: frozenset[str] = frozenset()
) -> list[Place]:
    """Targets worth scanning: ``extra`` (asked for), and those with a session that is not
    cleanly over where a connection is there anyway: a live master, or a target in
    ``reached`` (the caller connects to it in any case).

    No new connection is opened only to look: that would leave a master behind on a target
    nothing else needs (``ls --scan TARGET`` looks wherever it is asked to).
    """
    worth = [
        s
        for s in store.all()
        if s.state.is_live or s.state in {SessionState.LOST, SessionState.ENDED} or _unverified(s)
    ]
    found = {p.target.key: p for p in extra}
    for session in worth:
        key = session.ssh_target.key
        if key not in found and (key in reached or _master_lives(session)):
            found[key] = Place(
                session.target, session.ssh_target, session.multiplex, session.master_idle
            )
    return list(found.values())


def _master_lives(session: Session) -> bool:
    """A master to the session's target runs already (cheap first: its control socket)."""
    if not session.multiplex:
        return False
    master = MuxTransport(session.ssh_target)
    return master.control_path.exists() and master.master_pid() is not None


def find(store: SessionStore, where: list[Place]) -> dict[str, str]:
    """Look at each place (all at once); record what runs with no owner. Notes for ``ls``,
    by session id."""
    notes: dict[str, str] = {}
    for found in fanout.each(where, lambda place: look(place, store)):
        notes.update(found)
    store.close_threads()
    return notes


def look(place: Place, store: SessionStore, transport: Transport | None = None) -> dict[str, str]:
    """Look at one place (through ``transport`` when the caller has it connected)."""
    if transport is None:
        transport = open_transport(place.target, multiplex=place.multiplex)
    try:
        transport.connect(interactive=False)
        return _find_on(transport, place, store)
    except HoplabError:
        return {}  # ls already says the target could not be checked


def recover_job_ids(transport: Transport, sessions: list[Session], store: SessionStore) -> None:
    """Give each batch session that has no job id the one its ``submitted`` file names.

    Its ``up`` died after the submit and before it saved the id (SIGKILL, a closed lid): the
    job may run, and only the session directory on the target still knows it.
    """
    missing = {s.id: s for s in sessions if s.batch and not s.job_id}
    if not missing:
        return
    for entry in scripts.scan(transport, [], only=list(missing)):
        session = missing.get(entry.id)
        job_id = job_id_of(entry) if session is not None else None
        if session is not None and job_id is not None:
            session.job_id = job_id
            store.save(session)


def job_id_of(entry: Entry) -> str | None:
    """The job id (or, on a plain host, the launcher's PID) that the submit command's recorded
    answer names (None when it names none)."""
    if entry.scheduler is None or not entry.submitted:
        return None
    try:
        return backend(entry.scheduler).parse_job_id(entry.submitted)
    except (HoplabError, ValueError):
        return None


def _find_on(transport: Transport, place: Place, store: SessionStore) -> dict[str, str]:
    known = {s.id: s for s in store.all()}
    # live, lost or ended: ls and down deal with those already (once they know their job)
    accounted = [sid for sid, s in known.items() if not _settled(s) and not _jobless(s)]
    candidates: list[Session] = []
    entries = scripts.scan(
        transport, accounted, detail=Detail.TOKEN if place.adopt else Detail.NONE
    )
    alive = {e.id for e in entries if e.process is Process.ALIVE}
    for entry in entries:
        session = known.get(entry.id) or _from_entry(entry, place)
        if session is not None and _jobless(session):
            session.job_id = job_id_of(entry)
            if session.job_id is not None:
                store.save(session)
        if session is not None:
            candidates.append(session)
    seen = {s.id for s in candidates}
    candidates += [
        s
        for s in known.values()
        if s.id not in seen and s.ssh_target.key == place.target.key and _unverified(s)
    ]
    notes = {}
    for session, found in _running(transport, candidates, alive, store, set(known)):
        usable = bool(session.token and session.remote)
        why = f"{found}; 'hoplab attach {session.id}' takes it over" if usable else found
        adopt(session, store, why)
        notes[session.id] = why
    return notes


def _jobless(session: Session) -> bool:
    """A batch session with no job id whose ``up`` is gone (a live one saves it any moment)."""
    return session.batch and not session.job_id and not session.held


def _settled(session: Session) -> bool:
    return session.state in {SessionState.STOPPED, SessionState.FAILED}


def _unverified(session: Session) -> bool:
    """Stopped, but ``down`` could not verify its job gone (and no one has seen it over since)."""
    return (
        _settled(session)
        and bool(session.error)
        and session.batch
        and bool(session.job_id)
        and not session.job_over
    )


def _from_entry(entry: Entry, place: Place) -> Session | None:
    """A record for a session directory nobody knows (None if it says too little)."""
    session = record_of(entry, place)
    if session is not None:
        session.state = SessionState.STOPPED  # until proven running
        session.error = "found on the target with no record here"
    return session


def record_of(entry: Entry, place: Place) -> Session | None:
    """The record of the session ``entry`` describes (None if it says too little): with its
    token and where its Jupyter listens when the scan said them (see :func:`reached`)."""
    job_id = job_id_of(entry)
    if entry.scheduler is None or job_id is None:
        return None
    session = Session(
        id=entry.id,
        target=place.label,
        destination=place.target.destination,
        jumps=place.target.jumps,
        ssh_config=place.target.config_file,
        multiplex=place.multiplex,
        app=entry.app or "lab",
        token=entry.token,  # empty unless asked for: then it stays on the target
        scheduler=entry.scheduler.value,
        scheduler_version=entry.version,
        job_id=job_id,
        jupyter_pid=None if entry.scheduler is not SchedulerName.NONE else int(job_id),
        node=entry.node,
        remote_host=entry.host or place.target.destination,
        remote_dir=f"~/.hoplab/sessions/{entry.id}",
        protocol=entry.protocol,
        lease_seconds=entry.lease,
        master_idle=place.idle,
    )
    reached(session, entry)
    return session


def reached(session: Session, entry: Entry) -> None:
    """Fill in where ``entry``'s Jupyter listens and how the tunnel reaches it, once its
    handshake says it is ready (and, for a job, the reach file agrees with it: a launcher that
    moves its server to TCP or to the session directory is not ready yet)."""
    info = entry.server
    if info is None:
        return
    if session.batch:
        if entry.listen not in {Listen.SOCKET, Listen.HOME_SOCKET, Listen.TCP}:
            return  # no client has said how to listen yet
        tcp = entry.listen is Listen.TCP
        if tcp != (info.socket is None):
            return
        session.reach = (Reach.LOGIN_TCP if tcp else Reach.SSH_NODE).value
        session.socket_home = entry.listen is Listen.HOME_SOCKET
    session.jupyter_pid, session.base_url = info.pid, info.base_url
    session.remote, session.socket = info.remote, info.socket


def _running(
    transport: Transport,
    candidates: list[Session],
    alive: set[str],
    store: SessionStore,
    recorded: set[str],
) -> list[tuple[Session, str]]:
    """The candidates that still run, each with the sentence ``ls`` shows. ``alive``: the
    plain-host sessions whose Jupyter the scan saw running. A job the scheduler says is over
    is recorded so (:attr:`Session.job_over`): no later ``ls`` asks about it again."""
    running = [
        (s, f"orphan: Jupyter (pid {s.jupyter_pid}) runs with no live session")
        for s in candidates
        if not s.batch and s.id in alive
    ]
    batch = sorted((s for s in candidates if s.batch and not s.job_over), key=_backend_key)
    for _, group in groupby(batch, key=_backend_key):
        members = list(group)
        states = jobs.query(
            transport, jobs.for_session(members[0]), [s.job_id for s in members if s.job_id]
        )
        for session in members:
            status = states.get(session.job_id or "")
            if status is not None and status.state.finished and session.id in recorded:
                session.job_over = True
                store.save(session)
            if status is not None and status.state.active:
                why = session.error or "the job outlived its session"
                running.append(
                    (session, f"orphan: job {session.job_id} is {status.state.value} ({why})")
                )
    return running


def _backend_key(session: Session) -> tuple[str, str]:
    return session.scheduler, session.scheduler_version or ""


def adopt(session: Session, store: SessionStore, why: str) -> None:
    """Record ``session`` as a lost orphan, so that ``down`` ends it."""
    session.orphan = True
    session.settle(SessionState.LOST, why)
    store.save(session)
