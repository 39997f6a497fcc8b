"""The run summary message (from the lake's summary.json, else from task results) and the late-batch message."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from lockgate.notifiers.deadline import late_batch_alert
from lockgate.notifiers.runstate import TaskOutcome
from lockgate.notifiers.summary import build_run_summary

DAG_ID = "air_quality_daily"
RUN_ID = "scheduled__2026-01-02T00:00:00+00:00"
RUN_URL = "http://localhost:8080/dags/air_quality_daily/runs/scheduled__2026-01-02T00%3A00%3A00%2B00%3A00"
LAKE_SUMMARY = {
    "dag_id": DAG_ID,
    "run_id": RUN_ID,
    "ds": "2026-01-02",
    "datasets": [
        {
            "dataset": "stations",
            "table": "dim_station",
            "rows_in": 50,
            "rows_quarantined": 0,
            "duplicates_removed": 0,
            "rows_loaded": 50,
        },
        {
            "dataset": "readings",
            "table": "fact_air_quality_hourly",
            "rows_in": 7152,
            "rows_quarantined": 17,
            "duplicates_removed": 6,
            "rows_loaded": 7129,
        },
    ],
    "warnings": ["readings: expect_column_max_to_be_between(value)"],
}


@pytest.fixture
def lake(lockgate_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("AIRFLOW__API__BASE_URL", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_LOCKGATE_LAKE", raising=False)
    from lockgate.hooks.lake import LakeHook

    LakeHook().write_json(f"reports/{DAG_ID}/ds=2026-01-02/summary.json", LAKE_SUMMARY)
    return lockgate_home


def callback_context(reason: str, **extra: object) -> dict:
    return {"dag": SimpleNamespace(dag_id=DAG_ID), "run_id": RUN_ID, "ds": "2026-01-02", "reason": reason, **extra}


def test_a_successful_run_is_summarised_from_its_summary_json(lake: Path) -> None:
    outcomes = {
        "gate_readings": TaskOutcome(
            "gate_readings", "success", {"rows_quarantined": 17, "metrics": {"rows_in": 7152, "duration_s": 1.5}}
        ),
        "summarize": TaskOutcome("summarize", "success", {"dag_id": DAG_ID}),
    }
    summary = build_run_summary(callback_context("success"), outcomes=outcomes)
    assert summary.state == "success"
    assert summary.message == "\n".join(
        [
            "air_quality_daily ds=2026-01-02 succeeded",
            "Loaded: 7,179 rows (dim_station 50, fact_air_quality_hourly 7,129)",
            "Quarantined: 17 rows (readings 17)",
            "Duplicates removed: 6 rows (readings 6)",
            "Data-quality warnings: readings: expect_column_max_to_be_between(value)",
            "Failed: nothing",
            f"Run: {RUN_URL}",
        ]
    )
    assert summary.details["source"] == "summary.json"
    assert summary.details["totals"] == {"rows_loaded": 7179, "rows_quarantined": 17, "duplicates_removed": 6}
    assert summary.details["tasks"] == {
        "gate_readings": {"state": "success", "rows_in": 7152, "duration_s": 1.5},
        "summarize": {"state": "success"},
    }
    assert summary.details["url"] == RUN_URL


def test_an_earlier_runs_summary_is_not_this_runs(lake: Path) -> None:
    context = callback_context("task_failure")
    context["run_id"] = "manual__2026-01-05T10:00:00+00:00"  # a rerun of the same date that failed early
    outcomes = {
        "ingest_stations": TaskOutcome("ingest_stations", "success", {"rows": 50, "bytes": 2100}),
        "gate_stations": TaskOutcome(
            "gate_stations",
            "success",
            {"rows_in": 50, "rows_passed": 49, "rows_quarantined": 1, "duplicates_removed": 0, "warnings": []},
        ),
        "load_dim_station": TaskOutcome("load_dim_station", "success", {"table": "dim_station", "rows_loaded": 49}),
        "gate_readings": TaskOutcome("gate_readings", "failed"),
        "partition_readings": TaskOutcome("partition_readings", "upstream_failed"),
        "summarize": TaskOutcome("summarize", "upstream_failed"),
    }
    summary = build_run_summary(context, outcomes=outcomes)
    assert summary.state == "failed"
    assert summary.details["source"] == "task results"
    assert summary.message.splitlines()[:5] == [
        "air_quality_daily ds=2026-01-02 FAILED (task_failure)",
        "Loaded: 49 rows (dim_station 49)",
        "Quarantined: 1 rows (gate_stations 1)",
        "Failed: gate_readings",
        "Not run: partition_readings, summarize",
    ]


def test_without_task_states_the_callbacks_task_is_what_failed(lake: Path) -> None:
    context = callback_context("task_failure", ti=SimpleNamespace(task_id="load_fact_air_quality_hourly"))
    context["run_id"] = "manual__other"
    context["ds"] = "2026-01-09"  # nothing in the lake for this date
    summary = build_run_summary(context, outcomes={})
    assert summary.details["failed_tasks"] == ["load_fact_air_quality_hourly"]
    assert "Loaded: 0 rows" in summary.message


@pytest.mark.parametrize("deadline_time", [datetime(2026, 1, 3, 6, tzinfo=UTC), "2026-01-03T06:00:00Z"])
def test_late_batch_message(deadline_time: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW__API__BASE_URL", raising=False)
    context = {
        "dag_run": {
            "dag_id": DAG_ID,
            "dag_run_id": RUN_ID,
            "logical_date": "2026-01-02T00:00:00Z",
            "state": "running",
            "conf": {},
        },
        "deadline": {"id": "0199a", "deadline_time": deadline_time},
    }
    message, details, send_context = late_batch_alert(context)
    assert message == (
        f"air_quality_daily: the data for 2026-01-02 was not loaded by 2026-01-03 06:00 UTC; run {RUN_ID} is still"
        " running."
    )
    assert details["ds"] == "2026-01-02"
    assert details["run_state"] == "running"
    assert details["url"] == RUN_URL
    assert send_context["run_id"] == RUN_ID
