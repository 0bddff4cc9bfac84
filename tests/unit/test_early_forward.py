"""On a plain host ``up`` forwards to Jupyter's socket while Jupyter starts: the prepare script
says where the launcher will put it, and the forward made then is kept when Jupyter listens
there, or replaced (an older Jupyter listens on TCP instead)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hoplab.launcher import render
from hoplab.launcher.render import Environment, LaunchSpec
from hoplab.protocol import Reply, SchedulerName
from hoplab.remote import frames
from hoplab.ssh.target import SshTarget
from hoplab.ssh.transport import Forward, Transport
from hoplab.tunnel import forwards, relay

if TYPE_CHECKING:
    from collections.abc import Iterator

TOKEN = "5e0c1f7a9b2d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d"


class Recorder(Transport):
    """A master that records what it is asked; its forward makes the local socket file, as
    ssh does, and its cancel leaves it, as ssh does."""

    multiplexed = True

    def __init__(self, home: Path | None = None, env: dict[str, str] | None = None) -> None:
        super().__init__(SshTarget("host"))
        self.home, self.env = home, env or {}
        self.calls: list[tuple[str, str, str]] = []

    def connect(self, *, interactive: bool) -> None:
        return None

    def command(self, *remote: str) -> list[str]:
        values = [f"{name}={value}" for name, value in self.env.items()]
        return ["env", f"HOME={self.home}", "PATH=/usr/bin:/bin", *values, *remote]

    def forward(self, path: str, remote: str) -> Forward:
        self.calls.append(("forward", path, remote))
        Path(path).touch()
        return Forward(path, remote)

    def cancel(self, forward: Forward) -> None:
        self.calls.append(("cancel", forward.local, forward.remote))

    def close(self) -> None:
        return None


def spec() -> LaunchSpec:
    return LaunchSpec("abcd1234", "lab", Environment())


@pytest.mark.parametrize("base", [None, "short"])
def test_prepare_says_the_socket_without_a_scheduler_only(tmp_path: Path, base: str | None) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {} if base is None else {"HOPLAB_SOCKET_BASE": str(tmp_path / base)}
    host = Recorder(home, env)
    plain = frames.run(host, render.prepare(spec(), TOKEN, submit=None))
    assert plain.values()[Reply.SOCKET] == (
        f"{env.get('HOPLAB_SOCKET_BASE', '/tmp')}/hoplab-{os.getuid()}/abcd1234.sock"
    )
    subprocess.run(["rm", "-rf", str(home / ".hoplab")], check=True)
    job = render.prepare(spec(), TOKEN, submit=None, scheduler=SchedulerName.SLURM)
    assert Reply.SOCKET not in frames.run(host, job).values()  # the node decides there


def test_prepare_works_on_a_host_without_hostname(tmp_path: Path) -> None:
    """Some minimal systems have no ``hostname`` command: the host is then unknown, and the
    session directory is made all the same."""
    home, tools = tmp_path / "home", tmp_path / "bin"
    home.mkdir()
    tools.mkdir()
    for tool in ("sh", "mkdir", "chmod", "id", "tr", "cat"):
        found = shutil.which(tool)
        assert found is not None
        (tools / tool).symlink_to(found)
    host = Recorder(home, {"PATH": str(tools)})
    said = frames.run(host, render.prepare(spec(), TOKEN, submit=None))
    assert said.values()[Reply.HOST] == ""
    assert said.values()[Reply.DIR] == f"{home}/.hoplab/sessions/abcd1234"
    assert (home / ".hoplab" / "sessions" / "abcd1234" / "launch.sh").is_file()


@pytest.fixture
def path(tmp_path: Path) -> Iterator[str]:
    socket_path = str(tmp_path / "fw.sock")
    yield socket_path
    relay.stop_all()


def test_the_early_forward_is_kept_when_jupyter_listens_where_it_leads(path: str) -> None:
    master = Recorder()
    early = master.forward(path, "/tmp/hoplab-1/abcd1234.sock")
    forward, port = forwards.open_tunnel(
        master, "/tmp/hoplab-1/abcd1234.sock", path, None, early=early
    )
    assert forward is early
    assert relay.serving(port) is not None
    assert master.calls == [("forward", path, "/tmp/hoplab-1/abcd1234.sock")]  # no second


def test_an_early_forward_whose_socket_went_is_made_anew(path: str) -> None:
    """Its master went while Jupyter started (and took the forward along): forwarded anew, so
    that a master that is not there says so at once."""
    master = Recorder()
    early = master.forward(path, "/tmp/hoplab-1/abcd1234.sock")
    Path(path).unlink()
    forward, _ = forwards.open_tunnel(
        master, "/tmp/hoplab-1/abcd1234.sock", path, None, early=early
    )
    assert forward == early
    assert [call[0] for call in master.calls] == ["forward", "forward"]


def test_the_early_forward_goes_when_jupyter_listens_elsewhere(path: str) -> None:
    master = Recorder()
    early = master.forward(path, "/tmp/hoplab-1/abcd1234.sock")
    forward, _ = forwards.open_tunnel(master, "127.0.0.1:8890", path, None, early=early)
    assert forward == Forward(path, "127.0.0.1:8890")
    assert master.calls == [
        ("forward", path, "/tmp/hoplab-1/abcd1234.sock"),
        ("cancel", path, "/tmp/hoplab-1/abcd1234.sock"),  # the master's listener goes too
        ("forward", path, "127.0.0.1:8890"),
    ]
