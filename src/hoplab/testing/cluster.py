"""The sandbox as a whole: start it (or reuse it), inspect it, tear it down.

Start order: blackhole route, Jupyter venv, namespaces, users and keys, config files, then the
daemons (munged, slurmctld, slurmd x2, sge_qmaster, sshd x3, sge_execd x2), each recorded by
PID in the state file the moment it exists. Any failure tears down what was made. Teardown
ends the recorded daemons, then every process still inside our namespaces (jobs included),
then deletes the namespaces and the route.
All of it runs under a file lock, so a test session and a ``hoplab sandbox`` command cannot
start or stop the cluster under each other.
"""

from __future__ import annotations

import contextlib
import fcntl
import pwd
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from hoplab.errors import SandboxError
from hoplab.testing import daemons, files, netns, oar, otp, pids, site, sshd, state
from hoplab.testing.info import SandboxInfo
from hoplab.testing.jupyter_env import Progress, ensure_jupyter_venv
from hoplab.testing.layout import (
    CLUSTER_ADDRESSES,
    DEFAULT_JUPYTER_VENV,
    DEFAULT_ROOT,
    LOGIN,
    LOGIN_ADDRESS,
    LOGIN_ALIAS,
    LOGINS,
    NAMESPACES,
    NODES,
    OTHER_USER,
    USER,
    Paths,
)
from hoplab.testing.state import SandboxState
from hoplab.testing.tools import missing_requirements
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator

    from hoplab.testing.pids import ProcessRecord

LOCK_TIMEOUT = 1500.0  # a first start may hold the lock while it installs jupyterlab


@dataclass(frozen=True)
class DaemonStatus:
    """One recorded daemon and whether it still runs."""

    name: str
    pid: int
    alive: bool


@dataclass(frozen=True)
class SandboxStatus:
    """What is there right now: the record, the daemons, the namespaces, the route."""

    root_dir: Path
    healthy: bool
    busy: bool  # another process holds the lock: a start or stop is under way
    started_at: float | None
    daemons: tuple[DaemonStatus, ...]
    namespaces: dict[str, bool]
    blackhole: bool
    refused: tuple[str, ...]


@dataclass(frozen=True)
class TeardownReport:
    """What a teardown ended and removed; all empty when there was nothing to do."""

    stopped: tuple[ProcessRecord, ...]
    namespaces: tuple[str, ...]
    blackhole_removed: bool


def _quiet(message: str) -> None:
    """Default progress callback: the library never prints."""


