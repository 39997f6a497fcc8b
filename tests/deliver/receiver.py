"""A real HTTP receiver for delivery tests: scripted answers (status, ``Retry-After``, body), and a
record of every request and of the batches it accepted (answered 2xx), by idempotency key.

Like ``tests.support.http_recorder.RecordingHTTPServer``, plus what a delivery API does: headers on
the answer, a body that can echo the request's headers (to prove secrets never reach the audit),
and per-key bookkeeping of accepted batches (what "the receiver saw a batch twice" means).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from tests.support.net import LOOPBACK


@dataclass(frozen=True)
class Answer:
    """One scripted answer. ``echo_headers``: the body repeats the request's headers (as a careless
    API's error page does)."""

    status: int = 200
    retry_after: float | None = None
    body: dict[str, Any] = field(default_factory=dict)
    echo_headers: bool = False


@dataclass(frozen=True)
class Received:
    at: float
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int

    @property
    def key(self) -> str:
        return self.headers.get("Idempotency-Key", "")


class DeliveryReceiver:
    """Answers requests with ``script`` in order, then with ``default`` (200)."""

    def __init__(self, script: list[Answer] | None = None, default: Answer | None = None) -> None:
        self.script = list(script or [])
        self.default = default or Answer()
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self.port = 0

    @property
    def accepted(self) -> list[Received]:
        """The requests answered 2xx, in order."""
        return [r for r in self.received if 200 <= r.status < 300]

    def accepted_keys(self) -> Counter[str]:
        return Counter(r.key for r in self.accepted)

    def rows(self) -> list[dict[str, Any]]:
        """Every row of every accepted batch, in order."""
        return [row for r in self.accepted for row in r.body["rows"]]

    def _answer(self) -> Answer:
        with self._lock:
            return self.script.pop(0) if self.script else self.default

    def start(self) -> Self:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                answer = receiver._answer()
                headers = dict(self.headers.items())
                with receiver._lock:
                    receiver.received.append(
                        Received(time.monotonic(), self.path, headers, json.loads(raw), answer.status)
                    )
                body = dict(answer.body)
                if answer.echo_headers:
                    body["request_headers"] = headers
                payload = json.dumps(body).encode()
                self.send_response(answer.status)
                if answer.retry_after is not None:
                    self.send_header("Retry-After", f"{answer.retry_after:g}")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def connection(self, *, password: str | None = None, headers: dict[str, str] | None = None) -> str:
        """The Airflow http connection (JSON) of this receiver."""
        conn: dict[str, Any] = {"conn_type": "http", "host": LOOPBACK, "port": self.port, "schema": "http"}
        if password:
            conn.update(login="lockgate", password=password)
        if headers:
            conn["extra"] = headers
        return json.dumps(conn)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class TallyingReceiver:
    """A receiver for large deliveries: answers 200 and keeps only a tally of what it accepted
    (batches, rows, the sum of ``aqi``, each idempotency key and each ``station_id`` once), never
    the bodies, so the test process stays small however many rows arrive."""

    def __init__(self) -> None:
        self.batches = 0
        self.rows = 0
        self.aqi_sum = 0
        self.keys: Counter[str] = Counter()
        self.stations: set[str] = set()
        self.duplicate_stations = 0
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self.port = 0

    def _tally(self, key: str, body: dict[str, Any]) -> None:
        with self._lock:
            self.batches += 1
            self.keys[key] += 1
            for row in body["rows"]:
                self.rows += 1
                self.aqi_sum += int(row["aqi"])
                if row["station_id"] in self.stations:
                    self.duplicate_stations += 1
                self.stations.add(row["station_id"])

    def start(self) -> Self:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver._tally(self.headers.get("Idempotency-Key", ""), json.loads(raw))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def connection(self) -> str:
        return json.dumps({"conn_type": "http", "host": LOOPBACK, "port": self.port, "schema": "http"})

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
