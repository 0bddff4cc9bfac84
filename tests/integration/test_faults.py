"""Fault injection on the real sandbox: the supervised tunnel recovers, and nothing leaks.

Each test breaks one real thing (the ssh master, login01's sshd, the laptop's link, the
scheduler, the state database, the local port) and asserts recovery, then the fixture's checks
run: ``down --all``, no Jupyter on any host, no hoplab job, no forward left. The supervisor
here is the detached one (``up --background``), the same code as the foreground's; its log is
the state directory's ``supervisors/<id>.log``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

from conftest import listening_ports_of_laptop, listening_ssh_ports
from hoplab.process import alive
from hoplab.ssh.target import SshTarget
from hoplab.tunnel.forwards import status_code
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import Laptop
    from hoplab.testing.cluster import Sandbox
    from hoplab.testing.info import SandboxInfo

pytestmark = pytest.mark.sandbox

NOT_ROOT = 65534  # nobody: "another user" for the ownership checks


def port_of(url: str) -> int:
    return int(url.split(":")[2].split("/", maxsplit=1)[0])


def answers(url: str, timeout: float = 1.0) -> bool:
    token = url.partition("?token=")[2]
    return status_code(port_of(url), "/", token, timeout=timeout) == 200


def log_of(laptop: Laptop, session_id: str) -> str:
    path = laptop.home / "state" / "supervisors" / f"{session_id}.log"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def pid_gone(pid: int) -> bool:
    """Ended: no such process, or a zombie its parent (init, for a detached one) has not reaped
    yet."""
    return not alive(pid)


def keeps_answering(url: str, until: float) -> None:
    """Until the monotonic time ``until``: Jupyter answers at every check, once a second."""
    pause = threading.Event()
    checks = 0
    while time.monotonic() < until and checks < 120:
        assert answers(url, timeout=2), "the tunnel stopped answering"
        checks += 1
        pause.wait(1.0)


def background_up(laptop: Laptop, *args: str) -> tuple[dict[str, Any], str]:
    result = laptop.up("login01", "--background", "--no-browser", *args)
    assert result["supervisor_pid"]
    assert answers(result["url"])
    return result, result["session"]["id"]


def assert_nothing_leaked(laptop: Laptop, masters: int, forwards: int, relay: int) -> None:
    """``masters`` ssh masters; ``forwards`` ports served on 127.0.0.1 only, each by the
    process ``relay`` (the background supervisor), and as many forward sockets; ssh listens
    on no TCP port."""
    assert len(laptop.master_pids()) == masters, laptop.master_pids()
    served = listening_ports_of_laptop(laptop)
    assert len(served) == forwards, served
    assert all(addr.startswith("127.0.0.1:") and pid == relay for addr, pid in served), served
    assert len(laptop.forward_sockets()) == forwards, laptop.forward_sockets()
    assert listening_ssh_ports() == []


# 1 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["plain", "slurm"])
def test_master_sigkill_answers_again_within_3_s(request: pytest.FixtureRequest, kind: str) -> None:
    """SIGKILL the login master. For a job reached by ssh to its node, the node's master
    rides the login one and dies with it: both are rebuilt."""
    laptop: Laptop = request.getfixturevalue("laptop" if kind == "plain" else "cluster_laptop")
    result, sid = background_up(laptop, *(["--time", "30"] if kind == "slurm" else []))
    masters = laptop.master_pids()
    assert len(masters) == (1 if kind == "plain" else 2)
    login_master = _login_master(laptop)
    os.kill(login_master, signal.SIGKILL)
    wait_until(
        lambda: answers(result["url"], timeout=0.5) and login_master not in laptop.master_pids(),
        3.0,
        what="the session to answer again through a new master",
        cap=0.05,
    )
    wait_until(lambda: "answers again" in log_of(laptop, sid), 5, what="the supervisor's note")
    assert_nothing_leaked(laptop, masters=len(masters), forwards=1, relay=result["supervisor_pid"])
    assert not set(masters) & set(laptop.master_pids())  # the node's went with the login's

    # ls shows the supervisor; down ends it first, and says so
    (row,) = laptop.json("ls")["sessions"]
    assert row["supervisor_pid"] == result["supervisor_pid"]
    assert "supervised" in laptop.run("ls").stdout
    (done,) = laptop.json("down", sid)["results"]
    assert done["checks"]["background supervisor stopped"] is True
    assert pid_gone(result["supervisor_pid"])


def _login_master(laptop: Laptop) -> int:
    """The master to login01 itself (not the node's, which rides it), by its ControlPath."""
    key = SshTarget("login01", (), laptop.env["HOPLAB_SSH_CONFIG"]).key
    for pid, path in laptop.master_paths().items():
        if path.name == key:
            return pid
    raise AssertionError(f"no login master: {laptop.master_paths()}")


# 2 ----------------------------------------------------------------------------------------


def test_master_stopped_40_s_is_seen_as_wedged_and_replaced(laptop: Laptop) -> None:
    """SIGSTOP the master (a laptop asleep): ``-O check`` would hang; the probe sees it."""
    result, sid = background_up(laptop)
    (master,) = laptop.master_pids()
    began = time.monotonic()
    os.kill(master, signal.SIGSTOP)
    try:
        wait_until(
            lambda: answers(result["url"]) and pid_gone(master),
            35,
            what="the wedged master to be replaced",
        )
        keeps_answering(result["url"], until=began + 40)
    finally:
        if not pid_gone(master):
            os.kill(master, signal.SIGCONT)
    assert "does not answer" in log_of(laptop, sid)
    assert_nothing_leaked(laptop, masters=1, forwards=1, relay=result["supervisor_pid"])


# 3 ----------------------------------------------------------------------------------------


def test_sshd_restart_on_login01_recovers(laptop: Laptop, hoplab_sandbox_cluster: Sandbox) -> None:
    """login01's sshd restarts and drops every connection (as a reboot of it would)."""
    result, sid = background_up(laptop)
    (master,) = laptop.master_pids()
    hoplab_sandbox_cluster.restart_ssh("login01")
    wait_until(
        lambda: answers(result["url"]) and master not in laptop.master_pids(),
        15,
        what="the session to answer again after the sshd restart",
    )
    assert "answers again" in log_of(laptop, sid)
    assert_nothing_leaked(laptop, masters=1, forwards=1, relay=result["supervisor_pid"])


# 4 ----------------------------------------------------------------------------------------


def test_link_down_20_s_recovers_soon_after_it_returns(
    laptop: Laptop, hoplab_sandbox_cluster: Sandbox
) -> None:
    result, sid = background_up(laptop)
    hoplab_sandbox_cluster.set_link(up=False)
    try:
        began = time.monotonic()
        wait_until(
            lambda: "carries nothing" in log_of(laptop, sid),
            20,
            what="the supervisor to see the stalled master",
        )
        pause = threading.Event()
        while time.monotonic() - began < 20:
            assert not answers(result["url"], timeout=0.5), "answers through a cut link?"
            pause.wait(0.5)
    finally:
        hoplab_sandbox_cluster.set_link(up=True)
    returned = time.monotonic()
    wait_until(lambda: answers(result["url"]), 30, what="the session to answer again")
    took = time.monotonic() - returned
    print(f"\nlink cut 20 s: answers again {took:.2f} s after the link returned")
    assert_nothing_leaked(laptop, masters=1, forwards=1, relay=result["supervisor_pid"])


# 5 ----------------------------------------------------------------------------------------


def test_attach_moves_off_a_taken_port_and_prints_the_new_url(laptop: Laptop) -> None:
    """The process serving the port crashes and the master goes: a squatter takes the port
    before ``attach``, which moves to a new one, served by a new background supervisor."""
    result = laptop.up("login01")
    sid, old = result["session"]["id"], port_of(result["url"])
    laptop.end_relay(sid)
    (master,) = laptop.masters()
    laptop.exit_master(master)
    wait_until(lambda: not laptop.master_pids(), 10, what="the master to exit")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", old))
        squatter.listen()
        done = laptop.run("attach", sid, "--detach", "--no-browser")
    url = done.stdout.strip()
    assert port_of(url) != old
    assert "the local port changed" in done.stderr
    assert answers(url)
    (row,) = laptop.json("ls")["sessions"]
    assert (row["state"], row["local_port"]) == ("ready", port_of(url))
    assert row["relay_pid"] == row["supervisor_pid"]
    assert f"(pid {row['supervisor_pid']})" in done.stderr  # "supervised in the background"


# 6 ----------------------------------------------------------------------------------------


def test_stale_control_socket_is_replaced_only_when_ours(laptop: Laptop) -> None:
    """Each session's background supervisor is ended first (by its PID, as a crash would):
    it would rebuild the master itself, before the stale socket is looked at."""
    first = laptop.up("login01")
    laptop.end_relay(first["session"]["id"])
    (path,) = laptop.masters()
    (master,) = laptop.master_pids()
    os.kill(master, signal.SIGKILL)  # a dead master leaves its socket behind
    wait_until(lambda: pid_gone(master), 5, what="the master to die")
    assert path.is_socket()

    again = laptop.up("login01")  # ours: replaced, the session reattached through it
    assert again["session"]["id"] == first["session"]["id"]
    assert answers(again["url"])
    laptop.end_relay(again["session"]["id"])
    (master,) = laptop.master_pids()

    os.kill(master, signal.SIGKILL)
    wait_until(lambda: pid_gone(master), 5, what="the master to die")
    os.chown(path, NOT_ROOT, NOT_ROOT)  # a socket of another user where ours would go
    refused = laptop.run("up", "login01", "--new", check=False)
    assert refused.returncode != 0
    assert str(path) in refused.stderr
    assert "not a socket of yours" in refused.stderr
    assert path.exists()
    assert path.lstat().st_uid == NOT_ROOT  # left alone
    path.unlink()

    folder: Path = path.parent
    folder.chmod(0o755)  # ours but too open: made private again
    assert answers(laptop.up("login01", "--new")["url"])
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    os.chown(folder, NOT_ROOT, NOT_ROOT)  # someone else's directory: refused
    try:
        refused = laptop.run("attach", again["session"]["id"], "--detach", check=False)
        assert refused.returncode != 0
        assert "belongs to another user" in refused.stderr
    finally:
        os.chown(folder, 0, 0)


# 7 ----------------------------------------------------------------------------------------


def _starting_job(laptop: Laptop, known: set[str]) -> Any:
    def find() -> tuple[str, str] | None:
        for session in laptop.sessions():
            if session["id"] not in known and session["state"] == "starting" and session["job_id"]:
                return session["id"], session["job_id"]
        return None

    return find


def test_hoplab_killed_while_pending_leaves_an_orphan_that_ls_finds(
    cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo
) -> None:
    """The job waits for its begin time (PENDING, reason BeginTime) when hoplab is killed."""
    laptop = cluster_laptop
    venv = str(hoplab_sandbox.jupyter_venv)
    orphans = []
    for lease in ((), ("--lease", "0:00:15")):
        up = laptop.spawn(
            "up", "login01", "--venv", venv, "--no-browser", "--directive=--begin=now+15",
            *lease,
        )  # fmt: skip
        sid, job = wait_until(
            _starting_job(laptop, {s for s, _ in orphans}), 60, what="a pending session"
        )
        up.kill()  # SIGKILL: no handler runs, nothing is cancelled
        laptop.finish(up, 30)
        orphans.append((sid, job))
        assert f"{job}|hoplab-{sid}|PENDING" in laptop.jobs()

    listed = {s["id"]: s for s in laptop.json("ls")["sessions"]}
    for sid, job in orphans:
        assert listed[sid]["state"] == "lost"
        assert listed[sid]["orphan"] is True
        said = listed[sid]["note"] or listed[sid]["error"]  # the first ls to see it notes it
        assert f"job {job}" in said
        assert "orphan" in said

    (plain_sid, plain_job), (leased_sid, leased_job) = orphans
    laptop.run("down", plain_sid)
    assert not any(line.startswith(f"{plain_job}|") for line in laptop.jobs())

    # with --lease nobody renews it: once the job runs, it ends by itself
    wait_until(
        lambda: not any(line.startswith(f"{leased_job}|") for line in laptop.jobs()),
        120,
        what="the leased job to end by itself",
        cap=2.0,
    )
    log = hoplab_sandbox.run_as_user(
        "login01", f"cat ~/.hoplab/sessions/{leased_sid}/error 2>/dev/null || true\n"
    ).stdout
    assert "renewed the lease" in log


def test_a_renewed_lease_keeps_the_session(laptop: Laptop) -> None:
    """Two sessions with a 12 s lease: the supervised one lives on; the other one's
    supervisor is gone (SIGKILL: nothing renews its lease any more), and it ends."""
    kept, _ = background_up(laptop, "--lease", "0:00:12")
    dropped = laptop.up("login01", "--new", "--lease", "0:00:12")
    assert len(laptop.remote_jupyters("login01")) == 2
    laptop.end_relay(dropped["session"]["id"])
    began = time.monotonic()
    wait_until(
        lambda: (
            [dropped["session"]["id"] in line for line in laptop.remote_jupyters("login01")]
            == [False]
        ),
        60,
        what="the unrenewed session's Jupyter to end",
        cap=2.0,
    )
    keeps_answering(kept["url"], until=max(time.monotonic(), began + 30))
    assert len(laptop.remote_jupyters("login01")) == 1


def test_idle_timeout_reaches_jupyter(laptop: Laptop) -> None:
    result = laptop.up("login01", "--idle-timeout", "45")
    (line,) = laptop.remote_jupyters("login01")
    assert "--ServerApp.shutdown_no_activity_timeout=2700" in line
    assert answers(result["url"])


# 8 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["fails", "hangs"])
def test_scheduler_query_fault_shows_unknown_and_resubmits_nothing(
    cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo, fault: str
) -> None:
    laptop = cluster_laptop
    result = laptop.up("login01", "--time", "30")
    sid = result["session"]["id"]
    before = laptop.jobs()
    assert len(before) == 1
    wrapper = hoplab_sandbox.path_dirs[hoplab_sandbox.login_host] / "squeue"
    body = (
        'echo "slurm_load_jobs error: Unable to contact slurm controller" >&2; exit 1'
        if fault == "fails"
        else "exec sleep 45"  # past hoplab's 30 s query timeout
    )
    wrapper.write_text(f"#!/bin/sh\n{body}\n")
    wrapper.chmod(0o755)
    try:
        (row,) = laptop.json("ls")["sessions"]
        assert (row["state"], row["supervisor_pid"]) == ("ready", result["supervisor_pid"])
        assert "job state unknown" in row["note"]
        if fault == "fails":
            again = laptop.up("login01")
            assert again["reused"] is True
            assert again["session"]["id"] == sid
    finally:
        wrapper.unlink()
    assert laptop.jobs() == before  # nothing resubmitted, nothing cancelled
    (row,) = laptop.json("ls")["sessions"]
    assert row["state"] == "ready"
    assert row["note"] == ""


# 9 ----------------------------------------------------------------------------------------


def test_corrupt_state_file_is_a_clear_error_with_a_way_back(laptop: Laptop) -> None:
    result = laptop.up("login01")
    sid = result["session"]["id"]
    db = laptop.home / "state" / "sessions.db"
    laptop.run("ls")  # a reader checkpoints nothing away: the WAL may still hold the rows
    for extra in ("-wal", "-shm"):
        db.with_name(db.name + extra).unlink(missing_ok=True)
    damaged = db.read_bytes()[:100]  # truncated mid-header
    db.write_bytes(damaged)

    broken = laptop.run("ls", check=False)
    assert broken.returncode != 0
    assert str(db) in broken.stderr
    assert "mv" in broken.stderr
    assert "--scan" in broken.stderr
    assert db.read_bytes() == damaged  # nothing was silently dropped or rewritten

    aside = laptop.home / "state" / "broken"
    aside.mkdir()
    db.rename(aside / db.name)
    found = {s["id"]: s for s in laptop.json("ls", "--scan", "login01")["sessions"]}
    assert found[sid]["orphan"] is True
    assert found[sid]["state"] == "lost"
    assert len(laptop.remote_jupyters("login01")) == 1
    pruned = laptop.run("ls", "--prune")
    assert f"{sid} stopped" in pruned.stderr
    assert laptop.remote_jupyters("login01") == []
    assert laptop.run("ls", "--prune").stderr.strip() == "no orphans to prune"


# 10 ---------------------------------------------------------------------------------------


def test_two_concurrent_ups_on_one_target_make_one_job(
    cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo
) -> None:
    laptop = cluster_laptop
    argv = ("up", "login01", "--venv", str(hoplab_sandbox.jupyter_venv), "--time", "30", "--json")
    first, second = laptop.spawn(*argv), laptop.spawn(*argv)
    outputs = []
    for process in (first, second):
        stdout, stderr = process.communicate(timeout=180)
        assert process.returncode == 0, stderr
        outputs.append(stdout)
    results = [json.loads(text) for text in outputs]
    assert results[0]["session"]["id"] == results[1]["session"]["id"]
    assert sorted(r["reused"] for r in results) == [False, True]
    jobs = [line for line in laptop.jobs() if "|hoplab-" in line]
    assert len(jobs) == 1, jobs


def test_lock_is_released_when_its_holder_is_killed(laptop: Laptop) -> None:
    """flock goes with its holder: a killed ``up`` never blocks the next one."""
    up = laptop.spawn("up", "login01", "--venv", str(laptop.sandbox.jupyter_venv), "--detach")
    lock_dir = laptop.home / "state" / "locks"
    wait_until(lambda: any(lock_dir.glob("up-*.lock")), 30, what="the lock file")
    up.kill()
    laptop.finish(up, 30)
    assert answers(laptop.up("login01")["url"])  # a stuck lock would hold it for 600 s
