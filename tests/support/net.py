"""Small networking helpers for tests (loopback only)."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from typing import Any

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port that is free on ``host`` right now.

    The port is released before returning, so another process could grab it in between; for
    servers that accept port ``0`` (moto, ``http.server``) prefer binding to 0 and reading the
    real port back instead.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    """Block until ``host:port`` accepts TCP connections or raise ``TimeoutError``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout:.0f}s")


def request_json(url: str, *, method: str = "GET", token: str | None = None, body: Any = None) -> tuple[int, Any]:
    """(status, decoded JSON body) of one request to a loopback server, with ``token`` as bearer.

    An HTTP error status raises ``urllib.error.HTTPError``, as ``urllib`` does.
    """
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(  # noqa: S310 -- http://127.0.0.1 only
        url, data=None if body is None else json.dumps(body).encode(), headers=headers, method=method
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 -- 127.0.0.1 only
        return response.status, json.load(response)
