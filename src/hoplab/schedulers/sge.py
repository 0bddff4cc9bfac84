"""Grid Engine (Son of Grid Engine, Open Grid Scheduler, Univa/Altair GE): ``#$`` directives.

Live jobs come from ``qstat -xml``; a job that has left the queue is looked up in the
accounting with ``qacct -j``, which says how it ended (``failed`` and ``exit_status``).
Cores come from a parallel environment (``--pe``, ``smp`` by default, with allocation rule
``$pe_slots`` so they sit on one node), and memory from a per-slot complex (``h_vmem`` by
default, or ``mem_free``): hoplab divides ``--mem`` by the slots.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from hoplab.schedulers.base import (
    BatchScheduler,
    JobSpec,
    JobState,
    JobStatus,
    directive_lines,
    hms,
    mem_amount,
    quoted_word,
    require_none,
    unknown,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hoplab.process import Completed

# qstat's state letters, combined ("hqw", "Eqw", "dr"): sge_status(5).
_PENDING_FLAGS = {"h": "on hold", "s": "suspended", "S": "queue suspended", "T": "threshold"}
_UNITS = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}

# qacct "failed" codes (sge_shepherd(8), "exit codes of the shepherd"). 37 is the qmaster
# enforcing h_rt; 100 ("assumedly after job") is a job ended by a signal: qdel, or execd
# enforcing h_rt, told apart by the wallclock against the h_rt request.
_FAILED_WALLTIME = 37
_FAILED_SIGNALLED = 100
_NODE_FAILED = {19, 21}  # "before writing exit_status", "in recognizing job": the host went


class GridEngine(BatchScheduler):
    name = "sge"
    submit_command = "qsub"
    version_argv = ("qstat", "-help")

    # the first line of `qstat -help`: SGE 8.1.9, OGS/GE 2011.11p1, GE 6.2u5, UGE 8.6.4, AGE
    version_pattern = re.compile(r"\A\s*(?:SGE|OGS/GE|GE|UGE|AGE|Univa Grid Engine)\s+(\d+)\.(\d+)")

    def header(self, job: JobSpec) -> str:
        res = job.resources
        require_none(
            self.name, res, ("qos",), "Grid Engine has no QOS; ask your site, or use --directive"
        )
        slots = res.cpus or 1
        lines = []
        if slots > 1:
            lines.append(f"#$ -pe {quoted_word('pe', res.pe)} {slots}")
        if res.time:
            lines.append(f"#$ -l h_rt={hms(res.time)}")
        if res.mem:
            resource = quoted_word("mem_resource", res.mem_resource)
            lines.append(f"#$ -l {resource}={_per_slot(res.mem, slots)}")
        if res.gpus:
            lines.append(f"#$ -l gpu={res.gpus}")
        options = [
            ("queue", "-q", res.queue),
            ("account", "-P", res.account),
            ("constraint", "-l", res.constraint),
        ]
        lines += directive_lines("#$", options, res.directives)
        return "\n".join(lines)

    def submit_argv(self, job: JobSpec) -> list[str]:
        # -cwd: run in the session directory; -r n: a lost node ends the job, not re-runs it
        name = quoted_word("job-name", job.name)
        return ["qsub", "-terse", "-N", name, "-o", job.output, "-j", "y", "-cwd", "-S",
                "/bin/sh", "-r", "n"]  # fmt: skip

    def parse_job_id(self, stdout: str) -> str:
        # -terse prints the id; without it: Your job 12 ("name") has been submitted
        match = re.search(r"^(?:Your job )?(\d+)\b", stdout.strip().splitlines()[-1].strip())
        if not stdout.strip() or match is None:
            raise ValueError(f"qsub printed no job id: {stdout.strip()!r}")
        return match.group(1)

    def query_argv(self, job_ids: Sequence[str]) -> list[str]:
        return ["qstat", "-xml"]  # the caller's jobs; finished ones are in qacct

    def parse_query(self, done: Completed, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        if done.returncode != 0:
            return unknown(job_ids, done.stderr.strip() or f"qstat exited {done.returncode}")
        try:
            found = parse_qstat_xml(done.stdout)
        except ET.ParseError as exc:
            return unknown(job_ids, f"unreadable qstat output: {exc}")
        return {job: found.get(job, JobStatus(job, JobState.GONE)) for job in job_ids}

    def history_argvs(self, job_ids: Sequence[str]) -> list[list[str]]:
        return [["qacct", "-j", job] for job in job_ids]

    def parse_history(self, done: Completed, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        records = parse_qacct(done.stdout)
        return {job: records.get(job, JobStatus(job, JobState.GONE)) for job in job_ids}

    def cancel_argv(self, job_ids: Sequence[str]) -> list[str]:
        return ["qdel", *job_ids]

    def details_argv(self, job_id: str) -> list[str] | None:
        return ["qacct", "-j", job_id]

    def parse_details(self, stdout: str) -> str:
        fields = _qacct_records(stdout)
        if not fields:
            return ""
        last = fields[-1]
        keys = ("failed", "exit_status", "hostname")
        return ", ".join(f"{key} {last[key]}" for key in keys if last.get(key))


def _per_slot(mem: str, slots: int) -> str:
    """``--mem`` is for the job; Grid Engine's memory complexes count per slot."""
    number, unit = mem_amount(mem)
    if slots == 1:
        return f"{number}{unit}"
    megabytes = float(number) * _UNITS[unit]
    return f"{math.ceil(megabytes / slots)}M"


