"""The sandbox's record of what it started, as a versioned JSON file written atomically.

The record is written after every step of a start, so that a start that dies half-way still
tells teardown what to end. A record of another version, or an unreadable one, is treated as a
broken leftover: teardown then relies on the namespaces alone (every daemon runs inside one).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from hoplab.testing.pids import ProcessRecord

STATE_VERSION = 3  # 2: per-host /tmp and /etc/ssh; 3: the site module tree; older ones restart


@dataclass(frozen=True)
class SandboxState:
    """What one start of the sandbox created."""

    started_at: float
    jupyter_venv: str
    processes: dict[str, ProcessRecord] = field(default_factory=dict)
    refused: tuple[str, ...] = ()  # hosts whose sshd currently refuses the test user
    complete: bool = False  # every daemon started and answered once
    contain: bool = False  # job-private /tmp and an extern step (see slurm.render_slurm_conf)
    adopt: bool = False  # the nodes' sshd admits only users with a job there (pam_slurm_adopt)

    def with_process(self, proc: ProcessRecord) -> SandboxState:
        """A copy that also records ``proc`` (replacing an older one of the same name)."""
        return replace(self, processes={**self.processes, proc.name: proc})


def load(path: Path) -> SandboxState | None:
    """The recorded state, or None when there is none or it cannot be trusted."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict) or raw.get("version") != STATE_VERSION:
        return None
    try:
        return SandboxState(
            started_at=float(raw["started_at"]),
            jupyter_venv=str(raw["jupyter_venv"]),
            processes={
                name: ProcessRecord(name, int(p["pid"]), int(p["start_ticks"]))
                for name, p in raw["processes"].items()
            },
            refused=tuple(str(host) for host in raw["refused"]),
            complete=bool(raw["complete"]),
            contain=bool(raw.get("contain", False)),
            adopt=bool(raw.get("adopt", False)),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def save(path: Path, state: SandboxState) -> None:
    """Write ``state`` atomically (temporary file, then rename), readable by everyone."""
    data = asdict(state)
    data["processes"] = {name: asdict(proc) for name, proc in state.processes.items()}
    data["refused"] = list(state.refused)
    text = json.dumps({"version": STATE_VERSION, **data}, indent=2, sort_keys=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".state-")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text + "\n")
        Path(tmp).chmod(0o644)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove(path: Path) -> None:
    """Forget the record (after a teardown)."""
    path.unlink(missing_ok=True)
