"""bench.datagen's NDJSON: the same rows as its CSV and Parquet, bad rows bad in the same way."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from bench import datagen

ROWS = 10_000  # 10 bad rows in the dirty set, two of each kind


def records(path: Path) -> tuple[list[dict], list[str]]:
    good, bad = [], []
    for line in path.read_text().splitlines():
        try:
            good.append(json.loads(line))
        except json.JSONDecodeError:
            bad.append(line)
    return good, bad


def test_clean_ndjson_holds_the_parquet_rows(tmp_path: Path) -> None:
    data = datagen.generate(ROWS, False, tmp_path)
    good, bad = records(datagen.ndjson(ROWS, False, tmp_path))
    assert not bad
    table = pq.read_table(data.parquet).to_pylist()
    assert len(good) == len(table) == ROWS
    for record, row in zip(good, table, strict=True):
        assert record["station_id"] == row["station_id"]
        assert record["pollutant"] == row["pollutant"]
        assert record["value"] == row["value"]
        assert record["observed_at"] == row["observed_at"].strftime("%Y-%m-%dT%H:%M:%SZ")


def test_dirty_ndjson_has_each_kind_of_bad_row(tmp_path: Path) -> None:
    good, bad = records(datagen.ndjson(ROWS, True, tmp_path))
    assert len(good) + len(bad) == ROWS
    assert len(bad) == 2
    assert all(line.startswith('{"station_id":"ST-') for line in bad)
    values = [r["value"] for r in good]
    assert values.count(None) == 2
    assert values.count("ERR") == 2
    assert sum(1 for v in values if isinstance(v, float | int) and v < 0) == 2
    assert sum(1 for r in good if not r["observed_at"].startswith(datagen.DS)) == 2


def test_ndjson_is_reused_and_removed(tmp_path: Path) -> None:
    path = datagen.ndjson(1000, False, tmp_path)
    stamp = path.stat().st_mtime_ns
    assert datagen.ndjson(1000, False, tmp_path).stat().st_mtime_ns == stamp
    datagen.generate(1000, False, tmp_path)
    datagen.remove(1000, tmp_path)
    assert not list(tmp_path.iterdir())
