"""``hoplab doctor --job``: a short test job that shows what a session's job will meet.

It reports the node the scheduler chose, how the socket directory is there, whether ssh to
the node works through the login node's connection with the host key the login node vouches
for, and whether an ssh session on the node sees the job's /tmp (a job-private /tmp moves
Jupyter's socket into the session directory). The job starts nothing and holds no secret; it
is cancelled, and verified gone, whatever happened. A scheduler that does not answer leaves
it "unknown", never "ended".
"""

from __future__ import annotations

import secrets
import time
from contextlib import suppress
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from hoplab.errors import HoplabError
from hoplab.remote import jobs, scripts
from hoplab.schedulers.base import JobSpec, JobState, Resources
from hoplab.sessions.doctor import remote
from hoplab.sessions.doctor.report import Outcome, fail, ok, skip, warn
from hoplab.sessions.progress import Progress, Step, silent
from hoplab.ssh.mux import MuxTransport
from hoplab.tunnel.chain import open_transport
from hoplab.tunnel.reach import behind, refusal

if TYPE_CHECKING:
    from hoplab.remote.scripts import TrialStart
    from hoplab.schedulers.base import BatchScheduler, JobStatus
    from hoplab.ssh.transport import Transport

DEFAULT_TIME = 120  # seconds of walltime when the profile gives none
HOLD = 600.0  # the job ends on its own after this long at most (or its walltime)
WAIT_ROUND = 15.0  # one remote wait for the job to start
VIEW_TIMEOUT = 20.0


def trial_resources(resources: Resources) -> Resources:
    """What the test job asks for: the profile's partition, account and walltime (or 2
    minutes), none of its cores, memory or GPUs (a small job starts soonest)."""
    return replace(resources, time=resources.time or DEFAULT_TIME, cpus=None, mem=None, gpus=None)


