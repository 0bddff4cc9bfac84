"""Host keys the laptop has never seen, vouched for by the login node that reaches them.

A laptop never has the compute nodes' keys, and often not those of hosts behind a jump. Host key
checking stays on: what ssh resolves for the destination (``ssh -G``) is looked up in the
user's own known_hosts files first; when none lists it, hoplab keeps the keys the login node
vouched for in a file of its own (0600), which ssh reads through ``KnownHostsCommand`` in
addition to the user's files (OpenSSH 8.5+). Nothing here decides what to trust: the caller
brings the lines the login node gave.
"""

from __future__ import annotations

import hashlib
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hoplab import process
from hoplab.paths import private_dir, state_dir
from hoplab.ssh.target import SshTarget

if TYPE_CHECKING:
    from hoplab.process import Completed

DEFAULT_PORT = 22


@dataclass(frozen=True)
class Resolved:
    """How ssh will check the destination's key: under which name, in which files."""

    names: tuple[str, ...]  # the name ssh checks first (HostKeyAlias or HostName), then others
    port: int
    files: tuple[Path, ...]  # the user's and the system's known_hosts files
    proxy_jump: tuple[str, ...]  # ProxyJump hops from the user's config, if any
    hostname: str = ""  # the address ssh connects to (HostName)
    user: str = ""  # the user ssh logs in as

    @property
    def check_name(self) -> str:
        """The host field ssh looks up: ``name`` or ``[name]:port``."""
        name = self.names[0]
        return name if self.port == DEFAULT_PORT else f"[{name}]:{self.port}"


def ssh_config(target: SshTarget) -> Completed:
    """``ssh -G`` for ``target``'s destination, read with the user's config (``-F``)."""
    bare = SshTarget(target.destination, (), target.config_file, as_named=target.as_named)
    return process.run(bare.argv("-G"), check=False, timeout=10)


def parse_settings(text: str) -> dict[str, str]:
    """``ssh -G``'s lines as keyword (lower case) -> its first value."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        found.setdefault(key.lower(), value)
    return found


@dataclass(frozen=True)
class Identities:
    """The keys ssh offers for a destination: the IdentityFile entries of ``ssh -G`` that exist
    here (as the config wrote them, ``~`` kept), and whether only those are offered."""

    files: tuple[str, ...]
    only: bool


def identities(target: SshTarget) -> Identities:
    """What a script or an ssh config block outside hoplab must say to log in as hoplab does."""
    files: list[str] = []
    only = False
    for line in ssh_config(target).stdout.splitlines():
        key, _, value = line.partition(" ")
        if key.lower() == "identityfile" and Path(value).expanduser().is_file():
            files.append(value)
        elif key.lower() == "identitiesonly":
            only = value == "yes"
    return Identities(tuple(dict.fromkeys(files)), only)


def resolve(target: SshTarget) -> Resolved:
    """How ssh checks ``target``'s destination, from what ``ssh -G`` says about it."""
    settings = parse_settings(ssh_config(target).stdout)
    host = settings.get("hostname", target.destination.rpartition("@")[2])
    alias = settings.get("hostkeyalias", "none")
    destination = target.destination.rpartition("@")[2]
    names = [alias] if alias != "none" else []
    names += [n for n in (host, destination) if n not in names]
    files = [
        Path(word).expanduser()
        for key in ("userknownhostsfile", "globalknownhostsfile")
        for word in shlex.split(settings.get(key, ""))
        if word != "/dev/null"
    ]
    jump = settings.get("proxyjump", "none")
    hops = tuple(_as_destination(hop) for hop in jump.split(",")) if jump != "none" else ()
    return Resolved(
        tuple(names),
        int(settings.get("port", DEFAULT_PORT)),
        tuple(files),
        hops,
        hostname=host,
        user=settings.get("user", ""),
    )


def _as_destination(hop: str) -> str:
    """A ProxyJump hop (``[user@]host[:port]``) as an ssh destination."""
    if ":" in hop and not hop.startswith("ssh://") and hop.count(":") == 1:
        return f"ssh://{hop}"
    return hop


def known(resolved: Resolved, files: tuple[Path, ...]) -> bool:
    """Whether any of ``files`` lists a key for the destination (``ssh-keygen -F``)."""
    for path in files:
        if not path.is_file():
            continue
        done = process.run(
            ["ssh-keygen", "-F", resolved.check_name, "-f", str(path)], check=False, timeout=10
        )
        if done.returncode == 0 and done.stdout.strip():
            return True
    return False


def key_lines(resolved: Resolved) -> list[str]:
    """The known_hosts lines that vouch for the destination: hoplab's own file (what the login
    node vouched for), else the matching lines of the user's files (``ssh-keygen -F``)."""
    vouched = vouched_file(resolved)
    if vouched.is_file():
        text = vouched.read_text(encoding="utf-8")
        return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    for path in resolved.files:
        if not path.is_file():
            continue
        done = process.run(
            ["ssh-keygen", "-F", resolved.check_name, "-f", str(path)], check=False, timeout=10
        )
        found = [line for line in done.stdout.splitlines() if line and not line.startswith("#")]
        if done.returncode == 0 and found:
            return found
    return []


def vouched_file(resolved: Resolved) -> Path:
    """hoplab's own known_hosts for this destination (a file per name and port)."""
    digest = hashlib.sha256(f"{resolved.check_name}".encode()).hexdigest()[:16]
    return private_dir(state_dir() / "known_hosts") / digest


def record(resolved: Resolved, lines: list[str]) -> Path:
    """Write the vouched ``lines`` (``keytype key``, or ``@cert-authority ...`` as they are)
    for the destination, under the names ssh will look up; 0600, atomically."""
    names = ",".join(
        name if resolved.port == DEFAULT_PORT else f"[{name}]:{resolved.port}"
        for name in resolved.names
    )
    text = "".join(
        f"{line}\n" if line.startswith("@cert-authority ") else f"{names} {line}\n"
        for line in lines
    )
    path = vouched_file(resolved)
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    temporary.replace(path)
    return path
