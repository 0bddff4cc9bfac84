"""The contract every scheduler backend keeps, and the values they share.

A backend is pure: it renders text and argv and parses what the scheduler printed. The
sessions layer runs those commands over ssh, so each backend can be tested against recorded
output without a cluster.
"""

from __future__ import annotations

import re
import shlex
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, ClassVar

from hoplab.errors import ConfigError
from hoplab.protocol import SchedulerPath

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from hoplab.process import Completed


class JobState(str, Enum):
    """Where a job is. UNKNOWN means the scheduler did not answer: it is not a dead job."""

    PENDING = "pending"
    RUNNING = "running"
    ENDING = "ending"  # the scheduler is tearing it down (SLURM's COMPLETING)
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    NODE_FAIL = "node_fail"
    GONE = "gone"  # the scheduler answered and no longer lists the job
    UNKNOWN = "unknown"

    @property
    def active(self) -> bool:
        """Still holds (or waits for) resources: cancelling it is not yet verified."""
        return self in {JobState.PENDING, JobState.RUNNING, JobState.ENDING}

    @property
    def ended(self) -> bool:
        """The job is over, or on its way out; its Jupyter is gone or going. UNKNOWN is not."""
        return self is not JobState.UNKNOWN and (not self.active or self is JobState.ENDING)

    @property
    def definite(self) -> bool:
        """Ended, and the scheduler says how. GONE alone (the queue forgot the job, and no
        accounting tells more) ends nothing: the launcher's own status file must say so."""
        return self.ended and self is not JobState.GONE

    @property
    def finished(self) -> bool:
        return self not in {JobState.PENDING, JobState.RUNNING, JobState.ENDING, JobState.UNKNOWN}


@dataclass(frozen=True)
class JobStatus:
    """One job as the scheduler reported it."""

    job_id: str
    state: JobState
    reason: str = ""
    node: str | None = None
    time_left: float | None = None  # seconds of walltime left, when the scheduler says
    # A pending job's start as the scheduler estimates it (Unix time), when it gives one:
    # SLURM's backfill, PBS Pro's estimated.start_time, OAR's scheduledStart.
    estimated_start: float | None = None

    def describe(self) -> str:
        """``PENDING (Resources)``, ``RUNNING on node001``, ``TIMEOUT (TimeLimit)``;
        ``PENDING (Resources), estimated start 14:32`` when the scheduler estimates one."""
        text = self.state.value.upper()
        if self.state is JobState.RUNNING and self.node:
            return f"{text} on {self.node}"
        if self.reason and self.reason.lower() not in {"none", ""}:
            text = f"{text} ({self.reason})"
        if self.state is JobState.PENDING and self.estimated_start is not None:
            text += f", estimated start {clock_time(self.estimated_start)}"
        return text


def clock_time(when: float, now: float | None = None) -> str:
    """A moment as the user's clock shows it: ``14:32`` today, ``Tue 09:15`` within a week,
    else ``2026-12-24 09:15``."""
    current = time.time() if now is None else now
    moment = time.localtime(when)
    if moment[:3] == time.localtime(current)[:3]:
        return time.strftime("%H:%M", moment)
    if 0 < when - current < 6 * 86400:
        return time.strftime("%a %H:%M", moment)
    return time.strftime("%Y-%m-%d %H:%M", moment)


def estimate(when: float | None) -> float | None:
    """A scheduler's estimated start, kept only when it is a real moment (0 and values before
    2000 are how schedulers say "not computed")."""
    return when if when is not None and when > 946684800 else None


def unknown(job_ids: Sequence[str], why: str) -> dict[str, JobStatus]:
    """Every job UNKNOWN, with why the scheduler could not tell."""
    return {job: JobStatus(job, JobState.UNKNOWN, why) for job in job_ids}


@dataclass(frozen=True)
class Resources:
    """What the job asks for. Every field is optional; the site's defaults apply otherwise."""

    queue: str | None = None  # SLURM partition, PBS/LSF/SGE/OAR queue
    time: int | None = None  # walltime in seconds
    cpus: int | None = None
    mem: str | None = None  # as given: 4G, 500M
    gpus: int | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    directives: tuple[str, ...] = ()  # raw, one per line, after the prefix
    pe: str = "smp"  # Grid Engine: the parallel environment that gives one node's cores
    mem_resource: str = "h_vmem"  # Grid Engine: the complex memory is asked with (or mem_free)


@dataclass(frozen=True)
class JobSpec:
    """One hoplab job: its name, its output file (in the session directory) and resources."""

    name: str
    output: str
    resources: Resources


