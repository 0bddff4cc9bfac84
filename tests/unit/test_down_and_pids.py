"""Issue 15 on a laptop with no network: down goes on past what it cannot reach, ids match
literally, recorded PIDs are checked, and a host that looks like an ssh option never reaches
ssh (the real OpenSSH client is on PATH for that one, so a slip would run its ProxyCommand)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest
from fake_laptop import environment, hoplab, record, ssh_calls

from hoplab.process import is_hoplab
from hoplab.protocol import VERSION, Process, SchedulerName
from hoplab.records.model import ExtraForward, Session, SessionState
from hoplab.records.store import SessionStore
from hoplab.remote import jobs, scripts
from hoplab.remote.scripts import Entry
from hoplab.schedulers.base import JobState, JobStatus
from hoplab.sessions import orphans
from hoplab.ssh.target import SshTarget

if TYPE_CHECKING:
    from collections.abc import Iterator

    from hoplab.ssh.transport import Transport


@pytest.fixture
def laptop(tmp_path: Path) -> dict[str, str]:
    return environment(tmp_path)


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[str]]:
    """A live process that is not hoplab (ended by its own handle)."""
    child = subprocess.Popen(["sleep", "60"], text=True)
    yield child
    child.kill()
    child.wait(timeout=10)


def _store(env: dict[str, str]) -> SessionStore:
    return SessionStore(Path(env["HOPLAB_STATE_DIR"]) / "sessions.db")


def test_down_all_reports_each_unreachable_session_and_keeps_it(laptop: dict[str, str]) -> None:
    record(laptop, "aa000001", target="one", state=SessionState.DETACHED)
    record(laptop, "bb000002", target="two", state=SessionState.DETACHED)
    done = hoplab(laptop, "down", "--all", "--json")
    assert done.returncode == 1, done.stderr
    results = {r["id"]: r for r in json.loads(done.stdout)["results"]}
    assert set(results) == {"aa000001", "bb000002"}  # the first failure stopped nothing else
    for result in results.values():
        assert result["clean"] is False
        assert "Connection refused" in result["error"]
        assert list(result["checks"].values()) == [False]
    store = _store(laptop)
    assert {s.id: s.state for s in store.all()} == {
        "aa000001": SessionState.DETACHED,
        "bb000002": SessionState.DETACHED,
    }
    assert all(s.error is None for s in store.all())  # kept exactly as it was


def test_down_text_says_what_was_not_stopped_and_why(laptop: dict[str, str]) -> None:
    record(laptop, "aa000001", target="one", state=SessionState.DETACHED)
    done = hoplab(laptop, "down", "--all")
    assert done.returncode == 1
    assert "aa000001 not stopped" in done.stderr
    assert "Connection refused" in done.stderr
    assert "hoplab down aa000001" in done.stderr


def test_a_newer_session_does_not_stop_down_all_for_the_others(laptop: dict[str, str]) -> None:
    newer = record(laptop, "cc000003", target="one", state=SessionState.DETACHED)
    newer.protocol = VERSION + 1
    store = _store(laptop)
    store.save(newer)
    store.close()
    record(laptop, "dd000004", target="two", state=SessionState.DETACHED)
    done = hoplab(laptop, "down", "--all", "--json")
    results = {r["id"]: r for r in json.loads(done.stdout)["results"]}
    assert "newer hoplab" in results["cc000003"]["error"]
    assert "upgrade hoplab" in results["cc000003"]["error"]
    assert "dd000004" in results  # tried, whatever its target said
    assert not any("cc000003" in call for call in ssh_calls(laptop))


def test_an_unreachable_targets_supervisor_is_left_running(laptop: dict[str, str]) -> None:
    record(laptop, "ee000005", target="one", state=SessionState.DETACHED)
    # a process that looks like this session's background supervisor, with its pidfile
    fake = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "supervise", "ee000005"]
    )
    try:
        folder = Path(laptop["HOPLAB_STATE_DIR"]) / "supervisors"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "ee000005.pid").write_text(f"{fake.pid}\n")
        done = hoplab(laptop, "down", "--all", "--json")
        assert done.returncode == 1
        assert fake.poll() is None  # down did not end it: the session was not stopped
        assert (folder / "ee000005.pid").exists()
    finally:
        fake.kill()
        fake.wait(timeout=10)


@pytest.mark.parametrize("pattern", ["%", "_", "a%", "a_"])
def test_down_with_a_wildcard_matches_nothing(laptop: dict[str, str], pattern: str) -> None:
    record(laptop, "ab12cd34", state=SessionState.DETACHED)
    done = hoplab(laptop, "down", pattern)
    assert done.returncode == 1
    assert "no session" in done.stderr.lower()
    assert ssh_calls(laptop) == []
    assert _store(laptop).get("ab12cd34").state is SessionState.DETACHED


def test_a_reused_pid_holds_no_session(
    laptop: dict[str, str], sleeper: subprocess.Popen[str]
) -> None:
    session = record(laptop, "ff000006", state=SessionState.STARTING)
    session.attached_pid = sleeper.pid  # alive, ours, but not hoplab: a reused number
    assert not is_hoplab(sleeper.pid)
    assert not session.held
    assert not session.starting_elsewhere
    session.attached_pid = os.getpid()
    assert session.held  # this very process is hoplab, whatever its command line


def test_a_dead_pid_is_not_hoplab(sleeper: subprocess.Popen[str]) -> None:
    pid = sleeper.pid
    sleeper.kill()
    sleeper.wait(timeout=10)
    assert not is_hoplab(pid)


def test_a_hoplab_command_line_is_recognised() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "-m", "hoplab", "up"]
    )
    try:
        assert is_hoplab(child.pid)
    finally:
        child.kill()
        child.wait(timeout=10)


def test_an_abandoned_start_with_a_reused_pid_is_an_orphan(
    laptop: dict[str, str], sleeper: subprocess.Popen[str]
) -> None:
    session = record(laptop, "ab000007", state=SessionState.STARTING)
    session.attached_pid = sleeper.pid
    store = _store(laptop)
    store.save(session)
    store.close()
    done = hoplab(laptop, "ls", "--json")
    rows = {s["id"]: s for s in json.loads(done.stdout)["sessions"]}
    assert rows["ab000007"]["state"] == "lost"
    assert rows["ab000007"]["orphan"] is True


OPTION_LIKE = "-oProxyCommand=touch {file}"


@pytest.mark.parametrize(
    ("how", "said"),
    [
        (("up", "--", "{target}"), "is not a host name"),
        (("up", "--no-mux", "--", "{target}"), "is not a host name"),
        (("up", "--jump", "{target}", "login"), "is not a host name"),
        (("up", "--no-mux", "--jump", "{target}", "login"), "is not a host name"),
        (("up", "{target}"), "No such option"),  # click reads it as an option first
    ],
    ids=["mux", "no-mux", "jump", "jump-no-mux", "no-separator"],
)
def test_an_option_like_host_never_reaches_ssh(
    tmp_path: Path, how: tuple[str, ...], said: str
) -> None:
    proof = tmp_path / "proxy-ran"
    target = OPTION_LIKE.format(file=proof)
    env = {
        **os.environ,
        "HOPLAB_CONFIG": str(tmp_path / "config.toml"),
        "HOPLAB_STATE_DIR": str(tmp_path / "state"),
        "HOPLAB_RUNTIME_DIR": str(tmp_path / "run"),
        "HOPLAB_SCHEDULER": "none",
    }
    argv = [part.format(target=target) for part in how]
    done = hoplab(env, argv[0], "--no-browser", *argv[1:])  # the real ssh is on PATH
    assert done.returncode != 0
    assert not proof.exists(), "ssh ran the ProxyCommand of a host name"
    assert said in done.stderr
    assert "Traceback" not in done.stderr


def test_ls_says_extra_forwards_are_open_to_every_local_user(laptop: dict[str, str]) -> None:
    session = record(laptop, "ab000008", state=SessionState.DETACHED, port=8888)
    session.forwards = [ExtraForward("dask", 8787, local_port=40123)]
    store = _store(laptop)
    store.save(session)
    store.close()
    done = hoplab(laptop, "ls")
    assert "dask:40123" in done.stdout
    assert "every user of this machine can reach them" in " ".join(done.stderr.split())


# the job id of an up killed right after its submit ------------------------------------------


def _batch(env: dict[str, str], sid: str, state: SessionState) -> Session:
    session = record(env, sid, target="login", state=state)
    session.scheduler, session.scheduler_version, session.attached_pid = "slurm", "23.02", None
    store = _store(env)
    store.save(session)
    store.close()
    return session


def _entry(sid: str, submitted: str) -> Entry:
    return Entry(sid, Process.UNSEEN, None, SchedulerName.SLURM, "23.02", "lab", VERSION, submitted)


def test_a_lost_job_id_is_read_back_from_the_submitted_file(
    laptop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    jobless = _batch(laptop, "ab000009", SessionState.LOST)
    plain = record(laptop, "ab000010", state=SessionState.DETACHED)
    asked: list[list[str] | None] = []

    def scan(
        _transport: object, _skip: list[str], only: list[str] | None = None, **_: object
    ) -> list[Entry]:
        asked.append(only)
        return [_entry("ab000009", "4242"), _entry("ab000011", "77")]

    monkeypatch.setattr(scripts, "scan", scan)
    store = _store(laptop)
    orphans.recover_job_ids(cast("Transport", None), [jobless, plain], store)
    assert asked == [["ab000009"]]  # only the batch session without a job id is looked at
    assert jobless.job_id == "4242"
    assert store.get("ab000009").job_id == "4242"
    assert plain.job_id is None


def test_nothing_is_asked_when_every_job_id_is_known(
    laptop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    known = _batch(laptop, "ab000012", SessionState.DETACHED)
    known.job_id = "5"

    def scan(*_args: object, **_kwargs: object) -> list[Entry]:
        raise AssertionError("no remote call needed")

    monkeypatch.setattr(scripts, "scan", scan)
    orphans.recover_job_ids(cast("Transport", None), [known], _store(laptop))


def test_ls_finds_the_running_job_of_an_abandoned_start(
    laptop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its up died before saving the job id: the scan reads it, the queue says it runs."""
    _batch(laptop, "ab000013", SessionState.LOST)
    skipped: list[list[str]] = []

    def scan(
        _transport: object, skip: list[str], only: list[str] | None = None, **_: object
    ) -> list[Entry]:
        skipped.append(skip)
        return [_entry("ab000013", "4243")]

    def query(_transport: object, _scheduler: object, ids: list[str]) -> dict[str, JobStatus]:
        return {job: JobStatus(job, JobState.PENDING, "BeginTime") for job in ids}

    monkeypatch.setattr(scripts, "scan", scan)
    monkeypatch.setattr(jobs, "query", query)
    store = _store(laptop)
    place = orphans.Place("login", SshTarget("login"))
    notes = orphans._find_on(cast("Transport", None), place, store)
    assert "ab000013" not in skipped[0]  # a jobless record is scanned, not taken as accounted
    assert notes["ab000013"].startswith("orphan: job 4243 is pending")
    again = store.get("ab000013")
    assert (again.job_id, again.state, again.orphan) == ("4243", SessionState.LOST, True)


