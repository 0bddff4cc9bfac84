"""HTCondor 23.0 command shims: condor_submit, condor_q, condor_history, condor_rm.

Formats reproduced (samples in tests/unit/samples/htcondor): HTCondor 23.0 manual:
condor_submit (a submit description on stdin, ``-terse`` printing ``C.P - C.P``), condor_q
and condor_history ``-json -attributes`` (a JSON list of job ClassAds, nothing at all when no
job matches), JobStatus 1 Idle, 2 Running, 3 Removed, 4 Completed, 5 Held; a job past
``allowed_execute_duration`` held with HoldReasonCode 47; a job whose machine is lost put
back to Idle (then our ``periodic_remove`` removes it); condor_rm (``Job C.P marked for
removal``, ``Job C.P not found``); condor_version.
The job itself runs in the sandbox's SLURM (see engine).
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path

from . import engine
from .engine import Job, ShimError

VERSION = (
    "$CondorVersion: 23.0.3 2024-01-04 BuildID: 701163 PackageID: 23.0.3-1 $\n"
    "$CondorPlatform: x86_64_Debian12 $"
)


def _description(text: str) -> dict[str, str]:
    """``key = value`` lines up to ``queue``; ``#`` comments; a bare word is an error."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped == "queue":
            return values
        key, sep, value = stripped.partition("=")
        if not sep:
            raise ShimError(f"ERROR: on Line {len(values) + 1} of submit file: {stripped}")
        values[key.strip().lower()] = value.strip()
    raise ShimError("ERROR: no queue statement in the submit description")


def condor_submit(argv: list[str]) -> int:
    values = _description(sys.stdin.read())
    workdir = Path.cwd()
    executable = workdir / values.get("executable", "")
    job = Job(
        id="",
        name=values.get("batch_name", ""),
        owner="",
        workdir=str(workdir),
        output=str(workdir / values.get("output", "_condor_stdout")),
        queue="",
        cpus=int(values.get("request_cpus", "1")),
        directives=[f"{key} = {value}" for key, value in values.items()],
    )
    if "allowed_execute_duration" in values:
        job.limit = int(values["allowed_execute_duration"])
    job.extra = {key: values[key] for key in ("periodic_remove",) if key in values}
    job = engine.submit("htcondor", job, f"#!/bin/sh\nexec {shlex.quote(str(executable))}\n")
    print(f"{job.id}.0 - {job.id}.0" if "-terse" in argv else
          f"Submitting job(s).\n1 job(s) submitted to cluster {job.id}.")  # fmt: skip
    return 0


def _ad(job: Job, now: float) -> dict[str, object]:
    ad: dict[str, object] = {
        "ClusterId": int(job.id),
        "ProcId": 0,
        "Owner": job.owner,
        "JobBatchName": job.name,
        "QDate": int(job.submitted),
        "RequestCpus": job.cpus,
        "EnteredCurrentStatus": int(job.started or job.submitted),
    }
    if job.limit:
        ad["AllowedExecuteDuration"] = job.limit
    if job.state == "PENDING":
        ad.update(JobStatus=1, LastRejMatchReason="no match found")
    elif job.state in {"RUNNING", "COMPLETING"}:
        ad.update(JobStatus=2, RemoteHost=f"slot1_1@{job.node}")
        ad["JobCurrentStartDate"] = int(job.started or now)
    elif job.state == "TIMEOUT":
        limit = job.limit or 0
        ad.update(
            JobStatus=3 if job.extra.get("removed") else 5,
            HoldReasonCode=47,
            HoldReasonSubCode=0,
            HoldReason=f"The job exceeded allowed execute duration of "
            f"{limit // 3600}:{limit % 3600 // 60:02d}:{limit % 60:02d}",
            LastRemoteHost=f"slot1_1@{job.node}",
        )
    elif job.state == "NODE_FAIL":
        ad.update(JobStatus=1, LastRemoteHost=f"slot1_1@{job.node}", NumJobStarts=1)
        if "NumJobStarts" in job.extra.get("periodic_remove", ""):
            ad.update(
                JobStatus=3,
                RemoveReason="The job attribute PeriodicRemove expression "
                f"'{job.extra['periodic_remove']}' evaluated to TRUE",
            )
    elif job.state == "CANCELLED" or job.deleted:  # condor_rm
        ad.update(JobStatus=3, RemoveReason=f"via condor_rm (by user {job.owner})")
    else:
        ad.update(JobStatus=4, ExitCode=job.exit_code or 0, ExitBySignal=bool(job.signal))
    if job.node and "LastRemoteHost" not in ad and ad["JobStatus"] != 2:
        ad["LastRemoteHost"] = f"slot1_1@{job.node}"
    return ad


def _in_queue(ad: dict[str, object]) -> bool:
    """condor_q lists idle, running and held jobs; removed and completed ones are history."""
    return ad["JobStatus"] in {1, 2, 5}


def _query(argv: list[str], history: bool) -> int:
    wanted: list[str] = []
    attributes: list[str] = []
    args = iter(argv)
    for word in args:
        if word == "-attributes":
            attributes = next(args, "").split(",")
        elif not word.startswith("-"):
            wanted.append(word.split(".", maxsplit=1)[0])
    now = time.time()
    ads = []
    for job in engine.status("htcondor", wanted).values():
        if job is None:
            continue
        ad = _ad(job, now)
        if _in_queue(ad) != history:
            ads.append({k: v for k, v in ad.items() if not attributes or k in attributes})
    if ads:
        print("[\n" + "\n,\n".join(json.dumps(ad, indent=2, sort_keys=True) for ad in ads) + "\n]")
    return 0


def condor_q(argv: list[str]) -> int:
    return _query(argv, history=False)


def condor_history(argv: list[str]) -> int:
    return _query(argv, history=True)


def condor_rm(argv: list[str]) -> int:
    code = 0
    for job_id in argv:
        number = job_id.split(".", maxsplit=1)[0]
        job = engine.status("htcondor", [number])[number]
        if job is None or (job.finished and job.state != "TIMEOUT"):
            print(f"Job {job_id} not found", file=sys.stderr)
            code = 1
            continue
        if job.finished:  # held past its allowed execute duration: removal ends it
            job.extra["removed"] = "yes"
            engine.save("htcondor", job)
        else:
            engine.cancel("htcondor", number)
        print(f"Job {job_id} marked for removal")
    return code


def condor_version(argv: list[str]) -> int:
    print(VERSION)
    return 0


COMMANDS = {
    "condor_submit": condor_submit,
    "condor_q": condor_q,
    "condor_history": condor_history,
    "condor_rm": condor_rm,
    "condor_version": condor_version,
}
