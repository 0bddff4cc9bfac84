"""The target's side: authentication, the master, the login shell and what its startup
prints, the scheduler, Jupyter in the profile's environment, and the socket directory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hoplab.errors import SshError
from hoplab.protocol import FailKind, SchedulerName, SchedulerPath, SocketDir
from hoplab.remote import jobs, scripts
from hoplab.schedulers.base import BatchScheduler
from hoplab.sessions.doctor.report import Outcome, fail, ok, skip, warn
from hoplab.ssh.mux import MasterHealth, MuxTransport
from hoplab.tunnel.chain import open_transport

if TYPE_CHECKING:
    from hoplab.remote.scripts import Probe, SocketPlace
    from hoplab.schedulers.base import Scheduler
    from hoplab.ssh.target import SshTarget
    from hoplab.ssh.transport import Transport

# ssh's words when it would have asked for something (BatchMode refused to)
NEEDS_INPUT = ("Permission denied", "Host key verification failed", "verification failed")


@dataclass
class Connection:
    """The transport authenticated by :func:`authenticate` (None until then)."""

    transport: Transport | None = None

    @property
    def ready(self) -> Transport:
        if self.transport is None:
            raise AssertionError("the connection check has not run")
        return self.transport


def authenticate(
    target: SshTarget, connection: Connection, *, multiplex: bool, interactive: bool
) -> Outcome:
    """Connect as ``up`` does, first without asking anything, then (on a terminal) asking.

    ssh asks on the terminal itself, so hoplab cannot count its prompts: it tells "none"
    (a master that was there, or a key, agent or certificate that sufficed) from "at least one".
    """
    transport = open_transport(target, multiplex=multiplex)
    if isinstance(transport, MuxTransport) and transport.master_pid() is not None:
        connection.transport = transport
        return ok(
            "no prompt: hoplab's connection to it is already open",
            f"the master at {transport.control_path} authenticated earlier",
        )
    try:
        transport.connect(interactive=False)
    except SshError as exc:
        if not interactive or not any(words in exc.message for words in NEEDS_INPUT):
            raise
        transport = open_transport(target, multiplex=multiplex)  # prepared anew, may ask
        transport.connect(interactive=True)
        connection.transport = transport
        return _keys_said(
            transport,
            ok(
                "authenticated after ssh asked on the terminal (at least one prompt)",
                "ssh asks on the terminal itself, so hoplab cannot count its prompts. Without "
                f"asking, ssh said: {exc.message}"
                + (
                    "\nWith the shared connection, later commands ask nothing while it lives."
                    if multiplex
                    else "\nWith --no-mux, every command asks again."
                ),
            ),
        )
    connection.transport = transport
    return _keys_said(transport, ok("no prompt: a key, an agent or a certificate sufficed"))


def _keys_said(transport: Transport, outcome: Outcome) -> Outcome:
    """``outcome`` with what preparing the connection said about host keys: a key that the
    login node only scanned (trust on first use) is a warning."""
    notes = "\n".join(transport.notes)
    detail = "\n".join(part for part in (outcome.detail, notes) if part)
    if any("scanned" in note for note in transport.notes):
        return warn(
            f"{outcome.summary}; the host key came from a scan on the login node",
            "ask the site to publish its hosts' keys in /etc/ssh/ssh_known_hosts (or an "
            "@cert-authority line) on the login node",
            detail,
        )
    return Outcome(outcome.status, outcome.summary, detail, outcome.fix)


def master(transport: Transport) -> Outcome:
    """hoplab's ControlMaster for the target answers, and carries commands."""
    if not isinstance(transport, MuxTransport):
        return skip("--no-mux: no shared connection; every command authenticates anew")
    health = transport.health()
    if health is MasterHealth.ALIVE:
        pid = transport.master_pid()
        return ok(
            f"ControlMaster up (pid {pid}): later commands ride it",
            f"control socket {transport.control_path}",
        )
    return warn(
        f"the shared connection is {health.value}",
        "run doctor again; if it stays so, your ssh config may set ControlMaster or "
        "ControlPath for this host in a way that fights hoplab's, or use --no-mux",
    )


def login_shell(probe: Probe) -> Outcome:
    shell = probe.shell
    if shell == "-":
        return ok("$SHELL is not set there; ssh runs the account's login shell")
    return ok(shell, "hoplab's scripts run under sh -s whatever this shell is")


def startup_output(probe: Probe) -> Outcome:
    """What the login's startup files printed around hoplab's frame: harmless, but shown."""
    if not probe.startup:
        return ok("the login prints nothing")
    count = len(probe.startup.splitlines())
    return warn(
        f"the login prints {count} line{'s' if count != 1 else ''} (hoplab reads around them)",
        "move output in .bashrc/.cshrc/.profile behind an interactive-shell test "
        "(bash: [[ $- == *i* ]] || return), so that scripts and scp see a quiet login",
        probe.startup,
    )


