"""``hoplab doctor TARGET``: every check a session needs, in the order it needs them.

The local ssh client, the target as ssh resolves it, authentication, the shared connection,
the login shell and what its startup prints, the scheduler, Jupyter in the profile's
environment, the socket directory, with ``--job`` a short test job on a node, and the laptop's
ports and state. Nothing is started on the target but the test job, which is cancelled and
verified gone; the connections doctor opened are closed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hoplab.remote import scripts
from hoplab.schedulers.base import BatchScheduler
from hoplab.sessions.doctor import local, remote
from hoplab.sessions.doctor.report import (
    Check,
    CheckName,
    Outcome,
    Report,
    Runner,
    Status,
    skip,
)
from hoplab.sessions.doctor.trial import Trial
from hoplab.sessions.progress import Progress, Step, silent
from hoplab.ssh.mux import MuxTransport
from hoplab.tunnel.chain import hops

if TYPE_CHECKING:
    from collections.abc import Callable

    from hoplab.remote.scripts import Probe
    from hoplab.schedulers.base import Scheduler
    from hoplab.sessions.up import UpRequest
    from hoplab.ssh.target import SshTarget

__all__ = ["Check", "CheckName", "DoctorRequest", "Report", "Status", "doctor"]


# The checks of the test job after the job itself (each one skipped when there is none).
AFTER_JOB = (
    CheckName.NODE_SOCKET_DIR,
    CheckName.NODE_SSH,
    CheckName.NODE_TMP,
    CheckName.JOB_END,
)


@dataclass(frozen=True)
class DoctorRequest:
    """The target and profile as ``up`` would be asked (``up``), and the test job."""

    up: UpRequest
    job: bool = False
    job_timeout: float = 300.0  # how long the test job may wait in the queue


@dataclass
class _Found:
    """What earlier checks learnt that later ones use."""

    probe: Probe | None = None
    scheduler: Scheduler | None = None
    batch: bool = False

    @property
    def answered(self) -> Probe:
        if self.probe is None:
            raise AssertionError("the probe has not run")
        return self.probe


def doctor(
    request: DoctorRequest,
    progress: Progress = silent,
    on_check: Callable[[Check], None] = lambda _check: None,
) -> Report:
    """Run every check (``on_check`` sees each as it is decided) and return the report."""
    up = request.up
    label = up.target.label
    runner = Runner(on_check)
    runner.run(CheckName.SSH, local.client)
    runner.run(CheckName.SSH_CONFIG, lambda: local.resolved(up.target), (CheckName.SSH,))
    connection = remote.Connection()
    opened_before: set[str] | None = None  # the chain's masters that were open already

    def authenticate() -> Outcome:
        nonlocal opened_before
        opened_before = _open_masters(up.target) if up.multiplex else set()
        progress(Step("connect", f"connecting to {label}", done=False))
        return remote.authenticate(
            up.target, connection, multiplex=up.multiplex, interactive=up.interactive
        )

    runner.run(CheckName.AUTH, authenticate, (CheckName.SSH_CONFIG,))
    try:
        _remote_checks(request, runner, connection, progress)
    finally:  # also after a failed login: a jump host's master may be up
        if opened_before is not None and up.multiplex:
            _close_new_masters(up.target, opened_before)
    runner.run(CheckName.LOCAL_PORTS, lambda: local.ports(up.port))
    runner.run(CheckName.STATE_DIR, local.state_modes)
    return runner.report(label)


def _remote_checks(
    request: DoctorRequest, runner: Runner, connection: remote.Connection, progress: Progress
) -> None:
    up = request.up
    label = up.target.label
    found = _Found()
    runner.run(CheckName.MASTER, lambda: remote.master(connection.ready), (CheckName.AUTH,))

    def ask() -> Outcome:
        progress(Step("probe", f"asking {label} about its shell and Jupyter", done=False))
        found.probe = scripts.probe(connection.ready, up.environment, up.app)
        return remote.login_shell(found.probe)

    runner.run(CheckName.LOGIN_SHELL, ask, (CheckName.AUTH,))
    runner.run(
        CheckName.STARTUP_OUTPUT,
        lambda: remote.startup_output(found.answered),
        (CheckName.LOGIN_SHELL,),
    )

    def scheduler() -> Outcome:
        progress(Step("scheduler", f"looking for a scheduler on {label}", done=False))
        what, found.scheduler = remote.find_scheduler(
            connection.ready, up.scheduler, up.scheduler_module
        )
        found.batch = what.batch
        return remote.scheduler_outcome(what, label, up.cluster_options[0])

    runner.run(CheckName.SCHEDULER, scheduler, (CheckName.AUTH,))
    runner.run(
        CheckName.JUPYTER,
        lambda: remote.jupyter(found.answered, up.app, batch=found.batch),
        (CheckName.LOGIN_SHELL,),
    )
    runner.run(
        CheckName.SOCKET_DIR,
        lambda: remote.socket_dir(found.answered.socket_dir, batch=found.batch, where=label),
        (CheckName.LOGIN_SHELL,),
    )
    queue = found.scheduler if isinstance(found.scheduler, BatchScheduler) else None
    if queue is None or not request.job or runner.status(CheckName.SCHEDULER) is Status.FAIL:
        why = (
            "no test job: add --job to run one (the profile's partition and time, or 2 min)"
            if queue is not None
            else "no test job: no batch scheduler"
        )
        runner.run(CheckName.JOB, lambda: skip(why), (CheckName.SCHEDULER,))
        for name in AFTER_JOB:
            runner.run(name, lambda: skip("no test job"), (CheckName.JOB,))
        return
    trial = Trial(
        connection.ready, queue, up.resources, up.multiplex, request.job_timeout, progress
    )
    try:
        runner.run(CheckName.JOB, trial.run, (CheckName.SCHEDULER,))
        runner.run(CheckName.NODE_SOCKET_DIR, trial.node_socket_dir, (CheckName.JOB,))
        runner.run(CheckName.NODE_SSH, trial.node_ssh, (CheckName.JOB,))
        runner.run(CheckName.NODE_TMP, trial.node_tmp, (CheckName.NODE_SSH,))
    finally:
        runner.run(CheckName.JOB_END, trial.end)
        trial.close_node()


def _chain(target: SshTarget) -> list[SshTarget]:
    return [target, *hops(target)]


def _open_masters(target: SshTarget) -> set[str]:
    """The chain's hosts that have a hoplab master already (doctor leaves those open)."""
    return {hop.key for hop in _chain(target) if MuxTransport(hop).master_pid() is not None}


def _close_new_masters(target: SshTarget, before: set[str]) -> None:
    """Close the masters of the chain that doctor opened itself, the target's first."""
    for hop in _chain(target):
        if hop.key not in before:
            MuxTransport(hop).close()
