"""Issue 19, items 4 and 5 on a laptop with no network: ``ls`` and ``down --all`` reach every
target at once and keep its results apart, ``ls`` opens no master that nothing needs, a job
known to be over is never asked about again, masters go after their idle time, and the purge
refuses while anything of hoplab runs."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest
from fake_laptop import environment, hoplab, record, ssh_calls

from hoplab import process
from hoplab.errors import SshError
from hoplab.launcher import render
from hoplab.protocol import VERSION, Process, PurgeFinding, Reply, SchedulerName, Where
from hoplab.records.model import Session, SessionState
from hoplab.records.store import SessionStore
from hoplab.remote import frames, jobs, scripts
from hoplab.remote.scripts import Entry, Liveness, Purged
from hoplab.schedulers.base import JobState, JobStatus
from hoplab.sessions import cleanup, down, fanout, listing, masters, orphans, purge
from hoplab.ssh.target import SshTarget
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from hoplab.ssh.transport import Transport


@pytest.fixture
def laptop(tmp_path: Path) -> dict[str, str]:
    return environment(tmp_path)


def _store(env: dict[str, str]) -> SessionStore:
    return SessionStore(Path(env["HOPLAB_STATE_DIR"]) / "sessions.db")


class FakeTarget:
    """A transport to a target that either connects or is unreachable; it runs nothing."""

    def __init__(self, target: SshTarget, *, reachable: bool) -> None:
        self.target = target
        self.effective = target
        self.multiplexed = True
        self.reachable = reachable

    def connect(self, *, interactive: bool) -> None:
        if not self.reachable:
            raise SshError(self.target.destination, "Connection timed out")


# the fan-out itself ----------------------------------------------------------------------


def test_results_come_in_the_order_given_whatever_order_the_work_ends_in() -> None:
    # Each waits for the one after it to have finished: the last given ends first.
    done = {n: threading.Event() for n in range(4)}

    def work(n: int) -> str:
        if n + 1 in done:
            assert done[n + 1].wait(10), "the targets did not run at once"
        done[n].set()
        return f"target {n}"

    assert fanout.each([0, 1, 2, 3], work) == ["target 0", "target 1", "target 2", "target 3"]


def test_an_escaping_error_is_raised_once_every_target_is_done() -> None:
    finished: list[int] = []

    def work(n: int) -> int:
        if n == 0:
            raise ValueError("a bug")
        finished.append(n)
        return n

    with pytest.raises(ValueError, match="a bug"):
        fanout.each([0, 1, 2], work)
    assert sorted(finished) == [1, 2]


def test_the_store_takes_writes_from_many_threads(laptop: dict[str, str]) -> None:
    store = _store(laptop)
    sessions = [record(laptop, f"cc{n:06d}", target=f"t{n % 3}") for n in range(30)]

    def settle(session: Session) -> str:
        session.settle(SessionState.STOPPED)
        store.save(session)
        return store.get(session.id).state.value

    assert fanout.each(sessions, settle) == ["stopped"] * 30
    store.close_threads()
    assert {s.state for s in store.all()} == {SessionState.STOPPED}
    store.close()


# ls over several targets -------------------------------------------------------------------


def _ls_on_three_targets(
    laptop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> tuple[SessionStore, list[str]]:
    """Sessions on targets a, b (unreachable) and c (whose Jupyter died), created in turns."""
    ids = []
    for n in range(9):
        target = "abc"[n % 3]
        ids.append(record(laptop, f"dd{n:06d}", target=target).id)
    barrier = threading.Barrier(2, timeout=10)  # a and c are checked at the same time

    def opened(target: SshTarget, *, multiplex: bool = True) -> FakeTarget:
        return FakeTarget(target, reachable=target.destination != "b")

    def check(transport: FakeTarget, sessions: list[Session]) -> dict[str, Liveness]:
        barrier.wait()  # a serial ls would never get past this
        alive = transport.target.destination == "a"
        process = Process.ALIVE if alive else Process.DEAD
        return {s.id: Liveness(process, scripts.SocketState.PRESENT, True) for s in sessions}

    monkeypatch.setattr(listing, "open_transport", opened)
    monkeypatch.setattr(scripts, "check", check)
    monkeypatch.setattr(scripts, "scan", lambda *_args, **_kwargs: [])
    monkeypatch.setattr(scripts, "ended", lambda *_args, **_kwargs: {})  # no tombstones
    monkeypatch.setattr(masters, "release", lambda *_args, **_kwargs: None)
    return _store(laptop), ids


def test_ls_checks_every_target_at_once_and_keeps_their_order(
    laptop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, ids = _ls_on_three_targets(laptop, monkeypatch)
    rows = listing.list_sessions(store)
    assert [row.session.id for row in rows] == ids  # the records' order, not the threads'
    by_target = {t: [r for r in rows if r.session.target == t] for t in "abc"}
    assert all(r.note == "" and r.session.state is SessionState.DETACHED for r in by_target["a"])
    assert all(r.session.state is SessionState.LOST for r in by_target["c"])


def test_an_unreachable_target_hides_nothing_of_the_others(
    laptop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = _ls_on_three_targets(laptop, monkeypatch)
    rows = listing.list_sessions(store)
    for row in rows:
        if row.session.target == "b":  # kept as it was, with why it was not checked
            assert row.session.state is SessionState.DETACHED
            assert row.note.startswith("not checked: ssh to b failed: Connection timed out")
        else:
            assert not row.note.startswith("not checked")


# down --all over several targets -----------------------------------------------------------


def test_down_all_stops_every_target_at_once_and_reports_in_order(
    laptop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [record(laptop, f"ee{n:06d}", target="xyz"[n % 3]).id for n in range(6)]
    barrier = threading.Barrier(2, timeout=10)

    def opened(target: SshTarget, *, multiplex: bool = True) -> FakeTarget:
        return FakeTarget(target, reachable=target.destination != "y")

    def stop(
        transport: FakeTarget, sessions: list[Session], *, by: str = ""
    ) -> dict[str, scripts.StopReport]:
        assert by  # each stop leaves a tombstone, signed
        barrier.wait()  # x and z are stopped at the same time
        return {s.id: scripts.StopReport((), answered=True) for s in sessions}

    monkeypatch.setattr(down, "open_transport", opened)
    monkeypatch.setattr(scripts, "stop", stop)
    monkeypatch.setattr(scripts, "ended", lambda *_args, **_kwargs: {})  # no tombstones
    monkeypatch.setattr(orphans, "find", lambda *_args: {})
    monkeypatch.setattr(masters, "release", lambda *_args, **_kwargs: None)
    store = _store(laptop)
    results = down.down([], store, every=True)
    assert [r.session.id for r in results] == ids
    for result in results:
        if result.session.target == "y":
            assert not result.clean
            assert result.error is not None
            assert "Connection timed out" in result.error
            assert store.get(result.session.id).state is SessionState.DETACHED
        else:
            assert result.clean, result
            assert store.get(result.session.id).state is SessionState.STOPPED


# ls opens no master that nothing needs -----------------------------------------------------


def _finished(env: dict[str, str], sid: str, state: SessionState, error: str | None) -> None:
    session = record(env, sid, target="cluster", state=state, error=error)
    session.scheduler, session.scheduler_version, session.job_id = "slurm", "23.02", "4242"
    store = _store(env)
    store.save(session)
    store.close()


def test_ls_with_no_live_session_opens_no_master(laptop: dict[str, str]) -> None:
    _finished(laptop, "ff000001", SessionState.LOST, "Jupyter is no longer running")
    _finished(laptop, "ff000002", SessionState.ENDED, "the job reached its walltime")
    _finished(laptop, "ff000003", SessionState.STOPPED, "down could not verify: job 4242 gone")
    done = hoplab(laptop, "ls", "--all")
    assert done.returncode == 0, done.stderr
    assert "ff000002" in done.stdout
    assert ssh_calls(laptop) == []  # not even a check for a master: there is no control socket


def test_ls_scan_still_looks_where_it_is_asked(laptop: dict[str, str]) -> None:
    _finished(laptop, "ff000004", SessionState.ENDED, "the job reached its walltime")
    hoplab(laptop, "ls", "--scan", "cluster")
    assert any("ControlMaster=yes" in call for call in ssh_calls(laptop))


def test_the_orphan_scan_goes_where_a_connection_is_there_anyway(
    laptop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _finished(laptop, "ff000005", SessionState.ENDED, "the job reached its walltime")
    live_here = record(laptop, "ff000006", target="other")
    store = _store(laptop)
    monkeypatch.setattr(orphans, "_master_lives", lambda session: session.target == "cluster")
    assert [p.label for p in orphans.places(store)] == ["cluster"]
    monkeypatch.setattr(orphans, "_master_lives", lambda _session: False)
    assert orphans.places(store) == []
    reached = frozenset({live_here.ssh_target.key})
    assert [p.label for p in orphans.places(store, reached=reached)] == ["other"]


# a job known to be over is never asked about again -----------------------------------------


def _batch(env: dict[str, str], sid: str, job: str, *, over: bool) -> Session:
    session = record(env, sid, target="cluster", state=SessionState.ENDED)
    session.scheduler, session.scheduler_version = "slurm", "23.02"
    session.job_id, session.job_over = job, over
    store = _store(env)
    store.save(session)
    store.close()
    return session


def test_down_cancels_the_jobs_of_one_target_at_once_and_never_an_ended_one(
    laptop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = [
        _batch(laptop, "gg000001", "11", over=False),
        _batch(laptop, "gg000002", "12", over=True),
        _batch(laptop, "gg000003", "13", over=False),
    ]
    cancelled: list[list[str]] = []
    asked: list[list[str]] = []

    def cancel(_transport: object, _scheduler: object, ids: list[str]) -> str:
        cancelled.append(list(ids))
        return ""

    def wait_gone(_transport: object, _scheduler: object, ids: list[str]) -> dict[str, JobStatus]:
        asked.append(list(ids))
        return {job: JobStatus(job, JobState.CANCELLED) for job in ids}

    monkeypatch.setattr(jobs, "cancel", cancel)
    monkeypatch.setattr(jobs, "wait_gone", wait_gone)
    found = cleanup.end_jobs(cast("Transport", None), sessions)
    assert cancelled == [["11", "13"]]  # one cancel for the target's jobs; 12 ended long ago
    assert asked == [["11", "13"]]
    assert found == {"gg000001": [], "gg000002": [], "gg000003": []}


def test_a_stopped_session_whose_job_is_seen_over_is_not_asked_about_again(
    laptop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    session = _batch(laptop, "gg000004", "14", over=False)
    session.settle(SessionState.STOPPED, "down could not verify: job 14 gone from the queue")
    store = _store(laptop)
    store.save(session)
    asked: list[list[str]] = []

    def query(_transport: object, _scheduler: object, ids: list[str]) -> dict[str, JobStatus]:
        asked.append(list(ids))
        return {job: JobStatus(job, JobState.GONE) for job in ids}

    monkeypatch.setattr(scripts, "scan", lambda *_args, **_kwargs: [])
    monkeypatch.setattr(jobs, "query", query)
    place = orphans.Place("cluster", session.ssh_target)
    assert orphans._find_on(cast("Transport", None), place, store) == {}
    assert asked == [["14"]]
    assert store.get("gg000004").job_over
    assert orphans._find_on(cast("Transport", None), place, store) == {}
    assert asked == [["14"]]  # the purged id is not sent to squeue again


# masters go after their idle time ----------------------------------------------------------


def test_a_master_no_live_session_needs_is_scheduled_once_and_a_needed_one_kept(
    laptop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOPLAB_STATE_DIR", laptop["HOPLAB_STATE_DIR"])
    monkeypatch.setenv("HOPLAB_RUNTIME_DIR", laptop["HOPLAB_RUNTIME_DIR"])
    spawned: list[list[str]] = []
    closed: list[str] = []
    monkeypatch.setattr(masters, "_has_master", lambda _target: True)
    monkeypatch.setattr(masters, "needed", lambda _store: {SshTarget("busy").key})
    monkeypatch.setattr(masters, "closer", lambda _key: 4242 if spawned else None)
    monkeypatch.setattr(
        masters.process, "spawn", lambda argv, **_kwargs: spawned.append(list(argv))
    )
    monkeypatch.setattr(
        masters.MuxTransport, "close", lambda self: closed.append(self.target.destination)
    )
    store = _store(laptop)
    idle, busy, now = SshTarget("idle"), SshTarget("busy"), SshTarget("now")
    masters.release(store, targets=[(idle, 600), (busy, 600), (now, 0)])
    masters.release(store, targets=[(idle, 900)])  # a later command: its idle time starts again
    assert closed == ["now"]  # 0: at once; the one a live session rides: never
    assert len(spawned) == 1
    assert spawned[0][-2:] == ["close-idle", idle.key]
    plan = masters._read_plan(idle.key)
    assert plan is not None
    assert plan[0] == idle


def test_the_masters_a_command_leaves_are_asked_about_at_once(
    laptop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each master's check (an ssh -O check) runs beside the others': down --all on three
    targets waited for three in a row."""
    import threading

    monkeypatch.setenv("HOPLAB_STATE_DIR", laptop["HOPLAB_STATE_DIR"])
    monkeypatch.setenv("HOPLAB_RUNTIME_DIR", laptop["HOPLAB_RUNTIME_DIR"])
    together = threading.Barrier(3, timeout=10)
    closed: list[str] = []

    def has_master(_target: SshTarget) -> bool:
        together.wait()  # a check made after another had ended would wait here in vain
        return True

    monkeypatch.setattr(masters, "_has_master", has_master)
    monkeypatch.setattr(masters, "needed", lambda _store: set())
    monkeypatch.setattr(
        masters.MuxTransport, "close", lambda self: closed.append(self.target.destination)
    )
    masters.release(_store(laptop), targets=[(SshTarget(n), 0) for n in ("a", "b", "c")])
    assert sorted(closed) == ["a", "b", "c"]


