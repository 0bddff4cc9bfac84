"""The portable reconnect script (``hoplab attach ID --script FILE``), run for real against a
stand-in ``ssh``: no token in the file or in any argv, one master per hop riding the one
before, the token read over ssh from the remote session directory (behind a chatty login),
the URL printed once Jupyter answers with the token header, and every master ended after."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hoplab.errors import ConfigError
from hoplab.scripts.reconnect import Hop, ReconnectSpec, render

TOKEN = "7c" * 24
SID = "3f9c2a1b"
NODE_KEY = "node001 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHoplabNodeKeyForTests"

# A stand-in ssh: logs its argv, starts nothing but a tiny HTTP server for `-O forward` that
# answers /api/status 200 only with the right token header, runs `sh -s` under a fake home
# after a login banner, and says a master is gone on `-O check` (the script then ends).
FAKE_SSH = textwrap.dedent(
    """\
    #!{python}
    import json, os, subprocess, sys
    args = sys.argv[1:]
    state = os.environ["FAKE_STATE"]
    with open(os.path.join(state, "argv.log"), "a") as log:
        log.write(json.dumps(args) + "\\n")
    if "-O" in args:
        verb = args[args.index("-O") + 1]
        if verb == "forward":
            spec = args[args.index("-L") + 1]
            port = int(spec.split(":")[1])
            server = subprocess.Popen(
                [sys.executable, os.path.join(state, "server.py"), str(port)],
                start_new_session=True,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            with open(os.path.join(state, "server.pid"), "w") as f:
                f.write(str(server.pid))
            import socket, time
            for _ in range(200):
                with socket.socket() as probe:
                    if probe.connect_ex(("127.0.0.1", port)) == 0:
                        break
                time.sleep(0.02)
            sys.exit(0)
        sys.exit(1 if verb == "check" else 0)
    if args[-2:] == ["sh", "-s"]:
        sys.stdout.write("Welcome to the cluster! Quota: 93% used\\n")
        sys.stdout.flush()
        env = dict(os.environ, HOME=os.path.join(state, "home"))
        sys.exit(subprocess.run(["/bin/sh", "-s"], env=env).returncode)
    sys.exit(0)
    """
)

SERVER = textwrap.dedent(
    """\
    import sys
    from http.server import BaseHTTPRequestHandler, HTTPServer
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            ok = self.headers.get("Authorization") == "token {token}"
            self.send_response(200 if ok and self.path == "/api/status" else 403)
            self.end_headers()
        def log_message(self, *args):
            pass
    HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
    """
)


def _spec() -> ReconnectSpec:
    return ReconnectSpec(
        SID,
        (
            Hop("gateway", "gw.example.org", "alice", 2222),
            Hop("alice@hpc", "login01.example.org", "alice", 22),
            Hop("node001", "node001", "alice", 22, (NODE_KEY,)),
        ),
        home=2,
        remote=f"/tmp/hoplab-1000/{SID}.sock",
        label="hpc",
    )


def test_the_script_holds_no_token_and_carries_the_node_key() -> None:
    script = render(_spec())
    assert TOKEN not in script
    assert NODE_KEY in script
    assert 'open_hop node001 node001 alice 22 "$tmp/keys3"' in script
    assert "StrictHostKeyChecking" not in script  # host key checking stays on


def test_hostile_values_are_refused_or_quoted() -> None:
    with pytest.raises(ConfigError):
        Hop("login", "x; touch /tmp/pwned", "alice", 22)
    with pytest.raises(ConfigError):
        Hop("-oProxyCommand=x", "login", "alice", 22)
    spec = ReconnectSpec(SID, (Hop("login", "login", "a", 22),), 1, "/tmp/it's here.sock")
    assert "HOPLAB_REMOTE='/tmp/it'\"'\"'s here.sock'" in render(spec)


@pytest.fixture
def fake_ssh(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    (state / "home" / ".hoplab" / "sessions" / SID).mkdir(parents=True)
    token_file = state / "home" / ".hoplab" / "sessions" / SID / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    (state / "server.py").write_text(SERVER.format(token=TOKEN))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ssh = bin_dir / "ssh"
    ssh.write_text(FAKE_SSH.format(python=sys.executable))
    ssh.chmod(0o755)
    return state


def test_the_script_reconnects_without_hoplab(tmp_path: Path, fake_ssh: Path) -> None:
    script = tmp_path / "reconnect.sh"
    script.write_text(render(_spec()))
    script.chmod(0o700)
    env = {
        "PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "FAKE_STATE": str(fake_ssh),
    }
    try:
        done = subprocess.run(
            ["/bin/sh", str(script)],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        pid_file = fake_ssh / "server.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), 15)
    # Printed once Jupyter answered (the stand-in answers 200 only with the token header).
    assert f"?token={TOKEN}" in done.stdout, done.stderr
    assert done.stdout.startswith("http://127.0.0.1:")
    assert "/lab?token=" in done.stdout
    calls = [json.loads(line) for line in (fake_ssh / "argv.log").read_text().splitlines()]
    assert not any(TOKEN in word for call in calls for word in call)
    masters = [c for c in calls if "-f" in c and "-N" in c]
    assert [c[-1] for c in masters] == ["gateway", "alice@hpc", "node001"]
    paths = [next(w for w in c if w.startswith("ControlPath=")) for c in masters]
    # Each hop rides the master of the hop before it; the first goes directly.
    assert not any(w.startswith("ProxyCommand=") for w in masters[0])
    for before, call in zip(paths, masters[1:], strict=False):
        proxy = next(w for w in call if w.startswith("ProxyCommand="))
        assert f"-S {before.removeprefix('ControlPath=')} " in proxy
    node = masters[2]
    known = next(w for w in node if w.startswith("UserKnownHostsFile="))
    assert known.endswith(" ~/.ssh/known_hosts ~/.ssh/known_hosts2")
    assert "HostName=gw.example.org" in masters[0]
    assert "Port=2222" in masters[0]
    # The token was read on the login node (hop 2), the forward rides the node (hop 3).
    token_read = next(c for c in calls if c[-2:] == ["sh", "-s"])
    assert token_read[token_read.index("-S") + 1] == paths[1].removeprefix("ControlPath=")
    forward = next(c for c in calls if "forward" in c)
    assert forward[forward.index("-S") + 1] == paths[2].removeprefix("ControlPath=")
    assert forward[forward.index("-L") + 1].endswith(f":/tmp/hoplab-1000/{SID}.sock")
    assert forward[forward.index("-L") + 1].startswith("127.0.0.1:")
    # The stand-in said the connection ended: every master was told to exit, newest first.
    exits = [c[c.index("-S") + 1] for c in calls if "exit" in c and "-O" in c]
    assert exits == [p.removeprefix("ControlPath=") for p in reversed(paths)]
    assert done.returncode == 1
    assert "the ssh connection ended" in done.stderr
    # Its private directory (token header included) is gone.
    assert not Path(paths[0].removeprefix("ControlPath=")).parent.exists()


def test_the_script_is_written_for_plain_sh() -> None:
    checker = shutil.which("shellcheck")
    assert checker, "shellcheck is missing: run scripts/install.sh"
    done = subprocess.run(
        [checker, "-s", "sh", "-"],
        check=False,
        input=render(_spec()),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout
