"""Frames and protocol words: only what sits inside hoplab's own frame is ever read.

The scripts run in a real ``sh`` behind a "login" that prints banners on stdout and stderr
before and after them, as shell startup files, motd scripts and module banners do.
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import pytest

from hoplab.errors import ProtocolError
from hoplab.launcher import render
from hoplab.launcher.frame import framed
from hoplab.protocol import (
    VERSION,
    LauncherStatus,
    Process,
    Reply,
    SchedulerName,
    StopFinding,
    Where,
)
from hoplab.remote import frames
from hoplab.remote.jobs import probe_script, read_probe

if TYPE_CHECKING:
    from pathlib import Path

BANNER = "Welcome to the cluster, hopuser\nHOPLAB dir /not/ours\n"


def noisy_sh(script: str) -> subprocess.CompletedProcess[str]:
    """``script`` on a noisy login: banners on stdout and stderr before and after it."""
    login = (
        f"printf %s {BANNER!r}; echo 'quota: 91% used' >&2; "
        "sh -s; echo 'Goodbye from .bash_logout'; echo bye >&2"
    )
    return subprocess.run(
        ["sh", "-c", login], input=script, capture_output=True, text=True, check=True
    )


def test_a_reply_is_read_only_inside_its_frame() -> None:
    script = framed("say() { printf 'HOPLAB %s\\n' \"$*\"; }\nsay dir /home/u/x\necho payload")
    done = noisy_sh(script.text)
    frame = frames.read(done.stdout, script.nonce)
    assert frame.values() == {Reply.DIR: "/home/u/x"}
    assert frame.text == "HOPLAB dir /home/u/x\npayload\n"
    assert frame.code == 0
    assert "Welcome" not in frame.text
    assert "Goodbye" not in frame.text


def test_stderr_joins_the_frame_and_the_exit_code_closes_it() -> None:
    script = framed("echo to-stderr >&2\nexit 3")
    done = noisy_sh(script.text)
    frame = frames.read(done.stdout, script.nonce)
    assert frame.text == "to-stderr\n"
    assert frame.code == 3
    assert "quota" in done.stderr  # the login's own stderr stays outside


def test_commands_are_framed_with_stdout_stderr_and_code() -> None:
    lines = [
        ("first", "printf 'no newline at the end'; echo oops >&2; false"),
        ("second", "printf 'a\\n\\nb\\n'"),
    ]
    script = frames.commands_script(lines)
    done = noisy_sh(script.text)
    found = frames.read(done.stdout, script.nonce).commands
    assert (found["first"].stdout, found["first"].stderr, found["first"].returncode) == (
        "no newline at the end",
        "oops\n",
        1,
    )
    assert (found["second"].stdout, found["second"].stderr, found["second"].returncode) == (
        "a\n\nb\n",
        "",
        0,
    )


def test_noise_between_frames_is_ignored() -> None:
    one, two = framed("echo one"), framed("echo two")
    stdout = f"noise\n{noisy_sh(one.text).stdout}between\n{noisy_sh(two.text).stdout}after\n"
    assert frames.read(stdout, one.nonce).text == "one\n"
    assert frames.read(stdout, two.nonce).text == "two\n"


def test_a_frame_cut_in_half_is_an_error() -> None:
    script = framed("echo first-half")
    stdout = noisy_sh(script.text).stdout
    cut = stdout[: stdout.index(f"@hoplab {VERSION} {script.nonce} end")]
    with pytest.raises(ProtocolError, match="cut before its end"):
        frames.read(cut, script.nonce)


def test_no_frame_at_all_is_an_error_that_quotes_what_came() -> None:
    with pytest.raises(ProtocolError, match=r"no reply from login01.*Welcome"):
        frames.read("Welcome to the cluster\n", "abc", where="login01")


def test_another_protocol_version_is_not_read_as_this_one() -> None:
    other = f"@hoplab {VERSION + 1} abc begin\nHOPLAB dir /x\n@hoplab {VERSION + 1} abc end 0\n"
    with pytest.raises(ProtocolError, match="another protocol version"):
        frames.read(other, "abc")


def test_an_unknown_word_is_an_error_that_quotes_the_text() -> None:
    script = framed("echo 'HOPLAB launched 42'")
    frame = frames.read(noisy_sh(script.text).stdout, script.nonce)
    with pytest.raises(ProtocolError, match=r"'launched'.*HOPLAB launched 42"):
        list(frame.replies())
    with pytest.raises(ProtocolError, match="'killd'"):
        StopFinding.parse("killd")


def test_every_word_prints_as_itself() -> None:
    assert f"{Where.LOGIN}" == "login"
    assert str(LauncherStatus.WAITING_REACH) == "waiting-reach"
    assert Process.parse("-") is Process.UNSEEN


def test_the_stop_script_speaks_only_known_words(tmp_path: Path) -> None:
    """Run the real stop script on this machine for a session that does not exist."""
    script = render.stop([("nosuchid", None, None, Where.HOST)])
    done = subprocess.run(
        ["sh", "-s"],
        input=script.text,
        capture_output=True,
        text=True,
        check=True,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    replies = list(frames.read(done.stdout, script.nonce).replies())
    assert [(r.kind, r.args) for r in replies] == [(Reply.STOP, ("nosuchid", "done"))]


def test_a_stream_starts_after_its_begin_and_stops_at_its_end() -> None:
    script = framed("echo line1\necho line2")
    lines = noisy_sh(script.text).stdout.splitlines(keepends=True)
    assert list(frames.stream_start(lines, script.nonce)) == ["line1\n", "line2\n"]


def test_scheduler_detection_reads_only_its_frame() -> None:
    script = framed(probe_script())
    stdout = noisy_sh(script.text).stdout
    sections = read_probe(frames.read(stdout, script.nonce).text)
    assert all("Welcome" not in text for text in sections.values())


def test_every_backend_has_a_protocol_name() -> None:
    from hoplab.schedulers import NAMES

    assert {name.value for name in SchedulerName} == {"none", *NAMES}


def test_a_script_whose_reader_went_away_leaves_no_temporary_file(tmp_path: Path) -> None:
    """The client is gone (its ssh was killed after a time-out): the script's next write gets
    SIGPIPE, and it still removes its stderr file from /tmp on the way out."""
    script = frames.commands_script([("slow", "sleep 1; echo done")])
    shell = subprocess.Popen(
        ["sh", "-s"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)},
        text=True,
    )
    assert shell.stdin is not None
    assert shell.stdout is not None
    shell.stdin.write(script.text)
    shell.stdin.close()
    while "begin" not in shell.stdout.readline():  # the frame opened; the section runs
        pass
    shell.stdout.close()
    assert shell.wait(timeout=30) != 0
    assert list(tmp_path.iterdir()) == []
