"""hoplab up / ls / attach / logs / down on plain ssh hosts of the real sandbox."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hoplab.process import alive
from hoplab.ssh.target import SshTarget
from hoplab.tunnel.forwards import status_code
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from conftest import Laptop

pytestmark = pytest.mark.sandbox


def token_of(url: str) -> str:
    return url.split("token=", 1)[1]


def port_of(url: str) -> int:
    return int(url.split(":")[2].split("/", maxsplit=1)[0])


@pytest.mark.parametrize("mux", [True, False], ids=["mux", "no-mux"])
@pytest.mark.parametrize("host", ["login01", "node001"], ids=["direct", "through-login01"])
def test_up_ls_attach_logs_down(laptop: Laptop, host: str, mux: bool) -> None:
    flags = () if mux else ("--no-mux",)
    venv = str(laptop.sandbox.jupyter_venv)
    done = laptop.run("--debug", "up", host, "--venv", venv, *flags, "--json")
    result = json.loads(done.stdout)
    session, url = result["session"], result["url"]
    # through a master, ssh's forward is made while Jupyter starts (prepare.sh names its
    # socket); without one, only once Jupyter is ready: no new login while the spinner shows
    before_ready = done.stderr.split("step tunnel begins", 1)[0]
    assert (" -O forward -L " in before_ready) is mux, done.stderr
    assert session["state"] == "ready"  # held by the background supervisor, which serves the port
    assert session["relay_pid"] == result["supervisor_pid"]
    assert session["host"] == host
    assert session["listen"] == "socket"
    assert session["multiplex"] is mux
    assert url.startswith("http://127.0.0.1:")
    assert "/lab?token=" in url
    assert status_code(port_of(url), "/", token_of(url)) == 200
    assert status_code(port_of(url), "/", "wrong") == 403

    [listed] = laptop.json("ls")["sessions"]
    assert (listed["id"], listed["state"]) == (session["id"], "ready")
    assert listed["supervisor_pid"] == result["supervisor_pid"]
    assert "token" not in str(listed)

    again = laptop.json("attach", session["id"][:5], "--no-browser")
    assert again["url"] == url  # the old supervisor let the port go, the new one serves it
    assert again["supervisor_pid"] not in (None, result["supervisor_pid"])
    assert again["session"]["relay_pid"] == again["supervisor_pid"]
    for path in (laptop.home / "state").rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path

    log = laptop.run("logs", session["id"], "-n", "50").stdout
    assert "Jupyter Server" in log
    assert token_of(url) not in log

    down = laptop.json("down", session["id"])
    assert down["results"][0]["clean"] is True
    assert status_code(port_of(url), "/", token_of(url)) is None
    [stopped] = laptop.sessions()
    assert stopped["state"] == "stopped"
    listed_dirs = laptop.sandbox.run_as_user(host, "ls -A ~/.hoplab/sessions\n").stdout
    assert session["id"] not in listed_dirs


def test_up_reuses_a_live_session_unless_new(laptop: Laptop) -> None:
    first = laptop.up("login01")
    second = laptop.up("login01")
    assert second["reused"] is True
    assert second["session"]["id"] == first["session"]["id"]
    third = laptop.up("login01", "--new")
    assert third["reused"] is False
    assert third["session"]["id"] != first["session"]["id"]
    # Two sessions on one host: no collision, both answer with their own token.
    for result in (first, third):
        assert status_code(port_of(result["url"]), "/", token_of(result["url"])) == 200
    assert port_of(first["url"]) != port_of(third["url"])
    assert len(laptop.remote_jupyters("login01")) == 2


def test_ls_marks_a_dead_session_lost(laptop: Laptop) -> None:
    result = laptop.up("node001")
    pid = result["session"]["jupyter_pid"]
    laptop.sandbox.run_as_user("node001", f"kill -KILL {pid}\n")
    [row] = laptop.json("ls")["sessions"]
    assert row["state"] == "lost"
    assert status_code(port_of(result["url"]), "/", token_of(result["url"])) is None
    attach = laptop.run("attach", result["session"]["id"], "--no-browser", "--detach", check=False)
    assert attach.returncode == 1
    assert "lost" in attach.stderr or "nothing to attach" in attach.stderr
    # The remote directory is still there (with the log) until down cleans it.
    laptop.run("down", result["session"]["id"], check=False)


def test_a_lost_master_and_forward_are_rebuilt_by_the_supervisor_and_by_attach(
    laptop: Laptop,
) -> None:
    result = laptop.up("node001")
    url, sid = result["url"], result["session"]["id"]
    config = laptop.env["HOPLAB_SSH_CONFIG"]
    node_master = laptop.home / "rt" / "cm" / SshTarget("node001", (), config).key
    # node001's master, and login01's that it rides (one authentication per login node)
    assert sorted(laptop.masters()) == sorted(
        [node_master, node_master.with_name(SshTarget("login01", (), config).key)]
    )

    # held: the background supervisor rebuilds the master and the forward, on the same port
    before = set(laptop.master_pids())
    laptop.exit_master(node_master)
    wait_until(
        lambda: (
            len(set(laptop.master_pids()) - before) == 1
            and status_code(port_of(url), "/", token_of(url), timeout=1) == 200
        ),
        30,
        what="the supervisor to rebuild node001's master and forward",
    )

    # no supervisor (it crashed) and no master: attach rebuilds both
    laptop.end_relay(sid)
    laptop.exit_master(node_master)
    wait_until(lambda: not node_master.exists(), 10, what="node001's master to exit")
    assert status_code(port_of(url), "/", token_of(url), timeout=1) is None
    again = laptop.json("attach", sid, "--no-browser")
    assert port_of(again["url"]) == port_of(url)  # the old port was free
    assert status_code(port_of(again["url"]), "/", token_of(again["url"])) == 200
    assert node_master.is_socket()


def test_attach_moves_to_a_new_port_when_the_old_one_is_taken(laptop: Laptop) -> None:
    import socket

    result = laptop.up("login01", "--no-mux")
    old_port = port_of(result["url"])
    session_id = result["session"]["id"]
    # The process serving the port crashes, and the forward's ssh (no-mux: its own process,
    # recorded by PID) goes too; someone else then takes the port.
    row = laptop.end_relay(session_id)
    forward_pid = row["forward_pid"]
    assert forward_pid
    assert forward_pid in laptop.pids()
    os.kill(forward_pid, signal.SIGTERM)
    wait_until(lambda: not alive(forward_pid), 10, what="the forward's ssh to end")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", old_port))
        squatter.listen()
        again = laptop.json("attach", session_id, "--no-browser")
    assert again["port_changed"] is True
    assert again["port_taken_by_stranger"] is True
    assert port_of(again["url"]) != old_port
    assert status_code(port_of(again["url"]), "/", token_of(again["url"])) == 200
    assert again["session"]["relay_pid"] == again["supervisor_pid"]


def test_foreground_up_stops_on_interrupt(laptop: Laptop) -> None:
    proc = laptop.spawn("up", "login01", "--venv", str(laptop.sandbox.jupyter_venv), "--no-browser")
    url_line = wait_until(
        lambda: proc.stdout.readline() if proc.stdout else None, 120, what="the URL"
    )
    assert "token=" in url_line
    wait_until(lambda: laptop.json("ls")["sessions"][0]["state"] == "ready", 10, what="ready state")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert "Jupyter stopped" in stderr
    [row] = laptop.sessions()
    assert row["state"] == "stopped"
    assert laptop.remote_jupyters("login01") == []


def test_interrupt_before_ready_leaves_nothing(laptop: Laptop) -> None:
    slow = "sleep 3"  # a slow environment activation, so the signal lands before ready
    proc = laptop.spawn(
        "up", "node001", "--venv", str(laptop.sandbox.jupyter_venv), "--setup", slow, "--no-browser"
    )
    wait_until(
        lambda: any(s["state"] == "starting" for s in laptop.json("ls")["sessions"]),
        60,
        what="the session to be starting",
    )
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    [row] = laptop.sessions()
    assert row["state"] == "stopped"
    assert "interrupted" in row["error"]
    assert laptop.remote_jupyters("node001") == []
    assert (
        row["id"] not in laptop.sandbox.run_as_user("node001", "ls -A ~/.hoplab/sessions\n").stdout
    )


def test_security_invariants(laptop: Laptop) -> None:
    proc = laptop.spawn(
        "up", "node001", "--venv", str(laptop.sandbox.jupyter_venv), "--no-browser", "--verbose"
    )
    url_line = wait_until(
        lambda: proc.stdout.readline() if proc.stdout else None, 120, what="the URL"
    )
    token = token_of(url_line.strip())
    session = laptop.json("ls")["sessions"][0]
    sandbox = laptop.sandbox
    try:
        local_ps = subprocess.run(
            ["ps", "-eo", "args"], capture_output=True, text=True, check=True
        ).stdout
        assert token not in local_ps
        for host in sandbox.hosts:
            assert token not in sandbox.run_as_user(host, "ps -eo args\n").stdout
        remote_dir = f"~/.hoplab/sessions/{session['id']}"
        launcher = sandbox.run_as_user("node001", f"cat {remote_dir}/launch.sh\n").stdout
        assert "JUPYTER_TOKEN_FILE" in launcher
        assert token not in launcher
        log = sandbox.run_as_user("node001", f"cat {remote_dir}/jupyter.log\n").stdout
        assert token not in log
        modes = sandbox.run_as_user(
            "node001",
            f"stat -c '%a %U %n' {remote_dir} {remote_dir}/token /tmp/hoplab-$(id -u)/*.sock\n",
        ).stdout.splitlines()
        assert modes[0].startswith("700 ")
        assert modes[1].startswith("600 ")
        assert modes[2].startswith("600 ")
        # Another user on the same node cannot connect to the socket.
        sock = modes[2].split()[-1]
        probe = (
            "import socket,errno\ns=socket.socket(socket.AF_UNIX)\n"
            f"try:\n s.connect({sock!r}); print('connected')\n"
            "except OSError as e: print(errno.errorcode[e.errno])\n"
        )
        other = sandbox.run_as_user(
            "node001", f"python3 - <<'EOF'\n{probe}EOF\n", user=sandbox.other_user
        )
        assert other.stdout.strip() == "EACCES"
        # The forward listens on loopback only.
        ports = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True).stdout
        bound = [
            line.split()[3]
            for line in ports.splitlines()
            if line.split()[3].endswith(f":{port_of(url_line)}")
        ]
        assert bound == [f"127.0.0.1:{port_of(url_line)}"]
        # Local state is private.
        state = laptop.home / "state"
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        for path in state.rglob("*"):
            if path.is_file():
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    assert token not in stderr  # --verbose output included
    assert "venv = " in stderr
    assert "(command line)" in stderr


def test_logs_follow_streams_new_lines(laptop: Laptop) -> None:
    result = laptop.up("login01")
    session_id = result["session"]["id"]
    follower = laptop.spawn("logs", session_id, "-f", "-n", "1")
    try:
        assert follower.stdout is not None
        wait_until(follower.stdout.readline, 30, what="the last log line")
        # A request with a wrong token makes Jupyter log a new line while we follow.
        assert status_code(port_of(result["url"]), "/", "wrong-token") == 403
        line = wait_until(
            lambda: (
                (text if "403" in (text := follower.stdout.readline()) else None)
                if follower.stdout
                else None
            ),
            30,
            what="the 403 to appear in the followed log",
        )
        assert "/api/status" in line
    finally:
        follower.terminate()
        follower.communicate(timeout=30)


def test_down_stops_a_jupyter_whose_pid_was_never_recorded(laptop: Laptop) -> None:
    """An `up` killed between starting Jupyter and recording its PID must not leak it."""
    from hoplab.launcher import render
    from hoplab.protocol import Where

    result = laptop.up("node001")
    session = result["session"]
    stop = render.stop([(session["id"], None, None, Where.HOST)])
    laptop.sandbox.run_as_user("node001", stop.text)
    assert laptop.remote_jupyters("node001") == []


def test_config_init_then_show(laptop: Laptop) -> None:
    laptop.run("config", "init")
    assert "[defaults]" in Path(laptop.env["HOPLAB_CONFIG"]).read_text()
    again = laptop.run("config", "init", check=False)
    assert again.returncode == 1
    assert "--force" in again.stderr
    assert laptop.env["HOPLAB_CONFIG"] in laptop.run("config", "show").stdout


def test_config_profile_and_sources(laptop: Laptop) -> None:
    Path(laptop.env["HOPLAB_CONFIG"]).write_text(
        '[profiles.sbx]\nhost = "node001"\n'
        f'venv = "{laptop.sandbox.jupyter_venv}"\napp = "notebook"\n'
    )
    shown = laptop.run("config", "show", "sbx").stdout
    assert "app = 'notebook'" in shown
    assert "profile 'sbx'" in shown
    result = laptop.json("up", "sbx")
    assert result["session"]["app"] == "notebook"
    assert "/tree?token=" in result["url"]
    assert status_code(port_of(result["url"]), "/", token_of(result["url"])) == 200
