"""Load: 20 sessions at once on the sandbox, plain hosts and SLURM jobs, one master per target.

Ten plain sessions (five on login01, five on node001 through login01) and ten Jupyter jobs in
the sandbox's ``shared`` partition (OverSubscribe=FORCE:8, so ten one-core jobs fit on its
four cores), all started concurrently. Every one must become ready; ``ls`` must answer within
a second; ``down --all`` must leave no Jupyter, job, forward, socket or session directory
anywhere (each checked on its own), and the masters go after their idle time (``master_idle``,
a few seconds here), not at once and not never.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from conftest import listening_ports_of_laptop, listening_ssh_ports, master_control_path
from hoplab.testing.slurm import SHARED_PARTITION
from hoplab.tunnel.forwards import status_code
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from conftest import Laptop
    from hoplab.testing.info import SandboxInfo

pytestmark = pytest.mark.sandbox

PLAIN = [("login01", "--scheduler", "none")] * 5 + [("node001", "--scheduler", "none")] * 5
JOBS = [("login01", "--partition", SHARED_PARTITION, "--time", "30")] * 10


def test_twenty_concurrent_sessions(cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo) -> None:
    laptop = cluster_laptop
    (laptop.home / "config.toml").write_text('[defaults]\nmaster_idle = "0:05"\n')
    venv = str(hoplab_sandbox.jupyter_venv)
    common = ("--venv", venv, "--new", "--json", "--start-timeout", "300")
    started = [laptop.spawn("up", host, *common, *args) for host, *args in PLAIN + JOBS]
    results = []
    for process in started:
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
        results.append(json.loads(stdout))

    # all ready, each on its own port, through the tunnel
    ports = {int(r["url"].split(":")[2].split("/")[0]) for r in results}
    assert len(ports) == 20
    for result in results:
        port = int(result["url"].split(":")[2].split("/")[0])
        token = result["url"].partition("?token=")[2]
        assert status_code(port, "/", token) == 200, result["session"]["id"]
    assert sum(r["session"]["scheduler"] == "slurm" for r in results) == 10

    # one master per target chain: login01, node001, and each job node reached through login01
    paths = [_control_path(pid) for pid in laptop.master_pids()]
    assert len(paths) == len(set(paths)) == len(laptop.masters())
    assert len(paths) <= 4, paths

    began = time.monotonic()
    listed = laptop.json("ls")["sessions"]
    took = time.monotonic() - began
    assert len(listed) == 20
    assert {s["state"] for s in listed} == {"ready"}  # each held by its background supervisor
    assert {s["relay_pid"] for s in listed} == {r["supervisor_pid"] for r in results}
    assert took < 1.0, f"ls took {took:.2f} s with 20 sessions"

    done = laptop.json("down", "--all")
    assert len(done["results"]) == 20
    assert all(r["clean"] for r in done["results"]), done

    for host in (hoplab_sandbox.login_host, *hoplab_sandbox.nodes):
        assert laptop.remote_jupyters(host) == [], f"Jupyter left on {host}"
    assert [job for job in laptop.jobs() if "|hoplab-" in job] == []
    assert listening_ports_of_laptop(laptop) == []
    assert laptop.forward_sockets() == []
    assert listening_ssh_ports() == []
    assert laptop.master_pids()  # the next command within master_idle asks no password
    wait_until(lambda: not laptop.master_pids(), 30, what="the idle masters to go")
    assert laptop.masters() == []
    ids = " ".join(r["session"]["id"] for r in results)
    leftovers = hoplab_sandbox.run_as_user(
        hoplab_sandbox.login_host,
        f'cd ~/.hoplab/sessions && for id in {ids}; do [ -e "$id" ] && echo "dir $id"; '
        'ls "/tmp/hoplab-$(id -u)/$id.sock" 2>/dev/null; done; true\n',
    )
    assert leftovers.stdout.strip() == "", leftovers.stdout


def _control_path(pid: int) -> str:
    path = master_control_path(Path(f"/proc/{pid}/cmdline").read_bytes())
    assert path is not None, pid
    return str(path)
