"""Through the URL hoplab prints: a real kernel over the websocket, and a real browser."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from kernel import run_code, split_url

if TYPE_CHECKING:
    from conftest import Laptop

pytestmark = pytest.mark.sandbox

ARTIFACTS = Path(os.environ.get("HOPLAB_ARTIFACTS", "artifacts"))


@pytest.mark.parametrize("host", ["login01", "node001"])
def test_kernel_runs_on_the_remote_host(laptop: Laptop, host: str) -> None:
    result = laptop.up(host)
    url = result["url"]
    base, token = split_url(url)
    printed = run_code(base, token, "import socket; print(socket.gethostname())")
    assert printed.strip() == host


@pytest.mark.browser
def test_browser_opens_jupyterlab(laptop: Laptop) -> None:
    from playwright.sync_api import sync_playwright

    result = laptop.up("node001")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "jupyterlab-through-hoplab.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(result["url"], timeout=60_000)
            page.wait_for_selector(".jp-Launcher", timeout=90_000)
            page.screenshot(path=str(shot))
            assert "JupyterLab" in page.title()
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000


@pytest.mark.browser
def test_the_browser_page_is_gone_once_chromium_opened_it(laptop: Laptop, tmp_path: Path) -> None:
    """``up`` opens its 0600 redirect page through $BROWSER (a script that hands the page's
    file URL to this test, as a desktop would to a browser); Chromium opens it, follows it to
    JupyterLab, and the page file is removed at once, well before the 30 s bound."""
    import stat

    from playwright.sync_api import sync_playwright

    from hoplab.waiting import wait_until

    handed = tmp_path / "handed"
    opener = tmp_path / "browser"
    opener.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" > {handed}\n')
    opener.chmod(0o755)
    laptop.env["BROWSER"] = str(opener)
    try:
        up = laptop.spawn("up", "node001", "--venv", str(laptop.sandbox.jupyter_venv), "--detach")
        uri = wait_until(
            lambda: handed.exists() and handed.read_text().strip(), 120, what="$BROWSER's call"
        )
    finally:
        del laptop.env["BROWSER"]
    assert uri.startswith("file://")
    assert "token" not in uri  # what a browser's command line gets: a path
    page_file = Path(uri.removeprefix("file://"))
    assert stat.S_IMODE(page_file.stat().st_mode) == 0o600
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--no-first-run"],
        )
        try:
            page = browser.new_page()
            page.goto(uri, timeout=60_000)
            page.wait_for_selector(".jp-Launcher", timeout=90_000)
            assert "JupyterLab" in page.title()
            wait_until(lambda: not page_file.exists(), 10, what="the page file to be removed")
        finally:
            browser.close()
    stderr = laptop.finish(up, 30)
    assert up.returncode == 0, stderr
    assert "did not open the page" not in stderr
    assert not page_file.exists()
