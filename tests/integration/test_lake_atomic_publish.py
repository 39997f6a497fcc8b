"""Readers of the curated table never see part of a publish, while a date is republished again and again.

A writer publishes versions 1..N of one date (each version has its own row count, and every row
names its version); readers read the date through the table the whole time, with pyiceberg
(``CatalogHook.read_date``) and with DuckDB over the scan's Arrow batch reader. Every read must
return exactly one version's rows, all of them: never a mix, never a part, never nothing.

Before the curated zone was an Iceberg table, a DuckDB glob over the date's folder returned part of
a version in 13 of 50 runs of this test's predecessor; a glob is no longer a way to read the table.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from lockgate.hooks.iceberg import CatalogHook, snapshot_summary
from tests.lake.test_curated_table import BACKENDS, DS, REGIONS, write_version
from tests.lake.test_curated_table import catalog as catalog  # the fixture

pytestmark = pytest.mark.integration

#: republishes per backend, two readers reading throughout: S3 through moto costs ~1 s a publish
PUBLISHES = {"local-sqlite": 40, "s3-postgres": 15}


def rows_per_region(version: int) -> int:
    """Each version has its own size, so a part of a version is told apart from a whole one."""
    return 20 + (version * 7) % 31


def _pyiceberg_read(hook: CatalogHook) -> dict[int, int]:
    table = hook.read_date("readings", DS).read_all()
    versions = table["version"].to_pylist()
    return {v: versions.count(v) for v in set(versions)}


def _duckdb_read(hook: CatalogHook) -> dict[int, int]:
    reader: pa.RecordBatchReader = hook.read_date("readings", DS)
    con = duckdb.connect()
    try:
        con.register("scan", reader)
        return dict(con.execute("SELECT version, count(*) FROM scan GROUP BY version").fetchall())
    finally:
        con.close()


@pytest.mark.parametrize("catalog", BACKENDS, indirect=True)
def test_every_read_through_the_table_returns_exactly_one_whole_version(
    catalog: CatalogHook, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    publishes = PUBLISHES[request.node.callspec.id]
    table = catalog.table("readings")
    first = write_version(tmp_path / "v1", DS, 1, rows_per_region(1))
    catalog.publish_date(table, DS, first, snapshot_summary("v1"))
    done = threading.Event()
    problems: list[str] = []
    reads: dict[str, int] = {}

    def read_loop(name: str, read: Callable[[CatalogHook], dict[int, int]]) -> None:
        hook = CatalogHook()  # a reader of its own: its own catalog connection
        count = 0
        while not done.is_set() or count == 0:
            try:
                found = read(hook)
            except Exception as exc:
                problems.append(f"{name}: {type(exc).__name__}: {exc}")
                break
            count += 1
            time.sleep(0.02)  # leave the writer some of the machine's two cores
            if len(found) != 1:
                problems.append(f"{name}: {found} (rows of {len(found)} versions)")
                continue
            ((version, rows),) = found.items()
            if rows != rows_per_region(version) * len(REGIONS):
                problems.append(f"{name}: version {version} with {rows} rows")
        reads[name] = count

    readers = [
        threading.Thread(target=read_loop, args=("pyiceberg", _pyiceberg_read)),
        threading.Thread(target=read_loop, args=("duckdb", _duckdb_read)),
    ]
    for thread in readers:
        thread.start()
    try:
        for version in range(2, publishes + 2):
            out = write_version(tmp_path / f"v{version}", DS, version, rows_per_region(version))
            catalog.publish_date(catalog.table("readings"), DS, out, snapshot_summary(f"v{version}"))
    finally:
        done.set()
        for thread in readers:
            thread.join(timeout=120)

    assert problems == []
    assert all(reads.get(name, 0) > 0 for name in ("pyiceberg", "duckdb")), reads
    assert len(catalog.table("readings").snapshots()) == publishes + 1  # one snapshot per publish
    last = publishes + 1
    assert _pyiceberg_read(catalog) == {last: rows_per_region(last) * len(REGIONS)}
