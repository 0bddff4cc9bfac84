"""``hoplab doctor``: the report's shape, its exit rules, the order and the skips, and what
the remote probe and the test job's scripts say, run in a real ``sh`` behind a noisy login."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import replace
from typing import TYPE_CHECKING, cast

import pytest
from click.testing import CliRunner
from fake_laptop import environment, hoplab

from hoplab.cli import cli
from hoplab.errors import RemoteError, SshError
from hoplab.launcher import render
from hoplab.launcher.render import Environment
from hoplab.process import Completed
from hoplab.protocol import FailKind, SchedulerName, SocketDir
from hoplab.remote import frames, scripts
from hoplab.schedulers.base import JobState, JobStatus, Resources
from hoplab.sessions import doctor as doctor_module
from hoplab.sessions.doctor import DoctorRequest, doctor, local, remote
from hoplab.sessions.doctor.report import (
    Check,
    CheckName,
    Outcome,
    Report,
    Runner,
    Status,
    fail,
    ok,
    skip,
    warn,
)
from hoplab.sessions.doctor.trial import Trial, trial_resources
from hoplab.sessions.up import UpRequest
from hoplab.ssh.target import SshTarget
from hoplab.ssh.transport import Forward, Transport

if TYPE_CHECKING:
    from pathlib import Path

BANNER = "Welcome to the cluster"
TOOLS = (
    "mktemp",
    "cat",
    "ls",
    "uname",
    "id",
    "hostname",
    "sed",
    "rm",
    "mv",
    "sleep",
    "date",
    "mkdir",
    "chmod",
)


class LocalTransport(Transport):
    """A "remote host" that is this machine: scripts run in ``sh -s`` behind a login that
    prints a banner on stdout and a quota note on stderr, as startup files do."""

    multiplexed = False

    def __init__(self, home: Path, *, env: dict[str, str] | None = None, noisy: bool = True):
        super().__init__(SshTarget("testhost"))
        bin_dir = home / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        for tool in TOOLS:  # no scheduler's client, nor anything else of this machine's
            found = shutil.which(tool)
            if found and not (bin_dir / tool).exists():
                (bin_dir / tool).symlink_to(found)
        self.env = {"HOME": str(home), "PATH": str(bin_dir), "SHELL": "/bin/bash", **(env or {})}
        self.login = f"echo '{BANNER}'; echo 'quota: 91% used' >&2; " if noisy else ""
        self.connected = False

    def connect(self, *, interactive: bool) -> None:
        self.connected = True

    def command(self, *remote: str) -> list[str]:
        return ["sh", "-c", self.login + " ".join(remote)]

    def run(self, script: str, *, timeout: float = 60.0) -> Completed:
        done = subprocess.run(
            ["/bin/sh", "-c", self.login + "/bin/sh -s"],
            input=script,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        return Completed(["sh"], done.returncode, done.stdout, done.stderr)

    def forward(self, local_port: int, remote: str) -> Forward:
        raise AssertionError("doctor forwards nothing")

    def cancel(self, forward: Forward) -> None:
        raise AssertionError("doctor forwards nothing")

    def close(self) -> None:
        """Nothing to close."""


def venv(
    root: Path, *, server: str | None = "2.21.0", app: str = "lab", notebook: str = ""
) -> Path:
    """A virtualenv as the launcher reads it: an activate script that talks, a jupyter-APP
    whose #! names the venv's python, and the dist-info directories of the versions given."""
    (root / "bin").mkdir(parents=True)
    site = root / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (root / "bin" / "activate").write_text(
        f'echo "activating {root.name}"\nVIRTUAL_ENV={root}\nPATH="$VIRTUAL_ENV/bin:$PATH"\n'
    )
    python = root / "bin" / "python3"
    python.write_text("#!/bin/sh\nexit 1\n")
    python.chmod(0o755)
    jupyter = root / "bin" / f"jupyter-{app}"
    jupyter.write_text(f"#!{python}\n")
    jupyter.chmod(0o755)
    if server:
        (site / f"jupyter_server-{server}.dist-info").mkdir()
    if notebook:
        (site / f"notebook-{notebook}.dist-info").mkdir()
    return root


