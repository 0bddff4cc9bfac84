"""``up → ready → ls → down`` through every scheduler other than SLURM, from the laptop.

Grid Engine is the sandbox's real SGE 8.1.9; PBS Pro, Torque, LSF, OAR and HTCondor are the
shims of ``tests/shims`` (OpenPBS 23.06, TORQUE 6.1, LSF 10.1.0.13, OAR 2.5.9 and
HTCondor 23.0 formats) put on login01's PATH for the test, which run the job for real on a
sandbox node. Jupyter really starts there, and the kernel says which node it runs on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from kernel import run_code, split_url

import shims
from conftest import OTHERS, hide
from hoplab.testing.layout import LOGIN

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import Laptop
    from hoplab.testing.info import SandboxInfo

pytestmark = pytest.mark.sandbox


@pytest.fixture(autouse=True)
def found_on_its_own(cluster_laptop: Laptop) -> None:
    """Every test here lets ``up`` find the scheduler (the others hidden by :func:`hide`)."""
    cluster_laptop.env.pop("HOPLAB_SCHEDULER")


HOSTNAME = "import socket; print(socket.gethostname())"


def sge_jobs(hoplab_sandbox: SandboxInfo) -> str:
    return hoplab_sandbox.run_as_user(LOGIN, "qstat\n").stdout


@pytest.mark.parametrize("name", ["sge", "oar-real", "pbs", "torque", "lsf", "oar", "htcondor"])
def test_session_through_each_scheduler(
    name: str,
    cluster_laptop: Laptop,
    hoplab_sandbox: SandboxInfo,
    login_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """Found on its own (no --scheduler), submitted, reached on its node, listed, stopped.

    ``oar-real`` is the sandbox's real OAR 2.5.9; ``oar`` its shim."""
    hide(login_path, *OTHERS)  # then the scheduler under test takes its own commands back
    if name == "sge":
        (login_path / "qsub").unlink()
        (login_path / "qstat").unlink()
    elif name == "oar-real":
        request.getfixturevalue("hoplab_oar")
        (login_path / "oarsub").unlink()
        (login_path / "oarstat").unlink()
    else:
        shims.install(name, hoplab_sandbox.root_dir, login_path)  # PBS and Torque: qsub, qstat
    laptop = cluster_laptop
    result = laptop.up(LOGIN, "--time", "30", "--cpus", "1")
    session = result["session"]
    assert session["scheduler"] == name.removesuffix("-real")
    assert session["host"] in hoplab_sandbox.nodes
    base, token = split_url(result["url"])
    assert run_code(base, token, HOSTNAME).strip() == session["host"]

    job = session["job_id"]
    listed = laptop.json("ls")["sessions"]
    assert [(s["id"], s["state"], s["job_id"]) for s in listed] == [(session["id"], "ready", job)]
    if name == "sge":
        assert f"hoplab-{session['id']}"[:10] in sge_jobs(hoplab_sandbox)  # qstat cuts names at 10

    (down,) = laptop.json("down", session["id"])["results"]
    assert down["clean"], down
    assert down["checks"][f"job {job} gone from the queue"]
    assert laptop.remote_jupyters(session["host"]) == []
    if name == "sge":
        assert f"hoplab-{session['id']}"[:10] not in sge_jobs(hoplab_sandbox)
    # the laptop fixture then checks: no hoplab job left in SLURM (where the shims run them),
    # no Jupyter on any host, no forward


def test_rejected_submission_says_why(
    cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo, login_path: Path
) -> None:
    """Grid Engine refuses an unknown queue: its words reach the user, nothing is left."""
    hide(login_path, *(command for command in OTHERS if command not in {"qsub", "qstat"}))
    failed = cluster_laptop.run("up", LOGIN, "--queue", "nosuch.q", "--no-browser", check=False)
    assert failed.returncode != 0
    assert "nosuch.q" in failed.stderr
    assert cluster_laptop.json("ls", "--all")["sessions"][0]["state"] == "failed"


# What each scheduler's status command says when its controller does not answer.
QUERY_FAULTS = {
    "sge": "error: commlib error: got select error (Connection refused)",  # Grid Engine 8.1
    "pbs": "Connection refused\nqstat: cannot connect to server pbs01 (errno=15010)",  # OpenPBS
}


@pytest.mark.parametrize("name", ["sge", "pbs"])
def test_a_status_query_that_fails_ends_nothing(
    name: str, cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo, login_path: Path
) -> None:
    """qstat fails for a while: ``ls`` says unknown, ``attach`` keeps the session, ``up``
    reuses it, and nothing is resubmitted (Grid Engine's real qstat, PBS's shim)."""
    hide(login_path, *OTHERS)
    if name == "pbs":
        shims.install(name, hoplab_sandbox.root_dir, login_path)
    else:
        (login_path / "qsub").unlink()
        (login_path / "qstat").unlink()
    laptop = cluster_laptop
    first = laptop.up(LOGIN, "--time", "30", "--cpus", "1")
    sid = first["session"]["id"]
    qstat = login_path / "qstat"
    real = qstat.read_bytes() if qstat.exists() else None  # the shim's, for PBS
    fault = QUERY_FAULTS[name].replace("\n", "\\n")
    qstat.write_text(f'#!/bin/sh\nprintf "{fault}\\n" >&2\nexit 1\n')
    qstat.chmod(0o755)
    try:
        for master in laptop.masters():
            laptop.exit_master(master)
        (row,) = laptop.json("ls")["sessions"]
        assert (row["id"], row["state"]) == (sid, "ready")
        assert "unknown" in row["note"]
        again = laptop.json("attach", sid, "--detach", "--no-browser")
        assert again["session"]["id"] == sid
        reused = laptop.up(LOGIN, "--time", "30", "--cpus", "1")
        assert (reused["reused"], reused["session"]["id"]) == (True, sid)
    finally:
        if real is None:
            qstat.unlink()
        else:
            qstat.write_bytes(real)
    (row,) = laptop.json("ls")["sessions"]
    assert (row["id"], row["state"], row["note"]) == (sid, "ready", "")
    if name == "sge":
        assert sge_jobs(hoplab_sandbox).count("hoplab-") == 1  # nothing resubmitted
    (down,) = laptop.json("down", sid)["results"]
    assert down["clean"], down
