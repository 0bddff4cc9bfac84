"""Processes the sandbox owns: recorded by PID and start time, ended by PID only.

A PID alone is not an identity: after a reboot or a long pause it may belong to someone else.
Each record therefore keeps the process's start time (field 22 of /proc/PID/stat), and nothing
is signalled unless both still match. A zombie counts as gone: on this kind of machine PID 1
reaps orphans late, and a zombie holds no socket, file or port.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from hoplab.errors import WaitTimeoutError
from hoplab.testing.layout import NETNS_DIR
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from collections.abc import Iterable

DAEMON_GRACE = 5.0  # daemons save their state on SIGTERM
LEFTOVER_GRACE = 1.0  # what is left in a namespace after its daemons: slurmstepd ignores TERM
KILL_TIMEOUT = 3.0


@dataclass(frozen=True)
class ProcessRecord:
    """One process: a name for people, the PID, and its start time in clock ticks."""

    name: str
    pid: int
    start_ticks: int


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (which may hold spaces), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), or None if there is no such process."""
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[19])


def children(parent: ProcessRecord) -> list[ProcessRecord]:
    """The live children of a recorded process (an sshd's per-connection processes)."""
    if not is_alive(parent):
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None and fields[1] == str(parent.pid):
            found.append(record(f"{parent.name}:child", int(entry.name)))
    return found


def descendants(parent: ProcessRecord) -> list[ProcessRecord]:
    """Every live process below a recorded one (a server's workers and their own children),
    deepest first, so that ending them in this order leaves none reparented to init."""
    found: list[ProcessRecord] = []
    for child in children(parent):
        found += [*descendants(child), child]
    return found


def record(name: str, pid: int) -> ProcessRecord:
    """Record a process that was just started; it must still exist."""
    ticks = start_ticks(pid)
    return ProcessRecord(name, pid, -1 if ticks is None else ticks)


def is_alive(proc: ProcessRecord) -> bool:
    """True while the recorded process runs: same PID, same start time, not a zombie."""
    fields = _stat_fields(proc.pid)
    if fields is None:
        return False
    return fields[0] not in ("Z", "X") and int(fields[19]) == proc.start_ticks


def terminate(procs: Iterable[ProcessRecord], grace: float = DAEMON_GRACE) -> list[ProcessRecord]:
    """End these processes: SIGTERM, ``grace`` seconds, then SIGKILL. Returns those signalled.

    Only processes that are still the recorded ones are touched. Raises WaitTimeoutError if a
    process survives SIGKILL (stuck in the kernel), so teardown never claims a false success.
    """
    alive = [proc for proc in procs if is_alive(proc)]
    for sig, timeout in ((signal.SIGTERM, grace), (signal.SIGKILL, KILL_TIMEOUT)):
        remaining = [proc for proc in alive if is_alive(proc)]
        if not remaining:
            break
        for proc in remaining:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, sig)
        try:
            wait_until(
                partial(_all_gone, remaining),
                timeout,
                what=f"{len(remaining)} sandbox process(es) to exit after {sig.name}",
            )
        except WaitTimeoutError:
            if sig is signal.SIGKILL:
                raise
    return alive


def _all_gone(procs: list[ProcessRecord]) -> bool:
    return not any(is_alive(proc) for proc in procs)


def namespace_id(name: str) -> tuple[int, int] | None:
    """(device, inode) of the named network namespace, or None if it does not exist."""
    try:
        st = (NETNS_DIR / name).stat()
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def processes_in_namespaces(names: Iterable[str]) -> list[ProcessRecord]:
    """Every live process whose network namespace is one of ``names``.

    These are our daemons and their children (ssh sessions, slurmstepd, jobs, Jupyter): all of
    them belong to the harness, whoever recorded them.
    """
    wanted = {nsid: name for name in names if (nsid := namespace_id(name)) is not None}
    if not wanted:
        return []
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            st = (entry / "ns" / "net").stat()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue  # gone, a kernel thread, or a zombie
        name = wanted.get((st.st_dev, st.st_ino))
        if name is not None:
            pid = int(entry.name)
            ticks = start_ticks(pid)
            if ticks is not None:
                found.append(ProcessRecord(f"{name}:{pid}", pid, ticks))
    return found