def probe_of(
    tmp_path: Path, environment: Environment, app: str = "lab", **env: str
) -> scripts.Probe:
    transport = LocalTransport(tmp_path / "home", env={"HOPLAB_SOCKET_BASE": str(tmp_path), **env})
    return scripts.probe(transport, environment, app)


# The probe, in a real sh ---------------------------------------------------------------------


def test_the_probe_reports_shell_jupyter_and_socket_support_apart_from_the_banner(
    tmp_path: Path,
) -> None:
    env = venv(tmp_path / "jenv")
    probe = probe_of(tmp_path, Environment(venv=str(env)))
    assert probe.shell == "/bin/bash"
    assert probe.failures == ()
    assert probe.jupyter == str(env / "bin" / "jupyter-lab")
    assert probe.server == (2, 21)
    assert probe.sockets is True
    assert probe.activation == "activating jenv"
    assert probe.socket_dir == scripts.SocketPlace(
        SocketDir.CREATABLE, f"{tmp_path}/hoplab-{os.getuid()}"
    )
    assert BANNER in probe.startup
    assert "quota: 91% used" in probe.startup
    assert BANNER not in probe.activation
    assert not list((tmp_path / "home").glob("hoplab-doctor.*")), "its temporary file stays"
    assert remote.jupyter(probe, "lab", batch=False).status is Status.OK
    assert remote.startup_output(probe).status is Status.WARN


def test_a_quiet_login_prints_nothing(tmp_path: Path) -> None:
    env = venv(tmp_path / "jenv")
    transport = LocalTransport(tmp_path / "home", noisy=False)
    probe = scripts.probe(transport, Environment(venv=str(env)), "lab")
    assert probe.startup == ""
    assert remote.startup_output(probe).status is Status.OK


def test_no_jupyter_in_the_environment_fails(tmp_path: Path) -> None:
    probe = probe_of(tmp_path, Environment())
    assert probe.jupyter is None
    assert [kind for kind, _ in probe.failures] == [FailKind.NO_JUPYTER]
    outcome = remote.jupyter(probe, "lab", batch=False)
    assert outcome.status is Status.FAIL
    assert "jupyter-lab not found" in outcome.summary
    assert "--venv" in outcome.fix


def test_a_venv_that_cannot_be_activated_fails_with_the_launchers_words(tmp_path: Path) -> None:
    probe = probe_of(tmp_path, Environment(venv=str(tmp_path / "missing"), modules=()))
    kinds = [kind for kind, _ in probe.failures]
    assert kinds[0] is FailKind.ENV
    assert "cannot activate venv" in probe.failures[0][1]
    assert remote.jupyter(probe, "lab", batch=False).status is Status.FAIL


def test_an_old_jupyter_server_means_tcp_a_warning(tmp_path: Path) -> None:
    env = venv(tmp_path / "old", server="1.8.0")
    probe = probe_of(tmp_path, Environment(venv=str(env)))
    assert (probe.server, probe.sockets) == ((1, 8), False)
    outcome = remote.jupyter(probe, "lab", batch=False)
    assert outcome.status is Status.WARN
    assert "TCP" in outcome.summary


def test_classic_notebook_6_has_no_sockets(tmp_path: Path) -> None:
    env = venv(tmp_path / "nb", server=None, app="notebook", notebook="6.5.7")
    probe = probe_of(tmp_path, Environment(venv=str(env)), app="notebook")
    assert (probe.server, probe.sockets) == ((6, 5), False)
    outcome = remote.jupyter(probe, "notebook", batch=False)
    assert outcome.status is Status.WARN
    assert "notebook 6.5" in outcome.summary


