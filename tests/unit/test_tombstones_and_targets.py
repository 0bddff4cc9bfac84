"""A second computer's sessions with ``ls`` and ``down --all`` reaching every target at once:
a session that a ``down`` elsewhere stopped (its tombstone says so) is settled on its own
target, its job verified gone without ssh to a node its job no longer holds, and the masters
it rode are released with the others'. What ``ls --scan``, ``attach --on`` and ``down
--purge`` resolve a TARGET to carries both the master's idle time and whether tokens are read.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fake_laptop import environment, hoplab, record, ssh_calls

from hoplab.cli.common import place
from hoplab.protocol import Process, Reach, SchedulerName, SocketState
from hoplab.records.model import Session, SessionState
from hoplab.records.store import SessionStore
from hoplab.remote import jobs, scripts
from hoplab.remote.scripts import Entry
from hoplab.schedulers.base import JobState, JobStatus
from hoplab.sessions import cleanup, down, masters, orphans
from hoplab.ssh.target import SshTarget

if TYPE_CHECKING:
    from collections.abc import Iterable

    from hoplab.ssh.transport import Transport


@pytest.fixture
def laptop(tmp_path: Path) -> dict[str, str]:
    return environment(tmp_path)


def _store(env: dict[str, str]) -> SessionStore:
    return SessionStore(Path(env["HOPLAB_STATE_DIR"]) / "sessions.db")


class Reached:
    """A connection to a target that always connects; it runs nothing (the scripts are
    replaced)."""

    multiplexed = True

    def __init__(self, target: SshTarget, **_: object) -> None:
        self.target = target
        self.effective = target

    def connect(self, *, interactive: bool) -> None:
        return None


def _tombstoned_job(env: dict[str, str], sid: str) -> Session:
    """A job on "cluster" that ls here marked stopped elsewhere; it ran on node001."""
    session = record(env, sid, target="cluster", state=SessionState.STOPPED_ELSEWHERE)
    session.error = "stopped elsewhere: hoplab down from alice@desk at 2026-11-30 10:42"
    session.scheduler, session.scheduler_version, session.job_id = "slurm", "23.02", "21"
    session.reach, session.node = Reach.SSH_NODE.value, "node001"
    store = _store(env)
    store.save(session)
    store.close()
    return session


class Cluster:
    """What the targets say: tombstones on "cluster", and what its scheduler holds."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, job_state: JobState) -> None:
        self.stopped: list[tuple[str, list[str], str]] = []
        self.forgotten: list[list[str]] = []
        self.cancelled: list[list[str]] = []
        self.released: list[str] = []
        self.job_state = job_state
        monkeypatch.setattr(down, "open_transport", Reached)
        monkeypatch.setattr(orphans, "find", lambda *_args: {})
        monkeypatch.setattr(scripts, "ended", self.ended)
        monkeypatch.setattr(scripts, "forget_ended", self.forget)
        monkeypatch.setattr(scripts, "stop", self.stop)
        monkeypatch.setattr(jobs, "cancel", self.cancel)
        monkeypatch.setattr(jobs, "wait_gone", self.wait_gone)
        monkeypatch.setattr(cleanup, "forward_transport", self.no_node)
        monkeypatch.setattr(masters, "release", self.release)

    def ended(self, transport: Reached, ids: list[str]) -> dict[str, scripts.Tombstone]:
        if transport.target.destination != "cluster":
            return {}
        return {sid: scripts.Tombstone(1_790_000_000.0, "alice@desk") for sid in ids}

    def forget(self, transport: Reached, ids: list[str]) -> bool:
        assert transport.target.destination == "cluster"
        self.forgotten.append(list(ids))
        return True

    def stop(
        self, transport: Reached, sessions: list[Session], *, on_node: bool = False, by: str = ""
    ) -> dict[str, scripts.StopReport]:
        self.stopped.append((transport.target.destination, [s.id for s in sessions], by))
        return {s.id: scripts.StopReport((), answered=True) for s in sessions}

    def cancel(self, _transport: object, _scheduler: object, ids: list[str]) -> str:
        self.cancelled.append(list(ids))
        return ""

    def wait_gone(
        self, _transport: object, _scheduler: object, ids: list[str]
    ) -> dict[str, JobStatus]:
        return {job: JobStatus(job, self.job_state) for job in ids}

    def no_node(self, session: Session, _where: object = None) -> Transport:
        raise AssertionError(f"ssh to {session.node}: Jupyter there is stopped already")

    def release(
        self, _store: SessionStore, *, sessions: Iterable[Session] = (), **_: object
    ) -> None:
        self.released += [s.id for s in sessions]


