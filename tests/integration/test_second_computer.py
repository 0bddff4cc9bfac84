"""Issue 17, item 1: a second computer (its own HOPLAB_STATE_DIR) attaches to a session that
the first one started, a kernel runs there, and a ``down`` from either computer shows on the
other as stopped elsewhere. The token is in no argv while it crosses (``ps`` is polled)."""

from __future__ import annotations

import subprocess
import threading
from typing import TYPE_CHECKING

import pytest
from kernel import run_code, split_url

if TYPE_CHECKING:
    from conftest import Laptop
    from hoplab.testing.info import SandboxInfo

pytestmark = pytest.mark.sandbox

HOSTNAME = "import socket; print(socket.gethostname())"


class ArgvWatch:
    """Polls ``ps -eo args`` (every process of the machine: the sandbox's hosts share its PID
    namespace, so the remote side's ``sh``, ``cat`` and sshd children are seen too) until
    stopped, keeping every command line seen."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="argv-watch", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            done = subprocess.run(
                ["ps", "-eo", "args"], capture_output=True, text=True, check=False, timeout=10
            )
            self.seen.update(done.stdout.splitlines())
            self.polls += 1
            self._stop.wait(0.005)  # paced, and ends as soon as it is told

    def __enter__(self) -> ArgvWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def holding(self, secret: str) -> list[str]:
        return [line for line in self.seen if secret in line]


def _tombstones(sandbox: SandboxInfo, host: str) -> str:
    return sandbox.run_as_user(host, "ls -A ~/.hoplab/ended 2>/dev/null || true\n").stdout


def test_a_second_computer_attaches_and_its_down_shows_on_the_first(
    laptop: Laptop, second_laptop: Laptop, hoplab_sandbox: SandboxInfo
) -> None:
    first = laptop.up("login01")
    session, token = first["session"], split_url(first["url"])[1]

    # the second computer has no record: attach says where to look
    unknown = second_laptop.run("attach", session["id"], "--no-browser", check=False)
    assert unknown.returncode == 1
    assert f"hoplab attach --on TARGET {session['id']}" in unknown.stderr

    # the only session on login01: attached to without naming it; ps never shows the token
    with ArgvWatch() as seen:
        attached = second_laptop.json("attach", "--on", "login01", "--no-browser")
    assert seen.polls > 3
    assert seen.holding(token) == []
    assert attached["session"]["id"] == session["id"]
    base, again = split_url(attached["url"])
    assert again == token
    assert run_code(base, token, HOSTNAME).strip() == "login01"
    # on this computer the token is in the session database (0600) and in no other file
    for path in second_laptop.home.rglob("*"):
        if path.is_file() and not path.name.startswith("sessions.db"):
            assert token.encode() not in path.read_bytes(), path

    [listed] = second_laptop.json("ls")["sessions"]
    assert (listed["id"], listed["state"]) == (session["id"], "ready")

    # down from the second computer; the first one's ls shows it stopped elsewhere, not lost
    (down,) = second_laptop.json("down", session["id"])["results"]
    assert down["clean"], down
    assert session["id"] in _tombstones(hoplab_sandbox, "login01")
    [seen_first] = laptop.json("ls")["sessions"]
    assert seen_first["id"] == session["id"]
    assert seen_first["state"] == "stopped-elsewhere"
    assert seen_first["note"].startswith("stopped elsewhere: hoplab down from ")
    text = laptop.run("ls", "--wide").stdout
    assert "stopped-elsewhere" in text
    assert "lost" not in text

    # the first computer's down settles its record and removes the tombstone
    (settled,) = laptop.json("down", session["id"])["results"]
    assert settled["clean"], settled
    assert session["id"] not in _tombstones(hoplab_sandbox, "login01")
    assert laptop.sessions()[0]["state"] == "stopped"


def test_a_job_started_on_one_computer_runs_a_kernel_for_the_other(
    cluster_laptop: Laptop, second_cluster_laptop: Laptop, hoplab_sandbox: SandboxInfo
) -> None:
    first = cluster_laptop.up("login01", "--time", "30")
    session, token = first["session"], split_url(first["url"])[1]
    assert session["scheduler"] == "slurm"

    with ArgvWatch() as seen:
        attached = second_cluster_laptop.json(
            "attach", "--on", "login01", session["id"][:5], "--no-browser"
        )
    assert seen.polls > 3
    assert seen.holding(token) == []
    got = attached["session"]
    assert (got["id"], got["job_id"], got["host"]) == (
        session["id"],
        session["job_id"],
        session["host"],
    )
    assert (got["reach"], got["listen"]) == (session["reach"], session["listen"])
    assert got["walltime_end"] is not None  # the scheduler was asked
    base, again = split_url(attached["url"])
    assert again == token
    assert run_code(base, token, HOSTNAME).strip() == session["host"]

    # down from the second: the job leaves the queue; the first's ls says stopped elsewhere
    (down,) = second_cluster_laptop.json("down", session["id"])["results"]
    assert down["clean"], down
    assert down["checks"][f"job {session['job_id']} gone from the queue"]
    [seen_first] = cluster_laptop.json("ls")["sessions"]
    assert seen_first["state"] == "stopped-elsewhere"  # not "ended": the tombstone says why

    # ls --prune on the first settles it and removes the tombstone
    pruned = cluster_laptop.run("ls", "--prune")
    assert f"{session['id']} stopped" in pruned.stderr
    assert session["id"] not in _tombstones(hoplab_sandbox, "login01")
    assert cluster_laptop.sessions()[0]["state"] == "stopped"


def test_ls_scan_records_what_it_finds_with_its_token_so_attach_takes_it_over(
    laptop: Laptop, second_laptop: Laptop
) -> None:
    first = laptop.up("login01")
    session, token = first["session"], split_url(first["url"])[1]

    with ArgvWatch() as seen:
        found = second_laptop.json("ls", "--scan", "login01")["sessions"]
    assert seen.holding(token) == []
    [orphan] = [s for s in found if s["id"] == session["id"]]
    assert orphan["state"] == "lost"
    assert orphan["orphan"] is True
    assert f"'hoplab attach {session['id']}' takes it over" in orphan["note"]

    attached = second_laptop.json("attach", session["id"], "--no-browser")
    assert attached["session"]["orphan"] is False
    assert attached["session"]["state"] == "ready"
    base, again = split_url(attached["url"])
    assert again == token
    assert run_code(base, token, HOSTNAME).strip() == "login01"

    # the first computer's down ends it; the second's ls then says so
    (down,) = laptop.json("down", session["id"])["results"]
    assert down["clean"], down
    [seen_second] = second_laptop.json("ls")["sessions"]
    assert seen_second["state"] == "stopped-elsewhere"


def test_down_all_settles_what_another_computer_stopped_and_stops_the_rest_at_once(
    laptop: Laptop, second_laptop: Laptop, hoplab_sandbox: SandboxInfo
) -> None:
    elsewhere = laptop.up("login01")["session"]
    mine = laptop.up("node001")["session"]

    attached = second_laptop.json("attach", "--on", "login01", elsewhere["id"], "--no-browser")
    assert attached["session"]["id"] == elsewhere["id"]
    (down,) = second_laptop.json("down", elsewhere["id"])["results"]
    assert down["clean"], down
    assert elsewhere["id"] in _tombstones(hoplab_sandbox, "login01")

    # one down --all on the first computer: both targets at once, results in its own order
    results = {r["id"]: r for r in laptop.json("down", "--all")["results"]}
    assert set(results) == {elsewhere["id"], mine["id"]}
    assert all(r["clean"] for r in results.values()), results
    assert results[elsewhere["id"]]["checks"]["tombstone of the other computer's down removed"]
    assert "Jupyter stopped" in results[mine["id"]]["checks"]
    assert elsewhere["id"] not in _tombstones(hoplab_sandbox, "login01")
    assert {s["state"] for s in laptop.sessions()} == {"stopped"}
    assert laptop.remote_jupyters("node001") == []