def test_the_scan_script_reads_the_submitted_file_of_only_the_named_sessions(
    tmp_path: Path,
) -> None:
    """The real scan script in sh, on a home with three session directories."""
    from hoplab.launcher import render
    from hoplab.remote import frames

    sessions = tmp_path / ".hoplab" / "sessions"
    for sid, job in (("aa000001", "4242"), ("bb000002", "4243"), ("cc000003", "4244")):
        folder = sessions / sid
        folder.mkdir(parents=True)
        (folder / "meta").write_text(f"slurm 23.02 lab login01 {VERSION}\n")
        (folder / "submitted").write_text(f"{job}\n")

    def scan(only: list[str] | None) -> dict[str, str]:
        script = render.scan([], only)
        done = subprocess.run(
            ["sh", "-s"],
            input=script.text,
            capture_output=True,
            text=True,
            check=True,
            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        )
        replies = frames.read(done.stdout, script.nonce).replies()
        return {r.args[0]: " ".join(r.args[8:]) for r in replies}

    assert scan(["bb000002"]) == {"bb000002": "4243"}
    assert scan(["aa000001", "cc000003"]) == {"aa000001": "4242", "cc000003": "4244"}
    assert scan([]) == {}
    assert scan(None) == {"aa000001": "4242", "bb000002": "4243", "cc000003": "4244"}
