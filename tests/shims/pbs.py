"""PBS Professional (OpenPBS 23.06) and Torque (6.1) command shims: qsub, qstat, qdel.

Formats reproduced (see tests/unit/samples/pbspro and torque for the recordings they follow):
- PBS Pro: PBS Professional 2022.1 Reference Guide, qsub(1B), qstat(1B) ``-f -F json -x``
  (top level ``timestamp``, ``pbs_version``, ``pbs_server``, ``Jobs``), qdel(1B), and
  "Job Exit Status Codes" (JOB_EXEC_KILL_WALLTIME -29, 256 + signal for a deleted job,
  substate 91 for a job ended by qdel, 92 for a finished one).
- Torque: TORQUE 6.1 Administrator Guide, qstat ``-f -x`` (``<Data><Job>`` XML, job_state C,
  ``exit_status`` -11 JOB_EXEC_OVERLIMIT_WT), ``Unknown Job Id Error`` (exit 153).
The job itself runs in the sandbox's SLURM (see engine).
"""

from __future__ import annotations

import json
import os
import pwd
import sys
import time
from pathlib import Path
from xml.sax.saxutils import escape

from . import engine
from .engine import Job, ShimError

SERVER = "login01"
PBS_VERSION = "23.06.06"
TORQUE_VERSION = "6.1.3"
UNKNOWN_JOB_EXIT = 153  # PBSE_UNKJOBID
WALLTIME_EXIT = {"pbs": -29, "torque": -11}
NODE_FAIL_EXIT = -20  # JOB_EXEC_RERUN_MS_FAIL: the mother superior (the node) failed
SIGNAL_BASE = 256
DEFAULT_QUEUE = {"pbs": "workq", "torque": "batch"}


