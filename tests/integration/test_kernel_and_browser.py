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
