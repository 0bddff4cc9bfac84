"""One contract suite, run against every batch backend on the sandbox.

SLURM (22.05), Grid Engine (SGE 8.1.9) and OAR (2.5.9, Debian's packages: ``oar-real``,
started on first use) are the real ones. PBS Pro, Torque, LSF and HTCondor cannot be installed
here, and OAR also runs as a shim for the fast path: their commands are the shims of
``tests/shims``, which print the documented (and, where recorded, real) output of
OpenPBS 23.06, TORQUE 6.1, LSF 10.1.0.13, OAR 2.5.9 and HTCondor 23.0, and run every job for
real through the sandbox's SLURM on node001/node002 as the test user.

Each backend's commands are reached through hoplab's own ``sessions.jobs`` functions (the
code ``up``, ``ls`` and ``down`` use) over ssh to login01; shims sit in a directory of their
own per backend, put first on the PATH of each command.
"""

from __future__ import annotations

import json
import secrets
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import shims
from hoplab.errors import ConfigError
from hoplab.remote import jobs
from hoplab.schedulers import batch_backend
from hoplab.schedulers.base import JobSpec, JobState, JobStatus, Resources
from hoplab.testing.layout import LOGIN, NODES
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator

    from hoplab.process import Completed
    from hoplab.schedulers.base import BatchScheduler
    from hoplab.testing.info import SandboxInfo

pytestmark = pytest.mark.sandbox

BACKENDS = ("slurm", "sge", "oar-real", "pbs", "torque", "lsf", "oar", "htcondor")
REAL_OAR = "oar-real"  # the real OAR's commands, as against the "oar" shim
SHIMMED = set(shims.COMMANDS)
QUERY_COMMAND = {  # the command each backend's query runs (what a fault replaces)
    "slurm": "squeue",
    "sge": "qstat",
    "pbs": "qstat",
    "torque": "qstat",
    "lsf": "bjobs",
    "oar": "oarstat",
    REAL_OAR: "oarstat",
    "htcondor": "condor_q",
}
RUN_TIMEOUT = 90.0


@dataclass(frozen=True)
class _Target:
    label: str = LOGIN


class LoginShell:
    """Commands as the test user on login01, with ``bin`` first on the PATH.

    It stands in for hoplab's ssh transport (``run`` and ``target.label`` are all
    ``sessions.jobs`` uses) so that each backend's shims can sit in a directory of their own.
    """

    def __init__(self, hoplab_sandbox: SandboxInfo, bin_dir: Path | None) -> None:
        self.sandbox = hoplab_sandbox
        self.bin_dir = bin_dir
        self.target = _Target()

    def run(self, command: str, timeout: float = RUN_TIMEOUT) -> Completed:
        path = f"PATH={shlex.quote(str(self.bin_dir))}:$PATH\n" if self.bin_dir else ""
        return self.sandbox.run_as_user(LOGIN, path + command + "\n", check=False, timeout=timeout)


@dataclass
class Cluster:
    """One backend on the sandbox: its scheduler object, a shell, and the jobs it submitted."""

    name: str
    scheduler: BatchScheduler
    shell: LoginShell
    submitted: list[str]

    def try_submit(self, body: str, resources: Resources | None = None) -> Completed:
        """Submit a job running ``body`` from a fresh directory in the shared home."""
        folder = f"hoplab-contract/{self.name}-{secrets.token_hex(3)}"
        job = JobSpec(f"hoplab-c{secrets.token_hex(3)}", "job.out", resources or Resources())
        script = "\n".join(("#!/bin/sh", self.scheduler.header(job), body))
        return self.shell.run(
            f"mkdir -p ~/{folder} && cd ~/{folder} && cat > launch.sh <<'HOPLAB_END'\n"
            f"{script}\nHOPLAB_END\n{self.scheduler.submit_line(job)}"
        )

    def submit(self, body: str, resources: Resources | None = None) -> str:
        done = self.try_submit(body, resources)
        assert done.returncode == 0, done.stderr
        job_id = self.scheduler.parse_job_id(done.stdout)
        self.submitted.append(job_id)
        return job_id

    def status(self, job_id: str) -> JobStatus:
        return jobs.query(self.shell, self.scheduler, [job_id])[job_id]  # type: ignore[arg-type]

    def wait_for(
        self, job_id: str, states: set[JobState], timeout: float, *, reason: bool = False
    ) -> JobStatus:
        """Poll (with backoff) until the job is in one of ``states`` (and says why)."""
        seen: list[JobStatus] = []

        def reached() -> JobStatus | None:
            seen.append(self.status(job_id))
            ok = seen[-1].state in states and (seen[-1].reason or not reason)
            return seen[-1] if ok else None

        try:
            return wait_until(reached, timeout, what=f"{self.name} job {job_id}", cap=3.0)
        except Exception as exc:
            raise AssertionError(f"{self.name}: last states {seen[-3:]}") from exc

    def cancel_all(self) -> None:
        live = [job for job in self.submitted if self.status(job).state.active]
        jobs.cancel(self.shell, self.scheduler, live)  # type: ignore[arg-type]
        jobs.wait_gone(self.shell, self.scheduler, live)  # type: ignore[arg-type]


