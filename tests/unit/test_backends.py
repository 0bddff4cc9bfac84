"""Every batch backend against recorded (or documented) scheduler output, and its directives.

The samples live in tests/unit/samples/<scheduler>/ with a README each that says which
version, which command and which situation every file is, and where it comes from.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from hoplab.errors import ConfigError
from hoplab.process import Completed
from hoplab.remote.jobs import choose, probe_script, read_probe
from hoplab.schedulers import NAMES, batch_backend, batch_classes
from hoplab.schedulers.base import JobSpec, JobState, Resources
from hoplab.schedulers.htcondor import HtCondor
from hoplab.schedulers.lsf import Lsf
from hoplab.schedulers.oar import Oar
from hoplab.schedulers.pbs import PbsPro, Torque

SAMPLES = Path(__file__).parent / "samples"


def sample(path: str) -> str:
    return (SAMPLES / path).read_text()


def done(stdout: str, returncode: int = 0, stderr: str = "") -> Completed:
    return Completed(["x"], returncode, stdout, stderr)


# -- state from recorded output -----------------------------------------------------------


def test_pbs_pro_23_real_running_and_finished() -> None:
    statuses = PbsPro().parse_query(
        done(sample("pbspro/qstat-fFjson-x-all-23.06.06.json")),
        ["1004.pbs", "1006.pbs", "1007.pbs"],
    )
    assert statuses["1004.pbs"].state is JobState.COMPLETED
    running = statuses["1006.pbs"]
    assert (running.state, running.node) == (JobState.RUNNING, "pbs")
    # left out without a word (some OpenPBS answer a list with its first job): not ended
    assert statuses["1007.pbs"].state is JobState.UNKNOWN


def test_pbs_pro_queued_walltime_deleted() -> None:
    statuses = PbsPro().parse_query(
        done(sample("pbspro/qstat-fFjson-x-queued-and-ended-constructed.json")),
        ["2001", "2002", "2003", "2004"],
    )
    queued = statuses["2001"]
    assert queued.state is JobState.PENDING
    assert queued.reason.startswith("Insufficient amount of resource: ncpus")
    assert statuses["2002"].state is JobState.TIMEOUT  # Exit_status -29
    assert statuses["2003"].state is JobState.CANCELLED  # 271, substate 91
    assert statuses["2004"].state is JobState.CANCELLED  # deleted while queued


def test_pbs_pro_unknown_and_failing_qstat() -> None:
    unknown_id = sample("pbspro/qstat-unknown-job.stderr.txt")
    gone = PbsPro().parse_query(done("", 153, unknown_id), ["9999.pbs"])
    assert gone["9999.pbs"].state is JobState.GONE
    broken = PbsPro().parse_query(done("", 1, "pbs_iff: cannot connect to host"), ["1.pbs"])
    assert broken["1.pbs"].state is JobState.UNKNOWN
    assert "cannot connect" in broken["1.pbs"].reason


def test_torque_completed_and_running() -> None:
    text = sample("torque/qstat-fx-completed-constructed.xml")
    statuses = Torque().parse_query(done(text), ["3003", "3004"])
    assert statuses["3003"].state is JobState.COMPLETED
    both = Torque().parse_query(
        done(sample("torque/qstat-fx-queued-running-constructed.xml")), ["3001", "3002"]
    )
    states = {job: status.state for job, status in both.items()}
    assert set(states.values()) == {JobState.PENDING, JobState.RUNNING}
    running = next(s for s in both.values() if s.state is JobState.RUNNING)
    assert running.node
    assert running.time_left is not None
    unknown_id = sample("torque/qstat-unknown-job.stderr.txt")
    gone = Torque().parse_query(done("", 153, unknown_id), ["9999.torque-server.example.org"])
    assert gone["9999.torque-server.example.org"].state is JobState.GONE


def test_lsf_states_and_not_found() -> None:
    statuses = Lsf().parse_query(
        done(sample("lsf/bjobs-o-json-mixed-constructed.json")),
        ["4001", "4002", "4003", "4004", "9999"],
    )
    assert statuses["4001"].state is JobState.PENDING
    assert "resource requirements" in statuses["4001"].reason
    running = statuses["4002"]
    assert (running.state, running.node, running.time_left) == (
        JobState.RUNNING,
        "node001",
        58 * 60.0,
    )
    assert statuses["4003"].state is JobState.TIMEOUT  # TERM_RUNLIMIT
    assert statuses["4004"].state is JobState.COMPLETED
    assert statuses["9999"].state is JobState.GONE
    # a real record of a job its owner killed (recorded without the jobid field: add it back)
    record = json.loads(sample("lsf/bjobs-o-json-exit-term_owner-fixture.json"))
    record["RECORDS"][0]["JOBID"] = "77"
    killed = Lsf().parse_query(done(json.dumps(record)), ["77"])["77"]
    assert killed.state is JobState.CANCELLED
    assert killed.reason.startswith("TERM_OWNER")


@pytest.mark.parametrize(
    ("path", "job", "state"),
    [
        ("oarstat_fJ_waiting_job6.stdout", "6", JobState.PENDING),
        ("oarstat_fJ_running_job3_inline.stdout", "3", JobState.RUNNING),
        ("oarstat_fJ_terminated_job2.stdout", "2", JobState.COMPLETED),
        ("oarstat_fJ_exit3_job7.stdout", "7", JobState.FAILED),
        ("oarstat_fJ_walltime_job4.stdout", "4", JobState.TIMEOUT),
        ("oarstat_fJ_deleted_running_job3_final.stdout", "3", JobState.CANCELLED),
        ("oarstat_fJ_deleted_waiting_job6_final.stdout", "6", JobState.CANCELLED),
        ("oarstat_fJ_error_cpuset_job1.stdout", "1", JobState.NODE_FAIL),
    ],
)
def test_oar_recorded_states(path: str, job: str, state: JobState) -> None:
    """OAR 2.5.9, recorded on this kind of machine (samples/oar-recorded/README.md)."""
    status = Oar().parse_query(done(sample(f"oar-recorded/{path}")), [job])[job]
    assert status.state is state
    if state is JobState.RUNNING:
        assert status.node == "vm"
    if state is JobState.FAILED:
        assert status.reason == "exit code 3"  # exit_code 768 is a wait status


def test_oar_unknown_id_prints_nothing() -> None:
    text = sample("oar-recorded/oarstat_fJ_unknown_id.stdout")
    assert Oar().parse_query(done(text), ["9999"])["9999"].state is JobState.GONE
    failing = Oar().parse_query(done("", 255, "DBI connect failed"), ["1"])
    assert failing["1"].state is JobState.UNKNOWN


def test_htcondor_queue_and_history() -> None:
    live = HtCondor().parse_query(
        done(sample("htcondor/condor_q-json-attributes-constructed.json")),
        ["122.0", "123.0", "124.0", "125.0"],
    )
    assert live["124.0"].state is JobState.PENDING
    assert (live["123.0"].state, live["123.0"].node) == (JobState.RUNNING, "node001.example.org")
    assert live["122.0"].state is JobState.TIMEOUT  # held, HoldReasonCode 47
    assert live["125.0"].state is JobState.GONE
    history = HtCondor().parse_history(
        done(sample("htcondor/condor_history-json-attributes-constructed.json")),
        ["120.0", "121.0"],
    )
    assert history["120.0"].state is JobState.COMPLETED
    assert history["121.0"].state is JobState.CANCELLED
    none = HtCondor().parse_query(
        done(sample("htcondor/condor_q-json-no-match.stdout.txt")), ["9.0"]
    )
    assert none["9.0"].state is JobState.GONE


@pytest.mark.parametrize("name", NAMES)
def test_query_failure_is_unknown(name: str) -> None:
    """A scheduler that fails to answer never makes a job look dead."""
    scheduler = batch_backend(name)
    statuses = scheduler.parse_query(done("", 1, "connection refused by the server"), ["12"])
    assert statuses["12"].state is JobState.UNKNOWN, name


@pytest.mark.parametrize("name", NAMES)
def test_garbage_output_is_unknown(name: str) -> None:
    scheduler = batch_backend(name)
    statuses = scheduler.parse_query(done("<html>{not json, not xml"), ["12"])
    assert statuses["12"].state is JobState.UNKNOWN, name


# -- detection ------------------------------------------------------------------------------


def probe(**sections: str) -> str:
    return "".join(f"@@hoplab-scheduler {name}\n{text}\n" for name, text in sections.items())


@pytest.mark.parametrize(
    ("qstat", "expected"),
    [
        ("pbspro/qstat-version-19.1.3.txt", "pbs"),
        ("torque/qstat-version-6.1.stderr.txt", "torque"),
        ("torque/qstat-version-4.2.stderr.txt", "torque"),
        ("sge/qstat-help.txt", "sge"),
    ],
)
def test_detection_tells_qsub_schedulers_apart(qstat: str, expected: str) -> None:
    """PBS, Torque and Grid Engine all have qsub: their qstat version answers decide."""
    text = sample(qstat)
    found = read_probe(probe(pbs=text, torque=text, sge=text))
    assert choose(found, "auto", "login").name == expected
    # each recognises only its own answer, whatever the order of the sections
    recognised = [
        name for name in ("pbs", "torque", "sge") if batch_classes()[name].recognizes(text)
    ]
    assert recognised == [expected]


def test_detection_order_and_refusals() -> None:
    from hoplab.errors import SchedulerError

    slurm = "slurm 22.05.8\n"
    both = read_probe(probe(slurm=slurm, lsf=sample("lsf/bsub-V-constructed.stderr.txt")))
    with pytest.raises(SchedulerError, match="more than one scheduler: slurm, lsf") as caught:
        choose(dict(both), "auto", "login")  # two answer: never a guess
    assert "--scheduler slurm or lsf" in caught.value.hint
    assert choose(dict(both), "lsf", "login").name == "lsf"
    assert choose(read_probe(probe(slurm=slurm, pbs="")), "auto", "login").name == "slurm"
    assert choose({}, "auto", "login").name == "none"
    with pytest.raises(SchedulerError, match="cannot tell which scheduler"):
        choose(read_probe(probe(pbs="qstat: not found", torque="", sge="")), "auto", "login")
    with pytest.raises(SchedulerError, match="not on the PATH"):
        choose(dict(both), "oar", "login")
    with pytest.raises(SchedulerError, match="does not drive"):
        choose(read_probe(probe(**{"?flux": ""})), "auto", "login")


def test_names_match_the_backends() -> None:
    """The light name list (read at every start) and the classes agree, in detection order."""
    assert tuple(batch_classes()) == NAMES
    assert all(cls.name == name for name, cls in batch_classes().items())


def test_probe_is_one_command_for_every_backend() -> None:
    script = probe_script()
    for cls in batch_classes().values():
        assert f"command -v {cls.submit_command}" in script


# -- directives -----------------------------------------------------------------------------

FULL = Resources(queue="gpu", time=5400, cpus=4, mem="8G", gpus=1, account="proj1")
SUPPORTED = {  # what each scheduler can express of FULL
    "slurm": FULL,
    "pbs": FULL,
    "torque": FULL,
    "sge": FULL,
    "lsf": FULL,
    "oar": Resources(queue="gpu", time=5400, cpus=4, account="proj1"),
    "htcondor": Resources(time=5400, cpus=4, mem="8G", gpus=1, account="proj1"),
}
EXPECTED = {
    "pbs": ["#PBS -l select=1:ncpus=4:mem=8gb:ngpus=1", "#PBS -l walltime=1:30:00", "#PBS -q gpu"],
    "torque": ["#PBS -l nodes=1:ppn=4:gpus=1", "#PBS -l mem=8gb", "#PBS -A proj1"],
    "sge": ["#$ -pe smp 4", "#$ -l h_rt=1:30:00", "#$ -l h_vmem=2048M", "#$ -P proj1"],
    "lsf": ["#BSUB -n 4", "#BSUB -W 1:30", '#BSUB -R "rusage[mem=8GB]"', '#BSUB -gpu "num=1"'],
    "oar": ["#OAR -l /nodes=1/core=4,walltime=1:30:00", "#OAR -q gpu", "#OAR --project proj1"],
}


def script_text(name: str, resources: Resources) -> str:
    scheduler = batch_backend(name)
    job = JobSpec("hoplab-abc", "job.out", resources)
    if isinstance(scheduler, HtCondor):
        return scheduler.description(job)
    return scheduler.header(job)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_directives(name: str) -> None:
    lines = script_text(name, SUPPORTED[name]).splitlines()
    for line in EXPECTED[name]:
        assert line in lines, (name, lines)


def test_htcondor_description() -> None:
    text = script_text("htcondor", SUPPORTED["htcondor"])
    for line in ("request_cpus = 4", "request_memory = 8192", "request_gpus = 1",
                 "allowed_execute_duration = 5400", "accounting_group = proj1"):  # fmt: skip
        assert line in text.splitlines()
    assert text.splitlines()[-1] == "queue"


@pytest.mark.parametrize("name", sorted(n for n in NAMES if SUPPORTED[n] != FULL))
def test_unsupported_resource_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="has no directive"):
        script_text(name, FULL)


INJECTIONS = [
    "a b; touch {marker}",
    "$(touch {marker})",
    "`touch {marker}`",
    "x' ; touch {marker} ; echo '",
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("attack", INJECTIONS)
def test_values_stay_one_directive_and_run_nothing(name: str, attack: str, tmp_path: Path) -> None:
    """Spaces, quotes, ``;``, ``$(...)`` and backquotes stay inside one directive's value,
    and the script's header, run through a real sh, runs none of them."""
    marker = tmp_path / "ran"
    value = attack.format(marker=marker)
    plain = script_text(name, Resources(account="acct"))
    try:
        attacked = script_text(name, Resources(account=value))
    except ConfigError:  # refused outright (HTCondor refuses '$' and backquotes)
        return
    assert len(attacked.splitlines()) == len(plain.splitlines()), attacked
    if name != "htcondor":  # a description is not a shell script
        subprocess.run(["sh", "-c", attacked + "\ntrue"], check=True, timeout=10)
        assert not marker.exists()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", ["a\nb", "a\rb", 'say "hi"', "back\\slash"])
