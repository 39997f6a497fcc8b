"""The partition step on a local lake writes the date's files straight into the table's ``data/``
folder: a try SIGKILLed after DuckDB wrote them (before the commit) changes nothing any reader of the
table sees, and the retry publishes a table equal to a clean run's with none of the killed try's
files left behind."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from lockgate.hooks.iceberg import CatalogHook
from lockgate.hooks.lake import LakeHook
from lockgate.operators import partition
from tests.support.pipeline import context, operator

DS = "2026-01-02"
RUN = "scheduled__2026-01-02T00:00:00+00:00"
DATA = "curated/readings/data"

pytestmark = pytest.mark.integration


def stage(rows: int, tmp: Path) -> None:
    out = tmp / f"staged-{rows}.parquet"
    con = duckdb.connect()
    con.execute(
        f"""
        COPY (
            SELECT 'ST' || lpad((i % 50)::VARCHAR, 4, '0') AS station_id,
                   ['north', 'south', 'east'][1 + i % 3] AS region,
                   TIMESTAMPTZ '{DS} 00:00:00+00' + to_microseconds(i::BIGINT * 1000000) AS observed_at,
                   'pm25' AS pollutant, i / 4.0 AS value, 'ug/m3' AS unit, DATE '{DS}' AS ds
            FROM range({rows}) t(i)
        ) TO '{out}' (FORMAT parquet)
        """
    )
    con.close()
    LakeHook().put_file(out, f"staged/readings/ds={DS}/part-0.parquet")


def rows_of(catalog: CatalogHook) -> list[tuple[Any, ...]]:
    table = catalog.read_date("readings", DS).read_all()
    return sorted(zip(*(table[c].to_pylist() for c in table.column_names), strict=True))


def _write_then_wait(ready: Path) -> None:
    """In the child: the partition task, stopped (to be killed) right after DuckDB's write."""
    original = partition.write_partitioned

    def write_and_stop(*args: Any, **kwargs: Any) -> int:
        original(*args, **kwargs)
        ready.touch()
        time.sleep(600)
        return 0

    partition.write_partitioned = write_and_stop  # type: ignore[assignment]
    operator("partition_readings").execute(context(DS, RUN))


def test_a_partition_task_killed_after_its_write_leaves_nothing_once_retried(
    lockgate_home: Path, tmp_path: Path
) -> None:
    stage(300, tmp_path)
    operator("partition_readings").execute(context(DS, RUN))
    catalog = CatalogHook()
    before, snapshots = rows_of(catalog), len(catalog.table("readings").snapshots())
    stage(600, tmp_path)  # the day grew: the killed try writes 600 rows

    ready = tmp_path / "written"
    child = multiprocessing.get_context("fork").Process(target=_write_then_wait, args=(ready,))
    child.start()
    try:
        for _ in range(1200):
            if ready.exists() or not child.is_alive():
                break
            time.sleep(0.05)
        assert ready.exists(), "the partition task never wrote its files"
        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        child.join(timeout=30)
    finally:
        if child.is_alive():
            child.kill()
    table = catalog.table("readings")
    referenced = {catalog._lake_key(f) for f in catalog.referenced_files(table)}
    leftovers = [o.key for o in LakeHook().list(DATA) if o.key not in referenced]
    assert len(leftovers) == 3  # its files sit in the table's folder, one per region...
    assert len(table.snapshots()) == snapshots  # ...but no snapshot refers to them
    assert rows_of(catalog) == before

    result = operator("partition_readings").execute(context(DS, RUN))  # the retry
    assert result["rows"] == 600
    assert len(rows_of(catalog)) == 600
    remaining = {o.key for o in LakeHook().list(DATA)}
    assert remaining.isdisjoint(leftovers)  # the retry removed the killed try's files
    # only files some snapshot refers to are left (the first run's stay for time travel)
    assert remaining <= {catalog._lake_key(f) for f in catalog.referenced_files(catalog.table("readings"))}
