"""A pending job's estimated start, from each scheduler's recorded (or documented) answer.

The samples are described in tests/unit/samples/<scheduler>/README.md: the SLURM format string
with ``%S`` is constructed from squeue(1) 22.05, its JSON of 22.05 is recorded and the 23.02+
shape is documented; OAR 2.5.9 is recorded; PBS Pro's ``estimated.start_time`` is constructed
on the OpenPBS 23.06.06 field set. Grid Engine, LSF (only with LSB_ENABLE_ESTIMATION, through
an ``-o`` field older releases refuse), Torque and HTCondor give none.
"""

from __future__ import annotations

import calendar
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hoplab.process import Completed
from hoplab.records.model import Session, SessionState
from hoplab.schedulers.base import JobState, JobStatus, clock_time
from hoplab.schedulers.oar import Oar
from hoplab.schedulers.pbs import PbsPro
from hoplab.schedulers.slurm import Slurm, parse_format, parse_json
from hoplab.sessions import startup

if TYPE_CHECKING:
    from collections.abc import Iterator

    from hoplab.sessions.progress import Step

SAMPLES = Path(__file__).parent / "samples"


def utc(text: str) -> float:
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%S")))


@pytest.fixture
def in_utc() -> Iterator[None]:
    """The laptop's clock in UTC, so that local times read the same everywhere."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC0"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def test_slurm_format_start_column() -> None:
    found = parse_format((SAMPLES / "slurm/squeue-format-start-22.05-constructed.txt").read_text())
    assert found["31"].state is JobState.PENDING
    assert found["31"].estimated_start == utc("2026-11-30T14:32:00")
    assert found["32"].estimated_start is None  # N/A: the backfill has not placed it yet
    assert found["34"].estimated_start is None  # not a time
    running = found["33"]
    assert (running.state, running.node, running.estimated_start) == (
        JobState.RUNNING,
        "node001",
        None,  # its %S is when it started, not an estimate
    )
    # the five columns an older answer has still read
    assert parse_format("5|PENDING|Resources||1:00\n")["5"].estimated_start is None


def test_slurm_query_prints_times_in_utc_whatever_the_user_set() -> None:
    argv = Slurm((22, 5)).query_argv(["1", "2"])
    assert argv[:3] == ["env", "TZ=UTC0", "SLURM_TIME_FORMAT=standard"]
    assert argv[3] == "squeue"
    assert argv[-1].startswith("--format=")
    assert argv[-1].endswith("|%S")
    assert "env" not in Slurm((23, 11)).query_argv(["1"])  # JSON gives Unix times


def test_slurm_json_start_time() -> None:
    recorded = parse_json((SAMPLES / "slurm/squeue-json-22.05.json").read_text(), now=1795404000)
    assert recorded["30"].state is JobState.PENDING
    assert recorded["30"].estimated_start is None  # start_time 0: no estimate (recorded)
    assert recorded["28"].estimated_start is None  # running
    newer = {
        "jobs": [
            {
                "job_id": 9,
                "job_state": ["PENDING"],
                "state_reason": "Resources",
                "nodes": "",
                "start_time": {"set": True, "infinite": False, "number": 1796049120},
                "end_time": {"set": True, "infinite": False, "number": 1796050920},
                "time_limit": {"set": True, "infinite": False, "number": 30},
            },
            {
                "job_id": 10,
                "job_state": ["PENDING"],
                "state_reason": "Priority",
                "nodes": "",
                "start_time": {"set": True, "infinite": False, "number": 0},
            },
        ]
    }
    found = parse_json(json.dumps(newer), now=1796040000)
    assert found["9"].estimated_start == 1796049120.0
    assert found["10"].estimated_start is None


def test_oar_scheduled_start_recorded() -> None:
    text = (SAMPLES / "oar-recorded/oarstat_fJ_waiting_job5_scheduled.stdout").read_text()
    done = Completed(["oarstat"], 0, text, "")
    assert Oar().parse_query(done, ["5"])["5"].estimated_start == 1795408632.0
    text = (SAMPLES / "oar-recorded/oarstat_fJ_waiting_job6.stdout").read_text()
    waiting = Oar().parse_query(Completed(["oarstat"], 0, text, ""), ["6"])["6"]
    assert (waiting.state, waiting.estimated_start) == (JobState.PENDING, None)


def test_pbs_pro_estimated_start_time() -> None:
    text = (SAMPLES / "pbspro/qstat-fFjson-x-queued-estimated-constructed.json").read_text()
    found = PbsPro().parse_query(Completed(["qstat"], 0, text, ""), ["2001.pbs"])["2001.pbs"]
    assert found.state is JobState.PENDING
    assert found.estimated_start == utc("2025-06-19T23:00:01")
    # without the attribute (the scheduler computes none): no estimate
    plain = (SAMPLES / "pbspro/qstat-fFjson-x-queued-and-ended-constructed.json").read_text()
    queued = PbsPro().parse_query(Completed(["qstat"], 0, plain, ""), ["2001"])["2001"]
    assert queued.estimated_start is None
    assert PbsPro().query_argv(["1"])[:2] == ["env", "TZ=UTC0"]


@pytest.mark.usefixtures("in_utc")
def test_describe_and_clock_time() -> None:
    now = utc("2026-11-30T10:00:00")
    assert clock_time(utc("2026-11-30T14:32:00"), now) == "14:32"
    assert clock_time(utc("2026-12-02T09:15:00"), now) == "Wed 09:15"
    assert clock_time(utc("2027-01-02T09:15:00"), now) == "2027-01-02 09:15"
    soon = time.time() + 60
    status = JobStatus("1", JobState.PENDING, "Resources", estimated_start=soon)
    assert status.describe() == f"PENDING (Resources), estimated start {clock_time(soon)}"
    assert JobStatus("1", JobState.PENDING, "Resources").describe() == "PENDING (Resources)"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pending_session() -> Session:
    return Session(
        "ab12cd34", "login01", "login01", (), None, True, "lab", token="t0ken" * 8, job_id="31"
    )


def test_up_refreshes_the_estimate_at_the_query_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The queue is asked on poll_schedule (1, 2, 4 ... s): each answer refreshes the estimate
    in the record (``ls`` reads it) and in the progress line; once running, it is gone."""
    clock = FakeClock()
    answers = [
        JobStatus("31", JobState.PENDING, "Resources"),
        JobStatus("31", JobState.PENDING, "Resources", estimated_start=time.time() + 600),
        JobStatus("31", JobState.RUNNING, node="node001"),
    ]
    asked: list[float] = []

    def query(_transport: object, _queue: object, jobs: list[str]) -> dict[str, JobStatus]:
        asked.append(clock.now)
        return {jobs[0]: answers[len(asked) - 1]}

    monkeypatch.setattr(startup.jobs, "query", query)
    steps: list[Step] = []
    saved: list[float | None] = []
    session = pending_session()
    watch = startup.Watch(
        None,  # type: ignore[arg-type]  # the query is faked: no transport is used
        session,
        Slurm((22, 5)),
        steps.append,
        60.0,
        on_estimate=lambda s: saved.append(s.estimated_start),
        clock=clock,
    )
    watch.poll()
    assert asked == []  # not before the first delay
    clock.now += 1.0
    watch.poll()
    watch.poll()  # at once again: not asked
    assert asked == [1001.0]
    assert session.estimated_start is None
    clock.now += 2.0
    watch.poll()
    assert session.estimated_start == answers[1].estimated_start
    assert saved[-1] == session.estimated_start
    assert "estimated start" in steps[-1].message
    clock.now += 4.0
    watch.poll()
    assert asked == [1001.0, 1003.0, 1007.0]
    assert session.estimated_start is None
    assert saved[-1] is None


def test_ls_shows_a_pending_session_estimate() -> None:
    from hoplab.cli.ls import _note
    from hoplab.sessions.listing import Row

    session = pending_session()
    session.estimated_start = time.time() + 600
    assert _note(Row(session), None).startswith("pending, estimated start ")
    assert session.public()["estimated_start"] == session.estimated_start
    session.state = SessionState.DETACHED
    assert "estimated" not in _note(Row(session), None)
