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
from hoplab.testing import gridengine, netns, oar, pids, slurm, sshd, state
from hoplab.testing.layout import LOGIN, NAMESPACES, NODES, Paths
from hoplab.testing.tools import tool
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

    from hoplab.testing.state import SandboxState

READY_TIMEOUT = 15.0
SLURM_TIMEOUT = 30.0
GRIDENGINE_TIMEOUT = 30.0
# Ended with SIGKILL at once on teardown: sge_qmaster's controlled shutdown takes 6-8 s here,
# only to save a spool that the next start wipes anyway.
NO_GRACE = frozenset({"sge_qmaster"})


def namespaces() -> dict[str, str]:
    """Every daemon of a healthy sandbox, by name, with the namespace it runs in."""
    names = {"munged": LOGIN, "slurmctld": LOGIN}
    names.update({f"slurmd@{node}": node for node in NODES})
    names["sge_qmaster"] = LOGIN
    names.update({f"sge_execd@{node}": node for node in NODES})
    names.update({f"sshd@{host}": host for host in NAMESPACES})
    return names


def console_log(paths: Paths, daemon: str) -> Path:
    """Where a daemon's stdout and stderr go (sshd's only log; the others also keep a .log)."""
    return paths.logs / f"{daemon.replace('@', '-')}.out"


def launch(
    paths: Paths, current: SandboxState, daemon: str, argv: list[str], host: str | None = None
) -> SandboxState:
    """Start one daemon in its namespace (``host``, else its usual one) and record it at once."""
    host = host or namespaces()[daemon]
    pid = netns.start_daemon(host, argv, console_log(paths, daemon), paths.binds(host))
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


def restart_slurm(paths: Paths, current: SandboxState) -> SandboxState:
    """slurmctld and the slurmds again, by their recorded PIDs (slurm.conf changed)."""
    names = ["slurmctld", *(f"slurmd@{node}" for node in NODES)]
    pids.terminate([current.processes[name] for name in names])
    current = launch(paths, current, "slurmctld", slurm.slurmctld_argv(paths.slurm_conf))
    for node in NODES:
        current = launch(
            paths, current, f"slurmd@{node}", slurm.slurmd_argv(paths.slurm_conf, node)
        )
    # jobs may still run (a test that failed half-way): the nodes answer, idle or not
    wait_ready(
        paths, current, "every SLURM node to answer", partial(_nodes_up, paths), SLURM_TIMEOUT
    )
    return current


def wait_slurm_ready(paths: Paths, current: SandboxState) -> None:
    """Until sinfo, run inside login01, shows every node idle."""
    wait_ready(
        paths, current, "every SLURM node to be idle", partial(_nodes_idle, paths), SLURM_TIMEOUT
    )


OAR_TIMEOUT = 60.0


def start_oar(paths: Paths, current: SandboxState) -> SandboxState:
    """PostgreSQL, OAR's database, Almighty, the nodes' OAR sshd, then every core Alive."""
    password = oar.prepare_database(paths)
    process.run(oar.initdb_argv(paths), timeout=120)
    log = console_log(paths, oar.POSTGRES)
    offset = _size(log)
    current = launch(paths, current, oar.POSTGRES, oar.postgres_argv(paths), LOGIN)

    def accepting() -> bool:
        return b"ready to accept connections" in _read_from(log, offset)

    wait_ready(paths, current, "PostgreSQL for OAR", accepting, OAR_TIMEOUT)
    _as_login(paths, oar.create_database_argv(password), check=True, timeout=120)
    current = launch(paths, current, oar.ALMIGHTY, oar.almighty_argv(), LOGIN)
    offsets = {node: _size(console_log(paths, f"{oar.NODE_SSHD}@{node}")) for node in NODES}
    for node in NODES:
        current = launch(paths, current, f"{oar.NODE_SSHD}@{node}", oar.node_sshd_argv(), node)
    for node in NODES:
        listening = partial(
            sshd.has_listened, console_log(paths, f"{oar.NODE_SSHD}@{node}"), offsets[node]
        )
        wait_ready(paths, current, f"OAR's sshd on {node}", listening, READY_TIMEOUT)
    _as_login(paths, ["sh", "-c", oar.resources_script(NODES)], check=True, timeout=120)

    def alive() -> bool:
        done = _as_login(paths, ["oarnodes", "-s"])
        return done.returncode == 0 and oar.alive_nodes(done.stdout) >= set(NODES)

    wait_ready(paths, current, "every OAR node to be Alive", alive, OAR_TIMEOUT)
    return current


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read()
    except FileNotFoundError:
        return b""


