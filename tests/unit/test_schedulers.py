"""Scheduler backends against recorded output, and the values that reach a job script."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from hoplab.errors import ConfigError
from hoplab.launcher import render
from hoplab.process import Completed
from hoplab.protocol import Listen
from hoplab.schedulers import backend, batch_backend
from hoplab.schedulers.base import JobSpec, JobState, JobStatus, Resources, parse_duration
from hoplab.schedulers.none import NoScheduler
from hoplab.schedulers.slurm import Slurm, parse_format, parse_json

SAMPLES = Path(__file__).parent / "samples" / "slurm"


def done(stdout: str = "", stderr: str = "", code: int = 0) -> Completed:
    return Completed(("squeue",), code, stdout, stderr)


def test_squeue_format_pending_running_and_ended() -> None:
    before = parse_format((SAMPLES / "squeue-format-22.05-a.txt").read_text())
    assert before["25"] == JobStatus("25", JobState.PENDING, "Resources")
    assert before["26"].reason == "PartitionTimeLimit"
    assert "--time" in (Slurm().hopeless(before["26"]) or "")
    assert Slurm().hopeless(before["25"]) is None
    assert before["23"] == JobStatus("23", JobState.RUNNING, "", "node001", None)  # UNLIMITED
    after = parse_format((SAMPLES / "squeue-format-22.05-b.txt").read_text())
    assert after["23"].state is JobState.CANCELLED
    assert after["27"].state is JobState.COMPLETED
    assert after["25"] == JobStatus("25", JobState.RUNNING, "", "node001", 119.0)


def test_squeue_json_22_05() -> None:
    found = parse_json((SAMPLES / "squeue-json-22.05.json").read_text(), now=1795403940 + 60)
    assert found["22"] == JobStatus("22", JobState.TIMEOUT, "TimeLimit", "node001")
    assert found["28"] == JobStatus("28", JobState.RUNNING, "", "node001", 1740.0)
    assert found["29"].time_left is None  # no time limit
    assert found["30"] == JobStatus("30", JobState.PENDING, "Resources")


def test_squeue_json_newer_shape() -> None:
    """SLURM 23.02+ (data_parser v0.0.39 on): state flags in a list, numbers as objects.

    Shaped after the documented v0.0.40 schema, not recorded: the sandbox runs 22.05.
    """
    payload = {
        "jobs": [
            {
                "job_id": 7,
                "job_state": ["RUNNING"],
                "state_reason": "None",
                "nodes": "gpu01",
                "time_limit": {"set": True, "infinite": False, "number": 60},
                "end_time": {"set": True, "infinite": False, "number": 5000},
            },
            {
                "job_id": 8,
                "job_state": ["PENDING"],
                "state_reason": "BadConstraints",
                "nodes": "",
                "time_limit": {"set": False, "infinite": True, "number": 0},
                "end_time": {"set": True, "infinite": False, "number": 0},
            },
        ]
    }
    found = parse_json(json.dumps(payload), now=4000)
    assert found["7"] == JobStatus("7", JobState.RUNNING, "", "gpu01", 1000.0)
    assert Slurm().hopeless(found["8"]) is not None


def test_squeue_query_argv_by_version() -> None:
    assert "--json" not in Slurm((22, 5)).query_argv(["1", "2"])
    assert "--jobs=1,2" in Slurm((22, 5)).query_argv(["1", "2"])
    assert Slurm((23, 11)).query_argv(["3"])[:2] == ["squeue", "--json"]


def test_squeue_answers_that_are_not_states() -> None:
    slurm = Slurm()
    purged = slurm.parse_query(
        done(stderr="slurm_load_jobs error: Invalid job id specified", code=1), ["5"]
    )
    assert purged["5"].state is JobState.GONE
    down = slurm.parse_query(done(stderr="Unable to contact slurm controller", code=1), ["5"])
    assert down["5"].state is JobState.UNKNOWN
    assert "controller" in down["5"].reason
    garbage = slurm.parse_query(done(stdout="<html>proxy error</html>\n"), ["5"])
    assert garbage["5"].state is JobState.UNKNOWN
    missing = slurm.parse_query(done(stdout="6|RUNNING|None|node001|1:00\n"), ["5", "6"])
    assert missing["5"].state is JobState.GONE
    assert missing["6"].state is JobState.RUNNING


def test_job_id_from_sbatch() -> None:
    assert Slurm().parse_job_id("123\n") == "123"
    assert Slurm().parse_job_id("124;cluster2\n") == "124"
    with pytest.raises(ValueError, match="no job id"):
        Slurm().parse_job_id("sbatch: error: oops\n")


def test_plain_host_backend() -> None:
    none = NoScheduler()
    assert not none.batch
    assert none.header(JobSpec("hoplab-x", "jupyter.log", Resources(queue="ignored"))) == ""
    assert none.parse_job_id("HOPLAB x\n4242\n") == "4242"
    with pytest.raises(ValueError, match="not started"):
        none.parse_job_id("setsid: failed\n")


def test_backend_registry() -> None:
    assert isinstance(backend("none"), NoScheduler)
    assert batch_backend("slurm", (22, 5)).version == (22, 5)
    assert Slurm.parse_version("slurm-wlm 22.05.8\n") == (22, 5)
    assert Slurm.parse_version("slurm 23.11.4\n") == (23, 11)
    with pytest.raises(ConfigError, match="unknown scheduler"):
        backend("loadleveler")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 5400),
        ("1:30:00", 5400),
        ("2-00:00:00", 172800),
        ("1h30m", 5400),
        ("45m", 2700),
        ("10:30", 630),  # SLURM reads MM:SS
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "1:2:3:4", "-5"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ConfigError, match="as a duration") as caught:
        parse_duration(text)
    assert caught.value.key == "time"


HOSTILE = [
    "a\nb",
    "x\r#SBATCH --uid=0",
    "debug\n#SBATCH --exclusive",
    'gpu" --exclusive "',
    "back\\slash",
    "tab\there",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_directive_values_cannot_break_out(value: str) -> None:
    job = JobSpec("hoplab-x", "jupyter.log", Resources(queue=value))
    with pytest.raises(ConfigError):
        Slurm().header(job)
    raw = JobSpec("hoplab-x", "jupyter.log", Resources(directives=(value,)))
    if "\n" in value or "\r" in value or "\t" in value:
        with pytest.raises(ConfigError):
            Slurm().header(raw)


@pytest.mark.parametrize("value", ["my part", "x;touch /tmp/pwned-hoplab", "$(touch /tmp/pw)"])
def test_odd_values_stay_one_quoted_directive(value: str, tmp_path: Path) -> None:
    """Spaces, ``;`` and ``$(...)`` become one double-quoted word on one ``#SBATCH`` line,
    and the script still runs in a real sh without running any of it."""
    job = JobSpec("hoplab-x", "jupyter.log", Resources(account=value, directives=(value,)))
    header = Slurm().header(job)
    lines = header.splitlines()
    assert all(line.startswith("#SBATCH ") for line in lines)
    assert f'#SBATCH --account="{value}"' in lines
    marker = tmp_path / "ran"
    script = header.replace("/tmp/pwned-hoplab", str(marker)) + "\necho fine\n"
    ran = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    assert ran.stdout == "fine\n"
    assert not marker.exists()


def test_resources_to_sbatch() -> None:
    res = Resources(
        queue="gpu", time=5400, cpus=4, mem="16G", gpus=2, account="proj", qos="high",
        constraint="a100", directives=("--exclusive",),
    )  # fmt: skip
    header = Slurm().header(JobSpec("hoplab-x", "jupyter.log", res))
    assert header.splitlines() == [
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks=1",
        "#SBATCH --partition=gpu",
        "#SBATCH --time=01:30:00",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem=16G",
        "#SBATCH --gpus=2",
        "#SBATCH --account=proj",
        "#SBATCH --qos=high",
        "#SBATCH --constraint=a100",
        "#SBATCH --exclusive",
    ]
    with pytest.raises(ConfigError, match="memory"):
        Slurm().header(JobSpec("x", "o", Resources(mem="lots")))


def test_batch_launcher_never_listens_everywhere(tmp_path: Path) -> None:
    """The launcher refuses 0.0.0.0 even if told so (it only takes the node's own address)."""
    home = tmp_path
    session = home / ".hoplab" / "sessions" / "abc"
    (session / "runtime").mkdir(parents=True)
    (session / "reach").write_text("tcp 0.0.0.0\n")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "jupyter-lab").write_text("#!/bin/sh\necho should-not-run\n")
    (fake / "jupyter-lab").chmod(0o755)
    script = render.launcher(render.LaunchSpec("abc", listen=Listen.ASK, batch=True))
    ran = subprocess.run(
        ["sh", "-c", script],
        capture_output=True,
        text=True,
        check=False,
        env={"HOME": str(home), "PATH": f"{fake}:/usr/bin:/bin"},
    )
    assert ran.returncode == 1
    assert "should-not-run" not in ran.stdout
    assert (session / "status").read_text() == "failed listen\n"


def test_completing_jobs() -> None:
    """COMPLETING is on its way out; with TimeLimit its end is already the walltime."""
    found = parse_format("9|COMPLETING|TimeLimit|node001|0:00\n10|COMPLETING|None|node002|5:00\n")
    assert found["9"].state is JobState.TIMEOUT
    assert found["10"].state is JobState.ENDING
    assert found["10"].state.active  # cancelling it is not verified yet
    assert found["10"].state.ended  # but its Jupyter is going


def test_scontrol_details_of_a_failed_job() -> None:
    text = (SAMPLES / "scontrol-show-job-failed-22.05.txt").read_text()
    assert Slurm().details_argv("1") == ["scontrol", "--oneliner", "show", "job", "1"]
    assert Slurm().parse_details(text) == (
        "JobState FAILED, Reason NonZeroExitCode, ExitCode 3:0, NodeList node001"
    )
