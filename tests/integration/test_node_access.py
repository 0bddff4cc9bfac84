"""Working around a running notebook: the portable reconnect script, sync, a shell on the
node and an ssh Host block for any client (issue 17, items 2 to 4), on the sandbox's SLURM.

- The script: run with hoplab out of reach (``env -i`` and the system PATH, the user's own
  ssh config only), /api/status answers 200 through its tunnel, no token in the file or in
  any argv while it runs, and after Ctrl-C no ssh process of the script is left.
- sync: a tree with spaces and unicode in its names goes to the node and back, ``--dry-run``
  copies nothing, ``--delete`` deletes; the login master is the same before and after, and
  the login node's sshd logs no new authentication.
- shell and ssh-config: ``hoplab shell ID -- hostname`` and ``ssh -F <block> hoplab-ID
  hostname`` print the node, also under pam_slurm_adopt; a node that refuses ssh is entered
  through ``srun --overlap --jobid``, and hoplab says so.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from kernel import run_code, split_url

from hoplab.testing.layout import LOGIN
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator

    from conftest import Laptop
    from hoplab.testing.cluster import Sandbox
    from hoplab.testing.info import SandboxInfo

pytestmark = pytest.mark.sandbox

HOSTNAME = "import socket; print(socket.gethostname())"
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def accepted(hoplab_sandbox: SandboxInfo, host: str) -> int:
    """How many authentications ``host``'s sshd has logged (LogLevel VERBOSE)."""
    log = hoplab_sandbox.root_dir / "logs" / f"sshd-{host}.out"
    text = log.read_text(errors="replace") if log.exists() else ""
    return text.count("Accepted publickey ")  # one line per login (not "Accepted key ...")


def processes_with(text: str) -> list[str]:
    """Command lines of this machine's processes that contain ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(cmdline)
    return found


def user_home_with_ssh_config(hoplab_sandbox: SandboxInfo, base: Path) -> Path:
    """A home whose ~/.ssh/config is the user's own (the sandbox laptop's), and nothing of
    hoplab: what another machine with the user's ssh setup has."""
    home = base / "other-machine"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh").chmod(0o700)
    config = home / ".ssh" / "config"
    config.write_text(f"Include {hoplab_sandbox.ssh_config}\n")
    config.chmod(0o600)
    return home


def batch_session(laptop: Laptop, *args: str) -> tuple[dict[str, Any], str]:
    result = laptop.up(LOGIN, "--time", "15", *args)
    session = result["session"]
    assert session["scheduler"] == "slurm"
    assert session["reach"] == "ssh-node"
    return session, result["url"]


# -- the reconnect script ----------------------------------------------------------------------


def test_the_reconnect_script_runs_without_hoplab(
    cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo
) -> None:
    laptop = cluster_laptop
    session, url = batch_session(laptop)
    _, token = split_url(url)
    script = laptop.home / "reconnect.sh"
    laptop.run("attach", session["id"], "--script", str(script))
    assert (script.stat().st_mode & 0o777) == 0o700
    text = script.read_text()
    assert token not in text
    node = session["host"]
    assert f"open_hop {node} {node} " in text  # the node's hop, with its vouched key
    home = user_home_with_ssh_config(hoplab_sandbox, laptop.home)
    run = subprocess.Popen(
        ["env", "-i", f"HOME={home}", f"PATH={SYSTEM_PATH}", "/bin/sh", str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # Ctrl-C below goes to its group, as a terminal sends it
    )
    try:
        assert run.stdout is not None
        printed = run.stdout.readline().strip()  # the URL, once Jupyter answered
        assert printed.startswith("http://127.0.0.1:"), run.stderr.read() if run.stderr else ""
        base, got = split_url(printed)
        assert got == token
        assert run_code(base, got, HOSTNAME).strip() == session["host"]
        assert not processes_with(token), "the token is in an argv"
        os.killpg(run.pid, signal.SIGINT)
        run.wait(timeout=60)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=30)
        for stream in (run.stdout, run.stderr):
            if stream is not None:
                stream.close()
    assert run.returncode == 130
    wait_until(
        lambda: not [c for c in processes_with("ControlPath=/tmp/hoplab.") if "ssh" in c],
        15,
        what="the script's ssh masters to exit",
    )
    assert not [c for c in processes_with("-S /tmp/hoplab.") if "ssh" in c]
    (down,) = laptop.json("down", session["id"])["results"]
    assert down["clean"], down


