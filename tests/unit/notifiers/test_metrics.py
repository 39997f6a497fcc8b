"""lockgate.metrics: one set of task metrics from what each operator returns; how the base installs it."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest

from lockgate.metrics import TaskMetricsHook, describe, task_metrics


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (  # IngestOperator
            {"manifest_key": "raw/...", "files": 1, "rows": 3600, "bytes": 412_000},
            {
                "rows_in": 3600,
                "rows_out": 3600,
                "bytes": 412_000,
                "rows_per_second": 1800.0,
                "bytes_per_second": 206_000.0,
            },
        ),
        (  # QualityGateOperator
            {"rows_in": 7152, "rows_passed": 7129, "rows_quarantined": 17, "duplicates_removed": 6, "warnings": []},
            {"rows_in": 7152, "rows_out": 7129, "rows_quarantined": 17, "rows_per_second": 3564.5},
        ),
        (  # PartitionOperator
            {"rows": 7129, "files": 5, "checksum": "ab"},
            {"rows_in": 7129, "rows_out": 7129, "rows_per_second": 3564.5},
        ),
        (  # WarehouseLoadOperator
            {"table": "fact", "rows_loaded": 7129, "mode": "replace_partition", "checksum": "ab"},
            {"rows_out": 7129, "rows_per_second": 3564.5},
        ),
        ({"stations": 50}, {}),  # nothing it reports is a row count this module knows
        ("a string", {}),
        (None, {}),
    ],
)
def test_metrics_from_each_operators_return_value(result: Any, expected: dict) -> None:
    assert task_metrics(result, 2.0) == {**expected, "duration_s": 2.0}


def test_without_a_duration_there_is_no_throughput() -> None:
    assert task_metrics({"rows": 10, "bytes": 5}, None) == {"rows_in": 10, "rows_out": 10, "bytes": 5}
    assert task_metrics({"rows": 10}, 0.0) == {"rows_in": 10, "rows_out": 10, "duration_s": 0.0}
    assert task_metrics({"rows": True}, 1.0) == {"duration_s": 1.0}  # a bool is not a count


def test_the_hook_measures_adds_to_the_result_and_chains_the_authors_hooks() -> None:
    now = [100.0]
    calls: list[tuple[str, Any]] = []
    hook = TaskMetricsHook(
        lambda ctx: calls.append(("pre", ctx["run_id"])),
        lambda ctx, result: calls.append(("post", dict(result))),
        clock=lambda: now[0],
    )
    ti, task = SimpleNamespace(dag_id="d", task_id="t"), SimpleNamespace(dataset="readings")
    context = {"ti": ti, "task": task, "run_id": "r"}
    hook.started(context)
    now[0] += 4.0
    result: dict[str, Any] = {"rows_in": 100, "rows_passed": 90, "rows_quarantined": 10}
    hook.finished(context, result)
    metrics = {"rows_in": 100, "rows_out": 90, "rows_quarantined": 10, "duration_s": 4.0, "rows_per_second": 22.5}
    assert result == {"rows_in": 100, "rows_passed": 90, "rows_quarantined": 10, "metrics": metrics}
    # the author's post_execute sees the result with its metrics
    assert calls == [("pre", "r"), ("post", result)]
    assert describe(metrics) == "rows_in=100 rows_out=90 rows_quarantined=10 duration=4.0s throughput=22.5 rows/s"


def test_the_hook_never_fails_a_task() -> None:
    hook = TaskMetricsHook()
    assert hook.record(object(), {"rows": 1}) is not None  # a context it cannot read
    result = {"rows": 1, "metrics": "the operator's own"}
    hook.finished({}, result)
    assert result["metrics"] == "the operator's own"  # never overwritten


def test_lake_operators_install_the_hook_and_keep_the_authors_own() -> None:
    from lockgate.operators.partition import PartitionOperator

    seen: list[str] = []
    op = PartitionOperator(
        task_id="p", dataset="readings", post_execute=lambda ctx, result: seen.append(f"post {result}")
    )
    assert op._pre_execute_hook.__func__ is TaskMetricsHook.started
    assert op._post_execute_hook.__func__ is TaskMetricsHook.finished
    op._pre_execute_hook({})
    op._post_execute_hook({"ti": SimpleNamespace(dag_id="d", task_id="p")}, {"rows": 3})
    [line] = seen
    assert line.startswith("post {'rows': 3, 'metrics': {'rows_in': 3, 'rows_out': 3, 'duration_s': ")
    # a deep copy (Airflow copies tasks) keeps one hook per copy, bound to it
    clone = copy.deepcopy(op)
    assert clone._pre_execute_hook.__self__ is clone._post_execute_hook.__self__
    assert clone._post_execute_hook.__self__ is not op._post_execute_hook.__self__
