from __future__ import annotations

import time

import pytest

from hoplab import process
from hoplab.errors import CommandError, CommandNotFoundError, CommandTimeoutError, WaitTimeoutError
from hoplab.waiting import backoff, wait_until


def test_run_captures_and_raises_typed() -> None:
    with pytest.raises(CommandError) as caught:
        process.run(["sh", "-c", "echo out; echo bad >&2; exit 3"])
    error = caught.value
    assert (error.returncode, error.stdout, error.stderr) == (3, "out\n", "bad\n")
    assert error.argv[0] == "sh"


def test_input_goes_to_stdin() -> None:
    assert process.run(["cat"], input="hello").stdout == "hello"


def test_missing_program() -> None:
    with pytest.raises(CommandNotFoundError):
        process.run(["hoplab-no-such-program"])


def test_timeout() -> None:
    with pytest.raises(CommandTimeoutError):
        process.run(["sleep", "5"], timeout=0.2)


def test_wait_until_returns_value_and_times_out() -> None:
    calls = []

    def third() -> str | None:
        calls.append(1)
        return "done" if len(calls) >= 3 else None

    assert wait_until(third, 5, what="three calls") == "done"
    began = time.monotonic()
    with pytest.raises(WaitTimeoutError, match="never"):
        wait_until(lambda: None, 0.3, what="never")
    assert time.monotonic() - began < 2


def test_backoff_caps() -> None:
    delays = backoff(1, 2, 15)
    assert [next(delays) for _ in range(6)] == [1, 2, 4, 8, 15, 15]
