"""The quality gate on Spark against the gate on DuckDB, side by side on the same generated day.

    python -m bench.spark_gate --rows 10000000 [--master local[2]] [--driver-memory 2g]

Issue 20's benchmark: the same readings CSV (``bench.datagen``'s dirty day, 0.1% bad rows) through
:func:`lockgate.gate.run_gate` (DuckDB) and :func:`lockgate.spark_engine.gate.run_gate_on_spark`
(Spark in local mode), one after the other in this process. For each: wall time, this process's
CPU, the CPU of its child processes that ended (the JVM's is read from ``/proc`` while it runs),
peak RSS of this process and of the JVM, and the counts each gate reports; the two counts must be
equal. Results go to ``bench/results/<date>-spark-gate-<rows>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from bench import datagen
from bench.harness import REPO

DS = "2026-01-02"
PREPROCESS = {"drop_exact_duplicates": True}
COUNTS = ("rows_in", "rows_passed", "rows_quarantined", "duplicates_removed")


class JvmWatch:
    """Samples the peak RSS and the CPU time of this process's child processes (Spark's JVM)."""

    def __init__(self) -> None:
        self.peak_rss = 0
        self.cpu = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> JvmWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            for child in psutil.Process().children(recursive=True):
                try:
                    self.peak_rss = max(self.peak_rss, child.memory_info().rss)
                    times = child.cpu_times()
                    self.cpu = max(self.cpu, times.user + times.system)
                except psutil.NoSuchProcess:
                    continue


def _measure(run: Any) -> dict[str, Any]:
    wall = time.perf_counter()
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    with JvmWatch() as jvm:
        outcome = run()
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "seconds": round(time.perf_counter() - wall, 2),
        "cpu_seconds": round(after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime, 2),
        "jvm_cpu_seconds": round(jvm.cpu, 2),
        "peak_rss_mib": round(after.ru_maxrss / 1024),
        "jvm_peak_rss_mib": round(jvm.peak_rss / 2**20),
        "counts": {k: outcome.report[k] for k in COUNTS},
    }


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="2g")
    parser.add_argument("--data-dir", type=Path, default=here / ".data")
    parser.add_argument("--work-dir", type=Path, default=here / ".work" / "spark-gate")
    parser.add_argument("--results-dir", type=Path, default=here / "results")
    args = parser.parse_args(argv)

    from pyspark.sql import SparkSession

    from lockgate.contracts import load_contract
    from lockgate.gate import RawFile, run_gate
    from lockgate.spark_engine.connection import ENGINE_CONF, LOCAL_CONF
    from lockgate.spark_engine.gate import run_gate_on_spark

    data = datagen.generate(args.rows, True, args.data_dir)
    raw = RawFile(f"raw/readings/ds={DS}/run=bench/readings.csv", Path(data.csv), "csv", args.rows)
    contract = load_contract("readings")
    shutil.rmtree(args.work_dir, ignore_errors=True)

    def gate(engine: str, **extra: Any) -> Any:
        run = run_gate if engine == "duckdb" else run_gate_on_spark
        work = args.work_dir / engine
        return lambda: run(contract, [raw], ds=DS, workdir=work, preprocess=PREPROCESS, **extra)

    results: dict[str, Any] = {"duckdb": _measure(gate("duckdb"))}
    print("duckdb", results["duckdb"], flush=True)
    builder = SparkSession.builder.master(args.master).config("spark.driver.memory", args.driver_memory)
    for key, value in {**LOCAL_CONF, **ENGINE_CONF}.items():
        builder = builder.config(key, value)
    start = time.perf_counter()
    spark = builder.getOrCreate()
    results["spark_session_seconds"] = round(time.perf_counter() - start, 2)
    try:
        results["spark"] = _measure(gate("spark", session=spark))
    finally:
        spark.stop()
    print("spark", results["spark"], flush=True)
    if results["spark"]["counts"] != results["duckdb"]["counts"]:
        raise SystemExit(f"the engines disagree: {results['spark']['counts']} vs {results['duckdb']['counts']}")
    results.update(rows=args.rows, master=args.master, driver_memory=args.driver_memory, load=psutil.getloadavg())
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"{dt.date.today().isoformat()}-spark-gate-{args.rows}.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"results: {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")
    shutil.rmtree(args.work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