def _seconds(text: str) -> int:
    parts = [int(p) for p in text.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    hours, minutes, seconds = parts[-3:]
    return (hours * 60 + minutes) * 60 + seconds


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _apply(flavour: str, job: Job, words: list[str]) -> None:
    """qsub's options, from the command line or a ``#PBS`` line."""
    args = iter(words)
    for option in args:
        value = next(args, None)
        if value is None:
            raise ShimError(f"qsub: option requires an argument -- '{option.lstrip('-')}'", 2)
        job.directives.append(f"{option} {value}")
        if option == "-N":
            job.name = value
        elif option == "-o":
            job.output = value
        elif option == "-q":
            job.queue = value
        elif option == "-A":
            job.extra["account"] = value
        elif option == "-l":
            _resources(flavour, job, value)
        elif option == "-S":  # the job's shell; without it PBS and Torque use the login shell
            job.extra["shell"] = value
        elif option not in {"-j", "-r", "-e", "-k"}:
            raise ShimError(f"qsub: illegal option -- {option.lstrip('-')}", 2)


def _resources(flavour: str, job: Job, value: str) -> None:
    for item in value.split(","):
        key, _, setting = item.partition("=")
        if key == "walltime":
            job.limit = _seconds(setting)
        elif key == "select" and flavour == "pbs":
            for chunk in setting.split(":")[1:]:
                name, _, amount = chunk.partition("=")
                if name == "ncpus":
                    job.cpus = int(amount)
                job.extra[name] = amount
        elif key == "nodes" and flavour == "torque":
            for chunk in setting.split(":")[1:]:
                name, _, amount = chunk.partition("=")
                if name == "ppn":
                    job.cpus = int(amount)
                job.extra[name] = amount or "true"
        elif key in {"mem", "place"}:
            job.extra[key] = setting
        else:
            raise ShimError(f"qsub: Unknown resource {key}", 168)


def qsub(flavour: str, argv: list[str]) -> int:
    script_file = argv[-1] if argv and not argv[-1].startswith("-") and len(argv) % 2 else None
    options = argv[:-1] if script_file else argv
    script = engine.read_script(script_file)
    job = Job(id="", name="STDIN", owner="", workdir=str(Path.cwd()), output="", queue="")
    job.extra["shell"] = pwd.getpwuid(os.getuid()).pw_shell or "/bin/sh"
    _apply(flavour, job, engine.directive_words(script, "#PBS"))
    _apply(flavour, job, options)  # the command line wins over the script
    if job.queue == DEFAULT_QUEUE[flavour]:
        job.queue = ""
    job.output = str(Path.cwd() / (job.output or f"{job.name}.o"))
    try:
        job = engine.submit(flavour, job, script)
    except ShimError as exc:
        raise ShimError(f"qsub: {exc}", 170 if "partition" in str(exc) else 1) from exc
    print(f"{job.id}.{SERVER}")
    return 0


def _number(job_id: str) -> str:
    return job_id.split(".", maxsplit=1)[0]


def qdel(flavour: str, argv: list[str]) -> int:
    code = 0
    for job_id in argv:
        if not engine.cancel(flavour, _number(job_id)):
            print(f"qdel: Unknown Job Id {job_id}", file=sys.stderr)
            code = UNKNOWN_JOB_EXIT
    return code


def _letter(job: Job) -> str:
    if job.finished:
        return "F"
    return {"PENDING": "Q", "RUNNING": "R", "COMPLETING": "E"}.get(job.state, "Q")


def _exit_status(flavour: str, job: Job) -> int:
    if job.state == "TIMEOUT":
        return WALLTIME_EXIT[flavour]
    if job.state == "NODE_FAIL":
        return NODE_FAIL_EXIT
    if job.state == "CANCELLED" or job.deleted:
        return SIGNAL_BASE + 15
    if job.signal:
        return SIGNAL_BASE + job.signal
    return job.exit_code or 0


def _pbs_job(job: Job, now: float) -> dict[str, object]:
    """One job as PBS Pro's ``qstat -f -F json`` prints it."""
    fields: dict[str, object] = {
        "Job_Name": job.name,
        "Job_Owner": f"{job.owner}@{SERVER}",
        "job_state": _letter(job),
        "queue": job.queue or DEFAULT_QUEUE["pbs"],
        "server": SERVER,
        "ctime": time.ctime(job.submitted),
        "Output_Path": f"{SERVER}:{job.output}",
        "Join_Path": "oe",
        "Rerunable": "False",
        "Resource_List": {
            "ncpus": job.cpus,
            "nodect": 1,
            "place": job.extra.get("place", "pack"),
            "select": f"1:ncpus={job.cpus}",
            **({"walltime": _clock(job.limit)} if job.limit else {}),
        },
        "substate": 10,
        "Variable_List": {"PBS_O_WORKDIR": job.workdir, "PBS_O_QUEUE": job.queue or "workq"},
        "project": job.extra.get("account", "_pbs_project_default"),
    }
    if job.state == "PENDING":
        fields["comment"] = (
            f"Not Running: Insufficient amount of resource: ncpus (R: {job.cpus} A: 0 T: 4)"
        )
    elif job.started and not job.finished:
        used = max(0.0, now - job.started)
        fields.update(
            exec_host=f"{job.node}/0*{job.cpus}",
            exec_vnode=f"({job.node}:ncpus={job.cpus})",
            stime=time.ctime(job.started),
            substate=42,
            comment=f"Job run at {time.strftime('%a %b %d at %H:%M', time.localtime(job.started))}"
            f" on ({job.node}:ncpus={job.cpus})",
            resources_used={"ncpus": job.cpus, "walltime": _clock(used), "cput": "00:00:00"},
        )
    if job.finished:
        fields.update(
            Exit_status=_exit_status("pbs", job),
            substate=91 if job.deleted else 92,
            comment="Job run at ... and finished",
        )
        if job.state == "TIMEOUT":
            fields["comment"] = "job killed: walltime exceeded limit"
        elif job.state == "NODE_FAIL":
            fields["comment"] = f"Job failed: node {job.node} went down"
    return fields


def _torque_job(job: Job, now: float) -> str:
    """One ``<Job>`` element as Torque's ``qstat -f -x`` prints it."""
    letter = "C" if job.finished else _letter(job)
    parts = [
        f"<Job_Id>{job.id}.{SERVER}</Job_Id>",
        f"<Job_Name>{escape(job.name)}</Job_Name>",
        f"<Job_Owner>{job.owner}@{SERVER}</Job_Owner>",
        f"<job_state>{letter}</job_state>",
        f"<queue>{escape(job.queue or DEFAULT_QUEUE['torque'])}</queue>",
        f"<server>{SERVER}</server>",
        f"<Resource_List><nodes>1:ppn={job.cpus}</nodes>"
        + (f"<walltime>{_clock(job.limit)}</walltime>" if job.limit else "")
        + "</Resource_List>",
    ]
    if job.state == "PENDING":  # what pbs_sched writes on a job it cannot start
        parts.append("<comment>Not Running: Not enough of the right type of nodes</comment>")
    if job.started and not job.finished:
        used = max(0.0, now - job.started)
        parts.append(f"<exec_host>{job.node}/0-{job.cpus - 1}</exec_host>")
        parts.append(f"<resources_used><walltime>{_clock(used)}</walltime></resources_used>")
        if job.limit:
            parts.append(f"<Walltime><Remaining>{int(job.limit - used)}</Remaining></Walltime>")
    if job.finished:
        parts.append(f"<exit_status>{_exit_status('torque', job)}</exit_status>")
    return "<Job>" + "".join(parts) + "</Job>"


def qstat(flavour: str, argv: list[str]) -> int:
    if argv == ["--version"]:
        if flavour == "pbs":
            print(f"pbs_version = {PBS_VERSION}")
        else:
            print(f"Version: {TORQUE_VERSION}\nCommit: 0000000", file=sys.stderr)
        return 0
    ids = [a for a in argv if not a.startswith("-") and a != "json"]
    wanted = {job_id: _number(job_id) for job_id in ids}
    found = engine.status(flavour, list(wanted.values()))
    now = time.time()
    code = 0
    jobs: dict[str, Job] = {}
    for job_id, number in wanted.items():
        job = found.get(number)
        history = flavour == "pbs" and "-x" in argv
        if job is None or (job.finished and flavour == "pbs" and not history):
            word = "Unknown Job Id Error" if flavour == "torque" else "Unknown Job Id"
            print(f"qstat: {word} {job_id}", file=sys.stderr)
            code = UNKNOWN_JOB_EXIT
            continue
        jobs[f"{job.id}.{SERVER}"] = job
    if flavour == "pbs" and jobs:
        out = {
            "timestamp": int(now),
            "pbs_version": PBS_VERSION,
            "pbs_server": SERVER,
            "Jobs": {key: _pbs_job(job, now) for key, job in jobs.items()},
        }
        print(json.dumps(out, indent=4))
    elif flavour == "torque" and jobs:
        print('<?xml version="1.0"?><Data>' + "".join(_torque_job(j, now) for j in jobs.values())
              + "</Data>")  # fmt: skip
    return code


COMMANDS = {"qsub": qsub, "qstat": qstat, "qdel": qdel}