def start_qmaster(paths: Paths, current: SandboxState) -> SandboxState:
    """sge_qmaster on login01; :func:`start_execds` waits for it."""
    return launch(paths, current, "sge_qmaster", gridengine.qmaster_argv(paths))


def start_execds(paths: Paths, current: SandboxState) -> SandboxState:
    """Once the qmaster answers: load the queue and its hosts, then start one execd per node."""
    wait_ready(
        paths, current, "sge_qmaster to answer", partial(_qmaster_answers, paths), READY_TIMEOUT
    )
    _as_login(paths, gridengine.configure_argv(paths), check=True)
    for node in NODES:
        current = launch(paths, current, f"sge_execd@{node}", gridengine.execd_argv(paths))
    return current


def wait_gridengine_ready(paths: Paths, current: SandboxState) -> None:
    """Until qstat, run on login01, shows the queue on every node without a state flag."""
    wait_ready(
        paths,
        current,
        f"every Grid Engine node to serve {gridengine.QUEUE}",
        partial(_queues_ready, paths),
        GRIDENGINE_TIMEOUT,
    )


def start_sshds(paths: Paths, current: SandboxState, hosts: Iterable[str]) -> SandboxState:
    """Start sshd on each host, then wait until each says it is listening."""
    hosts = list(hosts)
    offsets = {host: _size(console_log(paths, f"sshd@{host}")) for host in hosts}
    for host in hosts:
        # SLURM_CONF in sshd's own environment: pam_slurm_adopt reads it, inside sshd
        argv = [
            tool("env"),
            f"SLURM_CONF={paths.slurm_conf}",
            *sshd.sshd_argv(paths.sshd_config(host)),
        ]
        current = launch(paths, current, f"sshd@{host}", argv)
    for host in hosts:
        log = console_log(paths, f"sshd@{host}")
        listening = partial(sshd.has_listened, log, offsets[host])
        wait_ready(paths, current, f"sshd on {host}", listening, READY_TIMEOUT)
    return current


def log_tail(paths: Paths, daemon: str, lines: int = 15) -> str:
    """The last lines of a daemon's console output and of its own log file, if any."""
    console = console_log(paths, daemon)
    tails = []
    own_log = gridengine.log_files(paths).get(daemon, console.with_suffix(".log"))
    for path in (console, own_log):
        with contextlib.suppress(FileNotFoundError):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            tails.append(f"--- {path}\n" + "\n".join(text))
    return "\n".join(tails) or "(no log)"


def _sinfo(paths: Paths) -> process.Completed:
    return process.run(
        netns.in_namespace(LOGIN, slurm.sinfo_argv()),
        env={"SLURM_CONF": str(paths.slurm_conf)},
        check=False,
        timeout=15,
    )


def _nodes_idle(paths: Paths) -> bool:
    done = _sinfo(paths)
    return done.returncode == 0 and slurm.idle_nodes(done.stdout) >= set(NODES)


def _nodes_up(paths: Paths) -> bool:
    done = _sinfo(paths)
    return done.returncode == 0 and slurm.responding_nodes(done.stdout) >= set(NODES)


def _as_login(
    paths: Paths, argv: list[str], *, check: bool = False, timeout: float = 15
) -> process.Completed:
    """Run a command (Grid Engine's, OAR's) as root on login01, as that host sees the files."""
    return process.run(
        netns.as_host(LOGIN, argv, paths.binds(LOGIN)),
        env=gridengine.client_env(paths.sge_root),
        check=check,
        timeout=timeout,
    )


def _qmaster_answers(paths: Paths) -> bool:
    return _as_login(paths, gridengine.qmaster_probe_argv()).returncode == 0


def _queues_ready(paths: Paths) -> bool:
    done = _as_login(paths, gridengine.queue_status_argv())
    return done.returncode == 0 and gridengine.ready_nodes(done.stdout) >= set(NODES)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
