"""Notices and the queue's estimated start, on the sandbox's SLURM (22.05).

A stub ``notify-send`` first on the laptop's PATH records each call's arguments: a queued
``up`` calls it once, when Jupyter is ready, and ``--no-notify`` not at all. With both nodes
held by jobs that have a time limit, SLURM's backfill scheduler (``bf_interval`` and the
partition's ``DefaultTime`` are set by the sandbox) computes when the next job starts, and
``up``'s progress and ``ls`` show it.
"""

from __future__ import annotations

import calendar
import re
import signal
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from conftest import Laptop
    from hoplab.testing.info import SandboxInfo

pytestmark = pytest.mark.sandbox

# the job waits at least this long behind the fillers: more than the 10 s that deserve a notice
QUEUED_FOR = 15.0
FILLER_MINUTES = 10
CLOCK = re.compile(r"estimated start (?:\w{3} )?(\d{2}:\d{2})")


def login(hoplab_sandbox: SandboxInfo, script: str) -> str:
    done = hoplab_sandbox.run_as_user(hoplab_sandbox.login_host, script + "\n")
    assert done.returncode == 0, done.stderr
    return done.stdout


def states(hoplab_sandbox: SandboxInfo, jobs: list[str]) -> str:
    return login(
        hoplab_sandbox,
        f"squeue --noheader --states=all --jobs={','.join(jobs)} --format=%T || true",
    )


@pytest.fixture
def timed_fillers(hoplab_sandbox: SandboxInfo) -> Iterator[list[str]]:
    """Both nodes held by a job with a time limit, so the next job is PENDING and SLURM knows
    when it can start."""
    jobs = [
        login(
            hoplab_sandbox,
            f"sbatch --parsable --cpus-per-task=2 --time={FILLER_MINUTES} --job-name=filler "
            "--output=/dev/null "
            "--wrap='sleep 900'",
        ).strip()
        for _ in hoplab_sandbox.nodes
    ]
    try:
        wait_until(
            lambda: states(hoplab_sandbox, jobs).split() == ["RUNNING"] * len(jobs),
            60,
            what="the filler jobs to run",
        )
        yield jobs
    finally:
        release(hoplab_sandbox, jobs)


def release(hoplab_sandbox: SandboxInfo, jobs: list[str]) -> None:
    login(hoplab_sandbox, f"scancel {' '.join(jobs)} || true")
    wait_until(
        lambda: not any(s in states(hoplab_sandbox, jobs) for s in ("RUN", "COMPL")),
        60,
        what="the filler jobs to end",
    )


@pytest.fixture
def notify_calls(cluster_laptop: Laptop) -> Path:
    """A ``notify-send`` first on the laptop's PATH that appends each call to the file returned:
    one line, each argument followed by a tab (hoplab's notices hold no control character)."""
    calls = cluster_laptop.home / "notify-calls"
    calls.write_text("")
    folder = cluster_laptop.home / "desktop-bin"
    folder.mkdir()
    stub = folder / "notify-send"
    stub.write_text(f"#!/bin/sh\n{{ printf '%s\\t' \"$@\"; echo; }} >> {calls}\n")
    stub.chmod(0o755)
    cluster_laptop.env["PATH"] = f"{folder}:{cluster_laptop.env['PATH']}"
    return calls


def pending_hoplab_job(laptop: Laptop) -> Callable[[], str | None]:
    def find() -> str | None:
        for line in laptop.jobs():
            job, name, state = line.split("|")
            if name.startswith("hoplab-") and state == "PENDING":
                return job
        return None

    return find


def queued_up(
    laptop: Laptop,
    hoplab_sandbox: SandboxInfo,
    fillers: list[str],
    *extra: str,
) -> str:
    """``up --detach`` that waits in the queue for QUEUED_FOR seconds, then starts; its stderr.

    The job's hour keeps the background supervisor's walltime warning (10 min before the end)
    out of the notices."""
    up = laptop.spawn(
        "up", "login01", "--venv", str(hoplab_sandbox.jupyter_venv), "--no-browser",
        "--detach", "--time", "60", *extra,
    )  # fmt: skip
    wait_until(pending_hoplab_job(laptop), 60, what="a PENDING hoplab job")
    with pytest.raises(subprocess.TimeoutExpired):
        up.wait(timeout=QUEUED_FOR)  # still waiting for the fillers' nodes
    release(hoplab_sandbox, fillers)
    stderr = laptop.finish(up, 180)
    assert up.returncode == 0, stderr
    return stderr