@dataclass(frozen=True)
class SchedulerFound:
    """The scheduler doctor found, and on which PATH it was looked for (``where``)."""

    name: SchedulerName
    version: tuple[int, int] | None = None
    where: str = "sh PATH"

    @property
    def batch(self) -> bool:
        return self.name is not SchedulerName.NONE

    def describe(self) -> str:
        version = f" {self.version[0]}.{self.version[1]}" if self.version else ""
        return f"{self.name.value}{version}"


def find_scheduler(
    transport: Transport, wanted: str, module: str | None = None
) -> tuple[SchedulerFound, Scheduler]:
    """What ``up`` would use (``jobs.detect``), described with where it was found."""
    scheduler = jobs.detect(transport, wanted, module)
    if not isinstance(scheduler, BatchScheduler):
        where = "--scheduler none" if wanted == SchedulerName.NONE else "sh PATH"
        return SchedulerFound(SchedulerName.NONE, None, where), scheduler
    where = {
        SchedulerPath.PATH: "sh PATH",
        SchedulerPath.LOGIN_SHELL: "login shell's PATH",
        SchedulerPath.MODULE: f"PATH after 'module load {scheduler.module}'",
    }[scheduler.found]
    return SchedulerFound(SchedulerName(scheduler.name), scheduler.version, where), scheduler


def scheduler_outcome(
    found: SchedulerFound, label: str, cluster_options: tuple[str, ...]
) -> Outcome:
    """Judge what was found against what was asked (cluster options need a batch job)."""
    if found.batch:
        return ok(f"{found.describe()} (found on the {found.where})")
    why = "--scheduler none" if found.where == "--scheduler none" else "no batch scheduler found"
    if cluster_options:
        return fail(
            f"{', '.join(cluster_options)} need a batch job, but {why} on {label}",
            f"leave them out to run Jupyter on {label} itself, or point hoplab at the "
            "cluster's login node (--scheduler NAME if it is not found there)",
        )
    return ok(f"none ({why}): Jupyter runs on {label} itself", f"looked on the {found.where}")


def jupyter(probe: Probe, app: str, *, batch: bool) -> Outcome:
    """The Jupyter the launcher would run: found, in the named environment, socket support."""
    printed = f"activating printed:\n{probe.activation}" if probe.activation else ""
    where = "\n(checked on the login node: the job activates the same on its node)" if batch else ""
    for kind, message in probe.failures:
        return fail(message, _FIXES.get(kind, scripts.ENV_HINT), printed + where)
    if probe.jupyter is None:
        return fail(f"jupyter-{app} not found", scripts.ENV_HINT, printed + where)
    server = f"{probe.server[0]}.{probe.server[1]}" if probe.server else "version unknown"
    what = "notebook" if app == "notebook" and not probe.sockets else "jupyter_server"
    summary = f"{probe.jupyter} ({what} {server})"
    detail = "\n".join(part for part in (printed, where.strip()) if part)
    if probe.sockets:
        return ok(f"{summary}, Unix sockets supported", detail)
    return warn(
        f"{summary}: no Unix socket support, Jupyter would listen on TCP 127.0.0.1 instead",
        "install jupyter_server >= 1.9 in that environment (classic Notebook < 7 has no "
        "sockets: --app lab, or notebook >= 7)",
        detail,
    )


_FIXES = {
    FailKind.ENV: "check the --conda/--venv/--module/--setup values",
    FailKind.WORKDIR: "create the directory, or fix --workdir",
    FailKind.NO_JUPYTER: scripts.ENV_HINT,
    FailKind.OTHER_JUPYTER: (
        "install Jupyter in that environment (pip install jupyterlab), or leave out "
        "--venv/--conda to run the one on PATH"
    ),
}


def socket_dir(place: SocketPlace | None, *, batch: bool, where: str) -> Outcome:
    """The directory the launcher would put Jupyter's socket in on ``where``."""
    if place is None:
        return fail("the socket directory was not reported", "run doctor with --debug")
    if place.state.usable:
        said = {
            SocketDir.PRIVATE: "private",
            SocketDir.LOOSE: "present; the launcher makes it 0700",
            SocketDir.CREATABLE: "not there yet; the launcher can make it",
        }[place.state]
        return ok(f"{place.path} on {where} ({said})")
    why = {
        SocketDir.FOREIGN: "is another user's, or a symbolic link",
        SocketDir.NOT_DIRECTORY: "is not a directory",
        SocketDir.UNWRITABLE: "cannot be made: its parent is not writable",
        SocketDir.TOO_LONG: "is too long for a Unix socket path",
    }[place.state]
    summary = f"{place.path} on {where} {why}"
    fix = (
        "set HOPLAB_SOCKET_BASE (on that host, for example in ~/.profile) to a short "
        "private directory of yours on a local disk"
        + (
            "; remove the one in the way if it is yours"
            if place.state is SocketDir.NOT_DIRECTORY
            else ""
        )
    )
    if batch:  # Jupyter runs on a node: the login node's directory decides nothing
        return warn(summary + " (Jupyter runs on a node: --job checks the node's)", fix)
    return fail(summary, fix)
