"""Nodes as many SLURM sites run them, switched on for these tests only.

- ``pam_slurm_adopt`` on the nodes' sshd (with ``PrologFlags=contain``): ssh to a node only
  while a job of yours runs there, adopted into it. The harness reaches the nodes as root
  meanwhile; the real PAM module of Debian's libpam-slurm-adopt 22.05 decides.
- A job whose socket directory the node's ssh sessions cannot see, as with a job-private
  /tmp: SLURM's ``job_container/tmpfs`` fails now and then under this machine's kernel (see
  ``hoplab.testing.slurm.render_slurm_conf``), so the job is given a socket directory of its
  own through its environment instead. hoplab must notice and move the socket to the session
  directory, which both sides see.
"""

from __future__ import annotations

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

HOSTNAME = "import socket; print(socket.gethostname())"


@pytest.fixture
def adopting(cluster_laptop: Laptop, hoplab_sandbox_cluster: Sandbox) -> Iterator[Laptop]:
    """pam_slurm_adopt on, after the laptop is made, so that it is off again (and no job of
    ours crosses the switch) before the laptop's own end-of-test checks run."""
    hoplab_sandbox_cluster.set_site(contain=False, adopt=True)
    try:
        yield cluster_laptop
    finally:
        cluster_laptop.run("down", "--all", check=False)
        hoplab_sandbox_cluster.set_site(contain=False, adopt=False)


def test_a_socket_directory_the_node_ssh_cannot_see(
    cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo
) -> None:
    laptop = cluster_laptop
    private = "/var/tmp/hoplab-job-private"  # seen by this job only: ssh sessions look in /tmp
    try:
        result = laptop.up(
            LOGIN, "--time", "10", f"--directive=--export=ALL,HOPLAB_SOCKET_BASE={private}"
        )
        session = result["session"]
        listed = laptop.json("ls")["sessions"][0]
        assert (listed["reach"], listed["listen"]) == ("ssh-node", "socket")
        socket = hoplab_sandbox.run_as_user(
            LOGIN, f"test -S ~/.hoplab/sessions/{session['id']}/j.sock && echo yes\n"
        )
        assert socket.stdout.strip() == "yes", "the socket is not in the session directory"
        base, token = split_url(result["url"])
        assert run_code(base, token, HOSTNAME).strip() == session["host"]
        (down,) = laptop.json("down", session["id"])["results"]
        assert down["clean"], down
    finally:
        hoplab_sandbox.run_as_user(LOGIN, f"rm -rf {private}\n")  # (/var/tmp is the machine's)


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
    assert run_code(base, token, HOSTNAME).strip() == "node001"
    (down,) = laptop.json("down", session["id"])["results"]
    assert down["clean"], down
    assert not [job for job in laptop.jobs() if "|hoplab-" in job]
