"""No scheduler: the launcher runs detached on the host itself (setsid, nohup).

The "job" is the launcher process and its id is the PID, which becomes Jupyter's own PID
when the launcher execs it. There is no queue: ``hoplab ls`` and ``down`` watch and stop that
process with the check and stop scripts, which verify its command line before they signal.
"""

from __future__ import annotations

from hoplab.protocol import SchedulerName
from hoplab.schedulers.base import JobSpec, Scheduler


class NoScheduler(Scheduler):
    name = SchedulerName.NONE.value
    submit_command = "sh"

    def header(self, job: JobSpec) -> str:
        return ""

    def submit_argv(self, job: JobSpec) -> list[str]:
        return ["nohup", "sh", "launch.sh"]

    def submit_line(self, job: JobSpec) -> str:
        # setsid where the host has it, so the launcher leaves ssh's session and process group:
        # with no controlling terminal, no hangup reaches it (nohup only where there is no
        # setsid: one process fewer before Jupyter starts). The absolute path names the session
        # in ps, so a stop before Jupyter's exec finds it.
        run = f'sh "$PWD/launch.sh" > {job.output} 2>&1 < /dev/null &'
        return (
            f"if command -v setsid >/dev/null 2>&1; then setsid {run} else nohup {run} fi\n"
            'echo "$!"'
        )

    def parse_job_id(self, stdout: str) -> str:
        lines = stdout.strip().splitlines()
        pid = lines[-1].strip() if lines else ""
        if not pid.isdigit():
            raise ValueError(f"the launcher was not started: {stdout.strip()!r}")
        return pid
