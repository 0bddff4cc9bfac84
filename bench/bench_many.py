"""Many sessions: ``ls`` and ``down --all`` with 30 sessions on 3 targets, against one session.

The floor, measured in the same run on the same warm masters: ``ls`` with one live session,
and ``down`` of that one session (medians over ``--rounds``). Then 30 plain sessions, 10 on
each of login01, node001 and node002 (the nodes through login01's master): ``ls`` (median over
``--rounds``) and ``down --all`` (once per ``--many-rounds``, each with 30 fresh sessions).
Targets: each at most 3x its floor; ``ls`` under 0.4 s and ``down --all`` under 5 s.

Run as root: ``.venv/bin/python bench/bench_many.py [--rounds N] [--many-rounds N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from bench_sessions import finish, had_hoplab, setup, timed

if TYPE_CHECKING:
    from pathlib import Path

PER_TARGET = 10


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--many-rounds", type=int, default=1)
    many_rounds = parser.parse_known_args()[0].many_rounds
    sys.argv = [sys.argv[0], *parser.parse_known_args()[1]]  # --rounds, for setup()
    rounds, info, env, hoplab = setup()
    had = had_hoplab(info)
    targets = (info.login_host, *info.nodes[:2])
    env = {**env, "HOPLAB_SCHEDULER": "none"}
    venv = str(info.jupyter_venv)

    def up(target: str) -> str:
        argv = [*hoplab, "up", target, "--venv", venv, "--detach", "--new", "--json",
                "--no-browser"]  # fmt: skip
        return str(json.loads(timed(argv, env)[1])["session"]["id"])

    try:
        for target in targets:  # warm every master (and the file cache), then start clean
            up(target)
        timed([*hoplab, "down", "--all"], env)

        ls_one, down_one = [], []
        for _ in range(rounds):
            session = up(info.login_host)
            ls_one.append(timed([*hoplab, "ls"], env)[0])
            down_one.append(timed([*hoplab, "down", session], env)[0])

        def start_many() -> int:
            with ThreadPoolExecutor(len(targets)) as pool:  # one start at a time per target
                started = list(pool.map(lambda t: [up(t) for _ in range(PER_TARGET)], targets))
            return sum(len(ids) for ids in started)

        raw_stops = []
        for _ in range(many_rounds):
            start_many()
            raw_stops.append(stop_every_jupyter(info.home))
            timed([*hoplab, "down", "--all"], env)  # the records and directories

        ls_many, down_many = [], []
        for _ in range(many_rounds):
            count = start_many()
            listed = json.loads(timed([*hoplab, "ls", "--json"], env)[1])["sessions"]
            assert len(listed) == count, listed
            ls_many += [timed([*hoplab, "ls"], env)[0] for _ in range(rounds)]
            seconds, out = timed([*hoplab, "down", "--all", "--json"], env)
            results = json.loads(out)["results"]
            assert len(results) == count, results
            assert all(r["clean"] for r in results), results
            down_many.append(seconds)
    finally:
        subprocess.run([*hoplab, "down", "--all"], env=env, capture_output=True, check=False)
        finish(env, info, had=had)

    l1, d1 = statistics.median(ls_one), statistics.median(down_one)
    ln, dn = statistics.median(ls_many), statistics.median(down_many)
    raw = statistics.median(raw_stops)
    print(
        f"rounds: {rounds} (one session), {many_rounds} x {count} sessions on {', '.join(targets)}"
    )
    print(f"floor  ls, one live session:           {l1:.2f} s")
    print(f"floor  down, one session:              {d1:.2f} s")
    print(f"ls, {count} sessions:                     {ln:.2f} s = {ln / l1:.2f}x floor "
          "(target <= 3x, <= 0.4 s)")  # fmt: skip
    print(f"down --all, {count} sessions:             {dn:.2f} s = {dn / d1:.2f}x floor "
          "(target <= 3x, <= 5 s)")  # fmt: skip
    print(
        f"floor  {count} Jupyter servers sent TERM at once, no hoplab, until the last "
        f"exits: {raw:.2f} s"
    )
    print(
        f"down --all, {count} sessions:             {dn / raw:.2f}x that floor (the "
        "sandbox's hosts share this machine's CPUs: their shutdowns add up)"
    )


def stop_every_jupyter(home: Path) -> float:
    """SIGTERM every hoplab Jupyter of the test user at once, as root on this machine (the
    sandbox's hosts share its process table), and wait until the last has exited: what stopping
    them costs here without hoplab."""
    pids = []
    for pid_file in (home / ".hoplab" / "sessions").glob("*/pid"):
        with contextlib.suppress(ValueError, OSError):
            pids.append(int(pid_file.read_text().strip()))
    watched = []
    for pid in pids:
        with contextlib.suppress(OSError):
            watched.append(os.pidfd_open(pid))
    began = time.monotonic()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    try:
        left = list(watched)
        while left and time.monotonic() - began < 60:
            ready, _, _ = select.select(left, [], [], 60)
            left = [fd for fd in left if fd not in ready]
        return time.monotonic() - began
    finally:
        for fd in watched:
            os.close(fd)


if __name__ == "__main__":
    main()
