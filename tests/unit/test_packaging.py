"""What installing hoplab gives other projects (no fixtures), and what its wheel ships."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]
FOREIGN_TEST = """\
import hoplab.testing  # hoplab is installed here, and importing its harness starts nothing


def test_wants_a_sandbox(sandbox):
    pass
"""


def network_state() -> list[str]:
    """Namespaces, links and routes as ``ip`` lists them (``ip`` comes with iproute2)."""
    ip = shutil.which("ip") or "/usr/sbin/ip"
    views = (["netns", "list"], ["-o", "link"], ["route", "show", "table", "all"])
    return [
        subprocess.run([ip, *view], capture_output=True, text=True, check=True).stdout
        for view in views
    ]


def test_another_project_gets_no_fixture_from_hoplab(tmp_path: Path) -> None:
    """A project that merely has hoplab installed asks for ``sandbox``: pytest does not know it,
    and nothing of the sandbox (namespace, link, route) appears."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_foreign.py").write_text(FOREIGN_TEST)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}
    before = network_state()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(project)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert network_state() == before
    assert done.returncode == 1, done.stdout + done.stderr
    assert "fixture 'sandbox' not found" in done.stdout
    assert "hoplab_sandbox" not in done.stdout  # not among the available fixtures either


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    """hoplab's wheel, built from this checkout as pip would for a user."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
        capture_output=True,
        check=True,
        timeout=300,
    )
    (path,) = out.glob("hoplab-*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def test_the_wheel_ships_no_test_code(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    assert "hoplab/testing/cluster.py" in names  # the sandbox harness ships: users run it
    assert "hoplab/launcher/sh/launcher.sh" in names
    assert not [name for name in names if "shims" in name]
    assert not [name for name in names if Path(name).name in {"conftest.py", "pytest_plugin.py"}]
    importing_pytest = [
        name
        for name in names
        if name.endswith(".py") and "import pytest" in wheel.read(name).decode()
    ]
    assert importing_pytest == []
    (entry_points,) = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(entry_points).decode()
    assert "pytest11" not in text
    assert "hoplab = hoplab.cli:main" in text


def test_the_wheel_carries_its_license(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    (metadata,) = [name for name in names if name.endswith(".dist-info/METADATA")]
    fields = wheel.read(metadata).decode().split("\n\n", 1)[0].splitlines()
    assert "License-File: LICENSE" in fields
    assert any(field.endswith("BSD-3-Clause") for field in fields if field.startswith("License"))
    (license_file,) = [name for name in names if name.endswith("dist-info/licenses/LICENSE")]
    assert "the hoplab authors" in wheel.read(license_file).decode()
    assert any(field.startswith("Classifier: Operating System") for field in fields)


def test_every_test_module_name_is_unique() -> None:
    """pytest imports test modules by their base name: one name in tests/unit and in
    tests/integration stops the README's test command at collection."""
    tests = Path(__file__).parents[1]
    names = [path.name for path in tests.glob("*/test_*.py")]
    assert sorted(name for name in set(names) if names.count(name) > 1) == []
