"""Where ``up`` spends the time above Jupyter's own start-up, phase by phase (issue: ``up``
overhead). A plain host, a warm master, ``up --detach --json``, traced by ``--debug`` (each
line carries the time to the millisecond).

Phases of one ``up``:

- CLI start: process start to hoplab's first log line (Python, imports, settings);
- connect: the master check (and host-key work);
- launch: the round trip that starts the launcher;
- handshake wait: from the launch to Jupyter's handshake (Jupyter's own start-up is in here);
- forward: ssh's forward and the relay (both made while Jupyter starts on a plain host, so
  this is only the check that the forward leads where the handshake says);
- probe: until ``/api/status`` answers 200 through them;
- hand-over and exit: the background supervisor takes the port; the JSON is printed.

The floor, measured in the same run: Jupyter's own start-up to ``/api/status`` 200 on its
Unix socket, on the host itself, asked every 5 ms (as in ``bench_sessions.py``). The overhead
is ``up``'s total less the floor. Each round's session is stopped before the next: a Jupyter
that has just started keeps a CPU busy for some seconds.

Run as root: ``.venv/bin/python bench/bench_up_trace.py [--rounds N]``.
"""

from __future__ import annotations

import datetime
import json
import re
import statistics
import subprocess
import time

from bench_sessions import FLOOR, HOST, finish, had_hoplab, setup, timed

LINE = re.compile(r"^debug: (\d\d):(\d\d):(\d\d)\.(\d{3}) (\S+): (.*)$")


def _stamp(match: re.Match[str], day: datetime.date) -> float:
    hours, minutes, seconds, millis = (int(match.group(n)) for n in range(1, 5))
    moment = datetime.datetime.combine(day, datetime.time(hours, minutes, seconds, millis * 1000))
    return moment.timestamp()


def trace(argv: list[str], env: dict[str, str]) -> tuple[dict[str, float], str]:
    """One traced run: seconds per phase (see the module's docstring) and its total; the
    session's id."""
    began = time.time()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    ended = time.time()
    day = datetime.date.today()
    marks: dict[str, float] = {}
    first = None
    for line in done.stderr.splitlines():
        match = LINE.match(line)
        if match is None:
            continue
        at, message = _stamp(match, day), match.group(6)
        first = at if first is None else first
        for name, pattern in MARKS.items():
            if name not in marks and re.search(pattern, message):
                marks[name] = at
    missing = [name for name in MARKS if name not in marks]
    if first is None or missing:
        raise SystemExit(f"the trace lacks {missing or 'every line'}:\n{done.stderr}")
    phases = {
        "CLI start": first - began,
        "connect": marks["connected"] - first,
        "launch": marks["launched"] - marks["connected"],
        "handshake wait": marks["tunnel"] - marks["launched"],
        "forward": marks["relaying"] - marks["tunnel"],
        "probe": marks["answers"] - marks["relaying"],
        "hand-over and exit": ended - marks["answers"],
        "total": ended - began,
    }
    return phases, str(json.loads(done.stdout)["session"]["id"])


MARKS = {
    "connected": r"^step connect done",
    "launched": r"^step submit done",
    "tunnel": r"^step tunnel begins",
    "relaying": r"^relaying 127\.0\.0\.1:",
    "answers": r"^Jupyter answers through",
}


def main() -> None:
    rounds, info, env, hoplab = setup()
    had = had_hoplab(info)
    venv = str(info.jupyter_venv)
    up = [*hoplab, "--debug", "up", HOST, "--venv", venv, "--scheduler", "none", "--detach",
          "--new", "--json", "--no-browser"]  # fmt: skip
    floors, traces = [], []
    try:
        warm = json.loads(timed(up, env)[1])["session"]["id"]  # warms the master and file cache
        timed([*hoplab, "down", warm], env)
        for _ in range(rounds):
            floor = info.run_as_user(
                HOST, f"{venv}/bin/python - {venv}/bin/jupyter-lab <<'EOF'\n{FLOOR}\nEOF\n"
            )
            floors.append(float(floor.stdout.strip()))
            phases, session = trace(up, env)
            traces.append(phases)
            # stopped before the next round: a Jupyter that has just started keeps a CPU busy
            # for some seconds, and each round would otherwise run beside all those before it
            timed([*hoplab, "down", session], env)
    finally:
        timed([*hoplab, "down", "--all"], env)
        finish(env, info, had=had)
    floor = statistics.median(floors)
    totals = [t["total"] for t in traces]
    overheads = sorted(total - floor for total in totals)
    print(f"rounds: {rounds} on {HOST}; medians, and the spread (min..max)")
    print(f"floor  Jupyter start-up to /api/status 200 (on {HOST}): {floor:.3f} s")
    for phase in traces[0]:
        values = [t[phase] for t in traces]
        print(
            f"  {phase:<20} {statistics.median(values):.3f} s"
            f"  ({min(values):.3f}..{max(values):.3f})"
        )
    overhead = statistics.median(overheads)
    print(
        f"up above the floor: +{overhead:.3f} s ({overheads[0]:+.3f}..{overheads[-1]:+.3f}) "
        f"= {statistics.median(totals) / floor:.2f}x floor (target: at most +0.15 s)"
    )
    # each up against the floor measured just before it: the machine's slower and faster
    # minutes (the sandbox shares its two CPUs) weigh on both alike
    paired = sorted(total - before for total, before in zip(totals, floors, strict=True))
    print(
        f"paired, each up against the floor just before it: +{statistics.median(paired):.3f} s "
        f"({paired[0]:+.3f}..{paired[-1]:+.3f})"
    )


if __name__ == "__main__":
    main()
