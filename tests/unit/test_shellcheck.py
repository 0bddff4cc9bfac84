"""Every remote script, as hoplab assembles and sends it, passes ``shellcheck -s sh``.

Deliberate exceptions carry a comment and a ``# shellcheck disable=`` line in the script.
shellcheck comes from Debian (scripts/install.sh); a missing one fails, it is never skipped.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from hoplab.launcher import render
from hoplab.launcher.frame import framed
from hoplab.launcher.render import Environment, LaunchSpec
from hoplab.protocol import Detail, Listen, SchedulerName, Where
from hoplab.remote import frames, jobs
from hoplab.remote.jobs import probe_script
from hoplab.schedulers import backend, batch_backend, batch_classes
from hoplab.schedulers.base import JobSpec, Resources
from hoplab.scripts import reconnect
from hoplab.sessions import sync

ENV = Environment(
    modules=("m",),
    conda="c",
    venv="~/v",
    setup=("echo hi",),
    workdir="~/w",
    fallbacks=(("venv", "/home/a/v"), ("workdir", "/home/a/w")),
)


def _assembled() -> dict[str, str]:
    scripts: dict[str, str] = {}
    for name in [SchedulerName.NONE.value, *batch_classes()]:
        scheduler = backend(name)
        queue = None if name == SchedulerName.HTCONDOR else "q"  # HTCondor has no queue
        job = JobSpec("hoplab-id1", "jupyter.log", Resources(queue=queue, time=600, cpus=2))
        spec = LaunchSpec(
            "id1",
            environment=ENV,
            listen=Listen.TRY_SOCKET,
            batch=scheduler.batch,
            lease_seconds=60,
        )
        submit, header = scheduler.submit_line(job), scheduler.header(job)
        scripts[f"prepare ({name})"] = render.prepare(spec, "t", submit=submit, header=header).text
        scripts[f"launch.sh ({name})"] = render.launcher(spec, header)
    rows = [("id1", 12, "/tmp/x.sock", Where.HOST), ("id2", None, None, Where.LOGIN)]
    scripts.update(
        wait=render.wait("id1", 3, local=False, ask=True).text,
        check=render.check(rows).text,
        stop=render.stop(rows).text,
        down=render.stop(rows, by="alice@laptop", at=1_700_000_000).text,
        ended=render.ended(["id1", "id2"]).text,
        scan=render.scan(["a", "b"]).text,
        adopt=render.scan([], ["id1"], Detail.TOKEN).text,
        log=render.log("id1", lines=5, follow=True).text,
        reach=render.reach("id1", Listen.TCP, "10.0.0.1").text,
        lease=render.renew_lease("id1").text,
        detect=framed(probe_script()).text,
        command=frames.commands_script([("query", "squeue --me")]).text,
        hostkeys=render.host_keys(["node001", "10.201.2.11"], 22).text,
        view=render.view("id1", 5).text,
        trial_view=render.view("t1", 5, trial=True).text,
        doctor=render.doctor(ENV, "lab").text,
        doctor_bare=render.doctor(Environment(), "notebook").text,
        trial_wait=render.trial_wait("t1", 5).text,
        trial_end=render.trial_end("t1", remove=True).text,
        purge=render.purge(["id1", "id2"]).text,
        sync_check=sync.check_script([sync.RemotePath("a", fallback="/home/me/it's a b")]).text,
    )
    # Not sent to a host: the portable reconnect script the user runs (attach --script).
    scripts["reconnect (attach --script)"] = reconnect.render(
        reconnect.ReconnectSpec(
            "id1",
            (
                reconnect.Hop("gateway", "gw.example.org", "", 2222),
                reconnect.Hop("login", "login01", "alice", 22),
                reconnect.Hop("node001", "node001", "alice", 22, ("node001 ssh-ed25519 AAAA",)),
            ),
            home=2,
            remote="/tmp/hoplab-1000/id1.sock",
        )
    )
    for name in batch_classes():
        scheduler = batch_backend(name)
        queue = None if name == SchedulerName.HTCONDOR else "q"
        job = JobSpec("hoplab-doctor-t1", "job.out", Resources(queue=queue, time=120))
        header = scheduler.header(job)
        trial = render.trial_job("t1", header, 300)
        scripts[f"trial job ({name})"] = trial
        scripts[f"trial submit ({name})"] = render.trial_submit(
            "t1", trial, scheduler.submit_line(job), jobs.environment(scheduler)
        ).text
    return scripts


SCRIPTS = _assembled()


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_remote_script_is_shellcheck_clean(name: str) -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: run scripts/install.sh (Debian package shellcheck)"
    done = subprocess.run(
        [shellcheck, "-s", "sh", "-f", "gcc", "-"],
        input=SCRIPTS[name],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"{name}:\n{done.stdout}{done.stderr}"
