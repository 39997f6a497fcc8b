"""Deterministic benchmark data: readings in the ``readings`` contract's shape, as CSV and Parquet.

``python -m bench.datagen --rows 10000000 --out bench/.data`` writes, for one logical date:

* ``readings_<rows>_clean.csv`` / ``.parquet`` - every row valid;
* ``readings_<rows>_dirty.csv`` / ``.parquet`` - the same rows with exactly 0.1% of them bad, five
  kinds in turn: missing value, unreadable value (``ERR``; NaN in Parquet), negative value, a
  timestamp on the previous day, and a malformed record (CSV: a field missing; Parquet: no
  ``station_id``). The quality gate quarantines every one of them and the run goes on.

Rows are vectorised with numpy in fixed chunks of :data:`CHUNK_ROWS`, each chunk seeded by its
index, so the output is byte-identical on every machine and run, and files are written chunk by
chunk (memory stays at one chunk whatever the size). The column names, pollutants, regions and units
come from lockgate itself (:mod:`lockgate.contracts`, :mod:`lockgate.sample_data`). Keys are unique:
1000 stations x 6 pollutants per timestamp, timestamps spread evenly over the day.

A ``<name>.meta.json`` next to each file records the parameters, counts and sha256; files whose
meta matches are reused.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lockgate.contracts import load_contract
from lockgate.sample_data import POLLUTANTS, READING_FIELDS, REGIONS, TARGET_UNITS

GENERATOR_VERSION = 1
SEED = 20260102
DS = "2026-01-02"
CHUNK_ROWS = 500_000
STATIONS = 1000
#: one bad row in this many (0.1%)
BAD_EVERY = 1000
BAD_KINDS = ("missing_value", "unreadable_value", "negative_value", "wrong_date", "malformed")
#: typical level and spread per pollutant in its EPA unit (gamma distribution), and decimals kept
_LEVELS = {"pm25": (2.0, 8.0, 1), "pm10": (2.0, 15.0, 1), "o3": (4.0, 0.008, 3), "co": (2.0, 0.3, 2)}
_LEVELS |= {"so2": (2.0, 3.0, 1), "no2": (3.0, 6.0, 1)}

SCHEMA = pa.schema(
    [
        ("station_id", pa.string()),
        ("region", pa.string()),
        ("observed_at", pa.timestamp("us", tz="UTC")),
        ("pollutant", pa.string()),
        ("value", pa.float64()),
        ("unit", pa.string()),
    ]
)


@dataclass(frozen=True)
class DataSet:
    """One generated data set (both formats)."""

    rows: int
    dirty: bool
    ds: str
    csv: str
    parquet: str
    bad_rows: int
    csv_bytes: int
    parquet_bytes: int
    csv_sha256: str
    parquet_sha256: str
    generator_version: int = GENERATOR_VERSION

    @property
    def name(self) -> str:
        return data_name(self.rows, self.dirty)


def data_name(rows: int, dirty: bool) -> str:
    return f"readings_{rows}_{'dirty' if dirty else 'clean'}"


def _check_shape() -> None:
    # the benchmark data must be what the pipeline's contract expects
    contract_columns = load_contract("readings").column_names
    if list(SCHEMA.names) != contract_columns or list(READING_FIELDS) != contract_columns:
        raise RuntimeError(f"bench schema {SCHEMA.names} != readings contract {contract_columns}")


def _chunk(start: int, count: int, total: int, dirty: bool) -> tuple[pa.Table, pa.Array]:
    """Rows ``start .. start+count`` as a typed table, plus the CSV text of each row (with newline)."""
    rng = np.random.default_rng([SEED, start // CHUNK_ROWS])
    index = np.arange(start, start + count, dtype=np.int64)
    pollutant_ix = index % len(POLLUTANTS)
    station_ix = (index // len(POLLUTANTS)) % STATIONS
    per_tick = len(POLLUTANTS) * STATIONS
    step = 86_400 // math.ceil(total / per_tick)  # seconds between two timestamps of one station
    day0 = np.datetime64(DS, "s")
    seconds = day0 + (index // per_tick) * step

    values = np.empty(count, dtype=np.float64)
    for p, name in enumerate(POLLUTANTS):
        shape, scale, decimals = _LEVELS[name]
        mask = pollutant_ix == p
        values[mask] = np.round(rng.gamma(shape, scale, int(mask.sum())), decimals)

    pollutants = np.array(POLLUTANTS, dtype=object)
    station_names = np.array([f"ST-{s:03d}" for s in range(STATIONS)], dtype=object)
    regions = np.array([REGIONS[s % len(REGIONS)] for s in range(STATIONS)], dtype=object)
    units = np.array([TARGET_UNITS[p] for p in POLLUTANTS], dtype=object)
    station = pa.array(station_names[station_ix], pa.string())
    region = pa.array(regions[station_ix], pa.string())
    pollutant = pa.array(pollutants[pollutant_ix], pa.string())
    unit = pa.array(units[pollutant_ix], pa.string())
    stamp = pa.array(seconds, pa.timestamp("s", tz="UTC"))

    value_text = pc.cast(pa.array(values), pa.string())
    value_arr = pa.array(values)
    station_arr = station
    malformed = np.zeros(count, dtype=bool)
    if dirty:
        bad = index % BAD_EVERY == BAD_EVERY // 2
        kind = (index // BAD_EVERY) % len(BAD_KINDS)
        k = {name: bad & (kind == i) for i, name in enumerate(BAD_KINDS)}
        values = np.where(k["negative_value"], -1.0, values)
        seconds = np.where(k["wrong_date"], seconds - np.timedelta64(86_400, "s"), seconds)
        stamp = pa.array(seconds, pa.timestamp("s", tz="UTC"))
        value_arr = pa.array(np.where(k["unreadable_value"], np.nan, values), mask=k["missing_value"])
        text = np.array(pc.cast(pa.array(values), pa.string()).to_numpy(zero_copy_only=False), dtype=object)
        text[k["missing_value"]] = ""
        text[k["unreadable_value"]] = "ERR"
        value_text = pa.array(text, pa.string())
        malformed = k["malformed"]
        station_arr = pa.array(station_names[station_ix], pa.string(), mask=malformed)

    stamp_text = pc.strftime(stamp, format="%Y-%m-%dT%H:%M:%SZ")
    newline_unit = pc.binary_join_element_wise(unit, "\n", "")
    line = pc.binary_join_element_wise(station, region, stamp_text, pollutant, value_text, newline_unit, ",")
    if malformed.any():
        # a record with a field missing (the region): the reader rejects it as malformed
        short = pc.binary_join_element_wise(station, stamp_text, pollutant, value_text, newline_unit, ",")
        line = pc.if_else(pa.array(malformed), short, line)
    table = pa.table(
        [station_arr, region, pc.cast(stamp, pa.timestamp("us", tz="UTC")), pollutant, value_arr, unit],
        schema=SCHEMA,
    )
    return table, line


def _json_lines(chunk: pa.Table, line: pa.Array) -> pa.Array:
    """The chunk's rows as gateway-style NDJSON records (``sample_data``'s gateway shape), one per line.

    Built from the typed chunk and its CSV line: a bad row of the dirty set stays bad in the same
    way (missing value: ``null``; unreadable: ``"ERR"``; negative; previous day; malformed: a record
    cut short, as a truncated write leaves it).
    """
    join = pc.binary_join_element_wise
    fields = pc.split_pattern(pc.utf8_rtrim(line, "\n"), ",")
    text = {name: pc.list_element(fields, i) for i, name in enumerate(("station_id", "region", "observed_at"))}
    malformed = pc.equal(pc.list_value_length(fields), len(SCHEMA.names) - 1)
    value_text = pc.list_element(fields, 4)
    value = pc.if_else(pc.equal(value_text, ""), "null", pc.if_else(pc.equal(value_text, "ERR"), '"ERR"', value_text))
    record = join(
        '{"station_id":"', text["station_id"], '","region":"', text["region"], '","observed_at":"',
        text["observed_at"], '","pollutant":"', chunk["pollutant"], '","value":', value, ',"unit":"',
        chunk["unit"], '"}\n', "",
    )  # fmt: skip
    short = join('{"station_id":"', text["station_id"], '","observed_at":"', "\n", "")
    return pc.if_else(malformed, short, record)


def ndjson(rows: int, dirty: bool, out: Path) -> Path:
    """Write (or reuse) the data set's rows as NDJSON (``<name>.ndjson``), for the NDJSON measurements."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{data_name(rows, dirty)}.ndjson"
    meta_path = path.with_suffix(".ndjson.meta.json")
    if meta_path.exists() and path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("generator_version") == GENERATOR_VERSION and meta.get("bytes") == path.stat().st_size:
            return path
    partial = path.with_suffix(".ndjson.partial")
    with open(partial, "wb") as fh:
        for start in range(0, rows, CHUNK_ROWS):
            table, lines = _chunk(start, min(CHUNK_ROWS, rows - start), rows, dirty)
            _write_lines(fh, _json_lines(table, lines))
    os.replace(partial, path)
    meta_path.write_text(
        json.dumps({"generator_version": GENERATOR_VERSION, "rows": rows, "bytes": path.stat().st_size})
    )
    return path


