"""Where hoplab keeps things locally, and the private-directory check they all share."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hoplab.errors import HoplabError


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) as a 0700 directory owned by us, or refuse.

    A directory someone else owns, or a symlink, could let another user read our sockets,
    tokens or state, so it is an error rather than something to work around.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise HoplabError(
            f"{path} is not a plain directory", f"remove it; hoplab recreates {path} itself"
        )
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise HoplabError(
            f"{path} belongs to another user (uid {info.st_uid})",
            "another user may be trying to intercept your sessions; remove it or set "
            "HOPLAB_RUNTIME_DIR to a directory of your own",
        )
    if stat.S_IMODE(info.st_mode) != 0o700:
        path.chmod(0o700)
    return path


def state_dir() -> Path:
    """The session database and per-session local files (HOPLAB_STATE_DIR overrides)."""
    override = os.environ.get("HOPLAB_STATE_DIR")
    if override:
        return private_dir(Path(override))
    from platformdirs import user_state_dir

    return private_dir(Path(user_state_dir("hoplab")))


def runtime_dir() -> Path:
    """Short-lived local files with short paths: ssh ControlMaster sockets.

    A Unix socket path must fit 104 bytes on macOS (ssh adds 17 for a temporary name), so this
    is ``/tmp/hoplab-<uid>`` rather than a long platform directory. HOPLAB_RUNTIME_DIR overrides.
    """
    override = os.environ.get("HOPLAB_RUNTIME_DIR")
    if override:
        return private_dir(Path(override))
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return private_dir(Path("/tmp") / f"hoplab-{uid}")


def config_file() -> Path:
    """The profiles file (HOPLAB_CONFIG overrides)."""
    override = os.environ.get("HOPLAB_CONFIG")
    if override:
        return Path(override)
    from platformdirs import user_config_dir

    return Path(user_config_dir("hoplab")) / "config.toml"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 from the first byte, atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    tmp.replace(path)
