"""Talk to a Jupyter server through hoplab's tunnel: REST calls and code run in a real kernel."""

from __future__ import annotations

import http.client
import json
import uuid
from typing import Any
from urllib.request import Request, urlopen


def split_url(url: str) -> tuple[str, str]:
    """``http://127.0.0.1:P/lab?token=T`` as the server's base URL and the token."""
    address, _, token = url.partition("?token=")
    return address.rsplit("/", 1)[0], token


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


def http_status(port: int, path: str = "/") -> int | None:
    """The status of ``GET path`` on 127.0.0.1:port, or None when nothing answers."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def run_code(base: str, token: str, code: str, *, keep: bool = False) -> str:
    """Start a kernel via REST, execute ``code`` over the websocket, return its stdout.

    ``keep`` leaves the kernel running (until Jupyter stops), for code that serves something.
    """
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
        if not keep:
            api(base, token, "DELETE", f"/api/kernels/{kernel['id']}")
