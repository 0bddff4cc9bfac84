"""Issue 17, item 1: a second computer attaches to a session it has no record of, and a
``down`` from either computer shows on the other as stopped elsewhere.

The remote scripts run in a real ``sh`` on a fake home; the ssh connection is replaced by one
that runs that ``sh`` locally, so every argv hoplab builds can be checked for the token.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner
from fake_laptop import environment, hoplab, record, ssh_calls

from hoplab import process
from hoplab.cli import cli
from hoplab.errors import ProtocolError, SessionStateError
from hoplab.launcher import render
from hoplab.protocol import VERSION, Detail, Listen, Process, Reach, SchedulerName, Where
from hoplab.records.model import Session, SessionState
from hoplab.records.store import SessionStore
from hoplab.remote import frames, scripts
from hoplab.sessions import adopt, listing, masters, orphans
from hoplab.sessions.adopt import Running
from hoplab.sessions.orphans import Place
from hoplab.ssh.mux import MuxTransport
from hoplab.ssh.target import SshTarget
from hoplab.ssh.transport import Forward, Transport

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from hoplab.process import Completed

TOKEN = "5e0c1f7a9b2d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d"  # the shape hoplab's tokens have
JOB_TOKEN = "0f" * 24
PLACE = Place("cluster", SshTarget("login.hpc"))


class LocalSh(Transport):
    """A "connection" that runs each script in a local ``sh`` whose HOME is the fake home."""

    multiplexed = True

    def __init__(self, target: SshTarget, home: Path) -> None:
        super().__init__(target)
        self.home = home

    def connect(self, *, interactive: bool) -> None:
        return None

    def command(self, *remote: str) -> list[str]:
        return ["env", f"HOME={self.home}", "PATH=/usr/bin:/bin", *remote]

    def forward(self, local_port: int, remote: str) -> Forward:
        return Forward(local_port, remote)

    def cancel(self, forward: Forward) -> None:
        return None

    def close(self) -> None:
        return None


@pytest.fixture
def jupyter_like() -> Iterator[subprocess.Popen[str]]:
    """A live process whose command line names jupyter, as the scan's liveness check wants."""
    proc = subprocess.Popen(["sh", "-c", "sleep 60; :", "jupyter-lab"], text=True)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _session_dir(home: Path, sid: str, meta: str, token: str) -> Path:
    folder = home / ".hoplab" / "sessions" / sid
    (folder / "runtime").mkdir(parents=True)
    (folder / "meta").write_text(meta + "\n")
    (folder / "token").write_text(token)  # as prepare.sh writes it: no newline
    (folder / "token").chmod(0o600)
    return folder


def _jpserver(folder: Path, pid: int, **fields: object) -> None:
    data = {"pid": pid, "base_url": "/", "token": "jupyters-own-copy", **fields}
    (folder / "pid").write_text(f"{pid}\n")
    (folder / "runtime" / f"jpserver-{pid}.json").write_text(json.dumps(data, indent=2))


@pytest.fixture
def home(tmp_path: Path, jupyter_like: subprocess.Popen[str]) -> Path:
    """A remote home with a plain session (Jupyter runs on this very host, on a socket, with a
    lease) and a SLURM job reached over TCP."""
    home = tmp_path / "remote-home"
    here = socket.gethostname()
    plain = _session_dir(home, "aa000001", f"none - lab {here} {VERSION}", TOKEN)
    (plain / "submitted").write_text(f"{jupyter_like.pid}\n")
    (plain / "launch.sh").write_text("#!/bin/sh\nHOPLAB_ID=aa000001\nHOPLAB_LEASE=600\n")
    _jpserver(plain, jupyter_like.pid, sock="/tmp/hoplab-1000/aa000001.sock", port=0)
    job = _session_dir(home, "bb000002", f"slurm 23.02 notebook login01 {VERSION}", JOB_TOKEN)
    (job / "submitted").write_text("4242\n")  # sbatch --parsable
    (job / "node").write_text("node001\n")
    (job / "reach").write_text("tcp 10.201.2.11\n")
    (job / "launch.sh").write_text("#!/bin/sh\nHOPLAB_LEASE=0\n")
    _jpserver(job, 777, sock="", hostname="10.201.2.11", port=41234, base_url="/u/x/")
    return home


def _scan(home: Path, detail: Detail, only: list[str] | None = None) -> list[scripts.Entry]:
    return scripts.scan(LocalSh(PLACE.target, home), [], only, detail=detail)


