"""Whose listener answers on 127.0.0.1:PORT? The token goes only to the ssh hoplab started.

Any local user can listen on a free loopback port. When a session's forward is gone (the
master died, the laptop rebooted) another user may hold its old port, and a probe carrying
``Authorization: token ...`` would hand the token to them. So before the token is sent, the
listener is checked to be the expected ssh process:

- Linux: ``/proc/net/tcp`` and ``tcp6`` give the inode of every LISTEN socket that a connection
  to 127.0.0.1:PORT can reach (bound to 127.0.0.1, to any address, or to their IPv6 forms); each
  must be a ``socket:[inode]`` among ``/proc/<pid>/fd/*`` of the expected PID.
- macOS (and other systems with lsof): ``lsof -nP -iTCP:PORT -sTCP:LISTEN -Fpn``; every listener
  it shows on such an address must be the expected PID.

Nothing else is trusted: no listener, an unreadable table, or no lsof means "not ours".
"""

from __future__ import annotations

import sys
from pathlib import Path

from hoplab import process
from hoplab.errors import CommandError

PROC_TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
TCP_LISTEN = "0A"
# Local addresses in /proc/net/tcp* (hex, each 32-bit word in host byte order: both orders
# are listed) that take a connection to 127.0.0.1: the address itself, any address, and their
# IPv4-mapped IPv6 forms (with "::" itself, which takes IPv4 too unless IPV6_V6ONLY).
_LOOPBACK_V4 = ("0100007F", "7F000001", "00000000")
_LOOPBACK_V6 = (
    "00000000000000000000000000000000",
    "0000000000000000FFFF00000100007F",
    "0000000000000000FFFF000000000000",
    "00000000000000000000FFFF7F000001",
    "00000000000000000000FFFF00000000",
)
_LSOF_ADDRESSES = ("127.0.0.1", "*", "[::]", "[::ffff:127.0.0.1]")


def _reaches_loopback(address: str) -> bool:
    return address.upper() in _LOOPBACK_V4 + _LOOPBACK_V6


def listening_inodes(port: int, tables: tuple[Path, ...] = PROC_TABLES) -> set[int]:
    """Inodes of the LISTEN sockets that a connection to 127.0.0.1:``port`` may reach."""
    found: set[int] = set()
    for table in tables:
        try:
            lines = table.read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != TCP_LISTEN:
                continue
            address, _, hex_port = fields[1].partition(":")
            if int(hex_port, 16) == port and _reaches_loopback(address):
                found.add(int(fields[9]))
    return found


def socket_inodes(pid: int, proc: Path = Path("/proc")) -> set[int]:
    """The inodes of the sockets that ``pid`` has open (empty if it cannot be read)."""
    found: set[int] = set()
    try:
        entries = list((proc / str(pid) / "fd").iterdir())
    except OSError:
        return found
    for entry in entries:
        try:
            link = str(entry.readlink())
        except OSError:
            continue
        if link.startswith("socket:[") and link.endswith("]"):
            found.add(int(link[len("socket:[") : -1]))
    return found


def held_by(port: int, pid: int | None) -> bool:
    """Whether every listener reachable on 127.0.0.1:``port`` belongs to ``pid`` (and one is)."""
    if pid is None:
        return False
    if sys.platform.startswith("linux") and PROC_TABLES[0].exists():
        inodes = listening_inodes(port)
        return bool(inodes) and inodes <= socket_inodes(pid)
    return _held_by_lsof(port, pid)


def parse_lsof(text: str) -> list[tuple[int, str]]:
    """``(pid, address)`` of each listener in ``lsof -Fpn`` output (``p`` then ``n`` lines)."""
    found: list[tuple[int, str]] = []
    pid = None
    for line in text.splitlines():
        if line.startswith("p") and line[1:].isdigit():
            pid = int(line[1:])
        elif line.startswith("n") and pid is not None:
            found.append((pid, line[1:].rpartition(":")[0]))
    return found


def _held_by_lsof(port: int, pid: int) -> bool:
    try:
        done = process.run(
            ["lsof", "-nP", f"-iTCP:{port}", "-sTCP:LISTEN", "-Fpn"], check=False, timeout=10
        )
    except CommandError:  # no lsof: nothing can be checked, so nothing is trusted
        return False
    seen = [owner for owner, address in parse_lsof(done.stdout) if address in _LSOF_ADDRESSES]
    return bool(seen) and all(owner == pid for owner in seen)