class Scheduler(ABC):
    """How a session's launcher is started: the half of the contract every backend keeps.

    The plain host (``none``) stops here: it has no queue to ask, and its launcher process is
    watched and stopped by the check and stop scripts, which verify the command line first.
    """

    name: ClassVar[str]
    submit_command: ClassVar[str]  # found on the login node's PATH: the scheduler is there
    batch: ClassVar[bool] = False

    @abstractmethod
    def header(self, job: JobSpec) -> str:
        """Directive lines for the top of the job script, each value checked and quoted."""

    @abstractmethod
    def submit_argv(self, job: JobSpec) -> list[str]:
        """The submit command; it runs in the session directory with the script on stdin."""

    @abstractmethod
    def parse_job_id(self, stdout: str) -> str:
        """The job id from the submit command's output."""

    def submit_line(self, job: JobSpec) -> str:
        """The shell line that submits ``launch.sh`` from the session directory."""
        return f"{shlex.join(self.submit_argv(job))} < launch.sh"


class BatchScheduler(Scheduler):
    """A real scheduler: its queue is asked (batched), its jobs cancelled and verified gone."""

    batch: ClassVar[bool] = True
    # `version_argv` prints the release; formats may depend on it (see parse_version).
    version_argv: ClassVar[tuple[str, ...]] = ()
    # Pending reasons that no amount of waiting satisfies, each with what the user can change.
    never_satisfiable: ClassVar[Mapping[str, str]] = {}

    def __init__(self, version: tuple[int, int] | None = None, module: str | None = None) -> None:
        self.version = version
        # the site module whose `module load` puts the commands on the PATH (scheduler_module)
        self.module = module
        # where detection found the commands; every later call finds them the same way
        self.found = SchedulerPath.MODULE if module else SchedulerPath.PATH

    # What this scheduler's `version_argv` prints, with (major) and (minor) as the two groups.
    version_pattern: ClassVar[re.Pattern[str] | None] = None

    @classmethod
    def parse_version(cls, text: str) -> tuple[int, int] | None:
        """(major, minor) from the output of ``version_argv``; None when it is not this one."""
        match = cls.version_pattern.search(text) if cls.version_pattern else None
        return (int(match.group(1)), int(match.group(2))) if match else None

    @classmethod
    def recognizes(cls, text: str) -> bool:
        """Whether ``version_argv``'s output is this scheduler's (PBS, Torque and Grid Engine
        all answer to ``qsub``; their version texts tell them apart)."""
        return cls.parse_version(text) is not None

    @abstractmethod
    def query_argv(self, job_ids: Sequence[str]) -> list[str]:
        """One command that reports on every job in ``job_ids``."""

    @abstractmethod
    def parse_query(self, done: Completed, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        """A status for each of ``job_ids``; UNKNOWN when the answer says nothing reliable."""

    def history_argvs(self, job_ids: Sequence[str]) -> list[list[str]]:
        """Commands (run as one line) asking the accounting of jobs the queue no longer lists.

        Empty when the query itself already covers finished jobs (``qstat -x``, ``bjobs -a``).
        """
        return []

    def parse_history(self, done: Completed, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        """A status for each of ``job_ids`` from the history commands' output (GONE if none)."""
        return {job: JobStatus(job, JobState.GONE) for job in job_ids}

    @abstractmethod
    def cancel_argv(self, job_ids: Sequence[str]) -> list[str]:
        """The command that cancels ``job_ids``."""

    def details_argv(self, job_id: str) -> list[str] | None:
        """A command describing one job in full, for an error message (None: nothing more)."""
        return None

    def parse_details(self, stdout: str) -> str:
        """The part of the job's description that says why it ended ('' when nothing)."""
        return ""

    def attach_argv(self, job_id: str, command: str | None) -> list[str] | None:
        """The scheduler's own way into the running job ``job_id``, run on the login node:
        ``command`` (a shell line) on the job's node, or an interactive shell when None.

        For a node that refuses ssh (``hoplab shell``). None: this scheduler documents no such
        way (or none for a command); a new job (``qsub -I``) is not one.
        """
        return None

    def node_address_argv(self, node: str) -> list[str] | None:
        """A command printing how the login node reaches ``node`` (None: use the name)."""
        return None

    def parse_node_address(self, stdout: str) -> str | None:
        return None

    def hopeless(self, status: JobStatus) -> str | None:
        """For a pending job whose reason can never be satisfied, what to change; else None."""
        if status.state is not JobState.PENDING:
            return None
        return self.never_satisfiable.get(status.reason)


# -- values that reach a job script ------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def checked(key: str, value: str) -> str:
    """Refuse control characters: a newline in a directive would start a new line of script."""
    if _CONTROL.search(value):
        raise ConfigError(
            f"{value!r} contains a line break or control character",
            key=key,
            hint="give the value on one line; each --directive is one line of the job script",
        )
    if not value.strip():
        raise ConfigError("the value is empty", key=key)
    return value


_SAFE = re.compile(r"[A-Za-z0-9_.,:=+/@%^-]+")


def quoted_word(key: str, value: str) -> str:
    """One directive argument as a single word for a ``#SBATCH``-style line parser.

    Those parsers split on blanks and honour double quotes, but they are not a shell and
    their escaping differs: so a value is either plain, or double-quoted with no ``"`` or ``\\``
    inside. Anything else is refused rather than guessed at.
    """
    checked(key, value)
    if _SAFE.fullmatch(value):
        return value
    if '"' in value or "\\" in value:
        raise ConfigError(
            f"{value!r} contains a double quote or backslash, which a job script cannot carry",
            key=key,
        )
    return f'"{value}"'


def directive_lines(
    prefix: str, options: Sequence[tuple[str, str, str | None]], raw: Sequence[str]
) -> list[str]:
    """``PREFIX FLAG VALUE`` for each ``(key, flag, value)`` that has a value, each value one
    checked and quoted word; then each raw ``--directive`` as a line of its own."""
    lines = [f"{prefix} {flag} {quoted_word(key, value)}" for key, flag, value in options if value]
    return lines + [f"{prefix} {checked('directive', line)}" for line in raw]


_DURATION = re.compile(
    r"^(?:(?P<days>\d+)-)?(?:(?P<h>\d+):)?(?P<m>\d+)(?::(?P<s>\d+))?$"
    r"|^(?:(?P<hh>\d+)h)?(?:(?P<mm>\d+)m(?:in)?)?$"
)
DURATION_FORMS = "minutes (90), H:MM:SS (1:30:00), D-HH:MM:SS (2-00:00:00), or 1h30m"
MAX_DURATION = 366 * 86400  # no scheduler grants more; a bigger value is a typo


def parse_duration(text: str, key: str = "time") -> int:
    """Walltime in seconds from ``90`` (minutes), ``1:30:00``, ``2-00:00:00``, ``1h30m``, ``45m``.

    A bare number or ``MM:SS`` follow SLURM's reading: minutes first. Each part is checked
    (seconds and minutes below 60 where a larger unit follows, hours below 24 after days), and
    a zero or a year-long duration is refused: it is a typo, and a scheduler would refuse it
    only after the connection, or worse, read it as "no limit".
    """
    value = text.strip().lower()
    match = _DURATION.match(value)
    if not value or match is None:
        raise _bad_duration(text, key, "it is none of the accepted forms")
    days, hours = int(match.group("days") or 0), int(match.group("h") or 0)
    minutes, seconds = int(match.group("m") or 0), int(match.group("s") or 0)
    if match.group("hh") or match.group("mm"):
        hours, minutes = int(match.group("hh") or 0), int(match.group("mm") or 0)
        if match.group("hh") and minutes >= 60:
            raise _bad_duration(text, key, "minutes must be below 60 after hours")
    elif match.group("days") is None and match.group("h") is not None and match.group("s") is None:
        hours, minutes, seconds = 0, hours, minutes  # "MM:SS", in SLURM's reading
    elif match.group("days") is not None and match.group("h") is None:
        hours, minutes = minutes, 0  # "D-HH", in SLURM's reading
    if seconds >= 60:
        raise _bad_duration(text, key, "seconds must be below 60")
    if match.group("s") is not None and match.group("h") is not None and minutes >= 60:
        raise _bad_duration(text, key, "minutes must be below 60")
    if match.group("days") is not None and hours >= 24:
        raise _bad_duration(text, key, "hours must be below 24 after days")
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if total == 0:
        raise _bad_duration(text, key, "a duration of zero")
    if total > MAX_DURATION:
        raise _bad_duration(text, key, "longer than a year")
    return total


def _bad_duration(text: str, key: str, why: str) -> ConfigError:
    return ConfigError(
        f"cannot read {text!r} as a duration ({why}); write {DURATION_FORMS}", key=key
    )


def hms(seconds: int) -> str:
    """``H:MM:SS`` (hours may exceed 24), the walltime form most schedulers read."""
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


_CLOCK = re.compile(r"^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)$")


def parse_clock(text: str) -> float | None:
    """Seconds from ``[D-][H:]MM:SS`` as schedulers print time left; None if it says no limit."""
    match = _CLOCK.match(text.strip())
    if match is None:
        return None
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)


_MEM = re.compile(r"^\d+(?:\.\d+)?[KMGTkmgt]?[Bb]?$")


def checked_mem(value: str) -> str:
    """Memory as a number with an optional K/M/G/T unit."""
    if not _MEM.match(value.strip()):
        raise ConfigError(
            f"cannot read {value!r} as an amount of memory",
            key="mem",
            hint="write it as a number with a unit: 4G, 500M",
        )
    return value.strip()


def mem_amount(value: str) -> tuple[str, str]:
    """Memory as (number, unit K/M/G/T); a bare number is megabytes, as in SLURM's ``--mem``."""
    text = checked_mem(value).upper().removesuffix("B")
    if text[-1:].isalpha():
        return text[:-1], text[-1]
    return text, "M"


def unsupported(scheduler: str, key: str, hint: str) -> ConfigError:
    """A resource this scheduler has no directive for: say so rather than silently drop it."""
    return ConfigError(f"{scheduler} has no directive for --{key}", key=key, hint=hint)


def require_none(scheduler: str, resources: Resources, keys: Sequence[str], hint: str) -> None:
    """Refuse each of ``keys`` that ``resources`` sets: ``scheduler`` cannot express it."""
    for key in keys:
        if getattr(resources, key):
            raise unsupported(scheduler, key, hint)
