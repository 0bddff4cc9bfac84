"""What a running sandbox offers to tests and to people: paths, names, and three ways in.

``ssh_argv`` and ``run_as_user`` go the way hoplab itself goes (OpenSSH with the generated
config, through login01 for the nodes), as the test user; ``run_in_namespace`` is the root-side
back door for checks that a user could not make.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hoplab import process
from hoplab.testing import gridengine, netns

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


@dataclass(frozen=True)
class SandboxInfo:
    """A running sandbox.

    ``addresses`` maps every host to its address on the cluster network (10.201.2.0/24);
    ``login_address`` is login01's address as the laptop sees it. ``pids`` maps each daemon
    (``sshd@login01``, ``munged``, ``slurmctld``, ``slurmd@node001``, ``sge_qmaster``,
    ``sge_execd@node001``...) to its PID. ``reused`` tells whether ``up()`` found it already
    running rather than starting it.
    """

    root_dir: Path
    ssh_config: Path  # the laptop's: what hoplab is given (knows login01's host key only)
    harness_ssh_config: Path  # the harness's own way in (knows every host's key)
    other_ssh_config: Path  # the harness's way in as the other user
    known_hosts: Path  # the laptop's
    user: str
    other_user: str
    home: Path
    other_home: Path
    jupyter_venv: Path
    slurm_conf: Path
    sge_root: Path
    path_dirs: Mapping[str, Path]  # first on each host's ssh PATH, for test wrappers
    login_host: str
    login_alias: str  # every login node behind one name: a connection lands on either
    logins: tuple[str, ...]
    login_address: str
    nodes: tuple[str, ...]
    addresses: Mapping[str, str]
    pids: dict[str, int]
    started_at: float
    reused: bool

    def host_path(self, host: str, path: str | Path) -> Path:
        """Where the laptop finds ``path`` of ``host``: each host's /tmp is its own."""
        text = str(path)
        if text == "/tmp" or text.startswith("/tmp/"):
            return self.root_dir / "tmp" / host / text[len("/tmp/") :]
        return Path(text)

    @property
    def hosts(self) -> tuple[str, ...]:
        """Every ssh host of the sandbox: the login node first, then the compute nodes."""
        return (self.login_host, *self.nodes)

    def ssh_config_for(self, user: str | None = None) -> Path:
        """The client config that logs in as ``user`` (the test user by default)."""
        if user in (None, self.user):
            return self.harness_ssh_config
        if user == self.other_user:
            return self.other_ssh_config
        raise ValueError(f"the sandbox has no ssh access for user {user!r}")

    def ssh_argv(
        self,
        host: str,
        *remote_argv: str,
        user: str | None = None,
        options: Sequence[str] = (),
    ) -> list[str]:
        """``ssh -F CONFIG [options] host -- ...`` as the test user (or ``user``).

        ``remote_argv`` is an argv: it is quoted for the remote shell, so each element arrives
        as one argument. ``options`` go before the host (for example ``-N -L ...``).
        """
        argv = ["ssh", "-F", str(self.ssh_config_for(user)), *options, host]
        if remote_argv:
            argv += ["--", shlex.join(remote_argv)]
        return argv

    def run_as_user(
        self,
        host: str,
        script: str,
        *,
        user: str | None = None,
        check: bool = True,
        timeout: float = 60.0,
    ) -> process.Completed:
        """Run a POSIX sh ``script`` on ``host`` as the test user (``sh -s``, script on stdin).

        The script travels over stdin, so secrets in it never show up in any argv.
        """
        return process.run(
            self.ssh_argv(host, "sh", "-s", user=user), input=script, check=check, timeout=timeout
        )

    def run_in_namespace(
        self,
        name: str,
        argv: Sequence[str],
        *,
        input: str | None = None,  # noqa: A002  (mirrors process.run)
        env: Mapping[str, str] | None = None,
        check: bool = True,
        timeout: float = 60.0,
    ) -> process.Completed:
        """Run ``argv`` as root inside the network namespace ``name`` (for root-side checks)."""
        return process.run(
            netns.in_namespace(name, argv), input=input, env=env, check=check, timeout=timeout
        )

    def slurm_env(self) -> dict[str, str]:
        """Environment that points SLURM's client commands at the sandbox's cluster."""
        return {"SLURM_CONF": str(self.slurm_conf)}

    def gridengine_env(self) -> dict[str, str]:
        """Environment that points Grid Engine's client commands at the sandbox's cell.

        ssh sessions on the sandbox's hosts have it already (sshd sets it); submit as the
        test user, never as root (Grid Engine refuses uid 0).
        """
        return gridengine.client_env(self.sge_root)
