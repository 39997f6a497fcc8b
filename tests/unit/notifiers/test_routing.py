"""lockgate.alerts: which alerts go where, declared per pipeline; the late-batch deadline."""

from __future__ import annotations

import asyncio
import importlib.util
from datetime import timedelta
from pathlib import Path

import pytest

from lockgate.alerts import (
    late_batch_deadline,
    notifiers_for,
    notify_late_batch,
    notify_late_batch_async,
    parse_target,
    targets_for,
)
from lockgate.notifiers import EmailNotifier, RunSummaryNotifier, SlackNotifier, WebhookNotifier

ALERTS = {
    "default": ["webhook:lockgate_alerts"],
    "task_failure": ["webhook:ops_hook", "slack:ops_slack", "email:oncall@example.com,lead@example.com"],
    "run_summary": ["slack", "email:team@example.com", "slack:lockgate_slack"],
    "task_retry": [],
}
DAG_FILE = Path(__file__).resolve().parents[3] / "dags" / "air_quality_daily.py"


def describe(notifier: object) -> tuple:
    if isinstance(notifier, WebhookNotifier):
        return ("webhook", notifier.webhook_conn_id, notifier.event)
    if isinstance(notifier, SlackNotifier):
        return ("slack", notifier.slack_webhook_conn_id, notifier.event)
    if isinstance(notifier, EmailNotifier):
        return ("email", notifier.smtp_conn_id, tuple(notifier.to), notifier.event)
    raise AssertionError(f"unexpected notifier {notifier!r}")


def test_each_target_becomes_its_channel_notifier() -> None:
    assert [describe(n) for n in notifiers_for(ALERTS, "task_failure")] == [
        ("webhook", "ops_hook", "task_failure"),
        ("slack", "ops_slack", "task_failure"),
        ("email", "lockgate_smtp", ("oncall@example.com", "lead@example.com"), "task_failure"),
    ]


def test_default_applies_to_unnamed_events_and_an_empty_list_means_none() -> None:
    assert [describe(n) for n in notifiers_for(ALERTS, "dq_warning")] == [("webhook", "lockgate_alerts", "dq_warning")]
    assert [describe(n) for n in notifiers_for(ALERTS, "schema_drift")] == [
        ("webhook", "lockgate_alerts", "schema_drift")
    ]
    assert notifiers_for(ALERTS, "task_retry") == []
    assert notifiers_for({}, "task_failure") == []


def test_retry_alerts_say_so() -> None:
    [retry] = notifiers_for({"task_retry": ["webhook"]}, "task_retry")
    assert retry.message.startswith("{{ dag.dag_id }}.{{ ti.task_id }} failed on try {{ ti.try_number }}")


def test_run_summary_is_one_dag_callback_fanning_out() -> None:
    [summary] = notifiers_for(ALERTS, "run_summary")
    assert isinstance(summary, RunSummaryNotifier)
    # "slack" alone is the default connection, and the duplicate is dropped
    assert [describe(n) for n in summary.notifiers] == [
        ("slack", "lockgate_slack", "run_summary"),
        ("email", "lockgate_smtp", ("team@example.com",), "run_summary"),
    ]
    assert notifiers_for({"default": []}, "run_summary") == []


@pytest.mark.parametrize(
    ("alerts", "event", "problem"),
    [
        ({}, "dag_failure", "unknown alert event 'dag_failure'"),
        ({"task_faliure": ["webhook:x"]}, "task_failure", "unknown alert event(s) 'task_faliure'"),
        ({"task_failure": ["pagerduty:x"]}, "task_failure", "alert target 'pagerduty:x': expected one of"),
        ({"task_failure": ["email:"]}, "task_failure", "alert target 'email:': an email target needs an address"),
    ],
)
def test_mistakes_fail_when_the_dag_is_parsed(alerts: dict, event: str, problem: str) -> None:
    with pytest.raises(ValueError, match="^" + problem.replace("(", r"\(").replace(")", r"\)")):
        notifiers_for(alerts, event)


def test_targets() -> None:
    assert parse_target(" Slack : team ") == ("slack", "team")
    assert parse_target("webhook") == ("webhook", "lockgate_alerts")
    assert targets_for({"late_batch": "webhook:x"}, "late_batch") == ["webhook:x"]


def test_late_batch_deadline_is_a_deadline_alert_on_the_logical_date() -> None:
    from airflow.sdk import AsyncCallback, DeadlineReference

    alert = late_batch_deadline(ALERTS, after=timedelta(hours=30))
    assert alert is not None
    assert alert.reference == DeadlineReference.DAGRUN_LOGICAL_DATE
    assert alert.interval == timedelta(hours=30)
    assert alert.name == "late_batch"
    # the triggerer runs it: an executor callback cannot read connections from the metadata DB
    assert isinstance(alert.callback, AsyncCallback)
    assert alert.callback.path == "lockgate.alerts.notify_late_batch_async"
    assert alert.callback.kwargs == {"targets": ["webhook:lockgate_alerts"]}  # late_batch falls back to default
    assert late_batch_deadline({"late_batch": []}) is None


def test_the_late_batch_callback_never_raises() -> None:
    # no connections defined: every target logs and nothing is delivered
    assert notify_late_batch({"dag_run": {"dag_id": "d", "dag_run_id": "r"}}, targets=["webhook:nope"]) == 0
    assert notify_late_batch(None, targets=["not-a-target"]) == 0
    assert asyncio.run(notify_late_batch_async(None, targets=["webhook:nope"])) == 0


def test_air_quality_daily_declares_its_alerts_in_one_mapping() -> None:
    """The flagship DAG: routing, DAG-level summary callbacks, the deadline, serialized as Airflow stores it."""
    from airflow.serialization.serialized_objects import DagSerialization

    spec = importlib.util.spec_from_file_location("air_quality_daily_for_alerts", DAG_FILE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.air_quality_daily_dag

    assert set(module.ALERTS) == {"default", "task_failure", "late_batch", "run_summary"}
    for callbacks in (dag.on_success_callback, dag.on_failure_callback):
        [summary] = callbacks
        assert isinstance(summary, RunSummaryNotifier)
        assert [describe(n)[0] for n in summary.notifiers] == ["webhook", "slack", "email"]
    gate = dag.get_task("gate_readings")
    assert [describe(n) for n in gate.warning_notifiers] == [("webhook", "lockgate_alerts", "dq_warning")]
    for task in dag.tasks:
        assert [describe(n)[0] for n in task.on_failure_callback] == ["webhook", "slack", "email"]
        assert [describe(n)[2] for n in task.on_retry_callback] == ["task_retry"]

    [deadline] = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    assert deadline.interval == timedelta(hours=30)
    serialized = DagSerialization.to_dict(dag)["dag"]["deadline"]
    [encoded] = serialized
    assert encoded["reference"] == {"reference_type": "DagRunLogicalDateDeadline"}
    assert encoded["interval"]["__data__"] == 30 * 3600
    assert encoded["callback"]["__data__"]["path"] == "lockgate.alerts.notify_late_batch_async"
    assert encoded["callback"]["__data__"]["kwargs"] == {"targets": module.ALERTS["late_batch"]}