@pytest.mark.parametrize(
    ("prepare", "state"),
    [
        ("private", SocketDir.PRIVATE),
        ("loose", SocketDir.LOOSE),
        ("file", SocketDir.NOT_DIRECTORY),
        ("link", SocketDir.FOREIGN),
        ("long", SocketDir.TOO_LONG),
    ],
)
def test_the_socket_directory_states(tmp_path: Path, prepare: str, state: SocketDir) -> None:
    base = tmp_path / ("x" * 100 if prepare == "long" else "base")
    base.mkdir()
    place = base / f"hoplab-{os.getuid()}"
    if prepare in {"private", "loose"}:
        place.mkdir(mode=0o700 if prepare == "private" else 0o755)
        place.chmod(0o700 if prepare == "private" else 0o755)
    elif prepare == "file":
        place.write_text("")
    elif prepare == "link":
        place.symlink_to(tmp_path)
    probe = probe_of(tmp_path, Environment(), HOPLAB_SOCKET_BASE=str(base))
    assert probe.socket_dir == scripts.SocketPlace(state, str(place))
    outcome = remote.socket_dir(probe.socket_dir, batch=False, where="testhost")
    assert outcome.status is (Status.OK if state.usable else Status.FAIL)
    if not state.usable:  # on a login node Jupyter does not run: the node's directory counts
        assert remote.socket_dir(probe.socket_dir, batch=True, where="l").status is Status.WARN


def test_a_probe_reply_it_does_not_know_is_an_error() -> None:
    script = render.doctor(Environment(), "lab")
    stdout = f"@hoplab 1 {script.nonce} begin\nHOPLAB dir /x\n\n@hoplab 1 {script.nonce} end 0\n"
    with pytest.raises(Exception, match="unexpected answer"):
        scripts.read_probe(stdout, "", script.nonce)


def test_outside_keeps_only_what_the_login_printed() -> None:
    stdout = "motd 1\n\n@hoplab 1 abc begin\nHOPLAB shell /bin/sh\n\n@hoplab 1 abc end 0\nbye\n"
    assert frames.outside(stdout, "abc") == "motd 1\nbye"
    assert frames.outside("@hoplab 1 abc begin\n\n@hoplab 1 abc end 0\n", "abc") == ""


# The test job's scripts, in a real sh --------------------------------------------------------


def test_the_test_job_reports_its_node_and_view_and_leaves_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    login = LocalTransport(home, env={"HOPLAB_SOCKET_BASE": str(tmp_path)}, noisy=True)
    job = render.trial_job("t1", "# no directives here", 30)
    # a "scheduler" that runs the job in the background and answers its PID
    submit = "/bin/sh launch.sh > job.out 2>&1 < /dev/null & echo $!"
    frame = frames.run(login, render.trial_submit("t1", job, submit))
    answer = frame.first()
    assert answer is not None
    assert answer.kind.value == "submitted"
    pid = int(answer.payload.strip())
    try:
        started = None
        for _ in range(50):  # bounded: each round waits up to 1 s remotely
            started = scripts.wait_trial(login, "t1", 1.0)
            if started is not None:
                break
        assert started is not None
        assert (
            started.node
            == subprocess.run(
                ["hostname"], capture_output=True, text=True, check=True
            ).stdout.strip()
        )
        assert started.socket_dir is not None
        assert started.socket_dir.state is SocketDir.PRIVATE
        assert scripts.same_view(login, "t1", timeout=5, trial=True) is True
        assert not (home / ".hoplab" / "sessions").exists(), "a test job is never a session"
    finally:
        scripts.end_trial(login, "t1", remove=False)
        for _ in range(100):
            if subprocess.run(["kill", "-0", str(pid)], check=False).returncode != 0:
                break
            subprocess.run(["sleep", "0.1"], check=True)
        scripts.end_trial(login, "t1", remove=True)
    assert not (home / ".hoplab" / "doctor" / "t1").exists()
    assert not (tmp_path / f"hoplab-{os.getuid()}" / "t1.view").exists()


def test_the_test_job_asks_for_the_profiles_partition_and_time_or_two_minutes() -> None:
    asked = Resources(queue="gpu", time=None, cpus=8, mem="64G", gpus=2, account="p1")
    small = trial_resources(asked)
    assert (small.queue, small.account, small.time) == ("gpu", "p1", 120)
    assert (small.cpus, small.mem, small.gpus) == (None, None, None)
    assert trial_resources(Resources(time=3600)).time == 3600


# The test job's end: cancelled, verified, unknown kept unknown -------------------------------


