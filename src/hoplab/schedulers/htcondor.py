"""HTCondor: a submit description (not script directives), condor_submit, condor_q, condor_rm.

The job is ``launch.sh`` itself, run in the session directory on a shared filesystem (no file
transfer). Resources become ``request_cpus``, ``request_memory`` and ``request_gpus``; the
walltime is ``allowed_execute_duration``, past which HTCondor puts the job on hold, which
hoplab reads as the walltime end. Live jobs come from ``condor_q -json``, finished ones from
``condor_history -json``.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from typing import TYPE_CHECKING, Any

from hoplab.errors import ConfigError
from hoplab.schedulers.base import (
    BatchScheduler,
    JobSpec,
    JobState,
    JobStatus,
    checked,
    mem_amount,
    require_none,
    unknown,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hoplab.process import Completed

ATTRIBUTES = (
    "ClusterId,ProcId,JobStatus,RemoteHost,LastRemoteHost,HoldReason,HoldReasonCode,"
    "LastRejMatchReason,ExitCode,ExitBySignal,RemoveReason,JobCurrentStartDate,"
    "AllowedExecuteDuration,EnteredCurrentStatus"
)
END = "HOPLAB_DESCRIPTION"
_MB = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}

# JobStatus (the "JobStatus" job ClassAd attribute): 1 Idle, 2 Running, 3 Removed,
# 4 Completed, 5 Held, 6 Transferring Output, 7 Suspended.
IDLE, RUNNING, REMOVED, COMPLETED, HELD, TRANSFERRING, SUSPENDED = range(1, 8)
# HoldReasonCode 47: "JobExecuteExceeded", the job ran past allowed_execute_duration.
HOLD_EXECUTE_EXCEEDED = 47
HOLD_DURATION_EXCEEDED = 46  # allowed_job_duration
REQUEUED = "JobStatus == 1 && NumJobStarts > 0"


class HtCondor(BatchScheduler):
    name = "htcondor"
    submit_command = "condor_submit"
    version_argv = ("condor_version",)

    version_pattern = re.compile(r"\$CondorVersion:\s*(\d+)\.(\d+)")

    def header(self, job: JobSpec) -> str:
        return ""  # HTCondor reads its options from the submit description

    def description(self, job: JobSpec) -> str:
        """The submit description: one ``key = value`` per line, then ``queue``."""
        res = job.resources
        require_none(
            self.name,
            res,
            ("queue", "qos"),
            "HTCondor has no queues; use --constraint for a requirements expression",
        )
        lines = [
            "universe = vanilla",
            "executable = launch.sh",
            f"batch_name = {_value('job-name', job.name)}",
            f"output = {job.output}",
            f"error = {job.output}",
            "log = job.log",
            "should_transfer_files = NO",
            "notification = never",
            "max_retries = 0",
            # back in the queue after it ran (its machine was lost): nobody waits for a re-run
            f"periodic_remove = {REQUEUED}",
            f"request_cpus = {res.cpus or 1}",
        ]
        if res.mem:
            number, unit = mem_amount(res.mem)
            lines.append(f"request_memory = {max(1, round(float(number) * _MB[unit]))}")
        if res.gpus:
            lines.append(f"request_gpus = {res.gpus}")
        if res.time:
            lines.append(f"allowed_execute_duration = {res.time}")
        if res.account:
            lines.append(f"accounting_group = {_value('account', res.account)}")
        if res.constraint:
            lines.append(f"requirements = {_value('constraint', res.constraint, expression=True)}")
        lines += [_value("directive", raw, expression=True) for raw in res.directives]
        lines.append("queue")
        return "\n".join(lines)

    def submit_argv(self, job: JobSpec) -> list[str]:
        return ["condor_submit", "-terse"]

    def submit_line(self, job: JobSpec) -> str:
        # the job runs launch.sh in place, so it must be executable; the description is read
        # from stdin, and the quoted delimiter keeps the shell out of it
        submit = shlex.join(self.submit_argv(job))
        return f"chmod u+x launch.sh && {submit} <<'{END}'\n{self.description(job)}\n{END}"

    def parse_job_id(self, stdout: str) -> str:
        # -terse: "12.0 - 12.0"; otherwise "1 job(s) submitted to cluster 12."
        match = re.search(r"^(\d+\.\d+)\s+-", stdout, re.MULTILINE)
        if match:
            return match.group(1)
        match = re.search(r"submitted to cluster (\d+)\.", stdout)
        if match is None:
            raise ValueError(f"condor_submit printed no job id: {stdout.strip()!r}")
        return f"{match.group(1)}.0"

    def query_argv(self, job_ids: Sequence[str]) -> list[str]:
        return ["condor_q", "-json", "-attributes", ATTRIBUTES, *job_ids]

    def parse_query(self, done: Completed, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        if done.returncode != 0:
            return unknown(job_ids, done.stderr.strip() or f"condor_q exited {done.returncode}")
        try:
            found = parse_json(done.stdout)
        except (ValueError, KeyError, TypeError) as exc:
            return unknown(job_ids, f"unreadable condor_q output: {exc}")
        return {job: found.get(job, JobStatus(job, JobState.GONE)) for job in job_ids}

    def history_argvs(self, job_ids: Sequence[str]) -> list[list[str]]:
        return [["condor_history", "-json", "-attributes", ATTRIBUTES, *job_ids]]

    def parse_history(self, done: Completed, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        try:
            found = parse_json(done.stdout)
        except (ValueError, KeyError, TypeError) as exc:
            return unknown(job_ids, f"unreadable condor_history output: {exc}")
        return {job: found.get(job, JobStatus(job, JobState.GONE)) for job in job_ids}

    def cancel_argv(self, job_ids: Sequence[str]) -> list[str]:
        return ["condor_rm", *job_ids]

    def attach_argv(self, job_id: str, command: str | None) -> list[str] | None:
        # condor_ssh_to_job: a shell (or the command) beside the job, in its directory and
        # environment, through the schedd and starter (no ssh to the node needed).
        argv = ["condor_ssh_to_job", job_id]
        return argv if command is None else [*argv, command]

    def hopeless(self, status: JobStatus) -> str | None:
        if status.state is JobState.PENDING and status.reason.startswith("held"):
            return "a held job never starts by itself: fix what the hold reason says"
        return super().hopeless(status)


def _value(key: str, value: str, *, expression: bool = False) -> str:
    """A submit-description value: one line, and no ``$``, which would expand a macro.

    Only an expression (``requirements``) may hold quotes, for its string literals.
    """
    checked(key, value)
    if not expression and ('"' in value or "\\" in value):
        raise ConfigError(f"{value!r} contains a double quote or backslash", key=key)
    if "$" in value:
        raise ConfigError(
            f"{value!r} contains '$', which HTCondor would expand as a macro", key=key
        )
    return value


def parse_json(stdout: str, now: float | None = None) -> dict[str, JobStatus]:
    """``condor_q -json`` / ``condor_history -json``: a list of job ClassAds (nothing: none)."""
    if not stdout.strip():
        return {}
    clock = time.time() if now is None else now
    found: dict[str, JobStatus] = {}
    for ad in json.loads(stdout):
        job = f"{ad['ClusterId']}.{ad.get('ProcId', 0)}"
        found[job] = _status(job, ad, clock)
    return found


def _host(ad: dict[str, Any], key: str) -> str | None:
    """``slot1@node001.cluster`` or ``slot1_1@node001`` -> the machine."""
    value = str(ad.get(key) or "")
    return value.rsplit("@", maxsplit=1)[-1] or None


def _status(job: str, ad: dict[str, Any], now: float) -> JobStatus:
    status = int(ad.get("JobStatus", 0))
    if status in {IDLE, RUNNING, SUSPENDED, TRANSFERRING}:
        return _live(job, status, ad, now)
    if status == COMPLETED:
        return _completed(job, ad)
    if status in {HELD, REMOVED}:
        return _stopped(job, status, ad)
    return JobStatus(job, JobState.UNKNOWN, f"JobStatus {status}")


def _stopped(job: str, status: int, ad: dict[str, Any]) -> JobStatus:
    """Held or removed: past its walltime, lost its machine, or cancelled (or held)."""
    if ad.get("HoldReasonCode") in {HOLD_EXECUTE_EXCEEDED, HOLD_DURATION_EXCEEDED}:
        why = str(ad.get("HoldReason") or "") or "allowed execute duration exceeded"
        return JobStatus(job, JobState.TIMEOUT, why)
    if status == HELD:
        return JobStatus(job, JobState.PENDING, f"held: {ad.get('HoldReason') or ''}".rstrip(": "))
    why = str(ad.get("RemoveReason") or "removed")
    if REQUEUED in why:  # our periodic_remove: it came back to the queue after it ran
        return JobStatus(job, JobState.NODE_FAIL, _lost(ad))
    return JobStatus(job, JobState.CANCELLED, why)


def _completed(job: str, ad: dict[str, Any]) -> JobStatus:
    if ad.get("ExitBySignal"):
        return JobStatus(job, JobState.FAILED, "killed by a signal")
    code = ad.get("ExitCode")
    if code not in (None, 0):
        return JobStatus(job, JobState.FAILED, f"ExitCode {code}")
    return JobStatus(job, JobState.COMPLETED)


def _lost(ad: dict[str, Any]) -> str:
    return f"the job lost its machine {_host(ad, 'LastRemoteHost') or ''}".strip()


def _live(job: str, status: int, ad: dict[str, Any], now: float) -> JobStatus:
    if status == IDLE:
        if ad.get("LastRemoteHost"):  # it ran, and its machine went away
            return JobStatus(job, JobState.NODE_FAIL, _lost(ad))
        return JobStatus(job, JobState.PENDING, str(ad.get("LastRejMatchReason") or "idle"))
    if status == TRANSFERRING:
        return JobStatus(job, JobState.ENDING, "transferring output")
    left = None
    limit, started = ad.get("AllowedExecuteDuration"), ad.get("JobCurrentStartDate")
    if isinstance(limit, (int, float)) and isinstance(started, (int, float)):
        left = max(0.0, started + limit - now)
    reason = "suspended" if status == SUSPENDED else ""
    return JobStatus(job, JobState.RUNNING, reason, _host(ad, "RemoteHost"), left)
