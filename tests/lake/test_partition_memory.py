"""The partition step's DuckDB memory is bounded: a publish of millions of narrow rows succeeds
under a ``memory_limit`` far below their size in memory, with the limit, a spill folder inside the
task's work folder and the task's CPUs as threads (as many as the limit can feed), and publishes
every row exactly once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb
import pytest

from lockgate import duckdb_session
from lockgate.hooks.iceberg import CatalogHook, content_checksum
from lockgate.hooks.lake import LakeHook
from lockgate.operators import partition
from tests.support.pipeline import context, operator

DS = "2026-01-02"
ROWS = 3_000_000
LIMIT = "32MB"
REGIONS = ("north", "south", "east", "west", "central")


def staged_readings(out: Path) -> Path:
    """``ROWS`` readings of one date as the gate stages them (values differ row by row)."""
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.execute(
        f"""
        COPY (
            SELECT 'ST' || lpad((i % 5000)::VARCHAR, 4, '0') AS station_id,
                   ['north', 'south', 'east', 'west', 'central'][1 + (i % 5000) % 5] AS region,
                   TIMESTAMPTZ '{DS} 00:00:00+00' + to_microseconds(i::BIGINT * 28) AS observed_at,
                   ['pm25', 'pm10', 'o3', 'no2', 'so2', 'co'][1 + (i // 5000) % 6] AS pollutant,
                   (i % 100003) / 7.0 AS value,
                   'ug/m3' AS unit,
                   DATE '{DS}' AS ds
            FROM range({ROWS}) t(i)
        ) TO '{out}' (FORMAT parquet, COMPRESSION zstd)
        """
    )
    con.close()
    return out


def test_a_publish_of_millions_of_rows_succeeds_under_a_memory_limit_far_below_their_size(
    lockgate_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    staged = staged_readings(tmp_path / "staged.parquet")
    con = duckdb.connect()
    (values,) = con.execute(  # the bytes of the rows' values alone (DuckDB holds more per value)
        "SELECT sum(strlen(station_id) + strlen(region) + strlen(pollutant) + strlen(unit) + 8 + 8 + 4) "
        "FROM read_parquet($1)",
        [str(staged)],
    ).fetchone()
    con.close()
    assert duckdb_session.size_bytes(LIMIT) * 3 < values
    LakeHook().put_file(staged, f"staged/readings/ds={DS}/part-0.parquet")

    settings: list[dict[str, Any]] = []
    original = partition.bounded_duckdb

    def recorded(work: Path, memory_limit: str) -> Any:
        con = original(work, memory_limit)
        names = ("memory_limit", "threads", "temp_directory")
        settings.append({n: con.execute(f"SELECT current_setting('{n}')").fetchone()[0] for n in names})
        settings[-1]["work"] = work
        return con

    monkeypatch.setattr(partition, "bounded_duckdb", recorded)
    op = operator("partition_readings")
    op.memory_limit = LIMIT
    result = op.execute(context(DS, "scheduled__2026-01-02T00:00:00+00:00"))

    assert len(settings) == 1
    assert settings[0]["memory_limit"] == "30.5 MiB"  # DuckDB's own reading of 32MB
    # the task's CPUs, as many as the limit gives 16 MiB each (one here)
    assert settings[0]["threads"] == max(
        1, min(len(os.sched_getaffinity(0)), 32 * 10**6 // duckdb_session.THREAD_MEMORY)
    )
    assert Path(settings[0]["temp_directory"]) == settings[0]["work"] / "spill"
    assert not settings[0]["work"].exists()  # the work folder (and its spill) is gone afterwards

    assert result["rows"] == ROWS
    catalog = CatalogHook()
    files = [
        catalog.lake.local_copy(catalog._lake_key(f.file_path), tmp_path) for f in catalog.date_files("readings", DS)
    ]
    assert {f.parent.name for f in files} == {f"region={r}" for r in REGIONS}
    schema = catalog.table("readings").schema()
    # the row checksum of the published files is the staged rows' own: every staged row exactly
    # once (the readings contract has no PII column to hash, so the rows are the same)
    assert result["checksum"] == content_checksum(schema, files)[1] == content_checksum(schema, [staged])[1]
    con = duckdb.connect()
    (rows,) = con.execute("SELECT count(*) FROM read_parquet($1)", [[str(f) for f in files]]).fetchone()
    con.close()
    assert rows == ROWS
