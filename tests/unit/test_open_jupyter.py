"""``up`` is ready only when Jupyter refuses a request without the token and takes hoplab's."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import pytest

from hoplab.errors import OpenJupyterError
from hoplab.records.model import Session
from hoplab.tunnel import forwards

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

TOKEN = "t0ken"


@contextmanager
def serving(answer: Callable[[bool], int]) -> Iterator[int]:
    """A Jupyter-like /api/status on 127.0.0.1, each request in its own thread: its status is
    ``answer(with_token)``. The port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(answer(self.headers.get("Authorization") == f"token {TOKEN}"))
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(params=[False, True], ids=["token-required", "open"])
def jupyter(request: pytest.FixtureRequest) -> Iterator[tuple[int, bool]]:
    open_to_all = bool(request.param)
    with serving(lambda with_token: 200 if open_to_all or with_token else 403) as port:
        yield port, open_to_all


def session(port: int) -> Session:
    found = Session("abc", "t", "node001", (), None, True, "lab", token=TOKEN)
    found.local_port, found.remote_host = port, "node001"
    return found


def test_a_jupyter_open_to_all_is_refused_with_the_reason(
    jupyter: tuple[int, bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    # This server stands in for our own forward (whose check tests/unit/test_listener.py makes).
    monkeypatch.setattr(forwards, "owner", lambda session: None)
    monkeypatch.setattr(forwards, "is_ours", lambda session, expected=None: True)
    port, open_to_all = jupyter
    if not open_to_all:
        forwards.prove_ready(session(port), timeout=5)
        return
    with pytest.raises(OpenJupyterError) as raised:
        forwards.prove_ready(session(port), timeout=5)
    assert "node001 accepts requests without a token" in str(raised.value.args[0])
    assert "c.ServerApp.token = ''" in str(raised.value.args[0])


def test_the_request_without_token_goes_along_with_the_first_probe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check that Jupyter refuses a tokenless request costs no round trip of its own: this
    server answers either request only once both are in (one after the other never are)."""
    monkeypatch.setattr(forwards, "owner", lambda session: None)
    monkeypatch.setattr(forwards, "is_ours", lambda session, expected=None: True)
    both = threading.Barrier(2, timeout=2)
    seen: list[bool] = []

    def answer(with_token: bool) -> int:
        seen.append(with_token)
        try:
            both.wait()
        except threading.BrokenBarrierError:
            return 503
        return 200 if with_token else 403

    with serving(answer) as port:
        forwards.prove_ready(session(port), timeout=3)
    assert sorted(seen) == [False, True]


def test_a_check_sent_before_jupyter_answered_is_asked_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[int] = []

    def status(port: int, base_url: str, *, timeout: float = 5.0) -> int | None:
        asked.append(port)
        return 200  # open to all, as the server says now

    monkeypatch.setattr(forwards, "status_without_token", status)
    with pytest.raises(OpenJupyterError):
        forwards.require_token(session(1), 1, None)
    with pytest.raises(OpenJupyterError):  # a 503 says nothing about the token: asked again
        forwards.require_token(session(1), 1, 503)
    forwards.require_token(session(1), 1, 403)  # the early answer stands: no request
    assert asked == [1, 1]
