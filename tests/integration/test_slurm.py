"""Jupyter in SLURM jobs on the sandbox's real slurmctld and slurmd (SLURM 22.05).

Every test ends with the laptop fixture's checks: ``down --all``, then no Jupyter process on
any sandbox host, no hoplab job in the queue, and no local forward left.
"""

from __future__ import annotations

import signal
import subprocess
import time
from typing import TYPE_CHECKING, Any

import pytest
from kernel import http_status, run_code, split_url

from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from conftest import Laptop
    from hoplab.testing.cluster import Sandbox
    from hoplab.testing.info import SandboxInfo

pytestmark = pytest.mark.sandbox

HOSTNAME = "import socket; print(socket.gethostname())"


def login(hoplab_sandbox: SandboxInfo, script: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` as the test user on the login node."""
    done = hoplab_sandbox.run_as_user(hoplab_sandbox.login_host, script + "\n")
    assert done.returncode == 0, done.stderr
    return done


def job_states(hoplab_sandbox: SandboxInfo, job: str) -> str:
    """The job's state while slurmctld still remembers it ('' once it is purged)."""
    return login(
        hoplab_sandbox, f"squeue --noheader --states=all --jobs={job} --format=%T || true"
    ).stdout


def session_of(laptop: Laptop, sid: str) -> dict[str, Any]:
    return next(s for s in laptop.sessions() if s["id"] == sid)


@pytest.fixture
def full_cluster(hoplab_sandbox: SandboxInfo) -> Iterator[list[str]]:
    """Both nodes busy with a job holding all their CPUs, so the next job stays PENDING."""
    jobs = [
        login(
            hoplab_sandbox,
            "sbatch --parsable --cpus-per-task=2 --job-name=filler --output=/dev/null "
            "--wrap='sleep 900'",
        ).stdout.strip()
        for _ in hoplab_sandbox.nodes
    ]
    try:
        wait_until(
            lambda: all("RUNNING" in job_states(hoplab_sandbox, job) for job in jobs),
            60,
            what="the filler jobs to run",
        )
        yield jobs
    finally:
        login(hoplab_sandbox, f"scancel {' '.join(jobs)}")
        wait_until(
            lambda: (
                not any(s in job_states(hoplab_sandbox, j) for j in jobs for s in ("RUN", "COMPL"))
            ),
            60,
            what="the filler jobs to end",
        )


def test_up_ls_attach_down_in_a_job(cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo) -> None:
    laptop = cluster_laptop
    result = laptop.up("login01", "--time", "30", "--forward", "web=8787")
    session = result["session"]
    assert session["scheduler"] == "slurm"
    assert session["host"] in hoplab_sandbox.nodes
    assert session["reach"] == "ssh-node"
    assert session["listen"] == "socket"
    assert session["walltime_end"] > time.time() + 25 * 60  # known as soon as it is ready
    base, token = split_url(result["url"])
    assert run_code(base, token, HOSTNAME).strip() == session["host"]

    # --forward: a server the kernel starts on the node answers on the extra local port
    run_code(
        base,
        token,
        "import http.server, threading\n"
        "srv = http.server.HTTPServer(('127.0.0.1', 8787), http.server.SimpleHTTPRequestHandler)\n"
        "threading.Thread(target=srv.serve_forever, daemon=True).start()",
        keep=True,
    )
    extra = session["forwards"][0]
    assert extra["name"] == "web"
    assert http_status(extra["local_port"]) == 200

    # the token is in no job script, no scheduler record and no job output
    job = session["job_id"]
    records = login(
        hoplab_sandbox,
        f"scontrol write batch_script {job} -; scontrol show job {job}; "
        f"cat ~/.hoplab/sessions/{session['id']}/jupyter.log",
    ).stdout
    assert "#SBATCH --time=00:30:00" in records
    assert f"JobName=hoplab-{session['id']}" in records
    assert token not in records

    listed = laptop.json("ls")["sessions"]
    assert [(s["id"], s["state"], s["job_id"]) for s in listed] == [(session["id"], "ready", job)]
    assert listed[0]["forwards"] == [
        {"name": "web", "port": 8787, "local_port": extra["local_port"]}
    ]
    assert f"web:{extra['local_port']}" in laptop.run("ls").stdout
    assert listed[0]["walltime_end"] > time.time() + 25 * 60

    again = laptop.json("attach", session["id"])
    assert split_url(again["url"])[1] == token

    (down,) = laptop.json("down", session["id"])["results"]
    assert down["clean"], down
    assert down["checks"][f"job {job} gone from the queue"]
    assert down["checks"][f"local forward 127.0.0.1:{extra['local_port']} removed"]
    assert "RUNNING" not in job_states(hoplab_sandbox, job)
    assert laptop.remote_jupyters("login01") == []
    gone = login(hoplab_sandbox, f"test -e ~/.hoplab/sessions/{session['id']} && echo left || true")
    assert gone.stdout.strip() == ""


def test_two_sessions_at_once(cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo) -> None:
    first = cluster_laptop.up("login01")
    second = cluster_laptop.up("login01", "--new")
    a, b = first["session"], second["session"]
    assert a["job_id"] != b["job_id"]
    assert a["local_port"] != b["local_port"]
    for result in (first, second):
        base, token = split_url(result["url"])
        assert run_code(base, token, HOSTNAME).strip() == result["session"]["host"]
    assert {s["state"] for s in cluster_laptop.json("ls")["sessions"]} == {"ready"}


def test_pending_job_is_polled_gently_and_ctrl_c_cancels_it(
    cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo, full_cluster: list[str]
) -> None:
    """A wrapper first on the login node's PATH counts squeue calls during 30 s of PENDING."""
    count = hoplab_sandbox.root_dir / "squeue-calls"
    count.write_text("")
    count.chmod(0o666)
    wrapper = hoplab_sandbox.path_dirs[hoplab_sandbox.login_host] / "squeue"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {count}\nexec /usr/bin/squeue "$@"\n')
    wrapper.chmod(0o755)
    try:
        up = cluster_laptop.spawn(
            "up", "login01", "--venv", str(hoplab_sandbox.jupyter_venv), "--no-browser"
        )
        job = wait_until(_pending_hoplab_job(cluster_laptop), 60, what="a PENDING hoplab job")
        calls_before = len(count.read_text().splitlines())
        with pytest.raises(subprocess.TimeoutExpired):
            up.wait(timeout=30)  # the measurement window: up must still be waiting
        calls = len(count.read_text().splitlines()) - calls_before
        assert 1 <= calls <= 10, f"{calls} squeue calls in 30 s"
        up.send_signal(signal.SIGINT)
        stderr = cluster_laptop.finish(up, 90)
    finally:
        wrapper.unlink()
    assert up.returncode == 130, stderr
    assert "PENDING" in stderr
    assert not any("|hoplab-" in line for line in cluster_laptop.jobs())
    assert "PENDING" not in job_states(hoplab_sandbox, job)
    (session,) = cluster_laptop.sessions()
    assert session["state"] == "stopped"
    assert session["job_id"] == job


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_term_or_hangup_while_pending_cancels_the_job(
    cluster_laptop: Laptop,
    hoplab_sandbox: SandboxInfo,
    full_cluster: list[str],
    sig: signal.Signals,
) -> None:
    up = cluster_laptop.spawn(
        "up", "login01", "--venv", str(hoplab_sandbox.jupyter_venv), "--no-browser"
    )
    job = wait_until(_pending_hoplab_job(cluster_laptop), 60, what="a PENDING hoplab job")
    up.send_signal(sig)
    stderr = cluster_laptop.finish(up, 90)
    assert up.returncode == 130, stderr
    assert not any("|hoplab-" in line for line in cluster_laptop.jobs())
    (session,) = cluster_laptop.sessions()
    assert (session["state"], session["job_id"]) == ("stopped", job)


def _pending_hoplab_job(laptop: Laptop) -> Any:
    def find() -> str | None:
        for line in laptop.jobs():
            job, name, state = line.split("|")
            if name.startswith("hoplab-") and state == "PENDING":
                return job
        return None

    return find


def _ended(laptop: Laptop) -> Callable[[], dict[str, Any] | None]:
    def ended() -> dict[str, Any] | None:
        (listed,) = laptop.json("ls")["sessions"]
        return listed if listed["state"] == "ended" else None

    return ended


def test_job_cancelled_outside_is_reported_ended(
    cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo
) -> None:
    session = cluster_laptop.up("login01")["session"]
    login(hoplab_sandbox, f"scancel {session['job_id']}")
    # while SLURM tears the job down (COMPLETING) ls notes it; then the end and its reason
    listed = wait_until(_ended(cluster_laptop), 60, what="ls to report the job ended", cap=2)
    assert (listed["state"], listed["error"]) == ("ended", "the job was cancelled outside hoplab")
    assert listed["url"] is not None  # the record keeps its port; the forward is gone:
    port = session["local_port"]
    assert http_status(port, "/api/status") is None


def test_walltime_expiry_is_reported(cluster_laptop: Laptop) -> None:
    session = cluster_laptop.up("login01", "--time", "1")["session"]
    listed = wait_until(
        _ended(cluster_laptop), 180, what="the one-minute job to reach its walltime", cap=5
    )
    assert listed["id"] == session["id"]
    assert "walltime" in listed["error"]


def test_bad_partition_shows_sbatch_error_and_leaves_nothing(
    cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo
) -> None:
    done = cluster_laptop.run(
        "up", "login01", "--venv", str(hoplab_sandbox.jupyter_venv), "--partition", "nosuch",
        "--no-browser", check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "invalid partition specified" in done.stderr.lower()
    (session,) = cluster_laptop.sessions()
    assert session["state"] == "failed"
    assert session["job_id"] is None
    left = login(hoplab_sandbox, f"test -e ~/.hoplab/sessions/{session['id']} && echo left || true")
    assert left.stdout.strip() == ""


def test_time_over_partition_limit_fails_fast(
    cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo
) -> None:
    done = cluster_laptop.run(
        "up", "login01", "--venv", str(hoplab_sandbox.jupyter_venv), "--partition", "short",
        "--time", "10", "--no-browser", check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "can never start: PartitionTimeLimit" in done.stderr
    assert "--time" in done.stderr  # the hint
    (session,) = cluster_laptop.sessions()
    assert session["state"] == "failed"
    assert "PENDING" not in job_states(hoplab_sandbox, session["job_id"])


def test_login_tcp_when_nodes_refuse_ssh(
    cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo, hoplab_sandbox_cluster: Sandbox
) -> None:
    for node in hoplab_sandbox.nodes:
        hoplab_sandbox_cluster.refuse_ssh(node)
    try:
        up = cluster_laptop.run(
            "up", "login01", "--venv", str(hoplab_sandbox.jupyter_venv), "--no-browser", "--detach"
        )
        result = cluster_laptop.json("ls")["sessions"][0]
        assert result["reach"] == "login-tcp"
        assert result["listen"] == "tcp"
        assert "refuses ssh" in up.stderr
        address = hoplab_sandbox.addresses[result["host"]]
        (jupyter,) = cluster_laptop.remote_jupyters("login01")
        assert f"--ServerApp.ip={address}" in jupyter
        base, token = split_url(up.stdout.strip().splitlines()[-1])
        assert run_code(base, token, HOSTNAME).strip() == result["host"]
    finally:
        for node in hoplab_sandbox.nodes:
            hoplab_sandbox_cluster.allow_ssh(node)


def test_gateway_then_login_then_node(cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo) -> None:
    """Three hops: login01 as the gateway, node002 as the "login node", a compute node."""
    result = cluster_laptop.up("node002", "--jump", "login01")
    session = result["session"]
    assert session["destination"] == "login01 → node002"
    assert session["reach"] == "ssh-node"
    base, token = split_url(result["url"])
    assert run_code(base, token, HOSTNAME).strip() == session["host"]


def test_foreground_warns_before_the_walltime_and_reports_the_end(
    cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo
) -> None:
    """Attached to a one-minute job with a two-minute warning: warned at once, then told."""
    up = cluster_laptop.spawn(
        "up", "login01", "--venv", str(hoplab_sandbox.jupyter_venv), "--no-browser",
        "--time", "1", "--walltime-warning", "2",
    )  # fmt: skip
    stderr = cluster_laptop.finish(up, 240)
    assert up.returncode == 0, stderr
    assert "Walltime left: 0 min" in stderr or "Walltime left: 1 min" in stderr
    assert "the job's walltime ends in" in stderr
    assert "is over: the job reached its walltime" in stderr
    (session,) = cluster_laptop.sessions()
    assert session["state"] == "ended"


def test_job_that_ends_before_ready_says_how(
    cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo
) -> None:
    """The job dies in its setup line: the queue poll notices, scontrol says how it ended."""
    done = cluster_laptop.run(
        "up", "login01", "--venv", str(hoplab_sandbox.jupyter_venv), "--setup", "exit 3",
        "--no-browser", check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "ended before Jupyter was ready: FAILED" in done.stderr
    assert "ExitCode 3:0" in done.stderr
    (session,) = cluster_laptop.sessions()
    assert session["state"] == "failed"
    left = login(hoplab_sandbox, f"test -e ~/.hoplab/sessions/{session['id']} && echo left || true")
    assert left.stdout.strip() == ""
