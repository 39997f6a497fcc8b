"""HttpSource against a real local HTTP server of this test's own: pagination, retries, bad pages.

Every request goes through Airflow's HttpHook over a real socket; the connection (base URL and
basic auth) comes from an ``AIRFLOW_CONN_*`` variable. Only the sleep between attempts is replaced,
by a recorder, so the test asserts the delays the source asked for without waiting for them.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from lockgate.hooks.lake import LakeHook
from lockgate.operators.ingest import IngestOperator
from lockgate.sources.http import HttpSource, display_url, retry_after_seconds
from tests.support.net import LOOPBACK

pytestmark = pytest.mark.integration

DS, RUN = "2026-01-02", "manual__http"
SECRET = "s3cr3t-pa55"
#: 23 records the API serves, in order
RECORDS = [{"id": i, "station_id": f"ST-{i:03d}", "value": i * 1.5} for i in range(1, 24)]

#: a handler answers (status, headers, body) for (path, query)
Route = Callable[[str, dict[str, str]], tuple[int, dict[str, str], bytes]]


class ApiServer:
    """A threaded HTTP server on loopback whose answers come from a route function; records requests."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.requests: list[tuple[str, dict[str, str], str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                server.requests.append((parts.path, query, self.headers.get("Authorization")))
                status, headers, body = server.route(parts.path, query)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def ok(payload: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/json", **(headers or {})}, json.dumps(payload).encode()


@pytest.fixture
def api(lockgate_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Route], ApiServer]]:
    """Start an ApiServer for a route and define the ``api_test`` HTTP connection to it (basic auth)."""
    servers: list[ApiServer] = []

    def start(route: Route) -> ApiServer:
        server = ApiServer(route)
        servers.append(server)
        conn = {"conn_type": "http", "host": LOOPBACK, "port": server.port, "login": "reader", "password": SECRET}
        monkeypatch.setenv("AIRFLOW_CONN_API_TEST", json.dumps(conn))
        return server

    yield start
    for server in servers:
        server.close()


def ingest(source: HttpSource) -> dict[str, Any]:
    """Run an IngestOperator with this source; return the manifest (and keep the raw records)."""
    op = IngestOperator(task_id="ingest_api", dataset="readings", source=source)
    result = op.execute({"ds": DS, "run_id": RUN, "dag": SimpleNamespace(dag_id="t"), "ti": None})
    manifest: dict[str, Any] = LakeHook().read_json(result["manifest_key"])
    return manifest


def landed_records(manifest: dict[str, Any]) -> list[Any]:
    (entry,) = manifest["files"]
    path = LakeHook().local_copy(entry["key"], "/unused")
    return [json.loads(line) for line in path.read_text().splitlines()]


