"""A login node that asks for a key and a one-time code: one prompt per login node, in a real
terminal (tmux), whatever stdout and stderr are redirected to.

login01's second sshd (port 2222) asks for a TOTP code through Debian's
pam_google_authenticator; the codes come from oathtool. Each command's prompts are counted on
the terminal's screen.
"""

from __future__ import annotations

import pwd
import shlex
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from hoplab.testing import otp
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from conftest import Laptop
    from hoplab.testing.cluster import Sandbox
    from hoplab.testing.info import SandboxInfo

pytestmark = pytest.mark.sandbox

PROMPT = "Verification code:"


@pytest.fixture
def otp_secret(hoplab_sandbox_cluster: Sandbox, hoplab_sandbox: SandboxInfo) -> Iterator[str]:
    """The one-time-code sshd on login01, and the test user's TOTP secret; both gone after."""
    secret = otp.new_secret()
    path = otp.write_user_secret(pwd.getpwnam(hoplab_sandbox.user), secret)
    record = hoplab_sandbox_cluster.start_otp_login()
    try:
        yield secret
    finally:
        hoplab_sandbox_cluster.stop_otp_login(record)
        path.unlink(missing_ok=True)


@dataclass
class Terminal:
    """A tmux server of this test's own, one window, hoplab's environment."""

    env: dict[str, str]
    secret: str
    socket: str = field(default_factory=lambda: f"hoplab-test-{uuid.uuid4().hex[:8]}")

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout

    def start(self) -> None:
        settings = [f"-e{key}={value}" for key, value in self.env.items()]
        self.tmux("new-session", "-d", "-x", "220", "-y", "50", *settings, "bash --norc")

    def stop(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], check=False, timeout=30)

    def run(self, command: str, timeout: float = 240) -> int:
        """Type ``command``; answer each code prompt; the number of prompts it showed."""
        self.tmux("send-keys", "-t", "0", "clear", "Enter")
        mark = f"DONE-{uuid.uuid4().hex[:6]}"
        self.tmux("send-keys", "-t", "0", f"{command}; echo {mark}=$?", "Enter")
        seen = {"prompts": 0, "answered": ""}

        def finished() -> bool:
            screen = self.tmux("capture-pane", "-p", "-t", "0", "-S", "-200")
            after = screen.rsplit(f"echo {mark}=$?", 1)[-1]  # the line may show twice
            if f"{mark}=" in after:
                code = after.split(f"{mark}=", 1)[1].split()[0]
                assert code == "0", f"{command!r} exited {code}:\n{screen}"
                return True
            if screen.rstrip().endswith(PROMPT) and screen != seen["answered"]:
                seen["prompts"] = int(seen["prompts"]) + 1
                seen["answered"] = screen
                self.tmux("send-keys", "-t", "0", otp.code(self.secret), "Enter")
            return False

        wait_until(finished, timeout, what=f"{command!r} to finish", initial=0.1, cap=0.5)
        return int(seen["prompts"])


def test_one_prompt_per_login_node(
    otp_secret: str,
    cluster_laptop: Laptop,
    hoplab_sandbox_cluster: Sandbox,
    hoplab_sandbox: SandboxInfo,
    tmp_path: Path,
) -> None:
    laptop = cluster_laptop
    config = laptop.home / "ssh_config_otp"
    config.write_text(
        f"Include {hoplab_sandbox.ssh_config}\n" + otp.client_block(hoplab_sandbox_cluster.paths)
    )
    env = {**laptop.env, "HOPLAB_SSH_CONFIG": str(config), "TERM": "xterm"}
    hoplab = f"{shlex.quote(sys.executable)} -m hoplab"
    venv = shlex.quote(str(hoplab_sandbox.jupyter_venv))
    terminal = Terminal(env, otp_secret)
    terminal.start()
    try:
        # stdout and stderr redirected: ssh still asks on the terminal, once
        out, err = tmp_path / "up.json", tmp_path / "up.err"
        first = terminal.run(
            f"{hoplab} up {otp.OTP_ALIAS} --venv {venv} --time 10 --json >{out} 2>{err}"
        )
        assert first == 1, err.read_text()
        # a plain host behind the same login node rides its master: no new prompt
        plain = terminal.run(
            f"{hoplab} up node001-otp --scheduler none --venv {venv} --detach --no-browser"
        )
        assert plain == 0
        sessions = laptop.json("ls")["sessions"]
        assert len(sessions) == 2
        batch = next(s for s in sessions if s["scheduler"] == "slurm")
        for command in (
            f"{hoplab} ls",
            f"{hoplab} logs {batch['id']} -n 5",
            f"{hoplab} attach {batch['id']} --detach --no-browser",
            f"{hoplab} down --all",
        ):
            assert terminal.run(command) == 0, command
        assert laptop.json("ls")["sessions"] == []
    finally:
        terminal.stop()


def test_no_terminal_fails_at_once_with_a_clear_message(
    otp_secret: str,
    cluster_laptop: Laptop,
    hoplab_sandbox_cluster: Sandbox,
    hoplab_sandbox: SandboxInfo,
) -> None:
    """Without a terminal, a login that needs a code fails at once (ssh in batch mode)."""
    config = cluster_laptop.home / "ssh_config_otp"
    config.write_text(
        f"Include {hoplab_sandbox.ssh_config}\n" + otp.client_block(hoplab_sandbox_cluster.paths)
    )
    cluster_laptop.env["HOPLAB_SSH_CONFIG"] = str(config)
    begin = time.monotonic()
    failed = subprocess.run(
        [sys.executable, "-m", "hoplab", "up", otp.OTP_ALIAS, "--json"],
        env=cluster_laptop.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # no controlling terminal
    )
    assert failed.returncode != 0
    assert "Permission denied" in failed.stderr or "keyboard-interactive" in failed.stderr
    assert time.monotonic() - begin < 60
