"""What ``hoplab doctor`` found: one check per thing a session needs, in the order it needs
them, each ok, warn, fail or skip, with the reason and the fix.

A check that fails is one that would stop ``up``; a warning is a path that works, degraded
(TCP instead of a socket, a noisy login, a host key from a scan). A check whose premise
failed is skipped, and says which one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from hoplab.errors import HoplabError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


class Status(str, Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


class CheckName(str, Enum):
    """Every check, in the order doctor runs (and shows) them."""

    SSH = "ssh"  # the local OpenSSH client: version, ControlMaster
    SSH_CONFIG = "ssh-config"  # the target as `ssh -G` resolves it
    AUTH = "auth"  # authentication, and whether it asked anything
    MASTER = "master"  # hoplab's shared connection (ControlMaster)
    LOGIN_SHELL = "login-shell"  # $SHELL on the target
    STARTUP_OUTPUT = "startup-output"  # what the login's startup files print
    SCHEDULER = "scheduler"
    JUPYTER = "jupyter"  # in the profile's environment: path, version, socket support
    SOCKET_DIR = "socket-dir"  # where Jupyter's socket would go
    JOB = "job"  # --job: a short test job, and the node it ran on
    NODE_SOCKET_DIR = "node-socket-dir"  # the socket directory on that node
    NODE_SSH = "node-ssh"  # ssh to that node, with the key the login node vouches for
    NODE_TMP = "node-tmp"  # whether the job's /tmp is its own
    JOB_END = "job-end"  # the test job cancelled, and verified gone
    LOCAL_PORTS = "local-ports"  # free ports on 127.0.0.1
    STATE_DIR = "state-dir"  # the local state's modes (0700 directories, 0600 files)


PASSED = {Status.OK, Status.WARN}


@dataclass(frozen=True)
class Outcome:
    """What one check found: its status, a one-line summary, more detail, and the fix."""

    status: Status
    summary: str
    detail: str = ""
    fix: str = ""


def ok(summary: str, detail: str = "") -> Outcome:
    return Outcome(Status.OK, summary, detail)


def warn(summary: str, fix: str = "", detail: str = "") -> Outcome:
    return Outcome(Status.WARN, summary, detail, fix)


def fail(summary: str, fix: str = "", detail: str = "") -> Outcome:
    return Outcome(Status.FAIL, summary, detail, fix)


def skip(summary: str) -> Outcome:
    return Outcome(Status.SKIP, summary)


@dataclass(frozen=True)
class Check:
    """One check's outcome, named."""

    name: CheckName
    status: Status
    summary: str
    detail: str = ""
    fix: str = ""

    def public(self) -> dict[str, str]:
        """The check in ``--json`` (a stable shape)."""
        return {
            "name": self.name.value,
            "status": self.status.value,
            "summary": self.summary,
            "detail": self.detail,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class Report:
    """Every check, in order. ``ok``: nothing found would stop ``up``."""

    target: str
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.status is not Status.FAIL for check in self.checks)

    def get(self, name: CheckName) -> Check:
        return next(check for check in self.checks if check.name is name)

    def public(self) -> dict[str, object]:
        return {
            "target": self.target,
            "ok": self.ok,
            "checks": [check.public() for check in self.checks],
        }


@dataclass
class Runner:
    """Runs checks in order; a check whose premise did not pass is skipped, saying which.

    A :class:`HoplabError` in a check is that check's failure (its message and hint); anything
    else (a bug, Ctrl-C) goes on up. ``on_check`` sees each check as it is decided.
    """

    on_check: Callable[[Check], None] = lambda _check: None
    done: list[Check] = field(default_factory=list)

    def status(self, name: CheckName) -> Status | None:
        """The status of check ``name``; None when it has not run."""
        found = [check.status for check in self.done if check.name is name]
        return found[-1] if found else None

    def get(self, name: CheckName) -> Check:
        """Check ``name``, which has run."""
        return [check for check in self.done if check.name is name][-1]

    def run(
        self, name: CheckName, body: Callable[[], Outcome], needs: Sequence[CheckName] = ()
    ) -> Check:
        blocked = [self.get(need) for need in needs if self.status(need) not in PASSED]
        if blocked:
            first = blocked[0]
            # a skipped premise names its own cause: the one that failed, or why it was skipped
            outcome = (
                skip(first.summary)
                if first.status is Status.SKIP
                else skip(f"not checked: {first.name.value} failed")
            )
        else:
            try:
                outcome = body()
            except HoplabError as exc:
                outcome = fail(exc.message, exc.hint)
        check = Check(name, outcome.status, outcome.summary, outcome.detail, outcome.fix)
        self.done.append(check)
        self.on_check(check)
        return check

    def report(self, target: str) -> Report:
        return Report(target, tuple(self.done))
