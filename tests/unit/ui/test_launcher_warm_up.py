"""launcher.warm_execution_api: the call that builds the execution API before a task needs it."""

from __future__ import annotations

from lockgate.ui import launcher
from tests.support.http_recorder import RecordingHTTPServer
from tests.support.net import LOOPBACK, free_port


def test_the_warm_up_calls_the_execution_api_once() -> None:
    with RecordingHTTPServer() as server:
        assert launcher.warm_execution_api(server.url) is True
        assert [(r.method, r.path) for r in server.requests] == [("GET", "/execution/health")]


def test_a_failed_warm_up_is_no_error() -> None:
    with RecordingHTTPServer(default_status=503) as server:
        assert launcher.warm_execution_api(server.url) is False
    assert launcher.warm_execution_api(f"http://{LOOPBACK}:{free_port()}", timeout=5) is False