def _trial(monkeypatch: pytest.MonkeyPatch, last: JobStatus | None) -> tuple[Trial, list[str]]:
    from hoplab.schedulers import batch_backend

    said: list[str] = []
    monkeypatch.setattr(
        scripts, "end_trial", lambda _t, _id, *, remove: said.append(f"end remove={remove}")
    )
    monkeypatch.setattr(
        "hoplab.remote.jobs.cancel", lambda _t, _s, ids: said.append(f"cancel {ids}") or ""
    )
    monkeypatch.setattr(
        "hoplab.remote.jobs.wait_gone",
        lambda _t, _s, ids: {} if last is None else {ids[0]: last},
    )
    trial = Trial(
        LocalTransport.__new__(LocalTransport), batch_backend("slurm"), Resources(), True, 10
    )
    trial.job_id = "42"
    return trial, said


def test_a_cancelled_test_job_that_left_the_queue_is_removed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trial, said = _trial(monkeypatch, JobStatus("42", JobState.CANCELLED))
    outcome = trial.end()
    assert outcome.status is Status.OK
    assert said == ["end remove=False", "cancel ['42']", "end remove=True"]


@pytest.mark.parametrize("last", [None, JobStatus("42", JobState.UNKNOWN, "timed out")])
def test_a_scheduler_that_does_not_answer_leaves_the_job_unknown(
    monkeypatch: pytest.MonkeyPatch, last: JobStatus | None
) -> None:
    trial, said = _trial(monkeypatch, last)
    outcome = trial.end()
    assert outcome.status is Status.WARN
    assert "unknown" in outcome.summary
    assert "scancel 42" in outcome.fix
    assert "end remove=True" not in said, "its directory stays while the job may run"


def test_a_job_still_running_after_the_cancel_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    trial, _ = _trial(monkeypatch, JobStatus("42", JobState.RUNNING, node="node001"))
    outcome = trial.end()
    assert outcome.status is Status.WARN
    assert "still RUNNING" in outcome.summary


# Order, skips and the exit rules -------------------------------------------------------------


def test_a_failure_skips_what_builds_on_it_naming_the_cause() -> None:
    runner = Runner()
    runner.run(CheckName.SSH, lambda: ok("fine"))
    runner.run(CheckName.SSH_CONFIG, lambda: fail("bad config", "fix it"), (CheckName.SSH,))
    ran: list[CheckName] = []

    def body() -> Outcome:
        ran.append(CheckName.AUTH)
        return ok("never")

    runner.run(CheckName.AUTH, body, (CheckName.SSH_CONFIG,))
    runner.run(CheckName.MASTER, lambda: ok("never"), (CheckName.AUTH,))
    runner.run(CheckName.LOCAL_PORTS, lambda: warn("odd"))
    report = runner.report("t")
    assert ran == []
    statuses = [(c.name, c.status) for c in report.checks]
    assert statuses == [
        (CheckName.SSH, Status.OK),
        (CheckName.SSH_CONFIG, Status.FAIL),
        (CheckName.AUTH, Status.SKIP),
        (CheckName.MASTER, Status.SKIP),
        (CheckName.LOCAL_PORTS, Status.WARN),
    ]
    assert report.get(CheckName.AUTH).summary == "not checked: ssh-config failed"
    assert report.get(CheckName.MASTER).summary == "not checked: ssh-config failed"


def test_a_warning_does_not_block_and_an_error_is_a_failure_with_its_hint() -> None:
    runner = Runner()
    runner.run(CheckName.SSH, lambda: warn("old ssh"))

    def refused() -> Outcome:
        raise SshError("t", "Permission denied (publickey)", "load your key")

    runner.run(CheckName.AUTH, refused, (CheckName.SSH,))
    auth = runner.report("t").get(CheckName.AUTH)
    assert auth.status is Status.FAIL
    assert "Permission denied" in auth.summary
    assert auth.fix == "load your key"


@pytest.mark.parametrize(
    ("statuses", "passed"),
    [
        ((Status.OK, Status.OK), True),
        ((Status.OK, Status.WARN, Status.SKIP), True),
        ((Status.WARN, Status.FAIL), False),
        ((Status.SKIP, Status.FAIL, Status.OK), False),
    ],
)
def test_only_a_failure_makes_the_report_fail(statuses: tuple[Status, ...], passed: bool) -> None:
    names = list(CheckName)
    report = Report("t", tuple(Check(names[i], s, "x") for i, s in enumerate(statuses)))
    assert report.ok is passed
    assert report.public()["ok"] is passed