def remove(rows: int, out: Path) -> None:
    """Delete every file of the data sets of ``rows`` (a 100M-row day is ~10 GB of CSV: not kept)."""
    for path in out.glob(f"{data_name(rows, False).rsplit('_', 1)[0]}_*"):
        path.unlink(missing_ok=True)


def _write_lines(fh: object, lines: pa.Array) -> None:
    lines = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
    _, offset_buffer, data = lines.buffers()
    offsets = np.frombuffer(offset_buffer, dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
    fh.write(memoryview(data)[int(offsets[0]) : int(offsets[-1])])  # type: ignore[attr-defined]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def generate(rows: int, dirty: bool, out: Path) -> DataSet:
    """Write (or reuse) one data set; returns its description."""
    _check_shape()
    if rows % BAD_EVERY:
        raise ValueError(f"rows must be a multiple of {BAD_EVERY}")
    out.mkdir(parents=True, exist_ok=True)
    name = data_name(rows, dirty)
    csv_path, parquet_path, meta_path = out / f"{name}.csv", out / f"{name}.parquet", out / f"{name}.meta.json"
    if meta_path.exists() and csv_path.exists() and parquet_path.exists():
        meta = json.loads(meta_path.read_text())
        if (
            meta.get("generator_version") == GENERATOR_VERSION
            and meta.get("csv_bytes") == csv_path.stat().st_size
            and meta.get("parquet_bytes") == parquet_path.stat().st_size
        ):
            return DataSet(**{**meta, "csv": str(csv_path), "parquet": str(parquet_path)})

    tmp_csv, tmp_parquet = csv_path.with_suffix(".csv.partial"), parquet_path.with_suffix(".parquet.partial")
    with open(tmp_csv, "wb") as csv_fh, pq.ParquetWriter(tmp_parquet, SCHEMA, compression="zstd") as parquet:
        csv_fh.write((",".join(READING_FIELDS) + "\n").encode())
        for start in range(0, rows, CHUNK_ROWS):
            table, lines = _chunk(start, min(CHUNK_ROWS, rows - start), rows, dirty)
            _write_lines(csv_fh, lines)
            parquet.write_table(table)
    os.replace(tmp_csv, csv_path)
    os.replace(tmp_parquet, parquet_path)
    data = DataSet(
        rows=rows,
        dirty=dirty,
        ds=DS,
        csv=str(csv_path),
        parquet=str(parquet_path),
        bad_rows=rows // BAD_EVERY if dirty else 0,
        csv_bytes=csv_path.stat().st_size,
        parquet_bytes=parquet_path.stat().st_size,
        csv_sha256=_sha256(csv_path),
        parquet_sha256=_sha256(parquet_path),
    )
    meta_path.write_text(json.dumps(asdict(data), indent=2))
    return data


def logical_date() -> dt.date:
    return dt.date.fromisoformat(DS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / ".data")
    args = parser.parse_args(argv)
    for rows in args.rows:
        for dirty in (False, True):
            data = generate(rows, dirty, args.out)
            print(f"{data.name}: {data.csv_bytes / 1e6:.1f} MB CSV, {data.parquet_bytes / 1e6:.1f} MB Parquet")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
