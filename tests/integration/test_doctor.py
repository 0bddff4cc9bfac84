"""``hoplab doctor`` on the sandbox: a plain host, the cluster with a test job (``--job``), a
login that talks, a host key only a scan vouches for, cluster options where no scheduler is,
and an environment without Jupyter.

Every check is read from ``--json`` (one object: target, ok, checks in order). Doctor starts
nothing but its test job, which must be gone from the queue afterwards, with its directory
(``~/.hoplab/doctor``); the connections it opened are closed again.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from test_real_site import login_vouches_for_nobody  # noqa: F401  (a fixture)
from test_startup_noise import BANNER, noisy_login  # noqa: F401  (a fixture)

from conftest import OTHERS, hide
from hoplab.testing.layout import LOGIN

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import Laptop
    from hoplab.testing.info import SandboxInfo

pytestmark = pytest.mark.sandbox

ORDER = [
    "ssh",
    "ssh-config",
    "auth",
    "master",
    "login-shell",
    "startup-output",
    "scheduler",
    "jupyter",
    "socket-dir",
    "job",
    "node-socket-dir",
    "node-ssh",
    "node-tmp",
    "job-end",
    "local-ports",
    "state-dir",
]
AFTER_JOB = ("job", "node-socket-dir", "node-ssh", "node-tmp", "job-end")


def doctor(laptop: Laptop, host: str, *args: str, code: int = 0) -> dict[str, Any]:
    """``doctor HOST --json`` with the sandbox's Jupyter venv; its exit code checked."""
    done = laptop.run(
        "doctor",
        host,
        "--venv",
        str(laptop.sandbox.jupyter_venv),
        *args,
        "--json",
        check=False,
        timeout=600,
    )
    assert done.returncode == code, f"{done.stdout}\n{done.stderr}"
    answer: dict[str, Any] = json.loads(done.stdout)
    assert (answer["version"], answer["kind"], answer["target"]) == (1, "doctor", host)
    assert [check["name"] for check in answer["checks"]] == ORDER
    assert answer["ok"] is (code == 0)
    return {check["name"]: check for check in answer["checks"]}


def statuses(checks: dict[str, Any]) -> dict[str, str]:
    return {name: check["status"] for name, check in checks.items()}


def nothing_left(laptop: Laptop, hoplab_sandbox: SandboxInfo) -> None:
    """No test job in the queue, no trial directory, no master of doctor's left open."""
    assert not [job for job in laptop.jobs() if "|hoplab-doctor-" in job]
    left = hoplab_sandbox.run_as_user(LOGIN, "ls -A ~/.hoplab/doctor 2>/dev/null; true\n")
    assert left.stdout.strip() == "", f"test job directories left: {left.stdout}"
    assert laptop.masters() == [], "doctor leaves open only the connections it found open"


def test_a_plain_host_is_all_ok(laptop: Laptop, hoplab_sandbox: SandboxInfo) -> None:
    checks = doctor(laptop, LOGIN)  # the laptop sets --scheduler none (HOPLAB_SCHEDULER)
    found = statuses(checks)
    for name in ORDER:
        expected = "skip" if name in AFTER_JOB else "ok"
        assert found[name] == expected, (name, checks[name])
    assert "Unix sockets supported" in checks["jupyter"]["summary"]
    assert str(hoplab_sandbox.jupyter_venv) in checks["jupyter"]["summary"]
    assert checks["startup-output"]["summary"] == "the login prints nothing"
    assert checks["auth"]["summary"].startswith("no prompt")
    assert checks["login-shell"]["summary"] == "/bin/bash"
    nothing_left(laptop, hoplab_sandbox)


def test_the_cluster_with_a_test_job(cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo) -> None:
    laptop = cluster_laptop  # it names SLURM: login01 also has Grid Engine and OAR
    checks = doctor(laptop, LOGIN, "--job", "--time", "5")
    found = statuses(checks)
    assert [name for name, status in found.items() if status != "ok"] == []
    assert checks["scheduler"]["summary"].startswith("slurm ")
    assert "sh PATH" in checks["scheduler"]["summary"]
    node = checks["job"]["summary"].split(" ran on ")[1].split()[0]
    assert node in hoplab_sandbox.nodes
    assert checks["node-socket-dir"]["summary"].startswith("/tmp/hoplab-")
    # ssh to the node rides login01's master, with the key login01's known_hosts lists
    assert checks["node-ssh"]["summary"] == f"ssh to {node} works, host key checked"
    assert "vouched for by its known_hosts" in checks["node-ssh"]["detail"]
    # every sandbox host has a /tmp of its own, which the job and ssh on its node share
    assert "see the job's /tmp" in checks["node-tmp"]["summary"]
    assert "cancelled and gone" in checks["job-end"]["summary"]
    assert "node" not in hoplab_sandbox.known_hosts.read_text(), "the user's file is untouched"
    nothing_left(laptop, hoplab_sandbox)


