"""A session as hoplab records it locally, and its states."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from typing import Any

from hoplab.errors import SessionStateError
from hoplab.process import is_hoplab
from hoplab.protocol import VERSION, SchedulerName
from hoplab.ssh.target import SshTarget


class SessionState(str, Enum):
    """Where a session is in its life. READY and DETACHED differ only by a foreground client."""

    STARTING = "starting"
    READY = "ready"
    DETACHED = "detached"
    STOPPED = "stopped"
    LOST = "lost"
    ENDED = "ended"  # the batch job ended on its own: walltime, cancelled outside, node failure
    FAILED = "failed"
    # a ``down`` from another computer stopped it (its tombstone said so): the record stays
    # until a ``down`` or ``ls --prune`` here settles it
    STOPPED_ELSEWHERE = "stopped-elsewhere"

    @property
    def is_live(self) -> bool:
        return self in {SessionState.STARTING, SessionState.READY, SessionState.DETACHED}


APP_PATHS = {"lab": "lab", "notebook": "tree"}


@dataclass
class ExtraForward:
    """``--forward NAME=PORT``: a local port to PORT on Jupyter's host, beside Jupyter."""

    name: str
    port: int
    local_port: int | None = None
    pid: int | None = None  # the ssh process, without multiplexing
    socket: str | None = None  # the local Unix socket ssh forwards (None: ssh served the port)


@dataclass
class Session:
    """One Jupyter server that hoplab started, and how to reach it."""

    id: str
    target: str
    destination: str
    jumps: tuple[str, ...]
    ssh_config: str | None
    multiplex: bool
    app: str
    token: str = field(repr=False)
    state: SessionState = SessionState.STARTING
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    scheduler: str = SchedulerName.NONE.value
    remote_dir: str | None = None
    remote_host: str | None = None
    remote: str | None = None
    socket: str | None = None
    jupyter_pid: int | None = None
    base_url: str = "/"
    local_port: int | None = None
    forward_pid: int | None = None
    attached_pid: int | None = None
    error: str | None = None
    scheduler_version: str | None = None
    scheduler_module: str | None = None  # `module load` this to find the scheduler's commands
    job_id: str | None = None
    node: str | None = None
    reach: str | None = None
    forwards: list[ExtraForward] = field(default_factory=list)
    walltime_end: float | None = None  # epoch seconds, from the scheduler's time left
    estimated_start: float | None = None  # epoch seconds: the queue's estimate, while pending
    lease_seconds: int | None = None  # Jupyter ends when no client renewed it this long
    orphan: bool = False  # found running with no owner: its hoplab died, or no record knew it
    protocol: int = VERSION  # the protocol of the hoplab that started it (1 before it was kept)
    socket_home: bool = False  # the job's socket moved to the session directory (job /tmp)
    # the scheduler said the job is over (or no longer lists it, and its launcher recorded
    # its end): nothing asks about that job again (a long-purged id only earns an error)
    job_over: bool = False
    master_idle: int = 600  # seconds its masters outlive it once no live session rides them
    # The local Unix socket ssh forwards to Jupyter, which the relay of the process ``relay_pid``
    # serves on ``local_port``; None in records of a hoplab whose ssh served the port itself.
    forward_socket: str | None = None
    relay_pid: int | None = None

    @property
    def batch(self) -> bool:
        """Run by a scheduler on a compute node (not detached on the ssh host itself)."""
        return self.scheduler != SchedulerName.NONE

    @property
    def ssh_target(self) -> SshTarget:
        return SshTarget(self.destination, self.jumps, self.ssh_config)

    @property
    def target_key(self) -> str:
        return target_key(self.ssh_target, self.app)

    def url(self, *, with_token: bool) -> str | None:
        """The local URL; with the token only when it is shown to the user as the result."""
        if self.local_port is None:
            return None
        url = f"http://127.0.0.1:{self.local_port}{self.base_url}{APP_PATHS[self.app]}"
        return f"{url}?token={self.token}" if with_token else url

    @property
    def held(self) -> bool:
        """A hoplab process holds it: the ``up`` starting it, or a supervisor (still running).

        The recorded PID counts only while it is still a hoplab process of this user: a number
        reused by another program after a reboot holds nothing.
        """
        return self.attached_pid is not None and is_hoplab(self.attached_pid)

    @property
    def starting_elsewhere(self) -> bool:
        """Still being started by an ``up`` that is alive, and not this process."""
        return (
            self.state is SessionState.STARTING and self.held and self.attached_pid != os.getpid()
        )

    @property
    def shown_state(self) -> SessionState:
        """READY while a foreground hoplab holds the session, DETACHED otherwise."""
        if self.state in {SessionState.READY, SessionState.DETACHED}:
            return SessionState.READY if self.held else SessionState.DETACHED
        return self.state

    def settle(self, state: SessionState, error: str | None = None) -> None:
        """Move to ``state`` with no foreground client (detached, or finished with ``error``)."""
        self.state = state
        self.attached_pid = None
        self.error = error

    def hold(self, *, detach: bool, by: int | None = None) -> str:
        """Mark the session ready, held by the process ``by`` (this one when None) unless
        ``detach``; its URL with token."""
        self.state = SessionState.DETACHED if detach else SessionState.READY
        self.attached_pid = None if detach else by or os.getpid()
        url = self.url(with_token=True)
        if url is None:
            raise ValueError(f"session {self.id} has no local port yet")
        return url

    def public(self) -> dict[str, Any]:
        """The documented JSON shape (``--json``); never the token."""
        return {
            "id": self.id,
            "target": self.target,
            "destination": self.ssh_target.label,
            "state": self.shown_state.value,
            "app": self.app,
            "scheduler": self.scheduler,
            "job_id": self.job_id,
            "host": self.node or self.remote_host,
            "reach": self.reach,
            "walltime_end": self.walltime_end,
            "estimated_start": self.estimated_start,
            "lease_seconds": self.lease_seconds,
            "orphan": self.orphan,
            "forwards": [
                {"name": f.name, "port": f.port, "local_port": f.local_port} for f in self.forwards
            ],
            "listen": "socket" if self.socket else ("tcp" if self.remote else None),
            "url": self.url(with_token=False),
            "local_port": self.local_port,
            "jupyter_pid": self.jupyter_pid,
            "forward_pid": self.forward_pid,
            "relay_pid": self.relay_pid,
            "multiplex": self.multiplex,
            "created": self.created,
            "error": self.error,
        }

    def to_record(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        data["jumps"] = list(self.jumps)
        return data

    def require_protocol(self) -> None:
        """Refuse to drive a session whose remote side speaks a newer protocol than ours."""
        if self.protocol > VERSION:
            raise SessionStateError(
                f"session {self.id} was started by a newer hoplab (protocol {self.protocol}; "
                f"this one speaks {VERSION})",
                "upgrade hoplab (pip install -U hoplab) to attach to it or stop it",
            )

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Session:
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["state"] = SessionState(values["state"])
        values["jumps"] = tuple(values.get("jumps", ()))
        values["forwards"] = [ExtraForward(**f) for f in values.get("forwards", [])]
        return cls(**values)


def target_key(target: SshTarget, app: str) -> str:
    """What makes two sessions interchangeable for reuse: the same ssh chain and front end."""
    return f"{target.key}:{app}"
