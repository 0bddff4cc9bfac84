"""Nothing left behind by any command (issue 19, item 5), on the sandbox.

``ls`` opens no master where no live session needs one; a master outlives its last session for
``master_idle`` and no longer; a job the scheduler said is over is never sent to it again; and
``down --purge`` removes ``~/.hoplab`` only once nothing of hoplab runs there.
"""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING

import pytest

from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from conftest import Laptop
    from hoplab.testing.info import SandboxInfo

pytestmark = pytest.mark.sandbox


def _idle(laptop: Laptop, value: str) -> None:
    (laptop.home / "config.toml").write_text(f'[defaults]\nmaster_idle = "{value}"\n')


def test_ls_opens_no_master_where_no_live_session_needs_one(
    laptop: Laptop, hoplab_sandbox: SandboxInfo
) -> None:
    _idle(laptop, "0")
    result = laptop.up("login01")
    pid = result["session"]["jupyter_pid"]
    # Jupyter is gone before ls looks (bounded: 10 s in steps of 0.1)
    hoplab_sandbox.run_as_user(
        "login01",
        f"kill {pid}; i=0; while kill -0 {pid} 2>/dev/null && [ $i -lt 100 ]; do "
        "sleep 0.1; i=$((i + 1)); done\n",
    )
    (row,) = laptop.json("ls")["sessions"]  # live: checked through its master, found lost
    assert row["state"] == "lost"
    wait_until(lambda: not laptop.master_pids(), 10, what="the master no one needs to go")
    (row,) = laptop.json("ls")["sessions"]  # nothing live: nothing to connect for
    assert row["state"] == "lost"
    assert laptop.master_pids() == []
    assert laptop.masters() == []


def test_a_master_outlives_its_last_session_for_its_idle_time_only(laptop: Laptop) -> None:
    _idle(laptop, "0:10")
    result = laptop.up("login01")
    laptop.run("down", result["session"]["id"])
    (master,) = laptop.master_pids()  # the next command asks no password again
    again = laptop.up("login01")
    assert laptop.master_pids() == [master]  # the same connection served it
    laptop.run("down", again["session"]["id"])
    wait_until(lambda: not laptop.master_pids(), 30, what="the idle master to go")
    assert laptop.masters() == []


def test_a_job_known_to_be_over_is_never_sent_to_the_scheduler_again(
    cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo
) -> None:
    laptop = cluster_laptop
    result = laptop.up("login01", "--time", "30")
    job = result["session"]["job_id"]
    hoplab_sandbox.run_as_user("login01", f"scancel {job}\n")
    wait_until(
        lambda: (
            next(s for s in laptop.sessions() if s["id"] == result["session"]["id"])["state"]
            == "ended"
        ),
        60,
        what="ls to see the job ended",
    )
    log = f"/tmp/hoplab-squeue-{secrets.token_hex(4)}.log"
    real = hoplab_sandbox.run_as_user("login01", "command -v squeue\n").stdout.strip()
    wrapper = hoplab_sandbox.path_dirs[hoplab_sandbox.login_host] / "squeue"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    try:
        laptop.json("ls", "--all")
        done = laptop.json("down", "--all")
        assert all(r["clean"] for r in done["results"]), done
        asked = hoplab_sandbox.host_path("login01", log)
        said = asked.read_text() if asked.exists() else ""
        assert job not in said, said  # no 'slurm_load_jobs error: Invalid job id specified'
    finally:
        wrapper.unlink()
        hoplab_sandbox.host_path("login01", log).unlink(missing_ok=True)


def test_purge_refuses_while_a_session_runs_then_removes_the_directory(
    laptop: Laptop, hoplab_sandbox: SandboxInfo, nothing_left_behind: dict[str, set[str]]
) -> None:
    if ".hoplab" in nothing_left_behind[f"~{hoplab_sandbox.user}"]:
        pytest.skip("~/.hoplab was in the test user's home before the tests: not ours")
    _idle(laptop, "0")
    result = laptop.up("login01")
    sid = result["session"]["id"]
    refused = laptop.run("down", "--purge", "login01", "--json", check=False)
    assert refused.returncode == 1
    (purged,) = json.loads(refused.stdout)["purged"]
    assert purged["done"] is False
    assert any(sid in line for line in purged["running"]), purged
    assert (hoplab_sandbox.home / ".hoplab" / "sessions" / sid).is_dir()
    assert laptop.remote_jupyters("login01")  # nothing was stopped

    done = laptop.run("down", "--all", "--purge", "login01", "--json")
    answer = json.loads(done.stdout)
    assert all(r["clean"] for r in answer["results"]), answer
    assert answer["purged"][0]["finding"] == "removed"
    assert not (hoplab_sandbox.home / ".hoplab").exists()
    again = laptop.json("down", "--purge", "login01")
    assert again["purged"][0]["finding"] == "absent"
