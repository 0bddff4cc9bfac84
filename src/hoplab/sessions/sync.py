"""``hoplab sync``: copy files between the laptop and a session's host (or any target) with
the real rsync, over hoplab's existing master: no second authentication.

rsync's remote shell (``-e``) is hoplab's own ssh argv for that host, the one every other
command uses (ControlPath, ControlMaster=no, BatchMode, RemoteCommand=none, the node's vouched
key), so rsync rides the master. Remote paths mean what they mean for ``up``: relative to the
remote home, ``~/x`` as ``x``, and a path under the laptop's home (the laptop's shell expanded
``~``) as the same place in the remote home, said as a note.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hoplab import process
from hoplab.errors import ConfigError, HoplabError, RemoteError
from hoplab.launcher.render import remote_path as quoted_remote
from hoplab.protocol import FRAME, VERSION
from hoplab.remote import frames
from hoplab.sessions import hostside
from hoplab.tunnel.chain import open_transport

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hoplab.launcher.frame import Script
    from hoplab.records.store import SessionStore
    from hoplab.ssh.target import SshTarget
    from hoplab.ssh.transport import Transport

REMOTE_MARK = ":"  # `:path` on the command line: a path on the remote host


@dataclass(frozen=True)
class SyncRequest:
    """What to copy: ``sources`` to ``destination``; the remote side starts with ``:``."""

    sources: tuple[str, ...]
    destination: str
    dry_run: bool = False
    delete: bool = False

    @property
    def upload(self) -> bool:
        return self.destination.startswith(REMOTE_MARK)

    def check(self) -> None:
        """Exactly one side is remote: every source, or the destination."""
        remote_sources = [s.startswith(REMOTE_MARK) for s in self.sources]
        if not self.sources:
            raise ConfigError("nothing to copy: give a source and a destination")
        if self.upload and not any(remote_sources):
            return
        if not self.upload and all(remote_sources):
            return
        raise ConfigError(
            "mark the remote side with ':' on one side only: 'LOCAL... :REMOTE' copies to the "
            "host, ':REMOTE... LOCAL' copies from it",
            hint="a local path that starts with ':' is written ./:name",
        )


@dataclass(frozen=True)
class SyncPlan:
    """The rsync argv to run on this terminal, the host it copies to or from, and notes."""

    argv: list[str]
    host: str
    upload: bool
    notes: tuple[str, ...] = ()


def plan_for_session(
    session_id: str, store: SessionStore, request: SyncRequest, *, interactive: bool
) -> SyncPlan:
    """Copy with the host where the session's Jupyter runs (a job's node through the login
    master; the login node itself when the node refuses ssh: it shares the home)."""
    request.check()
    session = hostside.live_session(session_id, store)
    login = hostside.login(session, interactive=interactive)
    carrier = hostside.host(session, login, interactive=False)
    notes: list[str] = []
    if not hostside.over_ssh(session):
        notes.append(
            f"{session.node} refuses ssh: copying through {login.target.label}, which shares "
            "the home directory (not the node's own /tmp)"
        )
    return _plan(carrier, request, notes)


def plan_for_target(
    target: SshTarget, request: SyncRequest, *, multiplex: bool, interactive: bool
) -> SyncPlan:
    """Copy with any target (a profile or ssh destination), through hoplab's master for it."""
    request.check()
    transport = open_transport(target, multiplex=multiplex)
    transport.connect(interactive=interactive)
    return _plan(transport, request, [])


def run_sync(plan: SyncPlan) -> int:
    """Run rsync on this terminal (its progress streams there); its exit code."""
    return process.attached(plan.argv)


def _plan(transport: Transport, request: SyncRequest, notes: list[str]) -> SyncPlan:
    rsync = process.require("rsync")
    local_home = str(Path.home())
    remote_given = request.destination if request.upload else None
    wanted = [remote_given] if remote_given else list(request.sources)
    paths = [resolve_remote(path[len(REMOTE_MARK) :], local_home) for path in wanted]
    found = check_remote(transport, [p for p in paths if p.fallback is not None])
    chosen = []
    for path in paths:
        if path.fallback is not None and found.get(path.fallback, False):
            chosen.append(path.fallback)
        else:
            chosen.append(path.path)
            if path.note:
                notes.append(path.note)
    if request.upload and not request.dry_run:  # a dry run changes nothing
        make_parent(transport, chosen[0])
    rsh, host = remote_shell(transport)
    spec = [f"{host}:{path}" for path in chosen]
    if request.upload:
        sources, destination = [local_path(s) for s in request.sources], spec[0]
    else:
        sources, destination = spec, local_path(request.destination)
    argv = rsync_argv(
        rsync,
        rsh,
        sources,
        destination,
        progress=progress_option(_version(rsync)),
        dry_run=request.dry_run,
        delete=request.delete,
    )
    return SyncPlan(argv, transport.target.label, request.upload, tuple(notes))


@dataclass(frozen=True)
class RemotePath:
    """A remote path as rsync gets it (relative paths start in the remote home), the path as
    given when it may mean that instead (``fallback``), and what to tell the user."""

    path: str
    fallback: str | None = None
    note: str | None = None


