"""The gate's Arrow stream hands DuckDB whole row groups: the same rows, in order, cut per file."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from lockgate import gate_source
from lockgate.gate import RawFile
from lockgate.gate_source import GateSource, RejectSink, _rebatched


def _csv(path: Path, rows: int, first: int) -> Path:
    lines = ["station_id,value"] + [f"S{first + i},{first + i}" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_rebatched_keeps_every_row_in_order() -> None:
    sizes = ((0, 5), (5, 7), (12, 3), (15, 20))
    batches = [pa.record_batch({"n": list(range(start, start + size))}) for start, size in sizes]
    out = list(_rebatched(iter(batches), 6))
    assert [b.num_rows for b in out] == [6, 6, 6, 6, 6, 5]
    assert pa.Table.from_batches(out).column("n").to_pylist() == list(range(35))
    assert list(_rebatched(iter([]), 6)) == []


def test_stream_is_cut_per_file_with_each_files_zone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gate_source, "BATCH_ROWS", 4)
    files = [
        RawFile("a.csv", _csv(tmp_path / "a.csv", 10, 0), "csv", 10, source_timezone=None),
        RawFile("b.csv", _csv(tmp_path / "b.csv", 3, 10), "csv", 3, source_timezone="Europe/Paris"),
        RawFile("c.csv", _csv(tmp_path / "c.csv", 5, 13), "csv", 5, source_timezone="UTC"),
    ]
    source = GateSource(files, ["station_id", "value"], set(), lambda raw: None, RejectSink(tmp_path / "r.parquet"))
    batches = list(source.reader())
    # a file's rows are never in one batch with another file's (their zone dictionaries differ)
    assert [b.num_rows for b in batches] == [4, 4, 2, 3, 4, 1]
    table = pa.Table.from_batches(batches)
    assert table.column("value").to_pylist() == [str(n) for n in range(18)]
    assert table.column("_file").to_pylist() == [1] * 10 + [2] * 3 + [3] * 5
    assert table.column("_row").to_pylist() == [*range(2, 12), *range(2, 5), *range(2, 7)]
    assert table.column("_tz").to_pylist() == [None] * 10 + ["Europe/Paris"] * 3 + ["UTC"] * 5
    assert source.per_file == [{"key": "a.csv", "rows": 10}, {"key": "b.csv", "rows": 3}, {"key": "c.csv", "rows": 5}]
