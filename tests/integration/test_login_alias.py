"""Two login nodes behind one name, as most sites put them behind one DNS name.

The laptop's ``login`` lands on login01 or login02 per connection (a ProxyCommand that picks
one). The tests pin it (``Sandbox.pin_login``) so that a later connection surely lands on the
other login node than the session's ``up`` did.
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import pytest
from kernel import run_code, split_url

if TYPE_CHECKING:
    from collections.abc import Iterator

    from conftest import Laptop
    from hoplab.testing.cluster import Sandbox
    from hoplab.testing.info import SandboxInfo

pytestmark = pytest.mark.sandbox

HOSTNAME = "import socket; print(socket.gethostname())"


@pytest.fixture
def pin(hoplab_sandbox_cluster: Sandbox) -> Iterator[Sandbox]:
    try:
        yield hoplab_sandbox_cluster
    finally:
        hoplab_sandbox_cluster.pin_login(None)


def landed(hoplab_sandbox: SandboxInfo) -> str:
    """Where a fresh connection to ``login`` lands, asked with plain ssh."""
    done = subprocess.run(
        ["ssh", "-F", str(hoplab_sandbox.ssh_config), hoplab_sandbox.login_alias, "hostname"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout.strip()


def test_the_name_lands_on_either_login_node(hoplab_sandbox: SandboxInfo) -> None:
    seen = {landed(hoplab_sandbox) for _ in range(24)}  # both, unless chance is 1 in 2**23
    assert seen == set(hoplab_sandbox.logins)


def _hop_to_the_other(laptop: Laptop, pin: Sandbox, hoplab_sandbox: SandboxInfo) -> None:
    """End the laptop's connection to ``login`` and make the next one land on login02."""
    for master in laptop.masters():
        laptop.exit_master(master)
    pin.pin_login("login02")
    assert landed(hoplab_sandbox) == "login02"


def test_a_plain_session_found_from_the_other_login_node(
    laptop: Laptop, pin: Sandbox, hoplab_sandbox: SandboxInfo
) -> None:
    pin.pin_login("login01")
    started = laptop.up(hoplab_sandbox.login_alias)
    session = started["session"]
    assert session["host"] == "login01"
    _hop_to_the_other(laptop, pin, hoplab_sandbox)

    (listed,) = laptop.json("ls")["sessions"]
    assert listed["state"] == "ready", listed  # not lost: it runs on login01
    assert laptop.run("logs", session["id"], "-n", "5").stdout.strip()
    again = laptop.json("attach", session["id"], "--detach", "--no-browser")
    base, token = split_url(again["url"])
    assert run_code(base, token, HOSTNAME).strip() == "login01"

    (down,) = laptop.json("down", session["id"])["results"]
    assert down["clean"], down
    assert not [line for line in laptop.remote_jupyters("login01") if session["id"] in line]


def test_a_job_does_not_care_which_login_node_answers(
    cluster_laptop: Laptop, pin: Sandbox, hoplab_sandbox: SandboxInfo
) -> None:
    pin.pin_login("login01")
    session = cluster_laptop.up(hoplab_sandbox.login_alias, "--time", "10")["session"]
    assert session["scheduler"] == "slurm"
    _hop_to_the_other(cluster_laptop, pin, hoplab_sandbox)
    (listed,) = cluster_laptop.json("ls")["sessions"]
    assert listed["state"] == "ready", listed
    (down,) = cluster_laptop.json("down", session["id"])["results"]
    assert down["clean"], down
