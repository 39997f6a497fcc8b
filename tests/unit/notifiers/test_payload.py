"""The shared alert payload: context fields, links, secret scrubbing and the three renderings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from airflow.sdk import Connection

from lockgate.notifiers import events
from lockgate.notifiers.payload import (
    build_payload,
    connection_secrets,
    context_fields,
    logical_ds,
    render_email,
    render_slack,
    render_text,
    scrub,
    ui_url,
)

RUN_ID = "scheduled__2026-01-02T00:00:00+00:00"
RUN_URL = "http://localhost:8080/dags/air_quality_daily/runs/scheduled__2026-01-02T00%3A00%3A00%2B00%3A00"


@pytest.fixture(autouse=True)
def _default_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW__API__BASE_URL", raising=False)


def task_context() -> dict:
    ti = SimpleNamespace(dag_id="air_quality_daily", task_id="gate_readings", run_id=RUN_ID, try_number=1)
    return {
        "ti": ti,
        "dag": SimpleNamespace(dag_id="air_quality_daily"),
        "run_id": RUN_ID,
        "ds": "2026-01-02",
        "logical_date": datetime(2026, 1, 2, tzinfo=UTC),
    }


def test_the_event_vocabulary() -> None:
    assert events.EVENTS == ("task_failure", "task_retry", "dq_warning", "schema_drift", "late_batch", "run_summary")
    assert [events.title(e) for e in events.EVENTS] == [
        "Task failed",
        "Task retrying",
        "Data-quality warning",
        "Schema drift",
        "Late batch",
        "Run summary",
    ]
    assert events.title("dag_failure") == "Dag failure"


def test_context_fields_of_the_three_kinds_of_callback_context() -> None:
    # a task callback
    assert context_fields(task_context()) == {
        "dag_id": "air_quality_daily",
        "task_id": "gate_readings",
        "run_id": RUN_ID,
        "logical_date": "2026-01-02T00:00:00+00:00",
        "try_number": 1,
    }
    # a DAG-level callback with the minimal context (no task instance)
    minimal = {"dag": SimpleNamespace(dag_id="air_quality_daily"), "run_id": RUN_ID, "reason": "task_failure"}
    assert context_fields(minimal) == {
        "dag_id": "air_quality_daily",
        "task_id": None,
        "run_id": RUN_ID,
        "logical_date": None,
        "try_number": None,
    }
    assert logical_ds(minimal) == "2026-01-02"  # from the run id, the last resort
    # a DeadlineAlert callback: the REST API's DAG run as JSON
    deadline = {
        "dag_run": {
            "dag_id": "air_quality_daily",
            "dag_run_id": RUN_ID,
            "logical_date": "2026-01-02T00:00:00Z",
            "state": "running",
        },
        "deadline": {"id": "0199", "deadline_time": "2026-01-03T06:00:00Z"},
    }
    assert context_fields(deadline)["run_id"] == RUN_ID
    assert context_fields(deadline)["dag_id"] == "air_quality_daily"
    assert logical_ds(deadline) == "2026-01-02"


def test_ui_links_follow_the_api_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ui_url("air_quality_daily", RUN_ID) == RUN_URL
    assert ui_url("air_quality_daily", RUN_ID, "gate_readings") == RUN_URL + "/tasks/gate_readings"
    assert ui_url(None, RUN_ID) is None
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com/")
    assert ui_url("air_quality_daily") == "https://airflow.example.com/dags/air_quality_daily"


def test_payload_fields_and_details() -> None:
    payload = build_payload(
        task_context(),
        event="dq_warning",
        message="max(value) 712.4 > 500",
        details={"observed_value": 712.4, "checked": ("a",), "at": datetime(2026, 1, 2, tzinfo=UTC)},
    )
    assert payload == {
        "event": "dq_warning",
        "message": "max(value) 712.4 > 500",
        "dag_id": "air_quality_daily",
        "task_id": "gate_readings",
        "run_id": RUN_ID,
        "logical_date": "2026-01-02T00:00:00+00:00",
        "try_number": 1,
        "url": RUN_URL + "/tasks/gate_readings",
        "details": {"observed_value": 712.4, "checked": ["a"], "at": "2026-01-02T00:00:00+00:00"},
    }
    # a url in the details (the run summary's link to the run) wins over the task link
    assert build_payload(task_context(), event="run_summary", message="m", details={"url": "x"})["url"] == "x"


def test_scrub_explicit_secrets_url_credentials_and_what_airflow_masks() -> None:
    from airflow.sdk.log import mask_secret

    mask_secret("masked-by-airflow-9f3b")
    value = {
        "message": "POST failed with token tok-12345 to https://svc:p%40ss-w0rd@example.com/x",
        "error": "postgres://loader:hunter2hunter2@db:5432/analytics",
        "nested": ["tok-12345", {"tok-12345": "masked-by-airflow-9f3b"}],
        "count": 3,
    }
    assert scrub(value, ["tok-12345", "abc"]) == {
        "message": "POST failed with token *** to https://svc:***@example.com/x",
        "error": "postgres://loader:***@db:5432/analytics",
        "nested": ["***", {"***": "***"}],
        "count": 3,
    }
    assert scrub("abc stays: shorter than 4 characters", ["abc"]) == "abc stays: shorter than 4 characters"


def test_connection_secrets_skip_public_extra_fields() -> None:
    conn = Connection(
        conn_id="c",
        conn_type="smtp",
        password="pw-123456",
        extra=json.dumps({"from_email": "lockgate@example.com", "disable_tls": "true", "api_token": "tok-abcdef"}),
    )
    assert sorted(connection_secrets(conn)) == ["lockgate@example.com", "pw-123456", "tok-abcdef", "true"]
    assert sorted(connection_secrets(conn, {"from_email", "disable_tls"})) == ["pw-123456", "tok-abcdef"]


def test_renderings_carry_the_same_alert() -> None:
    payload = build_payload(
        task_context(),
        event="task_failure",
        message="gate failed: <missing column> & more",
        details={"exception": "AirflowFailException: boom", "checks": ["not_null", "unique"], "report": {"x": 1}},
    )
    text = render_text(payload)
    assert text.splitlines()[0] == "Task failed: air_quality_daily.gate_readings (2026-01-02)"
    assert "gate failed: <missing column> & more" in text
    assert "exception: AirflowFailException: boom" in text
    assert "checks: not_null, unique" in text
    assert "report" not in text  # nested structures are for machines (the webhook JSON)
    assert text.endswith(f"Open in Airflow: {RUN_URL}/tasks/gate_readings")

    slack = render_slack(payload)
    assert slack["text"].startswith("*Task failed: air_quality_daily.gate_readings (2026-01-02)*\n")
    assert "```gate failed: &lt;missing column&gt; &amp; more```" in slack["text"]
    assert slack["text"].endswith(f"<{RUN_URL}/tasks/gate_readings|Open in Airflow>")

    subject, html = render_email(payload)
    assert subject == "[lockgate] Task failed: air_quality_daily.gate_readings (2026-01-02)"
    assert "<pre>gate failed: &lt;missing column&gt; &amp; more</pre>" in html
    assert "<th align='left'>exception</th><td>AirflowFailException: boom</td>" in html
    assert f"<a href='{RUN_URL}/tasks/gate_readings'>Open in Airflow</a>" in html
