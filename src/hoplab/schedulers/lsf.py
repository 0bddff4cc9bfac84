"""IBM Spectrum LSF: ``#BSUB`` directives, bsub, ``bjobs -o ... -json``, bkill.

``bjobs -a`` keeps jobs that finished within the cluster's CLEAN_PERIOD in the answer, so a
single query says how a job ended: STAT DONE or EXIT, with EXIT_REASON (``TERM_RUNLIMIT``
for the walltime, ``TERM_OWNER`` for a bkill by its owner). ``-json`` came with LSF 10.1.
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any

from hoplab.schedulers.base import (
    BatchScheduler,
    JobSpec,
    JobState,
    JobStatus,
    directive_lines,
    mem_amount,
    quoted_word,
    require_none,
    unknown,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hoplab.process import Completed

FIELDS = "jobid stat pend_reason exec_host time_left exit_code exit_reason"

_STATES = {
    "PEND": JobState.PENDING,
    "WAIT": JobState.PENDING,  # a chunk job waiting to run
    "PSUSP": JobState.PENDING,  # suspended by its owner while pending
    "USUSP": JobState.RUNNING,  # suspended while running: still holds its node
    "SSUSP": JobState.RUNNING,
    "RUN": JobState.RUNNING,
    "DONE": JobState.COMPLETED,
    "EXIT": JobState.FAILED,
    "ZOMBI": JobState.NODE_FAIL,  # killed while its host was unreachable
    "UNKWN": JobState.UNKNOWN,  # mbatchd lost contact with the host
}
# EXIT_REASON starts with the termination reason (bjobs(1), "Termination reasons").
_REASONS = {
    "TERM_RUNLIMIT": JobState.TIMEOUT,
    "TERM_DEADLINE": JobState.TIMEOUT,
    "TERM_OWNER": JobState.CANCELLED,
    "TERM_ADMIN": JobState.CANCELLED,
    "TERM_FORCE_OWNER": JobState.CANCELLED,
    "TERM_FORCE_ADMIN": JobState.CANCELLED,
    "TERM_REQUEUE_OWNER": JobState.CANCELLED,
    "TERM_PREEMPT": JobState.CANCELLED,
    "TERM_ZOMBIE": JobState.NODE_FAIL,
    "TERM_RMS": JobState.NODE_FAIL,
    "TERM_ORPHAN_SYSTEM": JobState.NODE_FAIL,
}


class Lsf(BatchScheduler):
    name = "lsf"
    submit_command = "bsub"
    version_argv = ("bsub", "-V")  # prints the version (on stderr) without asking the cluster

    version_pattern = re.compile(r"\bLSF\b[^\d\n]*(\d+)\.(\d+)")

    def header(self, job: JobSpec) -> str:
        res = job.resources
        require_none(self.name, res, ("qos",), "LSF has no QOS; use --directive with -sla")
        lines = [f"#BSUB -n {res.cpus or 1}", '#BSUB -R "span[hosts=1]"']
        if res.time:
            minutes = math.ceil(res.time / 60)
            lines.append(f"#BSUB -W {minutes // 60}:{minutes % 60:02d}")
        if res.mem:
            number, unit = mem_amount(res.mem)
            lines.append(f'#BSUB -R "rusage[mem={number}{unit}B]"')
        if res.gpus:
            lines.append(f'#BSUB -gpu "num={res.gpus}"')
        select = f"select[{res.constraint}]" if res.constraint else None
        options = [
            ("queue", "-q", res.queue),
            ("account", "-P", res.account),
            ("constraint", "-R", select),
        ]
        lines += directive_lines("#BSUB", options, res.directives)
        return "\n".join(lines)

    def submit_argv(self, job: JobSpec) -> list[str]:
        return ["bsub", "-J", quoted_word("job-name", job.name), "-o", job.output]

    def parse_job_id(self, stdout: str) -> str:
        match = re.search(r"Job <(\d+)> is submitted", stdout)
        if match is None:
            raise ValueError(f"bsub printed no job id: {stdout.strip()!r}")
        return match.group(1)

    def query_argv(self, job_ids: Sequence[str]) -> list[str]:
        return ["bjobs", "-a", "-json", "-o", FIELDS, *job_ids]

    def parse_query(self, done: Completed, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        try:
            found = parse_json(done.stdout)
        except (ValueError, KeyError, TypeError) as exc:
            why = done.stderr.strip() or f"bjobs exited {done.returncode}"
            return unknown(job_ids, why if done.returncode else f"unreadable bjobs output: {exc}")
        return {job: found.get(job, JobStatus(job, JobState.UNKNOWN, "not in bjobs' answer"))
                for job in job_ids}  # fmt: skip

    def cancel_argv(self, job_ids: Sequence[str]) -> list[str]:
        return ["bkill", *job_ids]

    def attach_argv(self, job_id: str, command: str | None) -> list[str] | None:
        # battach (LSF 10.1, x86_64 and Power) opens a shell in the job's cgroup on its
        # execution host; it runs no single command.
        return ["battach", job_id] if command is None else None

    def details_argv(self, job_id: str) -> list[str] | None:
        return self.query_argv([job_id])

    def parse_details(self, stdout: str) -> str:
        try:
            records = json.loads(stdout).get("RECORDS", [])
        except ValueError:
            return ""
        keys = ("STAT", "EXIT_CODE", "EXIT_REASON", "EXEC_HOST")
        return "; ".join(
            ", ".join(f"{key} {rec[key]}" for key in keys if rec.get(key)) for rec in records
        )


def parse_json(stdout: str) -> dict[str, JobStatus]:
    """``bjobs -json``: ``{"COMMAND": "bjobs", "JOBS": N, "RECORDS": [{...}]}``.

    A job mbatchd no longer knows is a record with ``ERROR`` ("Job <12> is not found").
    """
    data = json.loads(stdout)
    found: dict[str, JobStatus] = {}
    for record in data["RECORDS"]:
        error = str(record.get("ERROR") or "")
        job = str(record.get("JOBID") or "")
        if error:
            match = re.search(r"Job <(\d+)>", error)
            job = job or (match.group(1) if match else "")
            if job and "not found" in error:
                found[job] = JobStatus(job, JobState.GONE)
            elif job:
                found[job] = JobStatus(job, JobState.UNKNOWN, error)
            continue
        if job:  # hoplab asks for the jobid field; a record without one says nothing usable
            found[job] = _status(job, record)
    return found


def _status(job: str, record: dict[str, Any]) -> JobStatus:
    stat = str(record.get("STAT", ""))
    state = _STATES.get(stat, JobState.UNKNOWN)
    if state is JobState.PENDING:
        reason = str(record.get("PEND_REASON") or "").strip().rstrip(";")
        return JobStatus(job, state, reason or stat.lower())
    if state is JobState.RUNNING:
        host = str(record.get("EXEC_HOST") or "").split(":", maxsplit=1)[0]
        node = host.split("*", maxsplit=1)[-1] or None  # "2*node001" -> node001
        reason = "suspended" if stat.endswith("SUSP") else ""
        return JobStatus(job, state, reason, node, _time_left(str(record.get("TIME_LEFT", ""))))
    if state is JobState.FAILED:
        exit_reason = str(record.get("EXIT_REASON") or "")
        term = exit_reason.split(":", maxsplit=1)[0].strip()
        mapped = _REASONS.get(term)
        if mapped is None and "run limit" in exit_reason.lower():
            mapped = JobState.TIMEOUT
        code = record.get("EXIT_CODE")
        return JobStatus(job, mapped or state, exit_reason or f"exit code {code}")
    return JobStatus(job, state, stat.lower() if state is JobState.UNKNOWN else "")


def _time_left(text: str) -> float | None:
    """``TIME_LEFT``: ``H:MM L`` (the run limit) or ``H:MM E`` (estimated); ``-`` for none."""
    match = re.match(r"^\s*(\d+):(\d+)", text)
    return float(int(match.group(1)) * 3600 + int(match.group(2)) * 60) if match else None
