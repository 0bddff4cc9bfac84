"""The job engine under every shim: the sandbox's real SLURM, driven as the calling user.

A shim's ``qsub``/``bsub``/``oarsub``/``condor_submit`` parses its scheduler's own directives,
then hands the script to ``sbatch``: the job really runs on node001 or node002, as the test
user, really waits in the queue when the nodes are full, really hits its walltime, and really
fails with its node. A shim's status command asks SLURM and prints what that state looks like
in its scheduler's documented format. Only this module knows SLURM.

Each job keeps a small record in ``~/.hoplab-shims/<scheduler>/<id>.json``: its name and
directives as the shim parsed them, and its final state once seen, so the shim still answers
after slurmctld forgets the job (MinJobAge), as the real schedulers' history does.

Standard library only: the shims run under the login node's ``/usr/bin/python3``.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

SLURM_BIN = "/usr/bin"
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"}
DEFAULT_PARTITION = "debug"


class ShimError(Exception):
    """A request the shim refuses, in the words its scheduler would use."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Job:
    """One job as the shims see it: SLURM's view plus what the shim recorded at submission."""

    id: str
    name: str
    owner: str
    workdir: str
    output: str
    queue: str
    cpus: int = 1
    limit: int | None = None  # walltime in seconds
    directives: list[str] = field(default_factory=list)
    submitted: float = 0.0
    state: str = "PENDING"  # SLURM's state name
    reason: str = ""
    node: str = ""
    started: float | None = None
    ended: float | None = None
    exit_code: int | None = None
    signal: int | None = None
    deleted: bool = False  # cancelled through the shim (qdel, bkill, oardel, condor_rm)
    extra: dict[str, str] = field(default_factory=dict)  # scheduler-specific values

    @property
    def finished(self) -> bool:
        return self.state in ENDED


def _slurm(argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [f"{SLURM_BIN}/{argv[0]}", *argv[1:]],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def spool(scheduler: str) -> Path:
    folder = Path.home() / ".hoplab-shims" / scheduler
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def save(scheduler: str, job: Job) -> None:
    path = spool(scheduler) / f"{job.id}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(job)))
    tmp.replace(path)


def _load(scheduler: str, job_id: str) -> Job | None:
    path = spool(scheduler) / f"{job_id}.json"
    try:
        return Job(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def submit(scheduler: str, job: Job, script: str) -> Job:
    """Queue ``script`` in SLURM with ``job``'s resources; the job's id is SLURM's."""
    argv = [
        "sbatch",
        "--parsable",
        "--no-requeue",
        f"--job-name={job.name}",
        f"--output={job.output}",
        f"--chdir={job.workdir}",
        f"--partition={job.queue or DEFAULT_PARTITION}",
        f"--cpus-per-task={job.cpus}",
    ]
    if job.limit:
        argv.append(f"--time={max(1, -(-job.limit // 60))}")
    # Keep the script as the scheduler would, and give sbatch a two-line runner: sbatch also
    # obeys #PBS and #BSUB lines, which must reach only the shim's own parser.
    kept = spool(scheduler) / "scripts" / f"{time.time_ns()}.sh"
    kept.parent.mkdir(exist_ok=True, mode=0o700)
    kept.write_text(script)
    shell = job.extra.get("shell", "/bin/sh")  # PBS: -S, else the login shell
    done = _slurm(argv, f"#!/bin/sh\nexec {shlex.quote(shell)} {kept}\n")
    if done.returncode != 0:
        raise ShimError(done.stderr.strip().removeprefix("sbatch: error: "))
    job.id = done.stdout.strip().split(";")[0]
    job.submitted = time.time()
    job.owner = os.environ.get("USER") or Path.home().name
    save(scheduler, job)
    return job


def cancel(scheduler: str, job_id: str) -> bool:
    """Cancel one job; False when neither SLURM nor the record knows it."""
    job = _load(scheduler, job_id)
    if job is None:
        return False
    done = _slurm(["scancel", job_id])
    if done.returncode != 0 and not job.finished:
        raise ShimError(done.stderr.strip())
    if not job.finished:
        job.deleted = True
        save(scheduler, job)
    return True


def _clock(text: str) -> float | None:
    try:
        return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


def _refresh(scheduler: str, job: Job) -> Job:
    """Bring ``job`` up to date from ``scontrol show job`` (unchanged once finished)."""
    if job.finished:
        return job
    done = _slurm(["scontrol", "--oneliner", "show", "job", job.id])
    if done.returncode != 0:
        if "Invalid job id" in done.stderr:  # purged without anyone seeing its end
            job.state, job.reason = "CANCELLED" if job.deleted else "COMPLETED", "purged"
            save(scheduler, job)
            return job
        raise ShimError(done.stderr.strip())
    fields = dict(
        item.split("=", 1) for item in done.stdout.split() if "=" in item and item[0].isalpha()
    )
    job.state = fields.get("JobState", job.state)
    job.reason = fields.get("Reason", "")
    node = fields.get("BatchHost") or fields.get("NodeList", "")
    job.node = "" if node in {"(null)", "None"} else node
    job.started = _clock(fields.get("StartTime", "")) if job.state != "PENDING" else None
    job.ended = _clock(fields.get("EndTime", "")) if job.state in ENDED else None
    code, _, sig = fields.get("ExitCode", "0:0").partition(":")
    job.exit_code = int(code) if code.isdigit() else None
    job.signal = int(sig) if sig.isdigit() and int(sig) else None
    if job.state in ENDED:  # keep the end for when slurmctld forgets the job
        save(scheduler, job)
    return job


def status(scheduler: str, job_ids: list[str]) -> dict[str, Job | None]:
    """Each id's job (None: unknown to SLURM and to the shim's records)."""
    found: dict[str, Job | None] = {}
    for job_id in job_ids:
        job = _load(scheduler, job_id)
        found[job_id] = _refresh(scheduler, job) if job is not None else None
    return found


def directive_words(script: str, prefix: str) -> list[str]:
    """The words of the ``prefix`` lines (``#PBS``, ``#BSUB``, ``#OAR``) up to the script's
    first command, split as a shell would, which is how those schedulers read them."""
    words: list[str] = []
    for line in script.splitlines()[1:]:
        stripped = line.strip()
        if stripped.startswith(prefix):
            words += shlex.split(stripped[len(prefix) :])
        elif stripped and not stripped.startswith("#"):
            break
    return words


def read_script(path: str | None) -> str:
    """The job script from a file, or from stdin as the submit commands allow."""
    if path:
        return Path(path).read_text()
    return sys.stdin.read()