def test_a_job_private_tmp_is_said(cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo) -> None:
    """As test_job_containers does: the job's socket directory is not what ssh sessions see."""
    private = "/var/tmp/hoplab-doctor-private"
    try:
        checks = doctor(
            cluster_laptop,
            LOGIN,
            "--job",
            "--time",
            "5",
            f"--directive=--export=ALL,HOPLAB_SOCKET_BASE={private}",
        )
        assert checks["node-tmp"]["status"] == "ok"
        assert "private to it" in checks["node-tmp"]["summary"]
        assert checks["node-socket-dir"]["summary"].startswith(private)
    finally:
        hoplab_sandbox.run_as_user(LOGIN, f"rm -rf {private}\n")
    nothing_left(cluster_laptop, hoplab_sandbox)


def test_a_talking_login_is_a_warning(noisy_login: str, laptop: Laptop) -> None:  # noqa: F811
    checks = doctor(laptop, LOGIN)  # a warning: the exit code stays 0
    assert checks["startup-output"]["status"] == "warn"
    assert noisy_login in checks["startup-output"]["detail"]
    assert "quota" in checks["startup-output"]["detail"]
    assert BANNER not in checks["jupyter"]["detail"]
    assert checks["jupyter"]["status"] == "ok"


def test_a_host_key_only_a_scan_vouches_for_is_a_warning(
    login_vouches_for_nobody: None,  # noqa: F811
    laptop: Laptop,
) -> None:
    checks = doctor(laptop, "node001")
    assert checks["auth"]["status"] == "warn"
    assert "scan" in checks["auth"]["summary"]
    assert "trust on first use" in checks["auth"]["detail"]


def test_cluster_options_with_no_scheduler_fail(
    cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo
) -> None:
    """As ``up`` refuses them (test_remote_environments): the exit code says up would stop."""
    checks = doctor(cluster_laptop, LOGIN, "--scheduler", "none", "--time", "10", "--job", code=1)
    assert checks["scheduler"]["status"] == "fail"
    assert "--time (command line) need a batch job" in checks["scheduler"]["summary"]
    assert checks["job"]["status"] == "skip"
    assert checks["jupyter"]["status"] == "ok"  # the rest is still checked
    nothing_left(cluster_laptop, hoplab_sandbox)


def test_a_login_node_whose_scheduler_cannot_be_told_fails(
    cluster_laptop: Laptop,
    login_path: Path,
) -> None:
    """Every submit command answers as none: detection cannot tell the scheduler (auto)."""
    cluster_laptop.env.pop("HOPLAB_SCHEDULER")  # this laptop names SLURM: detect instead
    hide(login_path, *OTHERS)
    checks = doctor(cluster_laptop, LOGIN, "--time", "10", code=1)
    assert checks["scheduler"]["status"] == "fail"
    assert "--scheduler" in checks["scheduler"]["fix"]
    assert checks["job"]["status"] == "skip"


def test_no_jupyter_fails(laptop: Laptop) -> None:
    done = laptop.run(
        "doctor", LOGIN, "--venv", "/nonexistent/env", "--json", check=False, timeout=300
    )
    assert done.returncode == 1, done.stderr
    checks = {check["name"]: check for check in json.loads(done.stdout)["checks"]}
    assert checks["jupyter"]["status"] == "fail"
    assert "cannot activate venv" in checks["jupyter"]["summary"]


def test_the_text_report_marks_each_check(laptop: Laptop) -> None:
    done = laptop.run("doctor", LOGIN, "--venv", str(laptop.sandbox.jupyter_venv))
    lines = done.stdout.splitlines()
    assert lines[0].startswith("✓ ssh ")
    assert any(line.startswith("- job ") for line in lines)
    assert "nothing would stop 'hoplab up login01'" in lines[-1]
