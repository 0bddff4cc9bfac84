"""The remote scripts: quoting, secrets, and that hostile values stay data."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import pytest

from hoplab.launcher import handshake, render
from hoplab.launcher.render import Environment, LaunchSpec
from hoplab.protocol import Listen, Where
from hoplab.schedulers.base import JobSpec, Resources
from hoplab.schedulers.none import NoScheduler
from hoplab.schedulers.slurm import Slurm

if TYPE_CHECKING:
    from pathlib import Path

HOSTILE = [
    "a b",
    "it's",
    'say "hi"',
    "x; touch /tmp/pwned-hoplab",
    "$(touch /tmp/pwned-hoplab)",
    "`touch /tmp/pwned-hoplab`",
    "line\nsecond",
]


def test_token_only_in_heredoc() -> None:
    token = "f" * 48
    job = JobSpec("hoplab-abc123", "jupyter.log", Resources(queue="debug", time=600))
    slurm = Slurm()
    spec = LaunchSpec("abc123", listen=Listen.ASK, batch=True)
    script = render.prepare(
        spec, token, submit=slurm.submit_line(job), header=slurm.header(job)
    ).text
    assert script.count(token) == 1
    submit = "sbatch --parsable --no-requeue --job-name=hoplab-abc123 --output=jupyter.log"
    assert f"{submit} < launch.sh" in script
    launcher = render.launcher(spec, slurm.header(job))
    assert token not in launcher
    assert launcher.startswith("#!/bin/sh\n#SBATCH --nodes=1\n")
    assert "#SBATCH --partition=debug\n#SBATCH --time=00:10:00" in launcher
    assert "JUPYTER_TOKEN_FILE" in launcher


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_stay_data(value: str, tmp_path: Path) -> None:
    """Run the settings block in a real sh: every value comes back exactly, nothing runs."""
    marker = tmp_path / "ran"
    spec = LaunchSpec(
        "abc123", environment=Environment(workdir=value.replace("/tmp/pwned-hoplab", str(marker)))
    )
    text = render.launcher(spec)
    settings = text.split("# Shared by every remote script")[0]
    probe = settings + '\nprintf "%s" "$HOPLAB_WORKDIR"\n'
    done = subprocess.run(["sh", "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout == value.replace("/tmp/pwned-hoplab", str(marker))
    assert not marker.exists()


def test_home_relative_paths() -> None:
    assert render.remote_path("~/data dir") == "\"$HOME\"/'data dir'"
    assert render.remote_path("~") == '"$HOME"'
    assert render.remote_path("/abs") == "/abs"


def test_activation_quotes_names() -> None:
    env = Environment(modules=("py; rm -rf ~",), conda="my env", venv="~/v")
    lines = env.activation()
    assert "module load 'py; rm -rf ~'" in lines
    assert 'conda activate "$HOPLAB_CONDA"' in lines
    assert 'command . "$HOPLAB_VENV/bin/activate"' in lines
    assert "HOPLAB_CONDA='my env'" in env.settings()
    assert 'HOPLAB_VENV="$HOME"/v' in env.settings()
    assert 'HOPLAB_CONDA="$HOME"/envs/x' in Environment(conda="~/envs/x").settings()


@pytest.mark.parametrize(
    ("exists", "expected"), [("home", "home"), ("given", "given"), ("", "home")]
)
def test_a_path_from_the_laptop_home_falls_back_to_itself(
    tmp_path: Path, exists: str, expected: str
) -> None:
    """``~/v`` in the remote home, unless only the path as the laptop's shell gave it exists."""
    home, given = tmp_path / "home", tmp_path / "laptop-home"
    if exists:
        (tmp_path / {"home": "home", "given": "laptop-home"}[exists] / "v").mkdir(parents=True)
    env = Environment(venv="~/v", fallbacks=(("venv", f"{given}/v"),))
    done = subprocess.run(
        ["sh", "-c", env.settings() + '\nprintf %s "$HOPLAB_VENV"'],
        capture_output=True,
        text=True,
        check=True,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
    )
    assert done.stdout == str({"home": home, "given": given}[expected] / "v")


def test_scripts_parse_in_sh() -> None:
    for script in (
        render.prepare(
            LaunchSpec("id1", environment=Environment(modules=("m",))),
            "t",
            submit=NoScheduler().submit_line(JobSpec("hoplab-id1", "jupyter.log", Resources())),
        ),
        render.launcher(LaunchSpec("id1", listen=Listen.ASK, batch=True)),
        render.wait("id1", 3, local=False, ask=True),
        render.check([("id1", 12, "/tmp/x.sock", Where.HOST), ("id2", None, None, Where.LOGIN)]),
        render.stop([("id1", 12, "/tmp/x.sock", Where.HOST), ("id2", 13, "/tmp/y", Where.NODE)]),
        render.log("id1", lines=5, follow=False),
        render.reach("id1", Listen.TCP, "10.0.0.1"),
    ):
        subprocess.run(["sh", "-n"], input=str(script), text=True, check=True)


def test_handshake_parsing() -> None:
    info = handshake.server_info('{"pid": 42, "sock": "/tmp/s"}')
    assert info is not None
    assert (info.pid, info.socket, info.remote) == (42, "/tmp/s", "/tmp/s")
    tcp = handshake.server_info('{"pid": 7, "sock": "", "hostname": "10.0.0.5", "port": 4321}')
    assert tcp is not None
    assert tcp.remote == "10.0.0.5:4321"
    assert handshake.server_info('{"pid": 7, "so') is None


@pytest.mark.parametrize(
    ("installed", "app", "expected"),
    [
        ({"jupyter_server": "2.21.1"}, "lab", "yes ServerApp yes"),
        ({"jupyter_server": "1.24.0"}, "lab", "yes ServerApp no"),
        ({"jupyter_server": "1.9.0"}, "lab", "yes ServerApp no"),
        ({"jupyter_server": "1.8.2"}, "lab", "no ServerApp no"),
        ({"jupyter_server": "2.21.1", "notebook": "7.4.0"}, "notebook", "yes ServerApp yes"),
        ({"jupyter_server": "2.21.1", "notebook": "6.5.7"}, "notebook", "no NotebookApp no"),
        ({"notebook": "6.5.7"}, "notebook", "no NotebookApp no"),
    ],
)
def test_socket_support_follows_installed_versions(
    tmp_path: Path, installed: dict[str, str], app: str, expected: str
) -> None:
    """A venv-shaped prefix whose dist-info names say which versions are installed."""
    prefix = tmp_path / "env"
    (prefix / "bin").mkdir(parents=True)
    python = prefix / "bin" / "python"
    python.write_text("#!/bin/sh\nexit 1\n")  # the check must not need to run Python here
    python.chmod(0o755)
    jupyter = prefix / "bin" / f"jupyter-{app}"
    jupyter.write_text(f"#!{python}\n")
    site = prefix / "lib" / "python3.11" / "site-packages"
    for name, version in installed.items():
        (site / f"{name}-{version}.dist-info").mkdir(parents=True)
    done = subprocess.run(
        ["sh", "-c", render.socket_check(str(jupyter), app)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == expected
