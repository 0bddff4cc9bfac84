"""Issue 15 on the real sandbox: never lose a job, never hand the token to a stranger.

Each test breaks one thing (the scheduler's answers, a target's sshd, the ``up`` that just
submitted, a recorded PID, the session's local port) and checks that every session is still
accounted for; then the ``laptop`` fixture's checks run: ``down --all``, no Jupyter on any
host, no hoplab job in the queue, no forward left. Whatever a test changes in the sandbox
(a wrapper first on a host's PATH, an sshd that refuses the test user) it restores in a
``finally``, and it ends only the processes it started, by their handles.

(The hanging-squeue variant is ``test_faults.py`` test 8; the injection and id tests need no
sandbox and live in ``tests/unit/test_down_and_pids.py``; the browser page is checked in
``test_kernel_and_browser.py``.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from typing import TYPE_CHECKING

import pytest

from hoplab.process import alive
from hoplab.records.model import SessionState
from hoplab.records.store import SessionStore
from hoplab.ssh.target import SshTarget
from hoplab.tunnel.forwards import status_code
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from conftest import Laptop
    from hoplab.testing.cluster import Sandbox
    from hoplab.testing.info import SandboxInfo

pytestmark = pytest.mark.sandbox

SQUEUE_TIMEOUT = "slurm_load_jobs error: Socket timed out on send/recv operation"


def port_of(url: str) -> int:
    return int(url.split(":")[2].split("/", maxsplit=1)[0])


def token_of(url: str) -> str:
    return url.partition("?token=")[2]


def answers(url: str, token: str | None = None, timeout: float = 2.0) -> bool:
    code = status_code(port_of(url), "/", token or token_of(url), timeout=timeout)
    return code == 200


def hoplab_jobs(laptop: Laptop) -> list[str]:
    return [job for job in laptop.jobs() if "|hoplab-" in job]


def supervisor_log(laptop: Laptop, session_id: str) -> str:
    """The background supervisor's log, its lines unwrapped (one space between words)."""
    path = laptop.home / "state" / "supervisors" / f"{session_id}.log"
    return " ".join(path.read_text(encoding="utf-8").split()) if path.exists() else ""


def master_socket(laptop: Laptop, host: str) -> Path:
    """The ControlPath of this laptop's master to ``host`` as a target of its own."""
    key = SshTarget(host, (), laptop.env["HOPLAB_SSH_CONFIG"]).key
    path = laptop.home / "rt" / "cm" / key
    assert path in laptop.master_paths().values(), (path, laptop.master_paths())
    return path


def exit_every_master(laptop: Laptop) -> None:
    for master in laptop.masters():
        laptop.exit_master(master)
    wait_until(lambda: not laptop.master_pids(), 10, what="every master to exit")


@pytest.fixture
def login_path(hoplab_sandbox: SandboxInfo) -> Iterator[Callable[[str], Path]]:
    """A path in the directory first on the login node's PATH (for command wrappers); every
    path handed out is removed after the test."""
    folder = hoplab_sandbox.path_dirs[hoplab_sandbox.login_host]
    made: list[Path] = []

    def place(name: str) -> Path:
        made.append(folder / name)
        return made[-1]

    yield place
    for path in made:
        path.unlink(missing_ok=True)


def write_wrapper(path: Path, body: str) -> None:
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(0o755)


# 1 ----------------------------------------------------------------------------------------


