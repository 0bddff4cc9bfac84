"""The config files the launcher gives Jupyter (``launcher.sh``): run as Jupyter runs them (each
file in its own namespace, both may be read), with a stand-in for traitlets' ``get_config``.

The real Jupyter versions read them in ``tests/local/test_jupyter_versions.py``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from hoplab import paths

LAUNCHER = Path(paths.__file__).parent / "launcher" / "sh" / "launcher.sh"


def config_text() -> str:
    found = re.search(r"<<'EOF_CONFIG'\n(.*?)\nEOF_CONFIG\n", LAUNCHER.read_text(), re.DOTALL)
    assert found is not None
    return found.group(1)


def test_the_server_is_frozen_at_exit_once_and_given_the_token(tmp_path: Path) -> None:
    """Python's last collections would walk the server's whole heap at exit (~0.3 s of CPU per
    stop): the config registers gc.freeze once, as the last exit handler but those registered
    after it, and the token comes from the 0600 file."""
    token = tmp_path / "token"
    token.write_text("the-token\n")
    program = f"""
import atexit, gc, os, sys

class Section(dict):
    def __getattr__(self, name):
        return self.setdefault(name, Section())
    def __setattr__(self, name, value):
        self[name] = value

config = Section()
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count() > 0, flush=True))
text = {config_text()!r}
freeze = gc.freeze
gc.freeze = lambda: (print("freeze", flush=True), freeze())
for _ in range(2):  # jupyter_server_config.py, then jupyter_notebook_config.py
    exec(compile(text, "config.py", "exec"), {{"get_config": lambda: config}})
atexit.register(lambda: print("later handler ran", flush=True))
print("token", config["NotebookApp"]["token"], flush=True)
"""
    done = subprocess.run(
        [sys.executable, "-c", program],
        env={"JUPYTER_TOKEN_FILE": str(token), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "token the-token",
        "later handler ran",
        "freeze",
        "frozen at exit: True",
    ]
