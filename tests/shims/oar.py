"""OAR 2.5.9 command shims: oarsub, oarstat, oardel.

Formats reproduced: recorded from the real Debian 12 OAR 2.5.9 (tests/unit/samples/
oar-recorded): ``OAR_JOB_ID=N`` after the admission-rule lines; ``oarstat -fJ -j N [-j M]``
as one JSON object keyed by job id (nothing at all for an unknown id); states Waiting,
Running, Terminated, Error; ``exit_code`` as a wait status (exit 3 -> 768); a walltime kill
recorded as the events FRAG_JOB_REQUEST, WALLTIME, SEND_KILL_JOB, SWITCH_INTO_ERROR_STATE;
an oardel as FRAG_JOB_REQUEST; ``-S`` reading ``#OAR`` lines from an executable script.
The job itself runs in the sandbox's SLURM (see engine).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path

from . import engine
from .engine import Job, ShimError

VERSION = "OAR version : 2.5.9 (Canicule)"


def _request(job: Job, value: str) -> None:
    """``-l /nodes=1/core=N,walltime=H:MM:SS``."""
    spec, _, rest = value.partition(",")
    for part in spec.split("/"):
        name, _, amount = part.partition("=")
        if name == "core":
            job.cpus = int(amount)
    for item in rest.split(",") if rest else []:
        name, _, amount = item.partition("=")
        if name == "walltime":
            hours, minutes, seconds = ([int(x) for x in amount.split(":")] + [0, 0])[:3]
            job.limit = (hours * 60 + minutes) * 60 + seconds


def _apply(job: Job, words: list[str]) -> str | None:
    """oarsub's options; returns the ``-S`` script path, if any."""
    script = None
    args = iter(words)
    for option in args:
        value = next(args, None)
        if value is None:
            raise ShimError(f"[oarsub] option {option} requires an argument", 5)
        job.directives.append(f"{option} {value}")
        if option == "-n":
            job.name = value
        elif option == "-O":
            job.output = value
        elif option == "-q":
            job.queue = "" if value == "default" else value
        elif option == "-l":
            _request(job, value)
        elif option == "-S":
            script = value
        elif option in {"--project", "-p"}:
            job.extra[option] = value
        elif option != "-E":
            raise ShimError(f"[oarsub] unknown option {option}", 5)
    return script


def oarsub(argv: list[str]) -> int:
    if argv == ["--version"]:
        print(VERSION)
        return 0
    job = Job(id="", name="", owner="", workdir=str(Path.cwd()), output="", queue="")
    path = _apply(job, argv)
    if path is None:
        raise ShimError("[oarsub] this shim takes the script with -S", 5)
    script_path = Path.cwd() / path
    if not os.access(script_path, os.X_OK):
        raise ShimError(f"[oarsub] {path} is not executable", 5)
    _apply(job, engine.directive_words(script_path.read_text(), "#OAR"))
    _apply(job, argv)  # the command line wins
    job.output = str(Path.cwd() / (job.output or "OAR.%jobid%.stdout"))
    try:
        job = engine.submit("oar", job, f"#!/bin/sh\nexec {shlex.quote(str(script_path))}\n")
    except ShimError:
        print(f"ERROR : The queue {job.queue} does not exist", file=sys.stderr)
        return 6
    print("[ADMISSION RULE] Modify resource description with type constraints")
    print(f"OAR_JOB_ID={job.id}")
    return 0