def _report(*outcomes: tuple[CheckName, Outcome]) -> Report:
    return Report(
        "t", tuple(Check(name, o.status, o.summary, o.detail, o.fix) for name, o in outcomes)
    )


@pytest.mark.parametrize(
    ("report", "code"),
    [
        (_report((CheckName.SSH, ok("a")), (CheckName.STARTUP_OUTPUT, warn("noise"))), 0),
        (_report((CheckName.SSH, ok("a")), (CheckName.JOB, skip("no --job"))), 0),
        (_report((CheckName.AUTH, fail("denied")), (CheckName.MASTER, skip("-"))), 1),
    ],
)
def test_the_exit_code_follows_the_report(
    report: Report, code: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOPLAB_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setattr(doctor_module, "doctor", lambda *_args, **_kw: report)
    for extra in ((), ("--json",)):
        done = CliRunner().invoke(cli, ["doctor", "somehost", *extra])
        assert done.exit_code == code, done.output
    assert json.loads(done.stdout)["ok"] is (code == 0)


def test_the_json_report_has_a_stable_shape(tmp_path: Path) -> None:
    """The real CLI on a laptop whose ssh fails: one object, every check in order."""
    env = environment(tmp_path)
    done = hoplab(env, "doctor", "somehost", "--json")
    assert done.returncode == 1  # ssh cannot even resolve the target: up would stop
    answer = json.loads(done.stdout)
    assert set(answer) == {"version", "kind", "target", "ok", "checks"}
    assert (answer["version"], answer["kind"], answer["target"], answer["ok"]) == (
        1,
        "doctor",
        "somehost",
        False,
    )
    assert [c["name"] for c in answer["checks"]] == [name.value for name in CheckName]
    for check in answer["checks"]:
        assert set(check) == {"name", "status", "summary", "detail", "fix"}
        assert check["status"] in {"ok", "warn", "fail", "skip"}
    by_name = {c["name"]: c for c in answer["checks"]}
    assert by_name["ssh-config"]["status"] == "fail"
    assert by_name["auth"]["status"] == "skip"
    assert by_name["auth"]["summary"] == "not checked: ssh-config failed"
    assert by_name["local-ports"]["status"] == "ok"  # the laptop's side is checked regardless


# The whole flow, with the target a local sh --------------------------------------------------


def _request(tmp_path: Path, **changes: object) -> DoctorRequest:
    env = venv(tmp_path / "jenv")
    up = UpRequest(
        target=SshTarget("testhost"),
        label="testhost",
        environment=Environment(venv=str(env)),
        multiplex=False,
        scheduler="none",
    )
    return DoctorRequest(replace(up, **changes))


@pytest.fixture
def target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalTransport:
    transport = LocalTransport(tmp_path / "home", env={"HOPLAB_SOCKET_BASE": str(tmp_path)})
    monkeypatch.setattr(remote, "open_transport", lambda *_a, **_kw: transport)
    monkeypatch.setattr(local, "client", lambda: ok("OpenSSH 9.2"))
    monkeypatch.setattr(local, "resolved", lambda _t: ok("u@testhost port 22"))
    monkeypatch.setenv("HOPLAB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HOPLAB_RUNTIME_DIR", str(tmp_path / "rt"))
    return transport


def test_a_plain_host_with_jupyter_passes_with_the_noise_as_a_warning(
    tmp_path: Path, target: LocalTransport
) -> None:
    seen: list[Check] = []
    report = doctor(_request(tmp_path), on_check=seen.append)
    assert report.ok
    assert list(report.checks) == seen, "each check is shown as it is decided"
    assert [c.name for c in report.checks] == list(CheckName)  # in the order up needs them
    status = {c.name: c.status for c in report.checks}
    assert status[CheckName.AUTH] is Status.OK
    assert status[CheckName.MASTER] is Status.SKIP  # --no-mux here
    assert status[CheckName.STARTUP_OUTPUT] is Status.WARN
    assert status[CheckName.SCHEDULER] is Status.OK
    assert status[CheckName.JUPYTER] is Status.OK
    assert status[CheckName.SOCKET_DIR] is Status.OK
    assert status[CheckName.JOB] is Status.SKIP
    assert target.connected


def test_cluster_options_without_a_scheduler_fail(tmp_path: Path, target: LocalTransport) -> None:
    request = _request(tmp_path, cluster_options=(("--time (command line)",), ()))
    report = doctor(request)
    assert not report.ok
    scheduler = report.get(CheckName.SCHEDULER)
    assert scheduler.status is Status.FAIL
    assert "--time (command line)" in scheduler.summary
    assert report.get(CheckName.JOB).status is Status.SKIP


def test_failed_authentication_skips_the_remote_checks_but_not_the_local_ones(
    tmp_path: Path, target: LocalTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*, interactive: bool) -> None:
        raise SshError("testhost", "Permission denied (publickey).", "load your key")

    monkeypatch.setattr(target, "connect", refuse)
    report = doctor(_request(tmp_path))
    assert not report.ok
    status = {c.name: c.status for c in report.checks}
    assert status[CheckName.AUTH] is Status.FAIL
    for name in (CheckName.LOGIN_SHELL, CheckName.SCHEDULER, CheckName.JUPYTER, CheckName.JOB):
        assert status[name] is Status.SKIP
    assert status[CheckName.LOCAL_PORTS] is Status.OK
    assert status[CheckName.STATE_DIR] is Status.OK


def test_no_jupyter_fails_the_report(tmp_path: Path, target: LocalTransport) -> None:
    report = doctor(_request(tmp_path, environment=Environment()))
    assert not report.ok
    assert report.get(CheckName.JUPYTER).status is Status.FAIL


# The local checks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "status"),
    [
        ("OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 3 Sep 2024", Status.OK),
        ("OpenSSH_8.4p1 Debian-5+deb11u3, OpenSSL 1.1.1w", Status.WARN),
        ("OpenSSH_for_Windows_8.6p1, LibreSSL 3.4.3", Status.WARN),
        ("Sun_SSH_1.5", Status.WARN),
    ],
)
def test_the_ssh_version(said: str, status: Status) -> None:
    assert local.read_version(said).status is status