def test_failing_squeue_with_a_dead_master_keeps_reattaches_and_reuses(
    cluster_laptop: Laptop, login_path: Callable[[str], Path]
) -> None:
    """squeue fails (a controller that times out); unknown is not ended and not resubmitted."""
    laptop = cluster_laptop
    first = laptop.up("login01", "--time", "30")
    sid = first["session"]["id"]
    (job,) = hoplab_jobs(laptop)
    squeue = login_path("squeue")
    write_wrapper(squeue, f'echo "{SQUEUE_TIMEOUT}" >&2; exit 1')
    # the background supervisor rebuilds lost masters though squeue fails
    before = set(laptop.master_pids())
    for master in laptop.masters():
        laptop.exit_master(master)
    wait_until(
        lambda: answers(first["url"], timeout=1) and not before & set(laptop.master_pids()),
        30,
        what="the supervisor to rebuild the masters",
    )
    # with no supervisor (it crashed) nothing rebuilds them
    laptop.end_relay(sid)
    exit_every_master(laptop)
    assert not answers(first["url"], timeout=1)

    (row,) = laptop.json("ls")["sessions"]
    assert row["id"] == sid
    assert (row["state"], row["supervisor_pid"]) == ("detached", None)  # nothing holds it
    assert "unknown" in row["note"]

    again = laptop.json("attach", sid)
    assert again["session"]["id"] == sid
    assert answers(again["url"])

    reused = laptop.up("login01", "--time", "30")
    assert reused["reused"] is True
    assert reused["session"]["id"] == sid

    squeue.unlink()  # (the test's own job count asks squeue too)
    assert hoplab_jobs(laptop) == [job]  # exactly one job: nothing resubmitted, nothing ended
    (row,) = laptop.json("ls")["sessions"]
    assert (row["state"], row["note"]) == ("ready", "")  # held by attach's supervisor
    assert row["supervisor_pid"] == again["supervisor_pid"]


# 2 ----------------------------------------------------------------------------------------


def test_down_all_goes_on_past_a_target_that_refuses_ssh(
    laptop: Laptop, hoplab_sandbox_cluster: Sandbox
) -> None:
    """node001 refuses the test user: down --all stops login01's session and keeps node001's,
    its background supervisor still running, until a later down ends it."""
    here = laptop.up("login01")["session"]["id"]
    there = laptop.up("node001", "--background")
    there_id, supervisor = there["session"]["id"], there["supervisor_pid"]
    assert supervisor
    node_master = master_socket(laptop, "node001")
    hoplab_sandbox_cluster.refuse_ssh("node001")
    try:
        laptop.exit_master(node_master)  # its connection predates the refusal
        wait_until(lambda: not node_master.exists(), 10, what="node001's master to exit")

        done = laptop.run("down", "--all", "--json", check=False)
        assert done.returncode == 1, done.stderr
        results = {r["id"]: r for r in json.loads(done.stdout)["results"]}
        assert results[here]["clean"] is True
        assert results[here]["error"] is None
        assert results[there_id]["clean"] is False
        assert results[there_id]["error"]  # why: ssh's own words
        assert "background supervisor stopped" not in results[there_id]["checks"]

        rows = {s["id"]: s for s in laptop.sessions()}
        assert rows[here]["state"] == "stopped"
        assert rows[there_id]["state"] == "ready"  # kept exactly as it was: supervised
        assert alive(supervisor)
        # (every namespace shares one PID space: node001's Jupyter shows here too, by its id)
        assert not [line for line in laptop.remote_jupyters("login01") if here in line]

        text = laptop.run("down", "--all", check=False)
        assert f"{there_id} not stopped" in text.stderr
    finally:
        hoplab_sandbox_cluster.allow_ssh("node001")

    done = laptop.run("down", there_id, "--json", check=False)
    (result,) = json.loads(done.stdout)["results"]
    assert result["clean"] is True, result
    assert result["checks"]["background supervisor stopped"] is True
    assert not alive(supervisor)
    assert laptop.remote_jupyters("node001") == []


# 3 ----------------------------------------------------------------------------------------


