"""Time for a supervised tunnel to answer again, median over N runs, against a floor.

- after SIGKILL of the ssh master;
- after the laptop's link to login01 is cut and restored, counted from the moment it returns.

Target for each: at most 2x the floor.

The floor, measured in the same run: a raw ``ssh -N -L`` to the same Jupyter socket, from
starting ssh to the first ``/api/status`` 200 through it, which is what rebuilding by hand costs.
The session is a plain one on login01, supervised by ``up --background``.

Run as root: ``.venv/bin/python bench/bench_recovery.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_sessions import finish, had_hoplab, laptop_env
from hoplab.records.store import SessionStore
from hoplab.ssh.ports import free_port
from hoplab.testing.cluster import Sandbox
from hoplab.tunnel.forwards import status_code
from hoplab.waiting import wait_until

HOST = "login01"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    rounds = parser.parse_args().rounds
    sandbox = Sandbox()
    info = sandbox.up()
    had = had_hoplab(info)
    env = {**laptop_env(info, "hr-"), "HOPLAB_SCHEDULER": "none"}
    base = Path(env["HOPLAB_STATE_DIR"]).parent
    hoplab = [sys.executable, "-m", "hoplab"]
    up = subprocess.run(
        [*hoplab, "up", HOST, "--venv", str(info.jupyter_venv), "--background", "--json"],
        env=env, capture_output=True, text=True, check=True, timeout=180,
    )  # fmt: skip
    result = json.loads(up.stdout)
    url, session = result["url"], result["session"]
    port, token = int(url.split(":")[2].split("/")[0]), url.partition("?token=")[2]
    log = base / "state" / "supervisors" / f"{session['id']}.log"
    os.environ["HOPLAB_STATE_DIR"] = env["HOPLAB_STATE_DIR"]
    remote = SessionStore().get(session["id"]).remote or ""  # the socket path on login01
    pidfile = next((base / "rt" / "cm").glob("*.pid"))

    def recoveries() -> int:
        return log.read_text().count("answers again")

    def answers() -> bool:
        return status_code(port, "/", token, timeout=0.5) == 200

    def until_answers() -> float:
        began = time.monotonic()
        wait_until(answers, 60, what="the tunnel to answer", initial=0.01, cap=0.01)
        return time.monotonic() - began

    try:
        floors = [_raw_tunnel(info.ssh_config, remote, token) for _ in range(rounds)]
        kills = []
        for _ in range(rounds):
            master, settled = int(pidfile.read_text()), recoveries()
            os.kill(master, signal.SIGKILL)
            kills.append(until_answers())
            wait_until(lambda s=settled: recoveries() > s, 30, what="the supervisor to settle")
        cuts = []
        for _ in range(rounds):
            seen, settled = log.read_text().count("again in"), recoveries()
            sandbox.set_link(up=False)
            try:  # the supervisor has noticed and is retrying
                wait_until(lambda s=seen: log.read_text().count("again in") > s, 30,
                           what="the supervisor to retry", cap=0.1)  # fmt: skip
            finally:
                sandbox.set_link(up=True)
            cuts.append(until_answers())
            wait_until(lambda s=settled: recoveries() > s, 30, what="the supervisor to settle")
    finally:
        sandbox.set_link(up=True)
        subprocess.run([*hoplab, "down", "--all"], env=env, capture_output=True, check=False)
        finish(env, info, had=had)

    floor = statistics.median(floors)
    kill, cut = statistics.median(kills), statistics.median(cuts)
    print(f"rounds: {rounds} on {HOST}")
    print(f"floor  raw ssh -N -L, start to /api/status 200:       {floor:.2f} s")
    print(
        f"master SIGKILL -> answers again (median):             {kill:.2f} s "
        f"= {kill / floor:.2f}x floor (target <= 2x; max {max(kills):.2f} s)"
    )
    print(
        f"link restored -> answers again (median):              {cut:.2f} s "
        f"= {cut / floor:.2f}x floor (target <= 2x; max {max(cuts):.2f} s)"
    )


def _raw_tunnel(ssh_config: Path, remote: str, token: str) -> float:
    """A hand-made tunnel to the same socket: ssh start to the first answer through it."""
    port = free_port()
    began = time.monotonic()
    ssh = subprocess.Popen(
        ["ssh", "-F", str(ssh_config), "-N", "-o", "ExitOnForwardFailure=yes",
         "-L", f"127.0.0.1:{port}:{remote}", HOST],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until(
            lambda: status_code(port, "/", token, timeout=0.5) == 200,
            30, what="the raw tunnel", initial=0.01, cap=0.01,
        )  # fmt: skip
        return time.monotonic() - began
    finally:
        ssh.terminate()
        ssh.wait(timeout=10)


if __name__ == "__main__":
    main()
