"""The gate on Spark gives the DuckDB gate's answers on the bad-input corpus (tests/hostile).

Every case's file is ingested for real (IngestOperator: its manifest holds what the gate needs,
zones, encodings, counts); the files a gate reads become ONE gate run per engine (one Spark job
for the corpus, not 59), whose staged rows, quarantine rows and reasons, checks and report are
compared. A case whose gate refuses its file (schema drift) refuses it on both engines with the
same message.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from lockgate.gate import QualityGateFailed, run_gate
from lockgate.operators.ingest import IngestOperator
from lockgate.operators.quality import QualityGateOperator
from lockgate.spark_engine.gate import run_gate_on_spark
from tests.hostile.harness import CONTRACT, DATASET, DS
from tests.hostile.test_corpus import CASES

PREPROCESS = {"drop_exact_duplicates": True}  # as the corpus's harness gates


def context(run_id: str) -> dict[str, Any]:
    return {"ds": DS, "run_id": run_id, "dag": SimpleNamespace(dag_id="hostile"), "ti": None}


def ingested(tmp_path: Path) -> dict[str, str]:
    """Ingest every case that passes ingestion (the corpus says which); the run id of each."""
    runs = {}
    for name, make in CASES.items():
        c = make()
        if c.fails_at == "ingest":
            continue
        path = tmp_path / "sources" / name / c.file
        path.parent.mkdir(parents=True)
        path.write_bytes(c.data)
        op = IngestOperator(
            task_id="ingest", source=str(path), dataset=DATASET, contract=str(CONTRACT), **{"format": None, **c.ingest}
        )
        op.execute(context(f"run_{name}"))  # type: ignore[arg-type]
        runs[name] = f"run_{name}"
    return runs


def both(files: list[Any], work: Path, spark: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    from lockgate.contracts import load_contract

    contract = load_contract(CONTRACT)
    out = []
    for engine, run in (("duckdb", run_gate), ("spark", run_gate_on_spark)):
        extra = {"session": spark} if engine == "spark" else {}
        out.append(outputs(run, contract, files, work / engine, **extra))
    return out[0], out[1]


def outputs(run: Any, contract: Any, files: list[Any], work: Path, **extra: Any) -> dict[str, Any]:
    import pyarrow.parquet as pq

    try:
        report = run(contract, files, ds=DS, workdir=work, preprocess=PREPROCESS, **extra).report
    except QualityGateFailed as failed:
        report = failed.report
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    for check in report["checks"]:
        check["engine"] = "duckdb" if check["engine"] == "spark" else check["engine"]
    return {
        "report": report,
        "staged": pq.read_table(work / "staged.parquet").to_pylist(),
        "quarantine": pq.read_table(work / "quarantine.parquet").to_pylist(),
    }


def unordered_examples(report: dict[str, Any]) -> dict[str, Any]:
    """The report with a uniqueness check's examples as a sorted list: DuckDB collects them with
    ``list()`` and no ORDER BY (lockgate.checks._uniqueness), so their order is no answer of either
    engine (each run of DuckDB may give another); which keys repeat is."""
    for check in report["checks"]:
        if check["expectation"] in ("expect_compound_columns_to_be_unique", "expect_column_values_to_be_unique"):
            check["examples"] = sorted(check.get("examples") or [], key=repr)
    return report


def test_the_corpus_on_both_engines(spark: Any, lockgate_home: Path, tmp_path: Path) -> None:
    runs = ingested(tmp_path)
    gate = QualityGateOperator(task_id="gate", dataset=DATASET, contract=str(CONTRACT))
    alone, together = {}, []
    for name, run_id in runs.items():
        files = gate._raw_files(context(run_id), tmp_path / "raw" / name)  # type: ignore[arg-type]
        if CASES[name]().fails_at == "gate":
            alone[name] = files
        else:
            together += files
    assert len(together) > 40
    duck, on_spark = both(together, tmp_path / "corpus", spark)
    assert "error" not in duck
    assert "error" not in on_spark, on_spark.get("error")
    assert len(duck["quarantine"]) > 30
    assert on_spark["staged"] == duck["staged"]
    assert on_spark["quarantine"] == duck["quarantine"]
    assert unordered_examples(on_spark["report"]) == unordered_examples(duck["report"])
    for name, files in alone.items():
        duck, on_spark = both(files, tmp_path / name, spark)
        assert on_spark == duck, name
