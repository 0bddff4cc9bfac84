"""The launcher with Notebook 6.5, JupyterLab 3.6 (jupyter_server 1.24) and current Jupyter.

Each run starts the real launcher on this machine (a plain host), with a login environment
that exports ``JUPYTER_TOKEN`` and a user config that empties the token, and checks that
Jupyter listens where the handshake says, refuses a request without hoplab's token, accepts
one with it, and is gone, socket and directory included, after the stop script.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import pytest
from runner import TOKEN, Host, status

from hoplab.launcher import handshake, render
from hoplab.launcher.render import Environment, LaunchSpec
from hoplab.protocol import FailKind, Listen, Reply
from hoplab.testing.jupyter_env import ensure_jupyter_venv, ensure_version_venv
from hoplab.testing.layout import DEFAULT_JUPYTER_VENV

VERSIONS = {"nb6": "notebook6", "lab3": "lab3"}  # lab4: the main venv (jupyterlab, notebook 7)
ROOT_ARGS = ("--allow-root",) if os.geteuid() == 0 else ()  # Jupyter refuses root otherwise
HOSTILE = {  # a user config that turns authentication off and opens every interface
    "jupyter_server_config.py": (
        "c.ServerApp.token = ''\nc.IdentityProvider.token = ''\n"
        "c.PasswordIdentityProvider.token = ''\nc.ServerApp.ip = '0.0.0.0'\n"
    ),
    "jupyter_notebook_config.py": "c.NotebookApp.token = ''\nc.NotebookApp.ip = '0.0.0.0'\n",
}


def venv(name: str) -> Path:
    """The Jupyter venv ``name``: the sandbox's own, made here on first use (never skipped)."""
    main = ensure_jupyter_venv(DEFAULT_JUPYTER_VENV)
    return main if name == "lab4" else ensure_version_venv(main, VERSIONS[name])


def host(tmp_path: Path, *, hostile: bool = True) -> Host:
    home = tmp_path / "home"
    (home / ".jupyter").mkdir(parents=True)
    if hostile:
        for name, text in HOSTILE.items():
            (home / ".jupyter" / name).write_text(text)
    env = {"JUPYTER_TOKEN": "from-bashrc"} if hostile else {}
    return Host(home, "/usr/local/bin:/usr/bin:/bin", env)


@pytest.mark.parametrize(
    ("name", "app", "listen", "expected"),
    [
        ("nb6", "notebook", Listen.SOCKET, Listen.TCP),  # notebook < 7: no Unix socket
        ("lab3", "lab", Listen.SOCKET, Listen.SOCKET),
        ("lab3", "lab", Listen.TCP, Listen.TCP),  # jupyter_server 1.x: the launcher's port
        ("lab4", "lab", Listen.SOCKET, Listen.SOCKET),
        ("lab4", "notebook", Listen.TCP, Listen.TCP),
    ],
)
def test_up_serves_with_the_session_token_only(
    tmp_path: Path, name: str, app: str, listen: Listen, expected: Listen
) -> None:
    remote = host(tmp_path)
    sid = secrets.token_hex(4)
    spec = LaunchSpec(
        sid,
        app,
        Environment(venv=str(venv(name))),
        listen=listen,
        jupyter_args=ROOT_ARGS,
    )
    remote.env["HOPLAB_SOCKET_BASE"] = str(tmp_path)  # short, private, removed with tmp_path
    started = remote.up(spec)
    assert started.first(Reply.SUBMITTED) is not None, started.text
    reply = remote.wait(sid)
    assert reply.kind is Reply.READY, str(reply) + reply.payload
    info = handshake.server_info(reply.payload)
    assert info is not None
    try:
        assert info.listen is expected
        if info.listen is Listen.SOCKET:
            assert (info.socket or "").startswith(str(tmp_path))
        else:
            assert info.port
            # the user's ip = '0.0.0.0' loses to hoplab's: 127.0.0.1 only, never every interface
            bound = subprocess.run(
                ["ss", "-Hltn", f"sport = :{info.port}"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            assert [word for word in bound if word.endswith(f":{info.port}")] == [
                f"127.0.0.1:{info.port}"
            ]
        assert status(info, None) == 403
        assert status(info, "from-bashrc") == 403
        assert status(info, TOKEN) == 200
        log = remote.run(render.log(sid, lines=200, follow=False)).text
        assert "is running at" in log
        assert TOKEN not in log
    finally:
        findings = remote.stop(sid, info.pid, info.socket)
    assert findings == ["done"]
    assert not (remote.home / ".hoplab" / "sessions" / sid).exists()
    assert not info.socket or not Path(info.socket).exists()


def test_a_venv_without_jupyter_names_the_other_one_and_runs_nothing(tmp_path: Path) -> None:
    other = venv("lab4")
    empty = tmp_path / "home" / "envs" / "empty"
    remote = host(tmp_path, hostile=False)
    remote.path = f"{other / 'bin'}:{remote.path}"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(empty)], check=True)
    sid = secrets.token_hex(4)
    # a relative path means the remote home, not the session directory
    remote.up(LaunchSpec(sid, "lab", Environment(venv="envs/empty")))
    reply = remote.wait(sid)
    assert reply.kind is Reply.FAILED
    assert FailKind.parse(reply.arg(0)) is FailKind.OTHER_JUPYTER
    assert "venv envs/empty" in reply.payload
    assert str(other / "bin" / "jupyter-lab") in reply.payload