def test_a_taken_port_would_stop_up() -> None:
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert local.ports(port).status is Status.FAIL
    assert local.ports(None).status is Status.OK


def test_state_files_open_to_others_are_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "sessions.db").write_text("")
    (state / "sessions.db").chmod(0o644)
    monkeypatch.setenv("HOPLAB_STATE_DIR", str(state))
    monkeypatch.setenv("HOPLAB_RUNTIME_DIR", str(tmp_path / "rt"))
    outcome = local.state_modes()
    assert outcome.status is Status.WARN
    assert "sessions.db: mode 0644" in outcome.detail
    (state / "sessions.db").chmod(0o600)
    assert local.state_modes().status is Status.OK


def test_the_scheduler_result_says_where_it_looked() -> None:
    found = remote.SchedulerFound(SchedulerName.SLURM, (22, 5))
    assert found.where == "sh PATH"
    outcome = remote.scheduler_outcome(found, "login01", ("--time (command line)",))
    assert outcome.status is Status.OK
    assert outcome.summary == "slurm 22.5 (found on the sh PATH)"
    none = remote.SchedulerFound(SchedulerName.NONE)
    assert remote.scheduler_outcome(none, "h", ()).status is Status.OK
    assert remote.scheduler_outcome(none, "h", ("--gpus (profile gpu)",)).status is Status.FAIL


