"""``hoplab attach ID --script FILE``: a portable script that reconnects without hoplab."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hoplab.errors import SessionStateError
from hoplab.records.model import APP_PATHS
from hoplab.scripts.reconnect import Hop, ReconnectSpec, render
from hoplab.sessions import hostside
from hoplab.ssh import hostkeys
from hoplab.tunnel.chain import hops

if TYPE_CHECKING:
    from pathlib import Path

    from hoplab.records.model import Session
    from hoplab.records.store import SessionStore
    from hoplab.ssh.target import SshTarget


@dataclass(frozen=True)
class ScriptResult:
    """Where the script was written, the hops it opens, and whether it carries a host key
    the login node vouched for (a compute node's)."""

    session: Session
    path: Path
    hops: tuple[str, ...]
    carries_key: bool


def write_script(
    session_id: str, store: SessionStore, path: Path, *, interactive: bool
) -> ScriptResult:
    """Connect the session's chain once (which fetches the node's vouched key when this laptop
    lacks it), then write the script, 0700."""
    session = hostside.live_session(session_id, store)
    if session.remote is None:
        raise SessionStateError(
            f"session {session.id} has no Jupyter endpoint yet",
            "wait until 'hoplab ls' shows it ready, then run this again",
        )
    login = hostside.login(session, interactive=interactive)
    carrier = hostside.host(session, login, interactive=False)
    chain = [*reversed(hops(session.ssh_target)), session.ssh_target]
    home = len(chain)
    if carrier.target != login.target:
        chain.append(carrier.target)
    spec = ReconnectSpec(
        session.id,
        tuple(_hop(target) for target in chain),
        home=home,
        remote=session.remote,
        base_url=session.base_url,
        app_path=APP_PATHS[session.app],
        label=session.target,
    )
    _write(path, render(spec))
    return ScriptResult(
        session,
        path,
        tuple(hop.destination for hop in spec.hops),
        carries_key=any(hop.keys for hop in spec.hops),
    )


def _hop(target: SshTarget) -> Hop:
    """How the script reaches ``target``: as this laptop's ssh config resolves it; a host the
    cluster named (a node) with the keys its login node vouched for."""
    resolved = hostkeys.resolve(target)
    # every hop carries the keys that vouch for it here: another machine's known_hosts (or
    # this one's, when the user's config is not the one hoplab was given) may not list them
    keys = tuple(hostkeys.key_lines(resolved))
    found = hostkeys.identities(target)
    return Hop(
        target.destination,
        resolved.hostname,
        resolved.user,
        resolved.port,
        keys,
        found.files,
        found.only,
    )


def _write(path: Path, text: str) -> None:
    """Atomically, mode 0700 from the first byte (the script names hosts and paths)."""
    temporary = path.with_name(f".{path.name}.hoplab-tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    temporary.chmod(0o700)
    temporary.replace(path)