def test_the_scan_says_how_each_session_is_reached_and_its_token_only_when_asked(
    home: Path,
) -> None:
    entries = {e.id: e for e in _scan(home, Detail.TOKEN)}
    plain, job = entries["aa000001"], entries["bb000002"]
    assert plain.token == TOKEN
    assert job.token == JOB_TOKEN
    assert plain.process is Process.ALIVE
    assert (plain.host, plain.lease, plain.listen) == (socket.gethostname(), 600, None)
    assert plain.server is not None
    assert plain.server.socket == "/tmp/hoplab-1000/aa000001.sock"
    assert (job.listen, job.ip, job.lease, job.node, job.host) == (
        Listen.TCP,
        "10.201.2.11",
        None,
        "node001",
        "login01",
    )
    assert job.server is not None
    assert (job.server.remote, job.server.base_url) == ("10.201.2.11:41234", "/u/x/")
    assert all(e.token == "" for e in _scan(home, Detail.REACH))
    bare = _scan(home, Detail.NONE)
    assert all(e.server is None and e.listen is None for e in bare)
    assert {e.id for e in _scan(home, Detail.TOKEN, only=["bb000002"])} == {"bb000002"}


def test_the_records_made_from_a_scan_can_be_attached_to(home: Path) -> None:
    entries = {e.id: e for e in _scan(home, Detail.TOKEN)}
    plain = orphans.record_of(entries["aa000001"], PLACE)
    job = orphans.record_of(entries["bb000002"], PLACE)
    assert plain is not None
    assert job is not None
    assert plain.token == TOKEN
    assert plain.remote == plain.socket == "/tmp/hoplab-1000/aa000001.sock"
    assert (plain.reach, plain.lease_seconds, plain.remote_host) == (
        None,
        600,
        socket.gethostname(),
    )
    assert (job.scheduler, job.job_id, job.node, job.app) == (
        "slurm",
        "4242",
        "node001",
        "notebook",
    )
    assert (job.reach, job.remote, job.socket) == (Reach.LOGIN_TCP.value, "10.201.2.11:41234", None)
    assert job.base_url == "/u/x/"
    assert (job.target, job.destination) == ("cluster", "login.hpc")


def test_a_job_whose_launcher_still_moves_its_server_is_not_ready(home: Path) -> None:
    """The reach file says tcp, the handshake is still the socket server's: wait."""
    job = home / ".hoplab" / "sessions" / "bb000002"
    _jpserver(job, 778, sock="/tmp/hoplab-1000/bb000002.sock", port=0)
    entry = next(e for e in _scan(home, Detail.REACH) if e.id == "bb000002")
    session = orphans.record_of(entry, PLACE)
    assert session is not None
    assert session.remote is None
    (job / "reach").write_text("home-socket\n")
    entry = next(e for e in _scan(home, Detail.REACH) if e.id == "bb000002")
    session = orphans.record_of(entry, PLACE)
    assert session is not None
    assert (session.reach, session.socket_home) == (Reach.SSH_NODE.value, True)


def test_a_malformed_token_file_is_refused_without_quoting_it(home: Path) -> None:
    bad = "not a token; rm -rf ~"
    (home / ".hoplab" / "sessions" / "aa000001" / "token").write_text(bad)
    with pytest.raises(ProtocolError) as caught:
        _scan(home, Detail.TOKEN)
    assert "aa000001" in caught.value.message
    assert "rm -rf" not in str(caught.value)


def test_a_cut_answer_that_holds_a_token_is_never_quoted() -> None:
    class Cut(LocalSh):
        def run(self, script: str, *, timeout: float = 60.0) -> Completed:
            nonce = script.split("HOPLAB_NONCE=", 1)[1].split("\n", 1)[0]
            cut = f"\n@hoplab {VERSION} {nonce} begin\nHOPLAB token aa000001 {TOKEN}\n"
            return process.Completed(["ssh"], 0, cut, "")

    with pytest.raises(ProtocolError) as caught:
        scripts.scan(Cut(PLACE.target, Path()), [], detail=Detail.TOKEN)
    assert TOKEN not in str(caught.value)
    assert "holds session tokens" in caught.value.message


