"""The one place that runs subprocesses.

Everything hoplab runs (ssh, and through it every remote command) passes through here as an argv
list: logged with ``shlex.join`` at debug level, bounded by a timeout, and turned into a typed
:class:`~hoplab.errors.CommandError` carrying argv, exit code, stdout and stderr. Nothing here
ever logs what goes to a process's standard input, because that is how secrets travel.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

from hoplab.errors import CommandError, CommandNotFoundError, CommandTimeoutError, HoplabError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

log = logging.getLogger(__name__)

INSTALL_HINTS = {
    "ssh": "install the OpenSSH client (Debian/Ubuntu: apt install openssh-client; macOS ships it)",
    "rsync": "install rsync (Debian/Ubuntu: apt install rsync; macOS: brew install rsync)",
}


@dataclass(frozen=True)
class Completed:
    """A finished process."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


@cache
def require(program: str) -> str:
    """Return the full path of ``program`` or raise a friendly :class:`CommandNotFoundError`."""
    path = shutil.which(program)
    if path is None:
        raise CommandNotFoundError(
            program, INSTALL_HINTS.get(program, f"install {program} or add it to PATH")
        )
    return path


def run(
    argv: Sequence[str],
    *,
    input: str | None = None,  # noqa: A002  (mirrors subprocess.run)
    timeout: float | None = 60.0,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    interactive: bool = False,
) -> Completed:
    """Run ``argv`` to completion and capture its output.

    ``interactive`` leaves stdin attached to the terminal so that ssh can ask for a password or
    a second factor; output is still captured. ``input`` is sent on stdin and never logged.
    """
    argv = list(argv)
    log.debug("run %s", shlex.join(argv))
    # With input, subprocess makes the pipe; interactive leaves the terminal; else nothing.
    stdin = None if input is not None or interactive else subprocess.DEVNULL
    try:
        proc = subprocess.run(
            argv,
            input=input,
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=None if env is None else {**os.environ, **env},
            check=False,
        )
    except FileNotFoundError as exc:
        raise CommandNotFoundError(argv[0], INSTALL_HINTS.get(argv[0], "")) from exc
    except subprocess.TimeoutExpired as exc:
        raise CommandTimeoutError(
            argv, timeout or 0.0, _text(exc.stdout), _text(exc.stderr)
        ) from exc
    done = Completed(argv, proc.returncode, proc.stdout, proc.stderr)
    if proc.returncode != 0:
        log.debug("exit %d from %s: %s", proc.returncode, argv[0], proc.stderr.strip())
        if check:
            raise CommandError(argv, proc.returncode, proc.stdout, proc.stderr)
    return done


def _endless_stdin() -> int:
    """A descriptor whose reads block for good: a FIFO opened for reading and writing at once
    (so no writer ever goes away), its name removed before anyone else could open it."""
    with tempfile.TemporaryDirectory(prefix="hoplab-") as folder:  # 0700
        fifo = Path(folder) / "in"
        os.mkfifo(fifo, 0o600)
        return os.open(fifo, os.O_RDWR)


def spawn(
    argv: Sequence[str],
    *,
    detach: bool = False,
    output: Path | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,  # noqa: A002  (the name subprocess uses)
    endless_input: bool = False,
    pass_fds: Sequence[int] = (),
) -> subprocess.Popen[str]:
    """Start ``argv`` without waiting for it; ``input`` is written to its stdin, then closed.

    ``endless_input`` gives it a stdin that never has data and never ends (see
    :func:`_endless_stdin`), for a remote command that must wait as long as its ssh lives.
    ``pass_fds``: descriptors it inherits under the same numbers (a listening socket).

    ``detach`` puts it in a new session so that it outlives hoplab and ignores the terminal's
    Ctrl-C; the caller records its PID and ends it by that PID only. Its stdout and stderr go
    to ``output`` (appended, mode 0600) when given, so a detached process never writes into a
    dead pipe; otherwise they are pipes for the caller to read.
    """
    argv = list(argv)
    log.debug("spawn %s", shlex.join(argv))
    sink = None
    if output is not None:  # private from the first byte: it may name hosts and paths
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        sink = os.fdopen(fd, "a", encoding="utf-8")
    stdin: int = subprocess.DEVNULL if input is None else subprocess.PIPE
    if endless_input:
        stdin = _endless_stdin()
    try:
        proc = subprocess.Popen(
            argv,
            stdin=stdin,
            stdout=subprocess.PIPE if sink is None else sink,
            stderr=subprocess.PIPE if sink is None else sink,
            text=True,
            start_new_session=detach,
            env=None if env is None else {**os.environ, **env},
            pass_fds=tuple(pass_fds),
        )
    except FileNotFoundError as exc:
        raise CommandNotFoundError(argv[0], INSTALL_HINTS.get(argv[0], "")) from exc
    finally:
        if sink is not None:
            sink.close()
        if endless_input:
            os.close(stdin)
    if input is not None and proc.stdin is not None:
        with proc.stdin:
            proc.stdin.write(input)
    return proc


