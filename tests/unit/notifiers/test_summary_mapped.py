"""The run summary shows a mapped task (one instance per source file) once, its instances summed."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from lockgate.notifiers.runstate import TaskOutcome
from lockgate.notifiers.summary import build_run_summary

DAG_ID = "air_quality_daily"
TASK_IDS = ["list_gateway_files", "ingest_gateway", "gate_readings", "load_2"]


def ingest(
    name: str, state: str, rows: int | None = None, size: int | None = None, seconds: float = 2.0
) -> TaskOutcome:
    metrics = {} if rows is None else {"rows_in": rows, "rows_out": rows, "bytes": size, "duration_s": seconds}
    return TaskOutcome(name, state, {"rows": rows, "bytes": size, "metrics": metrics} if rows is not None else None)


def test_mapped_instances_are_one_entry_and_a_failed_instance_is_named(lockgate_home: Path) -> None:
    outcomes = {
        "list_gateway_files": TaskOutcome("list_gateway_files", "success"),
        "ingest_gateway_0": ingest("ingest_gateway_0", "success", 100, 4000),
        "ingest_gateway_1": ingest("ingest_gateway_1", "failed"),
        "ingest_gateway_2": ingest("ingest_gateway_2", "success", 50, 2000, seconds=1.0),
        "gate_readings": TaskOutcome("gate_readings", "upstream_failed"),
        # a task whose own id ends in _<digits> is not an instance of another task
        "load_2": TaskOutcome("load_2", "upstream_failed"),
    }
    context = {
        "dag": SimpleNamespace(dag_id=DAG_ID, task_ids=TASK_IDS),
        "run_id": "manual__x",
        "ds": "2026-01-02",
        "reason": "task_failure",
    }
    details = build_run_summary(context, outcomes=outcomes).details
    assert details["tasks"]["ingest_gateway"] == {
        "state": "failed",
        "mapped": 3,
        "rows_in": 150,
        "rows_out": 150,
        "bytes": 6000,
        "duration_s": 3.0,
        "rows_per_second": 50.0,
        "bytes_per_second": 2000.0,
    }
    assert sorted(details["tasks"]) == ["gate_readings", "ingest_gateway", "list_gateway_files", "load_2"]
    assert details["failed_tasks"] == ["ingest_gateway_1"]  # which file's instance failed
    assert details["not_run_tasks"] == ["gate_readings", "load_2"]


def test_without_the_dags_task_ids_instances_stay_as_airflow_names_them(lockgate_home: Path) -> None:
    outcomes = {"ingest_gateway_0": ingest("ingest_gateway_0", "success", 100, 4000)}
    context = {"dag": SimpleNamespace(dag_id=DAG_ID), "run_id": "manual__x", "ds": "2026-01-02", "reason": "success"}
    details = build_run_summary(context, outcomes=outcomes).details
    assert list(details["tasks"]) == ["ingest_gateway_0"]
