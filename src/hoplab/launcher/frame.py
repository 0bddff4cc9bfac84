"""The remote side of framing: the shell text that opens and closes every script's frame.

Every script hoplab sends opens a frame, sends its stderr into it, and closes it from an EXIT
trap with its exit code; commands of other programs (squeue, qstat, bjobs...) run inside it as
framed sections with their own stdout, stderr and exit code. :mod:`hoplab.remote.frames` reads
them; :mod:`hoplab.protocol` describes the format.
"""

from __future__ import annotations

import secrets
import shlex
from dataclasses import dataclass

from hoplab.protocol import VERSION

# The shell side of framing: defined first in every script (values come from `opening`).
SHELL = """\
frame() { printf '\\n%s %s %s %s\\n' @hoplab "$HOPLAB_PROTOCOL" "$HOPLAB_NONCE" "$*"; }
hoplab_err=
hoplab_close() {
    rc=$?
    if [ -n "$hoplab_err" ]; then rm -f "$hoplab_err"; fi
    frame end "$rc"
}
trap hoplab_close EXIT
# A signal ends the script through its EXIT trap too (a client that went away: SIGPIPE on the
# next write), so its temporary file never stays behind in /tmp.
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM
frame begin
exec 2>&1
"""


@dataclass(frozen=True)
class Script:
    """A remote script and the nonce its frame carries."""

    text: str
    nonce: str

    def __str__(self) -> str:
        return self.text


def new_nonce() -> str:
    return secrets.token_hex(6)


def opening(nonce: str) -> str:
    """The lines that open a frame: the nonce and version, then :data:`SHELL`."""
    return f"HOPLAB_PROTOCOL={VERSION}\nHOPLAB_NONCE={nonce}\n{SHELL}"


def framed(body: str, nonce: str | None = None) -> Script:
    """``body`` inside a frame."""
    nonce = nonce or new_nonce()
    return Script(f"{opening(nonce)}{body}\n", nonce)


def command_section(name: str, line: str) -> str:
    """Shell text that runs ``line`` and frames its stdout, stderr and exit code as ``name``."""
    quoted = shlex.quote(name)
    return "\n".join(
        (
            '[ -n "$hoplab_err" ] || hoplab_err=$(mktemp "${TMPDIR:-/tmp}/hoplab-err.XXXXXX")',
            f"frame out {quoted}",
            f'{{ {line}\n}} 2>"$hoplab_err"',
            "hoplab_rc=$?",
            f"frame err {quoted}",
            'cat "$hoplab_err"',
            f'frame rc {quoted} "$hoplab_rc"',
        )
    )
