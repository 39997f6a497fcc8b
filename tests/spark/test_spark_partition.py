"""The partition step on Spark commits the same Iceberg snapshot of a date as the DuckDB engine:
the same rows, partitions, row count and rows' checksum (Spark writes Parquet, pyiceberg commits it).

The staged rows are the flagship sample day's, gated by DuckDB; each engine publishes them into a
lake of its own (``$LOCKGATE_HOME``), through the real PartitionOperator.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lockgate import sample_data
from lockgate.contracts import load_contract
from lockgate.gate import run_gate
from lockgate.hooks.iceberg import CHECKSUM, LOGICAL_DATE, ROWS, CatalogHook
from lockgate.hooks.lake import LakeHook
from lockgate.operators.partition import PartitionOperator
from tests.unit.test_gate import PREPROCESS, sample_files

DS = "2026-01-02"


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sample")
    files = sample_files(sample_data.generate(DS, root / "raw"))
    return run_gate(load_contract("readings"), files, ds=DS, workdir=root / "gate", preprocess=PREPROCESS).staged_path


def published(engine: str, staged: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Publish the staged rows with ``engine`` into lake ``home``; the date's snapshot and rows."""
    monkeypatch.setenv("LOCKGATE_HOME", str(home))
    LakeHook().put_file(staged, f"staged/readings/ds={DS}/part-0.parquet")
    context = {"ds": DS, "run_id": "parity", "dag": SimpleNamespace(dag_id="parity"), "ti": None}
    result = PartitionOperator(task_id="p", dataset="readings", engine=engine).execute(context)  # type: ignore[arg-type]
    catalog = CatalogHook()
    table = catalog.table("readings")
    snapshot = table.current_snapshot()
    rows = catalog.read_date("readings", DS).read_all().to_pylist()
    data = [f for f in catalog.referenced_files(table) if "/data/" in f]
    folders = sorted({f.rsplit("/data/", 1)[-1].rsplit("/", 1)[0] for f in data})
    summary = snapshot.summary.additional_properties
    return {
        "result": {k: result[k] for k in ("rows", "checksum")},
        "summary": {k: summary[k] for k in (ROWS, CHECKSUM, LOGICAL_DATE)},
        "operation": snapshot.summary.operation.value,
        "rows": sorted(rows, key=lambda r: (r["station_id"], r["observed_at"], r["pollutant"])),
        "folders": folders,
        "schema": str(table.schema()),
        "spec": str(table.spec()),
    }


def test_the_same_snapshot_of_the_date(
    spark: Any, staged: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    duck = published("duckdb", staged, tmp_path / "duck", monkeypatch)
    on_spark = published("spark", staged, tmp_path / "spark", monkeypatch)
    assert duck["result"]["rows"] > 1000
    assert on_spark == duck
    # a rerun on Spark replaces the date: one new snapshot, the same rows
    again = published("spark", staged, tmp_path / "spark", monkeypatch)
    assert again.pop("operation") == "overwrite"
    assert again == {k: v for k, v in duck.items() if k != "operation"}
