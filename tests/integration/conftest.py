"""Fixtures for end-to-end tests: an isolated laptop (state, runtime, config) on the sandbox,
and a check that the tests leave the test user's home and every host's /tmp as they found them.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from hoplab.process import alive
from hoplab.ssh.ports import port_is_free
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator

    from hoplab.testing.info import SandboxInfo


# The hosts that the plain-ssh session tests start Jupyter on.
PLAIN_HOSTS = ("login01", "node001")


@dataclass
class Laptop:
    """Runs the real ``hoplab`` CLI as a separate process, isolated from the user's own state."""

    sandbox: SandboxInfo
    env: dict[str, str]
    home: Path
    spawned: list[subprocess.Popen[str]] = field(default_factory=list)

    def run(
        self, *args: str, check: bool = True, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "hoplab", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"hoplab {' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
            )
        return done

    def json(self, *args: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.run(*args, "--json").stdout)
        return result

    def up(self, host: str, *args: str) -> dict[str, Any]:
        """``up --json`` (detached) with the sandbox's Jupyter venv."""
        return self.json("up", host, "--venv", str(self.sandbox.jupyter_venv), *args)

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        """hoplab in the background; the fixture kills it at the end if it still runs."""
        process = subprocess.Popen(
            [sys.executable, "-m", "hoplab", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.spawned.append(process)
        return process

    def finish(self, process: subprocess.Popen[str], timeout: float) -> str:
        """Wait (bounded) for a spawned hoplab to end; its stderr."""
        return process.communicate(timeout=timeout)[1]

    def masters(self) -> list[Path]:
        """The ControlMaster sockets of this laptop."""
        folder = self.home / "rt" / "cm"
        return sorted(p for p in folder.glob("*") if p.is_socket()) if folder.exists() else []

    def master_pids(self) -> list[int]:
        """PIDs of this laptop's ssh masters (their ControlPath is under its runtime dir)."""
        return sorted(self.master_paths())

    def master_paths(self) -> dict[int, Path]:
        """This laptop's ssh masters: PID -> ControlPath (see :func:`master_control_path`)."""
        folder = self.home / "rt" / "cm"
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                path = master_control_path((entry / "cmdline").read_bytes())
            except OSError:
                continue
            if path is not None and path.parent == folder:
                found[int(entry.name)] = path
        return found

    def pids(self) -> list[int]:
        """PIDs of this laptop's processes: every hoplab it ran (the background supervisors
        too) and what they started (ssh), whose environment names its runtime directory."""
        mark = f"HOPLAB_RUNTIME_DIR={self.home / 'rt'}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if mark in environ:
                found.append(int(entry.name))
        return sorted(found)

    def forward_sockets(self) -> list[Path]:
        """The Unix sockets ssh forwards to Jupyter from (``fw/`` in the runtime directory)."""
        folder = self.home / "rt" / "fw"
        return sorted(folder.glob("*.sock")) if folder.exists() else []

    def end_relay(self, session_id: str) -> dict[str, Any]:
        """SIGKILL the process that serves the session's 127.0.0.1 port (its relay: the
        background supervisor after ``up --json``), as a crash would, and wait until it is gone
        and the port is free. The session's ``ls`` row from before."""
        (row,) = (s for s in self.sessions() if s["id"] == session_id)
        pid, port = row["relay_pid"], row["local_port"]
        assert pid in self.pids(), row  # one of this laptop's processes, never another's
        os.kill(pid, signal.SIGKILL)
        wait_until(
            lambda: not alive(pid) and port_is_free(port),
            10,
            what="the relay's process to end and free its port",
        )
        return row

    def exit_master(self, socket_path: Path) -> None:
        """Ask the master on ``socket_path`` to exit (as after a crash or a reboot)."""
        argv = ["ssh", "-F", str(self.sandbox.ssh_config), "-o", f"ControlPath={socket_path}"]
        subprocess.run([*argv, "-O", "exit", "x"], capture_output=True, check=False, timeout=10)

    def jobs(self) -> list[str]:
        """The test user's SLURM jobs that are still queued or running, as ``id|name|state``."""
        done = self.sandbox.run_as_user(
            self.sandbox.login_host, "squeue --noheader --me --format='%i|%j|%T'\n"
        )
        assert done.returncode == 0, done.stderr
        return [line.strip() for line in done.stdout.splitlines() if line.strip()]

    def sessions(self) -> list[dict[str, Any]]:
        return list(self.json("ls", "--all")["sessions"])

    def remote_jupyters(self, host: str) -> list[str]:
        """Command lines of the Jupyter servers that hoplab started on ``host`` (zombies aside).

        hoplab's launcher passes ``--ServerApp.sock=`` or ``--ServerApp.ip=`` (classic Notebook:
        ``--NotebookApp.ip=``); that tells its servers apart from any other Jupyter the test
        user runs.
        """
        script = 'ps -u "$(id -u)" -o pid= -o stat= -o args=\n'
        done = self.sandbox.run_as_user(host, script)
        return [
            line
            for line in done.stdout.splitlines()
            if ("--ServerApp." in line or "--NotebookApp." in line)
            and not line.split()[1].startswith("Z")
        ]


def master_control_path(cmdline: bytes) -> Path | None:
    """The ControlPath of an ssh master from its ``/proc/PID/cmdline``: ``ssh: PATH [mux]`` once
    ssh has backgrounded it itself, else its ``-o ControlPath=`` option; None for any other."""
    words = [word.decode(errors="replace") for word in cmdline.split(b"\0") if word]
    title = " ".join(" ".join(words).split())
    if title.startswith("ssh: ") and title.endswith(" [mux]"):
        return Path(title.removeprefix("ssh: ").removesuffix(" [mux]"))
    if "ControlMaster=yes" not in words:
        return None
    paths = [word.partition("=")[2] for word in words if word.startswith("ControlPath=")]
    return Path(paths[0]) if paths else None


# -- a login node's own PATH: scheduler shims, or commands that answer as absent ----------

OTHERS = ("sbatch", "qsub", "qstat", "bsub", "oarsub", "oarstat", "condor_submit")
ABSENT = '#!/bin/sh\necho "$0: not installed on this login node" >&2\nexit 127\n'


@pytest.fixture
def login_path(hoplab_sandbox: SandboxInfo) -> Iterator[Path]:
    """login01's own PATH directory, emptied of what the test put there afterwards."""
    folder = hoplab_sandbox.path_dirs[hoplab_sandbox.login_host]
    before = set(folder.iterdir()) if folder.exists() else set()
    yield folder
    for path in set(folder.iterdir()) - before:
        path.unlink()


def hide(folder: Path, *commands: str) -> None:
    """Commands that answer as no scheduler, first on the PATH: as on a site without them.

    Every sandbox host has SLURM and Grid Engine; a site running LSF has neither (and a
    developer machine may have some scheduler's client installed system-wide).
    """
    folder.mkdir(parents=True, exist_ok=True)
    for command in commands:
        (folder / command).write_text(ABSENT)
        (folder / command).chmod(0o755)


def listening_ssh_ports() -> list[str]:
    """Local listening TCP sockets owned by ssh processes, as ``addr:port``: none, since ssh
    forwards Unix sockets and hoplab's relay serves the TCP port."""
    done = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True)
    return [line.split()[3] for line in done.stdout.splitlines() if '"ssh"' in line]


def listening_ports_of_laptop(laptop: Laptop) -> list[tuple[str, int]]:
    """The listening TCP sockets of the laptop's processes, as ``(addr:port, pid)``: what
    serves a session's port (the relay of a background supervisor or a foreground hoplab; in
    records from before the relay, ssh's own forward)."""
    pids = set(laptop.pids())
    done = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True)
    found = []
    for line in done.stdout.splitlines():
        owners = {int(pid) for pid in re.findall(r"pid=(\d+)", line)} & pids
        found += [(line.split()[3], pid) for pid in sorted(owners)]
    return found