# the purge ---------------------------------------------------------------------------------


def _entry(sid: str, scheduler: SchedulerName, process: Process, submitted: str = "") -> Entry:
    return Entry(sid, process, None, scheduler, "23.02", "lab", VERSION, submitted)


def test_the_purge_is_refused_while_anything_runs_and_says_what(
    laptop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    live = record(laptop, "hh000001", target="host")
    entries = [
        _entry("hh000002", SchedulerName.NONE, Process.ALIVE),
        _entry("hh000003", SchedulerName.SLURM, Process.UNSEEN, "4242"),
        _entry("hh000004", SchedulerName.SLURM, Process.UNSEEN, "4243"),
        _entry("hh000005", SchedulerName.NONE, Process.DEAD),
    ]
    purged: list[list[str]] = []

    def query(_transport: object, _scheduler: object, ids: list[str]) -> dict[str, JobStatus]:
        return {
            "4242": JobStatus("4242", JobState.RUNNING),
            "4243": JobStatus("4243", JobState.GONE),
        }

    monkeypatch.setattr(purge, "open_transport", lambda t, **_kw: FakeTarget(t, reachable=True))
    monkeypatch.setattr(scripts, "scan", lambda *_args, **_kwargs: entries)
    monkeypatch.setattr(jobs, "query", query)
    monkeypatch.setattr(scripts, "purge", lambda _t, known: purged.append(known))
    monkeypatch.setattr(masters, "release", lambda *_args, **_kwargs: None)
    place = orphans.Place("host", live.ssh_target)
    (result,) = purge.purge([place], _store(laptop), interactive=False)
    assert purged == []  # nothing was removed
    assert not result.done
    assert result.running == (
        "session hh000001 is live there ('hoplab down hh000001' stops it)",
        "session hh000002: Jupyter runs",
        "session hh000003: job 4242 is running",
    )


def test_the_purge_removes_the_directory_once_nothing_runs(
    laptop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = [_entry("hh000006", SchedulerName.NONE, Process.DEAD)]
    purged: list[list[str]] = []

    def remove(_transport: object, known: list[str]) -> Purged:
        purged.append(known)
        return Purged(PurgeFinding.REMOVED)

    monkeypatch.setattr(purge, "open_transport", lambda t, **_kw: FakeTarget(t, reachable=True))
    monkeypatch.setattr(scripts, "scan", lambda *_args, **_kwargs: entries)
    monkeypatch.setattr(scripts, "purge", remove)
    monkeypatch.setattr(masters, "release", lambda *_args, **_kwargs: None)
    (result,) = purge.purge(
        [orphans.Place("host", SshTarget("host"))], _store(laptop), interactive=False
    )
    assert purged == [["hh000006"]]
    assert result.done
    assert result.finding is PurgeFinding.REMOVED


def _run_purge(home: Path, known: list[str]) -> list[tuple[Reply, tuple[str, ...]]]:
    script = render.purge(known)
    done = subprocess.run(
        ["sh", "-s"],
        input=script.text,
        capture_output=True,
        text=True,
        check=True,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
    )
    return [(r.kind, r.args) for r in frames.read(done.stdout, script.nonce).replies()]


def test_the_purge_script_removes_only_what_was_checked(tmp_path: Path) -> None:
    sessions = tmp_path / ".hoplab" / "sessions"
    (sessions / "ii000001").mkdir(parents=True)
    (sessions / "ii000002").mkdir()
    # a session that appeared after the check: nothing is removed
    assert _run_purge(tmp_path, ["ii000001"]) == [(Reply.PURGE, ("new", "ii000002"))]
    assert (sessions / "ii000001").is_dir()
    assert _run_purge(tmp_path, ["ii000001", "ii000002"]) == [(Reply.PURGE, ("removed",))]
    assert not (tmp_path / ".hoplab").exists()
    assert _run_purge(tmp_path, []) == [(Reply.PURGE, ("absent",))]


def test_the_purge_script_never_follows_a_link(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "sessions").mkdir(parents=True)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / ".hoplab").symlink_to(elsewhere)
    assert _run_purge(tmp_path / "home", []) == [(Reply.PURGE, ("left",))]
    assert (elsewhere / "sessions").is_dir()


def test_down_purge_alone_stops_nothing_and_says_why_it_could_not_look(
    laptop: dict[str, str],
) -> None:
    record(laptop, "jj000001", target="host")
    done = hoplab(laptop, "down", "--purge", "host")
    assert done.returncode == 1
    assert "host not purged" in " ".join(done.stderr.split())
    assert _store(laptop).get("jj000001").state is SessionState.DETACHED


def test_the_waiting_process_ends_an_idle_master_and_goes_with_a_gone_one(
    laptop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOPLAB_STATE_DIR", laptop["HOPLAB_STATE_DIR"])
    monkeypatch.setenv("HOPLAB_RUNTIME_DIR", laptop["HOPLAB_RUNTIME_DIR"])
    closed: list[str] = []
    sleeper = subprocess.Popen(["sleep", "60"])  # stands for the master's process
    try:
        monkeypatch.setattr(masters.MuxTransport, "watched_pid", lambda _self: sleeper.pid)
        monkeypatch.setattr(
            masters.MuxTransport, "close", lambda self: closed.append(self.target.destination)
        )
        monkeypatch.setattr(masters, "needed", lambda _store: set())
        monkeypatch.setattr(masters.process, "spawn", lambda *_args, **_kwargs: None)
        target = SshTarget("quiet")
        masters.schedule(target, 1)
        store = _store(laptop)
        assert masters.close_when_idle(target.key, store) == "ended after its idle time"
        assert closed == ["quiet"]
        assert masters._read_plan(target.key) is None
        assert masters.closer(target.key) is None  # its pidfile went with it
    finally:
        sleeper.kill()
        sleeper.wait(timeout=10)
    masters.schedule(target, 600)
    assert masters.close_when_idle(target.key, store) == "the master is gone"
    assert closed == ["quiet"]


def test_a_stop_removes_the_sessions_mark_and_the_socket_directory_once_empty(
    tmp_path: Path,
) -> None:
    base = tmp_path / "base"
    folder = base / f"hoplab-{os.getuid()}"
    folder.mkdir(parents=True)
    (folder / "kk000001.view").write_text("")
    (folder / "kk000002.view").write_text("")
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HOPLAB_SOCKET_BASE": str(base)}

    def stop(sid: str) -> None:
        script = render.stop([(sid, None, None, Where.HOST)])
        subprocess.run(
            ["sh", "-s"], input=script.text, env=env, check=True, capture_output=True, text=True
        )

    stop("kk000001")
    assert sorted(p.name for p in folder.iterdir()) == ["kk000002.view"]  # still in use
    stop("kk000002")
    assert not folder.exists()


def test_a_chain_that_cannot_be_worked_out_leaves_its_masters_and_raises_nothing(
    laptop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    session = record(laptop, "ll000001", target="far", state=SessionState.STOPPED)

    def unreachable(_self: masters.Chains, _session: Session) -> list[SshTarget]:
        raise SshError("far", "Connection timed out")

    def needed(_store: SessionStore) -> set[str]:
        raise AssertionError("nothing to release: no need to ask")

    monkeypatch.setattr(masters.Chains, "of", unreachable)
    monkeypatch.setattr(masters, "needed", needed)
    masters.release(_store(laptop), sessions=[session])


SLOW_JUPYTER = """
import signal, sys, time
log = sys.argv[1]
def on_term(*_):
    with open(log, "a") as f:
        f.write(f"term {time.time()}\\n")
    time.sleep(0.3)  # a server shutting down its kernels
    with open(log, "a") as f:
        f.write(f"exit {time.time()}\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
with open(log, "a") as f:
    f.write("up\\n")
while True:
    signal.pause()
"""


def test_one_stop_of_many_sessions_shuts_them_all_down_at_once(tmp_path: Path) -> None:
    """Every Jupyter gets its TERM before the first is waited for: ten sessions on a target
    cost one shutdown, not ten in a row."""
    program = tmp_path / "fake-jupyter.py"  # 'jupyter' in its command line, as stop checks
    program.write_text(SLOW_JUPYTER)
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HOPLAB_SOCKET_BASE": str(tmp_path)}
    rows: list[render.Row] = []
    servers = []
    for n in range(4):
        sid, log = f"mm00000{n}", tmp_path / f"{n}.log"
        (tmp_path / ".hoplab" / "sessions" / sid).mkdir(parents=True)
        servers.append(subprocess.Popen([sys.executable, str(program), str(log)]))
        wait_until(lambda log=log: log.exists(), 10, what="the stand-in to start")
        rows.append((sid, servers[-1].pid, None, Where.HOST))
    try:
        script = render.stop(rows)
        done = subprocess.run(
            ["sh", "-s"], input=script.text, env=env, check=True, capture_output=True, text=True
        )
        for server in servers:
            assert server.wait(10) == 0  # each ended on its TERM, none was killed
    finally:
        for server in servers:
            if server.poll() is None:
                server.kill()
                server.wait(10)
    said = frames.read(done.stdout, script.nonce).replies()
    assert [r.args for r in said] == [(sid, "done") for sid, *_ in rows], done.stdout
    events = [
        line.split() for n in range(4) for line in (tmp_path / f"{n}.log").read_text().splitlines()
    ]
    terms = [float(at) for word, *rest in events if word == "term" for at in rest]
    exits = [float(at) for word, *rest in events if word == "exit" for at in rest]
    assert len(terms) == len(exits) == 4  # one TERM each
    assert max(terms) < min(exits)  # all were told before any had finished


def test_supervisors_are_ended_all_at_once(tmp_path: Path) -> None:
    """``down`` ends a target's background supervisors together: every one gets its TERM
    before the first is waited for."""
    program = tmp_path / "slow.py"
    program.write_text(SLOW_JUPYTER)
    children = []
    for n in range(3):
        log = tmp_path / f"{n}.log"
        children.append(subprocess.Popen([sys.executable, str(program), str(log)]))
        wait_until(lambda log=log: log.exists(), 10, what="the stand-in to start")
    reapers = [threading.Thread(target=child.wait) for child in children]  # no zombies
    for reaper in reapers:
        reaper.start()
    try:
        ended = process.terminate_all([child.pid for child in children], patience=10)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
        for reaper in reapers:
            reaper.join(10)
    assert ended == {child.pid: True for child in children}
    assert [child.returncode for child in children] == [0, 0, 0]  # TERM was enough
    logs = [(tmp_path / f"{n}.log").read_text() for n in range(3)]
    events = [line.split() for log in logs for line in log.splitlines()]
    terms = [float(at) for word, *rest in events if word == "term" for at in rest]
    exits = [float(at) for word, *rest in events if word == "exit" for at in rest]
    assert len(terms) == len(exits) == 3
    assert max(terms) < min(exits)


def test_the_login_node_a_master_landed_on_is_asked_once_for_all_its_sessions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``ls`` and ``down`` group a target's sessions by the host each runs on: the master is
    asked where it landed once, not once per session (each asks ssh -O check)."""
    from hoplab.ssh.mux import MuxTransport
    from hoplab.tunnel import landing

    asked: list[object] = []

    def landed(login: object) -> str:
        asked.append(login)
        return "login01"

    monkeypatch.setattr(landing, "landed", landed)
    login = MuxTransport(SshTarget("login01"))
    sessions = []
    for n in range(5):
        session = Session(f"nn00000{n}", "login01", "login01", (), None, True, "lab", "t")
        session.remote_host = "login01"
        sessions.append(session)
    [(carrier, members)] = landing.by_host(sessions, login)
    assert carrier is login
    assert members == sessions
    assert asked == [login]


def test_where_a_master_landed_is_kept_from_the_launch_and_unknown_when_it_cannot_be_asked(
    laptop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The launch reports ``hostname`` through the master: kept beside its control socket, so
    nobody asks again (a supervisor started as sshd restarted asked a master that was gone, and
    died of ssh's fallback to a refused connection). A question that fails is no answer."""
    from hoplab.errors import SshError
    from hoplab.remote import frames
    from hoplab.ssh.mux import MuxTransport
    from hoplab.tunnel import landing

    monkeypatch.setenv("HOPLAB_RUNTIME_DIR", laptop["HOPLAB_RUNTIME_DIR"])
    master = MuxTransport(SshTarget("login01"))
    monkeypatch.setattr(MuxTransport, "master_pid", lambda _self, *_a, **_kw: 4321)
    asked: list[str] = []

    def refused(*_args: object, **_kwargs: object) -> object:
        asked.append("hostname")
        raise SshError("login01", "ssh: connect to host login01 port 22: Connection refused")

    monkeypatch.setattr(frames, "run_commands", refused)
    assert landing.landed(master) is None
    assert asked == ["hostname"]
    landing.remember(master, "login02")
    assert landing.landed(master) == "login02"
    assert asked == ["hostname"]  # not asked again