def test_up_killed_right_after_its_submit_loses_no_job(
    cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo, login_path: Callable[[str], Path]
) -> None:
    """sbatch submits, then holds its answer until the test releases it; meanwhile the test
    SIGKILLs the local up, so the job id is only in the session directory. The job waits for
    its begin time, so it is still queued when ls and down look for it."""
    laptop = cluster_laptop
    real = hoplab_sandbox.run_as_user("login01", "command -v sbatch\n").stdout.strip()
    assert real.startswith("/")
    release = login_path("release-sbatch")
    write_wrapper(
        login_path("sbatch"),
        f'case "$1" in --version|-V|--usage|--help) exec {real} "$@" ;; esac\n'
        f'answer=$({real} "$@") || {{ code=$?; printf "%s\\n" "$answer"; exit "$code"; }}\n'
        "i=0\n"
        f'while [ ! -e {release} ] && [ "$i" -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done\n'
        'printf "%s\\n" "$answer"',
    )
    up = laptop.spawn(
        "up", "login01", "--venv", str(hoplab_sandbox.jupyter_venv), "--no-browser",
        "--time", "30", "--directive=--begin=now+300",
    )  # fmt: skip
    job_line = wait_until(
        lambda: next(iter(hoplab_jobs(laptop)), None), 60, what="the job to be queued"
    )
    job_id, name = job_line.split("|")[:2]
    sid = name.removeprefix("hoplab-")
    store = SessionStore(laptop.home / "state" / "sessions.db")
    try:
        recorded = store.get(sid)
        assert recorded.state is SessionState.STARTING
        assert recorded.job_id is None  # the submit has not answered: up has not saved it
    finally:
        store.close()
    up.send_signal(signal.SIGKILL)
    laptop.finish(up, 30)
    release.touch()

    def kept() -> str:
        script = f"cat ~/.hoplab/sessions/{sid}/submitted 2>/dev/null || true\n"
        return hoplab_sandbox.run_as_user("login01", script).stdout.strip()

    kept_id = wait_until(kept, 60, what="the launch script to keep the job id")
    assert kept_id.split(";")[0] == job_id  # sbatch --parsable: "id" or "id;cluster"

    listed = {s["id"]: s for s in laptop.json("ls")["sessions"]}
    assert listed[sid]["job_id"] == job_id
    assert listed[sid]["orphan"] is True
    assert f"job {job_id}" in (listed[sid]["note"] or listed[sid]["error"])

    done = laptop.run("down", sid, "--json", check=False)
    (result,) = json.loads(done.stdout)["results"]
    assert result["checks"][f"job {job_id} gone from the queue"] is True, result
    assert result["clean"] is True, result
    assert hoplab_jobs(laptop) == []


# 4 ----------------------------------------------------------------------------------------


@pytest.fixture
def unrelated_process() -> Iterator[subprocess.Popen[str]]:
    """A live process of this user that is not hoplab: what a reused PID points to."""
    child = subprocess.Popen(["sleep", "300"], text=True)
    yield child
    child.kill()
    child.wait(timeout=10)


def test_a_reused_pid_does_not_make_up_wait_to_share(
    laptop: Laptop, unrelated_process: subprocess.Popen[str]
) -> None:
    """A starting record names a PID that now belongs to `sleep` (as after a reboot)."""
    first = laptop.up("login01")
    sid = first["session"]["id"]
    store = SessionStore(laptop.home / "state" / "sessions.db")
    try:
        session = store.get(sid)
        session.state = SessionState.STARTING
        session.attached_pid = unrelated_process.pid
        store.save(session)
    finally:
        store.close()

    up = laptop.spawn(
        "up", "login01", "--venv", str(laptop.sandbox.jupyter_venv), "--json", "--no-browser"
    )
    out, err = up.communicate(timeout=120)  # a wait to share would last up to 6 h
    assert up.returncode == 0, err
    assert "waiting to share" not in err
    second = json.loads(out)
    assert second["session"]["id"] != sid
    assert answers(second["url"])
    assert unrelated_process.poll() is None  # never signalled

    rows = {s["id"]: s for s in laptop.json("ls")["sessions"]}
    assert rows[sid]["state"] == "lost"  # an abandoned start: an orphan for down to end
    assert rows[sid]["orphan"] is True


# 5 ----------------------------------------------------------------------------------------

RECORDER = """
import http.server, sys
class Server(http.server.HTTPServer):
    allow_reuse_address = True
    def verify_request(self, request, client_address):
        print("CONNECTION", client_address, flush=True)
        return True
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        print("REQUEST", self.path, dict(self.headers), flush=True)
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
server = Server(("127.0.0.1", int(sys.argv[1])), Handler)
print("LISTENING", flush=True)
server.serve_forever()
"""


