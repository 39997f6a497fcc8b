"""A fault-injecting HTTP proxy in front of the moto S3 server.

Point an Airflow ``aws`` connection's ``endpoint_url`` at :attr:`FaultyS3Proxy.endpoint_url` and
every S3 request goes through the proxy to moto, unchanged, except the ones a :class:`Fault`
picks: those are answered by the proxy itself with the S3 error a real S3 endpoint sends under
load (``503 SlowDown``, ``500 InternalError``), and never reach moto. Everything the proxy saw
is kept in :attr:`FaultyS3Proxy.requests`, so a test can show which requests failed and which
retries followed.

Only plain HTTP, as moto serves it here. Request bodies are forwarded as received (botocore signs
over the body and the ``Host`` header, which are both left as they are; moto does not verify
signatures).
"""

from __future__ import annotations

import http.client
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import unquote, urlsplit

from tests.support.net import LOOPBACK

#: the error bodies S3 sends, by status
_ERRORS = {
    503: ("SlowDown", "Please reduce your request rate."),
    500: ("InternalError", "We encountered an internal error. Please try again."),
}
#: hop-by-hop headers a proxy must not forward
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection", "te", "upgrade"}


@dataclass
class Fault:
    """Answer the ``nth`` request matching ``method`` and ``path`` (1-based) with ``status``.

    ``times`` is how many requests for that same key fail in a row, counting the ``nth`` itself:
    a retry by the client is a new request for the same key, so ``times=1`` fails one attempt
    (the retry succeeds) and a ``times`` above the client's attempts fails the call for good.

    :param method: HTTP method (``PUT`` for uploads and copies, ``GET``, ``DELETE``...).
    :param path: regular expression searched in the request's decoded path (``/bucket/key``).
    :param header: only requests carrying this header match (``x-amz-copy-source`` for copies).
    """

    method: str
    path: str
    nth: int = 1
    times: int = 1
    status: int = 503
    header: str | None = None
    #: matching requests seen so far
    seen: int = 0
    #: the key picked by ``nth`` and how many of its requests were failed
    target: str | None = None
    failed: int = 0

    def decide(self, method: str, path: str, headers: dict[str, str]) -> bool:
        """Whether this request is answered with the error (called under the proxy's lock)."""
        if method != self.method or not re.search(self.path, path):
            return False
        if self.header is not None and self.header.lower() not in headers:
            return False
        if self.target is None:
            self.seen += 1
            if self.seen != self.nth:
                return False
            self.target = path
        if path != self.target or self.failed >= self.times:
            return False
        self.failed += 1
        return True


@dataclass(frozen=True)
class SeenRequest:
    """One request the proxy handled: what was asked and what was answered."""

    method: str
    path: str
    status: int
    injected: bool
    copy: bool = False


@dataclass
class FaultyS3Proxy:
    """A threaded HTTP proxy on 127.0.0.1 forwarding to ``upstream`` (the moto server's URL)."""

    upstream: str
    faults: list[Fault] = field(default_factory=list)
    requests: list[SeenRequest] = field(default_factory=list)
    endpoint_url: str = ""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        """Drop every fault (requests keep being recorded)."""
        with self._lock:
            self.faults.clear()

    def _decide(self, method: str, path: str, headers: dict[str, str]) -> int | None:
        with self._lock:
            for fault in self.faults:
                if fault.decide(method, path, headers):
                    return fault.status
        return None

    def _record(self, request: SeenRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def start(self) -> str:
        proxy = self
        upstream = urlsplit(self.upstream)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive and ``Expect: 100-continue`` as botocore uses them

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)) > 0:
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _handle(self) -> None:
                body = self._body()
                path = unquote(urlsplit(self.path).path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                copy = "x-amz-copy-source" in headers
                status = proxy._decide(self.command, path, headers)
                if status is not None:
                    proxy._record(SeenRequest(self.command, path, status, True, copy))
                    code, message = _ERRORS[status]
                    error = (
                        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                        f"<Message>{message}</Message><RequestId>lockgate-fault</RequestId></Error>"
                    ).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(0 if self.command == "HEAD" else len(error)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(error)
                    return
                conn = http.client.HTTPConnection(upstream.hostname or LOOPBACK, upstream.port, timeout=60)
                try:
                    forward = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                    if "content-length" not in headers or headers.get("transfer-encoding"):
                        forward["Content-Length"] = str(len(body))
                    conn.request(self.command, self.path, body=body, headers=forward)
                    response = conn.getresponse()
                    payload = response.read()
                    proxy._record(SeenRequest(self.command, path, response.status, False, copy))
                    self.send_response(response.status)
                    for name, value in response.getheaders():
                        if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                            self.send_header(name, value)
                    length = response.getheader("Content-Length") if self.command == "HEAD" else None
                    self.send_header("Content-Length", length or str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                finally:
                    conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="s3-fault-proxy", daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        self.endpoint_url = f"http://{host}:{port}"
        return self.endpoint_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def injected(self) -> list[SeenRequest]:
        """The requests answered with an injected error."""
        with self._lock:
            return [r for r in self.requests if r.injected]

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
