"""Where hoplab keeps things locally, and the private-directory check they all share."""

from __future__ import annotations

import os
import stat
import sys
import threading
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
    if info.st_uid != os.getuid():
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
    return private_dir(state_path())


def state_path() -> Path:
    """Where :func:`state_dir` is, without making it or changing its mode (to inspect it)."""
    override = os.environ.get("HOPLAB_STATE_DIR")
    if override:
        return Path(override)
    from platformdirs import user_state_dir

    return Path(user_state_dir("hoplab"))


# ssh first binds a new ControlMaster socket under a temporary name: the ControlPath plus "." and
# 16 random characters, which must fit too.
SSH_TEMPORARY_SUFFIX = 17


def socket_path_limit() -> int:
    """Bytes a Unix socket path may have here: ``sun_path`` is 108 bytes on Linux (WSL too) and
    104 on macOS and the BSDs, the terminating NUL included."""
    return 108 if sys.platform.startswith("linux") else 104


def fitting_socket_path(path: Path, *, extra: int = 0) -> Path:
    """``path`` if it (plus ``extra`` bytes that the program binding it appends) fits a Unix
    socket address on this system; otherwise an error that says what to shorten."""
    size = len(os.fsencode(path)) + extra
    limit = socket_path_limit() - 1
    if size > limit:
        added = f", with the {extra} bytes ssh adds for its temporary name," if extra else ""
        raise HoplabError(
            f"the socket path {path} is too long{added} for a Unix socket on this system "
            f"({size} bytes; at most {limit})",
            "set HOPLAB_RUNTIME_DIR to a short private directory, for example /tmp/hoplab-$(id -u)",
        )
    return path


def runtime_dir() -> Path:
    """Short-lived local files with short paths: ssh ControlMaster sockets.

    A Unix socket path must fit 104 bytes on macOS (108 on Linux), and ssh adds 17 for a
    temporary name, so this is ``/tmp/hoplab-<uid>`` rather than a long platform directory.
    HOPLAB_RUNTIME_DIR overrides; :func:`fitting_socket_path` checks what is made of it.
    """
    return private_dir(runtime_path())


def runtime_path() -> Path:
    """Where :func:`runtime_dir` is, without making it or changing its mode."""
    override = os.environ.get("HOPLAB_RUNTIME_DIR")
    if override:
        return Path(override)
    return Path("/tmp") / f"hoplab-{os.getuid()}"


def config_file() -> Path:
    """The profiles file (HOPLAB_CONFIG overrides)."""
    override = os.environ.get("HOPLAB_CONFIG")
    if override:
        return Path(override)
    from platformdirs import user_config_dir

    return Path(user_config_dir("hoplab")) / "config.toml"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 from the first byte, atomically. Each writer
    has its own temporary file: two threads (or processes) writing one note at once must not
    take each other's away before the rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    tmp.replace(path)
