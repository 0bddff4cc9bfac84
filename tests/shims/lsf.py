"""IBM Spectrum LSF 10.1.0.13 command shims: bsub, bjobs, bkill.

Formats reproduced (recordings in tests/unit/samples/lsf): IBM Spectrum LSF 10.1 Command
Reference: bsub (``Job <N> is submitted to queue <Q>.``, ``#BSUB`` lines read from a script
on stdin, ``-V`` printing the version on stderr), ``bjobs -o "..." -json`` (``COMMAND``,
``JOBS``, ``RECORDS`` with upper-case field names; ``{"JOBID": ..., "ERROR": "Job <N> is not
found"}`` for an unknown job), STAT names, EXIT_REASON ``TERM_RUNLIMIT``/``TERM_OWNER``, and
``TIME_LEFT`` as ``H:MM L``; bkill (``Job <N> is being terminated``).
The job itself runs in the sandbox's SLURM (see engine).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from . import engine
from .engine import Job, ShimError

VERSION = "IBM Spectrum LSF Standard 10.1.0.13, Apr 15 2022"
DEFAULT_QUEUE = "normal"


def _apply(job: Job, words: list[str]) -> None:
    args = iter(words)
    for option in args:
        value = next(args, None)
        if value is None:
            raise ShimError(f"{option}: option requires an argument. Job not submitted.", 255)
        job.directives.append(f"{option} {value}")
        if option == "-J":
            job.name = value
        elif option == "-o":
            job.output = value
        elif option == "-q":
            job.queue = "" if value == DEFAULT_QUEUE else value
        elif option == "-n":
            job.cpus = int(value)
        elif option == "-W":
            hours, _, minutes = value.rpartition(":")
            job.limit = (int(hours or 0) * 60 + int(minutes)) * 60
        elif option == "-P":
            job.extra["project"] = value
        elif option in {"-R", "-gpu"}:
            job.extra[option] = job.extra.get(option, "") + value
        else:
            raise ShimError(f"{option}: Illegal option. Job not submitted.", 255)


def bsub(argv: list[str]) -> int:
    if argv == ["-V"]:
        print(VERSION, file=sys.stderr)
        return 0
    script = engine.read_script(None)
    job = Job(id="", name="", owner="", workdir=str(Path.cwd()), output="", queue="")
    _apply(job, engine.directive_words(script, "#BSUB"))
    _apply(job, argv)
    job.output = str(Path.cwd() / (job.output or "lsf.o"))
    try:
        job = engine.submit("lsf", job, script)
    except ShimError as exc:
        raise ShimError(f"{job.queue}: No such queue. Job not submitted.", 255) from exc
    print(f"Job <{job.id}> is submitted to queue <{job.queue or DEFAULT_QUEUE}>.")
    return 0


def bkill(argv: list[str]) -> int:
    code = 0
    for job_id in argv:
        job = engine.status("lsf", [job_id])[job_id]
        if job is None:
            print(f"Job <{job_id}> is not found", file=sys.stderr)
            code = 255
        elif job.finished:
            print(f"Job <{job_id}>: Job has already finished", file=sys.stderr)
            code = 255
        else:
            engine.cancel("lsf", job_id)
            print(f"Job <{job_id}> is being terminated")
    return code


def _record(job: Job, now: float) -> dict[str, str]:
    stat = {"PENDING": "PEND", "RUNNING": "RUN", "COMPLETING": "RUN", "COMPLETED": "DONE"}.get(
        job.state, "EXIT"
    )
    record = {
        "JOBID": job.id,
        "STAT": stat,
        "PEND_REASON": "",
        "EXEC_HOST": "",
        "TIME_LEFT": "",
        "EXIT_CODE": "",
        "EXIT_REASON": "",
    }
    if stat == "PEND":
        record["PEND_REASON"] = "Job's resource requirements not satisfied: 2 hosts;"
    if job.node:
        record["EXEC_HOST"] = job.node if job.cpus == 1 else f"{job.cpus}*{job.node}"
    if stat == "RUN" and job.limit and job.started:
        left = max(0, int(job.started + job.limit - now))
        record["TIME_LEFT"] = f"{left // 3600}:{left % 3600 // 60:02d} L"
    if stat == "EXIT":
        record["EXIT_REASON"], record["EXIT_CODE"] = {
            "TIMEOUT": ("TERM_RUNLIMIT: job killed after reaching LSF run time limit", "140"),
            "CANCELLED": ("TERM_OWNER: job killed by owner", "130"),
            "NODE_FAIL": ("TERM_ZOMBIE: job exited while LSF is not available on the host", ""),
        }.get(job.state, ("", str(job.exit_code or 1)))
    return record


def bjobs(argv: list[str]) -> int:
    ids = []
    args = iter(argv)
    for word in args:
        if word == "-o":
            next(args, None)  # the field list: this shim prints the fields hoplab asks for
        elif not word.startswith("-"):
            ids.append(word)
    now = time.time()
    records: list[dict[str, str]] = []
    for job_id, job in engine.status("lsf", ids).items():
        if job is None:
            records.append({"JOBID": job_id, "ERROR": f"Job <{job_id}> is not found"})
        else:
            records.append(_record(job, now))
    print(json.dumps({"COMMAND": "bjobs", "JOBS": len(records), "RECORDS": records}, indent=2))
    return 0


COMMANDS = {"bsub": bsub, "bjobs": bjobs, "bkill": bkill}
