"""The browser page (issue 15): the token never in argv, the page gone once read or soon after."""

from __future__ import annotations

import stat
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from hoplab import browser

URL = "http://127.0.0.1:8888/lab?token=s3cret"


@pytest.fixture(autouse=True)
def private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOPLAB_STATE_DIR", str(tmp_path / "state"))


def _path(uri: str) -> Path:
    return Path(unquote(urlparse(uri).path))


def test_the_page_is_removed_once_the_browser_read_it() -> None:
    seen: list[str] = []

    def browser_reads_later(uri: str) -> bool:
        seen.append(uri)
        page = _path(uri)
        assert stat.S_IMODE(page.stat().st_mode) == 0o600
        assert stat.S_IMODE(page.parent.stat().st_mode) == 0o700
        # a browser reads it a moment after it started (the access time moves past the write)
        threading.Timer(0.05, page.read_text).start()
        return True

    done = browser.hand_over("ab12cd34", URL, opener=browser_reads_later, timeout=10)
    assert done.opened is browser.Opened.READ
    assert done.reason is None
    assert not done.page.exists()
    assert "s3cret" not in seen[0]  # what the browser's argv gets: a path, never the token


def test_a_browser_that_never_reads_it_is_reported_and_the_page_removed() -> None:
    done = browser.hand_over("ab12cd34", URL, opener=lambda _uri: True, timeout=0.3)
    assert done.opened is browser.Opened.UNREAD
    assert done.reason is not None
    assert "snap" in done.reason
    assert "URL above" in done.reason
    assert not done.page.exists()


def test_no_browser_removes_the_page_at_once() -> None:
    done = browser.hand_over("ab12cd34", URL, opener=lambda _uri: False, timeout=10)
    assert done.opened is browser.Opened.NO_BROWSER
    assert done.reason is not None
    assert not done.page.exists()


def test_the_page_redirects_to_the_url_with_its_token() -> None:
    page = browser.write_page("ab12cd34", URL)
    text = page.read_text()
    assert 'http-equiv="refresh"' in text
    assert "token=s3cret" in text
    assert 'content="no-referrer"' in text
