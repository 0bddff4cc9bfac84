"""A site's shell environment on the real sandbox: a scheduler that only a login shell finds,
Debian's real Lmod, and conda set up for interactive shells only.

- login01 hides SLURM and Grid Engine from plain shells for one test
  (``Sandbox.hide_scheduler``: a /usr/bin of its own in its mount namespace) and a copy of
  /etc/profile.d adds the SLURM commands to a login shell's PATH, as sites do;
- every host has Lmod 8.6 (Debian's ``lmod``, whose /etc/profile.d/lmod.sh defines ``module``
  in login shells only) and the site modules ``jupyter`` and ``slurm``;
- conda is a **stand-in**: no real conda installs here (it is on neither Debian nor PyPI in a
  usable form). The stand-in is laid out as Miniforge's installer lays out a prefix
  (``bin/conda``, ``condabin/``, ``etc/profile.d/conda.sh``, ``envs/NAME``), and its
  ``shell.posix hook`` and ``shell.posix activate`` print what conda 23 documents and prints
  (``CONDA_EXE``, ``_CE_M``, ``_CE_CONDA``, a ``conda`` shell function, then the exports of
  ``activate``). ``conda init``'s block goes at the end of ~/.bashrc, after Debian's
  "not interactive: return" line.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

import pytest
from kernel import run_code, split_url
from test_remote_environments import a_full_session

from hoplab.testing.layout import LOGIN

if TYPE_CHECKING:
    from collections.abc import Iterator

    from conftest import Laptop
    from hoplab.testing.cluster import Sandbox
    from hoplab.testing.info import SandboxInfo

pytestmark = pytest.mark.sandbox

HOSTNAME = "import socket; print(socket.gethostname())"


@pytest.fixture
def scheduler_hidden(cluster_laptop: Laptop, hoplab_sandbox_cluster: Sandbox) -> Iterator[Laptop]:
    """login01 hides its scheduler from plain shells, after the laptop is made, so that it is
    shown again before the laptop's own end-of-test checks run."""
    hoplab_sandbox_cluster.hide_scheduler(hidden=True)
    try:
        yield cluster_laptop
    finally:
        cluster_laptop.run("down", "--all", check=False)
        hoplab_sandbox_cluster.hide_scheduler(hidden=False)


def test_a_scheduler_that_only_a_login_shell_finds(scheduler_hidden: Laptop) -> None:
    laptop = scheduler_hidden
    sandbox = laptop.sandbox
    # the condition: sh over ssh finds no scheduler; a login shell finds SLURM
    plain = sandbox.run_as_user(LOGIN, "command -v sbatch qsub squeue || echo none\n")
    assert plain.stdout.strip() == "none"
    login = sandbox.run_as_user(LOGIN, "bash -lc 'command -v sbatch'\n").stdout.strip()
    assert login == str(sandbox.root_dir / "site" / "slurm" / "bin" / "sbatch")

    for options in ((), ("--scheduler-module", "slurm")):  # /etc/profile.d, then Lmod's module
        result = laptop.up(LOGIN, "--time", "10", *options)
        session = result["session"]
        assert session["scheduler"] == "slurm", options
        assert session["host"] in sandbox.nodes
        base, token = split_url(result["url"])
        assert run_code(base, token, HOSTNAME).strip() == session["host"]
        # ls asks squeue, logs and down scancel: each finds them as detection did
        [listed] = laptop.json("ls")["sessions"]
        assert (listed["state"], listed["job_id"]) == ("ready", session["job_id"])
        assert "is running at" in laptop.run("logs", session["id"], "-n", "200").stdout
        [down] = laptop.json("down", session["id"])["results"]
        assert down["clean"], down
        assert down["checks"][f"job {session['job_id']} gone from the queue"]


def test_a_module_that_the_login_shell_defines(laptop: Laptop) -> None:
    """``--module jupyter`` with the real Lmod: ``module`` exists in login shells only."""
    sandbox = laptop.sandbox
    assert sandbox.run_as_user("node001", "command -v module || echo none\n").stdout == "none\n"
    said = sandbox.run_as_user("node001", "bash -lc 'module --version 2>&1'\n").stdout
    assert "Modules based on Lua: Version 8." in said
    a_full_session(
        laptop, "node001", sandbox.jupyter_venv, "lab", "socket", ("--module", "jupyter")
    )


