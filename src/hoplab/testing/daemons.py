"""Starting the sandbox's daemons in their namespaces, and proving that they are ready.

Each daemon is recorded in the state file the moment it has a PID, before anything waits on it,
so a start that fails half-way still lets teardown end it. Every wait also watches the daemons
already started: one that dies fails the start at once, with the end of its log, instead of
running into a time-out.
"""

from __future__ import annotations

import contextlib
from functools import partial
from typing import TYPE_CHECKING

from hoplab import process
from hoplab.errors import SandboxError
from hoplab.testing import netns, pids, slurm, sshd, state
from hoplab.testing.layout import LOGIN, NAMESPACES, NODES, Paths
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

    from hoplab.testing.state import SandboxState

READY_TIMEOUT = 15.0
SLURM_TIMEOUT = 30.0


def namespaces() -> dict[str, str]:
    """Every daemon of a healthy sandbox, by name, with the namespace it runs in."""
    names = {"munged": LOGIN, "slurmctld": LOGIN}
    names.update({f"slurmd@{node}": node for node in NODES})
    names.update({f"sshd@{host}": host for host in NAMESPACES})
    return names


def console_log(paths: Paths, daemon: str) -> Path:
    """Where a daemon's stdout and stderr go (sshd's only log; the others also keep a .log)."""
    return paths.logs / f"{daemon.replace('@', '-')}.out"


def launch(paths: Paths, current: SandboxState, daemon: str, argv: list[str]) -> SandboxState:
    """Start one daemon in its namespace and record it at once."""
    pid = netns.start_daemon(namespaces()[daemon], argv, console_log(paths, daemon))
    current = current.with_process(pids.record(daemon, pid))
    state.save(paths.state, current)
    return current


def wait_ready(
    paths: Paths, current: SandboxState, what: str, ready: Callable[[], bool], timeout: float
) -> None:
    """Wait for ``ready``; fail at once, with its log, if a recorded daemon died meanwhile."""

    def check() -> bool:
        for proc in current.processes.values():
            if not pids.is_alive(proc):
                raise SandboxError(
                    f"{proc.name} exited during start-up:\n{log_tail(paths, proc.name)}",
                    f"its logs are in {paths.logs}",
                )
        return ready()

    wait_until(check, timeout, what=what, hint=f"see the logs in {paths.logs}")


def start_munge_and_slurm(paths: Paths, current: SandboxState) -> SandboxState:
    """munged (waited for: SLURM needs its socket), then slurmctld and the slurmds."""
    current = launch(paths, current, "munged", slurm.munged_argv(paths))
    wait_ready(paths, current, "munged's socket", paths.munge_socket.exists, READY_TIMEOUT)
    current = launch(paths, current, "slurmctld", slurm.slurmctld_argv(paths.slurm_conf))
    for node in NODES:
        current = launch(
            paths, current, f"slurmd@{node}", slurm.slurmd_argv(paths.slurm_conf, node)
        )
    return current


def wait_slurm_ready(paths: Paths, current: SandboxState) -> None:
    """Until sinfo, run inside login01, shows every node idle."""
    wait_ready(
        paths, current, "every SLURM node to be idle", partial(_nodes_idle, paths), SLURM_TIMEOUT
    )


def start_sshds(paths: Paths, current: SandboxState, hosts: Iterable[str]) -> SandboxState:
    """Start sshd on each host, then wait until each says it is listening."""
    hosts = list(hosts)
    offsets = {host: _size(console_log(paths, f"sshd@{host}")) for host in hosts}
    for host in hosts:
        current = launch(paths, current, f"sshd@{host}", sshd.sshd_argv(paths.sshd_config(host)))
    for host in hosts:
        log = console_log(paths, f"sshd@{host}")
        listening = partial(sshd.has_listened, log, offsets[host])
        wait_ready(paths, current, f"sshd on {host}", listening, READY_TIMEOUT)
    return current


def log_tail(paths: Paths, daemon: str, lines: int = 15) -> str:
    """The last lines of a daemon's console output and of its own log file, if any."""
    console = console_log(paths, daemon)
    tails = []
    for path in (console, console.with_suffix(".log")):
        with contextlib.suppress(FileNotFoundError):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            tails.append(f"--- {path}\n" + "\n".join(text))
    return "\n".join(tails) or "(no log)"


def _nodes_idle(paths: Paths) -> bool:
    done = process.run(
        netns.in_namespace(LOGIN, slurm.sinfo_argv()),
        env={"SLURM_CONF": str(paths.slurm_conf)},
        check=False,
        timeout=15,
    )
    return done.returncode == 0 and slurm.idle_nodes(done.stdout) >= set(NODES)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
