"""No delayed ACKs on hoplab's tunnel (issue 19), on the real sandbox.

A kernel round trip (``execute('1')`` until idle, over the websocket) through a ``-N`` master
and ssh's own TCP -> Unix-socket forward took ~50 ms on the sandbox (two Nagle gaps, one
delayed ACK each); with no ssh at all it takes ~6 ms. These tests hold hoplab near the second.
The bound is loose (gVisor is noisy): it separates "a delayed ACK on every exchange" from
"none", nothing finer; ``bench/bench_roundtrip.py`` gives the ratios to the floor.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from typing import TYPE_CHECKING

import pytest
from kernel import api, split_url

from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from conftest import Laptop

DELAYED_ACK_MS = 40.0
EXECUTES = 40


def _median_round_trip_ms(url: str) -> float:
    import websocket

    base, token = split_url(url)
    kernel = api(base, token, "POST", "/api/kernels", {"name": "python3"})
    ws_url = base.replace("http://", "ws://") + f"/api/kernels/{kernel['id']}/channels"
    ws = websocket.create_connection(ws_url, header=[f"Authorization: token {token}"], timeout=60)
    times = []
    try:
        for n in range(EXECUTES + 5):
            msg_id = uuid.uuid4().hex
            request = {
                "header": {"msg_id": msg_id, "username": "test", "session": "s",
                           "msg_type": "execute_request", "version": "5.3"},
                "parent_header": {}, "metadata": {}, "channel": "shell",
                "content": {"code": "1", "silent": False},
            }  # fmt: skip
            began = time.perf_counter()
            ws.send(json.dumps(request))
            for _ in range(100):
                message = json.loads(ws.recv())
                if (
                    message.get("parent_header", {}).get("msg_id") == msg_id
                    and message["msg_type"] == "status"
                    and message["content"]["execution_state"] == "idle"
                ):
                    break
            if n >= 5:  # the first ones warm the kernel up
                times.append((time.perf_counter() - began) * 1000)
    finally:
        ws.close()
        api(base, token, "DELETE", f"/api/kernels/{kernel['id']}")
    return statistics.median(times)


@pytest.mark.parametrize("mux", [True, False], ids=["mux", "no-mux"])
def test_a_kernel_round_trip_waits_for_no_delayed_ack(laptop: Laptop, mux: bool) -> None:
    result = laptop.up("login01", "--scheduler", "none", *([] if mux else ["--no-mux"]))
    try:
        assert _median_round_trip_ms(result["url"]) < DELAYED_ACK_MS / 2
        # the session that makes both ends set TCP_NODELAY: a master's ``exit`` is over at
        # once; a no-mux forward's ``cat`` waits for as long as its ssh lives
        assert len(_remote_sessions(laptop, "cat")) == (0 if mux else 1)
    finally:
        laptop.run("down", result["session"]["id"])
    # it ends with its connection (sshd closes its stdin), a moment after ssh ends
    wait_until(lambda: _remote_sessions(laptop, "cat") == [], 10, what="the remote cat to end")


def _remote_sessions(laptop: Laptop, command: str) -> list[str]:
    """The test user's processes on login01 running exactly ``command``."""
    done = laptop.sandbox.run_as_user("login01", 'ps -u "$(id -u)" -o pid= -o args=\n')
    return [line for line in done.stdout.splitlines() if line.split()[1:] == [command]]


def test_the_node_path_round_trip_waits_for_no_delayed_ack(cluster_laptop: Laptop) -> None:
    result = cluster_laptop.up("login01", "--reach", "ssh-node", "--directive=--nodelist=node001")
    try:
        assert result["session"]["reach"] == "ssh-node"
        assert _median_round_trip_ms(result["url"]) < DELAYED_ACK_MS / 2
    finally:
        cluster_laptop.run("down", result["session"]["id"])


def test_the_port_is_served_by_the_background_supervisor(laptop: Laptop) -> None:
    """``--json`` implies --detach: the supervisor's relay serves the port, ssh forwards a
    private Unix socket, and ``down`` ends both."""
    from hoplab.ssh.ports import port_is_free
    from hoplab.tunnel import listener

    result = laptop.up("login01", "--scheduler", "none")
    port, pid = result["session"]["local_port"], result["supervisor_pid"]
    assert result["session"]["relay_pid"] == pid
    assert listener.held_by(port, pid)
    sockets = list((laptop.home / "rt" / "fw").glob("*.sock"))
    assert [p.stat().st_mode & 0o777 for p in sockets] == [0o600]
    laptop.run("down", result["session"]["id"])
    assert port_is_free(port)
    assert not list((laptop.home / "rt" / "fw").glob("*.sock"))


def test_a_master_leaves_no_remote_process(laptop: Laptop) -> None:
    """The master's first session (``exit``, run by the login shell as ``SHELL -c exit``) ends
    at once: nothing of it is left on login01 once ``up`` is ready."""
    result = laptop.up("login01", "--scheduler", "none")
    try:
        seen = laptop.sandbox.run_as_user("login01", 'ps -u "$(id -u)" -o args=\n')
        left = [line for line in seen.stdout.splitlines() if line.strip().endswith("-c exit")]
        assert left == []
    finally:
        laptop.run("down", result["session"]["id"])
