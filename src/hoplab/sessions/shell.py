"""``hoplab shell``: a shell (or one command) on the host where a session's Jupyter runs.

Over ssh through the login node's master when ssh reaches that host (no new prompt); else,
for a job whose node refuses ssh, through the scheduler's own way into the running job
(``srun --overlap --jobid``, ``condor_ssh_to_job``...), said as a note.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hoplab import process
from hoplab.errors import HoplabError, SessionStateError
from hoplab.remote import jobs
from hoplab.sessions import hostside
from hoplab.tunnel.reach import refusal

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hoplab.records.model import Session
    from hoplab.records.store import SessionStore
    from hoplab.schedulers.base import BatchScheduler
    from hoplab.ssh.transport import Transport


@dataclass(frozen=True)
class ShellPlan:
    """The ssh argv to run on this terminal, where it lands, and (``note``) why it goes
    through the scheduler instead of ssh to the node."""

    session: Session
    argv: list[str]
    host: str
    note: str | None = None

    @property
    def through_scheduler(self) -> bool:
        return self.note is not None


def plan_shell(
    session_id: str,
    store: SessionStore,
    *,
    command: Sequence[str] = (),
    tty: bool | None = None,
    interactive: bool = False,
) -> ShellPlan:
    """How to open the shell: ``command`` (joined as ssh joins it, read by the remote shell),
    or an interactive login shell when empty. ``tty``: a remote terminal (default: only for
    the interactive shell, as with ssh)."""
    session = hostside.live_session(session_id, store)
    terminal = not command if tty is None else tty
    login = hostside.login(session, interactive=interactive)
    where = session.node or session.remote_host or session.ssh_target.destination
    if not hostside.over_ssh(session):
        why = (
            f"ssh to {where} was refused when the session started (Jupyter runs on its "
            "cluster address through the login node)"
        )
        return _through_scheduler(session, login, command, terminal, why)
    try:
        carrier = hostside.host(session, login, interactive=False)
    except HoplabError as exc:
        if not session.batch or not session.node:
            raise
        return _through_scheduler(session, login, command, terminal, refusal(session.node, exc))
    return ShellPlan(session, carrier.command(*command, tty=terminal), where)


def run_shell(plan: ShellPlan) -> int:
    """Run the planned shell on this terminal; its exit code."""
    return process.attached(plan.argv)


def _through_scheduler(
    session: Session, login: Transport, command: Sequence[str], tty: bool, why: str
) -> ShellPlan:
    scheduler = jobs.for_session(session)
    line = " ".join(command) if command else None
    argv = attach_argv(scheduler, session, line)
    # The login shell may be tcsh or fish: it reads one quoted word, sh runs the rest.
    remote = ("sh", "-c", shlex.quote(f"exec {shlex.join(argv)}"))
    note = f"{why}: going in through {scheduler.name}'s own way into job {session.job_id}"
    return ShellPlan(session, login.command(*remote, tty=tty), session.node or "", note)


def attach_argv(scheduler: BatchScheduler, session: Session, line: str | None) -> list[str]:
    """The scheduler's way into the session's job, or an error that says what there is."""
    argv = scheduler.attach_argv(session.job_id or "", line) if session.job_id else None
    if argv is not None:
        return argv
    if line is not None and scheduler.attach_argv(session.job_id or "", None) is not None:
        raise SessionStateError(
            f"ssh to {session.node} is refused, and {scheduler.name} goes into a running job "
            "only with an interactive shell, not one command",
            f"run 'hoplab shell {session.id}' without a command",
        )
    raise SessionStateError(
        f"ssh to {session.node} is refused, and {scheduler.name} documents no way into a "
        f"running job (a new interactive job would not see job {session.job_id})",
        "ask the site whether ssh to compute nodes can be allowed for your jobs "
        "(pam_slurm_adopt and the like)",
    )