def open_cluster(name: str, hoplab_sandbox: SandboxInfo) -> Cluster:
    """``name`` on login01, its shims (if any) in a directory of their own, as detected."""
    bin_dir = None
    if name in SHIMMED:
        bin_dir = hoplab_sandbox.root_dir / "shims" / "bin" / name
        shims.install(name, hoplab_sandbox.root_dir, bin_dir)
    shell = LoginShell(hoplab_sandbox, bin_dir)
    wanted = "oar" if name == REAL_OAR else name
    probe = shell.run(jobs.probe_script(None, wanted)).stdout
    found = jobs.choose(jobs.read_probe(probe), wanted, LOGIN)
    assert found.name == wanted
    assert isinstance(found, type(batch_backend(wanted)))
    return Cluster(name, found, shell, [])  # type: ignore[arg-type]


@pytest.fixture(scope="module", autouse=True)
def contract_folders(hoplab_sandbox: SandboxInfo) -> Iterator[None]:
    """The jobs' folders (``~/hoplab-contract``) go once every contract test is done."""
    yield
    hoplab_sandbox.run_as_user(LOGIN, "rm -rf ~/hoplab-contract\n", check=False)


@pytest.fixture(params=BACKENDS)
def cluster(request: pytest.FixtureRequest, hoplab_sandbox: SandboxInfo) -> Iterator[Cluster]:
    if request.param == REAL_OAR:
        request.getfixturevalue("hoplab_oar")
    machine = open_cluster(request.param, hoplab_sandbox)
    yield machine
    machine.cancel_all()
    left = [job for job in machine.submitted if machine.status(job).state.active]
    assert left == [], f"{machine.name} jobs left: {left}"


def test_submit_run_cancel(cluster: Cluster) -> None:
    job = cluster.submit("sleep 600")
    running = cluster.wait_for(job, {JobState.RUNNING}, 60)
    assert running.node in NODES
    jobs.cancel(cluster.shell, cluster.scheduler, [job])  # type: ignore[arg-type]
    final = jobs.wait_gone(cluster.shell, cluster.scheduler, [job])[job]  # type: ignore[arg-type]
    assert final.state in {JobState.CANCELLED, JobState.GONE}, final


def test_pending_with_reason(cluster: Cluster) -> None:
    """Both nodes full (2 cores each): the next job waits, and the scheduler says why."""
    whole_node = Resources(cpus=2)
    fillers = [cluster.submit("sleep 600", whole_node) for _ in NODES]
    for job in fillers:
        cluster.wait_for(job, {JobState.RUNNING}, 60)
    waiting = cluster.submit("sleep 600", whole_node)
    # a scheduler may list it before its first pass has a reason: wait for one
    status = cluster.wait_for(waiting, {JobState.PENDING}, 30, reason=True)
    assert status.reason
    assert cluster.status(waiting).state is JobState.PENDING  # still: nothing frees a core


def test_completed(cluster: Cluster) -> None:
    job = cluster.submit("echo done")
    final = cluster.wait_for(job, {JobState.COMPLETED, JobState.GONE}, 90)
    assert final.state is JobState.COMPLETED, final


def test_failed_exit_code(cluster: Cluster) -> None:
    job = cluster.submit("exit 3")
    final = cluster.wait_for(job, {JobState.FAILED, JobState.COMPLETED, JobState.GONE}, 90)
    assert final.state is JobState.FAILED, final


