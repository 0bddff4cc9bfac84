"""Hand Jupyter's URL, token included, to the local browser: never in argv, no page left behind.

Whatever hoplab asks the browser to open ends up in the browser's command line, which every
local user can read (``ps``). So hoplab opens a *file*: a redirect page, mode 0600 in its 0700
state directory (``open/``); its path says nothing, and only this user can read the token in it.
A one-shot HTTP handler on 127.0.0.1 would keep the token off the disk, but its URL would have
to carry a secret in that same command line, and any local user could fetch it first.

The page is removed as soon as the browser has read it (the file's access time moves past its
modification time), and after :data:`READ_TIMEOUT` seconds in any case. A browser that never
reads it is reported with the likely reason: snap- and flatpak-packaged browsers cannot read
hidden folders in the home directory, while ``xdg-open`` still reports success.
"""

from __future__ import annotations

import webbrowser
from dataclasses import dataclass
from enum import Enum
from html import escape
from typing import TYPE_CHECKING

from hoplab.errors import WaitTimeoutError
from hoplab.paths import private_dir, state_dir, write_private
from hoplab.waiting import wait_until

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

READ_TIMEOUT = 30.0


class Opened(str, Enum):
    """What became of the page."""

    READ = "read"  # the browser read it; removed
    UNREAD = "unread"  # a browser was started but never read it in time; removed
    NO_BROWSER = "no-browser"  # no browser could be started; removed at once


@dataclass(frozen=True)
class Handoff:
    """The outcome of handing a URL to the browser, with the sentence to show when it failed."""

    opened: Opened
    page: Path
    timeout: float = 0.0  # how long it waited for the browser to read the page

    @property
    def reason(self) -> str | None:
        if self.opened is Opened.NO_BROWSER:
            return "could not start a browser here; open the URL above yourself"
        if self.opened is Opened.UNREAD:
            return (
                f"the browser did not open the page within {self.timeout:g} s (a snap or flatpak "
                f"browser cannot read hidden folders such as {self.page.parent}); "
                "open the URL above yourself"
            )
        return None


def page_path(session_id: str) -> Path:
    return private_dir(state_dir() / "open") / f"{session_id}.html"


def write_page(session_id: str, url: str) -> Path:
    """The 0600 redirect page to ``url`` (with its token) for ``session_id``."""
    page = page_path(session_id)
    write_private(
        page,
        '<!DOCTYPE html><meta charset="utf-8">'
        '<meta name="referrer" content="no-referrer">'
        f'<meta http-equiv="refresh" content="0;url={escape(url)}">'
        f'<p>Opening Jupyter… <a href="{escape(url)}">continue</a></p>',
    )
    return page


def was_read(page: Path) -> bool:
    """Whether something read ``page`` since it was written (its access time moved on).

    A file system mounted ``noatime`` never says so; the bounded wait covers that.
    """
    try:
        info = page.stat()
    except FileNotFoundError:
        return True
    return info.st_atime_ns > info.st_mtime_ns


def hand_over(
    session_id: str,
    url: str,
    *,
    opener: Callable[[str], bool] = webbrowser.open,
    timeout: float | None = None,
) -> Handoff:
    """Open ``url`` in the browser through a private page; remove the page once read (or after
    ``timeout``, :data:`READ_TIMEOUT` by default). Blocks until then: callers that must not
    wait run it in a thread."""
    timeout = READ_TIMEOUT if timeout is None else timeout
    page = write_page(session_id, url)
    try:
        if not opener(page.as_uri()):
            return Handoff(Opened.NO_BROWSER, page)
        try:
            wait_until(
                lambda: was_read(page), timeout, what="the browser to read the page", cap=0.2
            )
        except WaitTimeoutError:
            return Handoff(Opened.UNREAD, page, timeout)
        return Handoff(Opened.READ, page)
    finally:
        page.unlink(missing_ok=True)
