"""The sandbox's users and their ssh keys.

The remote side runs as ordinary users, as it does for real researchers: ``hopuser`` and
``hopother`` (the second one checks that nothing of a session is open to a colleague on the
same node). Their homes are shared by every namespace, like a cluster's shared home. The users
stay after teardown, like installed packages; keys are made once and kept.
"""

from __future__ import annotations

import pwd
from pathlib import Path

from hoplab import process
from hoplab.errors import SandboxError
from hoplab.testing.tools import tool

SHADOW = Path("/etc/shadow")


def _password_field(user: str) -> str | None:
    for line in SHADOW.read_text().splitlines():
        name, _, rest = line.partition(":")
        if name == user:
            return rest.partition(":")[0]
    return None


def ensure_user(user: str) -> pwd.struct_passwd:
    """Create ``user`` (with a home and bash) if missing, and make it able to log in by key.

    ``useradd`` leaves the password locked ("!"); a root sshd with ``UsePAM no`` then refuses
    the account as locked, even for key logins. ``*`` means "no password, not locked".
    """
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        process.run([tool("useradd"), "-m", "-s", "/bin/bash", user])
        entry = pwd.getpwnam(user)
    if _password_field(user) != "*":
        process.run([tool("usermod"), "-p", "*", user])
    if not Path(entry.pw_dir).is_dir():
        raise SandboxError(
            f"the home directory of {user} ({entry.pw_dir}) does not exist",
            f"remove the user (userdel {user}) and let the sandbox create it again",
        )
    return entry


def ensure_key(path: Path, comment: str) -> str:
    """Make an ed25519 key pair at ``path`` unless there is one; return the public key line."""
    public = path.with_name(path.name + ".pub")
    if not (path.exists() and public.exists()):
        path.unlink(missing_ok=True)
        public.unlink(missing_ok=True)
        process.run(
            [tool("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)]
        )
    path.chmod(0o600)
    return public.read_text().strip()


def write_authorized_keys(directory: Path, user: str, public_key: str) -> None:
    """The one key ``user`` may log in with, in a file sshd reads as that user (mode 644)."""
    target = directory / user
    target.write_text(public_key + "\n")
    target.chmod(0o644)
