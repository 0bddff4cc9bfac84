"""Platforms hoplab is not run on here, simulated: native Windows (refused) and macOS (shorter
Unix socket paths, BSD ``ps``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hoplab import cli, paths, process
from hoplab.errors import HoplabError
from hoplab.process import Completed
from hoplab.ssh.mux import MuxTransport
from hoplab.ssh.target import SshTarget
from hoplab.waiting import wait_until

LAUNCHER = Path(paths.__file__).parent / "launcher" / "sh" / "launcher.sh"


# Native Windows -------------------------------------------------------------------------------


def test_native_windows_is_refused_before_anything_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    loaded = set(sys.modules)
    monkeypatch.setattr(os, "name", "nt")
    monkeypatch.setattr(sys, "argv", ["hoplab", "sandbox", "--help"])
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    monkeypatch.undo()
    assert stopped.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1  # one message
    assert "native Windows" in captured.err
    assert "WSL" in captured.err
    assert {name for name in set(sys.modules) - loaded if name.startswith("hoplab")} == set()


def test_posix_passes_the_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "name", "posix")
    cli.refuse_native_windows()  # returns: nothing to refuse


# Unix socket paths: 104 bytes on macOS, 108 on Linux --------------------------------------------


@pytest.mark.parametrize(("platform", "limit"), [("linux", 108), ("darwin", 104)])
def test_socket_path_limit(monkeypatch: pytest.MonkeyPatch, platform: str, limit: int) -> None:
    monkeypatch.setattr(sys, "platform", platform)
    assert paths.socket_path_limit() == limit


def runtime_dir_of_length(tmp_path: Path, control_path_length: int) -> Path:
    """A runtime directory whose ControlPath (``<dir>/cm/<16 hex>``) has the given length."""
    filler = control_path_length - len(f"{tmp_path}/") - len("/cm/") - 16
    assert filler > 0
    return tmp_path / ("r" * filler)


@pytest.mark.parametrize(
    ("platform", "length", "fits"),
    [
        # 90 + 17 = 107 bytes: the most Linux takes (108 with the NUL)
        ("linux", 90, True),
        ("linux", 91, False),
        # 86 + 17 = 103 bytes: the most macOS takes (104 with the NUL)
        ("darwin", 86, True),
        ("darwin", 87, False),
    ],
)
def test_control_path_must_leave_room_for_ssh_temporary_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, platform: str, length: int, fits: bool
) -> None:
    monkeypatch.setenv("HOPLAB_RUNTIME_DIR", str(runtime_dir_of_length(tmp_path, length)))
    monkeypatch.setattr(sys, "platform", platform)
    transport = MuxTransport(SshTarget("login.hpc"))
    if fits:
        assert len(os.fsencode(transport.control_path)) == length
        return
    with pytest.raises(HoplabError) as refused:
        _ = transport.control_path
    assert f"({length + 17} bytes; at most {paths.socket_path_limit() - 1})" in str(refused.value)
    assert "HOPLAB_RUNTIME_DIR" in refused.value.hint


def test_the_default_control_path_fits_macos_for_any_uid(monkeypatch: pytest.MonkeyPatch) -> None:
    """``/tmp/hoplab-<uid>/cm/<16 hex>`` with the largest uid still fits 104 bytes with ssh's 17."""
    longest = Path("/tmp") / f"hoplab-{2**32 - 1}" / "cm" / ("f" * 16)
    monkeypatch.setattr(sys, "platform", "darwin")
    assert paths.fitting_socket_path(longest, extra=paths.SSH_TEMPORARY_SUFFIX) == longest


def test_the_node_socket_path_fits_macos(tmp_path: Path) -> None:
    """The launcher's socket (on the node, which may be a Mac with --scheduler none) for the
    largest uid and a session id as ``up`` makes them (8 hex digits)."""
    (line,) = [row for row in LAUNCHER.read_text().splitlines() if row.startswith("sock=")]
    common = LAUNCHER.with_name("common.sh").read_text().splitlines()
    (where,) = [row for row in common if row.startswith("socket_dir()")]
    script = (
        f'id() {{ echo {2**32 - 1}; }}\n{where}\nHOPLAB_ID=3f9c2a1b\n{line}\nprintf %s "$sock"\n'
    )
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    assert re.fullmatch(r"/tmp/hoplab-4294967295/3f9c2a1b\.sock", done.stdout)
    assert len(done.stdout.encode()) <= 104 - 1


# BSD ps (macOS) -----------------------------------------------------------------------------------


def ps_answers(monkeypatch: pytest.MonkeyPatch, stdout: str, returncode: int = 0) -> list[str]:
    """Make ``ps`` answer ``stdout``; the argv it was asked with is appended to the result."""
    asked: list[str] = []

    def run(argv: list[str], **_: object) -> Completed:
        asked.extend(argv)
        return Completed(list(argv), returncode, stdout, "")

    monkeypatch.setattr(process, "run", run)
    return asked


