"""Reading what the pipeline published: ``LakeHook.published_dataset`` and ``published_uris``.

The chain up to partitioning runs for two dates on a local lake and on an S3 lake (moto server).
Both readers must return exactly the rows the dates' manifests list, with the hive partition
columns (``ds``, ``region``) of their paths, and nothing a manifest does not list: a date folder
without a manifest (a publish that never committed) is not a published date. That they stay
atomic while a date is republished is tested in ``tests/integration/test_lake_atomic_publish.py``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lockgate.hooks.lake import LakeHook
from lockgate.layout import manifest_key
from lockgate.sample_data import generate
from tests.support.pipeline import READINGS_TO_CURATED, run_chain

pytestmark = pytest.mark.integration

DATES = ("2026-01-02", "2026-01-03")


def _expected(lake: LakeHook, ds: str) -> Counter[tuple[str, str]]:
    """(ds, region) -> rows, from the date's manifest alone."""
    manifest = lake.read_json(manifest_key("curated", "readings", ds))
    expected: Counter[tuple[str, str]] = Counter()
    for entry in manifest["files"]:
        region = next(p.removeprefix("region=") for p in entry["key"].split("/") if p.startswith("region="))
        expected[(ds, region)] += int(entry["rows"])
    return expected


def test_published_readers_return_exactly_the_manifests_rows_with_their_partition_columns(
    any_lake: LakeHook, tmp_path: Path
) -> None:
    for ds in DATES:
        generate(ds, tmp_path / "sources")
        run_chain(str(tmp_path / "sources"), ds, f"scheduled__{ds}T00:00:00+00:00", tasks=READINGS_TO_CURATED)
    lake = any_lake
    # a folder a publish left without its manifest: files there are not a published version
    stray = tmp_path / "stray.parquet"
    pq.write_table(pa.table({"station_id": ["ST-X"]}), stray)
    lake.put_file(stray, "curated/readings/ds=2026-01-04/region=west/part-1.parquet")

    assert lake.published_dates("curated/readings") == list(DATES)
    expected = _expected(lake, DATES[0]) + _expected(lake, DATES[1])
    assert sum(expected.values()) > 0
    assert len({region for _, region in expected}) > 1

    table = lake.published_dataset("curated/readings").to_table()
    assert {"ds", "region", "station_id"} <= set(table.column_names)
    assert Counter(zip(table["ds"].to_pylist(), table["region"].to_pylist(), strict=True)) == expected

    con = duckdb.connect()
    if lake.is_s3:  # no httpfs here: DuckDB scans the pyarrow dataset
        relation = con.from_arrow(lake.published_dataset("curated/readings", [DATES[1]]))
        rows = relation.aggregate("CAST(ds AS VARCHAR), region, count(*)").fetchall()
    else:
        rows = con.execute(
            "SELECT CAST(ds AS VARCHAR), region, count(*) FROM read_parquet($1, hive_partitioning = true) GROUP BY ALL",
            [lake.published_uris("curated/readings", [DATES[1]])],
        ).fetchall()
    assert Counter({(ds, region): n for ds, region, n in rows}) == _expected(lake, DATES[1])

    with pytest.raises(FileNotFoundError, match="ds=2026-01-04"):
        lake.published_dataset("curated/readings", ["2026-01-04"])
    with pytest.raises(FileNotFoundError, match=r"no date of .*curated/aqi has been published"):
        lake.published_uris("curated/aqi")
