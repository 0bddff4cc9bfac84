"""Read only what sits inside a remote script's frame (written by :mod:`hoplab.launcher.frame`).

A login shell may print anything before, between or after hoplab's output, on stdout and on
stderr; none of it is ever read as data. See :mod:`hoplab.protocol` for the format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hoplab.errors import ProtocolError
from hoplab.launcher.frame import Script, command_section, framed
from hoplab.process import Completed
from hoplab.protocol import FRAME, SAY, VERSION, Reply, Word

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from hoplab.ssh.transport import Transport


@dataclass(frozen=True)
class Frame:
    """A script's answer: the reply text, each framed command, and the exit code."""

    text: str  # between `begin` and the first section (or `end`): HOPLAB lines and payloads
    code: int
    commands: dict[str, Completed] = field(default_factory=dict)

    def replies(self) -> Iterator[ReplyLine]:
        """Every ``HOPLAB`` line, its kind checked."""
        for line in self.text.splitlines():
            if line.startswith(SAY + " "):
                yield ReplyLine.read(line)

    def first(self, *kinds: Reply) -> ReplyLine | None:
        """The first reply of one of ``kinds`` (any, when none given), with what follows it."""
        lines = self.text.splitlines()
        for index, line in enumerate(lines):
            if line.startswith(SAY + " "):
                reply = ReplyLine.read(line, "\n".join(lines[index + 1 :]))
                if not kinds or reply.kind in kinds:
                    return reply
        return None

    def values(self) -> dict[Reply, str]:
        """``HOPLAB key value...`` lines as a dict (the value is the rest of the line)."""
        return {reply.kind: " ".join(reply.args) for reply in self.replies()}

    def command(self, name: str) -> Completed:
        found = self.commands.get(name)
        if found is None:
            raise ProtocolError(f"the remote script gave no answer for {name!r}")
        return found


@dataclass(frozen=True)
class ReplyLine:
    """One ``HOPLAB KIND ARGS...`` line and (for the first reply) the text after it."""

    kind: Reply
    args: tuple[str, ...]
    payload: str = ""

    @classmethod
    def read(cls, line: str, payload: str = "") -> ReplyLine:
        words = line.split()[1:]
        if not words:
            raise ProtocolError(f"an empty reply line {line!r}")
        return cls(Reply.parse(words[0], line), tuple(words[1:]), payload)

    def __str__(self) -> str:
        return " ".join((SAY, self.kind.value, *self.args))

    def arg(self, index: int, word: type[Word] | None = None) -> str:
        """Argument ``index``; with ``word``, checked to be one of that enum's words."""
        if index >= len(self.args):
            raise ProtocolError(f"the reply {self.kind.value!r} lacks argument {index + 1}")
        value = self.args[index]
        if word is not None:
            word.parse(value, f"{SAY} {self.kind.value} {' '.join(self.args)}")
        return value


def outside(stdout: str, nonce: str) -> str:
    """The lines of ``stdout`` outside the frame with ``nonce`` (blank ones left out): what the
    login printed around hoplab's script, never read as data, only shown (``hoplab doctor``)."""
    prefix = f"{FRAME} {VERSION} {nonce} "
    kept: list[str] = []
    inside = False
    for line in stdout.splitlines():
        if line.startswith(prefix):
            marker = line[len(prefix) :].split()[:1]
            if marker == ["begin"]:
                inside = True
            elif marker == ["end"]:
                inside = False
        elif not inside and line.strip():
            kept.append(line)
    return "\n".join(kept)


def _strip_one(text: str) -> str:
    """A marker line is printed after a newline of its own: drop exactly that one."""
    return text.removesuffix("\n")


def read(stdout: str, nonce: str, *, where: str = "the remote host") -> Frame:
    """The frame with ``nonce`` in ``stdout``; anything outside it is ignored.

    Raises ProtocolError when there is no frame (the script never ran), when it was cut
    before its end, or when a marker is malformed.
    """
    prefix = f"{FRAME} {VERSION} {nonce} "
    text: list[str] = []
    parts: dict[tuple[str, str], list[str]] = {}
    codes: dict[str, int] = {}
    current: list[str] | None = None
    began = False
    for line in stdout.splitlines(keepends=True):
        if not line.startswith(prefix):
            if current is not None:
                current.append(line)
            continue
        words = line[len(prefix) :].split()
        marker = words[0] if words else ""
        if marker == "begin" and not began:
            began, current = True, text
        elif not began:
            continue
        elif marker == "end" and len(words) == 2 and words[1].lstrip("-").isdigit():
            return _frame(text, parts, codes, int(words[1]))
        elif marker in {"out", "err"} and len(words) == 2:
            current = parts.setdefault((words[1], marker), [])
        elif marker == "rc" and len(words) == 3 and words[2].lstrip("-").isdigit():
            codes[words[1]] = int(words[2])
            current = None  # between sections: nothing of ours
        else:
            raise ProtocolError(f"a malformed frame marker from {where}: {line.strip()!r}")
    if not began:
        other = f"{FRAME} " in stdout
        raise ProtocolError(
            f"no reply from {where}"
            + (" (a frame of another protocol version answered)" if other else "")
            + (f"; it printed: {_tail(stdout)}" if stdout.strip() else ""),
        )
    raise ProtocolError(
        f"the reply from {where} was cut before its end"
        + (f"; it ended with: {_tail(stdout)}" if stdout.strip() else "")
    )


def _frame(
    text: list[str], parts: dict[tuple[str, str], list[str]], codes: dict[str, int], code: int
) -> Frame:
    commands = {}
    for name, rc in codes.items():
        out = _strip_one("".join(parts.get((name, "out"), [])))
        err = _strip_one("".join(parts.get((name, "err"), [])))
        commands[name] = Completed([name], rc, out, err)
    return Frame(_strip_one("".join(text)), code, commands)


def _tail(text: str, limit: int = 300) -> str:
    text = text.strip()
    return repr(text if len(text) <= limit else "…" + text[-limit:])


def run(
    transport: Transport, script: Script, *, timeout: float = 60.0, where: str | None = None
) -> Frame:
    """Run ``script`` over ``transport`` and read its frame."""
    done = transport.run(script.text, timeout=timeout)
    return read(done.stdout, script.nonce, where=where or transport.target.label)


def commands_script(lines: Iterable[tuple[str, str]], prelude: str = "") -> Script:
    """A script that runs each ``(name, shell line)`` as a framed section, after ``prelude``
    (shell text that prepares their environment)."""
    sections = "\n".join(command_section(name, line) for name, line in lines)
    return framed(f"{prelude}\n{sections}" if prelude else sections)


def run_commands(
    transport: Transport,
    lines: Sequence[tuple[str, str]],
    *,
    timeout: float,
    prelude: str = "",
) -> dict[str, Completed]:
    """Run other programs' commands on the target; each one's stdout, stderr and exit code."""
    frame = run(transport, commands_script(lines, prelude), timeout=timeout)
    return {name: frame.command(name) for name, _ in lines}


def stream_start(lines: Iterable[str], nonce: str) -> Iterator[str]:
    """The lines of a streamed script after its frame's ``begin``; the ``end`` stops it."""
    prefix = f"{FRAME} {VERSION} {nonce} "
    began = False
    held = ""  # a bare newline may be the one printed before the next marker
    for line in lines:
        if line.startswith(prefix):
            marker = line[len(prefix) :].split()
            if marker[:1] == ["begin"]:
                began, held = True, ""
            elif marker[:1] == ["end"]:
                return
        elif began:
            if held:
                yield held
            held = line if line == "\n" else ""
            if not held:
                yield line