def test_down_all_settles_a_tombstoned_job_on_its_target_and_stops_the_others(
    laptop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _tombstoned_job(laptop, "aa000001")
    record(laptop, "bb000002", target="host")
    cluster = Cluster(monkeypatch, job_state=JobState.CANCELLED)
    store = _store(laptop)

    results = down.down([], store, every=True)

    assert [r.session.id for r in results] == ["aa000001", "bb000002"]
    settled, stopped = results
    assert settled.clean, settled
    assert dict(settled.checks) == {
        "tombstone of the other computer's down removed": True,
        "job 21 gone from the queue": True,
    }
    assert cluster.forgotten == [["aa000001"]]
    assert cluster.cancelled == [["21"]]  # verified here, never assumed
    assert store.get("aa000001").state is SessionState.STOPPED
    assert store.get("aa000001").error is None
    assert store.get("aa000001").job_over  # no later command asks about job 21 again
    # the stop script (which signs a new tombstone) ran only for the other target's session
    assert stopped.clean, stopped
    assert [(where, ids) for where, ids, _ in cluster.stopped] == [("host", ["bb000002"])]
    assert all(by for _, _, by in cluster.stopped)
    assert sorted(cluster.released) == ["aa000001", "bb000002"]  # their masters may go


def test_a_tombstoned_job_still_in_the_queue_is_left_unverified_for_the_orphan_scan(
    laptop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _tombstoned_job(laptop, "aa000003")
    cluster = Cluster(monkeypatch, job_state=JobState.RUNNING)
    store = _store(laptop)

    (result,) = down.down(["aa000003"], store)

    assert not result.clean
    assert dict(result.checks)["job 21 gone from the queue"] is False
    assert cluster.cancelled == [["21"]]
    kept = store.get("aa000003")
    assert kept.state is SessionState.STOPPED
    assert kept.error == "down could not verify: job 21 gone from the queue"
    assert not kept.job_over
    assert orphans._unverified(kept)  # the next ls looks for it as an orphan


def test_ls_marks_a_live_session_stopped_elsewhere_and_releases_its_masters(
    laptop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hoplab.sessions import listing

    record(laptop, "cc000001", target="cluster")
    record(laptop, "dd000002", target="host")
    cluster = Cluster(monkeypatch, job_state=JobState.CANCELLED)
    monkeypatch.setattr(listing, "open_transport", Reached)
    monkeypatch.setattr(
        cleanup, "forward_transport", lambda _session, _where=None: Reached(SshTarget("x"))
    )
    monkeypatch.setattr(
        scripts,
        "check",
        lambda _t, sessions: {
            s.id: scripts.Liveness(Process.ALIVE, SocketState.PRESENT, True) for s in sessions
        },
    )
    monkeypatch.setattr(orphans, "look", lambda *_args, **_kwargs: {})
    store = _store(laptop)

    rows = {row.session.id: row for row in listing.list_sessions(store)}

    assert rows["cc000001"].session.state is SessionState.STOPPED_ELSEWHERE
    assert rows["cc000001"].note.startswith("stopped elsewhere: hoplab down from alice@desk at ")
    assert rows["dd000002"].session.state is SessionState.DETACHED
    assert cluster.released == ["cc000001"]  # no live session rides its masters any more
    assert cluster.stopped == []  # ls stops nothing


# what a TARGET resolves to ------------------------------------------------------------------


def test_a_target_carries_its_idle_time_and_whether_tokens_are_read(
    laptop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    Path(laptop["HOPLAB_CONFIG"]).write_text(
        '[profiles.gpu]\nhost = "login.hpc"\nmaster_idle = "2"\n', encoding="utf-8"
    )
    monkeypatch.setenv("HOPLAB_CONFIG", laptop["HOPLAB_CONFIG"])
    scanned = place("gpu", adopt=True)
    assert (scanned.label, scanned.target.destination) == ("gpu", "login.hpc")
    assert (scanned.idle, scanned.adopt) == (120, True)
    purged = place("gpu")
    assert (purged.idle, purged.adopt) == (120, False)
    assert place("elsewhere.example").idle == masters.DEFAULT_IDLE


def test_a_session_recorded_from_a_target_keeps_that_targets_idle_time() -> None:
    entry = Entry(
        "ee000001",
        Process.UNSEEN,
        "node001",
        SchedulerName.SLURM,
        "23.02",
        "lab",
        1,
        "4242",
        "login01",
    )
    found = orphans.record_of(entry, orphans.Place("gpu", SshTarget("login.hpc"), True, 120))
    assert found is not None
    assert (found.job_id, found.master_idle) == ("4242", 120)


def test_script_and_on_together_are_a_usage_error(laptop: dict[str, str]) -> None:
    done = hoplab(laptop, "attach", "--on", "cluster", "ab12cd34", "--script", "r.sh")
    assert done.returncode == 2
    assert "--script" in done.stderr
    assert "attach --on TARGET SESSION --detach" in done.stderr
    assert ssh_calls(laptop) == []
    assert not Path("r.sh").exists()


def test_attach_on_lets_the_masters_it_opened_go_when_it_attaches_to_nothing(
    laptop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from hoplab.cli import cli
    from hoplab.sessions import adopt

    for key in ("HOPLAB_CONFIG", "HOPLAB_STATE_DIR", "HOPLAB_RUNTIME_DIR"):
        monkeypatch.setenv(key, laptop[key])
    Path(laptop["HOPLAB_CONFIG"]).write_text(
        '[profiles.gpu]\nhost = "login.hpc"\njump = "gate"\nmaster_idle = "1"\n', encoding="utf-8"
    )
    released: list[list[tuple[str, int]]] = []

    def release(_store: object, *, targets: Iterable[tuple[SshTarget, int]] = ()) -> None:
        released.append([(target.destination, idle) for target, idle in targets])

    monkeypatch.setattr(masters, "release", release)
    monkeypatch.setattr(adopt, "running_on", lambda *_args, **_kwargs: [])  # nothing runs there
    done = CliRunner().invoke(cli, ["attach", "--on", "gpu"], input="")
    assert done.exit_code == 1
    assert released == [[("login.hpc", 60), ("gate", 60)]]  # the target's, then its login's
