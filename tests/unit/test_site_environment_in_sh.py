"""Scheduler commands that only the user's login shell knows (siteenv.sh), run in a real sh.

A fake login shell stands in for the site's: it prints a banner, puts the scheduler's
directory on the PATH only when started with ``-l`` (as /etc/profile.d does), and defines
``module`` as a shell function (as Lmod's startup does). The sh that runs hoplab's script
has neither.
"""

from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING

import pytest

from hoplab.errors import SchedulerError
from hoplab.launcher.frame import framed
from hoplab.protocol import SchedulerPath
from hoplab.remote import frames, jobs
from hoplab.schedulers.slurm import Slurm

if TYPE_CHECKING:
    from pathlib import Path

SBATCH = "#!/bin/sh\n[ \"$1\" = --version ] && echo 'slurm 23.11.4'\n"
LOGIN_SHELL = """#!/bin/sh
echo 'Welcome to the cluster: quota 91% used'
if [ "$1" != -l ]; then echo 'not a login shell' >&2; exit 9; fi
PATH={site}/profile:$PATH; export PATH
module() {{
    if [ "$1 $2" = "load slurm" ]; then PATH={site}/module:$PATH; export PATH; return 0; fi
    echo "Lmod has detected the following error: The following module(s) are unknown: $2" >&2
    return 1
}}
eval "$(cat)"
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    # this machine's own /usr/bin, without any scheduler's commands (it may have some)
    hidden = {"sbatch", "squeue", *jobs.submit_commands().split()}
    (tmp_path / "bin").mkdir()
    for entry in os.scandir("/usr/bin"):
        if entry.name not in hidden:
            (tmp_path / "bin" / entry.name).symlink_to(entry.path)
    for where in ("profile", "module"):
        (tmp_path / where).mkdir()
        for name in ("sbatch", "squeue"):
            tool = tmp_path / where / name
            tool.write_text(SBATCH if name == "sbatch" else f"#!/bin/sh\necho {where}\n")
            tool.chmod(0o755)
    shell = tmp_path / "loginsh"
    shell.write_text(LOGIN_SHELL.format(site=tmp_path))
    plain = tmp_path / "plainsh"  # a login shell whose profile adds nothing
    plain.write_text('#!/bin/sh\neval "$(cat)"\n')
    for path in (shell, plain):
        path.chmod(0o755)
    return tmp_path


def remote_sh(site: Path, script: str, *, login: bool = True) -> str:
    """``script`` in a plain sh whose PATH has no scheduler, as sshd starts it."""
    env = {"PATH": str(site / "bin"), "HOME": str(site), "TMPDIR": str(site)}
    env["SHELL"] = str(site / ("loginsh" if login else "plainsh"))
    done = subprocess.run(
        ["/bin/sh", "-s"], input=script, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def detect(site: Path, module: str | None = None, *, login: bool = True) -> object:
    script = framed(jobs.probe_script(module))
    found = frames.read(remote_sh(site, script.text, login=login), script.nonce).text
    return jobs.choose(jobs.read_probe(found), "auto", "cluster", module)


def test_found_on_the_login_shells_path_only(site: Path) -> None:
    scheduler = detect(site)
    assert isinstance(scheduler, Slurm)
    assert scheduler.version == (23, 11)
    assert scheduler.found is SchedulerPath.LOGIN_SHELL


def test_without_a_login_shell_that_has_it_there_is_no_scheduler(site: Path) -> None:
    assert not getattr(detect(site, login=False), "batch", True)


def test_found_after_the_site_module(site: Path) -> None:
    scheduler = detect(site, "slurm")
    assert isinstance(scheduler, Slurm)
    assert scheduler.found is SchedulerPath.MODULE
    assert scheduler.module == "slurm"


def test_a_module_that_does_not_exist_says_what_the_site_said(site: Path) -> None:
    (site / "profile" / "sbatch").unlink()
    with pytest.raises(SchedulerError) as caught:
        detect(site, "slurmx")
    assert "module load slurmx" in caught.value.message
    assert "unknown: slurmx" in caught.value.message


def test_every_later_call_finds_the_commands_the_same_way(site: Path) -> None:
    """A query runs where detection found the scheduler: the module's squeue, not the
    profile's, and none at all in a sh that was never told."""
    for module, expected in ((None, "profile"), ("slurm", "module")):
        scheduler = Slurm((23, 11), module)
        script = frames.commands_script([("q", "squeue")], jobs.environment(scheduler))
        done = frames.read(remote_sh(site, script.text), script.nonce).command("q")
        assert (done.returncode, done.stdout.strip()) == (0, expected)
    bare = frames.commands_script([("q", "squeue")])
    assert frames.read(remote_sh(site, bare.text), bare.nonce).command("q").returncode == 127


def test_a_module_name_is_never_written_into_the_login_shell_unchecked(site: Path) -> None:
    marker = site / "ran"
    scheduler = Slurm((23, 11), f"slurm; touch {marker}")
    script = frames.commands_script([("q", "squeue")], jobs.environment(scheduler))
    remote_sh(site, script.text)
    assert not marker.exists()


def test_another_schedulers_command_on_the_path_does_not_hide_the_wanted_one(
    site: Path,
) -> None:
    """A stray ``qsub`` in this shell's PATH: ``--scheduler slurm`` still asks the login shell
    (auto would have stopped at the ``qsub`` it found)."""
    stray = site / "bin" / "qsub"
    stray.write_text("#!/bin/sh\necho 'qsub: a wrapper of another cluster' >&2\nexit 2\n")
    stray.chmod(0o755)
    script = framed(jobs.probe_script(None, "slurm"))
    found = frames.read(remote_sh(site, script.text), script.nonce).text
    scheduler = jobs.choose(jobs.read_probe(found), "slurm", "cluster")
    assert isinstance(scheduler, Slurm)
    assert scheduler.found is SchedulerPath.LOGIN_SHELL


def test_a_login_shell_that_hangs_counts_as_finding_nothing(site: Path) -> None:
    """A profile that waits for a terminal: bounded (20 s), then no scheduler, no hang."""
    hanging = site / "hangsh"
    hanging.write_text("#!/bin/sh\nexec sleep 60\n")
    hanging.chmod(0o755)
    script = framed(jobs.probe_script())
    env = {"PATH": str(site / "bin"), "HOME": str(site), "TMPDIR": str(site)}
    env["SHELL"] = str(hanging)
    done = subprocess.run(
        ["/bin/sh", "-s"],
        input=script.text,
        env=env,
        capture_output=True,
        text=True,
        timeout=45,
        check=True,
    )
    found = frames.read(done.stdout, script.nonce).text
    assert not getattr(jobs.choose(jobs.read_probe(found), "auto", "cluster"), "batch", True)