@pytest.mark.parametrize(
    "stdout",
    [
        "  501 /usr/bin/ssh -o ControlPath=/tmp/hoplab-501/cm/ab -N login.hpc\n",  # macOS
        "501 /usr/bin/ssh -o ControlPath=/tmp/hoplab-501/cm/ab -N login.hpc\n",  # procps
    ],
)
def test_own_command_reads_bsd_and_procps_ps(
    monkeypatch: pytest.MonkeyPatch, stdout: str, tmp_path: Path
) -> None:
    monkeypatch.setattr(process, "PROC", tmp_path / "no-proc")  # as on macOS
    monkeypatch.setattr(os, "getuid", lambda: 501)
    asked = ps_answers(monkeypatch, stdout)
    command = process.own_command(4242)
    assert command == "/usr/bin/ssh -o ControlPath=/tmp/hoplab-501/cm/ab -N login.hpc"
    # options both BSD ps and procps know: no header, full width, one PID
    assert asked == ["ps", "-ww", "-o", "uid=", "-o", "args=", "-p", "4242"]


def test_own_command_is_none_for_another_user_or_no_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(process, "PROC", tmp_path / "no-proc")
    monkeypatch.setattr(os, "getuid", lambda: 501)
    ps_answers(monkeypatch, "    0 /usr/sbin/sshd\n")
    assert process.own_command(1) is None
    ps_answers(monkeypatch, "", returncode=1)  # BSD ps: no such process, no output, exit 1
    assert process.own_command(99999) is None


@pytest.mark.parametrize(
    ("raised", "alive"),
    [(None, True), (PermissionError, True), (ProcessLookupError, False)],
)
def test_alive_by_signal_zero(
    monkeypatch: pytest.MonkeyPatch, raised: type[OSError] | None, alive: bool
) -> None:
    """Signal 0 means the same on macOS: EPERM is someone else's live process, ESRCH none."""

    def kill(pid: int, sig: int) -> None:
        assert sig == 0
        if raised is not None:
            raise raised

    monkeypatch.setattr(os, "kill", kill)
    assert process.alive(4242) is alive


def test_own_command_reads_proc_without_starting_a_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Linux: ``/proc/PID/cmdline`` (NUL-separated; a master renamed by ssh keeps its padding),
    only for a process of this user; ``ps`` is never run."""
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "cmdline").write_bytes(b"python\0")
    (proc / "4242").mkdir()
    (proc / "4242" / "cmdline").write_bytes(b"/usr/bin/ssh\0-o\0ControlPath=/tmp/x\0host\0")
    (proc / "4243").mkdir()
    (proc / "4243" / "cmdline").write_bytes(b"ssh: /tmp/cm/ab [mux]" + b" " * 40 + b"\0\0")
    (proc / "4244").mkdir()
    (proc / "4244" / "cmdline").write_bytes(b"")  # a zombie
    (proc / "4244" / "stat").write_text("4244 (python3 (x)) Z 1 4244")
    monkeypatch.setattr(process, "PROC", proc)
    asked = ps_answers(monkeypatch, "")
    assert process.own_command(4242) == "/usr/bin/ssh -o ControlPath=/tmp/x host"
    assert process.own_command(4243) == "ssh: /tmp/cm/ab [mux]"
    assert process.own_command(4244) is None
    assert process.own_command(4245) is None  # no such process
    monkeypatch.setattr(os, "getuid", lambda: proc.stat().st_uid + 1)
    assert process.own_command(4242) is None  # another user's
    assert asked == []
    # a live process whose cmdline is empty for a moment, just started: ps is asked instead
    (proc / "4246").mkdir()
    (proc / "4246" / "cmdline").write_bytes(b"")
    (proc / "4246" / "stat").write_text("4246 (python3) R 1 4246")
    monkeypatch.setattr(os, "getuid", lambda: proc.stat().st_uid)
    asked = ps_answers(monkeypatch, f"{proc.stat().st_uid} python3 -m hoplab up\n")
    assert process.own_command(4246) == "python3 -m hoplab up"
    assert asked[-1] == "4246"


def test_a_zombie_is_not_alive() -> None:
    """A process that has ended but is not reaped yet (the supervisor ``down`` just ended,
    whose parent is gone) is not alive: ``down`` does not wait for init to reap it."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        wait_until(lambda: not process.alive(child.pid), 10, what="the child to end")
        state = Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()[0]
        assert state == "Z"  # it was a zombie all along: ended, not reaped (we never waited)
    finally:
        child.wait(10)