# -- sync ------------------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small tree whose names hold spaces, quotes and unicode."""
    root = tmp_path / "data set"
    (root / "été über").mkdir(parents=True)
    (root / "été über" / "ñame with 'quote'.txt").write_text("un\n")
    (root / "a b.csv").write_text("x,y\n1,2\n")
    (root / "日本語").write_text("三\n")
    return root


def files_of(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): path.read_text()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_sync_a_tree_to_the_node_and_back_on_the_same_master(
    cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo, tree: Path, tmp_path: Path
) -> None:
    assert shutil.which("rsync"), "rsync is missing: run scripts/install.sh"
    laptop = cluster_laptop
    session, _ = batch_session(laptop)
    sid = session["id"]
    remote = "sync test/été dir"
    masters = laptop.master_pids()
    logins = {host: accepted(hoplab_sandbox, host) for host in (LOGIN, session["host"])}
    try:
        dry = laptop.run("sync", sid, "--dry-run", f"{tree}/", f":{remote}")
        assert not (hoplab_sandbox.home / "sync test").exists(), dry.stderr
        laptop.run("sync", sid, f"{tree}/", f":{remote}")
        assert files_of(hoplab_sandbox.home / remote) == files_of(tree)  # the shared home
        back = tmp_path / "back"
        laptop.run("sync", sid, f":~/{remote}/", str(back))
        assert files_of(back) == files_of(tree)
        (tree / "a b.csv").unlink()
        laptop.run("sync", sid, "--delete", f"{tree}/", f":{remote}")
        assert "a b.csv" not in files_of(hoplab_sandbox.home / remote)
        # no new authentication, to the login node or the node: the masters carried it all
        assert {host: accepted(hoplab_sandbox, host) for host in logins} == logins
        # the node sees the copy too (through an ssh session of the harness's own, after the
        # count: it logs in)
        seen = hoplab_sandbox.run_as_user(session["host"], "ls ~/'sync test'/'été dir'\n")
        assert "日本語" in seen.stdout
        assert "a b.csv" not in seen.stdout
        assert set(masters) <= set(laptop.master_pids())
        for master in laptop.masters():
            argv = ["ssh", "-F", str(hoplab_sandbox.ssh_config), "-S", str(master)]
            check = subprocess.run(
                [*argv, "-O", "check", "x"],
                capture_output=True,
                text=True,
                check=False,
                timeout=10,
            )
            assert check.returncode == 0, check.stderr
    finally:
        hoplab_sandbox.run_as_user(LOGIN, "rm -rf ~/'sync test'\n", check=False)
    (down,) = laptop.json("down", sid)["results"]
    assert down["clean"], down


def test_sync_with_a_target_and_a_laptop_home_path(
    cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo, tree: Path
) -> None:
    """Any target works too, and a path the laptop's shell expanded from ~ lands in the
    remote home (said as a note)."""
    laptop = cluster_laptop
    laptop_home = Path.home()
    done = laptop.run("sync", LOGIN, f"{tree}/", f":{laptop_home}/hoplab-sync-home")
    try:
        assert "read as ~/hoplab-sync-home" in done.stderr
        assert files_of(hoplab_sandbox.home / "hoplab-sync-home") == files_of(tree)
    finally:
        hoplab_sandbox.run_as_user(LOGIN, "rm -rf ~/hoplab-sync-home\n", check=False)


# -- shell and ssh-config -----------------------------------------------------------------