def recorded(calls: Path) -> list[list[str]]:
    """The stub's calls, each as its argument list."""
    return [line.split("\t")[:-1] for line in calls.read_text().splitlines()]


def test_a_queued_up_notifies_once_when_ready(
    cluster_laptop: Laptop,
    hoplab_sandbox: SandboxInfo,
    timed_fillers: list[str],
    notify_calls: Path,
) -> None:
    queued_up(cluster_laptop, hoplab_sandbox, timed_fillers)
    (session,) = cluster_laptop.json("ls")["sessions"]
    calls = recorded(notify_calls)
    assert len(calls) == 1, calls
    (call,) = calls
    assert call[:3] == ["--app-name=hoplab", "--", "hoplab"]  # options, then the title
    message = call[-1]
    assert session["id"] in message
    assert "ready" in message
    assert session["host"] in message
    url = cluster_laptop.run("attach", session["id"], "--detach", "--no-browser").stdout
    token = url.strip().split("token=")[-1]
    assert len(token) >= 32
    assert token not in notify_calls.read_text()


def test_no_notify_sends_nothing(
    cluster_laptop: Laptop,
    hoplab_sandbox: SandboxInfo,
    timed_fillers: list[str],
    notify_calls: Path,
) -> None:
    queued_up(cluster_laptop, hoplab_sandbox, timed_fillers, "--no-notify")
    (session,) = cluster_laptop.json("ls")["sessions"]
    assert session["state"] == "ready"  # held by a background supervisor, which notifies nothing
    assert session["supervisor_pid"]
    assert recorded(notify_calls) == []


def test_up_and_ls_show_the_start_slurm_estimates(
    cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo, timed_fillers: list[str]
) -> None:
    began = time.time()
    up = cluster_laptop.spawn(
        "up", "login01", "--venv", str(hoplab_sandbox.jupyter_venv), "--no-browser"
    )
    job = wait_until(pending_hoplab_job(cluster_laptop), 60, what="a PENDING hoplab job")

    def estimated() -> float | None:
        (listed,) = cluster_laptop.json("ls")["sessions"]
        value = listed.get("estimated_start")
        return float(value) if value else None

    # the backfill runs every 2 s; up asks the queue 1, 2, 4, 8, 15 s apart and keeps what
    # it says in the session's record, which ls reads
    start = wait_until(estimated, 90, what="ls to show SLURM's estimated start", cap=2)
    # the fillers end at their time limit at the latest: that is when SLURM plans this job
    assert began - 60 <= start <= began + FILLER_MINUTES * 60 + 120
    squeue_start = login(
        hoplab_sandbox,
        f"TZ=UTC0 SLURM_TIME_FORMAT=standard squeue --noheader --jobs={job} --format=%S",
    ).strip()
    assert squeue_start != "N/A"
    planned = calendar.timegm(time.strptime(squeue_start, "%Y-%m-%dT%H:%M:%S"))
    assert abs(planned - start) < 120  # the same plan, refreshed by a later backfill pass

    shown = cluster_laptop.run("ls", "--wide").stdout
    match = CLOCK.search(shown)
    assert match is not None, shown
    time.strptime(match.group(1), "%H:%M")  # a time of day
    assert "pending, estimated start" in shown

    up.send_signal(signal.SIGINT)
    stderr = cluster_laptop.finish(up, 90)
    assert up.returncode == 130, stderr
    progress = CLOCK.search(stderr)
    assert progress is not None, stderr  # "… PENDING (Resources), estimated start 14:32"
    time.strptime(progress.group(1), "%H:%M")
    assert "PENDING" in stderr
