"""The relay wherever a session is held (not run yet): a second computer's ``attach --on`` gets
its own relay and background supervisor, ``down --all`` on several targets frees every port and
forward socket, and a master stays while a detached session's forward rides it.

hoplab serves each session's 127.0.0.1 port from the hoplab process that holds it (the
background supervisor after ``--json``); ssh forwards a Unix socket in the runtime directory's
``fw/``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from kernel import run_code, split_url

from hoplab.ssh.ports import port_is_free
from hoplab.tunnel import listener
from hoplab.tunnel.forwards import status_code
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import Laptop

pytestmark = pytest.mark.sandbox

HOSTNAME = "import socket; print(socket.gethostname())"


def _forward_sockets(machine: Laptop) -> list[Path]:
    folder = machine.home / "rt" / "fw"
    return sorted(p for p in folder.glob("*.sock")) if folder.exists() else []


def _served_by_its_supervisor(machine: Laptop, result: dict[str, object]) -> int:
    """The session's port is held by the supervisor that the command started; the port."""
    session = result["session"]
    assert isinstance(session, dict)
    port, pid = session["local_port"], result["supervisor_pid"]
    assert isinstance(port, int)
    assert isinstance(pid, int)
    assert session["relay_pid"] == pid
    assert listener.held_by(port, pid)
    return port


def test_attach_on_from_a_second_computer_relays_there(
    laptop: Laptop, second_laptop: Laptop
) -> None:
    first = laptop.up("login01")
    first_port = _served_by_its_supervisor(laptop, first)
    sid = first["session"]["id"]

    attached = second_laptop.json("attach", "--on", "login01", sid, "--no-browser")
    second_port = _served_by_its_supervisor(second_laptop, attached)
    (sock,) = _forward_sockets(second_laptop)
    assert sock.name == f"{sid}.sock"
    assert sock.stat().st_mode & 0o777 == 0o600
    base, token = split_url(attached["url"])
    assert run_code(base, token, HOSTNAME).strip() == "login01"

    (done,) = second_laptop.json("down", sid)["results"]
    assert done["clean"], done
    assert port_is_free(second_port)
    assert _forward_sockets(second_laptop) == []
    # the first computer's supervisor finds the session stopped elsewhere and lets its port go
    wait_until(lambda: port_is_free(first_port), 60, what="the first computer's relay to end")
    assert _forward_sockets(laptop) == []
    [seen] = laptop.json("ls")["sessions"]
    assert seen["state"] == "stopped-elsewhere"


def test_down_all_frees_every_port_and_socket_on_every_target(laptop: Laptop) -> None:
    results = [laptop.up("login01"), laptop.up("node001")]
    ports = [_served_by_its_supervisor(laptop, r) for r in results]
    assert len(_forward_sockets(laptop)) == 2

    done = laptop.json("down", "--all")["results"]
    assert [r["clean"] for r in done] == [True, True], done
    for result in done:
        assert result["checks"]["background supervisor stopped"] is True
    assert all(port_is_free(port) for port in ports)
    assert _forward_sockets(laptop) == []


def test_a_master_stays_while_a_detached_session_rides_it(laptop: Laptop) -> None:
    """With ``master_idle = 0`` a master no live session needs goes at once: the down of one
    session on login01 must leave the master that the other's forward rides."""
    (laptop.home / "config.toml").write_text('[defaults]\nmaster_idle = "0"\n')
    going = laptop.up("login01")
    staying = laptop.up("login01", "--new")
    _served_by_its_supervisor(laptop, staying)
    masters = laptop.masters()
    assert masters

    (done,) = laptop.json("down", going["session"]["id"])["results"]
    assert done["clean"], done
    assert laptop.masters() == masters
    port = staying["session"]["local_port"]
    assert status_code(port, "/", split_url(staying["url"])[1]) == 200

    (done,) = laptop.json("down", staying["session"]["id"])["results"]
    assert done["clean"], done
    wait_until(lambda: not laptop.masters(), 10, what="the master no session needs to go")
