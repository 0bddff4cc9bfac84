"""Jupyter as users have it, on the real sandbox: older versions, a token in .bashrc, a config
that turns authentication off, paths the laptop's shell expanded, cluster options without a
scheduler.

The version matrix runs on one plain host (node001, through login01) plus one SLURM case. The
notebook 6.5 and jupyterlab 3.6 venvs are made on first use, beside the sandbox's own Jupyter
venv, and kept (``hoplab.testing.jupyter_env.ensure_version_venv``).
"""

from __future__ import annotations

import secrets
import shlex
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from kernel import run_code, split_url

from hoplab.testing.jupyter_env import ensure_version_venv
from hoplab.tunnel.forwards import status_code

if TYPE_CHECKING:
    from collections.abc import Iterator

    from conftest import Laptop
    from hoplab.testing.info import SandboxInfo

pytestmark = pytest.mark.sandbox

# name -> (app, how it listens on a host that ssh reaches)
VERSIONS = {
    "notebook6": ("notebook", "tcp"),  # classic Notebook has no Unix socket: TCP on 127.0.0.1
    "lab3": ("lab", "socket"),  # jupyterlab 3.6 on jupyter_server 1.24
    "current": ("lab", "socket"),  # the sandbox's own venv: jupyterlab 4, jupyter_server 2
}


def venv_of(sandbox: SandboxInfo, name: str) -> Path:
    if name == "current":
        return sandbox.jupyter_venv
    return ensure_version_venv(sandbox.jupyter_venv, name)


def port_of(url: str) -> int:
    return int(url.split(":")[2].split("/", maxsplit=1)[0])


def session_dirs(laptop: Laptop, host: str) -> set[str]:
    done = laptop.sandbox.run_as_user(host, "ls -A ~/.hoplab/sessions 2>/dev/null || true\n")
    return set(done.stdout.split())


def a_full_session(  # noqa: PLR0917 - the cases' parameters, in the order they are read
    laptop: Laptop,
    host: str,
    venv: Path,
    app: str,
    listen: str | None,
    environment: tuple[str, ...] | None = None,
) -> None:
    """up, a kernel says where it runs, ls, logs, down; the fixture then checks nothing is left.

    ``environment``: the options that put ``venv``'s Jupyter on the PATH (``--venv`` itself by
    default; ``--module``, ``--conda``).
    """
    given = environment if environment is not None else ("--venv", str(venv))
    result = laptop.json("up", host, *given, "--app", app)
    session, url = result["session"], result["url"]
    if listen is not None:
        assert session["listen"] == listen
    base, token = split_url(url)
    assert status_code(port_of(url), "/", token) == 200
    assert status_code(port_of(url), "/", "wrong") == 403
    printed = run_code(base, token, "import socket, sys; print(socket.gethostname(), sys.prefix)")
    where, prefix = printed.split()
    assert where == (session["host"] or host)
    assert Path(prefix).resolve() == venv.resolve()  # the named venv's Jupyter, no other

    [listed] = laptop.json("ls")["sessions"]
    assert (listed["id"], listed["state"]) == (session["id"], "ready")
    log = laptop.run("logs", session["id"], "-n", "200").stdout
    assert "is running at" in log
    assert token not in log

    down = laptop.json("down", session["id"])
    assert down["results"][0]["clean"] is True
    assert status_code(port_of(url), "/", token) is None
    assert session["id"] not in session_dirs(
        laptop, host if session["scheduler"] == "none" else "login01"
    )


@pytest.mark.parametrize("name", sorted(VERSIONS))
def test_each_jupyter_version_on_a_plain_host(laptop: Laptop, name: str) -> None:
    app, listen = VERSIONS[name]
    a_full_session(laptop, "node001", venv_of(laptop.sandbox, name), app, listen)


def test_classic_notebook_in_a_slurm_job(cluster_laptop: Laptop) -> None:
    venv = venv_of(cluster_laptop.sandbox, "notebook6")
    a_full_session(cluster_laptop, "login01", venv, "notebook", None)


# -- the token governs ------------------------------------------------------------------


@contextmanager
def _replace_file(sandbox: SandboxInfo, path: str, text: str, *, prepend: bool) -> Iterator[None]:
    """Change a file of the test user's home (as the user), and put it back afterwards."""
    backup = f"{path}.hoplab-test-{secrets.token_hex(4)}"
    quoted, saved = shlex.quote(path), shlex.quote(backup)
    new = shlex.quote(text)
    script = (
        f'cd && mkdir -p "$(dirname {quoted})" && '
        f"if [ -e {quoted} ]; then cp -p {quoted} {saved}; else : > {saved}.absent; fi\n"
    )
    if prepend:  # before Debian's "not interactive: return" line of .bashrc
        script += f"{{ printf '%s\\n' {new}; cat {saved} 2>/dev/null; }} > {quoted}.new\n"
        script += f"mv -f {quoted}.new {quoted}\n"
    else:
        script += f"printf '%s\\n' {new} > {quoted}\n"
    sandbox.run_as_user(sandbox.login_host, script)
    try:
        yield
    finally:
        sandbox.run_as_user(
            sandbox.login_host,
            f"cd && if [ -e {saved}.absent ]; then rm -f {quoted} {saved}.absent; "
            f"else mv -f {saved} {quoted}; fi\n",
        )


