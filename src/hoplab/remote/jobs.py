"""Scheduler commands over the login node's connection: detect, query, cancel, verify.

Queries are batched (one command for all of a target's jobs) and never run in a tight loop:
callers space them with :data:`POLL_SCHEDULE`. A query that fails or times out reports every
job UNKNOWN, which is never taken for a dead job.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from hoplab.errors import CommandTimeoutError, HoplabError, SchedulerError, WaitTimeoutError
from hoplab.launcher import render
from hoplab.launcher.frame import framed
from hoplab.protocol import SchedulerName, SchedulerPath
from hoplab.remote import frames
from hoplab.schedulers import UNDRIVEN, backend, batch_backend, batch_classes
from hoplab.schedulers.base import BatchScheduler, JobState, JobStatus, unknown
from hoplab.waiting import backoff, wait_until

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from hoplab.process import Completed
    from hoplab.records.model import Session
    from hoplab.schedulers.base import Scheduler
    from hoplab.ssh.transport import Transport

QUERY_TIMEOUT = 30.0
CANCEL_TIMEOUT = 60.0


def poll_schedule() -> Iterator[float]:
    """Seconds between scheduler queries: 1, 2, 4, 8, then every 15."""
    return backoff(1.0, 2.0, 15.0)


MARK = "@@hoplab-scheduler"
# Sections of the probe that are not a scheduler: where the commands were found, and what the
# login shell said on stderr when it was asked.
FOUND, SAID = "=found", "=said"


def submit_commands() -> str:
    """Every submit command detection looks for, space-separated."""
    commands = [cls.submit_command for cls in batch_classes().values()]
    return " ".join(dict.fromkeys((*commands, *UNDRIVEN)))


def environment(scheduler: BatchScheduler) -> str:
    """Shell text that finds ``scheduler``'s commands as detection found them."""
    return render.scheduler_environment(scheduler.submit_command, scheduler.module)


def probe_script(module: str | None = None, wanted: str = "auto") -> str:
    """One remote command: where the scheduler commands are (this shell's PATH, the login
    shell's, or ``module``'s: the login shell is asked when this shell has none of them, or
    not the ``wanted`` one), then for each backend whose submit command is on that PATH, a
    marked section with what its version command printed."""
    classes = batch_classes()
    commands = classes[wanted].submit_command if wanted in classes else submit_commands()
    lines = [
        render.scheduler_environment(commands, module),
        f"echo '{MARK} {FOUND}'; echo \"$hoplab_found\"",
        (
            f"if [ -n \"$hoplab_login_said\" ]; then echo '{MARK} {SAID}'; "
            "printf '%s\\n' \"$hoplab_login_said\"; fi"
        ),
    ]
    lines += [
        f"if command -v {cls.submit_command} >/dev/null 2>&1; then echo '{MARK} {name}'; "
        f"{shlex.join(cls.version_argv)} 2>&1; fi"
        for name, cls in batch_classes().items()
    ]
    lines += [f"command -v {name} >/dev/null 2>&1 && echo '{MARK} ?{name}'" for name in UNDRIVEN]
    return "\n".join((*lines, "true"))


def read_probe(output: str) -> dict[str, str]:
    """The probe's sections: backend name (or ``?command``) -> its version text."""
    sections: dict[str, str] = {}
    name = None
    for line in output.splitlines():
        if line.startswith(MARK + " "):
            name = line[len(MARK) + 1 :].strip()
            sections[name] = ""
        elif name is not None:
            sections[name] += line + "\n"
    return sections


def choose(
    sections: dict[str, str], wanted: str, label: str, module: str | None = None
) -> Scheduler:
    """The backend for ``wanted`` (``auto``: the first whose submit command answers as it)."""
    where = SchedulerPath.parse(sections.pop(FOUND, SchedulerPath.PATH.value).strip())
    said = sections.pop(SAID, "").strip()
    scheduler = _pick(sections, wanted, label, module, said)
    if isinstance(scheduler, BatchScheduler):
        scheduler.found = where
    return scheduler