def wait_for_no_tunnel(machine: Laptop) -> None:
    """Nothing of the laptop serves a port any more, no forward socket is left, and no ssh
    listens on TCP."""
    wait_until(
        lambda: (
            not listening_ports_of_laptop(machine)
            and not machine.forward_sockets()
            and not listening_ssh_ports()
        ),
        10,
        what="every local port and forward socket to close",
    )


@pytest.fixture
def laptop(hoplab_sandbox: SandboxInfo) -> Iterator[Laptop]:
    """A fresh laptop per test; afterwards every session is downed and nothing may be left.

    Every sandbox host has SLURM's commands, so plain-host tests say ``--scheduler none``
    through HOPLAB_SCHEDULER; the batch tests (``cluster_laptop``) drop it.
    """
    yield from _laptop(hoplab_sandbox, scheduler="none")


@pytest.fixture
def cluster_laptop(hoplab_sandbox: SandboxInfo) -> Iterator[Laptop]:
    """A laptop whose ``up`` runs SLURM jobs on login01.

    login01 has SLURM, Grid Engine and OAR, and ``--scheduler auto`` never guesses among
    them, so this laptop names SLURM (through HOPLAB_SCHEDULER, as a user's environment
    would); tests of detection take it out and hide the others (:func:`hide`).
    """
    yield from _laptop(hoplab_sandbox, scheduler="slurm")