@dataclass
class Trial:
    """One test job on ``login``'s scheduler; its checks run in order, :meth:`end` always."""

    login: Transport
    scheduler: BatchScheduler
    resources: Resources
    multiplex: bool
    timeout: float  # how long to wait for the job to start (the queue's time)
    progress: Progress = silent
    id: str = field(default_factory=lambda: secrets.token_hex(4))
    job_id: str | None = None
    started: TrialStart | None = None
    node: Transport | None = None
    last: JobStatus | None = None
    node_was_open: bool = False  # a session's master to that node was there: it stays

    @property
    def spec(self) -> JobSpec:
        return JobSpec(f"hoplab-doctor-{self.id}", "job.out", trial_resources(self.resources))

    def run(self) -> Outcome:
        """Submit the job and wait (bounded) until it runs: its node, its socket directory."""
        spec = self.spec
        hold = min(HOLD, float(spec.resources.time or DEFAULT_TIME))
        self.progress(Step("job", f"submitting a test job to {self.scheduler.name}", done=False))
        self.job_id = scripts.submit_trial(self.login, self.id, self.scheduler, spec, hold)
        began = time.monotonic()
        polls = jobs.poll_schedule()
        next_poll = began + next(polls)
        while self.started is None:
            waited = time.monotonic() - began
            if waited >= self.timeout:
                said = self.last.describe() if self.last else "not started"
                return warn(
                    f"test job {self.job_id} did not start within {self.timeout:g} s ({said})",
                    "run doctor --job again when the queue is shorter (--job-timeout waits "
                    "longer), or name a partition that has free nodes",
                )
            round_ = max(0.1, min(WAIT_ROUND, next_poll - time.monotonic(), self.timeout - waited))
            self.started = scripts.wait_trial(self.login, self.id, round_)
            if self.started is None and time.monotonic() >= next_poll:
                self.last = jobs.query(self.login, self.scheduler, [self.job_id])[self.job_id]
                next_poll = time.monotonic() + next(polls)
                hopeless = self.scheduler.hopeless(self.last)
                if hopeless is not None:
                    return fail(
                        f"test job {self.job_id} can never start: {self.last.describe()}", hopeless
                    )
                if self.last.state.ended:
                    return fail(
                        f"test job {self.job_id} ended before it ran: {self.last.describe()}",
                        "see the job's output in ~/.hoplab/doctor (removed once doctor ends) "
                        "or ask the site which partition, account or time limit to use",
                    )
                self.progress(
                    Step("job", f"test job {self.job_id}: {self.last.describe()}", done=False)
                )
        took = time.monotonic() - began
        return ok(
            f"test job {self.job_id} ran on {self.started.node} ({took:.1f} s from submission)",
            f"asked for: {_asked(self.spec.resources)}",
        )

    def node_socket_dir(self) -> Outcome:
        if self.started is None:
            return skip("not checked: the test job did not start")
        return remote.socket_dir(self.started.socket_dir, batch=False, where=self.started.node)

    def node_ssh(self) -> Outcome:
        """ssh to the node as ``up`` does: through the login node's connection, with the key
        the login node vouches for."""
        if self.started is None:
            return skip("not checked: the test job did not start")
        node = self.started.node
        target = behind(self.login.target, node, multiplex=self.multiplex)
        carrier = open_transport(target, multiplex=self.multiplex)
        self.node_was_open = isinstance(carrier, MuxTransport) and carrier.master_pid() is not None
        self.progress(Step("node", f"ssh to {node} through {self.login.target.label}", done=False))
        try:
            carrier.connect(interactive=False)
        except HoplabError as exc:
            return warn(
                f"{refusal(node, exc)}: up would fall back to TCP on the node's cluster address",
                "ask the site whether ssh to a node that runs your job is allowed "
                "(pam_slurm_adopt); the TCP fallback works, but other cluster users can reach "
                "the port (token-protected)",
            )
        self.node = carrier
        notes = list(carrier.notes)
        scanned = [note for note in notes if "scanned" in note]
        if scanned:
            return warn(
                f"ssh to {node} works, with a host key the login node scanned (trust on first use)",
                "ask the site to publish the nodes' keys in /etc/ssh/ssh_known_hosts (or an "
                "@cert-authority line) on the login node",
                "\n".join(notes),
            )
        how = "\n".join(notes) or (
            "its key was known already: in your known_hosts, or in hoplab's own from an "
            "earlier run (hoplab's are under the state directory, known_hosts/)"
        )
        return ok(f"ssh to {node} works, host key checked", how)

    def node_tmp(self) -> Outcome:
        """Whether an ssh session on the node sees the job's /tmp (its socket directory)."""
        if self.started is None or self.node is None:
            return skip("not checked: no ssh session on the node")
        node = self.started.node
        if scripts.same_view(self.node, self.id, timeout=VIEW_TIMEOUT, trial=True):
            return ok(f"{node}: ssh sessions see the job's /tmp: Jupyter's socket goes there")
        return ok(
            f"{node}: the job's /tmp is private to it: up puts Jupyter's socket in the "
            "session directory (shared home) instead",
        )

    def end(self) -> Outcome:
        """Let the job end, cancel it, verify it left the queue, remove its directory."""
        if self.job_id is None:
            self._remove()
            return skip("no test job was submitted")
        job = self.job_id
        self.progress(Step("job", f"cancelling test job {job}", done=False))
        with suppress(HoplabError):  # the cancel below ends it all the same
            scripts.end_trial(self.login, self.id, remove=False)
        complaint = jobs.cancel(self.login, self.scheduler, [job])
        last = jobs.wait_gone(self.login, self.scheduler, [job]).get(job)
        cancel = " ".join(self.scheduler.cancel_argv([job]))
        if last is None or last.state is JobState.UNKNOWN:
            why = last.reason if last else "no answer"
            return warn(
                f"test job {job}: the scheduler did not say it is gone ({why}): unknown",
                f"check the queue, and cancel it if it is still there: {cancel}",
                complaint,
            )
        if last.state.active:
            return warn(
                f"test job {job} is still {last.describe()} after it was cancelled",
                f"cancel it by hand: {cancel}",
                complaint,
            )
        self._remove()
        return ok(f"test job {job} cancelled and gone from the queue")

    def close_node(self) -> None:
        """Close the connection to the node that the check opened (not a session's)."""
        if self.node is not None and not self.node_was_open:
            self.node.close()

    def _remove(self) -> None:
        try:
            scripts.end_trial(self.login, self.id, remove=True)
        except HoplabError:
            return


def _asked(resources: Resources) -> str:
    parts = [f"time {resources.time} s"]
    if resources.queue:
        parts.append(f"partition {resources.queue}")
    if resources.account:
        parts.append(f"account {resources.account}")
    return ", ".join(parts)
