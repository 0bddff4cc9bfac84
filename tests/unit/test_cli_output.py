"""What the CLI prints: user and remote text literally, full values for pipes (issue 16)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from fake_laptop import environment, hoplab, record, ssh_calls
from rich.console import Console

from hoplab.cli import cli
from hoplab.records.model import SessionState

HOSTILE_PROFILE = """\
[defaults]
app = "lab"

[profiles.gpu]
host = "login.hpc"
workdir = "/data/[/x]"
directive = ["--constraint=[a100|h100]"]
setup = ["echo [bold]loud[/bold]"]
"""


@pytest.fixture
def laptop(tmp_path: Path) -> dict[str, str]:
    return environment(tmp_path)


def test_config_show_prints_hostile_values_literally(laptop: dict[str, str]) -> None:
    Path(laptop["HOPLAB_CONFIG"]).write_text(HOSTILE_PROFILE)
    done = hoplab(laptop, "config", "show", "gpu")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "workdir = '/data/[/x]'" in done.stdout
    assert "directive = ('--constraint=[a100|h100]',)" in done.stdout
    assert "setup = ('echo [bold]loud[/bold]',)" in done.stdout
    assert f"app = 'lab'  ([defaults] ({laptop['HOPLAB_CONFIG']}:2))" in done.stdout
    listing = hoplab(laptop, "config", "show")
    assert "gpu  → login.hpc" in listing.stdout


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """``ls`` as on a wide terminal, without colours, captured."""
    import hoplab.cli.ls

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, color_system=None, width=250)
    monkeypatch.setattr(hoplab.cli.ls, "out", console)
    return buffer


def test_ls_table_shows_a_hostile_error_literally(
    laptop: dict[str, str], terminal: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HOPLAB_STATE_DIR", "HOPLAB_RUNTIME_DIR", "HOPLAB_CONFIG", "PATH"):
        monkeypatch.setenv(name, laptop[name])
    record(laptop, "f00d0001", state=SessionState.FAILED, error="it said [bold]no[/bold] [/x]")
    record(laptop, "f00d0002", target="[red]host[/red]", state=SessionState.STOPPED)
    done = CliRunner().invoke(cli, ["ls", "--all"])
    assert done.exception is None, done.output
    shown = terminal.getvalue()
    assert "it said [bold]no[/bold] [/x]" in shown
    assert "[red]host[/red]" in shown
    assert "\x1b[1m" not in shown
    assert ssh_calls(laptop) == []


def test_ls_through_a_pipe_prints_every_value_in_full(laptop: dict[str, str]) -> None:
    long_targets = [
        f"user{n}@{'very-long-login-node-name-' * 3}{n}.cluster.example" for n in range(3)
    ]
    base = "/user/" + "x" * 60 + "/[proxy]/"
    for n, target in enumerate(long_targets):
        record(laptop, f"cafe000{n}", target=target, port=40000 + n, base_url=base)
    for args in (("ls",), ("ls", "--wide")):
        done = hoplab(laptop, *args)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert len(lines) == 4, done.stdout  # a header and one line per session
        assert lines[0].split()[:3] == ["ID", "TARGET", "STATE"]
        for n, target in enumerate(long_targets):
            [line] = [line for line in lines if line.startswith(f"cafe000{n}")]
            assert f" {target} " in line
            assert f"http://127.0.0.1:{40000 + n}{base}lab" in line
            assert "…" not in line
            assert "not checked" in line  # the host could not be reached: said, not dropped


def test_config_path_is_one_line_however_long(laptop: dict[str, str], tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "config.toml"
    laptop["HOPLAB_CONFIG"] = str(deep)
    assert len(str(deep)) >= 150
    done = hoplab(laptop, "config", "path")
    assert done.stdout == f"{deep}\n"


def test_every_exit_freezes_what_is_left_and_still_runs_exit_handlers(tmp_path: Path) -> None:
    """run_cli ends with gc.freeze(), so the interpreter's last collection walks nothing (see
    render._exit); exit handlers and threads that are not daemons are still run and awaited,
    and the exit code is the command's."""
    import subprocess
    import sys

    program = """
import atexit, gc, sys, threading
import click
from hoplab.cli.render import run_cli
frozen = []
real_freeze = gc.freeze
gc.freeze = lambda: (frozen.append(1), real_freeze())
atexit.register(lambda: print("handler ran, frozen", len(frozen), flush=True))
@click.group()
def cli():
    pass
@cli.command()
@click.argument("code", type=int)
def finish(code):
    main = threading.main_thread()  # it ends once the command has returned
    threading.Thread(target=lambda: (main.join(), print("thread ended", flush=True))).start()
    return code
run_cli(cli)
"""
    for code in (0, 3):
        done = subprocess.run(
            [sys.executable, "-c", program, "finish", str(code)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert done.returncode == code, done.stderr
        assert done.stdout.splitlines() == ["thread ended", "handler ran, frozen 1"]
