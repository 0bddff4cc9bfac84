"""OAR (2.5 and later): ``#OAR`` directives, oarsub, ``oarstat -fJ``, oardel.

OAR runs a script either inline (a command line) or as an executable file whose ``#OAR``
lines it scans (``-S``). hoplab uses the file: ``launch.sh`` is made executable and given to
``oarsub -S``, so the directives travel in the script as with every other scheduler. A job's
end is read from its state (Terminated or Error) and its events (WALLTIME, FRAG_JOB_REQUEST
for an oardel, node failures). A waiting job's ``scheduledStart`` (an epoch, null until the
scheduler has placed it) is its estimated start.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from typing import TYPE_CHECKING, Any

from hoplab.schedulers.base import (
    BatchScheduler,
    JobSpec,
    JobState,
    JobStatus,
    directive_lines,
    estimate,
    hms,
    quoted_word,
    require_none,
    unknown,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hoplab.process import Completed

_STATES = {
    "Waiting": JobState.PENDING,
    "Hold": JobState.PENDING,
    "toLaunch": JobState.PENDING,
    "toAckReservation": JobState.PENDING,
    "Launching": JobState.PENDING,
    "Suspended": JobState.RUNNING,
    "Resuming": JobState.RUNNING,
    "Running": JobState.RUNNING,
    "Finishing": JobState.ENDING,
    "toError": JobState.ENDING,
    "Terminated": JobState.COMPLETED,
    "Error": JobState.FAILED,
}
# Event types that say how a job ended, strongest first: a walltime kill is recorded as a
# FRAG_JOB_REQUEST (by root) followed by WALLTIME, so WALLTIME must win over the oardel sign.
_EVENTS = (
    ("WALLTIME", JobState.TIMEOUT),
    ("CPUSET_ERROR", JobState.NODE_FAIL),  # "OAR suspects nodes for the job"
    ("PING_CHECKER_NODE_SUSPECTED", JobState.NODE_FAIL),
    ("COULD_NOT_CONTACT_NODE", JobState.NODE_FAIL),
    ("LOST_NODES", JobState.NODE_FAIL),
    ("BESTEFFORT_KILL", JobState.CANCELLED),
    ("FRAG_JOB_REQUEST", JobState.CANCELLED),  # oardel
)


class Oar(BatchScheduler):
    name = "oar"
    submit_command = "oarsub"
    version_argv = ("oarstat", "--version")

    version_pattern = re.compile(r"OAR version\s*:\s*(\d+)\.(\d+)", re.IGNORECASE)

    def header(self, job: JobSpec) -> str:
        res = job.resources
        require_none(
            self.name,
            res,
            ("mem", "gpus", "qos"),
            "OAR chooses memory and GPUs through resource properties: "
            "use --constraint (an oarsub -p expression) or --directive '-l /gpu=1'",
        )
        request = f"/nodes=1/core={res.cpus or 1}"
        if res.time:
            request += f",walltime={hms(res.time)}"
        options = [
            ("queue", "-q", res.queue),
            ("account", "--project", res.account),
            ("constraint", "-p", res.constraint),
        ]
        lines = [f"#OAR -l {request}", *directive_lines("#OAR", options, res.directives)]
        return "\n".join(lines)

    def submit_argv(self, job: JobSpec) -> list[str]:
        name = quoted_word("job-name", job.name)
        return ["oarsub", "-n", name, "-O", job.output, "-E", job.output, "-S", "./launch.sh"]

    def submit_line(self, job: JobSpec) -> str:
        # -S takes an executable file and scans its #OAR lines; the job runs it from here
        return f"chmod u+x launch.sh && {shlex.join(self.submit_argv(job))}"

    def parse_job_id(self, stdout: str) -> str:
        match = re.search(r"^OAR_JOB_ID\s*=\s*(\d+)", stdout, re.MULTILINE)
        if match is None:
            raise ValueError(f"oarsub printed no job id: {stdout.strip()!r}")
        return match.group(1)

    def query_argv(self, job_ids: Sequence[str]) -> list[str]:
        argv = ["oarstat", "-fJ"]
        for job in job_ids:
            argv += ["-j", job]
        return argv

    def parse_query(self, done: Completed, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        if not done.stdout.strip():
            why = done.stderr.strip() or f"oarstat exited {done.returncode}"
            return unknown(job_ids, why) if done.returncode else _gone(job_ids)
        try:
            found = parse_json(done.stdout)
        except (ValueError, KeyError, TypeError) as exc:
            return unknown(job_ids, f"unreadable oarstat output: {exc}")
        return {job: found.get(job, JobStatus(job, JobState.GONE)) for job in job_ids}

    def cancel_argv(self, job_ids: Sequence[str]) -> list[str]:
        return ["oardel", *job_ids]

    def attach_argv(self, job_id: str, command: str | None) -> list[str] | None:
        # oarsub -C connects a shell to the running job on its first node; no single command.
        return ["oarsub", "-C", job_id] if command is None else None

    def details_argv(self, job_id: str) -> list[str] | None:
        return self.query_argv([job_id])

    def parse_details(self, stdout: str) -> str:
        try:
            jobs = _objects(stdout)
        except ValueError:
            return ""
        parts = []
        for job in jobs.values():
            events = ", ".join(str(e.get("type")) for e in job.get("events") or [])
            parts.append(f"state {job.get('state')}, exit_code {job.get('exit_code')}")
            if events:
                parts.append(f"events {events}")
        return "; ".join(parts)


def _gone(job_ids: Sequence[str]) -> dict[str, JobStatus]:
    return {job: JobStatus(job, JobState.GONE) for job in job_ids}


def _objects(stdout: str) -> dict[str, dict[str, Any]]:
    """oarstat -J prints one JSON object keyed by job id (one per -j with some versions)."""
    decoder = json.JSONDecoder()
    jobs: dict[str, dict[str, Any]] = {}
    text, at = stdout.strip(), 0
    while at < len(text):
        value, end = decoder.raw_decode(text, at)
        if isinstance(value, dict):
            jobs.update({str(key): job for key, job in value.items() if isinstance(job, dict)})
        at = end
        while at < len(text) and text[at].isspace():
            at += 1
    return jobs


def parse_json(stdout: str, now: float | None = None) -> dict[str, JobStatus]:
    """``oarstat -fJ``: ``{"12": {"state": "Running", "assigned_network_address": [...]}}``."""
    clock = time.time() if now is None else now
    return {job: _status(job, fields, clock) for job, fields in _objects(stdout).items()}


def _status(job: str, fields: dict[str, Any], now: float) -> JobStatus:
    name = str(fields.get("state", ""))
    state = _STATES.get(name, JobState.UNKNOWN)
    if state is JobState.PENDING:
        planned = fields.get("scheduledStart")
        start = estimate(float(planned)) if isinstance(planned, (int, float)) else None
        # the message is a summary (R=1,W=0:1:0,J=B): the state name says more
        return JobStatus(job, state, name, estimated_start=start)
    if state is JobState.RUNNING:
        hosts = fields.get("assigned_network_address") or []
        node = str(hosts[0]) if hosts else None
        left = None
        walltime, started = fields.get("walltime"), fields.get("startTime")
        if isinstance(walltime, (int, float)) and isinstance(started, (int, float)) and started:
            left = max(0.0, started + walltime - now)
        return JobStatus(job, state, "suspended" if name == "Suspended" else "", node, left)
    if state in {JobState.COMPLETED, JobState.FAILED}:
        return _ended(job, state, fields)
    return JobStatus(job, state, "" if state is not JobState.UNKNOWN else name)


def _ended(job: str, state: JobState, fields: dict[str, Any]) -> JobStatus:
    """Terminated or Error: the events say why; ``exit_code`` is a wait status (3 -> 768)."""
    events = {str(event.get("type", "")): event for event in fields.get("events") or []}
    for kind, mapped in _EVENTS:
        if kind in events:
            return JobStatus(job, mapped, str(events[kind].get("description") or kind))
    code = fields.get("exit_code")
    if state is JobState.COMPLETED and isinstance(code, int) and code:
        status = f"exit code {code >> 8}" if code & 0xFF == 0 else f"signal {code & 0x7F}"
        return JobStatus(job, JobState.FAILED, status)
    if state is JobState.FAILED:
        return JobStatus(job, state, str(fields.get("message") or "Error"))
    return JobStatus(job, state)
