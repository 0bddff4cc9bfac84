"""The sandbox's network: a blackhole for its range, three namespaces, veths and a bridge.

The blackhole comes first and is the safety rule: the root namespace has a default route to the
outside world, and a packet for a namespace address that is not on a connected veth (a compute
node, seen from the laptop) would leave the machine through it. With the blackhole it fails at
once with "No route to host", as it should on a real cluster. The harness refuses to start if
the range is already routed by anything else: it never touches a network it does not own.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from hoplab import process
from hoplab.errors import SandboxError
from hoplab.testing.layout import (
    CLUSTER_ADDRESSES,
    HARNESS_NETWORK,
    LAPTOP_ADDRESS,
    LAPTOP_ADDRESS2,
    LOGIN,
    LOGIN2,
    LOGIN2_ADDRESS,
    LOGIN_ADDRESS,
    NAMESPACES,
    NETNS_DIR,
    NODES,
    PREFIX_LENGTH,
    ROOT_LINK,
    ROOT_LINK2,
)
from hoplab.testing.tools import tool

if TYPE_CHECKING:
    from collections.abc import Sequence


def _ip(*args: str, input: str | None = None, check: bool = True) -> process.Completed:  # noqa: A002
    return process.run([tool("ip"), *args], input=input, check=check, timeout=30)


def _routes_in_range() -> list[dict[str, object]]:
    done = _ip("-j", "route", "show", "root", HARNESS_NETWORK)
    routes = json.loads(done.stdout or "[]")
    assert isinstance(routes, list)
    return routes


def _is_blackhole(route: dict[str, object]) -> bool:
    return route.get("type") == "unreachable" and route.get("dst") == HARNESS_NETWORK


def blackhole_present() -> bool:
    """True when the unreachable route for the harness range is in place."""
    return any(_is_blackhole(route) for route in _routes_in_range())


def add_blackhole() -> None:
    """Add ``unreachable 10.201.0.0/16``, or refuse to go on (SandboxError).

    Refuses when any other route or address of the root namespace lies in the range: then the
    range belongs to someone else on this machine.
    """
    foreign = [
        route
        for route in _routes_in_range()
        if not _is_blackhole(route) and route.get("dev") not in (ROOT_LINK, ROOT_LINK2)
    ]
    addresses = json.loads(_ip("-j", "addr", "show", "to", HARNESS_NETWORK).stdout or "[]")
    foreign_links = [
        a.get("ifname") for a in addresses if a.get("ifname") not in (ROOT_LINK, ROOT_LINK2)
    ]
    if foreign or foreign_links:
        raise SandboxError(
            f"{HARNESS_NETWORK} is already in use on this machine "
            f"(routes: {foreign or 'none'}, interfaces: {foreign_links or 'none'})",
            "the sandbox only runs on a range it owns; free that range first",
        )
    if not blackhole_present():
        done = _ip("route", "add", "unreachable", HARNESS_NETWORK, check=False)
        if done.returncode != 0 or not blackhole_present():
            raise SandboxError(
                f"could not add the blackhole route for {HARNESS_NETWORK}: "
                f"{done.stderr.strip() or 'route missing after adding it'}",
                "the sandbox refuses to start without it; run it as root on Linux",
            )


def remove_blackhole() -> bool:
    """Delete the harness's unreachable route; True if there was one."""
    if not blackhole_present():
        return False
    _ip("route", "del", "unreachable", HARNESS_NETWORK)
    return True


def namespace_exists(name: str) -> bool:
    """True when ``ip netns`` knows the namespace ``name``."""
    return (NETNS_DIR / name).exists()


def root_link_exists() -> bool:
    """True when the laptop's end of a veth to a login node exists."""
    return any(Path("/sys/class/net", link).exists() for link in (ROOT_LINK, ROOT_LINK2))


def set_root_link(*, up: bool) -> None:
    """Take the laptop's veth to login01 down or up (a cut cable, a wifi that comes back).

    Down, the kernel drops its connected route, so packets for login01 meet the blackhole.
    """
    _ip("link", "set", ROOT_LINK, "up" if up else "down")


