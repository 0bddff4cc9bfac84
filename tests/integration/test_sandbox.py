"""The sandbox itself, checked end to end: every integration test stands on it.

Real sshd, SLURM and Jupyter; no mocks. The last tests restart the cluster on purpose (a broken
one is replaced, a teardown leaves nothing); they bring it back up, so the session's
``hoplab_sandbox`` fixture keeps working for the tests that run after this module (same
paths, new PIDs).
"""

from __future__ import annotations

import http.client
import os
import secrets
import shlex
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hoplab import process
from hoplab.errors import SandboxError
from hoplab.testing import Sandbox, SandboxInfo, TeardownReport, pids
from hoplab.testing.layout import HARNESS_NETWORK, NAMESPACES, ROOT_LINK
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.sandbox

ACTIVE_JOB_STATES = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING"}


def squeue_state(hoplab_sandbox: SandboxInfo, job_id: str) -> tuple[str, str] | None:
    """(state, node) of a job as squeue shows it, or None once squeue no longer lists it."""
    script = f"squeue --noheader --jobs={shlex.quote(job_id)} --format='%T %N'"
    listed = hoplab_sandbox.run_as_user(hoplab_sandbox.login_host, script).stdout.split()
    if not listed:
        return None
    return listed[0], (listed[1] if len(listed) > 1 else "")


def submit_sleeper(hoplab_sandbox: SandboxInfo) -> str:
    """Submit a long sleep as the test user; return the job id once it runs."""
    job_id = hoplab_sandbox.run_as_user(
        hoplab_sandbox.login_host, "sbatch --parsable --output=/dev/null --wrap='sleep 300'"
    ).stdout.strip()
    wait_until(
        lambda: (squeue_state(hoplab_sandbox, job_id) or ("",))[0] == "RUNNING",
        30,
        what=f"job {job_id} to run",
    )
    return job_id


