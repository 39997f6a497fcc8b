"""``python -m bench.publish``: the curated publish of one date against its DuckDB floor.

Measures, on the same staged Parquet of ``--rows`` readings (one date, five regions):

* **floor** - DuckDB ``COPY (SELECT * FROM staged) TO ... (FORMAT parquet, COMPRESSION zstd,
  PARTITION_BY (ds, region))``: the partitioned write alone (default threads, no sort), as
  ``bench.tasks.floor_partition`` does in ``make bench``;
* **publish** - the DAG's ``partition_readings`` task (``PartitionOperator``) on the embedded
  defaults: DuckDB's partitioned write (all the task's CPUs, 1 GB memory limit, no sort) straight
  into the table's ``data/`` folder, the rows' checksum (one DuckDB scan of the files) and ONE
  Iceberg commit (an overwrite snapshot); a first publish of the date and a rerun (which also
  replaces the first one's files);
* **write** - the DuckDB write the publish makes, alone (``WRITE_PARTITION_COLUMNS``, contract
  column order, 1 GB memory limit): what the publish costs before Iceberg adds anything;
* **commit** - the Iceberg commit alone inside each publish (``CatalogHook.commit_date``).

After an untimed warm-up publish (imports), runs alternate (floor, first publish, rerun) ``--runs``
times in fresh ``LOCKGATE_HOME`` folders; the medians and the publish / floor ratio are printed as
JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DS = "2026-01-02"
RUN_ID = "scheduled__2026-01-02T00:00:00+00:00"


def staged_readings(rows: int, out: Path) -> Path:
    """``rows`` readings of one date as the gate stages them (the readings contract's columns)."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.execute(
        f"""
        COPY (
            SELECT 'ST' || lpad((i % 5000)::VARCHAR, 4, '0') AS station_id,
                   ['north', 'south', 'east', 'west', 'central'][1 + (i % 5000) % 5] AS region,
                   TIMESTAMPTZ '{DS} 00:00:00+00' + to_microseconds(((i // 5000) % 86400000000)::BIGINT)
                       AS observed_at,
                   ['pm25', 'pm10', 'o3', 'no2', 'so2', 'co'][1 + (i // 5000000) % 6] AS pollutant,
                   (i % 997) / 10.0 AS value,
                   'ug/m3' AS unit,
                   DATE '{DS}' AS ds
            FROM range({rows}) t(i)
        ) TO '{out}' (FORMAT parquet, COMPRESSION zstd)
        """
    )
    con.close()
    return out


def floor(staged: Path, work: Path) -> float:
    import duckdb

    out = work / "floor"
    shutil.rmtree(out, ignore_errors=True)
    con = duckdb.connect()
    started = time.perf_counter()
    con.execute("SET TimeZone='UTC'")
    con.execute(
        f"COPY (SELECT * FROM read_parquet('{staged}')) TO '{out}' "
        "(FORMAT parquet, COMPRESSION zstd, PARTITION_BY (ds, region))"
    )
    seconds = time.perf_counter() - started
    con.close()
    shutil.rmtree(out, ignore_errors=True)
    return seconds


def write(staged: Path, work: Path) -> float:
    """The write the publish makes, alone (lockgate.operators.partition.write_partitioned)."""
    from lockgate.duckdb_session import bounded_duckdb
    from lockgate.operators.partition import MEMORY_LIMIT, write_partitioned

    out = work / "written"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    con = bounded_duckdb(work, MEMORY_LIMIT)
    write_partitioned(
        con,
        f"SELECT station_id, region, observed_at, pollutant, value, unit, ds FROM read_parquet('{staged}')",
        ["ds", "region"],
        out,
    )
    seconds = time.perf_counter() - started
    con.close()
    shutil.rmtree(out, ignore_errors=True)
    return seconds


def publish(staged: Path, home: Path, commits: list[float]) -> float:
    """The partition_readings task on the embedded defaults under ``home``; returns its seconds."""
    from lockgate.hooks.lake import LakeHook
    from tests.support.pipeline import context, operator

    os.environ["LOCKGATE_HOME"] = str(home)
    LakeHook().put_file(staged, f"staged/readings/ds={DS}/part-0.parquet")
    op = operator("partition_readings")
    started = time.perf_counter()
    result = op.execute(context(DS, RUN_ID))
    seconds = time.perf_counter() - started
    assert result["rows"] > 0
    return seconds


def _timed_commits(commits: list[float]) -> None:
    """Record every Iceberg commit's time (CatalogHook.commit_date) in ``commits``."""
    from lockgate.hooks.iceberg import CatalogHook

    original = CatalogHook.commit_date

    def timed(self: CatalogHook, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            commits.append(time.perf_counter() - started)

    CatalogHook.commit_date = timed  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="lockgate-bench-publish-"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    try:
        staged = staged_readings(args.rows, root / "staged.parquet")
        commits: list[float] = []
        # warm-up, untimed: imports (pyiceberg, DuckDB, the DAG file) happen once per process
        publish(staged_readings(1000, root / "warm.parquet"), root / "warm", [])
        _timed_commits(commits)
        floors, writes, firsts, reruns = [], [], [], []
        for run in range(args.runs):
            home = root / f"home{run}"
            floors.append(floor(staged, root))
            writes.append(write(staged, root))
            firsts.append(publish(staged, home, commits))
            reruns.append(publish(staged, home, commits))
        median_floor = statistics.median(floors)
        result = {
            "rows": args.rows,
            "runs": args.runs,
            "floor_seconds": round(median_floor, 2),
            "write_seconds": round(statistics.median(writes), 2),
            "publish_first_seconds": round(statistics.median(firsts), 2),
            "publish_rerun_seconds": round(statistics.median(reruns), 2),
            "publish_over_floor": round(statistics.median(firsts) / median_floor, 2),
            "rerun_over_floor": round(statistics.median(reruns) / median_floor, 2),
            "commit_seconds_max": round(max(commits), 3),
            "commit_seconds_median": round(statistics.median(commits), 3),
            "floors": [round(s, 2) for s in floors],
            "writes": [round(s, 2) for s in writes],
            "firsts": [round(s, 2) for s in firsts],
            "reruns": [round(s, 2) for s in reruns],
        }
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
