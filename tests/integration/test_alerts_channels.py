"""The Slack and email notifiers against real local servers: an HTTP server posing as Slack's
incoming-webhook endpoint (reached through the slackwebhook connection's host) and aiosmtpd.

The generic webhook has its own tests (tests/unit/notifiers/test_webhook.py); here all three
channels also carry one alert, to show they send the same payload.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from lockgate.notifiers import EmailNotifier, SlackNotifier, WebhookNotifier
from tests.support.http_recorder import RecordingHTTPServer
from tests.support.net import free_port
from tests.unit.notifiers.servers import SmtpRecorder

pytestmark = pytest.mark.integration

SLACK_TOKEN = "T0AAA/B0BBB/slack-token-9XyZ"
SMTP_PASSWORD = "smtp-pass-Qq41!"
WEBHOOK_PASSWORD = "hook-pass-77aa"
SECRETS = (SLACK_TOKEN, "slack-token-9XyZ", SMTP_PASSWORD, WEBHOOK_PASSWORD)
RUN_ID = "scheduled__2026-01-02T00:00:00+00:00"


@pytest.fixture
def context(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com")
    ti = SimpleNamespace(dag_id="air_quality_daily", task_id="gate_readings", run_id=RUN_ID, try_number=1)
    return {
        "ti": ti,
        "dag": SimpleNamespace(dag_id="air_quality_daily"),
        "run_id": RUN_ID,
        "ds": "2026-01-02",
        "logical_date": datetime(2026, 1, 2, tzinfo=UTC),
    }


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingHTTPServer]:
    with RecordingHTTPServer() as server:
        monkeypatch.setenv("AIRFLOW_CONN_LOCKGATE_SLACK", _slack_conn(server.port))
        yield server


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpRecorder]:
    with SmtpRecorder(users={"alerts": SMTP_PASSWORD}) as server:
        monkeypatch.setenv("AIRFLOW_CONN_LOCKGATE_SMTP", _smtp_conn(server.port, SMTP_PASSWORD))
        yield server


def _slack_conn(port: int) -> str:
    return json.dumps(
        {"conn_type": "slackwebhook", "host": f"http://127.0.0.1:{port}/services", "password": SLACK_TOKEN}
    )


def _smtp_conn(port: int, password: str) -> str:
    extra = {"from_email": "lockgate@pollutrack.example", "disable_ssl": True, "disable_tls": True, "retry_limit": 0}
    return json.dumps(
        {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": port,
            "login": "alerts",
            "password": password,
            "extra": extra,
        }
    )


DQ = {
    "event": "dq_warning",
    "message": "data-quality warning for readings ds=2026-01-02: expect_column_max_to_be_between(value)",
    "details": {"observed_value": 712.4, "unexpected_count": 3, "check": "expect_column_max_to_be_between(value)"},
}


# ------------------------------------------------------------------------------------------ Slack


def test_slack_posts_the_alert_to_the_webhook_url_of_the_connection(
    slack: RecordingHTTPServer, context: dict, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the Slack SDK logs the request URL (with the token) at DEBUG
    assert SlackNotifier(retry_delay=0).notify_event(context, **DQ) is True

    [request] = slack.requests
    assert request.method == "POST"
    assert request.path == f"/services/{SLACK_TOKEN}"
    body = request.json()
    assert body["unfurl_links"] is False
    assert body["text"].splitlines() == [
        "*Data-quality warning: air_quality_daily.gate_readings (2026-01-02)*",
        "```" + DQ["message"] + "```",
        "*observed_value*: 712.4",
        "*unexpected_count*: 3",
        "*check*: expect_column_max_to_be_between(value)",
        "<https://airflow.example.com/dags/air_quality_daily/runs/scheduled__2026-01-02T00%3A00%3A00%2B00%3A00"
        "/tasks/gate_readings|Open in Airflow>",
    ]
    sdk_lines = [r.getMessage() for r in caplog.records if r.name == "lockgate.notifiers.slack.client"]
    assert any(f"url: http://127.0.0.1:{slack.port}/services/***" in line for line in sdk_lines), sdk_lines
    assert "slack-token-9XyZ" not in caplog.text


def test_slack_failure_callback_renders_the_template(slack: RecordingHTTPServer, context: dict) -> None:
    from airflow.sdk import DAG, TaskInstanceState

    context["dag"] = DAG(dag_id="air_quality_daily", schedule=None)
    context["ti"].state = TaskInstanceState.FAILED
    context["exception"] = RuntimeError("warehouse is locked")
    SlackNotifier(event="task_failure")(context)
    text = slack.requests[0].json()["text"]
    assert "```air_quality_daily.gate_readings failed for 2026-01-02```" in text
    assert "*exception*: RuntimeError: warehouse is locked" in text


def test_slack_retries_5xx_and_429_but_not_4xx(monkeypatch: pytest.MonkeyPatch, context: dict) -> None:
    with RecordingHTTPServer(statuses=[500, 429]) as flaky:
        monkeypatch.setenv("AIRFLOW_CONN_LOCKGATE_SLACK", _slack_conn(flaky.port))
        assert SlackNotifier(retry_delay=0).notify_event(context, **DQ) is True
        assert len(flaky.requests) == 3
    with RecordingHTTPServer(default_status=404) as gone:
        monkeypatch.setenv("AIRFLOW_CONN_LOCKGATE_SLACK", _slack_conn(gone.port))
        assert SlackNotifier(retry_delay=0).notify_event(context, **DQ) is False
        assert len(gone.requests) == 1


def test_slack_unreachable_is_logged_without_the_token(
    monkeypatch: pytest.MonkeyPatch, context: dict, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("AIRFLOW_CONN_LOCKGATE_SLACK", _slack_conn(free_port()))
    assert SlackNotifier(retries=1, retry_delay=0, timeout=2).notify_event(context, **DQ) is False
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "lockgate.notifiers.slack"]
    assert "not delivered to connection 'lockgate_slack' after 2 attempt(s): URLError" in warning.getMessage()
    assert "slack-token-9XyZ" not in caplog.text


# ------------------------------------------------------------------------------------------ email


def test_email_is_sent_over_smtp_with_auth(smtp: SmtpRecorder, context: dict) -> None:
    notifier = EmailNotifier(to=["oncall@pollutrack.example", "lead@pollutrack.example"])
    assert notifier.notify_event(context, **DQ) is True

    [mail] = smtp.messages
    assert smtp.logins == ["alerts"]
    assert mail.mail_from == "lockgate@pollutrack.example"
    assert mail.rcpt_tos == ["oncall@pollutrack.example", "lead@pollutrack.example"]
    message = mail.message
    assert message["Subject"] == "[lockgate] Data-quality warning: air_quality_daily.gate_readings (2026-01-02)"
    assert message["To"] == "oncall@pollutrack.example, lead@pollutrack.example"
    assert message["X-Lockgate-Event"] == "dq_warning"
    html = mail.html
    assert f"<pre>{DQ['message']}</pre>" in html
    assert "<th align='left'>observed_value</th><td>712.4</td>" in html
    assert "href='https://airflow.example.com/dags/air_quality_daily/runs/" in html
    assert SMTP_PASSWORD not in mail.data.decode()


def test_email_rejected_login_or_no_server_never_raises(
    smtp: SmtpRecorder, monkeypatch: pytest.MonkeyPatch, context: dict, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LOCKGATE_SMTP", _smtp_conn(smtp.port, "wrong-password"))
    notifier = EmailNotifier(to="oncall@pollutrack.example", retry_delay=0)
    assert notifier.notify_event(context, **DQ) is False
    assert smtp.messages == []
    monkeypatch.setenv("AIRFLOW_CONN_LOCKGATE_SMTP", _smtp_conn(free_port(), SMTP_PASSWORD))
    notifier(context)  # as a callback: nothing raised either
    warnings = [r.getMessage() for r in caplog.records if r.name == "lockgate.notifiers.email"]
    assert any("SMTPAuthenticationError" in w and "after 1 attempt(s)" in w for w in warnings), warnings
    assert any("ConnectionRefusedError" in w and "after 2 attempt(s)" in w for w in warnings), warnings
    assert SMTP_PASSWORD not in caplog.text


# ------------------------------------------------------------------------------------ all channels


def test_the_three_channels_carry_the_same_alert(
    slack: RecordingHTTPServer, smtp: SmtpRecorder, monkeypatch: pytest.MonkeyPatch, context: dict
) -> None:
    with RecordingHTTPServer() as hook:
        monkeypatch.setenv(
            "AIRFLOW_CONN_LOCKGATE_ALERTS",
            json.dumps(
                {
                    "conn_type": "http",
                    "host": "127.0.0.1",
                    "port": hook.port,
                    "login": "lockgate",
                    "password": WEBHOOK_PASSWORD,
                }
            ),
        )
        # a careless message: every channel's secret pasted in, and a DSN with credentials
        message = f"{DQ['message']} ({' '.join(SECRETS)} postgres://loader:s3cr3t-pw@db/x)"
        for notifier in (WebhookNotifier(), SlackNotifier(), EmailNotifier(to="oncall@pollutrack.example")):
            assert notifier.notify_event(context, event="dq_warning", message=message, details=DQ["details"])
        payload = hook.requests[0].json()
    scrubbed = payload["message"]
    # each channel scrubs its own connection's secrets, credentials in URLs, and what Airflow masks
    assert "postgres://loader:***@db/x" in scrubbed
    assert WEBHOOK_PASSWORD not in scrubbed
    slack_text = slack.requests[0].json()["text"]
    mail_html = smtp.messages[0].html
    assert SLACK_TOKEN not in slack_text
    assert SMTP_PASSWORD not in mail_html
    assert "s3cr3t-pw" not in slack_text + mail_html + json.dumps(payload)
    # the same alert: the webhook's JSON is what Slack and email render
    assert payload["url"] in slack_text
    assert payload["url"] in mail_html
    for key, value in payload["details"].items():
        assert f"*{key}*: {value}" in slack_text
        assert f"<th align='left'>{key}</th><td>{value}</td>" in mail_html