def start_stranger(user: str, port: int) -> subprocess.Popen[str]:
    """Another user's HTTP server on 127.0.0.1:``port`` that prints every request it gets.

    setpriv execs the server itself, so the handle's PID is the listener's.
    """
    stranger = subprocess.Popen(
        [
            "setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--",
            "/usr/bin/python3", "-c", RECORDER, str(port),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert stranger.stdout is not None
    first = stranger.stdout.readline()  # "" if it could not bind: then the test fails here
    if first.strip() != "LISTENING":
        stranger.kill()
        stranger.wait(timeout=10)
        raise AssertionError(f"the stranger could not listen on {port}: {first!r}")
    return stranger


def heard(stranger: subprocess.Popen[str]) -> str:
    """End the stranger (by its handle) and return everything it printed."""
    stranger.kill()
    out, _ = stranger.communicate(timeout=10)
    return out


@pytest.fixture
def strangers() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for stranger in started:
        if stranger.poll() is None:
            stranger.kill()
            stranger.communicate(timeout=10)


def test_a_stranger_on_the_old_port_never_gets_the_token_from_attach(
    laptop: Laptop, hoplab_sandbox: SandboxInfo, strangers: list[subprocess.Popen[str]]
) -> None:
    """The process serving the port (the background supervisor) crashes and the masters go;
    a stranger takes the port before ``attach``."""
    result = laptop.up("login01")
    sid, token, old = result["session"]["id"], token_of(result["url"]), port_of(result["url"])
    laptop.end_relay(sid)
    exit_every_master(laptop)
    strangers.append(start_stranger(hoplab_sandbox.other_user, old))

    done = laptop.run("attach", sid, "--detach", "--no-browser")
    url = done.stdout.strip()
    assert port_of(url) != old
    assert "another process held the old one" in done.stderr
    assert "was not sent the token" in " ".join(done.stderr.split())
    assert answers(url)
    said = heard(strangers[0])
    assert token not in said
    assert "REQUEST" not in said


def test_a_stranger_on_the_old_port_never_gets_the_token_from_the_supervisor(
    laptop: Laptop, hoplab_sandbox: SandboxInfo, strangers: list[subprocess.Popen[str]]
) -> None:
    """A foreground ``up`` serves the port; a reusing ``up --json`` leaves it to that one and
    starts the background supervisor, which steps in when the foreground one goes. Paused, it
    misses the foreground ``up`` dying and a stranger taking the port: when it resumes, its
    probe must notice the stranger without sending it the token, and move the port."""
    venv = str(laptop.sandbox.jupyter_venv)
    foreground = laptop.spawn("up", "login01", "--venv", venv, "--no-browser")
    url_line = wait_until(
        lambda: foreground.stdout.readline() if foreground.stdout else None, 120, what="the URL"
    )
    sid, token, old = laptop.sessions()[0]["id"], token_of(url_line.strip()), port_of(url_line)
    reused = laptop.up("login01", "--no-browser")
    assert (reused["reused"], reused["session"]["id"]) == (True, sid)
    supervisor = reused["supervisor_pid"]
    assert supervisor
    assert reused["session"]["relay_pid"] == foreground.pid  # still the foreground up's port
    os.kill(supervisor, signal.SIGSTOP)
    try:
        foreground.kill()  # by its handle: a crash, its relay gone with it
        laptop.finish(foreground, 30)
        strangers.append(start_stranger(hoplab_sandbox.other_user, old))
    finally:
        os.kill(supervisor, signal.SIGCONT)

    wait_until(
        lambda: "did not start" in supervisor_log(laptop, sid),
        60,
        what="the supervisor to move the session off the stranger's port",
    )
    (row,) = laptop.json("ls")["sessions"]
    assert port_of(row["url"]) != old
    assert row["relay_pid"] == supervisor
    assert answers(row["url"], token)
    said = heard(strangers[0])
    assert token not in said
    assert "REQUEST" not in said
    assert token not in supervisor_log(laptop, sid)
