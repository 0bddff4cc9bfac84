"""Shared rendering: the error handler around every command, and the consoles."""

from __future__ import annotations

import gc
import sys
import threading
from typing import TYPE_CHECKING, Any, NoReturn, cast

import click

from hoplab.errors import CommandError, HoplabError, JobEndedError, JupyterStartError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console


class _FirstUse:
    """Stands for a rich Console made when something is first asked of it. Importing rich
    costs about 12 ms; ``up`` would spend them before Jupyter starts, and a command that prints
    only JSON, or nothing (the background supervisor), need not spend them at all."""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr

    def __getattr__(self, name: str) -> Any:
        return getattr(_console(stderr=self._stderr), name)


_made: dict[bool, Console] = {}
_making = threading.Lock()  # one console each, whichever thread asks first


def _console(*, stderr: bool) -> Console:
    with _making:
        if stderr not in _made:
            from rich.console import Console

            _made[stderr] = Console(stderr=stderr, highlight=False)
        return _made[stderr]


out = cast("Console", _FirstUse(stderr=False))
err = cast("Console", _FirstUse(stderr=True))


def escape(text: str) -> str:
    """``text`` with rich's markup escaped (rich is imported on first use, as above)."""
    from rich.markup import escape as escaped

    return escaped(text)


def run_cli(cli: click.Group) -> None:
    """Run the click group; turn hoplab errors into a message, a hint and exit code 1."""
    try:
        # named, so that completion (_HOPLAB_COMPLETE) works for `python -m hoplab` too
        code = cli.main(prog_name="hoplab", complete_var="_HOPLAB_COMPLETE", standalone_mode=False)
    except HoplabError as exc:
        render_error(exc)
        _exit(1)
    except (KeyboardInterrupt, click.Abort):
        err.print("interrupted")
        _exit(130)
    except click.ClickException as exc:
        exc.show()
        _exit(exc.exit_code)
    _exit(code if isinstance(code, int) else 0)


def _exit(code: int) -> NoReturn:
    """Exit with ``code``. What is still allocated goes with the process: frozen, it spares the
    interpreter's last collection a walk through every object of some 300 modules (~15 ms of
    every command). Exit handlers and threads that are not daemons still run and are waited
    for."""
    gc.freeze()
    sys.exit(code)


def render_error(exc: HoplabError) -> None:
    """Print what happened and what to do; never a traceback for expected errors."""
    # Messages quote user input such as "[profiles.x]": escape it, or rich reads it as markup.
    err.print(f"[bold red]error:[/] {escape(exc.message)}", soft_wrap=True)
    if isinstance(exc, (JupyterStartError, JobEndedError)) and exc.log_tail.strip():
        err.print("[dim]last lines of the job's output:[/]")
        err.print(exc.log_tail.rstrip(), markup=False, soft_wrap=True)
    elif isinstance(exc, CommandError) and exc.stderr.strip() not in exc.message:
        err.print(exc.stderr.rstrip(), markup=False, soft_wrap=True)
    if exc.hint:
        err.print(f"[yellow]hint:[/] {escape(exc.hint)}", soft_wrap=True)


def plain_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Aligned lines, one per row, each value in full (for pipes and ``--wide``).

    Values are flattened to one line and an empty one is ``-``, so that every line has as
    many fields as the header up to the last column, whose value may hold spaces.
    """
    cells = [[" ".join(value.split()) or "-" for value in row] for row in [list(headers), *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return [
        "  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