def _pick(
    sections: dict[str, str], wanted: str, label: str, module: str | None, said: str
) -> Scheduler:
    if wanted != "auto":
        cls = type(batch_backend(wanted))
        if wanted not in sections:
            raise SchedulerError(
                f"{cls.submit_command} is not on the PATH of {label}"
                + (f", nor after 'module load {module}'" if module else ", nor its login shell's")
                + (f" ({said.splitlines()[-1]})" if module and said else ""),
                "name the site module that provides it with --scheduler-module NAME, or pick "
                "another --scheduler",
            )
        return cls(cls.parse_version(sections[wanted]), module)
    classes = batch_classes()
    answered = [
        classes[name]
        for name, text in sections.items()
        if name in classes and classes[name].recognizes(text)
    ]
    if len(answered) > 1:  # a site in transition, or clients of another cluster: never guess
        names = [cls.name for cls in answered]
        raise SchedulerError(
            f"{label} has more than one scheduler: {', '.join(names)}",
            f"name the one to use with --scheduler {' or '.join(names)}, or "
            f'scheduler = "{names[0]}" in the profile',
        )
    if answered:
        found = answered[0]
        return found(found.parse_version(sections[found.name]), module)
    if not sections:
        if module:
            raise SchedulerError(
                f"no scheduler on {label} after 'module load {module}'"
                + (f": {said.splitlines()[-1]}" if said else ""),
                "check the module's name with 'module avail' there, or leave "
                "--scheduler-module out",
            )
        return backend(SchedulerName.NONE)
    commands = sorted({classes[n].submit_command if n in classes else n[1:] for n in sections})
    driven = sorted(n for n, cls in classes.items() if cls.submit_command in commands)
    first = next(iter(sections.values()), "").strip().splitlines()
    said = f" (its version command said {first[0]!r})" if first else ""
    if driven:
        raise SchedulerError(
            f"{label} has {', '.join(commands)}, but hoplab cannot tell which scheduler{said}",
            f"name it with --scheduler {' or '.join(driven)}, or use --scheduler none",
        )
    raise SchedulerError(
        f"{label} has {', '.join(commands)}, whose scheduler hoplab does not drive",
        "use --scheduler none to run Jupyter on that host itself",
    )


def detect(transport: Transport, wanted: str, module: str | None = None) -> Scheduler:
    """The backend named ``wanted``, or (``auto``) the one the login node has.

    One remote command looks for every submit command and asks each backend for its version:
    that tells PBS from Torque from Grid Engine (all three submit with ``qsub``) and picks
    the output formats a version is read with. Commands that only the user's login shell
    finds (/etc/profile.d) or ``module load module`` provides are found there, and every later
    call of the backend finds them the same way (:func:`environment`).
    """
    if wanted == SchedulerName.NONE:
        return backend(SchedulerName.NONE)
    script = framed(probe_script(module, wanted))
    found = frames.run(transport, script, timeout=QUERY_TIMEOUT).text
    return choose(read_probe(found), wanted, transport.target.label, module)


def query(
    transport: Transport, scheduler: BatchScheduler, job_ids: Sequence[str]
) -> dict[str, JobStatus]:
    """Every job's status in one remote command (and, for jobs the queue no longer lists,
    one to the accounting); UNKNOWN (with why) when the scheduler cannot tell."""
    if not job_ids:
        return {}
    line = shlex.join(scheduler.query_argv(job_ids))
    found = _ask(transport, scheduler, line, job_ids, "the scheduler", scheduler.parse_query)
    gone = [job for job, status in found.items() if status.state is JobState.GONE]
    argvs = scheduler.history_argvs(gone) if gone else []
    if argvs:
        line = "; ".join(shlex.join(argv) for argv in argvs)
        history = _ask(transport, scheduler, line, gone, "the accounting", scheduler.parse_history)
        found.update(history)
    return found