@pytest.fixture
def second_laptop(laptop: Laptop) -> Iterator[Laptop]:
    """Another computer of the same user (its own state, runtime directory and config), for
    sessions that ``laptop`` started: it is cleaned first, then ``laptop`` checks that nothing
    is left."""
    yield from _second(laptop)


@pytest.fixture
def second_cluster_laptop(cluster_laptop: Laptop) -> Iterator[Laptop]:
    """Another computer, for the jobs that ``cluster_laptop`` started."""
    yield from _second(cluster_laptop)


def _second(first: Laptop) -> Iterator[Laptop]:
    machine = _machine(first.sandbox, scheduler=first.env.get("HOPLAB_SCHEDULER"))
    yield machine
    for process in machine.spawned:  # only what this test started, by its own handle
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    machine.run("down", "--all", check=False)
    for master in machine.masters():
        machine.exit_master(master)
    wait_for_no_tunnel(machine)


def _machine(hoplab_sandbox: SandboxInfo, scheduler: str | None) -> Laptop:
    base = Path(tempfile.mkdtemp(prefix="hl-"))  # short: ControlPath sockets live here
    base.chmod(0o700)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HOPLAB_", "SSH_AUTH_SOCK", "COLUMNS"))
    }
    env.update(
        HOPLAB_STATE_DIR=str(base / "state"),
        HOPLAB_RUNTIME_DIR=str(base / "rt"),
        HOPLAB_CONFIG=str(base / "config.toml"),
        HOPLAB_SSH_CONFIG=str(hoplab_sandbox.ssh_config),
        COLUMNS="200",
    )
    if scheduler:
        env["HOPLAB_SCHEDULER"] = scheduler
    return Laptop(hoplab_sandbox, env, base)


def _laptop(hoplab_sandbox: SandboxInfo, scheduler: str | None) -> Iterator[Laptop]:
    machine = _machine(hoplab_sandbox, scheduler)
    yield machine
    for process in machine.spawned:  # only what this test started, by its own handle
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    machine.run("down", "--all", check=False)
    for host in PLAIN_HOSTS:
        assert machine.remote_jupyters(host) == [], f"Jupyter left running on {host}"
    hoplab_jobs = [job for job in machine.jobs() if "|hoplab-" in job]
    assert hoplab_jobs == [], f"jobs left in the queue: {hoplab_jobs}"
    for master in machine.masters():
        machine.exit_master(master)
    wait_for_no_tunnel(machine)


# Nothing left behind ------------------------------------------------------------------------

# What Jupyter and its kernels create in a home by themselves, at every start: not hoplab's
# (and not the tests'). Nothing else new may be left in the test user's home.
JUPYTER_OWN = (".ipython", ".npm", ".cache", ".local/share/jupyter", ".jupyter/lab")


def _exempt(relative: str) -> bool:
    """Inside one of Jupyter's own trees, or a directory on the way to one."""
    return any(
        relative == own or relative.startswith(own + "/") or own.startswith(relative + "/")
        for own in JUPYTER_OWN
    )


