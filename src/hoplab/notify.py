"""Notices that matter: a desktop notification when one can be shown, for a user looking away.

The library decides *when* something deserves a notice (Jupyter ready after a wait in the
queue, the walltime warning, a job that ended on its own, a supervisor that lost its session
or needs a new authentication) and hands a :class:`Notice` to the notifier it was given, as it
hands progress steps. The CLI's notifier rings the terminal bell when a terminal is attached
and calls :func:`send`, which runs ``notify-send`` (Linux, libnotify) or ``osascript`` (macOS)
when the machine has it, and does nothing otherwise. ``--no-notify`` (``notify = false``)
turns them off.

A notice's text is built from the session id, hosts and states only: never a URL with its
token. It goes to the notifier as argv (a notification daemon shows it, ``ps`` shows it
briefly), so nothing secret may ever be put in it.
"""

from __future__ import annotations

import logging
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from hoplab import process
from hoplab.errors import HoplabError

log = logging.getLogger(__name__)

TITLE = "hoplab"
# Jupyter ready after more than this many seconds in the queue is worth a notice: the user
# has turned to something else by then. A job that starts at once is seen in the terminal.
QUEUE_NOTICE_AFTER = 10.0
SEND_TIMEOUT = 5.0


class Topic(str, Enum):
    """Why a notice is sent."""

    READY = "ready"  # Jupyter is ready, after a wait in the queue
    WALLTIME = "walltime"  # the job's walltime ends soon
    ENDED = "ended"  # the job ended on its own (walltime, cancelled outside, node failure)
    LOST = "lost"  # the supervisor lost the session, or gave up on its tunnel
    AUTH = "auth"  # reconnecting needs an authentication the supervisor cannot ask for


@dataclass(frozen=True)
class Notice:
    """One notice: what it is about and the sentence shown (never a token or a URL)."""

    topic: Topic
    session_id: str
    message: str


Notifier = Callable[[Notice], None]


def quiet(_: Notice) -> None:
    """A notifier that tells nobody (``--no-notify``, tests)."""


def ready(session_id: str, host: str, queued: float) -> Notice | None:
    """The notice for a session that became ready after ``queued`` seconds in the queue, if
    that wait was long enough for the user to have looked away."""
    if queued <= QUEUE_NOTICE_AFTER:
        return None
    return Notice(
        Topic.READY,
        session_id,
        f"{session_id}: Jupyter is ready on {host} after {_duration(queued)} in the queue",
    )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# -- the desktop ---------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def applescript_string(text: str) -> str:
    """``text`` as an AppleScript string literal: in double quotes, with ``\\`` and ``"``
    escaped, and line breaks and other control characters as one space."""
    flat = _CONTROL.sub(" ", text)
    return '"' + flat.replace("\\", "\\\\").replace('"', '\\"') + '"'


def desktop_argv(
    notice: Notice,
    *,
    platform: str | None = None,
    which: Callable[[str], str | None] | None = None,
) -> list[str] | None:
    """The command that shows ``notice`` on this desktop (``platform``, default this one's),
    or None when there is none."""
    platform = sys.platform if platform is None else platform
    which = shutil.which if which is None else which
    body = _CONTROL.sub(" ", notice.message)
    if platform == "darwin":
        osascript = which("osascript")
        if osascript is None:
            return None
        script = (
            f"display notification {applescript_string(body)} "
            f"with title {applescript_string(TITLE)}"
        )
        return [osascript, "-e", script]
    if platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        notify_send = which("notify-send")
        if notify_send is None:
            return None
        # "--": a message that starts with "-" is still the message, never an option
        return [notify_send, f"--app-name={TITLE}", "--", TITLE, body]
    return None


def send(notice: Notice) -> bool:
    """Show ``notice`` on the desktop; False when there is no way to, or it failed (a notice
    is a courtesy: its failure never stops what hoplab is doing)."""
    argv = desktop_argv(notice)
    if argv is None:
        return False
    try:
        done = process.run(argv, timeout=SEND_TIMEOUT, check=False)
    except HoplabError as exc:
        log.debug("no desktop notification: %s", exc.message)
        return False
    if done.returncode != 0:
        log.debug("no desktop notification: %s", done.stderr.strip())
    return done.returncode == 0