def resolve_remote(given: str, local_home: str) -> RemotePath:
    """``x`` and ``~/x`` are ``x`` in the remote home, ``~`` and nothing the home itself; a
    path under the laptop's home means the same place in the remote home, unless only the
    path as given exists there (the rule ``up`` applies to ``--venv`` and ``--workdir``)."""
    if given in ("", "~", "~/"):
        return RemotePath(".")
    if given.startswith("~/"):
        return RemotePath(given[2:])
    home = local_home.rstrip("/")
    if home and given.startswith(f"{home}/"):
        inside = given[len(home) + 1 :] or "."
        return RemotePath(
            inside,
            fallback=given,
            note=(
                f"{given}: read as ~/{inside} on the remote host (your shell expanded ~ to "
                "the laptop's home; quote it: ':~/...')"
            ),
        )
    return RemotePath(given)


def make_parent(transport: Transport, destination: str) -> None:
    """The remote destination's parent directories (rsync makes only the last one, and its
    ``--mkpath`` needs 3.2.3 at both ends)."""
    parent = posixpath.dirname(destination.rstrip("/"))
    if parent in {"", ".", "/", "~"}:
        return
    line = f"mkdir -p -- {quoted_remote(parent)}"
    done = frames.run_commands(transport, [("mkdir", line)], timeout=60)["mkdir"]
    if done.returncode != 0:
        raise RemoteError(
            f"cannot make {parent} on {transport.target.label}: {done.stderr.strip()}",
            "check the path and your permissions there",
        )


def check_remote(transport: Transport, paths: Sequence[RemotePath]) -> dict[str, bool]:
    """Refuse a host without rsync, or whose startup files print on stdout (rsync's protocol
    shares that stream); say which ``fallback`` paths exist there."""
    script = check_script(paths)
    done = transport.run(script.text, timeout=60)
    frame = frames.read(done.stdout, script.nonce, where=transport.target.label)
    where = transport.target.label
    if frame.command("rsync").returncode != 0:
        raise RemoteError(
            f"{where} has no rsync on its PATH: hoplab sync copies with rsync at both ends",
            "ask the site for rsync (or load its module in your shell's startup file), or "
            "copy with scp",
        )
    chatter = done.stdout.split(f"{FRAME} {VERSION} {script.nonce} begin", 1)[0].strip()
    if chatter:
        raise RemoteError(
            f"your startup files on {where} print on standard output ({chatter[:60]!r}), "
            "which rsync's protocol shares: rsync would stop with 'protocol version mismatch'",
            "print only in interactive shells (in ~/.bashrc: case $- in *i*) ... ;; esac), "
            "or write to stderr",
        )
    return {
        p.fallback: frame.command(f"exists-{i}").returncode == 0
        for i, p in enumerate(paths)
        if p.fallback is not None
    }


def check_script(paths: Sequence[RemotePath]) -> Script:
    """The framed check: ``command -v rsync``, then ``test -e`` on each ``fallback`` path."""
    sections = [("rsync", "command -v rsync")]
    sections += [
        (f"exists-{i}", f"test -e {quoted_remote(p.fallback)}")
        for i, p in enumerate(paths)
        if p.fallback is not None
    ]
    return frames.commands_script(sections)


def remote_shell(transport: Transport) -> tuple[str, str]:
    """rsync's ``-e``: the transport's ssh argv without its ``-- DESTINATION`` tail (rsync
    appends the host and its server command), quoted for rsync's own splitting; and the host."""
    argv = transport.command()
    if len(argv) < 3 or argv[-2] != "--":
        raise HoplabError(f"unexpected ssh command for {transport.target.label}")
    host = argv[-1]
    if "://" in host or host.count(":"):
        raise ConfigError(
            f"rsync cannot name the host {host!r} (a URI or an address with ':')",
            key="target",
            hint="give the host an alias in your ssh config (Host, HostName, Port)",
        )
    return " ".join(_rsync_word(word) for word in argv[:-2]), host


def _rsync_word(word: str) -> str:
    """One argument as rsync splits ``-e``: blanks end a word unless quoted; single and double
    quotes group (no backslashes). :func:`shlex.quote`'s form fits it."""
    return shlex.quote(word)


def local_path(path: str) -> str:
    """A local path rsync cannot take for a remote one (``a:b`` would be host ``a``)."""
    head = path.split("/", 1)[0]
    return f"./{path}" if ":" in head else path


def rsync_argv(
    rsync: str,
    rsh: str,
    sources: Sequence[str],
    destination: str,
    *,
    progress: str,
    dry_run: bool,
    delete: bool,
) -> list[str]:
    """``rsync -a -s`` (names with blanks and unicode pass as they are), progress on this
    terminal, the user's ``--dry-run`` and ``--delete``; ``--`` before the paths."""
    argv = [rsync, "--archive", "--protect-args", "--human-readable", progress]
    if dry_run:
        argv += ["--dry-run", "--itemize-changes"]
    if delete:
        argv.append("--delete")
    return [*argv, "-e", rsh, "--", *sources, destination]


_VERSION = re.compile(r"rsync\s+version\s+v?(\d+)\.(\d+)")


def progress_option(version: tuple[int, int] | None) -> str:
    """One progress line for the whole copy (rsync 3.1+), else the per-file one."""
    return "--info=progress2" if version is not None and version >= (3, 1) else "--progress"


def _version(rsync: str) -> tuple[int, int] | None:
    done = process.run([rsync, "--version"], check=False, timeout=10)
    first = done.stdout.splitlines()[0] if done.stdout else ""
    if "openrsync" in done.stdout:
        return None  # macOS's rsync: no --info
    match = _VERSION.search(first)
    return (int(match.group(1)), int(match.group(2))) if match else None