def _tree(root: Path, *, owner: int | None = None, exempt: bool = False) -> set[str]:
    """Every path under ``root``, relative (only ``owner``'s with one; never following links)."""
    found: set[str] = set()
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        kept = []
        for name in [*dirs, *files]:
            path = here / name
            relative = path.relative_to(root).as_posix()
            if exempt and _exempt(relative):
                continue
            try:
                mine = owner is None or path.lstat().st_uid == owner
            except FileNotFoundError:  # went while we looked (a daemon's temporary file)
                continue
            if mine:
                found.add(relative)
            kept.append(name)
        dirs[:] = [d for d in dirs if d in kept]
    return found


def _snapshot(sandbox: SandboxInfo) -> dict[str, set[str]]:
    """The test user's home, and what the test user owns in each host's /tmp (the daemons'
    own files there are the sandbox's business)."""
    uid = pwd.getpwnam(sandbox.user).pw_uid
    found = {f"~{sandbox.user}": _tree(sandbox.home, exempt=True)}
    for host in sandbox.hosts:
        found[f"{host}:/tmp"] = _tree(sandbox.host_path(host, "/tmp"), owner=uid)
    return found


def _purge(sandbox: SandboxInfo) -> str:
    """``hoplab down --purge`` from a laptop of its own, as a user would end with: it removes
    ~/.hoplab (the shared home) once nothing of hoplab runs; its master goes at once."""
    base = Path(tempfile.mkdtemp(prefix="hl-"))
    base.chmod(0o700)
    try:
        (base / "config.toml").write_text('[defaults]\nmaster_idle = "0"\n')
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HOPLAB_")},
            "HOPLAB_STATE_DIR": str(base / "state"),
            "HOPLAB_RUNTIME_DIR": str(base / "rt"),
            "HOPLAB_CONFIG": str(base / "config.toml"),
            "HOPLAB_SSH_CONFIG": str(sandbox.ssh_config),
        }
        done = subprocess.run(
            [sys.executable, "-m", "hoplab", "down", "--purge", sandbox.login_host],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        return done.stderr
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind(hoplab_sandbox: SandboxInfo) -> Iterator[dict[str, set[str]]]:
    """After every session test: nothing new in the test user's home (but what Jupyter makes
    itself, see JUPYTER_OWN) or in any host's /tmp. hoplab's own ~/.hoplab goes with
    ``down --purge``, unless it was there before the tests (then it is someone's). The value
    is what was there before."""
    before = _snapshot(hoplab_sandbox)
    yield before
    said = "" if ".hoplab" in before[f"~{hoplab_sandbox.user}"] else _purge(hoplab_sandbox)
    _end_shim_spool(hoplab_sandbox, before[f"~{hoplab_sandbox.user}"])
    after = _snapshot(hoplab_sandbox)
    left = {
        where: sorted(p for p in after[where] - before[where] if not _tombstone(p))
        for where in after
    }
    left = {where: paths for where, paths in left.items() if paths}
    assert not left, f"left behind by the tests: {left}\n{said}"


SHIM_SPOOL = ".hoplab-shims"  # the command shims' scheduler state (tests/shims/engine.py)


def _end_shim_spool(sandbox: SandboxInfo, before: set[str]) -> None:
    """The shims keep their queue's state in the test user's home (where a real scheduler
    keeps it on its server): what the tests added there goes, as a scheduler's spool would."""
    spool = sandbox.home / SHIM_SPOOL
    if SHIM_SPOOL not in before:
        shutil.rmtree(spool, ignore_errors=True)
        return
    for path in sorted(spool.rglob("*"), reverse=True):  # files before their directories
        if str(path.relative_to(sandbox.home)) not in before and not path.is_dir():
            path.unlink(missing_ok=True)


def _tombstone(relative: str) -> bool:
    """A ``down``'s tombstone, ``~/.hoplab/ended/<id>``: kept on purpose for the other computers
    that know the session (until one settles it, a week at most; ``--purge`` removes it with
    ``~/.hoplab``). It stays only when ``~/.hoplab`` was there before the tests."""
    return relative == TOMBSTONES or relative.startswith(TOMBSTONES + "/")


TOMBSTONES = ".hoplab/ended"