def _events(job: Job) -> list[dict[str, object]]:
    when = int(job.ended or time.time())
    kinds: list[tuple[str, str]] = []
    if job.state == "TIMEOUT":
        kinds = [
            ("FRAG_JOB_REQUEST", f"User root requested to frag the job {job.id}"),
            ("WALLTIME", f"[sarko] Job [{job.id}] from {int(job.started or 0)} with {job.limit}"),
            ("SEND_KILL_JOB", f"[Leon] Send the kill signal to oarexec on {job.node}"),
            ("SWITCH_INTO_ERROR_STATE", f"[bipbip {job.id}] Ask to change the job state"),
        ]
    elif job.state == "CANCELLED":
        kinds = [
            ("FRAG_JOB_REQUEST", f"User {job.owner} requested to frag the job {job.id}"),
            ("SWITCH_INTO_ERROR_STATE", f"[bipbip {job.id}] Ask to change the job state"),
        ]
    elif job.state == "NODE_FAIL":
        kinds = [
            ("PING_CHECKER_NODE_SUSPECTED", f"[finaud] OAR suspects nodes: {job.node}"),
            ("SWITCH_INTO_ERROR_STATE", f"[bipbip {job.id}] Ask to change the job state"),
        ]
    elif job.finished:
        kinds = [("SWITCH_INTO_TERMINATE_STATE", f"[bipbip {job.id}] Ask to change the job state")]
    return [
        {"type": kind, "description": text, "date": when, "job_id": int(job.id), "to_check": "NO"}
        for kind, text in kinds
    ]


def _record(job: Job) -> dict[str, object]:
    state = {"PENDING": "Waiting", "RUNNING": "Running", "COMPLETING": "Finishing"}.get(
        job.state, "Terminated" if job.state in {"COMPLETED", "FAILED"} else "Error"
    )
    limit = job.limit or 7200
    code = None
    if state == "Terminated":
        code = (job.exit_code or 0) << 8 if not job.signal else job.signal
    return {
        "Job_Id": int(job.id),
        "array_id": int(job.id),
        "array_index": 1,
        "name": job.name or None,
        "owner": job.owner,
        "state": state,
        "queue": job.queue or "default",
        "project": job.extra.get("--project", "default"),
        "launchingDirectory": job.workdir,
        "command": "./launch.sh",
        "jobType": "PASSIVE",
        "types": [],
        "message": f"R={job.cpus},W={limit // 3600}:{limit % 3600 // 60}:{limit % 60},J=B",
        "walltime": limit if job.started else None,
        "submissionTime": int(job.submitted),
        "startTime": int(job.started or 0),
        "stopTime": int(job.ended or 0),
        "exit_code": code,
        "assigned_network_address": [job.node] if job.node else [],
        "assigned_resources": [1] if job.node else [],
        "events": _events(job),
        "stdout_file": job.output,
        "stderr_file": job.output,
        "reservation": "None",
        # the other fields a real 2.5.9 gives (the contract suite compares the two)
        "wanted_resources": f"-l \"{{type = 'default'}}/network_address=1/core={job.cpus},"
        f'walltime={limit // 3600}:{limit % 3600 // 60}:{limit % 60}" ',
        "job_user": job.owner,
        "properties": "(desktop_computing = 'NO') AND drain='NO'",
        "dependencies": [],
        "resubmit_job_id": 0,
        "initial_request": f"oarsub {' '.join(job.directives)}".strip(),
        "cpuset_name": None,
        "scheduledStart": int(job.started) if job.started else None,
    }


def oarstat(argv: list[str]) -> int:
    if argv == ["--version"]:
        print(VERSION)
        return 0
    ids = [argv[i + 1] for i, word in enumerate(argv[:-1]) if word == "-j"]
    found = {job_id: job for job_id, job in engine.status("oar", ids).items() if job}
    if found:
        print(json.dumps({job_id: _record(job) for job_id, job in found.items()}, indent=3))
    return 0


def oardel(argv: list[str]) -> int:
    for job_id in argv:
        job = engine.status("oar", [job_id])[job_id]
        if job is None:
            print(f"Deleting the job = {job_id} ...")
            print(f"[oardel] ERROR: the job {job_id} does not exist", file=sys.stderr)
            return 1
        print(f"Deleting the job = {job_id} ...REGISTERED.")
        if not job.finished:
            engine.cancel("oar", job_id)
    print(f"The job(s) [ {' '.join(argv)} ] will be deleted in the near future.")
    return 0


COMMANDS = {"oarsub": oarsub, "oarstat": oarstat, "oardel": oardel}
