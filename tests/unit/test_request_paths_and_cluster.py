"""From settings to the up request: remote paths, and cluster options without a scheduler."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fake_laptop import environment, hoplab, ssh_calls

from hoplab import config
from hoplab.errors import SchedulerError
from hoplab.sessions.request import cluster_options, remote_path, up_request
from hoplab.sessions.up import UpRequest, _without_scheduler
from hoplab.ssh.target import SshTarget

if TYPE_CHECKING:
    from hoplab.sessions.progress import Step


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/home/alice/envs/jupyter", "~/envs/jupyter"),
        ("/home/alice/envs/jupyter/", "~/envs/jupyter/"),
        ("~/envs/jupyter", "~/envs/jupyter"),  # quoted: already the remote home
        ("envs/jupyter", "envs/jupyter"),  # relative: the launcher reads it in the remote home
        ("/opt/envs/jupyter", "/opt/envs/jupyter"),
        ("/home/alicex/envs", "/home/alicex/envs"),  # another home that starts the same
    ],
)
def test_a_path_under_the_laptop_home_means_the_remote_home(value: str, expected: str) -> None:
    path, note = remote_path("venv", value, "/home/alice")
    assert path == expected
    if value.startswith("/home/alice/"):
        assert note is not None
        assert f"--venv {value}: read as {expected} on the remote host" in note
    else:
        assert note is None


def test_the_request_carries_remote_paths_and_says_so(tmp_path: Path) -> None:
    home = str(Path.home())
    resolved = config.resolve(
        "host",
        {"venv": f"{home}/envs/j", "workdir": f"{home}/project"},
        config.ConfigFile(tmp_path / "none.toml"),
    )
    request = up_request(resolved, new=False, detach=True, interactive=False)
    assert request.environment.venv == "~/envs/j"
    assert request.environment.workdir == "~/project"
    assert len(request.notes) == 2


def test_cluster_options_know_whether_they_were_asked_for_this_target(tmp_path: Path) -> None:
    text = '[defaults]\naccount = "proj1"\n\n[profiles.lab]\nhost = "h"\ncpus = 4\n'
    path = tmp_path / "config.toml"
    path.write_text(text)
    resolved = config.resolve("lab", {"partition": "gpu"}, config.load(path))
    asked, general = cluster_options(resolved)
    assert asked[0] == "--partition (command line)"
    assert asked[1].startswith("--cpus (profile 'lab'")
    assert len(asked) == 2
    assert len(general) == 1
    assert general[0].startswith("--account ([defaults]")


def test_cluster_options_with_scheduler_none_are_refused_before_any_ssh(tmp_path: Path) -> None:
    laptop = environment(tmp_path)
    done = hoplab(laptop, "up", "nowhere", "--scheduler", "none", "--partition", "gpu")
    assert done.returncode != 0
    assert "--partition (command line) need a batch job" in done.stderr
    assert "--scheduler none was given; nothing was started" in done.stderr
    assert "Traceback" not in done.stderr
    assert ssh_calls(laptop) == []


def test_after_detection_asked_options_are_refused_and_defaults_said() -> None:
    target = SshTarget("lab-server", (), None)
    asked = UpRequest(target, "lab-server", cluster_options=(("--gpus (command line)",), ()))
    with pytest.raises(SchedulerError, match="no batch scheduler was found on lab-server"):
        _without_scheduler(asked, "lab-server", lambda _: None)
    said: list[Step] = []
    general = UpRequest(target, "lab-server", cluster_options=((), ("--account ([defaults])",)))
    _without_scheduler(general, "lab-server", said.append)
    assert said[0].message == (
        "ignored on lab-server (no batch scheduler was found on lab-server): --account ([defaults])"
    )


def test_a_named_env_without_jupyter_is_its_own_error() -> None:
    from hoplab.errors import JupyterNotFoundError
    from hoplab.records.model import Session
    from hoplab.remote import frames, scripts

    reply = frames.ReplyLine.read(
        "HOPLAB failed other-jupyter", "venv ~/v has no jupyter-lab (/h/v/bin); the one on PATH"
    )
    error = scripts.launch_failure(reply, Session("a", "t", "h", (), None, True, "lab", token="x"))
    assert isinstance(error, JupyterNotFoundError)
    assert "the one on PATH" in error.message
    assert "--system-site-packages" in error.hint
