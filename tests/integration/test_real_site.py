"""The sandbox as a real site is: conditions every site has, and ones some sites have.

Defaults (every test runs under them): the laptop's known_hosts lists login01 only, login01's
/etc/ssh/ssh_known_hosts lists its nodes, and every host has a /tmp of its own. Switched on
here: a login node that vouches for no node (its key is scanned, trust on first use), and a
user ssh config that sets ``RemoteCommand`` and ``RequestTTY`` for the cluster.
"""

from __future__ import annotations

import secrets
import shlex
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from kernel import run_code, split_url

from hoplab.testing.layout import LOGIN

if TYPE_CHECKING:
    from collections.abc import Iterator

    from conftest import Laptop
    from hoplab.testing.info import SandboxInfo

pytestmark = pytest.mark.sandbox

HOSTNAME = "import socket; print(socket.gethostname())"


def test_the_laptop_knows_the_login_node_only(hoplab_sandbox: SandboxInfo) -> None:
    listed = {line.split()[0] for line in hoplab_sandbox.known_hosts.read_text().splitlines()}
    address = hoplab_sandbox.login_address
    # each login node, both behind "login", and login01's one-time-code port; no node
    assert listed == {
        f"{LOGIN},{address}",
        "login02,10.201.3.2",
        hoplab_sandbox.login_alias,
        f"[{address}]:2222",
    }
    plain = subprocess.run(
        ["ssh", "-F", str(hoplab_sandbox.ssh_config), "node001", "true"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert plain.returncode == 255
    assert "Host key verification failed" in plain.stderr


def test_every_host_has_its_own_tmp(hoplab_sandbox: SandboxInfo) -> None:
    name = f"hoplab-tmp-{secrets.token_hex(4)}"
    hoplab_sandbox.run_as_user("node001", f"touch /tmp/{name}\n")
    try:
        for host in (LOGIN, "node002"):
            seen = hoplab_sandbox.run_as_user(host, f"ls /tmp/{name}\n", check=False)
            assert seen.returncode != 0, f"{host} sees node001's /tmp"
        assert not (Path("/tmp") / name).exists()
        assert hoplab_sandbox.host_path("node001", f"/tmp/{name}").exists()
    finally:
        hoplab_sandbox.run_as_user("node001", f"rm -f /tmp/{name}\n")


def test_a_job_node_is_reached_with_the_key_its_login_node_vouches_for(
    cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo
) -> None:
    """SLURM: Jupyter on the node's private socket, reached by ssh through login01's master."""
    laptop = cluster_laptop
    done = laptop.run(
        "up", LOGIN, "--venv", str(hoplab_sandbox.jupyter_venv), "--detach", "--no-browser"
    )
    assert "vouched for by its known_hosts" in done.stderr + done.stdout
    assert "refuses ssh" not in done.stderr
    (session,) = laptop.json("ls")["sessions"]
    assert session["reach"] == "ssh-node"
    assert session["listen"] == "socket"
    # the key went to hoplab's own file, never to the user's known_hosts
    assert "node" not in hoplab_sandbox.known_hosts.read_text()
    (down,) = laptop.json("down", session["id"])["results"]
    assert down["clean"], down


def test_a_plain_host_behind_the_login_node(laptop: Laptop) -> None:
    result = laptop.up("node002")
    session = result["session"]
    base, token = split_url(result["url"])
    assert run_code(base, token, HOSTNAME).strip() == "node002"
    assert laptop.json("ls")["sessions"][0]["state"] == "ready"
    (down,) = laptop.json("down", session["id"])["results"]
    assert down["clean"], down


@pytest.fixture
def login_vouches_for_nobody(hoplab_sandbox: SandboxInfo) -> Iterator[None]:
    """login01's system known_hosts emptied (as on a site that keeps none); restored after."""
    listing = hoplab_sandbox.root_dir / "etc-ssh" / LOGIN / "ssh_known_hosts"
    saved = listing.read_text()
    listing.write_text("")
    try:
        yield
    finally:
        listing.write_text(saved)


def test_a_key_nobody_vouches_for_is_scanned_and_said(
    login_vouches_for_nobody: None, laptop: Laptop, hoplab_sandbox: SandboxInfo
) -> None:
    done = laptop.run(
        "up",
        "node001",
        "--venv",
        str(hoplab_sandbox.jupyter_venv),
        "--detach",
        "--no-browser",
    )
    said = done.stderr + done.stdout
    assert "trust on first use" in said
    (session,) = laptop.json("ls")["sessions"]
    assert session["state"] == "ready"
    (down,) = laptop.json("down", session["id"])["results"]
    assert down["clean"], down


def test_a_user_config_with_remote_command_and_tty(
    cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo
) -> None:
    """People set these for `tmux attach`; hoplab runs its own commands all the same."""
    laptop = cluster_laptop
    config = laptop.home / "ssh_config_tmux"
    marker = hoplab_sandbox.home / f"remote-command-ran-{secrets.token_hex(4)}"  # shared home
    config.write_text(
        f"Include {hoplab_sandbox.ssh_config}\n"
        "Host *\n"
        f"    RemoteCommand touch {shlex.quote(str(marker))}; tmux attach\n"
        "    RequestTTY force\n"
    )
    laptop.env["HOPLAB_SSH_CONFIG"] = str(config)
    batch = laptop.up(LOGIN, "--time", "10")["session"]
    plain = laptop.up("node001", "--scheduler", "none")["session"]
    listed = {s["id"]: s["state"] for s in laptop.json("ls")["sessions"]}
    assert listed == {batch["id"]: "ready", plain["id"]: "ready"}
    assert laptop.run("logs", plain["id"], "-n", "5").stdout.strip()
    results = laptop.json("down", "--all")["results"]
    assert all(r["clean"] for r in results), results
    assert not marker.exists()  # the home is shared by every host: a run anywhere shows