def host_block_config(laptop: Laptop, hoplab_sandbox: SandboxInfo, sid: str) -> Path:
    """The printed block first, then the user's own config (keys, login01's known host)."""
    block = laptop.run("ssh-config", sid).stdout
    assert f"Host hoplab-{sid}" in block
    config = laptop.home / "block_config"
    config.write_text(f"{block}\nInclude {hoplab_sandbox.ssh_config}\n")
    config.chmod(0o600)
    return config


def ssh_with_block(config: Path, sid: str, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh", "-F", str(config), f"hoplab-{sid}", *command],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_shell_and_an_ssh_client_land_on_the_node(
    cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo
) -> None:
    laptop = cluster_laptop
    session, _ = batch_session(laptop)
    sid, node = session["id"], session["host"]
    login_logins = accepted(hoplab_sandbox, LOGIN)
    shell = laptop.run("shell", sid, "--", "hostname")
    assert shell.stdout.strip() == node
    assert "going in through" not in shell.stderr
    failing = laptop.run("shell", sid, "--", "exit", "3", check=False)
    assert failing.returncode == 3  # the remote command's exit code is hoplab's
    config = host_block_config(laptop, hoplab_sandbox, sid)
    done = ssh_with_block(config, sid, "hostname")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == node
    # both rode the login master: the login node saw no new authentication
    assert accepted(hoplab_sandbox, LOGIN) == login_logins
    # the node's key came from hoplab's file, never from the user's known_hosts
    assert node not in hoplab_sandbox.known_hosts.read_text()
    (down,) = laptop.json("down", sid)["results"]
    assert down["clean"], down


@pytest.fixture
def adopting(cluster_laptop: Laptop, hoplab_sandbox_cluster: Sandbox) -> Iterator[Laptop]:
    """pam_slurm_adopt on the nodes for this test only (see test_job_containers)."""
    hoplab_sandbox_cluster.set_site(contain=False, adopt=True)
    try:
        yield cluster_laptop
    finally:
        cluster_laptop.run("down", "--all", check=False)
        hoplab_sandbox_cluster.set_site(contain=False, adopt=False)


def test_shell_and_ssh_config_under_pam_slurm_adopt(
    adopting: Laptop, hoplab_sandbox: SandboxInfo
) -> None:
    laptop = adopting
    session, _ = batch_session(laptop, "--directive=--nodelist=node001")
    sid = session["id"]
    assert session["host"] == "node001"
    assert laptop.run("shell", sid, "--", "hostname").stdout.strip() == "node001"
    # pam_slurm_adopt lets in only a user with a job on the node (checked at the end, once
    # the job is gone): getting in at all is being adopted into the job.
    config = host_block_config(laptop, hoplab_sandbox, sid)
    done = ssh_with_block(config, sid, "hostname")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "node001"
    (down,) = laptop.json("down", sid)["results"]
    assert down["clean"], down
    refused = hoplab_sandbox.run_as_user("node001", "true\n", check=False)
    assert refused.returncode == 255, "pam_slurm_adopt let in a user whose job ended"


def test_shell_goes_through_srun_where_nodes_refuse_ssh(
    cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo, hoplab_sandbox_cluster: Sandbox
) -> None:
    laptop = cluster_laptop
    for node in hoplab_sandbox.nodes:
        hoplab_sandbox_cluster.refuse_ssh(node)
    try:
        result = laptop.up(LOGIN, "--time", "15")
        session = result["session"]
        assert session["reach"] == "login-tcp"
        shell = laptop.run("shell", session["id"], "--", "hostname")
        assert shell.stdout.strip() == session["host"]
        assert "going in through slurm's own way into job" in shell.stderr
        refused = laptop.run("ssh-config", session["id"], check=False)
        assert refused.returncode == 1
        assert f"hoplab shell {session['id']}" in refused.stderr
        started = time.monotonic()
        (down,) = laptop.json("down", session["id"])["results"]
        assert down["clean"], down
        assert time.monotonic() - started < 120
    finally:
        for node in hoplab_sandbox.nodes:
            hoplab_sandbox_cluster.allow_ssh(node)