class Sandbox:
    """A real cluster on this machine: login01, node001, node002, sshd, SLURM, Grid Engine, Jupyter.

    The namespace names and addresses are fixed, so there is at most one sandbox per machine;
    ``root_dir`` only says where its files live.
    """

    def __init__(
        self, root_dir: Path = DEFAULT_ROOT, jupyter_venv: Path = DEFAULT_JUPYTER_VENV
    ) -> None:
        if any(ch.isspace() for ch in str(root_dir)):
            raise SandboxError(
                f"the sandbox directory {root_dir} contains whitespace",
                "choose a path without spaces",
            )
        self.paths = Paths(Path(root_dir))
        self.jupyter_venv = Path(jupyter_venv)

    # public API -------------------------------------------------------------------------

    def up(self, progress: Progress | None = None) -> SandboxInfo:
        """Start the sandbox, or reuse a healthy running one; tear down a broken leftover.

        ``progress`` receives one line per slow step (the first start installs jupyterlab).
        """
        report = progress or _quiet
        missing = missing_requirements()
        if missing:
            raise SandboxError("the sandbox cannot run here: " + "; ".join(missing))
        with self._locked():
            current = state.load(self.paths.state)
            if current is not None and self._healthy(current):
                ensure_jupyter_venv(self.jupyter_venv, report)
                netns.set_root_link(up=True)  # a test that cut it may have died before undoing
                self.pin_login(None)
                for host in current.refused:
                    current = self._set_ssh_access(current, host, refuse=False)
                if current.contain or current.adopt:
                    current = self._set_site(current, contain=False, adopt=False)
                    state.save(self.paths.state, current)
                for login in LOGINS:
                    current = self._hide_scheduler(current, login, hidden=False)
                return self._info(current, reused=True)
            if self._leftovers():
                report("removing a broken earlier sandbox")
                self._teardown()
            try:
                started = self._start(report)
            except BaseException:
                self._teardown()
                raise
            return self._info(started, reused=False)

    def down(self) -> TeardownReport:
        """Stop everything the sandbox started and remove its namespaces and route.

        Idempotent: a second call finds nothing and reports so.
        """
        with self._locked():
            return self._teardown()

    def status(self) -> SandboxStatus:
        """The recorded daemons (alive or not), the namespaces and the route, as they are."""
        current = state.load(self.paths.state)
        procs = current.processes.values() if current else ()
        return SandboxStatus(
            root_dir=self.paths.root,
            healthy=current is not None and self._healthy(current),
            busy=self._busy(),
            started_at=current.started_at if current else None,
            daemons=tuple(DaemonStatus(p.name, p.pid, pids.is_alive(p)) for p in procs),
            namespaces={name: netns.namespace_exists(name) for name in NAMESPACES},
            blackhole=netns.blackhole_present(),
            refused=current.refused if current else (),
        )

    def info(self) -> SandboxInfo:
        """The running sandbox (SandboxError if there is none, or it is broken)."""
        current = state.load(self.paths.state)
        if current is None or not self._healthy(current):
            raise SandboxError("the sandbox is not running", "start it with 'hoplab sandbox up'")
        return self._info(current, reused=True)

    def refuse_ssh(self, host: str) -> None:
        """Make ``host``'s sshd refuse the test user (``DenyUsers``), restarting only it."""
        self._change_ssh_access(host, refuse=True)

    def allow_ssh(self, host: str) -> None:
        """Undo :meth:`refuse_ssh` (a fresh or reused ``up()`` also undoes it)."""
        self._change_ssh_access(host, refuse=False)

    def restart_ssh(self, host: str) -> None:
        """Restart ``host``'s sshd and drop every connection it holds (as a reboot would).

        Only the sshd this sandbox started and its own per-connection children are signalled.
        """
        with self._locked():
            current = state.load(self.paths.state)
            if current is None or not self._healthy(current):
                raise SandboxError("the sandbox is not running", "start it first")
            listener = current.processes[f"sshd@{host}"]
            pids.terminate([*pids.children(listener), listener])
            state.save(self.paths.state, daemons.start_sshds(self.paths, current, [host]))

    def set_site(self, *, contain: bool, adopt: bool) -> None:
        """Switch the nodes the way many sites run them: ``contain`` gives each job a private
        /tmp (``job_container/tmpfs``, restarting SLURM's daemons; see
        :func:`slurm.render_slurm_conf` for why no test uses it here), ``adopt`` lets the test
        user ssh to a node only while a job of theirs runs there (``pam_slurm_adopt`` and
        ``PrologFlags=contain``, restarting the nodes' sshd too). A fresh or reused ``up()``
        switches both off again."""
        with self._locked():
            current = state.load(self.paths.state)
            if current is None or not self._healthy(current):
                raise SandboxError("the sandbox is not running", "start it first")
            state.save(self.paths.state, self._set_site(current, contain=contain, adopt=adopt))

    def _set_site(self, current: SandboxState, *, contain: bool, adopt: bool) -> SandboxState:
        if contain != current.contain or adopt != current.adopt:
            files.write_slurm_conf(self.paths, contain=contain, extern=adopt)
            current = daemons.restart_slurm(self.paths, current)
        if adopt != current.adopt:
            for node in NODES:
                files.write_node_pam(self.paths, node, adopt=adopt)
                files.write_sshd_config(self.paths, node, refuse=False, adopt=adopt)
            pids.terminate([current.processes[f"sshd@{node}"] for node in NODES])
            current = daemons.start_sshds(self.paths, current, NODES)
        return replace(current, contain=contain, adopt=adopt)

    def hide_scheduler(self, *, hidden: bool, host: str = LOGIN) -> None:
        """Make ``host``'s scheduler commands reachable only through a login shell's PATH
        (/etc/profile.d) or ``module load slurm``, as at many sites, restarting its sshd
        (see :mod:`hoplab.testing.site`); ``hidden=False`` undoes it, as does ``up()``."""
        with self._locked():
            current = state.load(self.paths.state)
            if current is None or not self._healthy(current):
                raise SandboxError("the sandbox is not running", "start it first")
            state.save(self.paths.state, self._hide_scheduler(current, host, hidden=hidden))

    def _hide_scheduler(self, current: SandboxState, host: str, *, hidden: bool) -> SandboxState:
        if hidden:
            site.hide_scheduler(self.paths, host)
        elif not site.show_scheduler(self.paths, host):
            return current
        listener = current.processes[f"sshd@{host}"]
        pids.terminate([*pids.children(listener), listener])
        return daemons.start_sshds(self.paths, current, [host])

    def start_oar(self) -> None:
        """Start OAR (see :mod:`hoplab.testing.oar`): PostgreSQL and Almighty on login01, an
        OAR sshd on each node, every node's cores Alive. Already running: nothing to do."""
        with self._locked():
            current = state.load(self.paths.state)
            if current is None or not self._healthy(current):
                raise SandboxError("the sandbox is not running", "start it first")
            running = [proc for name, proc in current.processes.items() if oar.is_daemon(name)]
            if running and all(pids.is_alive(proc) for proc in running):
                return
            if not oar.installed() or not self.paths.oar_etc.is_dir():
                raise SandboxError(
                    "OAR is not installed, or was installed after the sandbox started",
                    "run scripts/install.sh, then 'hoplab sandbox down' and 'up --with oar'",
                )
            current = self._stop_oar(current)
            state.save(self.paths.state, current)
            try:
                current = daemons.start_oar(self.paths, current)
            except BaseException:
                started = state.load(self.paths.state)  # each daemon was recorded as it started
                if started is not None:
                    state.save(self.paths.state, self._stop_oar(started))
                raise
            state.save(self.paths.state, current)

    def stop_oar(self) -> None:
        """End OAR's daemons, by their recorded PIDs."""
        with self._locked():
            current = state.load(self.paths.state)
            if current is not None:
                state.save(self.paths.state, self._stop_oar(current))

    def _stop_oar(self, current: SandboxState) -> SandboxState:
        ours = {name: proc for name, proc in current.processes.items() if oar.is_daemon(name)}
        # Almighty's workers (appendice, bipbip...) hold its port: they go first, by PID
        pids.terminate([below for proc in ours.values() for below in pids.descendants(proc)])
        pids.terminate(ours.values())
        rest = {name: proc for name, proc in current.processes.items() if name not in ours}
        return replace(current, processes=rest)

    def start_otp_login(self) -> ProcessRecord:
        """Start login01's second sshd, which asks for a key and then a one-time code (see
        :mod:`hoplab.testing.otp`); the caller ends it with :meth:`stop_otp_login`."""
        with self._locked():
            current = state.load(self.paths.state)
            if current is None or not self._healthy(current):
                raise SandboxError("the sandbox is not running", "start it first")
            log = daemons.console_log(self.paths, "sshd-otp@login01")
            offset = log.stat().st_size if log.exists() else 0
            pid = netns.start_daemon(LOGIN, otp.argv(self.paths), log, self.paths.binds(LOGIN))
            record = pids.record("sshd-otp@login01", pid)
            try:
                wait_until(
                    lambda: sshd.has_listened(log, offset),
                    daemons.READY_TIMEOUT,
                    what="the one-time-code sshd on login01",
                )
            except BaseException:
                pids.terminate([record])
                raise
            return record

    def stop_otp_login(self, record: ProcessRecord) -> None:
        """End the one-time-code sshd and the connections it holds, by PID."""
        pids.terminate([*pids.children(record), record])

    def pin_login(self, host: str | None) -> None:
        """Make the laptop's ``login`` land on ``host`` (a login node), or at random again
        (None); a fresh or reused ``up()`` unpins it."""
        if host is None:
            self.paths.login_pin.unlink(missing_ok=True)
        elif host in LOGINS:
            self.paths.login_pin.write_text(f"{host}\n")
        else:
            raise SandboxError(f"{host!r} is not a login node", f"login nodes: {LOGINS}")

    def set_link(self, *, up: bool) -> None:
        """Cut (``up=False``) or restore the laptop's link to login01."""
        netns.set_root_link(up=up)

    # start ------------------------------------------------------------------------------

    def _start(self, report: Progress) -> SandboxState:
        paths = self.paths
        netns.add_blackhole()  # first, before any address of the range exists
        current = SandboxState(started_at=time.time(), jupyter_venv=str(self.jupyter_venv))
        files.prepare_dirs(paths)
        state.save(paths.state, current)
        ensure_jupyter_venv(self.jupyter_venv, report)
        site.write_modules(paths, self.jupyter_venv)
        report("creating the network namespaces")
        netns.create_topology()
        report("preparing users, keys and configuration")
        files.write_all(paths)
        if oar.installed():
            oar.write_config(paths)  # before any daemon starts: each sees it as /etc/oar
        report("starting munged, slurmctld, slurmd, sge_qmaster, sshd and sge_execd")
        current = daemons.start_munge_and_slurm(paths, current)
        current = daemons.start_qmaster(paths, current)
        current = daemons.start_sshds(paths, current, NAMESPACES)
        daemons.wait_slurm_ready(paths, current)
        current = daemons.start_execds(paths, current)
        daemons.wait_gridengine_ready(paths, current)
        current = replace(current, complete=True)
        state.save(paths.state, current)
        return current

    # ssh access knob ----------------------------------------------------------------------

    def _change_ssh_access(self, host: str, *, refuse: bool) -> None:
        if host not in NAMESPACES:
            raise SandboxError(f"the sandbox has no host {host!r}", f"hosts: {NAMESPACES}")
        with self._locked():
            current = state.load(self.paths.state)
            if current is None or not self._healthy(current):
                raise SandboxError("the sandbox is not running", "start it first")
            self._set_ssh_access(current, host, refuse=refuse)

    def _set_ssh_access(self, current: SandboxState, host: str, *, refuse: bool) -> SandboxState:
        """Rewrite ``host``'s sshd_config and restart that sshd alone, by its recorded PID."""
        refused = (set(current.refused) | {host}) if refuse else (set(current.refused) - {host})
        files.write_sshd_config(self.paths, host, refuse=refuse)
        pids.terminate([current.processes[f"sshd@{host}"]])
        current = daemons.start_sshds(self.paths, current, [host])
        current = replace(current, refused=tuple(sorted(refused)))
        state.save(self.paths.state, current)
        return current

    # inspection and teardown --------------------------------------------------------------

    def _healthy(self, current: SandboxState) -> bool:
        return (
            current.complete
            and current.jupyter_venv == str(self.jupyter_venv)
            and {name for name in current.processes if not oar.is_daemon(name)}
            == set(daemons.namespaces())
            and all(pids.is_alive(proc) for proc in current.processes.values())
            and all(netns.namespace_exists(name) for name in NAMESPACES)
            and netns.blackhole_present()
        )

    def _leftovers(self) -> bool:
        return (
            self.paths.state.exists()
            or netns.root_link_exists()
            or any(netns.namespace_exists(name) for name in NAMESPACES)
            or netns.blackhole_present()
        )

    def _teardown(self) -> TeardownReport:
        current = state.load(self.paths.state)
        recorded = list(current.processes.values()) if current else []
        stopped = pids.terminate([p for p in recorded if p.name in daemons.NO_GRACE], grace=0)
        stopped += pids.terminate([p for p in recorded if p.name not in daemons.NO_GRACE])
        for _ in range(5):  # children may fork while their parents die; a few rounds suffice
            rest = pids.processes_in_namespaces(NAMESPACES)
            if not rest:
                break
            stopped += pids.terminate(rest, grace=pids.LEFTOVER_GRACE)
        else:
            raise SandboxError(
                "processes keep appearing inside the sandbox's namespaces",
                "look at them with 'ip netns pids login01' and run 'hoplab sandbox down' again",
            )
        deleted = netns.delete_topology()
        removed = netns.remove_blackhole()
        state.remove(self.paths.state)
        return TeardownReport(tuple(stopped), tuple(deleted), removed)

    def _info(self, current: SandboxState, *, reused: bool) -> SandboxInfo:
        user, other = pwd.getpwnam(USER), pwd.getpwnam(OTHER_USER)
        return SandboxInfo(
            root_dir=self.paths.root,
            ssh_config=self.paths.ssh_config(USER),
            harness_ssh_config=self.paths.harness_ssh_config(USER),
            other_ssh_config=self.paths.harness_ssh_config(OTHER_USER),
            known_hosts=self.paths.known_hosts,
            user=USER,
            other_user=OTHER_USER,
            home=Path(user.pw_dir),
            other_home=Path(other.pw_dir),
            jupyter_venv=self.jupyter_venv,
            slurm_conf=self.paths.slurm_conf,
            sge_root=self.paths.sge_root,
            path_dirs={host: self.paths.path_dir(host) for host in NAMESPACES},
            login_host=LOGIN,
            login_alias=LOGIN_ALIAS,
            logins=LOGINS,
            login_address=LOGIN_ADDRESS,
            nodes=NODES,
            addresses=dict(CLUSTER_ADDRESSES),
            pids={name: proc.pid for name, proc in current.processes.items()},
            started_at=current.started_at,
            reused=reused,
        )

    # locking ----------------------------------------------------------------------------

    def _busy(self) -> bool:
        try:
            handle = self.paths.lock.open("a")
        except FileNotFoundError:
            return False
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.paths.root.mkdir(parents=True, exist_ok=True)
        with self.paths.lock.open("a") as handle:

            def grab() -> bool:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return False
                return True

            wait_until(grab, LOCK_TIMEOUT, what="another sandbox command to finish", cap=1.0)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
