"""Engine parity on a generated 1M-row day (bench.datagen's dirty readings: 0.1% bad rows of five
kinds): the gate on Spark gives DuckDB's staged rows, quarantine rows and reasons, and report.

About a minute on a 2-core machine (the Spark gate 48-58 s at load 3-5); it prints both engines' times.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

from lockgate.contracts import load_contract
from lockgate.gate import RawFile, run_gate
from lockgate.spark_engine.gate import run_gate_on_spark
from tests.spark.test_spark_gate_parity import loose
from tests.spark.test_spark_hostile_parity import unordered_examples

ROWS = 1_000_000
DS = "2026-01-02"
PREPROCESS = {"drop_exact_duplicates": True}


def test_a_million_rows_on_both_engines(spark: Any, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from bench import datagen

    data = datagen.generate(ROWS, True, tmp_path / "data")
    # the manifest's count: every record, the malformed ones included (read, then rejected)
    raw = RawFile("raw/readings/ds=2026-01-02/run=r/readings.csv", Path(data.csv), "csv", ROWS)
    out = {}
    for engine, run in (("duckdb", run_gate), ("spark", run_gate_on_spark)):
        extra = {"session": spark} if engine == "spark" else {}
        wall, cpu = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF).ru_utime
        outcome = run(
            load_contract("readings"), [raw], ds=DS, workdir=tmp_path / engine, preprocess=PREPROCESS, **extra
        )
        used = resource.getrusage(resource.RUSAGE_SELF).ru_utime - cpu
        print(f"{engine}: {time.monotonic() - wall:.1f} s wall, {used:.1f} s CPU of this process (not the JVM's)")
        for check in outcome.report["checks"]:
            check["engine"] = "duckdb" if check["engine"] == "spark" else check["engine"]
        out[engine] = {
            "staged": pq.read_table(outcome.staged_path),
            "quarantine": pq.read_table(outcome.quarantine_path),
            "report": unordered_examples(outcome.report),
        }
    duck, on_spark = out["duckdb"], out["spark"]
    assert duck["report"]["rows_quarantined"] == ROWS // 1000
    # the same types, rows, values and order (DuckDB marks a column required or not by how its
    # plan derived it, which differs between its own write paths: not an answer)
    assert loose(on_spark["staged"]).equals(loose(duck["staged"]))
    assert loose(on_spark["quarantine"]).equals(loose(duck["quarantine"]))
    assert on_spark["report"] == duck["report"]
