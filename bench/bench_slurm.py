"""SLURM sessions: ``up`` to ready, against a floor measured in the same run on the sandbox.

floor = sbatch -> the job's first instruction runs (a trivial job), plus Jupyter's own start-up
to /api/status 200 on a compute node. Target: ``up --detach`` at most 1.2x the floor.

How long a job waits for slurmctld's next scheduling pass varies from 0.1 to 2.5 s on the
sandbox, whoever submits it. So besides the raw ratio the bench reports a queue-neutral one:
hoplab's own job's wait (from writing ``launch.sh`` just before sbatch to the launcher's first
line, both file times on the shared home) is replaced by the floor job's median wait. Every
submission is also spaced SPACING seconds after the one before.

Run as root: ``.venv/bin/python bench/bench_slurm.py [--rounds N]``.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
from typing import TYPE_CHECKING

from bench_sessions import FLOOR, finish, had_hoplab, setup, timed
from hoplab.remote import scripts
from hoplab.ssh import hostkeys
from hoplab.ssh.target import SshTarget
from hoplab.tunnel.chain import open_transport

if TYPE_CHECKING:
    from hoplab.testing.info import SandboxInfo

LOGIN, NODE = "login01", "node001"
SPACING = 3.5

# Submit a trivial job and report how long until it started (clock shared by login and node).
SBATCH_FLOOR = r"""
mark=$(mktemp -u "$HOME/.floor-XXXXXX")
t0=$(date +%s.%N)
sbatch --parsable --nodelist=node001 --output=/dev/null --wrap "date +%s.%N > $mark" >/dev/null
n=0
while [ ! -s "$mark" ] && [ "$n" -lt 3000 ]; do sleep 0.01; n=$((n + 1)); done
awk -v end="$(cat "$mark")" -v begin="$t0" 'BEGIN { print end - begin }'
rm -f "$mark"
"""


class Spacer:
    """Keeps submissions at least SPACING seconds apart."""

    def __init__(self) -> None:
        self.last = 0.0

    def submit(self) -> None:
        gap = self.last + SPACING - time.monotonic()
        if gap > 0:
            threading.Event().wait(gap)
        self.last = time.monotonic()


def main() -> None:
    rounds, info, env, hoplab = setup()
    had = had_hoplab(info)
    venv = str(info.jupyter_venv)
    up = [*hoplab, "up", LOGIN, "--venv", venv, "--detach", "--new", "--json", "--no-browser",
          "--scheduler", "slurm", "--directive=--nodelist=node001"]  # fmt: skip
    spacer = Spacer()
    spacer.submit()
    _, out = timed(up, env)  # warms the master, the file cache and slurmctld's first job
    timed([*hoplab, "down", "--all"], env)
    queued, started, ups, waits = [], [], [], []
    for _ in range(rounds):
        spacer.submit()
        queued.append(float(info.run_as_user(LOGIN, SBATCH_FLOOR).stdout.strip()))
        floor = info.run_as_user(
            NODE, f"{venv}/bin/python - {venv}/bin/jupyter-lab <<'EOF'\n{FLOOR}\nEOF\n"
        )
        started.append(float(floor.stdout.strip()))
        spacer.submit()
        seconds, out = timed(up, env)
        ups.append(seconds)
        session = json.loads(out)["session"]
        assert session["host"] == NODE, session
        stamps = info.run_as_user(
            LOGIN, f"cd ~/.hoplab/sessions/{session['id']} && stat -c %.9Y launch.sh node"
        ).stdout.split()
        waits.append(float(stamps[1]) - float(stamps[0]))
        timed([*hoplab, "down", session["id"]], env)

    q, j, u = (statistics.median(values) for values in (queued, started, ups))
    neutral = statistics.median(up - wait for up, wait in zip(ups, waits, strict=True)) + q
    print(f"rounds: {rounds}, through {LOGIN} to {NODE} (SLURM, Unix socket over ssh to the node)")
    print(f"floor  sbatch -> job running:                  {q:.2f} s")
    print(f"floor  Jupyter start-up to /api/status 200:    {j:.2f} s")
    print(f"floor  total:                                  {q + j:.2f} s")
    print(f"up --detach, CLI start to ready:               {u:.2f} s = {u / (q + j):.2f}x floor")
    print(f"  its own job's wait in the queue (median):    {statistics.median(waits):.2f} s")
    print(
        f"  queue-neutral (floor's queue wait instead):  {neutral:.2f} s "
        f"= {neutral / (q + j):.2f}x floor (target <= 1.2x)"
    )
    first, later = host_key_step(info, env, rounds)
    finish(env, info, had=had)
    print(f"host key step, first ssh to a node (login vouches): {first * 1000:.0f} ms")
    print(f"host key step, later (key already vouched):         {later * 1000:.0f} ms")


def host_key_step(info: SandboxInfo, env: dict[str, str], rounds: int) -> tuple[float, float]:
    """The node hop's host key step alone (medians): asking the login node for the key the
    laptop lacks, and finding it already vouched for (in the bench's own laptop state)."""
    for name in ("HOPLAB_STATE_DIR", "HOPLAB_RUNTIME_DIR"):
        os.environ[name] = env[name]
    login = open_transport(SshTarget(LOGIN, (), str(info.ssh_config)))
    login.connect(interactive=False)
    node = SshTarget(NODE, (LOGIN,), str(info.ssh_config))
    firsts, laters = [], []
    for _ in range(rounds):
        began = time.monotonic()
        resolved = hostkeys.resolve(node)
        if not hostkeys.known(resolved, resolved.files):
            said = scripts.host_keys(login, list(resolved.names), resolved.port)
            hostkeys.record(resolved, list(said.lines))
        firsts.append(time.monotonic() - began)
        began = time.monotonic()
        resolved = hostkeys.resolve(node)
        assert not hostkeys.known(resolved, resolved.files)  # the laptop never learns it
        assert hostkeys.known(resolved, (hostkeys.vouched_file(resolved),))
        laters.append(time.monotonic() - began)
        hostkeys.vouched_file(resolved).unlink()
    return statistics.median(firsts), statistics.median(laters)


if __name__ == "__main__":
    main()
