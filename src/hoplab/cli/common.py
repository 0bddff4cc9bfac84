"""What several commands share: the store, progress lines, the browser, JSON output."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from hoplab.cli.render import err, escape, out

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rich.status import Status

    from hoplab.notify import Notice, Notifier
    from hoplab.records.model import Session
    from hoplab.sessions.orphans import Place
    from hoplab.sessions.progress import Step

JSON_VERSION = 1


def interactive() -> bool:
    """Whether ssh may ask for a password or a second factor: it asks on the controlling
    terminal (/dev/tty) whatever stdout and stderr are redirected to, or through SSH_ASKPASS.
    Without either, ssh runs in batch mode and fails at once instead of hanging."""
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        askpass = os.environ.get("SSH_ASKPASS")
        return bool(askpass) and (
            bool(os.environ.get("DISPLAY")) or os.environ.get("SSH_ASKPASS_REQUIRE") == "force"
        )
    return True


class ProgressLines:
    """Shows each step as a line with its time, with a spinner while a step runs.

    Without a terminal (a log, a CI job) a running step is one "…" line per new message,
    so a long wait in the queue still says what it waits for.
    """

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet
        self._status: Status | None = None
        self._last = ""

    def clear(self) -> None:
        """Stop the spinner of the running step, if one shows (before printing a line)."""
        if self._status is not None:
            self._status.stop()
            self._status = None

    def __call__(self, step: Step) -> None:
        if self.quiet:
            return
        self.clear()
        if not step.done:
            # No spinner while connecting: ssh may be asking for a password in this terminal.
            if step.name == "connect":
                return
            if err.is_terminal:
                took = f" {step.seconds:.0f} s" if step.seconds else ""
                self._status = err.status(escape(step.message) + took)
                self._status.start()
            elif step.message != self._last:
                err.print(f"… {escape(step.message)}")
            self._last = step.message
            return
        took = f" [dim]({step.seconds:.2f} s)[/]" if step.seconds else ""
        err.print(f"[green]✓[/] {escape(step.message)}{took}")


def notifier(*, enabled: bool) -> Notifier:
    """How this command tells the user a notice: the terminal bell when one is attached, and
    the desktop's notification when the machine has a way to show one (``--no-notify``:
    neither)."""
    from hoplab import notify

    if not enabled:
        return notify.quiet

    def tell(notice: Notice) -> None:
        if err.is_terminal:
            err.bell()
        notify.send(notice)

    return tell


def print_json(kind: str, payload: dict[str, Any]) -> None:
    """Versioned JSON on stdout, one object per command: coloured on a terminal, else as is
    (a script reads it: rich is not even imported, which would cost 12 ms at the end of
    ``up``)."""
    document = {"version": JSON_VERSION, "kind": kind, **payload}
    if sys.stdout.isatty():
        out.print_json(json.dumps(document))
    else:
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()


def open_browser(session: Session) -> None:
    """Open the session in the local browser, the token never in any argv (see
    :mod:`hoplab.browser`). The page is watched and removed in a thread that is not a daemon:
    hoplab exits only once it is gone (at most ``browser.READ_TIMEOUT`` seconds)."""
    import threading

    from hoplab import browser
    from hoplab.sessions import background

    url = session.url(with_token=True)
    if url is None:
        return
    background.let_start()  # the page leads to the port: the supervisor must be serving it

    def hand_over() -> None:
        reason = browser.hand_over(session.id, url).reason
        if reason is not None:
            err.print(f"[yellow]{escape(reason)}[/]")

    threading.Thread(target=hand_over, name="hoplab-browser-page").start()


class Detach(Exception):  # noqa: N818  (a signal turned into control flow, not an error)
    """Raised in the main thread when the terminal goes away or we are asked to terminate."""


@contextmanager
def signals_raise(exception: type[BaseException]) -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into ``exception`` for the duration of the block."""

    def handler(signum: int, _frame: object) -> None:
        raise exception(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def age(created: float) -> str:
    seconds = max(0, int(time.time() - created))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def place(text: str, *, adopt: bool = False) -> Place:
    """A profile or an ssh destination (``ls --scan``, ``attach --on``, ``down --purge``),
    resolved as ``up`` resolves it, with its master's idle time. ``adopt``: what is found
    there may be taken over (tokens are read)."""
    from hoplab import config
    from hoplab.options import idle_seconds
    from hoplab.paths import config_file
    from hoplab.sessions.orphans import Place
    from hoplab.sessions.request import ssh_target

    resolved = config.resolve(text, {}, config.load(config_file()))
    return Place(
        text,
        ssh_target(resolved),
        bool(resolved["mux"]),
        idle_seconds(resolved["master_idle"]),
        adopt=adopt,
    )
