"""Every scheduler runs the job script under /bin/sh, whatever the user's login shell is.

SLURM, LSF, OAR and HTCondor run the script by its ``#!`` line; PBS Pro, Torque and Grid
Engine use the login shell (tcsh, fish...) unless ``qsub -S /bin/sh`` says otherwise.
"""

from __future__ import annotations

import pytest

from hoplab.launcher.render import LaunchSpec, launcher
from hoplab.schedulers import NAMES, batch_backend
from hoplab.schedulers.base import JobSpec, Resources

JOB = JobSpec("hoplab-abc", "job.out", Resources())
BY_SHEBANG = {"slurm", "lsf", "oar", "htcondor"}
BY_OPTION = {"pbs", "torque", "sge"}


def test_every_scheduler_is_covered() -> None:
    assert set(NAMES) == BY_SHEBANG | BY_OPTION


@pytest.mark.parametrize("name", sorted(BY_OPTION))
def test_qsub_names_the_shell(name: str) -> None:
    argv = batch_backend(name).submit_argv(JOB)
    assert argv[argv.index("-S") + 1] == "/bin/sh"
    assert batch_backend(name).submit_line(JOB).endswith("< launch.sh")


@pytest.mark.parametrize("name", sorted(NAMES))
def test_the_job_script_starts_with_sh(name: str) -> None:
    scheduler = batch_backend(name)
    script = launcher(LaunchSpec("abc", batch=True), scheduler.header(JOB))
    assert script.startswith("#!/bin/sh\n")
    if name in BY_SHEBANG - {"htcondor"}:  # directives come after the #! line, never before
        assert scheduler.header(JOB).splitlines()[0] in script.splitlines()[1:]