@pytest.fixture
def token_in_bashrc(hoplab_sandbox: SandboxInfo) -> Iterator[str]:
    """``export JUPYTER_TOKEN=...`` at the top of the test user's ~/.bashrc (shared home)."""
    token = "from-bashrc-" + secrets.token_hex(4)
    with _replace_file(hoplab_sandbox, ".bashrc", f"export JUPYTER_TOKEN={token}", prepend=True):
        # the control: a remote command (bash -c, as sshd runs it) does see the token
        seen = hoplab_sandbox.run_as_user("node001", 'printf %s "${JUPYTER_TOKEN:-}"\n').stdout
        assert seen == token
        yield token


@pytest.fixture
def user_config(hoplab_sandbox: SandboxInfo, request: pytest.FixtureRequest) -> Iterator[None]:
    """A ~/.jupyter/jupyter_server_config.py of the test user, as the test's parameter says."""
    path = ".jupyter/jupyter_server_config.py"
    with _replace_file(hoplab_sandbox, path, str(request.param), prepend=False):
        yield


def test_a_token_exported_in_bashrc_does_not_replace_hoplabs(
    laptop: Laptop, token_in_bashrc: str
) -> None:
    url = laptop.up("node001")["url"]
    _, token = split_url(url)
    assert status_code(port_of(url), "/", token) == 200
    assert status_code(port_of(url), "/", token_in_bashrc) == 403


def test_a_token_exported_in_bashrc_does_not_reach_a_slurm_job(
    cluster_laptop: Laptop, token_in_bashrc: str
) -> None:
    url = cluster_laptop.up("login01")["url"]
    _, token = split_url(url)
    assert status_code(port_of(url), "/", token) == 200
    assert status_code(port_of(url), "/", token_in_bashrc) == 403


EMPTY_TOKEN = "c.ServerApp.token = ''\nc.IdentityProvider.token = ''\nc.ServerApp.password = ''"
# A config that lets everyone in whatever the token: what hoplab cannot override, so refuses.
OPEN_TO_ALL = """
from jupyter_server.auth.identity import IdentityProvider, User


class Anyone(IdentityProvider):
    def get_user(self, handler):
        return User("anyone")


c.ServerApp.identity_provider_class = Anyone
"""


@pytest.mark.parametrize("user_config", [EMPTY_TOKEN], indirect=True, ids=["empty-token"])
@pytest.mark.usefixtures("user_config")
def test_a_config_that_empties_the_token_still_needs_hoplabs(laptop: Laptop) -> None:
    url = laptop.up("node001")["url"]
    _, token = split_url(url)
    assert status_code(port_of(url), "/", token) == 200
    assert status_code(port_of(url), "/", "") == 403


@pytest.mark.parametrize("user_config", [OPEN_TO_ALL], indirect=True, ids=["open-to-all"])
@pytest.mark.usefixtures("user_config")
def test_a_jupyter_open_to_all_is_stopped_with_the_reason(laptop: Laptop) -> None:
    before = session_dirs(laptop, "node001")
    done = laptop.run("up", "node001", "--venv", str(laptop.sandbox.jupyter_venv), "--json",
                      check=False)  # fmt: skip
    assert done.returncode != 0
    assert "accepts requests without a token" in done.stderr
    assert "hoplab stopped it" in done.stderr
    assert laptop.remote_jupyters("node001") == []
    assert session_dirs(laptop, "node001") <= before
    [failed] = laptop.sessions()
    assert failed["state"] == "failed"


# -- paths and options ------------------------------------------------------------------


def test_a_venv_given_as_the_laptops_home_path_means_the_remote_home(laptop: Laptop) -> None:
    sandbox = laptop.sandbox
    link = "envs/hoplab-test-" + secrets.token_hex(3)
    venv = shlex.quote(str(sandbox.jupyter_venv))
    sandbox.run_as_user("login01", f"cd && mkdir -p envs && ln -sfn {venv} {link}\n")
    try:
        laptop_home = "/nonexistent-laptop/alice"  # what the laptop's shell put for ~
        laptop.env["HOME"] = laptop_home
        done = laptop.run(
            "up", "node001", "--venv", f"{laptop_home}/{link}", "--detach", "--no-browser"
        )
        assert f"read as ~/{link} on the remote host" in done.stderr
        url = done.stdout.strip().splitlines()[-1]
        _, token = split_url(url)
        assert status_code(port_of(url), "/", token) == 200
    finally:
        sandbox.run_as_user("login01", f"cd && rm -f {shlex.quote(link)}\n")


def test_cluster_options_with_no_scheduler_are_refused_with_nothing_started(
    cluster_laptop: Laptop,
) -> None:
    before = session_dirs(cluster_laptop, "login01")
    jobs = cluster_laptop.jobs()
    done = cluster_laptop.run(
        "up", "login01", "--scheduler", "none", "--partition", "debug", "--time", "10:00",
        "--venv", str(cluster_laptop.sandbox.jupyter_venv), check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "--partition (command line), --time (command line) need a batch job" in done.stderr
    assert "nothing was started" in done.stderr
    assert cluster_laptop.sessions() == []
    assert session_dirs(cluster_laptop, "login01") == before
    assert cluster_laptop.jobs() == jobs


def test_cluster_defaults_are_left_out_on_a_host_without_a_scheduler(laptop: Laptop) -> None:
    Path(laptop.env["HOPLAB_CONFIG"]).write_text('[defaults]\npartition = "debug"\n')
    done = laptop.run(
        "up", "node001", "--venv", str(laptop.sandbox.jupyter_venv), "--detach", "--no-browser"
    )
    assert "ignored on node001" in done.stderr
    assert "--partition ([defaults]" in done.stderr
