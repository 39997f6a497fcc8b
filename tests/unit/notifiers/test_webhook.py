"""WebhookNotifier against a real local HTTP server, with the connection defined by env var."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import jinja2
import pytest
import structlog.testing
from airflow.sdk import DAG, TaskInstanceState

from lockgate.notifiers import DEFAULT_MESSAGE, WebhookNotifier, base
from tests.support.http_recorder import RecordingHTTPServer
from tests.support.net import free_port

CONN_ENV = "AIRFLOW_CONN_LOCKGATE_ALERTS"
PASSWORD = "pw-Zq8!webhook-secret"
EXTRA_TOKEN = "extra-token-5f1c9e"  # connection extra = HTTP headers for the receiver
LOGGER = "lockgate.notifiers.webhook"
# a link to the task of the run in the Airflow UI ([api] base_url, default http://localhost:8080)
TASK_URL = (
    "http://localhost:8080/dags/lockgate_demo/runs/scheduled__2024-01-01T00%3A00%3A00%2B00%3A00/tasks/load_partition"
)


def _conn_json(port: int, **overrides: Any) -> str:
    conn = {
        "conn_type": "http",
        "host": "127.0.0.1",
        "port": port,
        "schema": "http",
        "login": "lockgate",
        "password": PASSWORD,
        "extra": {"X-Alert-Token": EXTRA_TOKEN},
    }
    conn.update(overrides)
    return json.dumps(conn)


@pytest.fixture
def server() -> Iterator[RecordingHTTPServer]:
    with RecordingHTTPServer() as srv:
        yield srv


@pytest.fixture
def alerts_conn(server: RecordingHTTPServer, monkeypatch: pytest.MonkeyPatch) -> RecordingHTTPServer:
    monkeypatch.setenv(CONN_ENV, _conn_json(server.port))
    return server


@pytest.fixture
def context() -> dict[str, Any]:
    """The parts of an Airflow 3 task context the notifier uses (what the task runner passes)."""
    dag = DAG(dag_id="lockgate_demo", schedule=None)
    ti = SimpleNamespace(
        dag_id="lockgate_demo",
        task_id="load_partition",
        run_id="scheduled__2024-01-01T00:00:00+00:00",
        try_number=2,
        state=TaskInstanceState.FAILED,  # the real type: str() gives "TaskInstanceState.FAILED"
        map_index=-1,
    )
    logical_date = datetime(2024, 1, 1, tzinfo=UTC)
    return {
        "dag": dag,
        "ti": ti,
        "task_instance": ti,
        "run_id": ti.run_id,
        "logical_date": logical_date,
        "ds": "2024-01-01",
        "exception": ValueError("partition 2024-01-01 is locked"),
    }


@pytest.fixture
def caplog_all(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.WARNING and r.name == LOGGER]


# ---------------------------------------------------------------------------------------- tests


def test_env_connection_resolves_outside_a_running_task(
    alerts_conn: RecordingHTTPServer,
) -> None:
    """Airflow 3: with no task supervisor, connections come from env vars (+ configured backends)."""
    from airflow.providers.http.hooks.http import HttpHook
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection("lockgate_alerts")
    assert (conn.conn_type, conn.host, conn.port, conn.schema) == (
        "http",
        "127.0.0.1",
        alerts_conn.port,
        "http",
    )
    assert HttpHook(http_conn_id="lockgate_alerts").url_from_endpoint("/x") == f"{alerts_conn.url}/x"


def test_task_failure_callback_posts_the_rendered_alert(alerts_conn: RecordingHTTPServer, context: dict) -> None:
    notifier = WebhookNotifier(retry_delay=0)
    notifier(context)  # what Airflow does with on_failure_callback=notifier

    assert len(alerts_conn.requests) == 1
    request = alerts_conn.requests[0]
    assert request.method == "POST"
    assert request.path == "/"
    assert request.headers["Content-Type"] == "application/json"
    # The connection extra = HTTP headers, sent to the receiver only.
    assert request.headers["X-Alert-Token"] == EXTRA_TOKEN
    assert request.json() == {
        "event": "task_failure",
        "message": "lockgate_demo.load_partition failed for 2024-01-01",
        "dag_id": "lockgate_demo",
        "task_id": "load_partition",
        "run_id": "scheduled__2024-01-01T00:00:00+00:00",
        "logical_date": "2024-01-01T00:00:00+00:00",
        "try_number": 2,
        "url": TASK_URL,
        "details": {"exception": "ValueError: partition 2024-01-01 is locked"},
    }
    # Rendering happened on a copy: a notifier shared via default_args keeps its template.
    assert notifier.message == DEFAULT_MESSAGE
    assert notifier.event == "task_failure"


def test_custom_templates_endpoint_and_static_details(alerts_conn: RecordingHTTPServer, context: dict) -> None:
    notifier = WebhookNotifier(
        message="retrying {{ ti.task_id }} (try {{ ti.try_number }})",
        event="{{ 'task_retry' }}",
        endpoint="/hooks/lockgate",
        details={"team": "data-platform"},
    )
    notifier(context)
    body = alerts_conn.requests[0].json()
    assert alerts_conn.requests[0].path == "/hooks/lockgate"
    assert body["event"] == "task_retry"
    assert body["message"] == "retrying load_partition (try 2)"
    assert body["details"] == {
        "team": "data-platform",
        "exception": "ValueError: partition 2024-01-01 is locked",
    }


def test_manual_run_without_logical_date_falls_back_to_run_id(alerts_conn: RecordingHTTPServer, context: dict) -> None:
    for key in ("ds", "logical_date", "exception"):
        context.pop(key)
    context["run_id"] = context["ti"].run_id = "manual__2024-05-05T10:00:00+00:00"
    # Even a DAG with StrictUndefined templates renders the default message.
    context["dag"] = DAG(dag_id="lockgate_demo", schedule=None, template_undefined=jinja2.StrictUndefined)
    WebhookNotifier()(context)
    body = alerts_conn.requests[0].json()
    assert body["message"] == "lockgate_demo.load_partition failed for manual__2024-05-05T10:00:00+00:00"
    assert body["logical_date"] is None
    assert body["details"] == {}


def test_unrenderable_template_still_sends_a_plain_alert(alerts_conn: RecordingHTTPServer, context: dict) -> None:
    # e.g. a DAG-level callback: no ti in the context.
    del context["ti"], context["task_instance"]
    context["dag_run"] = SimpleNamespace(dag_id="lockgate_demo", run_id=context["run_id"], logical_date=None)
    WebhookNotifier(event="dag_failure")(context)
    body = alerts_conn.requests[0].json()
    assert body["event"] == "dag_failure"
    assert body["message"] == "lockgate_demo dag_failure for scheduled__2024-01-01T00:00:00+00:00"
    assert body["task_id"] is None
    assert body["try_number"] is None


def test_dq_warning_helper_sends_details(alerts_conn: RecordingHTTPServer, context: dict) -> None:
    notifier = WebhookNotifier(details={"team": "data-platform"})
    delivered = notifier.notify_event(
        context,
        event="dq_warning",
        message="3 of 120 rows failed not_null(customer_id)",
        details={
            "failed_rows": 3,
            "total_rows": 120,
            "checks": ("not_null",),
            "checked_at": datetime(2024, 1, 1, 1, 2, 3, tzinfo=UTC),
            "threshold": 0.05,
        },
    )
    assert delivered is True
    body = alerts_conn.requests[0].json()
    assert body == {
        "event": "dq_warning",
        "message": "3 of 120 rows failed not_null(customer_id)",
        "dag_id": "lockgate_demo",
        "task_id": "load_partition",
        "run_id": "scheduled__2024-01-01T00:00:00+00:00",
        "logical_date": "2024-01-01T00:00:00+00:00",
        "try_number": 2,
        "url": TASK_URL,
        "details": {
            "team": "data-platform",
            "failed_rows": 3,
            "total_rows": 120,
            "checks": ["not_null"],
            "checked_at": "2024-01-01T01:02:03+00:00",
            "threshold": 0.05,
        },
    }
    # The helper does not mutate the notifier.
    assert notifier.details == {"team": "data-platform"}


def test_5xx_then_200_is_retried(monkeypatch: pytest.MonkeyPatch, context: dict, caplog_all) -> None:
    with RecordingHTTPServer(statuses=[500, 503]) as flaky:
        monkeypatch.setenv(CONN_ENV, _conn_json(flaky.port))
        delivered = WebhookNotifier(retries=2, retry_delay=0).notify_event(
            context, event="dq_warning", message="retry me"
        )
        assert delivered is True
        assert len(flaky.requests) == 3
        assert flaky.requests[0].body == flaky.requests[2].body
    assert not _warnings(caplog_all)


def test_persistent_5xx_gives_up_after_the_retries(monkeypatch: pytest.MonkeyPatch, context: dict, caplog_all) -> None:
    with RecordingHTTPServer(default_status=502) as down:
        monkeypatch.setenv(CONN_ENV, _conn_json(down.port))
        notifier = WebhookNotifier(retries=2, retry_delay=0)
        notifier(context)  # does not raise
        assert len(down.requests) == 3
    [warning] = _warnings(caplog_all)
    assert "HTTP 502" in warning.getMessage()
    assert "after 3 attempt(s)" in warning.getMessage()


def test_4xx_is_not_retried(monkeypatch: pytest.MonkeyPatch, context: dict, caplog_all) -> None:
    with RecordingHTTPServer(default_status=400) as strict:
        monkeypatch.setenv(CONN_ENV, _conn_json(strict.port))
        assert WebhookNotifier(retry_delay=0).notify_event(context, event="x", message="y") is False
        assert len(strict.requests) == 1
    assert "HTTP 400" in _warnings(caplog_all)[0].getMessage()


def test_unreachable_receiver_is_retried_and_swallowed(
    monkeypatch: pytest.MonkeyPatch, context: dict, caplog_all
) -> None:
    monkeypatch.setenv(CONN_ENV, _conn_json(free_port()))  # nothing listens there
    notifier = WebhookNotifier(retries=1, retry_delay=0, timeout=2)
    assert notifier.notify_event(context, event="dq_warning", message="nobody home") is False
    notifier(context)
    warnings = _warnings(caplog_all)
    assert len(warnings) == 2
    assert all("ConnectionError" in w.getMessage() and "after 2 attempt(s)" in w.getMessage() for w in warnings)


def test_missing_connection_logs_one_warning_and_does_not_raise(
    monkeypatch: pytest.MonkeyPatch, context: dict, caplog_all
) -> None:
    monkeypatch.delenv(CONN_ENV, raising=False)
    # another alert connection exists, so alerting is on and this missing one is a mistake to warn of
    monkeypatch.setenv(
        "AIRFLOW_CONN_LOCKGATE_SLACK",
        json.dumps({"conn_type": "slackwebhook", "password": "T000/B000/not-a-real-token"}),
    )
    notifier = WebhookNotifier()
    # Airflow's own loggers are structlog loggers, not captured by caplog.
    with structlog.testing.capture_logs() as airflow_logs:
        assert notifier.notify_event(context, event="dq_warning", message="2 rows failed") is False
    [warning] = _warnings(caplog_all)
    # Nothing else warned either.
    assert [r for r in caplog_all.records if r.levelno >= logging.WARNING] == [warning]
    assert [e for e in airflow_logs if e.get("log_level") in ("warning", "error", "critical")] == []
    text = warning.getMessage()
    assert "lockgate_alerts" in text
    assert "dq_warning" in text
    assert "2 rows failed" in text

    caplog_all.clear()
    notifier(context)  # the callback path: no exception either
    [warning] = _warnings(caplog_all)
    assert "task_failure" in warning.getMessage()
    assert "lockgate_demo.load_partition failed for 2024-01-01" in warning.getMessage()


def test_no_alert_connection_at_all_is_one_info_line_not_a_warning_per_alert(
    monkeypatch: pytest.MonkeyPatch, context: dict, caplog_all
) -> None:
    # make demo: the embedded defaults define no alert connection, so alerting is simply off
    for conn_id in base.ALERT_CONN_IDS:
        monkeypatch.delenv(f"AIRFLOW_CONN_{conn_id.upper()}", raising=False)
    monkeypatch.setattr(base, "_alerting_off_logged", False)
    notifier = WebhookNotifier()
    assert notifier.notify_event(context, event="dq_warning", message="2 rows failed") is False
    assert notifier.notify_event(context, event="run_summary", message="done") is False
    notifier(context)
    assert _warnings(caplog_all) == []
    infos = [r.getMessage() for r in caplog_all.records if "alerts are off" in r.getMessage()]
    assert infos == [
        "lockgate alerts are off: none of the connections lockgate_alerts, lockgate_slack, lockgate_smtp is defined"
    ]


def test_notify_never_raises_even_on_a_broken_connection_definition(
    monkeypatch: pytest.MonkeyPatch, context: dict, caplog_all
) -> None:
    monkeypatch.setenv(CONN_ENV, "{not json")
    WebhookNotifier()(context)
    assert WebhookNotifier().notify_event(context, event="e", message="m") is False
    assert len(_warnings(caplog_all)) == 2


def test_connection_secrets_never_reach_the_body_or_the_logs(
    alerts_conn: RecordingHTTPServer, context: dict, caplog_all
) -> None:
    notifier = WebhookNotifier(retry_delay=0)
    # The HttpHook logs through structlog, not captured by caplog.
    with structlog.testing.capture_logs() as airflow_logs:
        notifier(context)
        # A careless caller putting connection secrets into an alert gets them scrubbed.
        notifier.notify_event(
            context,
            event="dq_warning",
            message=f"auth {PASSWORD} / {EXTRA_TOKEN}",
            details={"debug": {"password": PASSWORD, "headers": [EXTRA_TOKEN]}},
        )
        # Failed deliveries log more -- still nothing secret: a 500 receiver, then nobody listening.
        with (
            RecordingHTTPServer(default_status=500) as down,
            pytest.MonkeyPatch.context() as mp,
        ):
            mp.setenv(CONN_ENV, _conn_json(down.port))
            notifier.notify_event(context, event="dq_warning", message=f"again {PASSWORD}")
            mp.setenv(CONN_ENV, _conn_json(free_port()))
            notifier.notify_event(context, event="dq_warning", message=f"again {PASSWORD}")
    assert len(alerts_conn.requests) == 2
    for request in alerts_conn.requests:
        assert PASSWORD not in request.body.decode()
        assert EXTRA_TOKEN not in request.body.decode()
    scrubbed = alerts_conn.requests[1].json()
    assert scrubbed["message"] == "auth *** / ***"
    assert scrubbed["details"] == {"debug": {"password": "***", "headers": ["***"]}}

    assert caplog_all.records, "expected log records to inspect"
    for record in caplog_all.records:
        rendered = record.getMessage() + " " + json.dumps(record.__dict__, default=str)
        assert PASSWORD not in rendered
        assert EXTRA_TOKEN not in rendered
    assert PASSWORD not in caplog_all.text
    assert EXTRA_TOKEN not in caplog_all.text
    assert any("Connection refused" in str(e) for e in airflow_logs), "expected the HttpHook's own warning"
    assert PASSWORD not in json.dumps(airflow_logs, default=str)
    assert EXTRA_TOKEN not in json.dumps(airflow_logs, default=str)


def test_template_fields_are_message_and_event() -> None:
    assert tuple(WebhookNotifier.template_fields) == ("message", "event")
    notifier = WebhookNotifier()
    assert (notifier.webhook_conn_id, notifier.event) == (
        "lockgate_alerts",
        "task_failure",
    )
    with pytest.raises(TypeError):
        WebhookNotifier("positional_conn_id")  # type: ignore[misc]
