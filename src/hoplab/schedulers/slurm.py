"""SLURM: sbatch, squeue, scontrol, scancel.

State comes from ``squeue --json`` where squeue honours its job filter with ``--json``
(SLURM 23.02 and later); older versions dump every job of the cluster with ``--json``, so
there hoplab reads the format-string output instead. ``--states=all`` keeps finished jobs in
the answer (for ``MinJobAge``) so their end reason can be shown.

A pending job's estimated start is the one ``squeue --start`` shows (its START_TIME column):
``start_time`` in the JSON, ``%S`` in the format string. The backfill scheduler computes it
for jobs with a time limit; before that, or without one, SLURM says ``N/A`` (0 in JSON). The
format string's times are printed with ``TZ=UTC0 SLURM_TIME_FORMAT=standard``, so a user's
own ``SLURM_TIME_FORMAT`` or the login node's time zone cannot change how they read.
"""

from __future__ import annotations

import calendar
import json
import re
import time
from typing import TYPE_CHECKING, Any, ClassVar

from hoplab.schedulers.base import (
    BatchScheduler,
    JobSpec,
    JobState,
    JobStatus,
    checked,
    checked_mem,
    estimate,
    parse_clock,
    quoted_word,
    unknown,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from hoplab.process import Completed

STATES = {
    "PENDING": JobState.PENDING,
    "CONFIGURING": JobState.PENDING,
    "REQUEUED": JobState.PENDING,
    "REQUEUE_HOLD": JobState.PENDING,
    "REQUEUE_FED": JobState.PENDING,
    "SUSPENDED": JobState.PENDING,
    "STOPPED": JobState.PENDING,
    "RESV_DEL_HOLD": JobState.PENDING,
    "RUNNING": JobState.RUNNING,
    "RESIZING": JobState.RUNNING,
    "SIGNALING": JobState.ENDING,
    "STAGE_OUT": JobState.ENDING,
    "COMPLETING": JobState.ENDING,
    "COMPLETED": JobState.COMPLETED,
    "FAILED": JobState.FAILED,
    "BOOT_FAIL": JobState.FAILED,
    "OUT_OF_MEMORY": JobState.FAILED,
    "SPECIAL_EXIT": JobState.FAILED,
    "CANCELLED": JobState.CANCELLED,
    "PREEMPTED": JobState.CANCELLED,
    "REVOKED": JobState.CANCELLED,
    "TIMEOUT": JobState.TIMEOUT,
    "DEADLINE": JobState.TIMEOUT,
    "NODE_FAIL": JobState.NODE_FAIL,
}

FIELDS = "%i|%T|%r|%N|%L|%S"  # id, state, reason, nodes, time left, (expected) start time
# how squeue prints %S: in UTC, in the standard form, whatever the user's environment says
TIME_ENV = ("env", "TZ=UTC0", "SLURM_TIME_FORMAT=standard")


class Slurm(BatchScheduler):
    name = "slurm"
    submit_command = "sbatch"
    version_argv = ("sbatch", "--version")
    never_satisfiable: ClassVar[Mapping[str, str]] = {
        "PartitionTimeLimit": "ask for less --time, or pick a --partition that allows more",
        "PartitionNodeLimit": "ask for fewer nodes, or pick another --partition",
        "QOSMaxWallDurationPerJobLimit": "ask for less --time, or pick another --qos",
        "BadConstraints": "check --constraint against the node features the site offers",
        "InvalidAccount": "check --account (your site lists the accounts you may charge)",
        "InvalidQOS": "check --qos, or leave it to the site's default",
        "DependencyNeverSatisfied": "the job it depends on failed; drop the dependency",
    }

    version_pattern = re.compile(r"slurm(?:-wlm)?\s+(\d+)\.(\d+)")

    @property
    def json_query(self) -> bool:
        return self.version is not None and self.version >= (23, 2)

    def header(self, job: JobSpec) -> str:
        res = job.resources
        options: list[tuple[str, str | None]] = [
            ("partition", res.queue),
            ("time", _minutes(res.time)),
            ("cpus-per-task", str(res.cpus) if res.cpus else None),
            ("mem", checked_mem(res.mem) if res.mem else None),
            ("gpus", str(res.gpus) if res.gpus else None),
            ("account", res.account),
            ("qos", res.qos),
            ("constraint", res.constraint),
        ]
        lines = ["#SBATCH --nodes=1", "#SBATCH --ntasks=1"]
        lines += [
            f"#SBATCH --{flag}={quoted_word(flag, value)}" for flag, value in options if value
        ]
        lines += [f"#SBATCH {checked('directive', raw)}" for raw in res.directives]
        return "\n".join(lines)

    def submit_argv(self, job: JobSpec) -> list[str]:
        # --no-requeue: a job whose node fails ends; re-run elsewhere, nobody would wait for it
        return [
            "sbatch",
            "--parsable",
            "--no-requeue",
            f"--job-name={quoted_word('job-name', job.name)}",
            f"--output={job.output}",
        ]

    def parse_job_id(self, stdout: str) -> str:
        # --parsable prints "jobid" or "jobid;cluster"
        lines = stdout.strip().splitlines()
        job = lines[-1].split(";")[0].strip() if lines else ""
        if not job.isdigit():
            raise ValueError(f"sbatch printed no job id: {stdout.strip()!r}")
        return job

    def query_argv(self, job_ids: Sequence[str]) -> list[str]:
        jobs = f"--jobs={','.join(job_ids)}"
        if self.json_query:
            return ["squeue", "--json", "--states=all", jobs]
        return [*TIME_ENV, "squeue", "--noheader", "--states=all", jobs, f"--format={FIELDS}"]

    def parse_query(self, done: Completed, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        if done.returncode != 0:
            if "Invalid job id" in done.stderr:
                # every id was purged: the scheduler answered that none of them exists
                return {job: JobStatus(job, JobState.GONE) for job in job_ids}
            return unknown(job_ids, done.stderr.strip() or f"squeue exited {done.returncode}")
        try:
            found = parse_json(done.stdout) if self.json_query else parse_format(done.stdout)
        except (ValueError, KeyError, TypeError) as exc:
            return unknown(job_ids, f"unreadable squeue output: {exc}")
        return {job: found.get(job, JobStatus(job, JobState.GONE)) for job in job_ids}

    def cancel_argv(self, job_ids: Sequence[str]) -> list[str]:
        return ["scancel", *job_ids]

    def attach_argv(self, job_id: str, command: str | None) -> list[str] | None:
        # A step inside the job's allocation; --overlap (20.11+) shares the CPUs Jupyter holds
        # instead of waiting for free ones. The node's sh starts the user's login shell.
        step = ["srun", "--overlap", f"--jobid={job_id}", "--nodes=1", "--ntasks=1"]
        if command is None:
            return [*step, "--pty", "/bin/sh", "-c", 'exec "${SHELL:-/bin/sh}" -l']
        return [*step, "/bin/sh", "-c", command]

    def details_argv(self, job_id: str) -> list[str] | None:
        return ["scontrol", "--oneliner", "show", "job", job_id]

    def parse_details(self, stdout: str) -> str:
        fields = dict(re.findall(r"\b(JobState|Reason|ExitCode|NodeList)=(\S*)", stdout))
        parts = [f"{key} {fields[key]}" for key in ("JobState", "Reason", "ExitCode", "NodeList")
                 if fields.get(key) not in {None, "", "None", "(null)"}]  # fmt: skip
        return ", ".join(parts)

    def node_address_argv(self, node: str) -> list[str] | None:
        return ["scontrol", "--oneliner", "show", "node", node]

    def parse_node_address(self, stdout: str) -> str | None:
        match = re.search(r"\bNodeAddr=(\S+)", stdout)
        return match.group(1) if match else None


def _minutes(seconds: int | None) -> str | None:
    """SLURM's ``--time`` as ``D-HH:MM:SS``."""
    if seconds is None:
        return None
    days, rest = divmod(seconds, 86400)
    clock = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{clock}" if days else clock


def parse_format(stdout: str) -> dict[str, JobStatus]:
    """``squeue --format='%i|%T|%r|%N|%L|%S'`` lines (every SLURM version); the lines of a
    hoplab before the start time (five fields) read as well."""
    found: dict[str, JobStatus] = {}
    for line in stdout.splitlines():
        parts = [part.strip() for part in line.strip().split("|")]
        if len(parts) not in {5, 6}:
            if line.strip():
                raise ValueError(f"unexpected line {line!r}")
            continue
        job, state, reason, nodes, left = parts[:5]
        start = parse_start(parts[5]) if len(parts) == 6 else None
        found[job] = _status(job, state, reason, nodes, parse_clock(left), start)
    return found


def parse_start(text: str) -> float | None:
    """``%S`` as ``SLURM_TIME_FORMAT=standard`` prints it in UTC (``2026-11-30T14:32:00``);
    None for ``N/A``, ``Unknown`` or anything else."""
    try:
        parsed = time.strptime(text.strip(), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    return estimate(float(calendar.timegm(parsed)))


def parse_json(stdout: str, now: float | None = None) -> dict[str, JobStatus]:
    """``squeue --json``: 22.05 (plain values) and 23.02+ (lists and ``{"number": N}``)."""
    data = json.loads(stdout)
    found: dict[str, JobStatus] = {}
    clock = time.time() if now is None else now
    for job in data["jobs"]:
        job_id = str(job["job_id"])
        state = job["job_state"]
        state = state[0] if isinstance(state, list) and state else str(state or "")
        end = _number(job.get("end_time"))
        limited = _number(job.get("time_limit")) is not None  # None: no limit (UNLIMITED)
        left = max(0.0, end - clock) if end and limited and state == "RUNNING" else None
        found[job_id] = _status(
            job_id,
            state,
            str(job.get("state_reason") or ""),
            str(job.get("nodes") or ""),
            left,
            estimate(_number(job.get("start_time"))),
        )
    return found


def _number(value: Any) -> float | None:
    """A plain number, or 23.02+'s ``{"set": true, "infinite": false, "number": N}``."""
    if isinstance(value, dict):
        if not value.get("set", True) or value.get("infinite"):
            return None
        value = value.get("number")
    return float(value) if isinstance(value, (int, float)) and value else None


def _status(  # noqa: PLR0917 - the columns of one squeue line, in their order
    job: str,
    state: str,
    reason: str,
    nodes: str,
    left: float | None,
    start: float | None = None,
) -> JobStatus:
    mapped = STATES.get(state.split(maxsplit=1)[0] if state else "", JobState.UNKNOWN)
    if mapped is JobState.ENDING and reason == "TimeLimit":
        mapped = JobState.TIMEOUT  # still COMPLETING, but its end is already decided: walltime
    if reason in {"None", "(null)"}:
        reason = ""
    if state == "SUSPENDED" and not reason:
        reason = "suspended"
    node = nodes.split(",", maxsplit=1)[0] if nodes and nodes != "(null)" else None
    running = mapped is JobState.RUNNING
    return JobStatus(
        job,
        mapped,
        reason,
        node,
        left if running else None,
        start if mapped is JobState.PENDING else None,  # a running job's is its real start
    )
