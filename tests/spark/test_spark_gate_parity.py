"""The gate on Spark gives the DuckDB gate's answers: staged rows, quarantine rows and reasons,
check results and report, on the flagship's sample day and on its hand-written dirty files.

One local Spark session for the module (``spark`` fixture); each case runs both engines on the
same raw files and compares the outputs value by value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lockgate import sample_data
from lockgate.contracts import load_contract
from lockgate.gate import QualityGateFailed, run_gate
from lockgate.spark_engine.gate import run_gate_on_spark
from tests.unit.test_gate import (
    GATEWAY_KEY,
    GATEWAY_LINES,
    PARTNER_CSV,
    PARTNER_KEY,
    PREPROCESS,
    raw_file,
    sample_files,
)

DS = "2026-01-02"


def gated(engine: str, files: list[Any], work: Path, spark: Any, **kwargs: Any) -> dict[str, Any]:
    """One engine's outputs: report, staged and quarantine rows (a failed gate's too)."""
    import pyarrow.parquet as pq

    contract = load_contract("readings")
    run = run_gate if engine == "duckdb" else run_gate_on_spark
    extra = {"session": spark} if engine == "spark" else {}
    try:
        outcome = run(contract, files, ds=DS, workdir=work, preprocess=PREPROCESS, **kwargs, **extra)
        report = outcome.report
    except QualityGateFailed as failed:
        report = failed.report  # the staged file is written before the table checks all the same
    staged = pq.read_table(work / "staged.parquet")
    quarantine = pq.read_table(work / "quarantine.parquet")
    return {"report": report, "staged": staged, "quarantine": quarantine}


def loose(table: Any) -> Any:
    """``table`` with every field nullable: DuckDB marks a column required or not by how its plan
    derived it, which differs between its own write paths (with or without the de-duplication
    window): not an answer. Types, rows, values and order are compared."""
    import pyarrow as pa

    return table.cast(pa.schema([field.with_nullable(True) for field in table.schema]))


def same_answers(duck: dict[str, Any], spark: dict[str, Any]) -> None:
    # same types, rows, values and (reading) order
    assert loose(spark["staged"]).equals(loose(duck["staged"]))
    assert loose(spark["quarantine"]).equals(loose(duck["quarantine"]))
    # the report names the engine that evaluated each check: Spark ran the checks DuckDB would run
    for check in spark["report"]["checks"]:
        assert check.pop("engine") in ("spark", "great_expectations")
    for check in duck["report"]["checks"]:
        assert check.pop("engine") in ("duckdb", "great_expectations")
    assert spark["report"] == duck["report"]


def test_the_sample_day(spark: Any, tmp_path: Path) -> None:
    batch = sample_data.generate(DS, tmp_path / "sample")
    files = sample_files(batch)
    duck = gated("duckdb", files, tmp_path / "duck", spark)
    on_spark = gated("spark", files, tmp_path / "spark", spark)
    assert duck["report"]["rows_quarantined"] > 0
    assert duck["report"]["duplicates_removed"] > 0
    same_answers(duck, on_spark)


def test_the_dirty_files(spark: Any, tmp_path: Path) -> None:
    partner = tmp_path / "partner.csv"
    partner.write_text(PARTNER_CSV)
    gateway = tmp_path / "gateway.ndjson"
    gateway.write_text("\n".join(GATEWAY_LINES) + "\n")
    files = [raw_file(partner, PARTNER_KEY, source_timezone="America/Chicago"), raw_file(gateway, GATEWAY_KEY)]
    duck = gated("duckdb", files, tmp_path / "duck", spark)
    on_spark = gated("spark", files, tmp_path / "spark", spark)
    assert len(duck["quarantine"]) > 5
    same_answers(duck, on_spark)