def parse_qstat_xml(text: str) -> dict[str, JobStatus]:
    """``qstat -xml``: running jobs under queue_info, pending ones under job_info."""
    found: dict[str, JobStatus] = {}
    root = ET.fromstring(text)  # noqa: S314 (the user's own scheduler; expat expands no external entities)
    for job in root.iter("job_list"):
        number = job.findtext("JB_job_number", "").strip()
        if not number:
            continue
        letters = job.findtext("state", "").strip()
        queue = job.findtext("queue_name", "").strip()
        node = queue.split("@", maxsplit=1)[1] if "@" in queue else None
        found[number] = _qstat_status(number, letters, node)
    return found


def _qstat_status(job: str, letters: str, node: str | None) -> JobStatus:
    if "E" in letters:
        return JobStatus(job, JobState.FAILED, f"error state {letters} (qstat -j {job} says why)")
    if "d" in letters:
        return JobStatus(job, JobState.ENDING, "being deleted")
    if "r" in letters and not (set(letters) & set(_PENDING_FLAGS)):
        return JobStatus(job, JobState.RUNNING, "", node)
    if "t" in letters:
        return JobStatus(job, JobState.PENDING, "being transferred to its node")
    reasons = [text for flag, text in _PENDING_FLAGS.items() if flag in letters]
    return JobStatus(job, JobState.PENDING, ", ".join(reasons) or f"queued ({letters})")


def _qacct_records(stdout: str) -> list[dict[str, str]]:
    """qacct's records: ``=====`` lines separate them, each line is ``key   value``."""
    records: list[dict[str, str]] = []
    for block in re.split(r"^=+\s*$", stdout, flags=re.MULTILINE):
        fields = {}
        for line in block.splitlines():
            key, _, value = line.strip().partition(" ")
            if key:
                fields[key] = value.strip()
        if "jobnumber" in fields:
            records.append(fields)
    return records


def parse_qacct(stdout: str) -> dict[str, JobStatus]:
    """How each job in ``qacct -j`` output ended (its last record: a re-run job has several)."""
    found: dict[str, JobStatus] = {}
    for fields in _qacct_records(stdout):
        job = fields["jobnumber"]
        found[job] = _ended(job, fields)
    return found


def _number(text: str) -> int | None:
    match = re.match(r"^-?\d+", text.strip())
    return int(match.group(0)) if match else None


def _ended(job: str, fields: dict[str, str]) -> JobStatus:
    failed_text = fields.get("failed", "0")
    failed = _number(failed_text) or 0
    code = _number(fields.get("exit_status", "")) or 0
    limit = re.search(r"h_rt=(\d+)", fields.get("category", ""))
    wallclock = _number(fields.get("ru_wallclock", "").rstrip("s")) or 0
    past_limit = limit is not None and wallclock >= int(limit.group(1))
    if failed == _FAILED_WALLTIME or (failed == _FAILED_SIGNALLED and past_limit):
        return JobStatus(job, JobState.TIMEOUT, "walltime (h_rt) exceeded")
    if failed in _NODE_FAILED:
        return JobStatus(job, JobState.NODE_FAIL, failed_text)
    if failed == _FAILED_SIGNALLED or fields.get("deleted_by"):
        return JobStatus(job, JobState.CANCELLED, "deleted (qdel)")
    if failed:
        return JobStatus(job, JobState.FAILED, f"failed {failed_text}")
    if code:
        return JobStatus(job, JobState.FAILED, f"exit_status {code}")
    return JobStatus(job, JobState.COMPLETED)
