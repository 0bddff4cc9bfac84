"""An ssh destination with its jump chain and config file, and the argv that reaches it."""

from __future__ import annotations

import hashlib
import re
import shlex
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hoplab.errors import ConfigError, SshError

if TYPE_CHECKING:
    from hoplab.process import Completed

# Options every hoplab ssh call carries. Keepalives let a dead path be noticed within ~45 s;
# ExitOnForwardFailure makes a forward that cannot bind an error instead of a silent no-op;
# hoplab runs its own commands, so a RemoteCommand or RequestTTY of the user's config (set for
# `tmux attach` and the like) must not replace or wrap them.
COMMON_OPTIONS = (
    "-o",
    "RemoteCommand=none",
    "-o",
    "RequestTTY=no",
    "-o",
    "ServerAliveInterval=15",
    "-o",
    "ServerAliveCountMax=3",
    "-o",
    "ExitOnForwardFailure=yes",
    "-o",
    "ConnectTimeout=20",
)


@dataclass(frozen=True)
class SshTarget:
    """Where ssh goes: ``destination`` through ``jumps`` (in order), read with ``config_file``."""

    destination: str
    jumps: tuple[str, ...] = ()
    config_file: str | None = None
    # ControlPath of a live master to the last jump: reach the destination through it (one
    # authentication for the whole chain) instead of a fresh ProxyJump login.
    via: str | None = None
    # hoplab's own known_hosts file for the destination (keys the login node vouched for),
    # read in addition to the user's files (see hoplab.ssh.hostkeys).
    known_hosts: str | None = None
    # The destination is a name the cluster gave (a node, the login node a session runs on):
    # the last jump host resolves it, not the laptop's ssh config (HostName is set to it).
    as_named: bool = False

    def __post_init__(self) -> None:
        for host in (*self.jumps, self.destination):
            refuse_option_like(host)
        if self.as_named and not CLUSTER_NAME.fullmatch(self.destination):
            raise ConfigError(f"{self.destination!r} is not a host name a cluster would give")

    @property
    def label(self) -> str:
        """The chain as a person reads it: ``gateway → login01``."""
        return " → ".join((*self.jumps, self.destination))

    @property
    def key(self) -> str:
        """A short stable name for this chain (ControlPath file name, reuse lookups)."""
        raw = "\0".join((self.config_file or "", *self.jumps, self.destination))
        if self.as_named:
            raw += "\0as-named"
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def argv(self, *options: str, tty: bool = False) -> list[str]:
        """``ssh [-F config] [-J hops] COMMON options... destination`` (command not included).

        ``tty`` asks for a terminal on the remote side (``hoplab shell``, the one place a
        person types into it); every other call runs with ``RequestTTY=no``.
        """
        argv = ["ssh"]
        if self.config_file:
            argv += ["-F", self.config_file]
        if self.jumps and self.via:
            argv += ["-o", f"ProxyCommand={self.proxy_command()}"]
        elif self.jumps:
            argv += ["-J", ",".join(self.jumps)]
        if self.known_hosts:
            argv += ["-o", f"KnownHostsCommand={known_hosts_command(self.known_hosts)}"]
        if self.as_named:
            argv += ["-o", f"HostName={self.destination}"]
        common = (
            COMMON_OPTIONS
            if not tty
            else tuple(
                "RequestTTY=yes" if word == "RequestTTY=no" else word for word in COMMON_OPTIONS
            )
        )
        return [*argv, *common, *options, "--", self.destination]

    def proxy_command(self, *, batch: bool = True) -> str:
        """``ssh -W %h:%p`` through the master at ``via`` (ssh runs it with the user's shell).

        ``batch`` (hoplab's own calls) fails at once when that master is gone; without it (an
        ssh config block for other clients) ssh logs in to the last jump afresh instead.
        """
        hop = SshTarget(self.jumps[-1], self.jumps[:-1], self.config_file)
        options = ["-o", f"ControlPath={self.via}", "-o", "ControlMaster=no"]
        if batch:
            options += ["-o", "BatchMode=yes"]
        argv = hop.argv(*options, "-W", "%h:%p")
        # ssh expands %-tokens in ProxyCommand: keep ours, double every other %.
        return " ".join(
            word if word == "%h:%p" else shlex.quote(word).replace("%", "%%") for word in argv
        )


CLUSTER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}")


def known_hosts_command(path: str) -> str:
    """``KnownHostsCommand`` that prints ``path`` (ssh splits it itself, expanding %-tokens)."""
    cat = shutil.which("cat") or "/bin/cat"
    return " ".join(shlex.quote(word).replace("%", "%%") for word in (cat, path))


def refuse_option_like(host: str) -> None:
    """A host that ssh would read as an option (``-oProxyCommand=...``) is never passed on."""
    if not host or host.startswith("-") or any(c.isspace() or c == "\0" for c in host):
        raise ConfigError(
            f"{host!r} is not a host name: it is empty, starts with '-' or holds a space, "
            "and ssh would read it as an option or two words",
            key="target",
            hint="give the host as ssh knows it (an alias from ~/.ssh/config, or user@host); "
            "ssh options belong in your ssh config",
        )


# ssh's own words, and what a researcher can do about each.
HINTS = (
    (
        "Could not resolve hostname",
        (
            "check the host name, or the alias in your ssh config "
            "('ssh -G HOST' shows what ssh resolves it to)"
        ),
    ),
    (
        "Connection refused",
        "nothing accepts ssh there: check the host and port, and that sshd runs",
    ),
    (
        "No route to host",
        (
            "the host is not reachable from here: do you need --jump (a login or "
            "gateway host) or a VPN?"
        ),
    ),
    ("timed out", "the host did not answer: check the network, VPN, or --jump"),
    (
        "Permission denied",
        (
            "authentication failed: load your key with 'ssh-add', check the user "
            "name (user@host), or try 'ssh HOST' by hand; hoplab uses your ssh config as it is"
        ),
    ),
    (
        "Host key verification failed",
        (
            "the host key is unknown or changed: connect once with "
            "plain 'ssh HOST' to check and accept it"
        ),
    ),
    ("UNPROTECTED PRIVATE KEY", "your private key file is readable by others: chmod 600 it"),
)


def ssh_error(target: SshTarget, stderr: str) -> SshError:
    """Turn ssh's stderr (exit 255) into an :class:`SshError` with a hint."""
    hint = next((text for needle, text in HINTS if needle in stderr), "")
    lines = [line for line in stderr.strip().splitlines() if not line.startswith("Warning:")]
    return SshError(target.label, "\n".join(lines[-3:]), hint)


def raise_for_ssh(target: SshTarget, done: Completed, *, always: bool = False) -> None:
    """Raise when ssh itself failed (exit 255), or on any failure when ``always``."""
    if done.returncode == 255 or (always and done.returncode != 0):
        raise ssh_error(target, done.stderr)
