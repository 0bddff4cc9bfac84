"""Plain-host sessions, measured against floors taken in the same run on the sandbox.

- ``up --detach`` on a warm master vs Jupyter's own start-up to /api/status on the same host
  (target: at most 1.15x);
- ``attach`` with a live master (target: under 0.5 s);
- ``hoplab --help`` vs a bare Python start (target: under 0.3 s).

Run as root: ``.venv/bin/python bench/bench_sessions.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from hoplab.testing.cluster import Sandbox

if TYPE_CHECKING:
    from hoplab.testing.info import SandboxInfo

HOST = "login01"

FLOOR = r"""
import http.client, os, shutil, socket, subprocess, sys, tempfile, time
class Unix(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=5)
        self.unix_path = path
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.unix_path)
d = tempfile.mkdtemp(prefix="floor-")
sock, token = d + "/j.sock", "floor-token"
env = dict(os.environ, JUPYTER_TOKEN=token, JUPYTER_RUNTIME_DIR=d)
began = time.monotonic()
server = subprocess.Popen([sys.argv[1], "--no-browser", "--ServerApp.sock=" + sock],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
# every 5 ms: the floor is Jupyter's own start-up, not the wait of a coarser look
while time.monotonic() - began < 120:
    try:
        c = Unix(sock)
        c.request("GET", "/api/status", headers={"Authorization": "token " + token})
        if c.getresponse().status == 200:
            break
    except OSError:
        pass
    time.sleep(0.005)
print(time.monotonic() - began)
server.terminate()
server.wait(30)
shutil.rmtree(d, ignore_errors=True)  # the host's /tmp as the bench found it
"""


def setup() -> tuple[int, SandboxInfo, dict[str, str], list[str]]:
    """``--rounds``, the running sandbox, a private laptop environment, and the hoplab argv."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    info = Sandbox().up()
    return rounds, info, laptop_env(info), [sys.executable, "-m", "hoplab"]


def laptop_env(info: SandboxInfo, prefix: str = "hb-") -> dict[str, str]:
    """A laptop of the bench's own: state, runtime directory and (no) config in a new temporary
    directory, and the sandbox's ssh config."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    return {
        **os.environ,
        "HOPLAB_STATE_DIR": str(base / "state"),
        "HOPLAB_RUNTIME_DIR": str(base / "rt"),
        "HOPLAB_CONFIG": str(base / "none.toml"),
        "HOPLAB_SSH_CONFIG": str(info.ssh_config),
    }


def had_hoplab(info: SandboxInfo) -> bool:
    """Whether the test user's home holds ~/.hoplab before the bench (then it is not ours)."""
    return (info.home / ".hoplab").exists()


def finish(env: dict[str, str], info: SandboxInfo, *, had: bool) -> None:
    """Leave things as the bench found them: ``~/.hoplab`` goes (``down --purge``) unless it
    was there before, and the bench laptop's masters end (``down`` leaves them for their idle
    time)."""
    if not had:
        argv = [sys.executable, "-m", "hoplab", "down", "--purge", info.login_host]
        subprocess.run(argv, env=env, capture_output=True, check=False, timeout=120)
    folder = Path(env["HOPLAB_RUNTIME_DIR"]) / "cm"
    for socket in folder.glob("*") if folder.exists() else []:
        if socket.is_socket():
            argv = ["ssh", "-F", env["HOPLAB_SSH_CONFIG"], "-o", f"ControlPath={socket}"]
            subprocess.run([*argv, "-O", "exit", "x"], capture_output=True, check=False, timeout=10)


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    began = time.monotonic()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    return time.monotonic() - began, done.stdout


def main() -> None:
    rounds, info, env, hoplab = setup()
    had = had_hoplab(info)
    venv = str(info.jupyter_venv)
    up = [*hoplab, "up", HOST, "--venv", venv, "--scheduler", "none", "--detach", "--new",
          "--json", "--no-browser"]  # fmt: skip
    timed(up, env)  # warms the master (and the file cache)
    floors, ups, attaches = [], [], []
    for _ in range(rounds):
        floor = info.run_as_user(
            HOST, f"{venv}/bin/python - {venv}/bin/jupyter-lab <<'EOF'\n{FLOOR}\nEOF\n"
        )
        floors.append(float(floor.stdout.strip()))
        seconds, out = timed(up, env)
        ups.append(seconds)
        session = json.loads(out)["session"]["id"]
        attach = [*hoplab, "attach", session, "--detach", "--no-browser", "--json"]
        attaches.append(timed(attach, env)[0])
    timed([*hoplab, "down", "--all"], env)
    finish(env, info, had=had)
    helps = [timed([*hoplab, "--help"], env)[0] for _ in range(rounds)]
    pythons = [timed([sys.executable, "-c", "pass"], env)[0] for _ in range(rounds)]

    floor, up_median = statistics.median(floors), statistics.median(ups)
    attach_median = statistics.median(attaches)
    help_median, python_median = statistics.median(helps), statistics.median(pythons)
    print(f"rounds: {rounds} on {HOST}")
    print(f"floor  Jupyter start-up to /api/status 200 (on {HOST}): {floor:.2f} s")
    print(
        f"up --detach (warm master), CLI start to ready:      {up_median:.2f} s "
        f"= {up_median / floor:.2f}x floor (target <= 1.15x)"
    )
    print(
        f"attach (live master):                                {attach_median:.2f} s "
        f"= {attach_median / python_median:.1f}x a bare Python start (target < 0.5 s)"
    )
    print(
        f"hoplab --help:                                       {help_median:.2f} s "
        f"= {help_median / python_median:.1f}x a bare Python start "
        f"({python_median:.3f} s; target < 0.3 s)"
    )


if __name__ == "__main__":
    main()
