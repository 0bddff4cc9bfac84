"""The pieces of supervision that need no sandbox: the locks, the first hop, the
control socket's ownership checks, and what the launcher is told about leases."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from typing import TYPE_CHECKING

import pytest

from hoplab.errors import HoplabError
from hoplab.launcher import render
from hoplab.locks import held
from hoplab.process import own_command
from hoplab.sessions.supervisor import first_hop
from hoplab.ssh.mux import MuxTransport
from hoplab.ssh.target import SshTarget

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(autouse=True)
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOPLAB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HOPLAB_RUNTIME_DIR", str(tmp_path / "rt"))


def test_a_second_holder_waits_until_the_first_lets_go() -> None:
    waiting, got = threading.Event(), threading.Event()

    def second() -> None:
        with held("k", waiting=waiting.set):
            got.set()

    with held("k"):
        thread = threading.Thread(target=second)
        thread.start()
        assert waiting.wait(5)
        assert not got.wait(0.3)
    assert got.wait(5)
    thread.join(5)


def test_locks_of_different_names_are_independent() -> None:
    waited = threading.Event()
    with held("a"), held("b", waiting=waited.set):
        assert not waited.is_set()


def test_own_command_names_our_process_and_nothing_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()", "marker"],
                             stdin=subprocess.PIPE)  # fmt: skip
    try:
        assert "marker" in (own_command(child.pid) or "")
    finally:
        child.communicate(b"", timeout=10)
    assert own_command(child.pid) is None  # reaped: no such process any more


def test_first_hop_follows_ssh_config(tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(
        "Host gate\n  HostName 10.9.8.7\n  Port 2222\n"
        "Host inner\n  ProxyJump gate\n"
        "Host piped\n  ProxyCommand nc %h %p\n"
    )
    assert first_hop(SshTarget("gate", (), str(config))) == ("10.9.8.7", 2222)
    assert first_hop(SshTarget("node", ("gate",), str(config))) == ("10.9.8.7", 2222)
    assert first_hop(SshTarget("inner", (), str(config))) is None
    assert first_hop(SshTarget("piped", (), str(config))) is None


def test_a_stale_socket_of_ours_is_removed() -> None:
    mux = MuxTransport(SshTarget("somewhere"))
    path = mux.control_path
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))  # closed below without unlinking: a dead master's leftover
    assert path.is_socket()
    mux.reset()
    assert not path.exists()


def test_something_else_at_the_control_path_is_refused_and_kept() -> None:
    mux = MuxTransport(SshTarget("somewhere"))
    path = mux.control_path
    path.write_text("not a socket")
    with pytest.raises(HoplabError, match="not a socket of yours"):
        mux.reset()
    assert path.read_text() == "not a socket"


def test_a_recorded_pid_that_is_not_our_master_is_left_alone() -> None:
    """A reused PID: the process lives, but it is not this master (its argv says so)."""
    mux = MuxTransport(SshTarget("somewhere"))
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        mux.pid_file.write_text(f"{stranger.pid}\n")
        mux.reset()
        assert stranger.poll() is None
        assert not mux.pid_file.exists()
    finally:
        stranger.kill()
        stranger.wait(10)


def test_the_launcher_is_told_the_lease_and_jupyter_the_idle_timeout() -> None:
    spec = render.LaunchSpec(
        "abc", lease_seconds=90, jupyter_args=("--ServerApp.shutdown_no_activity_timeout=600",)
    )
    script = render.launcher(spec)
    assert "HOPLAB_LEASE=90" in script
    assert "watch_lease $$" in script
    assert "--ServerApp.shutdown_no_activity_timeout=600" in script
    assert "HOPLAB_LEASE=0" in render.launcher(render.LaunchSpec("abc"))


def test_a_lease_renewal_writes_new_content_each_time() -> None:
    first, second = render.renew_lease("abc").text, render.renew_lease("abc").text
    assert first != second
    assert "HOPLAB_ID=abc" in first


def test_the_wait_between_probes_outlives_a_chain_it_cannot_work_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Which masters to watch may need a question the target cannot answer now (its sshd
    restarting): the wait then watches none and ends on time, and the probe after it decides."""
    from hoplab.records.model import Session
    from hoplab.sessions import supervisor

    def unanswered(_session: Session) -> list[int]:
        raise HoplabError("ssh to login01 failed: Connection refused")

    monkeypatch.setattr(supervisor, "_watched_pids", unanswered)
    watcher = supervisor.Supervisor("ab12cd34", store=None, notify=lambda _event: None)  # type: ignore[arg-type]
    session = Session("ab12cd34", "login01", "login01", (), None, True, "lab", "t")
    watcher._wait(0.01, session)  # returns: no exception
