"""The laptop's side: the OpenSSH client, the target as ssh resolves it, free ports on
127.0.0.1, and the modes of hoplab's local state."""

from __future__ import annotations

import os
import re
import stat
from typing import TYPE_CHECKING

from hoplab import process
from hoplab.paths import runtime_path, state_path
from hoplab.sessions.doctor.report import Outcome, fail, ok, warn
from hoplab.ssh import hostkeys
from hoplab.ssh.ports import LOOPBACK, free_port, port_is_free

if TYPE_CHECKING:
    from pathlib import Path

    from hoplab.ssh.target import SshTarget

# KnownHostsCommand, which carries the host keys a login node vouches for (hoplab.ssh.hostkeys)
NEEDED = (8, 5)
VERSION = re.compile(r"OpenSSH_(?P<name>for_Windows_)?(?P<major>\d+)\.(?P<minor>\d+)\S*")


def client() -> Outcome:
    """``ssh -V``: an OpenSSH that can multiplex and read hoplab's known_hosts."""
    process.require("ssh")
    said = process.run(["ssh", "-V"], check=False, timeout=10)
    return read_version((said.stderr or said.stdout).strip())


def read_version(text: str) -> Outcome:
    """What ``ssh -V`` said, judged."""
    match = VERSION.search(text)
    first = text.splitlines()[0] if text else "nothing"
    if match is None:
        return warn(
            f"ssh is not OpenSSH ({first})",
            "install the OpenSSH client: hoplab drives its options (ControlMaster, ProxyJump, "
            "KnownHostsCommand)",
        )
    version = (int(match["major"]), int(match["minor"]))
    name = f"OpenSSH {version[0]}.{version[1]}"
    if match["name"]:
        return warn(
            f"{name} for Windows: it has no ControlMaster",
            "run hoplab in WSL, whose OpenSSH multiplexes (or use --no-mux)",
            first,
        )
    if version < NEEDED:
        return warn(
            f"{name}: older than {NEEDED[0]}.{NEEDED[1]}, which hosts behind a login node need",
            "upgrade the OpenSSH client: KnownHostsCommand (8.5) carries the host keys a login "
            "node vouches for",
            first,
        )
    return ok(f"{name}, ControlMaster supported", first)


def resolved(target: SshTarget) -> Outcome:
    """The destination as ``ssh -G`` resolves it: host name, user, port, jumps."""
    done = hostkeys.ssh_config(target)
    if done.returncode != 0:
        said = done.stderr.strip() or f"exit code {done.returncode}"
        return fail(
            f"ssh cannot read its configuration for {target.destination}: {said}",
            "fix the ssh config file it names (ssh -G HOST shows what ssh makes of it)",
        )
    settings = hostkeys.parse_settings(done.stdout)
    host = settings.get("hostname", target.destination)
    user = settings.get("user", "?")
    port = settings.get("port", "22")
    jumps = (*target.jumps,) or tuple(
        hop for hop in settings.get("proxyjump", "none").split(",") if hop != "none"
    )
    via = f" via {' → '.join(jumps)}" if jumps else ""
    detail = "\n".join(
        f"{key} {settings[key]}"
        for key in ("hostname", "user", "port", "proxyjump", "proxycommand", "identityfile")
        if key in settings and settings[key] != "none"
    )
    return ok(f"{user}@{host} port {port}{via}", detail)


def ports(wanted: int | None) -> Outcome:
    """A free port on 127.0.0.1 for the tunnel, which hoplab's relay serves in front of ssh's
    forward of a private Unix socket (``--port``: that one)."""
    if wanted is not None:
        if port_is_free(wanted):
            return ok(f"{LOOPBACK}:{wanted} is free")
        return fail(
            f"{LOOPBACK}:{wanted} (--port) is taken by another program",
            "leave out --port (hoplab picks a free one), or name another",
        )
    return ok(f"free ports on {LOOPBACK} (for example {free_port()})")


def state_modes() -> Outcome:
    """hoplab's local directories 0700 and files 0600 (sessions, tokens, vouched host keys)."""
    loose: list[str] = []
    missing: list[str] = []
    for top in (state_path(), runtime_path()):
        if not top.exists():
            missing.append(str(top))
            continue
        loose += _loose(top)
    if loose:
        return warn(
            f"{len(loose)} of hoplab's local files or directories are open to others",
            "chmod 700 the directories and 600 the files listed (hoplab makes them so; "
            "something changed them)",
            "\n".join(loose),
        )
    there = [str(top) for top in (state_path(), runtime_path()) if str(top) not in missing]
    note = f"not made yet (hoplab makes them 0700): {', '.join(missing)}" if missing else ""
    if not there:
        return ok("not made yet: hoplab makes its directories 0700 and files 0600", note)
    return ok(f"private (directories 0700, files 0600): {', '.join(there)}", note)


def _loose(top: Path) -> list[str]:
    """Entries under ``top`` (itself included) that others can read or enter."""
    found: list[str] = []
    for path in (top, *top.rglob("*")):  # (rglob does not descend into symbolic links)
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            found.append(f"{path}: a symbolic link")
        elif info.st_uid != os.getuid():
            found.append(f"{path}: owned by uid {info.st_uid}")
        elif stat.S_IMODE(info.st_mode) & 0o077 and not stat.S_ISSOCK(info.st_mode):
            found.append(f"{path}: mode {stat.S_IMODE(info.st_mode):04o}")
    return sorted(set(found))