@pytest.mark.usefixtures("hoplab_oar")
def test_walltime_every_backend(hoplab_sandbox: SandboxInfo) -> None:
    """A job past its walltime ends as TIMEOUT, in every backend.

    One test for all of them, submitted together: SLURM (under the shims too) cannot limit a
    job to less than a minute, so waiting for each in turn would cost minutes per backend.
    Grid Engine gets 5 s. Four cores run four jobs at once; the rest follow.
    """
    clusters = [open_cluster(name, hoplab_sandbox) for name in BACKENDS]
    started = {}
    try:
        for machine in clusters:
            seconds = 5 if machine.name == "sge" else 60
            started[machine.name] = machine.submit("sleep 600", Resources(time=seconds))
        for machine in clusters:
            final = machine.wait_for(started[machine.name], {JobState.TIMEOUT}, 300)
            assert final.state is JobState.TIMEOUT
    finally:
        for machine in clusters:
            machine.cancel_all()


def test_directive_values_cannot_inject(cluster: Cluster, hoplab_sandbox: SandboxInfo) -> None:
    """An account with spaces, ``;``, ``$(...)`` and backquotes, through the real submit
    command (or the shim's parser of its documented syntax): it runs nothing, and where the
    scheduler takes it, it is one value, whole."""
    marker = hoplab_sandbox.home / f"hoplab-injected-{cluster.name}"
    attack = f"x y; touch {marker} $(touch {marker}) `touch {marker}`"
    try:
        done = cluster.try_submit("echo ok", Resources(account=attack))
    except ConfigError:  # refused before anything reaches the login node
        assert cluster.name == "htcondor"  # '$' would expand a submit macro
        return
    # Grid Engine refuses the value as a project name; every other one takes it as one value
    assert (done.returncode == 0) == (cluster.name != "sge"), done.stderr
    if done.returncode == 0:  # taken: let it run to its end, then look
        job = cluster.scheduler.parse_job_id(done.stdout)
        cluster.submitted.append(job)
        cluster.wait_for(job, {JobState.COMPLETED, JobState.FAILED, JobState.GONE}, 90)
        if cluster.name in SHIMMED:  # the shim recorded what its parser read
            number = job.split(".", maxsplit=1)[0]
            record = hoplab_sandbox.home / ".hoplab-shims" / cluster.name / f"{number}.json"
            recorded = json.loads(record.read_text())
            assert attack in recorded["extra"].values(), recorded
    else:  # qsub read the whole value as one project name, and a name has no spaces
        assert "Space (' ') not allowed in objectname" in done.stderr
    assert not marker.exists()


@pytest.mark.parametrize("fault", ["fails", "hangs"])
def test_query_fault_is_unknown(
    cluster: Cluster, fault: str, monkeypatch: pytest.MonkeyPatch, hoplab_sandbox: SandboxInfo
) -> None:
    """A scheduler that fails or hangs reports UNKNOWN, and the job is read again after."""
    job = cluster.submit("sleep 600")
    cluster.wait_for(job, {JobState.RUNNING}, 60)
    broken = hoplab_sandbox.root_dir / "shims" / "bin" / f"broken-{cluster.name}"
    broken.mkdir(parents=True, exist_ok=True)
    broken.chmod(0o755)
    command = broken / QUERY_COMMAND[cluster.name]
    if fault == "fails":
        command.write_text("#!/bin/sh\necho 'cannot reach the server' >&2\nexit 1\n")
    else:
        command.write_text("#!/bin/sh\nexec sleep 30\n")  # the injected hang
    command.chmod(0o755)
    monkeypatch.setattr(jobs, "QUERY_TIMEOUT", 2.0)
    healthy = cluster.shell.bin_dir
    cluster.shell.bin_dir = Path(f"{broken}:{healthy}") if healthy else broken
    try:
        status = cluster.status(job)
    finally:
        cluster.shell.bin_dir = healthy
        command.unlink()
    assert status.state is JobState.UNKNOWN, status
    assert cluster.status(job).state is JobState.RUNNING