# A stand-in for conda (see the module's docstring). Its hook is conda 23's shell.posix hook,
# shortened to what activation uses; its activate prints the exports conda's prints.
CONDA = r"""#!/bin/sh
# hoplab test stand-in for conda (not conda): shell.posix|bash hook, shell.posix activate
prefix=$(cd "$(dirname "$0")/.." && pwd)
case "$1 $2" in
"shell.posix hook"|"shell.bash hook")
    cat <<EOF
export CONDA_EXE='$prefix/bin/conda'
export _CE_M=''
export _CE_CONDA=''
export CONDA_PYTHON_EXE='$prefix/bin/python'
__conda_exe() (
    "\$CONDA_EXE" \$_CE_M \$_CE_CONDA "\$@"
)
__conda_activate() {
    ask_conda="\$(PS1="\${PS1:-}" __conda_exe shell.posix "\$@")" || return
    eval "\$ask_conda"
    hash -r
}
conda() {
    case "\${1-__missing__}" in
        activate|deactivate) __conda_activate "\$@" ;;
        *) __conda_exe "\$@" ;;
    esac
}
if [ -z "\${CONDA_SHLVL+x}" ]; then
    export CONDA_SHLVL=0
    export PATH="$prefix/condabin:\${PATH}"
fi
EOF
    ;;
"shell.posix activate")
    env="$prefix/envs/$3"
    if [ ! -d "$env" ]; then
        echo "EnvironmentNameNotFound: Could not find conda environment: $3" >&2
        exit 1
    fi
    echo "PS1='($3) \${PS1:-}'"
    echo "export PATH='$env/bin:$PATH'"
    echo "export CONDA_PREFIX='$env'"
    echo "export CONDA_SHLVL='1'"
    echo "export CONDA_DEFAULT_ENV='$3'"
    echo "export CONDA_PROMPT_MODIFIER='($3) '"
    ;;
*) echo "stand-in conda: $* is not supported" >&2; exit 2 ;;
esac
"""
CONDA_INIT = """
# >>> conda initialize >>>
# !! Contents within this block are managed by 'conda init' !!
__conda_setup="$("$HOME/miniforge3/bin/conda" 'shell.bash' 'hook' 2> /dev/null)"
if [ $? -eq 0 ]; then
    eval "$__conda_setup"
else
    . "$HOME/miniforge3/etc/profile.d/conda.sh"
fi
unset __conda_setup
# <<< conda initialize <<<
"""


@pytest.fixture
def conda_for_interactive_shells(hoplab_sandbox: SandboxInfo) -> Iterator[str]:
    """~/miniforge3 (the stand-in) with an env ``jl`` that holds the sandbox's Jupyter, and
    conda init's block at the end of ~/.bashrc; both removed afterwards."""
    sandbox = hoplab_sandbox
    venv = shlex.quote(str(sandbox.jupyter_venv))
    script = (
        "set -e; cd; test ! -e miniforge3\n"
        "mkdir -p miniforge3/bin miniforge3/condabin miniforge3/etc/profile.d miniforge3/envs\n"
        f"cat > miniforge3/bin/conda <<'HOPLAB_EOF'\n{CONDA}HOPLAB_EOF\n"
        "chmod 755 miniforge3/bin/conda\n"
        "printf '%s\\n' '# conda.sh: see bin/conda' > miniforge3/etc/profile.d/conda.sh\n"
        f"ln -s {venv} miniforge3/envs/jl\n"
        "cp -p .bashrc .bashrc.hoplab-test\n"
        f"cat >> .bashrc <<'HOPLAB_EOF'\n{CONDA_INIT}HOPLAB_EOF\n"
    )
    sandbox.run_as_user(LOGIN, script)
    try:
        yield "jl"
    finally:
        sandbox.run_as_user(
            LOGIN, "cd && mv -f .bashrc.hoplab-test .bashrc && rm -rf miniforge3\n", check=False
        )


def test_conda_set_up_for_interactive_shells_only(
    laptop: Laptop, conda_for_interactive_shells: str
) -> None:
    sandbox = laptop.sandbox
    # the condition: an interactive shell has conda, sh over ssh has not
    said = sandbox.run_as_user("node001", "bash -ic 'type conda' 2>/dev/null | head -1\n")
    assert said.stdout.strip() == "conda is a function"
    assert sandbox.run_as_user("node001", "command -v conda || echo none\n").stdout == "none\n"
    env = conda_for_interactive_shells
    a_full_session(laptop, "node001", sandbox.jupyter_venv, "lab", "socket", ("--conda", env))
