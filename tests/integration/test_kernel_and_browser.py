"""Through the URL hoplab prints: a real kernel over the websocket, and a real browser."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.request import Request, urlopen

import pytest

if TYPE_CHECKING:
    from conftest import Laptop

pytestmark = pytest.mark.sandbox

ARTIFACTS = Path(os.environ.get("HOPLAB_ARTIFACTS", "artifacts"))


def api(base: str, token: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    request = Request(  # noqa: S310  (loopback URL built by the test)
        f"{base}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    with urlopen(request, timeout=30) as answer:  # noqa: S310
        raw = answer.read()
    return json.loads(raw) if raw else None


def run_code(base: str, token: str, code: str) -> str:
    """Start a kernel via REST, execute ``code`` over the websocket, return its stdout."""
    import websocket

    kernel = api(base, token, "POST", "/api/kernels", {"name": "python3"})
    ws_url = base.replace("http://", "ws://") + f"/api/kernels/{kernel['id']}/channels"
    socket = websocket.create_connection(
        ws_url, header=[f"Authorization: token {token}"], timeout=60
    )
    try:
        msg_id = uuid.uuid4().hex
        socket.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "username": "test",
                        "session": uuid.uuid4().hex,
                        "msg_type": "execute_request",
                        "version": "5.3",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {"code": code, "silent": False},
                    "channel": "shell",
                }
            )
        )
        output = ""
        for _ in range(200):  # bounded: a kernel sends a handful of messages per request
            message = json.loads(socket.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if message["msg_type"] == "stream":
                output += message["content"]["text"]
            if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                return output
        raise AssertionError("the kernel never went idle")
    finally:
        socket.close()
        api(base, token, "DELETE", f"/api/kernels/{kernel['id']}")


@pytest.mark.parametrize("host", ["login01", "node001"])
def test_kernel_runs_on_the_remote_host(laptop: Laptop, host: str) -> None:
    result = laptop.up(host)
    url = result["url"]
    base, token = url.split("/lab?token=")[0], url.split("token=")[1]
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
