"""PBS Professional / OpenPBS and Torque: ``#PBS`` directives, qsub, qstat, qdel.

Both submit with ``qsub`` and answer ``qstat --version`` differently, which is how detection
tells them apart. PBS Pro is read from ``qstat -f -F json -x`` (``-x`` keeps finished jobs in
the answer while the server's job history lasts); Torque from ``qstat -f -x`` (XML). Finished
jobs are told apart by ``Exit_status``: PBS's negative ``JOB_EXEC_*`` codes, or 256 + the
signal that ended the job. A queued PBS Pro job's ``estimated.start_time`` (set where the site's
scheduler computes estimates) is its estimated start; qstat prints it in ``ctime`` form, so it
runs with ``TZ=UTC0``. Torque without Moab estimates nothing.
"""

from __future__ import annotations

import calendar
import json
import re
import time
import xml.etree.ElementTree as ET
from abc import abstractmethod
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hoplab.errors import ConfigError
from hoplab.schedulers.base import (
    BatchScheduler,
    JobSpec,
    JobState,
    JobStatus,
    checked,
    directive_lines,
    estimate,
    hms,
    mem_amount,
    parse_clock,
    quoted_word,
    require_none,
    unknown,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hoplab.process import Completed
    from hoplab.schedulers.base import Resources

# job_state letters, shared by both (qstat(1B) "Job States"); F (finished) is PBS Pro's
# history state, C (completed) Torque's.
_STATES = {
    "Q": JobState.PENDING,  # queued
    "H": JobState.PENDING,  # held
    "W": JobState.PENDING,  # waiting for its execution time
    "T": JobState.PENDING,  # in transit between servers
    "S": JobState.PENDING,  # suspended
    "U": JobState.PENDING,  # suspended while the workstation is busy
    "B": JobState.RUNNING,  # an array job with subjobs running
    "R": JobState.RUNNING,
    "E": JobState.ENDING,  # exiting after having run
}
_WAITING = {
    "Q": "queued",
    "H": "held",
    "W": "waiting for its start time",
    "T": "in transit",
    "S": "suspended",
}

# Exit_status values of a job that ended (PBS Professional Reference Guide, "Job Exit Status
# Codes"; Torque: "Job exit status" in the administrator guide).
WALLTIME_CODES = {-29, -11}  # PBS Pro JOB_EXEC_KILL_WALLTIME; Torque JOB_EXEC_OVERLIMIT_WT
NODE_FAIL_CODES = {-3, -5, -6, -20}  # JOB_EXEC_RETRY, INITRST, INITRMG, RERUN_MS_FAIL
SIGNALLED = 256  # an Exit_status above 256 is 256 + the signal that ended the job


def _finished(code: int | None, comment: str, deleted: bool) -> tuple[JobState, str]:
    """How a finished job ended, from its exit status and the server's comment."""
    text = comment.lower()
    if code in WALLTIME_CODES or ("walltime" in text and "exceed" in text):
        return JobState.TIMEOUT, "walltime exceeded"
    if code in NODE_FAIL_CODES or "node fail" in text or "node down" in text:
        return JobState.NODE_FAIL, comment or f"Exit_status {code}"
    if deleted:
        return JobState.CANCELLED, comment or "deleted"
    if code == 0:
        return JobState.COMPLETED, ""
    if code is not None and code > SIGNALLED:  # a qdel where the history keeps no substate
        return JobState.CANCELLED, comment or f"killed by signal {code - SIGNALLED}"
    return JobState.FAILED, f"Exit_status {code}" if code is not None else comment


def _node(exec_host: str) -> str | None:
    """``node001/0+node001/1`` or ``node001/0*2`` -> ``node001``."""
    first = exec_host.split("+", maxsplit=1)[0].split("/", maxsplit=1)[0].strip()
    return first or None


def _seconds(clock: object) -> float | None:
    """``HH:MM:SS`` (or plain seconds) from a walltime field."""
    if isinstance(clock, (int, float)):
        return float(clock)
    if isinstance(clock, str) and clock.isdigit():
        return float(clock)
    return parse_clock(clock) if isinstance(clock, str) else None


def _unknown_ids(stderr: str) -> set[str]:
    """Ids qstat called unknown: ``qstat: Unknown Job Id 12.server`` (Torque adds ``Error``)."""
    return set(re.findall(r"Unknown Job Id(?: Error)?\s+(\S+)", stderr))


def _match(
    job_ids: Sequence[str], found: dict[str, JobStatus], stderr: str
) -> dict[str, JobStatus]:
    """Each asked id (``12`` or ``12.server``) with its status; GONE when qstat said unknown."""
    by_number = {job.split(".", maxsplit=1)[0]: status for job, status in found.items()}
    unknown_ids = {job.split(".", maxsplit=1)[0] for job in _unknown_ids(stderr)}
    result = {}
    for job in job_ids:
        number = job.split(".", maxsplit=1)[0]
        status = found.get(job) or by_number.get(number)
        if status is not None:
            result[job] = replace(status, job_id=job)  # as it was asked for
        elif number in unknown_ids:
            result[job] = JobStatus(job, JobState.GONE)
        else:  # left out without a word: never taken for a job that ended
            result[job] = JobStatus(job, JobState.UNKNOWN, stderr.strip() or "not in the answer")
    return result


class _Pbs(BatchScheduler):
    """What PBS Pro and Torque share: ``#PBS`` lines, ``qsub`` on stdin, ``qdel``."""

    submit_command = "qsub"
    version_argv = ("qstat", "--version")

    @abstractmethod
    def _select(self, res: Resources) -> list[str]:
        """The ``-l`` values that place the job on one node with its cores, memory, GPUs."""

    def header(self, job: JobSpec) -> str:
        res = job.resources
        require_none(
            self.name, res, ("qos",), "PBS has no QOS option; ask your site, or use --directive"
        )
        lines = [f"#PBS -l {line}" for line in self._select(res)]
        if res.time:
            lines.append(f"#PBS -l walltime={hms(res.time)}")
        options = [("queue", "-q", res.queue), ("account", "-A", res.account)]
        lines += directive_lines("#PBS", options, res.directives)
        return "\n".join(lines)

    def submit_argv(self, job: JobSpec) -> list[str]:
        # -j oe: one output file; -r n: a node failure ends the job instead of re-running it
        # elsewhere, where nobody waits for it; -S /bin/sh: PBS and Torque run the script with
        # the user's login shell (tcsh, fish...) otherwise, whatever its #! line says.
        name = quoted_word("job-name", job.name)
        return ["qsub", "-N", name, "-j", "oe", "-o", job.output, "-r", "n", "-S", "/bin/sh"]

    def parse_job_id(self, stdout: str) -> str:
        lines = stdout.strip().splitlines()
        job = lines[-1].strip() if lines else ""
        if not re.fullmatch(r"\d+(?:\[\d*\])?(?:\.[\w.-]+)?", job):
            raise ValueError(f"qsub printed no job id: {stdout.strip()!r}")
        return job

    def cancel_argv(self, job_ids: Sequence[str]) -> list[str]:
        return ["qdel", *job_ids]

    def details_argv(self, job_id: str) -> list[str] | None:
        return self.query_argv([job_id])


class PbsPro(_Pbs):
    """PBS Professional and OpenPBS (``qstat -f -F json``, since PBS Pro 13)."""

    name = "pbs"

    version_pattern = re.compile(r"pbs_version\s*=\s*(\d+)\.(\d+)")

    def _select(self, res: Resources) -> list[str]:
        chunk = [f"ncpus={res.cpus or 1}"]
        if res.mem:
            number, unit = mem_amount(res.mem)
            chunk.append(f"mem={number}{unit.lower()}b")
        if res.gpus:
            chunk.append(f"ngpus={res.gpus}")
        if res.constraint:
            chunk.append(_chunk_resources(res.constraint))
        return [f"select=1:{':'.join(chunk)}", "place=pack"]

    def query_argv(self, job_ids: Sequence[str]) -> list[str]:
        # one qstat per job: some OpenPBS releases answer a list of ids with the first only
        # (openpbs/openpbs#2672); the ids reach the loop as arguments, never as code
        loop = 'for job; do qstat -f -F json -x "$job"; done'
        # TZ=UTC0: the times qstat prints (estimated.start_time) carry no zone of their own
        return ["env", "TZ=UTC0", "sh", "-c", loop, "sh", *job_ids]

    def parse_query(self, done: Completed, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        if not done.stdout.strip():
            if done.returncode != 0 and not _unknown_ids(done.stderr):
                return unknown(job_ids, done.stderr.strip() or f"qstat exited {done.returncode}")
            return _match(job_ids, {}, done.stderr)
        try:
            found = parse_json(done.stdout)
        except (ValueError, KeyError, TypeError) as exc:
            return unknown(job_ids, f"unreadable qstat output: {exc}")
        return _match(job_ids, found, done.stderr)

    def parse_details(self, stdout: str) -> str:
        try:
            jobs = json.loads(stdout).get("Jobs", {})
        except ValueError:
            return ""
        keys = ("job_state", "Exit_status", "comment", "exec_host")
        parts = [
            f"{key} {job[key]}"
            for job in jobs.values()
            for key in keys
            if job.get(key) not in (None, "")
        ]
        return ", ".join(parts)


class Torque(_Pbs):
    """Torque (TORQUE Resource Manager 4 to 7): ``qstat -f -x`` XML, ``nodes=1:ppn=N``."""

    name = "torque"

    # "Version: 6.1.2" on a line of its own (PBS Pro says "pbs_version = ...")
    version_pattern = re.compile(r"^\s*Version:\s*(\d+)\.(\d+)", re.IGNORECASE | re.MULTILINE)

    def _select(self, res: Resources) -> list[str]:
        nodes = f"nodes=1:ppn={res.cpus or 1}"
        if res.gpus:
            nodes += f":gpus={res.gpus}"
        if res.constraint:
            nodes += f":{_chunk_resources(res.constraint)}"
        lines = [nodes]
        if res.mem:
            number, unit = mem_amount(res.mem)
            lines.append(f"mem={number}{unit.lower()}b")
        return lines

    def query_argv(self, job_ids: Sequence[str]) -> list[str]:
        return ["qstat", "-f", "-x", *job_ids]

    def parse_query(self, done: Completed, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        text = done.stdout.strip()
        if not text:
            if done.returncode != 0 and not _unknown_ids(done.stderr):
                return unknown(job_ids, done.stderr.strip() or f"qstat exited {done.returncode}")
            return _match(job_ids, {}, done.stderr)
        try:
            found = parse_xml(text)
        except ET.ParseError as exc:
            return unknown(job_ids, f"unreadable qstat output: {exc}")
        return _match(job_ids, found, done.stderr)


_CHUNK = re.compile(r"[A-Za-z_][\w.-]*(?:=[\w.+-]+)?(?::[A-Za-z_][\w.-]*(?:=[\w.+-]+)?)*")


def _chunk_resources(constraint: str) -> str:
    """``--constraint`` as resources of the one chunk: ``model=skylake`` or ``bigmem``."""
    checked("constraint", constraint)
    if not _CHUNK.fullmatch(constraint):
        raise ConfigError(
            f"cannot use {constraint!r} as a PBS resource",
            key="constraint",
            hint="write NAME=VALUE pairs joined by ':' (model=skylake:host=n01)",
        )
    return constraint


def parse_json(stdout: str) -> dict[str, JobStatus]:
    """``qstat -f -F json [-x]``: ``{"Jobs": {"12.server": {...}}}``, one document per call."""
    decoder = json.JSONDecoder()
    found: dict[str, JobStatus] = {}
    text, at = stdout.strip(), 0
    while at < len(text):
        data, at = decoder.raw_decode(text, at)
        for job_id, job in (data.get("Jobs") or {}).items():
            found[job_id] = _pbs_status(job_id, job)
        while at < len(text) and text[at].isspace():
            at += 1
    return found


def _pbs_status(job_id: str, job: dict[str, Any]) -> JobStatus:
    letter = str(job.get("job_state", ""))
    comment = str(job.get("comment") or "")
    if letter in {"F", "X"}:
        code = job.get("Exit_status")
        deleted = job.get("substate") == 91  # JOB_SUBSTATE_TERMINATED: ended by qdel
        state, reason = _finished(int(code) if code is not None else None, comment, deleted)
        return JobStatus(job_id, state, reason)
    state = _STATES.get(letter, JobState.UNKNOWN)
    if state is JobState.RUNNING:
        limit = _seconds((job.get("Resource_List") or {}).get("walltime"))
        used = _seconds((job.get("resources_used") or {}).get("walltime")) or 0.0
        left = max(0.0, limit - used) if limit is not None else None
        return JobStatus(job_id, state, "", _node(str(job.get("exec_host", ""))), left)
    reason = comment.removeprefix("Not Running: ") if state is JobState.PENDING else comment
    start = None
    if state is JobState.PENDING:
        start = ctime_utc((job.get("estimated") or {}).get("start_time"))
    return JobStatus(job_id, state, reason or _WAITING.get(letter, ""), estimated_start=start)


def ctime_utc(text: object) -> float | None:
    """``Mon Nov 30 14:32:00 2026`` (qstat's date form, here in UTC) as Unix time."""
    if not isinstance(text, str):
        return None
    try:
        return estimate(float(calendar.timegm(time.strptime(text.strip(), "%a %b %d %H:%M:%S %Y"))))
    except ValueError:
        return None


def parse_xml(text: str) -> dict[str, JobStatus]:
    """Torque's ``qstat -f -x``: ``<Data><Job><Job_Id>…</Job_Id><job_state>…``."""
    found: dict[str, JobStatus] = {}
    root = ET.fromstring(text)  # noqa: S314 (the user's own scheduler; expat expands no external entities)
    for job in root.iter("Job"):
        job_id = job.findtext("Job_Id", "").strip()
        if job_id:
            found[job_id] = _torque_status(job_id, job)
    return found


def _torque_status(job_id: str, job: ET.Element) -> JobStatus:
    letter = job.findtext("job_state", "").strip()
    comment = job.findtext("comment", "").strip()
    if letter == "C":
        code = job.findtext("exit_status", "").strip()
        number = int(code) if re.fullmatch(r"-?\d+", code) else None
        state, reason = _finished(number, comment, deleted=False)
        return JobStatus(job_id, state, reason)
    state = _STATES.get(letter, JobState.UNKNOWN)
    if state is JobState.RUNNING:
        left = _seconds(job.findtext("Walltime/Remaining", "").strip())
        if left is None:
            limit = _seconds(job.findtext("Resource_List/walltime", "").strip())
            used = _seconds(job.findtext("resources_used/walltime", "").strip()) or 0.0
            left = max(0.0, limit - used) if limit is not None else None
        return JobStatus(job_id, state, "", _node(job.findtext("exec_host", "")), left)
    reason = comment.removeprefix("Not Running: ") if state is JobState.PENDING else comment
    return JobStatus(job_id, state, reason or _WAITING.get(letter, ""))