def test_a_host_key_from_a_scan_is_a_warning(
    tmp_path: Path, target: LocalTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    def connect(*, interactive: bool) -> None:
        target.notes.append(
            "testhost's host key comes from login01 (scanned from there: trust on first use "
            "inside the cluster network)"
        )

    monkeypatch.setattr(target, "connect", connect)
    report = doctor(_request(tmp_path))
    auth = report.get(CheckName.AUTH)
    assert auth.status is Status.WARN
    assert "scan" in auth.summary
    assert "login01" in auth.detail
    assert report.ok  # a degraded path, not a stop


def test_a_test_job_whose_directory_is_gone_is_an_error_not_a_busy_wait(tmp_path: Path) -> None:
    login = LocalTransport(tmp_path / "home", noisy=False)
    with pytest.raises(RemoteError, match="disappeared"):
        scripts.wait_trial(login, "nosuch", 30)  # at once: not after 30 s of waiting


@pytest.mark.parametrize(
    ("status", "expected", "said"),
    [
        (JobStatus("42", JobState.PENDING, "Resources"), Status.WARN, "PENDING (Resources)"),
        (JobStatus("42", JobState.PENDING, "PartitionTimeLimit"), Status.FAIL, "never start"),
        (JobStatus("42", JobState.FAILED, "NonZeroExitCode"), Status.FAIL, "ended before"),
    ],
)
def test_a_test_job_that_does_not_start(
    monkeypatch: pytest.MonkeyPatch, status: JobStatus, expected: Status, said: str
) -> None:
    from hoplab.schedulers import batch_backend

    monkeypatch.setattr(scripts, "submit_trial", lambda *_a: "42")
    waits: list[float] = []

    def wait(_t: object, _id: str, seconds: float) -> None:
        waits.append(seconds)
        subprocess.run(["sleep", str(seconds)], check=True)  # as the remote wait would

    monkeypatch.setattr(scripts, "wait_trial", wait)
    monkeypatch.setattr("hoplab.remote.jobs.query", lambda _t, _s, ids: {ids[0]: status})
    monkeypatch.setattr("hoplab.remote.jobs.poll_schedule", lambda: iter([0.2] * 100))
    trial = Trial(
        LocalTransport.__new__(LocalTransport), batch_backend("slurm"), Resources(), True, 1.0
    )
    outcome = trial.run()
    assert outcome.status is expected
    assert said in outcome.summary
    assert all(0.1 <= seconds <= 1.0 for seconds in waits), "bounded rounds, never a busy loop"
    assert trial.node_ssh().status is Status.SKIP
    assert trial.node_tmp().status is Status.SKIP


@pytest.mark.parametrize("was_open", [False, True])
def test_doctor_closes_only_the_connections_it_opened(
    tmp_path: Path, target: LocalTransport, monkeypatch: pytest.MonkeyPatch, was_open: bool
) -> None:
    from hoplab.ssh.mux import MuxTransport

    closed: list[str] = []
    monkeypatch.setattr(doctor_module, "hops", lambda _t: [])
    monkeypatch.setattr(MuxTransport, "master_pid", lambda _self: 4711 if was_open else None)
    monkeypatch.setattr(MuxTransport, "close", lambda self: closed.append(self.target.destination))
    doctor(_request(tmp_path, multiplex=True))
    assert closed == ([] if was_open else ["testhost"])


@pytest.mark.parametrize(
    ("found", "module", "where"),
    [
        ("path", None, "sh PATH"),
        ("login-shell", None, "login shell's PATH"),
        ("module", "slurm/23", "PATH after 'module load slurm/23'"),
    ],
)
def test_the_scheduler_check_says_where_detection_found_it(
    monkeypatch: pytest.MonkeyPatch, found: str, module: str | None, where: str
) -> None:
    from hoplab.protocol import SchedulerPath
    from hoplab.schedulers import batch_backend

    scheduler = batch_backend("slurm", (23, 2))
    scheduler.module = module
    scheduler.found = SchedulerPath(found)
    asked: list[tuple[str, str | None]] = []

    def detect(_t: object, wanted: str, module_: str | None = None) -> object:
        asked.append((wanted, module_))
        return scheduler

    monkeypatch.setattr("hoplab.remote.jobs.detect", detect)
    what, backend_ = remote.find_scheduler(cast("Transport", None), "auto", module)
    assert asked == [("auto", module)]
    assert backend_ is scheduler
    assert (what.name, what.version, what.where) == (SchedulerName.SLURM, (23, 2), where)
    assert remote.scheduler_outcome(what, "l", ()).summary == f"slurm 23.2 (found on the {where})"