def _ask(  # noqa: PLR0917 - private, two callers
    transport: Transport,
    scheduler: BatchScheduler,
    line: str,
    job_ids: Sequence[str],
    who: str,
    parse: Callable[[Completed, Sequence[str]], dict[str, JobStatus]],
) -> dict[str, JobStatus]:
    """Run ``line`` on the login node and ``parse`` its answer; UNKNOWN when none came."""
    try:
        done = _command(transport, scheduler, line, QUERY_TIMEOUT)
    except CommandTimeoutError:
        return unknown(job_ids, f"{who} did not answer within {QUERY_TIMEOUT:g} s")
    except HoplabError as exc:
        return unknown(job_ids, exc.message)
    return parse(done, job_ids)


def _command(
    transport: Transport, scheduler: BatchScheduler, line: str, timeout: float
) -> Completed:
    """Run one scheduler command line inside a framed script, where detection found the
    scheduler's commands: only its own output is read."""
    return frames.run_commands(
        transport, [("command", line)], timeout=timeout, prelude=environment(scheduler)
    )["command"]


def cancel(transport: Transport, scheduler: BatchScheduler, job_ids: Sequence[str]) -> str:
    """Ask the scheduler to cancel; its complaint, if any (verification is :func:`wait_gone`)."""
    if not job_ids:
        return ""
    try:
        line = shlex.join(scheduler.cancel_argv(job_ids))
        done = _command(transport, scheduler, line, CANCEL_TIMEOUT)
    except HoplabError as exc:
        return exc.message
    return "" if done.returncode == 0 else done.stderr.strip()


def wait_gone(
    transport: Transport,
    scheduler: BatchScheduler,
    job_ids: Sequence[str],
    timeout: float = 60.0,
) -> dict[str, JobStatus]:
    """Query with backoff until no job is active; the last status of each (active = not gone)."""
    last: dict[str, JobStatus] = {}
    if not job_ids:
        return last

    def settled() -> dict[str, JobStatus] | None:
        last.update(query(transport, scheduler, job_ids))
        done = all(s.state.finished for s in last.values())
        return last if done else None

    try:
        return wait_until(
            settled, timeout, what="the jobs to leave the queue", initial=0.2, cap=5.0
        )
    except WaitTimeoutError:
        return last


def details(transport: Transport, scheduler: BatchScheduler, job_id: str) -> str:
    """What the scheduler says about how ``job_id`` ended ('' when it says nothing)."""
    argv = scheduler.details_argv(job_id)
    if argv is None:
        return ""
    try:
        done = _command(transport, scheduler, shlex.join(argv), QUERY_TIMEOUT)
    except HoplabError:
        return ""
    return scheduler.parse_details(done.stdout) if done.returncode == 0 else ""


def node_address(transport: Transport, scheduler: BatchScheduler, node: str) -> str:
    """How the login node reaches ``node`` (the scheduler's NodeAddr), else the name itself."""
    argv = scheduler.node_address_argv(node)
    if argv is None:
        return node
    try:
        done = _command(transport, scheduler, shlex.join(argv), QUERY_TIMEOUT)
    except HoplabError:
        return node
    return scheduler.parse_node_address(done.stdout) or node


def for_session(session: Session) -> BatchScheduler:
    """The backend that runs ``session``'s job, with the version seen when it was submitted."""
    return recorded_backend(session.scheduler, session.scheduler_version, session.scheduler_module)


def recorded_backend(
    name: str, version_text: str | None, module: str | None = None
) -> BatchScheduler:
    """The backend ``name``, reading the formats of the version recorded as ``MAJOR.MINOR``
    (and loading ``module`` first, where the scheduler's commands need one)."""
    version = None
    if version_text:
        major, _, minor = version_text.partition(".")
        if major.isdigit() and (minor or "0").isdigit():
            version = (int(major), int(minor or 0))
    return batch_backend(name, version, module)