def paged(path: str, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """Page-number pagination: 10 per page, an empty page after the last."""
    page = int(query.get("page", "1"))
    return ok({"data": RECORDS[(page - 1) * 10 : page * 10], "page": page})


def test_page_number_pagination_until_an_empty_page_lands_every_record(
    api: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    server = api(paged)
    manifest = ingest(
        HttpSource(http_conn_id="api_test", endpoint="v1/readings", records_path="data", pagination="page")
    )
    assert landed_records(manifest) == RECORDS
    assert manifest["rows"] == len(RECORDS) == manifest["files"][0]["rows"]
    assert [q["page"] for _, q, _ in server.requests] == ["1", "2", "3", "4"]
    assert manifest["files"][0]["format"] == "ndjson"
    assert manifest["source_kind"] == "http"
    # auth from the connection reached the server, and the secret is nowhere in the manifest
    expected_auth = "Basic " + base64.b64encode(f"reader:{SECRET}".encode()).decode()
    assert {auth for _, _, auth in server.requests} == {expected_auth}
    assert SECRET not in json.dumps(manifest)
    assert base64.b64encode(f"reader:{SECRET}".encode()).decode() not in json.dumps(manifest)
    logged = capsys.readouterr()
    assert "records in 4 pages" in logged.out + logged.err  # the task's log was captured here
    assert SECRET not in logged.out + logged.err
    assert expected_auth not in logged.out + logged.err


def test_page_number_pagination_stops_at_the_total_page_count(api: Any) -> None:
    def route(path: str, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        page = int(query["p"])
        return ok({"results": {"items": RECORDS[(page - 1) * 10 : page * 10]}, "meta": {"pages": 3}})

    server = api(route)
    source = HttpSource(
        http_conn_id="api_test",
        endpoint="v1/readings",
        params={"date": "{{ ds }}"},
        records_path="results.items",
        pagination="page",
        page_param="p",
        total_pages_path="meta.pages",
    )
    manifest = ingest(source)
    assert landed_records(manifest) == RECORDS
    assert [q["p"] for _, q, _ in server.requests] == ["1", "2", "3"]  # no request for an empty 4th page


def test_cursor_pagination_follows_the_cursor_in_the_body(api: Any) -> None:
    def route(path: str, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        start = int(query.get("after", "0"))
        chunk = RECORDS[start : start + 7]
        nxt = str(start + 7) if start + 7 < len(RECORDS) else None
        return ok({"items": chunk, "paging": {"next": nxt}})

    server = api(route)
    source = HttpSource(
        http_conn_id="api_test",
        endpoint="/v2/items",
        records_path="items",
        pagination="cursor",
        cursor_path="paging.next",
        cursor_param="after",
    )
    manifest = ingest(source)
    assert landed_records(manifest) == RECORDS
    assert manifest["rows"] == len(RECORDS)
    assert [q.get("after") for _, q, _ in server.requests] == [None, "7", "14", "21"]


def test_link_header_pagination_follows_rel_next(api: Any) -> None:
    holder: dict[str, ApiServer] = {}

    def route(path: str, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        offset = int(query.get("offset", "0"))
        headers = {}
        if offset + 5 < len(RECORDS):
            nxt = f"{holder['s'].url}/v1/list?offset={offset + 5}"
            headers["Link"] = f'<{nxt}>; rel="next", <{holder["s"].url}/v1/list?offset=0>; rel="first"'
        return ok(RECORDS[offset : offset + 5], headers)

    holder["s"] = server = api(route)
    manifest = ingest(HttpSource(http_conn_id="api_test", endpoint="v1/list", pagination="link"))
    assert landed_records(manifest) == RECORDS
    assert manifest["rows"] == len(RECORDS)
    assert len(server.requests) == 5
    assert manifest["http"]["pages"] == 5


def test_link_to_another_host_is_refused(api: Any) -> None:
    api(lambda path, q: ok(RECORDS[:2], {"Link": '<http://elsewhere.invalid/v1/list?offset=2>; rel="next"'}))
    with pytest.raises(AirflowFailException, match="outside the connection's base URL"):
        ingest(HttpSource(http_conn_id="api_test", endpoint="v1/list", pagination="link"))


def test_429_waits_as_long_as_retry_after_says(api: Any) -> None:
    answers = [(429, {"Retry-After": "7"}, b"slow down"), (429, {"Retry-After": "3"}, b"")]

    def route(path: str, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        return answers.pop(0) if answers else ok({"data": RECORDS})

    server = api(route)
    delays: list[float] = []
    source = HttpSource(http_conn_id="api_test", endpoint="v1/r", records_path="data", sleep=delays.append)
    manifest = ingest(source)
    assert delays == [7.0, 3.0]  # the server's Retry-After, not the computed backoff
    assert len(server.requests) == 3
    assert manifest["rows"] == len(RECORDS)


def test_retry_after_as_an_http_date_and_the_cap() -> None:
    now = datetime(2026, 1, 2, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=42), usegmt=True), now=now) == 42.0
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=5), usegmt=True), now=now) == 0.0
    assert retry_after_seconds("soon") is None
    source = HttpSource(endpoint="x", max_backoff=30.0)
    assert source.delay(1, "3600") == 30.0  # capped
    assert [source.delay(n, None) for n in (1, 2, 3, 4, 5, 6)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0]


def test_500_then_success_retries_with_backoff(api: Any) -> None:
    answers = [(500, {}, b"boom"), (502, {}, b"bad gateway")]
    server = api(lambda path, q: answers.pop(0) if answers else ok({"data": RECORDS}))
    delays: list[float] = []
    manifest = ingest(
        HttpSource(http_conn_id="api_test", endpoint="v1/r", records_path="data", backoff=0.5, sleep=delays.append)
    )
    assert delays == [0.5, 1.0]  # exponential: 0.5 * 2**(attempt-1)
    assert len(server.requests) == 3
    assert landed_records(manifest) == RECORDS


def test_a_server_that_keeps_failing_gives_up_after_max_attempts_with_a_retryable_error(api: Any) -> None:
    server = api(lambda path, q: (503, {}, b"down"))
    delays: list[float] = []
    source = HttpSource(http_conn_id="api_test", endpoint="v1/r", max_attempts=4, sleep=delays.append)
    with pytest.raises(AirflowException, match=r"/v1/r \(page 1\): HTTP 503 after 4 attempts") as info:
        ingest(source)
    assert not isinstance(info.value, AirflowFailException)  # the API may recover: Airflow may retry
    assert delays == [1.0, 2.0, 4.0]
    assert len(server.requests) == 4


def test_a_refused_connection_is_retried_then_a_retryable_error(
    lockgate_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.net import free_port

    # nothing listens on this port: every attempt is refused
    conn = {"conn_type": "http", "host": LOOPBACK, "port": free_port()}
    monkeypatch.setenv("AIRFLOW_CONN_API_DOWN", json.dumps(conn))
    delays: list[float] = []
    source = HttpSource(http_conn_id="api_down", endpoint="v1/r", max_attempts=3, backoff=0.25, sleep=delays.append)
    with pytest.raises(AirflowException, match=r"connection failed \(ConnectionError\) after 3 attempts") as info:
        ingest(source)
    assert not isinstance(info.value, AirflowFailException)
    assert delays == [0.25, 0.5]


def test_a_client_error_fails_at_once(api: Any) -> None:
    server = api(lambda path, q: (404, {}, b"no such thing"))
    with pytest.raises(AirflowFailException, match=r"v1/missing \(page 1\): HTTP 404"):
        ingest(HttpSource(http_conn_id="api_test", endpoint="v1/missing", sleep=lambda s: None))
    assert len(server.requests) == 1


def test_a_page_that_is_not_json_is_a_clear_error_naming_url_and_page(api: Any) -> None:
    def route(path: str, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if query.get("page") == "2":
            return 200, {"Content-Type": "text/html"}, b"<html>maintenance</html>"
        return paged(path, query)

    server = api(route)
    source = HttpSource(
        http_conn_id="api_test",
        endpoint="v1/readings",
        params={"api_key": "k-123"},
        records_path="data",
        pagination="page",
    )
    with pytest.raises(AirflowFailException) as info:
        ingest(source)
    message = str(info.value)
    assert f"{server.url}/v1/readings?" in message
    assert "page=2" in message
    assert "(page 2)" in message
    assert "not JSON" in message
    assert "maintenance" in message
    assert "k-123" not in message  # a secret-looking parameter is redacted
    assert len(server.requests) == 2  # a malformed page is not retried


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"rows": []}, "records path 'data' not found in the JSON (no 'data')"),
        ({"data": {"id": 1}}, "records path 'data' is a dict, not a list of records"),
    ],
)
def test_a_page_without_the_records_list_is_a_clear_error(api: Any, body: Any, problem: str) -> None:
    server = api(lambda path, q: ok(body))
    with pytest.raises(AirflowFailException) as info:
        ingest(HttpSource(http_conn_id="api_test", endpoint="v1/readings", records_path="data"))
    assert str(info.value) == f"{server.url}/v1/readings (page 1): {problem}"


def test_display_url_redacts_credentials() -> None:
    assert display_url("https://u:p@api.example/v1?token=abc&page=2") == "https://api.example/v1?token=***&page=2"


def test_airflow_renders_the_template_fields_of_a_source_object() -> None:
    source = HttpSource(http_conn_id="api_test", endpoint="v1/{{ ds }}/readings", params={"day": "{{ ds_nodash }}"})
    op = IngestOperator(task_id="ingest_api", dataset="readings", source=source)
    op.render_template_fields({"ds": DS, "ds_nodash": DS.replace("-", "")})
    assert op.source is source
    assert (source.endpoint, source.params) == ("v1/2026-01-02/readings", {"day": "20260102"})
