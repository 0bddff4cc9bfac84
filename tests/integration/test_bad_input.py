"""Bad input: a clear message, and nothing left behind (no Jupyter, no forward, a sane registry)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from conftest import listening_ports_of_laptop, listening_ssh_ports

if TYPE_CHECKING:
    from conftest import Laptop

pytestmark = pytest.mark.sandbox


def assert_nothing_left(laptop: Laptop, host: str = "node001") -> None:
    assert laptop.remote_jupyters(host) == []
    assert listening_ports_of_laptop(laptop) == []
    assert laptop.forward_sockets() == []
    assert listening_ssh_ports() == []
    assert laptop.json("ls")["sessions"] == []  # nothing live or lost in the registry


def fails(laptop: Laptop, *args: str) -> str:
    done = laptop.run(*args, check=False)
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr
    return done.stderr


def test_unknown_profile(laptop: Laptop) -> None:
    Path(laptop.env["HOPLAB_CONFIG"]).write_text('[profiles.real]\nhost = "node001"\n')
    stderr = fails(laptop, "up", "x", "--profile", "nope")
    assert "unknown profile 'nope'" in stderr
    assert "real" in stderr
    assert_nothing_left(laptop)


def test_malformed_toml(laptop: Laptop) -> None:
    path = Path(laptop.env["HOPLAB_CONFIG"])
    path.write_text('[profiles.a]\nhost = "node001"\nvenv = /no/quotes\n')
    stderr = fails(laptop, "up", "a")
    assert str(path) in stderr
    assert "line 3" in stderr
    assert "venv" in stderr
    assert_nothing_left(laptop)


@pytest.fixture
def broken_hosts(laptop: Laptop) -> None:
    """An ssh config with hosts that fail in each way ssh can fail."""
    cfg = laptop.home / "ssh_config"
    cfg.write_text(
        f"Include {laptop.sandbox.ssh_config}\n"
        "Host refused\n  HostName 10.201.1.2\n  Port 2\n"
        "Host badkey\n  HostName 10.201.1.2\n  User hopuser\n"
        f"  IdentityFile {laptop.home}/no-such-key\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {laptop.sandbox.known_hosts}\n"
    )
    laptop.env["HOPLAB_SSH_CONFIG"] = str(cfg)


@pytest.mark.usefixtures("broken_hosts")
@pytest.mark.parametrize(
    ("host", "said", "hint"),
    [
        ("no-such-host.invalid", "Could not resolve hostname", "host name"),
        ("refused", "Connection refused", "sshd"),
        ("badkey", "Permission denied", "ssh-add"),
    ],
)
def test_ssh_failures(laptop: Laptop, host: str, said: str, hint: str) -> None:
    stderr = fails(laptop, "up", host, "--venv", "/x")
    assert said in stderr
    assert "hint:" in stderr
    assert hint in stderr
    assert_nothing_left(laptop)


def test_remote_without_jupyter(laptop: Laptop) -> None:
    stderr = fails(laptop, "up", "node001", "--no-browser")
    assert "jupyter-lab not found on node001" in stderr
    assert "nothing (no --conda, --venv or --module given)" in stderr
    assert "--venv" in stderr
    assert "--conda" in stderr
    assert_nothing_left(laptop)
    [row] = laptop.sessions()
    assert row["state"] == "failed"


def test_jupyter_exits_during_startup(laptop: Laptop) -> None:
    fake = (
        "mkdir -p ~/fakebin && printf '#!/bin/sh\\n"
        "echo broken install: no module named jupyterlab >&2"
        "\\nexit 1\\n' > ~/fakebin/jupyter-lab && chmod +x ~/fakebin/jupyter-lab && "
        'export PATH="$HOME/fakebin:$PATH"'
    )
    stderr = fails(laptop, "up", "node001", "--setup", fake)
    assert "Jupyter exited during start-up on node001" in stderr
    assert "broken install: no module named jupyterlab" in stderr
    assert_nothing_left(laptop)
    laptop.sandbox.run_as_user("node001", "rm -rf ~/fakebin\n")


def test_port_in_use(laptop: Laptop) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        stderr = fails(
            laptop, "up", "node001", "--venv", str(laptop.sandbox.jupyter_venv), "--port", str(port)
        )
    assert f"local port {port} is already in use" in stderr
    assert_nothing_left(laptop)
    assert laptop.sessions() == []  # refused before anything started


def test_missing_workdir(laptop: Laptop) -> None:
    stderr = fails(
        laptop,
        "up",
        "node001",
        "--venv",
        str(laptop.sandbox.jupyter_venv),
        "--workdir",
        "~/no such dir",
    )
    assert "no such dir does not exist on node001" in stderr
    assert_nothing_left(laptop)
    [row] = laptop.sessions()
    assert row["state"] == "failed"
    assert (
        row["id"] not in laptop.sandbox.run_as_user("node001", "ls -A ~/.hoplab/sessions\n").stdout
    )


def test_unknown_key_is_shown_with_its_table(laptop: Laptop) -> None:
    """Messages quote TOML tables like [profiles.a]; they must reach the user verbatim."""
    path = Path(laptop.env["HOPLAB_CONFIG"])
    path.write_text('[profiles.a]\nhost = "node001"\nvnev = "/typo"\n')
    stderr = fails(laptop, "up", "a")
    assert "unknown key in [profiles.a]" in stderr
    assert "line 3" in stderr
    assert "vnev" in stderr
    assert_nothing_left(laptop)


def test_a_jump_host_is_needed_and_used(laptop: Laptop) -> None:
    """A node alias without ProxyJump: unreachable alone, reachable with --jump login01."""
    sandbox = laptop.sandbox
    cfg = laptop.home / "ssh_config"
    cfg.write_text(
        f"Include {sandbox.ssh_config}\n"
        f"Host bare-node001\n  HostName {sandbox.addresses['node001']}\n  User {sandbox.user}\n"
        f"  IdentityFile {sandbox.root_dir}/client/id_ed25519_{sandbox.user}\n"
        f"  IdentitiesOnly yes\n  UserKnownHostsFile {sandbox.known_hosts}\n  BatchMode yes\n"
    )
    laptop.env["HOPLAB_SSH_CONFIG"] = str(cfg)
    venv = str(sandbox.jupyter_venv)
    stderr = fails(laptop, "up", "bare-node001", "--venv", venv)
    assert "No route to host" in stderr
    assert "--jump" in stderr  # the hint names the way out
    result = laptop.json("up", "bare-node001", "--jump", "login01", "--venv", venv)
    assert result["session"]["host"] == "node001"
    assert result["session"]["destination"] == "login01 → bare-node001"