@pytest.mark.parametrize("name", sorted(SHIMMED | {"slurm"}))
def test_node_failure(name: str, hoplab_sandbox: SandboxInfo) -> None:
    """The node under a running job goes down: each backend reports its node failure.

    Grid Engine is left out: its qmaster declares a silent execd lost only after
    ``max_unheard`` (minutes), and nothing here can fail its node faster.
    """
    machine = open_cluster(name, hoplab_sandbox)
    job = machine.submit("sleep 600")
    node = machine.wait_for(job, {JobState.RUNNING}, 60).node
    assert node in NODES
    scontrol = ["scontrol", "update", f"NodeName={node}"]
    env = {"SLURM_CONF": str(hoplab_sandbox.slurm_conf)}
    hoplab_sandbox.run_in_namespace(LOGIN, [*scontrol, "State=DOWN", "Reason=hoplab-test"], env=env)
    try:
        final = machine.wait_for(job, {JobState.NODE_FAIL}, 60)
    finally:
        # ReturnToService=2 may have brought it back already: then RESUME is refused
        hoplab_sandbox.run_in_namespace(LOGIN, [*scontrol, "State=RESUME"], env=env, check=False)
        wait_until(
            lambda: (
                "idle"
                in hoplab_sandbox.run_in_namespace(
                    LOGIN, ["sinfo", "--noheader", "-n", str(node), "-o", "%t"], env=env
                ).stdout
            ),
            60,
            what=f"{node} to come back",
        )
        machine.cancel_all()
    assert final.state is JobState.NODE_FAIL


RECORDED_OAR = Path(__file__).parents[1] / "unit" / "samples" / "oar-recorded"
# state -> the recorded sample (tests/unit/samples/oar-recorded, from a real OAR 2.5.9)
OAR_SAMPLES = {
    "Running": "oarstat_fJ_running_job3_inline.stdout",
    "Terminated": "oarstat_fJ_terminated_job2.stdout",
    "Failed": "oarstat_fJ_exit3_job7.stdout",  # exit 3: OAR says Terminated, exit_code 768
}


def _oar_job(machine: Cluster, job: str) -> dict[str, object]:
    done = machine.shell.run(shlex.join(["oarstat", "-fJ", "-j", job]))
    assert done.returncode == 0, done.stderr
    found: dict[str, dict[str, object]] = json.loads(done.stdout)
    return found[job]


def _recorded_oar_job(sample: str) -> dict[str, object]:
    found: dict[str, dict[str, object]] = json.loads((RECORDED_OAR / sample).read_text())
    return next(iter(found.values()))


@pytest.mark.usefixtures("hoplab_oar")
def test_the_oar_shim_and_samples_agree_with_the_real_oar(hoplab_sandbox: SandboxInfo) -> None:
    """The real OAR, the shim and the recorded samples the unit tests read: the same oarsub
    answer, and in each state the same fields of ``oarstat -fJ`` and the same reading."""
    real, shim = open_cluster(REAL_OAR, hoplab_sandbox), open_cluster("oar", hoplab_sandbox)
    try:
        seen: dict[str, dict[str, dict[str, object]]] = {}
        for machine in (real, shim):
            answer = machine.try_submit("sleep 600")
            assert answer.returncode == 0, answer.stderr
            assert answer.stdout.splitlines()[-1].startswith("OAR_JOB_ID="), answer.stdout
            running = machine.scheduler.parse_job_id(answer.stdout)
            machine.submitted.append(running)
            done, failed = machine.submit("true"), machine.submit("exit 3")
            machine.wait_for(running, {JobState.RUNNING}, 60)
            machine.wait_for(done, {JobState.COMPLETED}, 90)
            machine.wait_for(failed, {JobState.FAILED}, 90)
            seen[machine.name] = {
                "Running": _oar_job(machine, running),
                "Terminated": _oar_job(machine, done),
                "Failed": _oar_job(machine, failed),
            }
        for state, sample in OAR_SAMPLES.items():
            recorded = _recorded_oar_job(sample)
            fields = {name: sorted(seen[name][state]) for name in seen}
            assert set(fields[REAL_OAR]) ^ set(recorded) == set(), (state, "recorded sample")
            assert set(fields["oar"]) ^ set(fields[REAL_OAR]) == set(), (state, "shim")
            said = {name: seen[name][state]["state"] for name in seen}
            assert said[REAL_OAR] == said["oar"] == recorded["state"], (state, said)
            codes = {name: seen[name][state]["exit_code"] for name in seen}
            assert codes[REAL_OAR] == codes["oar"] == recorded["exit_code"], (state, codes)
    finally:
        real.cancel_all()
        shim.cancel_all()