def hostname(hoplab_sandbox: SandboxInfo, host: str) -> str:
    """``hostname`` on ``host`` as the test user; on failure, show all of ssh's stderr."""
    done = hoplab_sandbox.run_as_user(host, "hostname", check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def free_local_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def api_status(port: int, token: str | None) -> int | None:
    """HTTP status of GET /api/status through the tunnel, or None while it does not answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = {"Authorization": f"token {token}"} if token else {}
    try:
        conn.request("GET", "/api/status", headers=headers)
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


# ssh -----------------------------------------------------------------------------------------


def test_login_node_answers_ssh_from_the_laptop(hoplab_sandbox: SandboxInfo) -> None:
    done = process.run(hoplab_sandbox.ssh_argv(hoplab_sandbox.login_host, "hostname"), timeout=30)
    assert done.stdout.strip() == "login01"


def test_compute_node_is_not_reachable_directly(hoplab_sandbox: SandboxInfo) -> None:
    address = hoplab_sandbox.addresses["node001"]
    begin = time.monotonic()
    done = process.run(
        [
            "ssh",
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
            f"{hoplab_sandbox.user}@{address}",
            "true",
        ],
        check=False,
        timeout=30,
    )
    assert done.returncode == 255
    assert "No route to host" in done.stderr
    assert time.monotonic() - begin < 2.0, "the blackhole must refuse at once, not time out"


def test_compute_nodes_answer_through_the_login_node(hoplab_sandbox: SandboxInfo) -> None:
    for node in hoplab_sandbox.nodes:
        done = hoplab_sandbox.run_as_user(
            node, 'hostname; echo "$SSH_CONNECTION"; echo "$SLURM_CONF"'
        )
        hostname, connection, slurm_conf = done.stdout.splitlines()
        assert hostname == node
        # The connection to the node comes from login01's cluster address: it was jumped.
        assert connection.split()[0] == hoplab_sandbox.addresses[hoplab_sandbox.login_host]
        assert connection.split()[2] == hoplab_sandbox.addresses[node]
        assert slurm_conf == str(hoplab_sandbox.slurm_conf)


def test_both_users_log_in_as_themselves(hoplab_sandbox: SandboxInfo) -> None:
    assert hoplab_sandbox.run_as_user("node002", "id -un").stdout.strip() == hoplab_sandbox.user
    other = hoplab_sandbox.run_as_user("node002", "id -un; pwd", user=hoplab_sandbox.other_user)
    assert other.stdout.split() == [hoplab_sandbox.other_user, str(hoplab_sandbox.other_home)]


def test_a_node_can_refuse_the_test_user(
    hoplab_sandbox_cluster: Sandbox, hoplab_sandbox: SandboxInfo
) -> None:
    hoplab_sandbox_cluster.refuse_ssh("node002")
    try:
        refused = hoplab_sandbox.run_as_user("node002", "true", check=False)
        assert refused.returncode == 255
        assert "Permission denied" in refused.stderr
        assert hostname(hoplab_sandbox, "node001") == "node001"
        other = hoplab_sandbox.run_as_user("node002", "id -un", user=hoplab_sandbox.other_user)
        assert other.stdout.strip() == hoplab_sandbox.other_user
    finally:
        hoplab_sandbox_cluster.allow_ssh("node002")
    assert hostname(hoplab_sandbox, "node002") == "node002"


# SLURM ---------------------------------------------------------------------------------------


def test_partitions(hoplab_sandbox: SandboxInfo) -> None:
    done = hoplab_sandbox.run_as_user(
        hoplab_sandbox.login_host, "sinfo --noheader --format='%P %l %D'"
    )
    assert done.stdout.split("\n")[:2] == ["debug* infinite 2", "short 1:00 2"]


def test_sbatch_runs_on_a_node_and_scancel_removes_it(hoplab_sandbox: SandboxInfo) -> None:
    job_id = submit_sleeper(hoplab_sandbox)
    listed = squeue_state(hoplab_sandbox, job_id)
    assert listed is not None
    assert listed[0] == "RUNNING"
    assert listed[1] in hoplab_sandbox.nodes
    hoplab_sandbox.run_as_user(hoplab_sandbox.login_host, f"scancel {shlex.quote(job_id)}")
    wait_until(
        lambda: (squeue_state(hoplab_sandbox, job_id) or ("GONE",))[0] not in ACTIVE_JOB_STATES,
        30,
        what=f"job {job_id} to leave the queue after scancel",
    )


# Jupyter -------------------------------------------------------------------------------------

START_JUPYTER = """\
set -eu
dir=/tmp/hoplab-$(id -u)
mkdir -p "$dir"
chmod 700 "$dir"
umask 077
rm -rf "$dir/sandbox-test" && mkdir "$dir/sandbox-test"
# read and printf are shell builtins: the token is in no argv. No trailing newline, since
# jupyter_server reads JUPYTER_TOKEN_FILE verbatim.
IFS= read -r token <<'EOF'
{token}
EOF
printf '%s' "$token" > "$dir/sandbox-test/token"
export JUPYTER_TOKEN_FILE="$dir/sandbox-test/token" JUPYTER_RUNTIME_DIR="$dir/sandbox-test/rt"
setsid {jupyter} lab --no-browser --sock="$dir/sandbox-test/x.sock" \\
    </dev/null >"$dir/sandbox-test/log" 2>&1 &
echo "$! $dir/sandbox-test"
"""

CONNECT_AS_OTHER = """\
{python} -c 'import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' {sock}
"""


def test_jupyter_on_a_node_through_a_unix_socket_tunnel(hoplab_sandbox: SandboxInfo) -> None:
    token = secrets.token_urlsafe(24)
    jupyter = shlex.quote(str(hoplab_sandbox.jupyter_venv / "bin" / "jupyter"))
    started = hoplab_sandbox.run_as_user(
        "node001", START_JUPYTER.format(token=token, jupyter=jupyter)
    )
    pid_text, session_text = started.stdout.split()
    server = pids.record("jupyter", int(pid_text))  # setsid execs in place: $! is Jupyter
    session = Path(session_text)
    sock = session / "x.sock"
    port = free_local_port()
    tunnel = process.spawn(
        hoplab_sandbox.ssh_argv("node001", options=["-N", "-L", f"127.0.0.1:{port}:{sock}"])
    )
    try:
        assert wait_until(lambda: api_status(port, token), 90, what="Jupyter through the tunnel")
        assert api_status(port, token) == 200
        assert api_status(port, None) == 403
        # Jupyter's own record names the PID we hold; the token is in no argv. node001's
        # /tmp is its own: the laptop sees it only under the sandbox's per-host directory.
        seen = hoplab_sandbox.host_path("node001", session)
        assert not session.exists() or session.resolve() != seen.resolve()
        assert [p.name for p in (seen / "rt").glob("jpserver-*.json")] == [
            f"jpserver-{server.pid}.json"
        ]
        assert token not in Path(f"/proc/{server.pid}/cmdline").read_text()
        assert (seen / "x.sock").stat().st_mode & 0o777 == 0o600
        assert seen.parent.stat().st_mode & 0o777 == 0o700
        # Another user on the same node cannot even reach the socket.
        other = hoplab_sandbox.run_as_user(
            "node001",
            CONNECT_AS_OTHER.format(
                python=shlex.quote(str(hoplab_sandbox.jupyter_venv / "bin" / "python")),
                sock=shlex.quote(str(sock)),
            ),
            user=hoplab_sandbox.other_user,
            check=False,
        )
        assert other.returncode != 0
        assert "PermissionError" in other.stderr
    finally:
        if pids.is_alive(server):
            hoplab_sandbox.run_as_user("node001", f"kill {server.pid}")
        wait_until(lambda: not pids.is_alive(server), 30, what="Jupyter to stop by its PID")
        tunnel.terminate()
        tunnel.communicate(timeout=10)
        hoplab_sandbox.run_as_user("node001", f"rm -rf {shlex.quote(str(session))}")


# lifecycle (these restart the cluster: keep them last) ----------------------------------------


def test_second_up_reuses_the_running_sandbox(hoplab_sandbox_cluster: Sandbox) -> None:
    before = hoplab_sandbox_cluster.info()
    again = Sandbox().up()
    assert again.reused
    assert again.pids == before.pids
    assert again.started_at == before.started_at


def test_up_replaces_a_broken_sandbox(hoplab_sandbox_cluster: Sandbox) -> None:
    before = hoplab_sandbox_cluster.info()
    victim = pids.record("sshd@node002", before.pids["sshd@node002"])
    os.kill(victim.pid, signal.SIGTERM)
    wait_until(lambda: not pids.is_alive(victim), 10, what="sshd on node002 to exit")
    assert not hoplab_sandbox_cluster.status().healthy
    fresh = Sandbox().up()  # how long it takes is measured in bench/, not here
    assert not fresh.reused
    assert set(fresh.pids.values()).isdisjoint(before.pids.values())
    assert hoplab_sandbox_cluster.status().healthy
    assert hostname(fresh, "node002") == "node002"


@pytest.fixture
def scratch_root() -> Iterator[Path]:
    """A root-owned, world-traversable directory (munged refuses sockets below a 0700 one)."""
    root = Path(tempfile.mkdtemp(prefix="hoplab-sandbox-test-", dir="/var/lib"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root)


def test_a_failed_start_leaves_nothing(scratch_root: Path) -> None:
    """A daemon that dies during start-up fails ``up`` with its log, and nothing stays."""
    broken = Sandbox(root_dir=scratch_root)
    key = broken.paths.host_key("node002")
    key.parent.mkdir(parents=True)
    key.write_text("not a key\n")  # kept as it is (keys are made once), so sshd exits
    key.with_name(key.name + ".pub").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 broken\n")

    with pytest.raises(SandboxError, match=r"sshd@node002 exited during start-up"):
        broken.up()

    assert not any(Path("/run/netns", name).exists() for name in NAMESPACES)
    assert process.run(["ip", "route", "show", "root", HARNESS_NETWORK]).stdout.strip() == ""
    assert not broken.paths.state.exists()
    survivors = [
        entry.name
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and str(scratch_root) in _cmdline(entry)
    ]
    assert survivors == []
    # Back up for the tests that follow.
    assert hostname(Sandbox().up(), "node002") == "node002"


def _cmdline(proc_dir: Path) -> str:
    try:
        return (proc_dir / "cmdline").read_text(errors="replace")
    except OSError:
        return ""


def test_teardown_leaves_nothing_and_is_idempotent(hoplab_sandbox_cluster: Sandbox) -> None:
    info = hoplab_sandbox_cluster.info()
    submit_sleeper(info)  # a job, and a user's detached process: teardown must end them too
    info.run_as_user("node002", "setsid sleep 300 </dev/null >/dev/null 2>&1 &")
    daemons = [pids.record(name, pid) for name, pid in info.pids.items()]
    inside = pids.processes_in_namespaces(NAMESPACES)
    assert len(inside) > len(daemons)

    report = Sandbox().down()

    assert {proc.pid for proc in daemons} <= {proc.pid for proc in report.stopped}
    assert not [proc for proc in daemons + inside if pids.is_alive(proc)]
    netns_list = process.run(["ip", "netns", "list"]).stdout
    assert not set(NAMESPACES) & {line.split()[0] for line in netns_list.splitlines()}
    assert process.run(["ip", "route", "show", "root", HARNESS_NETWORK]).stdout.strip() == ""
    assert not Path("/sys/class/net", ROOT_LINK).exists()
    assert not hoplab_sandbox_cluster.status().healthy

    assert Sandbox().down() == TeardownReport((), (), False)

    # Back up for the tests that run after this module (same paths, new PIDs).
    restored = Sandbox().up()
    assert not restored.reused
    assert hostname(restored, "login01") == "login01"