@pytest.fixture
def recorded_argv(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every argv hoplab runs or spawns from here on."""
    seen: list[list[str]] = []
    real_run, real_spawn = process.run, process.spawn

    def run(argv: Sequence[str], **kwargs: object) -> Completed:
        seen.append(list(argv))
        return real_run(argv, **kwargs)  # type: ignore[arg-type]

    def spawn(argv: Sequence[str], **kwargs: object) -> subprocess.Popen[str]:
        seen.append(list(argv))
        return real_spawn(argv, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(process, "run", run)
    monkeypatch.setattr(process, "spawn", spawn)
    return seen


def test_adopting_reads_the_token_into_the_store_and_never_into_an_argv_or_a_log(
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    recorded_argv: list[list[str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # what --debug prints
    monkeypatch.setattr(adopt, "open_transport", lambda target, **_: LocalSh(target, home))
    store = SessionStore(tmp_path / "state" / "sessions.db")
    found = {r.session.id: r for r in adopt.running_on(PLACE, store)}
    # no squeue here: a job whose scheduler does not answer is unknown, not ended
    assert found["bb000002"].status.startswith("job 4242 UNKNOWN")
    assert (
        found["aa000001"].status
        == f"Jupyter (pid {found['aa000001'].session.jupyter_pid}) on {socket.gethostname()}"
    )
    assert all(r.session.token == "" for r in found.values())  # listing reads no token
    session = adopt.adopt(PLACE, "aa000001", store)
    assert store.get("aa000001").token == TOKEN
    assert (session.state, session.remote) == (SessionState.DETACHED, session.socket)
    # the argv that carry the session from here on: its scripts and its forward
    mux = MuxTransport(session.ssh_target)
    built = [
        mux.command("sh", "-s"),
        ["ssh", "-O", "forward", "-L", Forward(8888, session.remote or "").spec],
    ]

    assert recorded_argv, "the scan ran through the one subprocess chokepoint"
    for argv in [*recorded_argv, *built]:
        assert not any(TOKEN in word for word in argv), argv
    assert TOKEN not in caplog.text
    assert "env HOME=" in caplog.text  # the debug log did record the commands
    mode = (tmp_path / "state" / "sessions.db").stat().st_mode & 0o777
    assert mode == 0o600


def test_a_job_is_listed_while_its_scheduler_says_it_runs(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hoplab.remote import jobs
    from hoplab.schedulers.base import JobState, JobStatus

    monkeypatch.setattr(adopt, "open_transport", lambda target, **_: LocalSh(target, home))
    states = {"4242": JobStatus("4242", JobState.RUNNING, node="node001")}
    monkeypatch.setattr(jobs, "query", lambda _t, _s, ids: {i: states[i] for i in ids})
    store = SessionStore(tmp_path / "state" / "sessions.db")
    found = {r.session.id: r for r in adopt.running_on(PLACE, store)}
    assert found["bb000002"].status == "job 4242 RUNNING on node001"
    states["4242"] = JobStatus("4242", JobState.CANCELLED)
    assert "bb000002" not in {r.session.id for r in adopt.running_on(PLACE, store)}


def test_pick_takes_a_prefix_and_refuses_what_does_not_run(home: Path) -> None:
    entries = _scan(home, Detail.REACH)
    found = [Running(s, "", known=False) for e in entries if (s := orphans.record_of(e, PLACE))]
    assert adopt.pick(found, "bb", "cluster").session.id == "bb000002"
    with pytest.raises(SessionStateError) as caught:
        adopt.pick(found, "cc", "cluster")
    assert "aa000001, bb000002" in caught.value.message


# tombstones -------------------------------------------------------------------------------


def _sh(home: Path, script: frames.Script) -> frames.Frame:
    done = subprocess.run(
        ["sh", "-s"],
        input=script.text,
        capture_output=True,
        text=True,
        check=True,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
    )
    return frames.read(done.stdout, script.nonce)


def test_down_leaves_a_tombstone_that_the_other_computer_reads_then_removes(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    for sid in ("aa000001", "bb000002", "cc000003"):
        (home / ".hoplab" / "sessions" / sid).mkdir(parents=True)
    rows: list[render.Row] = [
        ("aa000001", None, None, Where.HOST),
        ("bb000002", None, None, Where.LOGIN),
    ]
    _sh(home, render.stop(rows, by="alice@laptop2", at=1_790_000_000))
    _sh(home, render.stop([("cc000003", None, None, Where.HOST)]))  # a failed up: no down
    _sh(home, render.stop([("dd000004", None, None, Where.HOST)], by="alice@laptop2", at=1))
    tomb = home / ".hoplab" / "ended"
    assert sorted(p.name for p in tomb.iterdir()) == ["aa000001", "bb000002"]
    assert (tomb / "aa000001").read_text() == "1790000000 alice@laptop2\n"
    assert (tomb.stat().st_mode & 0o777, (tomb / "aa000001").stat().st_mode & 0o777) == (
        0o700,
        0o600,
    )
    said = [r.args for r in _sh(home, render.ended(["aa000001", "cc000003"])).replies()]
    assert said == [("aa000001", "1790000000", "alice@laptop2")]
    _sh(home, render.ended(["aa000001"], forget=True))
    assert sorted(p.name for p in tomb.iterdir()) == ["bb000002"]


def test_a_tombstone_older_than_seven_days_is_removed_unread(tmp_path: Path) -> None:
    tomb = tmp_path / ".hoplab" / "ended"
    tomb.mkdir(parents=True)
    for sid, days in (("aa000001", 8), ("bb000002", 5)):
        (tomb / sid).write_text(f"1 bob@desk{sid}\n")
        then = time.time() - days * 86400
        os.utime(tomb / sid, (then, then))
    said = [r.args[0] for r in _sh(tmp_path, render.ended(["aa000001", "bb000002"])).replies()]
    assert said == ["bb000002"]
    assert [p.name for p in tomb.iterdir()] == ["bb000002"]


class Quiet(LocalSh):
    """A connection that answers nothing in particular (the scripts are replaced)."""


def _live(store: SessionStore, sid: str) -> Session:
    session = Session(sid, "cluster", "login.hpc", (), None, True, "lab", token=TOKEN)
    session.state, session.remote, session.jupyter_pid = SessionState.DETACHED, "/tmp/s", 42
    store.save(session)
    return session


def test_ls_shows_a_session_a_down_elsewhere_stopped_and_prune_settles_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hoplab.sessions import down as down_module

    store = SessionStore(tmp_path / "sessions.db")
    _live(store, "aa000001")
    _live(store, "bb000002")
    forgotten: list[list[str]] = []
    tomb = {"aa000001": scripts.Tombstone(1_790_000_000.0, "alice@laptop2")}

    def checked(_t: object, sessions: list[Session]) -> dict[str, scripts.Liveness]:
        from hoplab.protocol import SocketState

        return {s.id: scripts.Liveness(Process.ALIVE, SocketState.PRESENT, True) for s in sessions}

    for module in (listing, down_module):
        monkeypatch.setattr(module, "open_transport", lambda target, **_: Quiet(target, tmp_path))
    monkeypatch.setattr(orphans, "find", lambda *_: {})
    monkeypatch.setattr(scripts, "ended", lambda _t, ids: {i: tomb[i] for i in ids if i in tomb})
    monkeypatch.setattr(scripts, "check", checked)
    monkeypatch.setattr(scripts, "forget_ended", lambda _t, ids: forgotten.append(ids) or True)
    monkeypatch.setattr(orphans, "look", lambda *_args, **_kwargs: {})
    monkeypatch.setattr(masters, "release", lambda *_args, **_kwargs: None)

    rows = {row.session.id: row for row in listing.list_sessions(store)}
    gone = rows["aa000001"].session
    assert gone.state is SessionState.STOPPED_ELSEWHERE
    assert gone.error is not None
    assert gone.error.startswith("stopped elsewhere: hoplab down from alice@laptop2 at ")
    assert rows["aa000001"].note == gone.error  # what ls --json says in "note"
    assert rows["bb000002"].session.state is SessionState.DETACHED
    assert listing.prunable(list(rows.values())) == ["aa000001"]
    # listed again by the next ls (it is not lost, and not hidden)
    assert "aa000001" in {s.id for s in store.unfinished()}

    results = listing.prune(list(rows.values()), store, interactive=False)
    assert [(r.session.id, r.clean) for r in results] == [("aa000001", True)]
    assert forgotten == [["aa000001"]]
    assert store.get("aa000001").state is SessionState.STOPPED
    assert store.get("aa000001").error is None


def test_down_signs_its_tombstone_with_this_user_and_computer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hoplab.sessions import down as down_module

    store = SessionStore(tmp_path / "sessions.db")
    _live(store, "aa000001")
    signed: list[str] = []

    def stop(_t: object, sessions: list[Session], **kwargs: str) -> dict[str, scripts.StopReport]:
        from hoplab.protocol import StopFinding

        signed.append(kwargs["by"])
        return {s.id: scripts.StopReport((StopFinding.DONE,), answered=True) for s in sessions}

    monkeypatch.setattr(down_module, "open_transport", lambda target, **_: Quiet(target, tmp_path))
    monkeypatch.setattr(scripts, "ended", lambda *_: {})
    monkeypatch.setattr(scripts, "stop", stop)
    monkeypatch.setattr(masters, "release", lambda *_args, **_kwargs: None)
    monkeypatch.setattr(
        down_module, "drop_forwards_of", lambda sessions, _where=None: {s.id: [] for s in sessions}
    )
    results = down_module.down(["aa000001"], store)
    assert results[0].clean
    assert signed == [f"{getpass.getuser()}@{socket.gethostname()}"]


# the command line ---------------------------------------------------------------------------


@pytest.fixture
def laptop(tmp_path: Path) -> dict[str, str]:
    return environment(tmp_path)


def test_help_claims_only_what_attach_does(laptop: dict[str, str]) -> None:
    top = hoplab(laptop, "--help")
    assert "new laptop" not in top.stdout
    assert "--on" in top.stdout
    own = " ".join(hoplab(laptop, "attach", "--help").stdout.split())
    assert "hoplab attach --on TARGET SESSION record SESSION here and attach to it" in own
    assert "shows it as stopped elsewhere" in own


def test_attach_without_a_session_or_a_target_is_a_usage_error(laptop: dict[str, str]) -> None:
    done = hoplab(laptop, "attach")
    assert done.returncode == 2
    assert "--on TARGET" in done.stderr
    assert ssh_calls(laptop) == []


def test_an_unknown_session_points_to_attach_on(laptop: dict[str, str]) -> None:
    done = hoplab(laptop, "attach", "ab12cd34")
    assert done.returncode == 1
    assert "hoplab attach --on TARGET ab12cd34" in done.stderr
    assert ssh_calls(laptop) == []


def test_ls_shows_stopped_elsewhere_without_asking_the_target(laptop: dict[str, str]) -> None:
    why = "stopped elsewhere: hoplab down from alice@laptop2 at 2026-11-30 10:42"
    record(laptop, "ab12cd34", state=SessionState.STOPPED_ELSEWHERE, error=why)
    done = hoplab(laptop, "ls", "--wide")
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("ab12cd34"))
    assert "stopped-elsewhere" in line
    assert why in line
    assert ssh_calls(laptop) == []  # it is over: nothing to check there
    assert "stopped elsewhere: 'hoplab ls --prune' (or 'hoplab down ID') settles them" in (
        done.stderr
    )
    listed = json.loads(hoplab(laptop, "ls", "--json").stdout)
    assert listed["sessions"][0]["state"] == "stopped-elsewhere"


def _two_running(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    def running_on(*_args: object, **_kwargs: object) -> list[Running]:
        made = []
        for n in range(count):
            session = Session(f"ab00000{n}", "t", "t", (), None, True, "lab", token="")
            session.scheduler, session.job_id = SchedulerName.SLURM.value, f"42{n}"
            made.append(Running(session, f"job 42{n} RUNNING on node00{n}", known=n == 0))
        return made

    monkeypatch.setattr(adopt, "running_on", running_on)


def test_attach_on_lists_the_sessions_to_pick_from_when_stdin_is_no_terminal(
    laptop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("HOPLAB_CONFIG", "HOPLAB_STATE_DIR", "HOPLAB_RUNTIME_DIR"):
        monkeypatch.setenv(key, laptop[key])
    _two_running(monkeypatch, 2)
    done = CliRunner().invoke(cli, ["attach", "--on", "t"], input="")
    assert done.exit_code == 1
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["ID", "APP", "STATUS", "HERE"]
    assert lines[1].split() == [
        "ab000000",
        "lab",
        "job",
        "420",
        "RUNNING",
        "on",
        "node000",
        "recorded",
    ]
    assert lines[2].startswith("ab000001  lab  job 421 RUNNING on node001")
    assert "name one, 'hoplab attach --on t SESSION'" in done.stderr
    as_json = CliRunner().invoke(cli, ["attach", "--on", "t", "--json"], input="")
    assert as_json.exit_code == 1
    listed = json.loads(as_json.stdout)
    assert [s["id"] for s in listed["sessions"]] == ["ab000000", "ab000001"]
    assert listed["sessions"][0]["status"] == "job 420 RUNNING on node000"


def test_attach_on_with_no_session_there_says_how_to_start_one(
    laptop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("HOPLAB_CONFIG", "HOPLAB_STATE_DIR", "HOPLAB_RUNTIME_DIR"):
        monkeypatch.setenv(key, laptop[key])
    _two_running(monkeypatch, 0)
    done = CliRunner().invoke(cli, ["attach", "--on", "t"], input="")
    assert isinstance(done.exception, SessionStateError)
    assert "no hoplab session runs and answers on t" in done.exception.message
    assert "'hoplab up t'" in done.exception.hint
