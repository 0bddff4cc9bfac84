"""The sandbox's Grid Engine, checked end to end as the test user on login01.

Real sge_qmaster and sge_execd (Debian's 8.1.9), no mocks: a job submitted over ssh runs on a
node as the test user, ``qstat -xml`` shows where, ``qdel`` ends it, ``-l h_rt`` ends it too,
and ``qacct`` reports every finished job.
"""

from __future__ import annotations

import secrets
import shlex
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

import pytest

from hoplab.testing.gridengine import PARALLEL_ENVIRONMENT, QUEUE
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from hoplab.testing.info import SandboxInfo

pytestmark = pytest.mark.sandbox

JOB_SCRIPT = """\
#!/bin/sh
#$ -N {name}
#$ -o {output}
#$ -j y
#$ -l h_rt={h_rt}
#$ -pe {pe} 1
{body}
"""


def qsub(hoplab_sandbox: SandboxInfo, name: str, body: str, *, h_rt: str = "0:01:00") -> str:
    """Submit ``body`` as the test user on login01 (script on stdin); the job id.

    The output goes to ``~/NAME.out`` (the home is shared by every host).
    """
    script = JOB_SCRIPT.format(
        name=name, output=f"$HOME/{name}.out", h_rt=h_rt, pe=PARALLEL_ENVIRONMENT, body=body
    )
    submit = f"qsub -terse <<'HOPLAB_JOB'\n{script}HOPLAB_JOB\n"
    job_id = hoplab_sandbox.run_as_user(hoplab_sandbox.login_host, submit).stdout.strip()
    assert job_id.isdigit(), job_id
    return job_id


def listed_jobs(hoplab_sandbox: SandboxInfo) -> dict[str, tuple[str, str]]:
    """Every job ``qstat -xml`` lists, by id: (state letters, queue instance)."""
    done = hoplab_sandbox.run_as_user(hoplab_sandbox.login_host, "qstat -xml")
    jobs = {}
    for job in ET.fromstring(done.stdout).iter("job_list"):  # noqa: S314  (our own qmaster)
        number = job.findtext("JB_job_number") or ""
        jobs[number] = (job.findtext("state") or "", job.findtext("queue_name") or "")
    return jobs


def running_in(hoplab_sandbox: SandboxInfo, job_id: str) -> str | None:
    """The queue instance (``all.q@node001``) the job runs in, or None while it does not run."""
    state, queue = listed_jobs(hoplab_sandbox).get(job_id, ("", ""))
    return queue if state == "r" else None


def accounting(hoplab_sandbox: SandboxInfo, job_id: str) -> dict[str, str] | None:
    """``qacct -j ID`` as a dict of its first word and the rest, or None while it has none."""
    done = hoplab_sandbox.run_as_user(
        hoplab_sandbox.login_host, f"qacct -j {shlex.quote(job_id)}", check=False
    )
    if done.returncode != 0:
        return None
    record = {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition(" ")
        if key and not key.startswith("="):
            record[key] = value.strip()
    return record


def wait_accounted(hoplab_sandbox: SandboxInfo, job_id: str) -> dict[str, str]:
    return wait_until(
        lambda: accounting(hoplab_sandbox, job_id), 30, what=f"qacct to report job {job_id}"
    )


def test_the_clients_find_the_cell_in_every_session(hoplab_sandbox: SandboxInfo) -> None:
    done = hoplab_sandbox.run_as_user(
        hoplab_sandbox.login_host, 'echo "$SGE_ROOT $SGE_CELL"; qconf -sql'
    )
    cell, queues = done.stdout.splitlines()
    assert cell.split() == [
        str(hoplab_sandbox.sge_root),
        hoplab_sandbox.gridengine_env()["SGE_CELL"],
    ]
    assert queues == QUEUE


def test_qsub_runs_the_job_on_a_node_as_the_user(hoplab_sandbox: SandboxInfo) -> None:
    name = f"hello-{secrets.token_hex(4)}"
    output = hoplab_sandbox.home / f"{name}.out"
    job_id = qsub(hoplab_sandbox, name, 'echo "$(hostname) $(id -un) $JOB_ID"')
    try:
        line = wait_until(
            lambda: output.exists() and output.read_text().strip(),
            30,
            what=f"job {job_id} to write its output",
        )
        host, user, seen_id = line.split()
        assert host in hoplab_sandbox.nodes
        assert user == hoplab_sandbox.user
        assert seen_id == job_id
        record = wait_accounted(hoplab_sandbox, job_id)
        assert record["hostname"] == host
        assert record["owner"] == hoplab_sandbox.user
        assert record["qname"] == QUEUE
        assert record["granted_pe"] == PARALLEL_ENVIRONMENT
        assert record["failed"] == "0"
        assert record["exit_status"] == "0"
    finally:
        output.unlink(missing_ok=True)


def test_qstat_shows_the_running_job_and_qdel_ends_it(hoplab_sandbox: SandboxInfo) -> None:
    name = f"sleeper-{secrets.token_hex(4)}"
    job_id = qsub(hoplab_sandbox, name, "sleep 300")
    try:
        queue = wait_until(
            lambda: running_in(hoplab_sandbox, job_id), 30, what=f"job {job_id} to run"
        )
        assert queue in {f"{QUEUE}@{node}" for node in hoplab_sandbox.nodes}
        done = hoplab_sandbox.run_as_user(hoplab_sandbox.login_host, f"qdel {job_id}")
        assert job_id in done.stdout
        wait_until(
            lambda: job_id not in listed_jobs(hoplab_sandbox),
            30,
            what=f"job {job_id} to leave qstat after qdel",
        )
        record = wait_accounted(hoplab_sandbox, job_id)
        assert record["hostname"] == queue.partition("@")[2]
        assert record["exit_status"].startswith("137")  # SIGKILL
    finally:
        hoplab_sandbox.run_as_user(hoplab_sandbox.login_host, f"qdel {job_id}", check=False)
        (hoplab_sandbox.home / f"{name}.out").unlink(missing_ok=True)


def test_h_rt_ends_a_job_that_runs_too_long(hoplab_sandbox: SandboxInfo) -> None:
    name = f"overtime-{secrets.token_hex(4)}"
    job_id = qsub(hoplab_sandbox, name, "sleep 300", h_rt="0:00:02")
    try:
        record = wait_accounted(hoplab_sandbox, job_id)
        assert record["failed"].startswith("37")  # "qmaster enforced h_rt, h_cpu, or h_vmem limit"
        assert record["exit_status"].startswith("137")
        assert job_id not in listed_jobs(hoplab_sandbox)
    finally:
        hoplab_sandbox.run_as_user(hoplab_sandbox.login_host, f"qdel {job_id}", check=False)
        (hoplab_sandbox.home / f"{name}.out").unlink(missing_ok=True)
