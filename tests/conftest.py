"""hoplab's own fixtures for the real local cluster; nothing outside this repository gets them.

``hoplab_sandbox`` (a :class:`SandboxInfo`) starts the cluster once per session, or reuses one
that is already running (for example from ``hoplab sandbox up``), and tears it down at the end
only if this session started it. ``hoplab_sandbox_cluster`` is the :class:`Sandbox` itself, for
tests that turn its knobs (``refuse_ssh``). On a machine that cannot run it the fixtures skip
with the reason, except under CI, where a missing component must fail the run instead of
hiding tests.

hoplab registers no pytest plugin: installing it changes no other project's tests. The fixtures
live here, and pytest puts this directory on ``sys.path`` (rootdir conftest, no
``__init__.py``), which is how the integration tests import the scheduler shims (``shims/``).
The sandbox (Linux only) is imported inside the fixtures, never at collection time.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from hoplab.testing.cluster import Sandbox
    from hoplab.testing.info import SandboxInfo


def in_ci() -> bool:
    """True when the CI environment variable is set to anything but an explicit no."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_sandbox_machine() -> None:
    """Skip (or, under CI, fail) when this machine cannot run the sandbox."""
    from hoplab.testing.tools import missing_requirements

    missing = missing_requirements()
    if not missing:
        return
    reason = "the hoplab sandbox cannot run here: " + "; ".join(missing)
    if in_ci():
        pytest.fail(f"{reason} (CI is set: a missing component fails, never skips)", False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def hoplab_sandbox_cluster() -> Iterator[Sandbox]:
    """The running sandbox; started here (and stopped at session end) unless already up."""
    require_sandbox_machine()
    from hoplab.testing.cluster import Sandbox

    cluster = Sandbox()
    started = not cluster.up().reused
    try:
        yield cluster
    finally:
        if started:
            cluster.down()


@pytest.fixture(scope="session")
def _oar_ended_at_the_end(hoplab_sandbox_cluster: Sandbox) -> Iterator[None]:
    yield
    hoplab_sandbox_cluster.stop_oar()


@pytest.fixture
def hoplab_oar(hoplab_sandbox_cluster: Sandbox, _oar_ended_at_the_end: None) -> None:
    """The real OAR 2.5.9 on the sandbox: started on first use (and again after a test that
    restarted the sandbox), ended at the end of the test session."""
    hoplab_sandbox_cluster.start_oar()


@pytest.fixture(scope="session")
def hoplab_sandbox(hoplab_sandbox_cluster: Sandbox) -> SandboxInfo:
    """Paths, names and helpers of the running sandbox (see :class:`SandboxInfo`)."""
    return hoplab_sandbox_cluster.info()
