"""From launch to Jupyter's handshake: watch the job, the queue and the launcher.

A cheap remote wait (one command over the master) sees the handshake within ~100 ms; the
scheduler is asked only on :func:`jobs.poll_schedule` (1, 2, 4, 8, then 15 s), to show the
queue state and to notice a job that ends, fails or can never start. The start timeout counts
from the moment the job runs: time in the queue is the cluster's, and Ctrl-C ends it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hoplab.errors import JobEndedError, JupyterStartError, ProtocolError, RemoteError
from hoplab.launcher import handshake
from hoplab.protocol import LauncherStatus, Reply
from hoplab.remote import jobs, scripts
from hoplab.schedulers.base import JobState, JobStatus
from hoplab.sessions.progress import Progress, Step

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from hoplab.launcher.handshake import ServerInfo
    from hoplab.records.model import Session
    from hoplab.schedulers.base import BatchScheduler
    from hoplab.ssh.transport import Transport

# One remote wait lasts at most this long, so progress can be shown between rounds.
WAIT_ROUND = 15.0


@dataclass
class Watch:
    """What is known so far about a starting session's job."""

    transport: Transport
    session: Session
    queue: BatchScheduler | None  # None on a plain host: no queue to ask
    progress: Progress
    timeout: float
    on_node: Callable[[str], None] | None = None
    on_estimate: Callable[[Session], None] | None = None  # saves the record (``ls`` reads it)
    clock: Callable[[], float] = time.monotonic
    began: float = -1.0  # when the watch began (the clock's reading); -1: now
    running_since: float | None = None
    last: JobStatus | None = None
    polls: Iterator[float] = field(default_factory=jobs.poll_schedule)
    next_poll: float = 0.0

    def __post_init__(self) -> None:
        if self.began < 0:
            self.began = self.clock()
        if self.queue is None:
            self.running_since = self.began
        self.next_poll = self.began + next(self.polls)

    @property
    def deadline(self) -> float | None:
        return None if self.running_since is None else self.running_since + self.timeout

    @property
    def queued(self) -> float:
        """Seconds the job waited in the queue (so far, while it still waits); 0 off a queue."""
        return (self.clock() if self.running_since is None else self.running_since) - self.began

    def round_length(self) -> float:
        now = self.clock()
        budget = WAIT_ROUND
        if self.queue is not None:
            budget = min(budget, self.next_poll - now)
        if self.deadline is not None:
            budget = min(budget, self.deadline - now)
        return max(0.1, budget)

    def running(self, node: str | None) -> None:
        """The job runs (seen by the scheduler or by the launcher's own handshake)."""
        if self.running_since is not None:
            return
        self.running_since = self.clock()
        self.session.estimated_start = None
        if self.last is not None and self.last.state is JobState.PENDING:
            self.progress(Step("queue", self.last.describe(), self.running_since - self.began))
        where = node or (self.last.node if self.last else None) or "a node"
        self.progress(Step("job", f"RUNNING on {where}"))
        self.progress(Step("start", "starting Jupyter", done=False))

    def poll(self) -> None:
        """Ask the scheduler, on schedule; raise when the job can no longer give us Jupyter."""
        if self.queue is None or self.clock() < self.next_poll:
            return
        job = self.session.job_id or ""
        status = jobs.query(self.transport, self.queue, [job])[job]
        self.next_poll = self.clock() + next(self.polls)
        self.last = status
        if status.time_left is not None:
            self.session.walltime_end = time.time() + status.time_left
        if status.state is not JobState.UNKNOWN:
            # refreshed at each query while pending (``ls`` shows it); gone once it runs
            self.session.estimated_start = status.estimated_start
            if self.on_estimate is not None:
                self.on_estimate(self.session)
        hint = self.queue.hopeless(status)
        if hint is not None:
            raise JobEndedError(f"job {job} can never start: {status.reason}", hint=hint)
        if status.state is JobState.PENDING:
            waited = self.clock() - self.began
            self.progress(Step("queue", status.describe(), waited, done=False))
        elif status.state is JobState.RUNNING:
            self.session.node = status.node or self.session.node
            self.running(status.node)
        elif status.state is JobState.UNKNOWN:
            self.progress(Step("queue", f"scheduler did not answer ({status.reason})", done=False))
        elif status.state.ended:
            said = jobs.details(self.transport, self.queue, job)
            raise JobEndedError(
                f"job {job} ended before Jupyter was ready: {status.describe()}"
                + (f" ({said})" if said else ""),
                scripts.read_log(self.transport, self.session.id, lines=20),
                f"'hoplab logs {self.session.id}' shows the job's whole output",
            )


def wait_ready(watch: Watch) -> ServerInfo:
    """Until Jupyter's handshake appears; every failure becomes a clear error."""
    session, transport = watch.session, watch.transport
    state = LauncherStatus.NONE
    while True:
        reply = scripts.wait_round(
            transport, session, watch.round_length(), ask=watch.on_node is not None
        )
        if reply.kind is Reply.READY:
            info = handshake.server_info(reply.payload)
            if info is not None:
                return info
        elif reply.kind is Reply.FAILED:
            raise scripts.launch_failure(reply, session)
        elif reply.kind is Reply.EXITED:
            raise JupyterStartError(
                f"Jupyter exited during start-up on {session.node or session.remote_host}",
                reply.payload,
                f"the log lines above say why; 'hoplab logs {session.id}' shows the whole log",
            )
        elif reply.kind is Reply.GONE:
            raise RemoteError(f"the session directory {session.remote_dir} disappeared")
        elif reply.kind is Reply.NODE and watch.on_node is not None:
            watch.running(reply.arg(0))
            watch.on_node(reply.arg(0))
        elif reply.kind is Reply.WAITING:
            state = LauncherStatus.parse(reply.arg(0), str(reply))
            if state is not LauncherStatus.NONE:
                watch.running(None)
        elif reply.kind is not Reply.NODE:
            raise ProtocolError(f"an unexpected answer to a wait: {reply}")
        watch.poll()
        deadline = watch.deadline
        if deadline is not None and watch.clock() >= deadline:
            raise JupyterStartError(
                f"Jupyter did not become ready within {watch.timeout:g} s "
                f"(launcher state: {state})",
                scripts.read_log(transport, session.id, lines=20),
                "raise --start-timeout if the host is slow, or read the log above",
            )
