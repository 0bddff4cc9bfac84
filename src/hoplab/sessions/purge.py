"""``hoplab down --purge TARGET``: remove hoplab's directory (``~/.hoplab``) from a target,
once nothing of hoplab runs there.

Verified first, with the scripts ``ls`` uses: the scan lists every session directory under
``~/.hoplab/sessions`` there. The purge is refused, saying what runs, for a session this laptop
records as live on the target, a plain-host session whose Jupyter runs, a batch job that the
scheduler still holds or cannot tell about (unknown is not ended), and a session started on
another host that shares this home (its process cannot be seen from here). The purge script
checks again that no session directory appeared in between, and never follows a symlink.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hoplab.errors import HoplabError
from hoplab.protocol import Process, PurgeFinding, SchedulerName
from hoplab.remote import jobs, scripts
from hoplab.sessions import masters
from hoplab.sessions.orphans import job_id_of
from hoplab.tunnel.chain import open_transport

if TYPE_CHECKING:
    from hoplab.records.store import SessionStore
    from hoplab.remote.scripts import Entry
    from hoplab.sessions.orphans import Place
    from hoplab.ssh.transport import Transport


@dataclass(frozen=True)
class PurgeResult:
    """What became of ``~/.hoplab`` on one target.

    ``running`` says what runs there when the purge was refused (nothing was removed);
    ``error`` why the target could not be looked at.
    """

    label: str
    finding: PurgeFinding | None = None
    running: tuple[str, ...] = ()
    error: str | None = None

    @property
    def done(self) -> bool:
        """Nothing of hoplab is left in the target's home."""
        return self.finding in {PurgeFinding.REMOVED, PurgeFinding.ABSENT}


def purge(places: list[Place], store: SessionStore, *, interactive: bool) -> list[PurgeResult]:
    """Purge each place in turn (a refusal on one does not stop the others)."""
    results = [_purge(place, store, interactive=interactive) for place in places]
    chains = masters.Chains()
    targets = [(target, place.idle) for place in places for target in chains.to(place.target)]
    masters.release(store, targets=targets)
    return results


def _purge(place: Place, store: SessionStore, *, interactive: bool) -> PurgeResult:
    transport = open_transport(place.target, multiplex=place.multiplex)
    try:
        transport.connect(interactive=interactive)
        entries = scripts.scan(transport, [])
        running = [
            f"session {s.id} is live there ('hoplab down {s.id}' stops it)"
            for s in store.live()
            if s.ssh_target.key == place.target.key
        ]
        running += what_runs(transport, entries)
        if running:
            return PurgeResult(place.label, running=tuple(running))
        purged = scripts.purge(transport, [entry.id for entry in entries])
    except HoplabError as exc:
        return PurgeResult(place.label, error=exc.message)
    if purged.finding is PurgeFinding.NEW:
        started = ", ".join(purged.new)
        return PurgeResult(place.label, running=(f"a session started there meanwhile ({started})",))
    return PurgeResult(place.label, finding=purged.finding)


def what_runs(transport: Transport, entries: list[Entry]) -> list[str]:
    """What of the scanned sessions runs, or cannot be told not to run: one sentence each."""
    running = []
    jobs_by_backend: dict[tuple[str, str], list[tuple[Entry, str]]] = {}
    for entry in entries:
        if entry.scheduler is None:
            continue  # no meta file: its start stopped before it recorded how to run it
        if entry.scheduler is SchedulerName.NONE:
            if entry.process is Process.ALIVE:
                running.append(f"session {entry.id}: Jupyter runs")
            elif entry.process is Process.UNSEEN:
                running.append(
                    f"session {entry.id} was started on another host that shares this home "
                    "(whether it runs cannot be seen from here)"
                )
            continue
        job_id = job_id_of(entry)
        if job_id is not None:
            key = (entry.scheduler.value, entry.version or "")
            jobs_by_backend.setdefault(key, []).append((entry, job_id))
    for (name, version), members in jobs_by_backend.items():
        scheduler = jobs.recorded_backend(name, version or None)
        states = jobs.query(transport, scheduler, [job for _, job in members])
        for entry, job_id in members:
            status = states[job_id]
            if status.state.active:
                running.append(f"session {entry.id}: job {job_id} is {status.state.value}")
            elif not status.state.finished:
                running.append(
                    f"session {entry.id}: the state of job {job_id} is unknown ({status.reason})"
                )
    return running
