"""A failing quality gate is loud and the run summary tells the truth, end to end with ``dag.test()``.

A YAML pipeline whose every row of a day is quarantined fails its row-count check. Before, the task
failed with only ``[fail] expect_table_row_count_to_be_between(table): observed 0`` and the run
summary said ``Quarantined: 0 rows``; the cause was only in report.json. Now the failure names the
quarantine by check, with example reasons (file, row, column, value), and where the report and the
quarantine file are; the summary counts the quarantined rows although the gate failed.

A day that repeats a primary key fails the gate naming the files and rows of the repeated key, and
nothing reaches the warehouse.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lockgate.cli import run_dag
from lockgate.hooks.lake import LakeHook
from lockgate.hooks.warehouse import WarehouseHook
from tests.support.dags import SPEC_HEADER, use_dags_folder, write_yaml_pipeline
from tests.support.http_recorder import RecordingHTTPServer

pytestmark = pytest.mark.integration

DS = "2026-01-02"
CONTRACT = """\
dataset: {dataset}
columns:
  id: {{type: string, nullable: false}}
  reading: {{type: double, nullable: false}}
primary_key: [id]
expectations:
  - expectation: expect_table_row_count_to_be_between
    kwargs: {{min_value: 1}}
    severity: fail
"""
SPEC = (
    SPEC_HEADER
    + """\
  files:
    - id: feed
      dataset: {dataset}
      path: "feed/{dataset}_{{{{ ds }}}}.csv"
      format: csv
datasets:
  {dataset}:
    contract: {contract}
loads:
  - dataset: {dataset}
    table: fact_{dataset}
    mode: {mode}
"""
)


@pytest.fixture
def alerts(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingHTTPServer]:
    """The pipelines' webhook alert connection, pointed at a local receiver."""
    with RecordingHTTPServer() as server:
        conn = {"conn_type": "http", "host": "127.0.0.1", "port": server.port, "schema": "http"}
        monkeypatch.setenv("AIRFLOW_CONN_LOCKGATE_TEST_ALERTS", json.dumps(conn))
        yield server


def _pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dataset: str, rows: str, mode: str) -> str:
    """A one-file YAML pipeline of ``dataset`` in a DAGs folder under ``tmp_path``; its DAG id."""
    dags, src = tmp_path / "dags", tmp_path / "src"
    (src / "feed").mkdir(parents=True)
    (src / "feed" / f"{dataset}_{DS}.csv").write_text(rows)
    contract = tmp_path / f"{dataset}.yaml"
    contract.write_text(CONTRACT.format(dataset=dataset))
    dag_id = f"loud_{dataset}"
    spec = SPEC.format(dag_id=dag_id, src=src, contract=contract, dataset=dataset, mode=mode)
    write_yaml_pipeline(dags, dag_id, spec)
    use_dags_folder(dags, monkeypatch)
    return dag_id


def _parquet_rows(key: str, workdir: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return pq.read_table(LakeHook().local_copy(key, workdir / "fetched")).to_pylist()


def _events(server: RecordingHTTPServer, event: str) -> list[dict[str, Any]]:
    return [body for body in (r.json() for r in server.requests) if body["event"] == event]


def test_a_day_quarantined_whole_fails_naming_the_cause_and_the_summary_counts_it(
    lockgate_home: Path,
    airflow_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    alerts: RecordingHTTPServer,
) -> None:
    dag_id = _pipeline(tmp_path, monkeypatch, "meter", "id,reading\nm1,\nm2,abc\nm3,\n", "replace_partition")
    assert run_dag(dag_id, DS, folder=tmp_path / "dags") == "failed"

    quarantine = _parquet_rows(f"quarantine/meter/ds={DS}/quarantine.parquet", tmp_path)
    assert sorted((r["source_row"], r["check_name"]) for r in quarantine) == [
        (2, "not_null"),
        (3, "type"),
        (4, "not_null"),
    ]

    [failure] = _events(alerts, "task_failure")
    assert failure["task_id"] == "gate_meter"
    message = failure["details"]["exception"]
    assert "[fail] expect_table_row_count_to_be_between(table)" in message
    assert "rows in 3, passed 0, quarantined 3" in message
    assert "quarantined by not_null: 2 row(s)" in message
    assert "quarantined by type: 1 row(s)" in message
    # an example reason names the file, the row, the column and the value
    assert f"raw/meter/ds={DS}/" in message
    assert "row 3: column reading: cannot read abc as double" in message
    assert f"report: {LakeHook().uri(f'quality/meter/ds={DS}/report.json')}" in message
    assert f"quarantine: {LakeHook().uri(f'quarantine/meter/ds={DS}/quarantine.parquet')}" in message

    [summary] = _events(alerts, "run_summary")
    assert summary["details"]["quarantined"] == {"gate_meter": len(quarantine)}
    assert summary["details"]["totals"]["rows_quarantined"] == 3
    assert "Quarantined: 3 rows (gate_meter 3)" in summary["message"]


@pytest.mark.parametrize("mode", ["replace_partition", "merge"])  # the modes a YAML load declares
def test_a_repeated_primary_key_fails_the_gate_and_never_reaches_the_warehouse(
    lockgate_home: Path,
    airflow_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    alerts: RecordingHTTPServer,
    mode: str,
) -> None:
    dag_id = _pipeline(tmp_path, monkeypatch, "tag", "id,reading\nK-1,1.5\nK-2,2\nK-1,3\n", mode)
    assert run_dag(dag_id, DS, folder=tmp_path / "dags") == "failed"

    [failure] = _events(alerts, "task_failure")
    assert failure["task_id"] == "gate_tag"
    message = failure["details"]["exception"]
    assert "[fail] primary_key(id): 2 of 3 rows unexpected" in message
    raw = f"raw/tag/ds={DS}/"
    assert "repeated keys id=K-1 at " + raw in message
    assert message.count("tag_2026-01-02.csv row ") == 2  # both rows of K-1, by file and row
    assert "row 2" in message
    assert "row 4" in message
    assert not WarehouseHook().table_exists("fact_tag")
