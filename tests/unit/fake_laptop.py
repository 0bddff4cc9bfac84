"""Run the real ``hoplab`` CLI in a private environment whose ``ssh`` only records its calls.

Nothing here reaches a network: the ``ssh`` first on PATH writes its argv to a file and fails
as an unreachable host would, so a test can prove how many ssh calls a command made.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hoplab.records.model import Session, SessionState
from hoplab.records.store import SessionStore


def environment(tmp_path: Path) -> dict[str, str]:
    """A laptop: its own config, state and runtime directories, and the recording ssh."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    wrapper = bin_dir / "ssh"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {tmp_path / "ssh-calls"}\n'
        'echo "ssh: connect to host nowhere port 22: Connection refused" >&2\n'
        "exit 255\n"
    )
    wrapper.chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOPLAB_CONFIG": str(tmp_path / "config.toml"),
        "HOPLAB_STATE_DIR": str(tmp_path / "state"),
        "HOPLAB_RUNTIME_DIR": str(tmp_path / "run"),
        "CALLS": str(tmp_path / "ssh-calls"),
    }


def hoplab(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``hoplab ARGS`` as a user runs it, stdout and stderr captured (so not a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "hoplab", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def ssh_calls(env: dict[str, str]) -> list[str]:
    calls = Path(env["CALLS"])
    return calls.read_text(encoding="utf-8").splitlines() if calls.exists() else []


def record(
    env: dict[str, str],
    sid: str,
    *,
    target: str = "t",
    state: SessionState = SessionState.DETACHED,
    error: str | None = None,
    port: int | None = None,
    base_url: str = "/",
) -> Session:
    """Put a session record into the laptop's state directory."""
    session = Session(
        sid,
        target,
        target,
        (),
        None,
        True,
        "lab",
        token="secret",
        state=state,
        error=error,
        local_port=port,
        base_url=base_url,
    )
    store = SessionStore(Path(env["HOPLAB_STATE_DIR"]) / "sessions.db")
    store.save(session)
    store.close()
    return session
