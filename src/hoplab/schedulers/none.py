"""No scheduler: the launcher runs detached on the host itself (setsid, nohup).

The "job" is the launcher process and its id is the PID, which becomes Jupyter's own PID
when the launcher execs it. ``ps`` is the queue and ``kill`` the cancel; ``hoplab down``
still goes through the stop script, which checks the command line before it signals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hoplab.schedulers.base import JobSpec, JobState, JobStatus, Scheduler, unknown

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hoplab.process import Completed


class NoScheduler(Scheduler):
    name = "none"
    submit_command = "sh"
    batch = False

    def header(self, job: JobSpec) -> str:
        return ""

    def submit_argv(self, job: JobSpec) -> list[str]:
        return ["nohup", "sh", "launch.sh"]

    def submit_line(self, job: JobSpec) -> str:
        # setsid where the host has it, so the launcher leaves ssh's session and process group
        # the absolute path names the session in ps, so a stop before Jupyter's exec finds it
        run = f'nohup sh "$PWD/launch.sh" > {job.output} 2>&1 < /dev/null &'
        return f'if command -v setsid >/dev/null 2>&1; then setsid {run} else {run} fi\necho "$!"'

    def parse_job_id(self, stdout: str) -> str:
        lines = stdout.strip().splitlines()
        pid = lines[-1].strip() if lines else ""
        if not pid.isdigit():
            raise ValueError(f"the launcher was not started: {stdout.strip()!r}")
        return pid

    def query_argv(self, job_ids: Sequence[str]) -> list[str]:
        return ["ps", "-o", "pid=,stat=", "-p", ",".join(job_ids)]

    def parse_query(self, done: Completed, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        if done.returncode not in (0, 1) or (done.returncode == 1 and done.stderr.strip()):
            return unknown(job_ids, done.stderr.strip() or f"ps exited {done.returncode}")
        running = set()
        for line in done.stdout.splitlines():
            words = line.split()
            if len(words) == 2 and not words[1].startswith("Z"):
                running.add(words[0])
        return {
            job: JobStatus(job, JobState.RUNNING if job in running else JobState.GONE)
            for job in job_ids
        }

    def cancel_argv(self, job_ids: Sequence[str]) -> list[str]:
        return ["kill", "-TERM", *job_ids]