def attached(argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> int:
    """Run ``argv`` on this terminal (stdin, stdout and stderr are the user's) and return its
    exit code: an interactive shell, or a copy whose progress the user watches.

    Ctrl-C goes to the child (it shares the terminal's process group); hoplab only waits for it.
    A handler that does nothing, not SIG_IGN: exec resets a handler to the default, so the
    child still obeys Ctrl-C, while an ignored signal would stay ignored in it.
    """
    argv = list(argv)
    log.debug("attached %s", shlex.join(argv))
    previous = signal.signal(signal.SIGINT, _wait_for_child)
    try:
        proc = subprocess.Popen(argv, env=None if env is None else {**os.environ, **env})
        return proc.wait()
    except FileNotFoundError as exc:
        raise CommandNotFoundError(argv[0], INSTALL_HINTS.get(argv[0], "")) from exc
    finally:
        signal.signal(signal.SIGINT, previous)


def _wait_for_child(_signum: int, _frame: object) -> None:
    """Ctrl-C while a child holds the terminal: the child decides; hoplab goes on waiting."""


PROC = Path("/proc")


def alive(pid: int) -> bool:
    """Whether a local process exists (signal 0 sends nothing) and has not ended: a zombie,
    which has ended but waits for its parent (or init) to reap it, is not alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:  # Linux; elsewhere a zombie is reaped soon enough to wait for
        state = (PROC / str(pid) / "stat").read_text(encoding="utf-8").rpartition(")")[2]
    except OSError:
        return False
    return state.split()[:1] == ["Z"]


def own_command(pid: int) -> str | None:
    """The full command line of ``pid`` if it runs as this user, else None.

    PIDs are reused: a caller checks this before it signals a PID it recorded earlier. Read from
    ``/proc`` where there is one (no process to start: ``ls`` asks this for every session),
    else from ``ps``.
    """
    if (PROC / "self" / "cmdline").exists() and (found := _proc_command(pid)) is not None:
        return found or None
    done = run(["ps", "-ww", "-o", "uid=", "-o", "args=", "-p", str(pid)], check=False, timeout=10)
    uid, _, args = done.stdout.strip().partition(" ")
    if done.returncode != 0 or uid != str(os.getuid()):
        return None
    return args.strip()


def _proc_command(pid: int) -> str | None:
    """The command line from ``/proc``, as ps shows it (the arguments joined by spaces); ""
    for no process of this user or a zombie; None when ``/proc`` cannot tell (an empty
    ``cmdline`` of a live process, as a process that has just started may show)."""
    folder = PROC / str(pid)
    try:
        if folder.stat().st_uid != os.getuid():
            return ""
        raw = (folder / "cmdline").read_bytes()
        if not raw:
            state = (folder / "stat").read_text(encoding="utf-8").rpartition(")")[2].split()
            return "" if state[:1] == ["Z"] else None
    except (OSError, IndexError):  # no such process
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def is_hoplab(pid: int) -> bool:
    """Whether ``pid`` is a live hoplab process of this user (this one included).

    A PID recorded in a session (the ``up`` starting it, a foreground client) is trusted only
    after this check: after a reboot the same number may belong to anything.
    """
    if pid == os.getpid():
        return True
    if not alive(pid):
        return False
    words = (own_command(pid) or "").split()
    program = [word.rsplit("/", 1)[-1] for word in words[:3]]
    return "hoplab" in program or ("-m", "hoplab") in pairwise(words)


def terminate(pid: int, patience: float = 1.0) -> bool:
    """End ``pid``: TERM, then KILL after ``patience`` seconds (a stopped process obeys only
    KILL). The caller has checked that the PID is one of ours. True once it is gone."""
    return terminate_all([pid], patience)[pid]


def terminate_all(
    pids: Sequence[int], patience: float = 1.0, *, termed: bool = False
) -> dict[int, bool]:
    """End each of ``pids`` as :func:`terminate` does, all at once: the TERM goes to every one
    before any is waited for (``termed``: it went already, see :func:`term_all`, and the
    caller did other work meanwhile). For each, True once it is gone."""
    from hoplab.waiting import wait_until

    def ended(waited: tuple[int, ...]) -> Callable[[], bool]:
        return lambda: not any(alive(pid) for pid in waited)

    left = list(pids)
    for sig, wait in ((signal.SIGTERM, patience), (signal.SIGKILL, 5.0)):
        if not (termed and sig is signal.SIGTERM):
            left = _signal_all(left, sig)
        waited = tuple(left)
        try:
            wait_until(ended(waited), wait, what="processes to exit")
        except HoplabError:
            left = [pid for pid in left if alive(pid)]
            continue
        return dict.fromkeys(pids, True)
    return {pid: pid not in left for pid in pids}


def term_all(pids: Sequence[int]) -> None:
    """Send each of ``pids`` its TERM, waiting for none (see :func:`terminate_all`)."""
    _signal_all(pids, signal.SIGTERM)


def _signal_all(pids: Sequence[int], sig: signal.Signals) -> list[int]:
    """Send ``sig`` to each of ``pids``; those that were still there."""
    there = []
    for pid in pids:
        # gone, or its number taken meanwhile by another user's process: not ours to end
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
            there.append(pid)
    return there


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data