def create_topology() -> None:
    """Create the namespaces, the laptop's veths to both login nodes, and login01's bridge to
    login02 and the nodes.

    One ``ip -batch`` call per namespace keeps it fast; ``ip`` fails on the first
    error, and the caller's finalizer removes whatever was made.
    """
    prefix = f"/{PREFIX_LENGTH}"
    root = [f"netns add {name}" for name in NAMESPACES] + [
        f"link add {ROOT_LINK} type veth peer name eth0 netns {LOGIN}",
        f"addr add {LAPTOP_ADDRESS}{prefix} dev {ROOT_LINK}",
        f"link set {ROOT_LINK} up",
        f"link add {ROOT_LINK2} type veth peer name eth0 netns {LOGIN2}",
        f"addr add {LAPTOP_ADDRESS2}{prefix} dev {ROOT_LINK2}",
        f"link set {ROOT_LINK2} up",
    ]
    login = [
        "link set lo up",
        f"addr add {LOGIN_ADDRESS}{prefix} dev eth0",
        "link set eth0 up",
        "link add br0 type bridge",
        f"addr add {CLUSTER_ADDRESSES[LOGIN]}{prefix} dev br0",
        "link set br0 up",
    ]
    for node in (LOGIN2, *NODES):
        port, inside = f"v{node}", "eth1" if node == LOGIN2 else "eth0"  # login02's eth0: laptop
        login += [
            f"link add {port} type veth peer name {inside} netns {node}",
            f"link set {port} master br0",
            f"link set {port} up",
        ]
    _ip("-batch", "-", input="\n".join(root) + "\n")
    _ip("-n", LOGIN, "-batch", "-", input="\n".join(login) + "\n")
    second = [
        "link set lo up",
        f"addr add {LOGIN2_ADDRESS}{prefix} dev eth0",
        "link set eth0 up",
        f"addr add {CLUSTER_ADDRESSES[LOGIN2]}{prefix} dev eth1",
        "link set eth1 up",
    ]
    _ip("-n", LOGIN2, "-batch", "-", input="\n".join(second) + "\n")
    for node in NODES:
        lines = [
            "link set lo up",
            f"addr add {CLUSTER_ADDRESSES[node]}{prefix} dev eth0",
            "link set eth0 up",
        ]
        _ip("-n", node, "-batch", "-", input="\n".join(lines) + "\n")


def delete_topology() -> list[str]:
    """Delete the veth and every harness namespace that exists; returns the names deleted."""
    for link in (ROOT_LINK, ROOT_LINK2):
        if Path("/sys/class/net", link).exists():
            _ip("link", "del", link)
    deleted = []
    for name in NAMESPACES:
        if namespace_exists(name):
            _ip("netns", "del", name)
            deleted.append(name)
    return deleted


def in_namespace(name: str, argv: Sequence[str]) -> list[str]:
    """argv that runs ``argv`` inside the network namespace ``name`` (root only)."""
    return [tool("nsenter"), f"--net={NETNS_DIR / name}", "--", *argv]


def as_host(name: str, argv: Sequence[str], binds: Sequence[tuple[Path, str]]) -> list[str]:
    """argv that runs ``argv`` as host ``name`` would: its network, its host name, its files.

    ``nsenter --net`` (not ``ip netns exec``, which remounts /sys and breaks slurmd), then
    ``unshare --uts --mount`` (a private mount namespace: nothing leaks to the machine) where
    each ``(source, target)`` of ``binds`` is bind-mounted (the hosts file over /etc/hosts, a
    /tmp of the host's own...). nsenter, unshare and the inner ``sh`` all exec in place, so the
    process started by this argv becomes ``argv`` itself, with the same PID.
    """
    mount = shlex.quote(tool("mount"))
    mounts = "".join(
        f"{mount} --bind {shlex.quote(str(source))} {shlex.quote(target)} && "
        for source, target in binds
    )
    inner = f"hostname {shlex.quote(name)} && {mounts}" + 'exec "$@"'
    return [
        tool("nsenter"),
        f"--net={NETNS_DIR / name}",
        tool("unshare"),
        "--uts",
        "--mount",
        "--propagation=private",
        "sh",
        "-c",
        inner,
        "sh",
        *argv,
    ]


def start_daemon(
    namespace: str, argv: Sequence[str], log: Path, binds: Sequence[tuple[Path, str]]
) -> int:
    """Start ``argv`` as host ``namespace`` (see :func:`as_host`); return the daemon's PID.

    The launcher runs in a new session and exits at once: the daemon is nobody's child here,
    survives the CLI that started it, and never turns into a zombie of ours. Its output goes
    to ``log``. Its sessions and jobs inherit its host name and hosts file.
    """
    launcher = as_host(namespace, argv, binds)
    script = f"{shlex.join(launcher)} </dev/null >>{shlex.quote(str(log))} 2>&1 & echo $!"
    done = process.run([tool("setsid"), "sh", "-c", script], timeout=30)
    try:
        return int(done.stdout.strip())
    except ValueError as exc:
        raise SandboxError(
            f"could not start {argv[0]} in {namespace}: launcher printed {done.stdout!r}"
        ) from exc
