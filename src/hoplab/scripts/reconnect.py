"""Render the portable reconnect script: quoted settings and hops above a static body.

The script (``reconnect.sh``) recreates a session's tunnel on any Linux or macOS machine with
OpenSSH and the user's credentials. It holds no token: it reads it over ssh at run time from
the remote session directory. Every value is :func:`shlex.quote`\\ d; host names are checked to
be names a cluster gives, because the script also names them inside a ProxyCommand.
"""

from __future__ import annotations

import secrets
import shlex
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from hoplab.errors import ConfigError
from hoplab.ssh.target import CLUSTER_NAME, refuse_option_like


@cache
def _body() -> str:
    return files("hoplab.scripts").joinpath("reconnect.sh").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Hop:
    """One ssh hop as the script opens it: ``destination`` read with the user's ssh config,
    forced to ``hostname``, ``user`` and ``port`` as this laptop resolved them (a machine
    without that config still gets there); ``keys``: known_hosts lines the login node vouched
    for (a compute node's), carried in the script."""

    destination: str
    hostname: str
    user: str
    port: int
    keys: tuple[str, ...] = ()
    identity_files: tuple[str, ...] = ()  # as the laptop's config names them (~ kept)
    identities_only: bool = False

    def __post_init__(self) -> None:
        refuse_option_like(self.destination)
        if not CLUSTER_NAME.fullmatch(self.hostname):
            raise ConfigError(f"{self.hostname!r} is not a host name the script can carry")
        if any(c.isspace() for c in self.user) or self.user.startswith("-"):
            raise ConfigError(f"{self.user!r} is not a user name the script can carry")
        if any("\n" in line or not line.strip() for line in self.keys):
            raise ConfigError("a known_hosts line is empty or holds a line break")
        if any("\n" in path or not path.strip() for path in self.identity_files):
            raise ConfigError("an identity file name is empty or holds a line break")


@dataclass(frozen=True)
class ReconnectSpec:
    """Everything the script needs; none of it secret."""

    session_id: str
    hops: tuple[Hop, ...]  # from the laptop on; the forward rides the last one
    home: int  # 1-based: the hop whose home holds the session directory (the token)
    remote: str  # the forward's far end: Jupyter's socket path, or ADDRESS:PORT
    base_url: str = "/"
    app_path: str = "lab"
    label: str = ""  # how the user named the target, for the comment on top

    def __post_init__(self) -> None:
        if not self.hops or not 1 <= self.home <= len(self.hops):
            raise ValueError("a reconnect script needs its hops and the one holding the token")


def render(spec: ReconnectSpec) -> str:
    """The whole script, ``#!/bin/sh`` first."""
    settings = "\n".join(
        f"{name}={shlex.quote(value)}"
        for name, value in (
            ("HOPLAB_ID", spec.session_id),
            ("HOPLAB_HOME", str(spec.home)),
            ("HOPLAB_REMOTE", spec.remote),
            ("HOPLAB_BASE", spec.base_url),
            ("HOPLAB_APP_PATH", spec.app_path),
        )
    )
    # A line for the remote sh, quoted whole here (what it expands, it expands there).
    settings += "\n# shellcheck disable=SC2016\n"
    settings += f"HOPLAB_READ_TOKEN={shlex.quote(read_token(spec.session_id))}"
    header = (
        f"#!/bin/sh\n# Reconnect to hoplab session {spec.session_id}"
        + (f" on {spec.label}" if spec.label else "")
        + ", without hoplab: run it, open the URL it prints, Ctrl-C ends the tunnel.\n"
        "# Needs OpenSSH and your ssh credentials; holds no token (it reads it over ssh).\n"
        "# Written by 'hoplab attach ID --script FILE'.\n"
    )
    body = _body().replace("#@HOPS@", _hops(spec.hops))
    return f"{header}{settings}\n{body}"


def read_token(session_id: str) -> str:
    """The remote sh line that prints the session's token on a marked line (the login
    shell's banners around it are not read)."""
    path = f'"$HOME"/.hoplab/sessions/{shlex.quote(session_id)}/token'
    return f"printf '\\n@hoplab-token %s\\n' \"$(cat {path})\""


def _hops(hops: tuple[Hop, ...]) -> str:
    lines: list[str] = []
    for number, hop in enumerate(hops, start=1):
        keys = ""
        if hop.keys:
            end = f"HOPLAB_KEYS_{secrets.token_hex(6)}"
            text = "\n".join(hop.keys)
            lines.append(f"cat >\"$tmp/keys{number}\" <<'{end}'\n{text}\n{end}")
            keys = f' "$tmp/keys{number}"'
        words = [hop.destination, hop.hostname, hop.user, str(hop.port)]
        options = [f"-oIdentityFile={path}" for path in hop.identity_files]
        if hop.identities_only:
            options.append("-oIdentitiesOnly=yes")
        extra = f" {shlex.join(options)}" if options else ""
        lines.append(f"open_hop {shlex.join(words)}{keys or ' ' + shlex.quote('')}{extra}")
    return "\n".join(lines)
