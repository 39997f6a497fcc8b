"""Schema drift detected at ingestion: recorded per file and in summary in the manifest, and carried
into the quality gate's report (retyped columns included, which only ingestion can see)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lockgate.hooks.lake import LakeHook
from lockgate.operators.ingest import IngestOperator
from lockgate.operators.quality import QualityGateOperator
from lockgate.sources.memory import ArrowSource

DS, RUN = "2026-01-02", "manual__drift"
METERS: dict[str, Any] = {
    "dataset": "meters",
    "columns": {
        "meter_id": {"type": "integer", "nullable": False},
        "site": {"type": "string"},
        "kwh": {"type": "double", "nullable": False},
    },
}


def ctx() -> dict[str, Any]:
    return {"ds": DS, "run_id": RUN, "dag": SimpleNamespace(dag_id="t"), "ti": None}


def drifting_table() -> Any:
    import pyarrow as pa

    # meter_id arrives as text (retyped), site is missing (nullable), firmware is new
    return pa.table({"meter_id": ["1", "2", "3"], "kwh": [1.5, 2.0, 0.25], "firmware": ["v1", "v1", "v2"]})


def test_drift_is_recorded_in_the_manifest_and_reaches_the_gate_report(
    lockgate_home: Path, contracts: Callable[[dict[str, Any]], Path]
) -> None:
    contracts(METERS)
    result = IngestOperator(
        task_id="ingest_meters", dataset="meters", source=ArrowSource(data=drifting_table())
    ).execute(ctx())
    manifest = LakeHook().read_json(result["manifest_key"])
    (entry,) = manifest["files"]
    expected = {"added": ["firmware"], "missing": ["site"], "retyped": ["meter_id: integer -> string"]}
    assert entry["drift"] == expected
    assert manifest["drift"] == {"files": 1, **expected}
    assert manifest["rows"] == entry["rows"] == 3

    gate = QualityGateOperator(task_id="gate_meters", dataset="meters").execute(ctx())
    report = LakeHook().read_json(f"quality/meters/ds={DS}/report.json")
    assert report["schema_drift"] == [{"file": entry["key"], **expected}]
    # the values still type as integers: accepted by the default raw policy, every row passes
    assert gate["rows_passed"] == 3


def test_text_files_record_added_and_missing_columns(
    lockgate_home: Path, tmp_path: Path, contracts: Callable[[dict[str, Any]], Path]
) -> None:
    contracts(METERS)
    (tmp_path / "ok.csv").write_text("meter_id,site,kwh\n1,a,1.0\n")
    (tmp_path / "new.csv").write_text("meter_id,kwh,phase\n2,2.0,L1\n3,1.0,L2\n")
    result = IngestOperator(task_id="ingest_meters", dataset="meters", source=str(tmp_path / "*.csv")).execute(ctx())
    manifest = LakeHook().read_json(result["manifest_key"])
    by_name = {Path(e["key"]).name: e for e in manifest["files"]}
    assert "drift" not in by_name["ok.csv"]  # a clean file's entry is as it always was
    assert by_name["new.csv"]["drift"] == {"added": ["phase"], "missing": ["site"], "retyped": []}
    assert manifest["drift"] == {"files": 1, "added": ["phase"], "missing": ["site"], "retyped": []}
    assert manifest["rows"] == 3


def test_a_fail_policy_stops_the_gate_naming_the_retyped_column(
    lockgate_home: Path, contracts: Callable[[dict[str, Any]], Path]
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    strict = copy.deepcopy(METERS)
    strict["schema_drift"] = {"raw": "fail"}
    contracts(strict)
    IngestOperator(task_id="ingest_meters", dataset="meters", source=ArrowSource(data=drifting_table())).execute(ctx())
    with pytest.raises(AirflowFailException, match=r"retyped \['meter_id: integer -> string'\]"):
        QualityGateOperator(task_id="gate_meters", dataset="meters").execute(ctx())


@pytest.mark.parametrize("suffix", [".csv", ".ndjson", ".csv.gz"])
def test_a_contract_that_allows_inference_gets_text_files_typed_and_retyped_columns_reported(
    suffix: str, lockgate_home: Path, tmp_path: Path, contracts: Callable[[dict[str, Any]], Path]
) -> None:
    import gzip
    import json

    inferring = copy.deepcopy(METERS)
    inferring["schema_drift"] = {"types": "inferred"}
    contracts(inferring)
    # meter_id holds serial numbers now (text, not integers); kwh is whole numbers (fits a double)
    rows = [{"meter_id": f"SN-{i}", "site": "a", "kwh": i} for i in range(3)]
    if suffix == ".ndjson":
        data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    else:
        data = ("meter_id,site,kwh\n" + "".join(f"{r['meter_id']},{r['site']},{r['kwh']}\n" for r in rows)).encode()
    (tmp_path / f"m{suffix}").write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)

    result = IngestOperator(task_id="ingest_meters", dataset="meters", source=str(tmp_path / "m*")).execute(ctx())
    manifest = LakeHook().read_json(result["manifest_key"])
    (entry,) = manifest["files"]
    assert entry["schema"] == {"meter_id": "string", "site": "string", "kwh": "integer"}
    assert entry["drift"] == {"added": [], "missing": [], "retyped": ["meter_id: integer -> string"]}

    # the declared types still govern typing: every meter_id fails its integer cast, row by row
    gate = QualityGateOperator(task_id="gate_meters", dataset="meters").execute(ctx())
    assert (gate["rows_in"], gate["rows_quarantined"]) == (3, 3)
    report = LakeHook().read_json(f"quality/meters/ds={DS}/report.json")
    assert report["schema_drift"] == [{"file": entry["key"], **entry["drift"]}]


def test_without_the_contracts_consent_text_files_are_not_sniffed(
    lockgate_home: Path, tmp_path: Path, contracts: Callable[[dict[str, Any]], Path]
) -> None:
    contracts(METERS)
    (tmp_path / "m.csv").write_text("meter_id,site,kwh\nSN-1,a,1\n")
    result = IngestOperator(task_id="ingest_meters", dataset="meters", source=str(tmp_path / "m.csv")).execute(ctx())
    (entry,) = LakeHook().read_json(result["manifest_key"])["files"]
    assert "schema" not in entry
    assert "drift" not in entry