def test_line_breaks_and_quotes_are_refused(name: str, bad: str) -> None:
    with pytest.raises(ConfigError):
        script_text(name, Resources(account=bad))


def test_grid_engine_recorded_qstat_and_qacct() -> None:
    """SGE 8.1.9, recorded on the sandbox (samples/sge/README.md)."""
    from hoplab.schedulers.sge import GridEngine

    live = GridEngine().parse_query(
        done(sample("sge/qstat-xml-running-pending.xml")), ["4", "5", "6"]
    )
    assert (live["4"].state, live["4"].node) == (JobState.RUNNING, "node001")
    assert live["5"].state is JobState.PENDING
    assert live["6"].state is JobState.GONE  # not listed: the accounting says how it ended
    assert (
        GridEngine().parse_query(done(sample("sge/qstat-xml-empty.xml")), ["1"])["1"].state
        is JobState.GONE
    )
    ended = {
        ("completed", "1"): JobState.COMPLETED,
        ("h_rt", "6"): JobState.TIMEOUT,  # failed 37
        ("qdel-running", "4"): JobState.CANCELLED,  # failed 100 before its h_rt
    }
    for (name, job), state in ended.items():
        text = sample(f"sge/qacct-j-{name}.txt")
        assert GridEngine().parse_history(done(text), [job])[job].state is state, name
    unknown_id = GridEngine().parse_history(
        done("", 1, sample("sge/qacct-j-unknown.stderr.txt")), ["999999"]
    )
    assert unknown_id["999999"].state is JobState.GONE


def test_grid_engine_job_ids() -> None:
    from hoplab.schedulers.sge import GridEngine

    assert GridEngine().parse_job_id(sample("sge/qsub-terse.txt")) == "2"
    assert GridEngine().parse_job_id(sample("sge/qsub.txt")) == "1"


@pytest.mark.parametrize(
    ("name", "path", "job"),
    [
        ("pbs", "pbspro/qsub-23.06.06.txt", "1.pbs"),
        ("lsf", "lsf/bsub-10.1.0.13.txt", "3386667"),
        ("oar", "oar-recorded/oarsub_scanscript.stdout", "1"),
        ("htcondor", "htcondor/condor_submit-terse.txt", "123.0"),
        ("htcondor", "htcondor/condor_submit.txt", "123.0"),
        ("torque", "torque/qsub.txt", None),
    ],
)
def test_submit_outputs(name: str, path: str, job: str | None) -> None:
    parsed = batch_backend(name).parse_job_id(sample(path))
    assert parsed == (job or sample(path).strip())
