"""Nodes as many SLURM sites run them, switched on for these tests only.

- A job-private /tmp (``job_container/tmpfs`` with ``PrologFlags=contain``): the job sees its
  own /tmp; an ssh session on the node that is not adopted into the job sees the node's. The
  socket then lives in the session directory, which both sides see.
- ``pam_slurm_adopt`` on the nodes' sshd: ssh to a node only while a job of yours runs there,
  adopted into it (and into its /tmp). The harness reaches the nodes as root meanwhile.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

import pytest
from kernel import run_code, split_url

from hoplab.testing.layout import LOGIN

if TYPE_CHECKING:
    from collections.abc import Iterator

    from conftest import Laptop
    from hoplab.testing.cluster import Sandbox
    from hoplab.testing.info import SandboxInfo

pytestmark = pytest.mark.sandbox

WHERE = "import os, socket; print(socket.gethostname(), os.path.exists({path!r}))"


def _switched(laptop: Laptop, cluster: Sandbox, *, adopt: bool) -> Iterator[Laptop]:
    """The site switched on after the laptop is made, so that it is off again (and no job of
    ours crosses the switch) before the laptop's own end-of-test checks run."""
    cluster.set_site(contain=True, adopt=adopt)
    try:
        yield laptop
    finally:
        laptop.run("down", "--all", check=False)
        cluster.set_site(contain=False, adopt=False)


@pytest.fixture
def contained(cluster_laptop: Laptop, hoplab_sandbox_cluster: Sandbox) -> Iterator[Laptop]:
    """Job-private /tmp."""
    yield from _switched(cluster_laptop, hoplab_sandbox_cluster, adopt=False)


@pytest.fixture
def adopting(cluster_laptop: Laptop, hoplab_sandbox_cluster: Sandbox) -> Iterator[Laptop]:
    """Job-private /tmp and pam_slurm_adopt."""
    yield from _switched(cluster_laptop, hoplab_sandbox_cluster, adopt=True)


def test_a_job_private_tmp(contained: Laptop, hoplab_sandbox: SandboxInfo) -> None:
    laptop = contained
    result = laptop.up(LOGIN, "--time", "10")
    session = result["session"]
    node = session["host"]
    listed = laptop.json("ls")["sessions"][0]
    assert (listed["reach"], listed["listen"]) == ("ssh-node", "socket")
    # the node's ssh sessions cannot see the job's /tmp: the socket is in the session directory
    socket = hoplab_sandbox.run_as_user(
        LOGIN, f"test -S ~/.hoplab/sessions/{session['id']}/j.sock && echo yes\n"
    )
    assert socket.stdout.strip() == "yes"
    # the job's /tmp is its own: a file the kernel makes there is not on the node's /tmp
    base, token = split_url(result["url"])
    name = f"/tmp/hoplab-private-{secrets.token_hex(4)}"
    said = run_code(base, token, f"open({name!r}, 'w').close(); " + WHERE.format(path=name))
    assert said.split() == [node, "True"]
    seen = hoplab_sandbox.run_as_user(node, f"ls {name}\n", check=False)
    assert seen.returncode != 0, "an ssh session on the node sees the job's /tmp"
    (down,) = laptop.json("down", session["id"])["results"]
    assert down["clean"], down


def test_ssh_to_a_node_only_while_a_job_runs_there(
    adopting: Laptop, hoplab_sandbox: SandboxInfo
) -> None:
    laptop = adopting
    refused = hoplab_sandbox.run_as_user("node001", "true\n", check=False)
    assert refused.returncode == 255, "pam_slurm_adopt let in a user with no job"
    result = laptop.up(LOGIN, "--time", "10", "--directive=--nodelist=node001")
    session = result["session"]
    assert session["host"] == "node001"
    listed = laptop.json("ls")["sessions"][0]
    assert (listed["reach"], listed["listen"]) == ("ssh-node", "socket")
    base, token = split_url(result["url"])
    assert run_code(base, token, "import socket; print(socket.gethostname())").strip() == "node001"
    (down,) = laptop.json("down", session["id"])["results"]
    assert down["clean"], down
    assert laptop.jobs() == [] or all("|hoplab-" not in job for job in laptop.jobs())
