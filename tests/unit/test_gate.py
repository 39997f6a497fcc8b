"""Tests for ``lockgate.gate``: the quality gate run for real (DuckDB, pyarrow, Great Expectations).

* hand-written dirty files: every quarantine reason, row by row, and the typed values staged;
* the generator's sample day: the gate's counts equal the generator's exact defect counts, and the
  staged rows equal an independent reading of the files (plain ``csv``/``json``/``zoneinfo``);
* ``fail`` checks raise one report of every failure, ``warn`` checks are reported, accounting
  errors are caught, ``row_condition`` parsing, and byte-identical output on a rerun.
"""

from __future__ import annotations

import csv
import datetime
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from lockgate import sample_data
from lockgate.checks import Params, row_condition_sql
from lockgate.contracts import load_contract, parse_contract
from lockgate.formats import ReadSettings, SourceFileError, count_records
from lockgate.gate import (
    AccountingError,
    GateOutcome,
    QualityGateFailed,
    RawFile,
    run_gate,
)

UTC = datetime.UTC
DS = "2026-01-02"
CHICAGO = "America/Chicago"
PREPROCESS: dict[str, Any] = {
    "convert_units": {
        "value": "value",
        "unit": "unit",
        "by": "pollutant",
        "targets": {"pm25": "ug/m3", "pm10": "ug/m3", "o3": "ppm", "co": "ppm", "so2": "ppb", "no2": "ppb"},
    },
    "drop_exact_duplicates": True,
}
PM_RANGE = 'expect_column_values_to_be_between(value) where pollutant in ["pm25", "pm10", "so2", "no2"]'
GAS_RANGE = 'expect_column_values_to_be_between(value) where pollutant in ["o3", "co"]'
SMOKE_WARNING = "expect_column_max_to_be_between(value)"


def utc(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def read_parquet(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def quarantine_rows(outcome: GateOutcome) -> list[tuple[Any, ...]]:
    return [
        (r["source_file"], r["source_row"], r["column_name"], r["check_name"], r["reason"])
        for r in read_parquet(outcome.quarantine_path)
    ]


def staged_rows(outcome: GateOutcome) -> list[tuple[Any, ...]]:
    """The staged readings in key order (the file holds them in reading order)."""
    cols = ("station_id", "region", "observed_at", "pollutant", "value", "unit")
    rows = [tuple(r[c] for c in cols) for r in read_parquet(outcome.staged_path)]
    return sorted(rows, key=lambda r: (r[0], r[2], r[3]))


def raw_file(path: Path, key: str | None = None, **kwargs: Any) -> RawFile:
    """A RawFile as ingestion records it: the row count comes from ``count_records``."""
    fmt = kwargs.pop("format", None) or {"csv": "csv", "ndjson": "ndjson", "json": "json"}[path.suffix[1:]]
    rows = kwargs.pop("rows", None)
    delimiter = kwargs.get("delimiter", ",")
    encoding = kwargs.get("encoding", "utf-8")
    if rows is None:
        rows = count_records(path, fmt=fmt, delimiter=delimiter, encoding=encoding)
    return RawFile(key=key or f"raw/{path.name}", local_path=path, format=fmt, rows=rows, **kwargs)


# ============================================================================ (a) hand-written files

PARTNER_CSV = """\
station_id,region,observed_at,pollutant,value,unit
ST-001,south,2026-01-01 18:00:00,pm25,0.0123,mg/m3
ST-001,south,2026-01-01 18:00:00,co,450,ppb
ST-002,south,2026-01-02T05:00:00+00:00,o3,0.031,ppm
ST-002,south,2026-01-02 03:00:00,pm10,abc,mg/m3
ST-002,south,2026-01-02 03:00:00,no2,,ppb
ST-003,south,2026-01-02 04:00:00,pm25,0.01,mg/m3,extra
ST-003,south,2026-01-02 04:00:00,so2,-5,ppb
ST-003,south,2026-01-02 04:00:00,o3,75,ppm
ST-004,south,2026-01-02 20:00:00,no2,12,ppb
ST-004,south,2026-01-02 03:00:00,pm25,5,furlongs
ST-004,south,2026-01-02 03:00:00,so2,1.5,ppb
ST-004,south,2026-01-02 03:00:00,so2,1.5,ppb
ST-005,south,not-a-time,co,1,ppm
ST-005,central,2026-01-02 03:00:00,pm25,20,mg/m3
ST-005,central,2026-01-02 03:00:00,o3,60,ppb
,central,2026-01-02 03:00:00,pm10,-1,ug/m3
"ST-006","central","2026-01-01 23:30:00-06:00","pm10","0.0205","MG/M³"
ST-007,central,2026-01-02,pm10,0.01,mg/m3
"""

GATEWAY_LINES = [
    '{"station_id":"ST-010","region":"north","observed_at":"2026-01-01T18:00:00-06:00","pollutant":"o3","value":35.5,"unit":"ppb"}',
    '{"station_id":"ST-010","region":"north","observed_at":"2026-01-01T18:00:00-06:00","pollutant":"pm25","value":null,"unit":"ug/m3"}',
    '{"station_id":"ST-010","region":"north","observed_at":"2026-01-01T18:00',
    "",
    "[1, 2]",
    '{"station_id":"ST-011","region":"east","observed_at":"2026-01-02T10:00:00Z","pollutant":"pm25","value":"12.5","unit":"µg/m³"}',
    '{"station_id":"ST-011","region":"east","observed_at":"2026-01-02T10:00:00Z","pollutant":"no2","value":true,"unit":"ppb"}',
    '{"station_id":"ST-011","region":"east","observed_at":"2026-01-02T11:00:00","pollutant":"so2","value":3,"unit":"ppb"}',
    '{"station_id":"ST-012","region":"west","observed_at":"2026-01-01T23:00:00+00:00","pollutant":"co","value":0.5,"unit":"ppm"}',
    '{"station_id":"ST-012","region":"west","observed_at":"2026-01-02T23:59:59-00:00","pollutant":"co","value":0.4,"unit":"ppm"}',
    '{"station_id":"ST-012","region":"west","observed_at":"2026-01-02T12:00:00Z","pollutant":"co","value":"Infinity","unit":"ppm"}',
]

PARTNER_KEY = "raw/readings/ds=2026-01-02/run=r1/partner.csv"
GATEWAY_KEY = "raw/readings/ds=2026-01-02/run=r1/gateway.ndjson"


@pytest.fixture(scope="module")
def dirty_files(tmp_path_factory: pytest.TempPathFactory) -> list[RawFile]:
    folder = tmp_path_factory.mktemp("dirty")
    partner = folder / "partner.csv"
    partner.write_text(PARTNER_CSV, encoding="utf-8")
    gateway = folder / "gateway.ndjson"
    gateway.write_text("\n".join(GATEWAY_LINES) + "\n", encoding="utf-8")
    return [
        raw_file(partner, PARTNER_KEY, source_timezone=CHICAGO),
        raw_file(gateway, GATEWAY_KEY),
    ]


@pytest.fixture(scope="module")
def dirty_outcome(dirty_files: list[RawFile], tmp_path_factory: pytest.TempPathFactory) -> GateOutcome:
    workdir = tmp_path_factory.mktemp("dirty_gate")
    return run_gate(load_contract("readings"), dirty_files, ds=DS, workdir=workdir, preprocess=PREPROCESS)


def test_dirty_files_counts(dirty_files: list[RawFile], dirty_outcome: GateOutcome) -> None:
    assert [f.rows for f in dirty_files] == [18, 10]  # the blank NDJSON line is no record
    report = dirty_outcome.report
    assert report["files"] == [{"key": PARTNER_KEY, "rows": 18}, {"key": GATEWAY_KEY, "rows": 10}]
    assert (report["rows_in"], report["rows_passed"], report["rows_quarantined"], report["duplicates_removed"]) == (
        28,
        11,
        16,
        1,
    )
    assert report["rows_in"] == report["rows_passed"] + report["rows_quarantined"] + report["duplicates_removed"]
    assert report["quarantine_by_check"] == {
        "event_time": 2,
        GAS_RANGE: 1,
        PM_RANGE: 2,
        "finite": 1,
        "not_null": 3,
        "parse": 3,
        "type": 3,
        "unit": 1,
    }
    assert sum(report["quarantine_by_check"].values()) == report["rows_quarantined"]
    assert report["success"] is True
    assert report["failed"] == []
    assert report["warnings"] == []
    assert report["dataset"] == "readings"
    assert report["contract"] == "readings.yaml"
    assert report["ds"] == DS


def test_dirty_files_every_quarantined_row(dirty_outcome: GateOutcome) -> None:
    P, G = PARTNER_KEY, GATEWAY_KEY
    assert quarantine_rows(dirty_outcome) == [
        (G, 2, "value", "not_null", "row 2: column value: missing value in a non-nullable column"),
        (G, 3, None, "parse", "row 3: invalid JSON at column 55: Unterminated string starting at"),
        (G, 5, None, "parse", "row 5: expected a JSON object, found list"),
        (
            G,
            7,
            "value",
            "type",
            "row 7: column value: cannot read true as double (expected a number like 1.5, -2 or 6.02e23)",
        ),
        (
            G,
            9,
            "observed_at",
            "event_time",
            "row 9: column observed_at: 2026-01-01T23:00:00Z is not on the logical date 2026-01-02",
        ),
        (
            G,
            11,
            "value",
            "finite",
            # a value that does not type is NULL for the checks after typing: one reason, not two
            "row 11: column value: Infinity is not a finite number",
        ),
        (
            P,
            5,
            "value",
            "type",
            "row 5: column value: cannot read abc as double (expected a number like 1.5, -2 or 6.02e23)",
        ),
        (P, 6, "value", "not_null", "row 6: column value: missing value in a non-nullable column"),
        (P, 7, None, "parse", "row 7: expected 6 fields, found 7"),
        (
            P,
            8,
            "value",
            PM_RANGE,
            "row 8: column value: -5.0 is not between 0 and 10000 (expect_column_values_to_be_between)",
        ),
        (
            P,
            9,
            "value",
            GAS_RANGE,
            "row 9: column value: 75.0 is not between 0 and 50 (expect_column_values_to_be_between)",
        ),
        (
            P,
            10,
            "observed_at",
            "event_time",
            # 20:00 in Chicago is 02:00 UTC the next day
            "row 10: column observed_at: 2026-01-03T02:00:00Z is not on the logical date 2026-01-02",
        ),
        (P, 11, "unit", "unit", "row 11: column unit: cannot convert furlongs to ug/m3"),
        (
            P,
            14,
            "observed_at",
            "type",
            "row 14: column observed_at: cannot read not-a-time as timestamp "
            "(expected ISO 8601 YYYY-MM-DD[THH:MM[:SS[.ffffff]][Z|±HH:MM]])",
        ),
        # 20 mg/m3 is 20000 ug/m3: the range is checked after the unit conversion
        (
            P,
            15,
            "value",
            PM_RANGE,
            "row 15: column value: 20000.0 is not between 0 and 10000 (expect_column_values_to_be_between)",
        ),
        (
            P,
            17,
            "station_id",
            "not_null",
            "row 17: column station_id: missing value in a non-nullable column; "
            "column value: -1.0 is not between 0 and 10000 (expect_column_values_to_be_between)",
        ),
    ]


def test_dirty_files_quarantine_keeps_the_record(dirty_outcome: GateOutcome) -> None:
    records = {(r["source_file"], r["source_row"]): r for r in read_parquet(dirty_outcome.quarantine_path)}
    assert {r["ds"] for r in records.values()} == {datetime.date(2026, 1, 2)}
    # unreadable records keep their raw text
    assert records[(PARTNER_KEY, 7)]["record"] == "ST-003,south,2026-01-02 04:00:00,pm25,0.01,mg/m3,extra"
    assert records[(GATEWAY_KEY, 5)]["record"] == "[1, 2]"
    # readable ones keep the values as received (before typing and conversion)
    assert json.loads(records[(PARTNER_KEY, 15)]["record"]) == {
        "station_id": "ST-005",
        "region": "central",
        "observed_at": "2026-01-02 03:00:00",
        "pollutant": "pm25",
        "value": "20",
        "unit": "mg/m3",
    }
    assert json.loads(records[(GATEWAY_KEY, 2)]["record"])["value"] is None


def test_dirty_files_staged_values(dirty_outcome: GateOutcome) -> None:
    assert staged_rows(dirty_outcome) == [
        # partner naive 18:00 Chicago (UTC-6 in January) is midnight UTC; mg/m3 -> ug/m3, ppb -> ppm
        ("ST-001", "south", utc(2026, 1, 2, 0), "co", 0.45, "ppm"),
        ("ST-001", "south", utc(2026, 1, 2, 0), "pm25", 12.3, "ug/m3"),
        # an explicit offset wins over the source's zone
        ("ST-002", "south", utc(2026, 1, 2, 5), "o3", 0.031, "ppm"),
        # exact duplicate (rows 12 and 13) staged once; 03:00 Chicago is 09:00 UTC
        ("ST-004", "south", utc(2026, 1, 2, 9), "so2", 1.5, "ppb"),
        # 60 ppb is 0.06 ppm: in range once converted
        ("ST-005", "central", utc(2026, 1, 2, 9), "o3", 0.06, "ppm"),
        # quoted CSV fields, an offset, and the mg/m³ alias in capitals
        ("ST-006", "central", utc(2026, 1, 2, 5, 30), "pm10", 20.5, "ug/m3"),
        # a bare date is naive: midnight in Chicago, not midnight UTC
        ("ST-007", "central", utc(2026, 1, 2, 6), "pm10", 10.0, "ug/m3"),
        # gateway offsets: 18:00-06:00 is midnight UTC; 35.5 ppb -> 0.0355 ppm exactly
        ("ST-010", "north", utc(2026, 1, 2, 0), "o3", 0.0355, "ppm"),
        # a JSON string value is read as a number; µg/m³ is rewritten to ug/m3
        ("ST-011", "east", utc(2026, 1, 2, 10), "pm25", 12.5, "ug/m3"),
        # naive with no source zone: UTC
        ("ST-011", "east", utc(2026, 1, 2, 11), "so2", 3.0, "ppb"),
        ("ST-012", "west", utc(2026, 1, 2, 23, 59, 59), "co", 0.4, "ppm"),
    ]
    assert {r["ds"] for r in read_parquet(dirty_outcome.staged_path)} == {datetime.date(2026, 1, 2)}


def test_dirty_files_row_level_checks_count_every_flagged_row(dirty_outcome: GateOutcome) -> None:
    checks = {c["check"]: c for c in dirty_outcome.report["checks"]}
    # row 17's first problem is the missing station, but the range check flagged it too
    assert checks[PM_RANGE]["unexpected_count"] == 3
    assert checks[GAS_RANGE]["unexpected_count"] == 1  # partner row 9 (gateway row 11's Infinity is not typed)
    # quarantining rows is what the check is for: without `mostly` it does not fail the run
    assert checks[PM_RANGE]["success"] is True
    assert checks[PM_RANGE]["engine"] == "duckdb"
    # evaluated over the rows that could be read (28 records minus the unreadable ones)
    assert checks[PM_RANGE]["element_count"] == 28 - dirty_outcome.report["quarantine_by_check"]["parse"]
    gx = [c for c in dirty_outcome.report["checks"] if c["severity"] in ("fail", "warn")]
    assert {c["engine"] for c in gx} == {"duckdb"}  # every shipped check is translated to SQL
    assert [c["check"] for c in gx] == [
        "expect_column_values_to_be_in_set(pollutant)",
        "expect_column_values_to_match_regex(station_id)",
        "expect_compound_columns_to_be_unique(station_id,observed_at,pollutant)",
        "expect_table_row_count_to_be_between(table)",
        "expect_table_row_count_to_be_within_trailing_runs(table)",
        "expect_column_newest_value_to_be_fresh(observed_at)",
        SMOKE_WARNING,
    ]
    freshness = checks["expect_column_newest_value_to_be_fresh(observed_at)"]
    staged_newest = max(r["observed_at"] for r in read_parquet(dirty_outcome.staged_path))
    assert freshness["observed_value"] == staged_newest.isoformat()
    assert freshness["success"] is (freshness["details"]["lag_hours"] <= 3)
    assert all(c["success"] for c in gx if c is not freshness)
    assert checks[SMOKE_WARNING]["observed_value"] == 20.5  # the staged maximum
    assert checks["expect_table_row_count_to_be_between(table)"]["observed_value"] == 11
    json.dumps(dirty_outcome.report)  # the report is JSON as is (it is written to the lake)


TYPES_CONTRACT = {
    "dataset": "kinds",
    "columns": {
        "key": {"type": "string", "nullable": False},
        "i": {"type": "integer"},
        "d": {"type": "double"},
        "b": {"type": "boolean"},
        "day": {"type": "date"},
        "ts": {"type": "timestamp"},
        "s": {"type": "string"},
    },
    "primary_key": ["key"],
}

TYPES_CSV = """\
key,i,d,b,day,ts,s
a,7,1.5,true,2026-01-02,2026-01-02 06:00:00,x
b,7.0,-2e3,false,2026-01-02,2026-01-02,
c, -12 ,0,1,,2026-01-02T06:00:00+01:00,y
d,1.5,,,,,
e,,NaN,,,,
f,,,maybe,,,
g,,,,2026-02-30,,
h,,,,,yesterday,
,,,,,,
i,99999999999999999999,,,,,
"""


def test_every_type_is_cast_or_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "kinds.csv"
    path.write_text(TYPES_CSV, encoding="utf-8")
    outcome = run_gate(
        parse_contract(TYPES_CONTRACT),
        [raw_file(path, "kinds.csv", source_timezone=CHICAGO)],
        ds=DS,
        workdir=tmp_path / "gate",
    )
    assert [(r[1], r[2], r[3], r[4]) for r in quarantine_rows(outcome)] == [
        (5, "i", "type", "row 5: column i: cannot read 1.5 as integer (expected a whole number like 42 or -7)"),
        (6, "d", "finite", "row 6: column d: NaN is not a finite number"),
        (7, "b", "type", "row 7: column b: cannot read maybe as boolean (expected true, false, t, f, 1 or 0)"),
        (8, "day", "type", "row 8: column day: cannot read 2026-02-30 as date (expected YYYY-MM-DD)"),
        (
            9,
            "ts",
            "type",
            "row 9: column ts: cannot read yesterday as timestamp "
            "(expected ISO 8601 YYYY-MM-DD[THH:MM[:SS[.ffffff]][Z|±HH:MM]])",
        ),
        (10, "key", "not_null", "row 10: column key: missing value in a non-nullable column"),
        (
            11,
            "i",
            "range",
            "row 11: column i: 99999999999999999999 is outside the integer range "
            "-9223372036854775808 to 9223372036854775807 (BIGINT)",
        ),
    ]
    day = datetime.date(2026, 1, 2)
    origin = [{"_source_file": "kinds.csv", "_source_row": row} for row in (2, 3, 4)]  # where each row was read
    assert read_parquet(outcome.staged_path) == [
        {"key": "a", "i": 7, "d": 1.5, "b": True, "day": day, "ts": utc(2026, 1, 2, 12), "s": "x", "ds": day}
        | origin[0],
        {"key": "b", "i": 7, "d": -2000.0, "b": False, "day": day, "ts": utc(2026, 1, 2, 6), "s": None, "ds": day}
        | origin[1],
        {"key": "c", "i": -12, "d": 0.0, "b": True, "day": None, "ts": utc(2026, 1, 2, 5), "s": "y", "ds": day}
        | origin[2],
    ]
    # no expectations: only the primary key's built-in uniqueness check runs
    assert [(c["check"], c["success"]) for c in outcome.report["checks"]] == [("primary_key(key)", True)]
    assert outcome.report["rows_in"] == 10


def test_without_preprocessing_units_and_duplicates_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(
        "station_id,region,observed_at,pollutant,value,unit\n"
        "ST-001,south,2026-01-02 01:00:00,pm25,0.0123,mg/m3\n"
        "ST-001,south,2026-01-02 01:00:00,pm25,0.0123,mg/m3\n",
        encoding="utf-8",
    )
    contract = parse_contract(
        {"dataset": "r", "columns": {c.name: {"type": c.type} for c in load_contract("readings").columns}}
    )
    outcome = run_gate(contract, [raw_file(path)], ds=DS, workdir=tmp_path / "gate")
    assert staged_rows(outcome) == [("ST-001", "south", utc(2026, 1, 2, 1), "pm25", 0.0123, "mg/m3")] * 2
    assert outcome.report["duplicates_removed"] == 0


def test_unknown_source_timezone_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(PARTNER_CSV, encoding="utf-8")
    with pytest.raises(ValueError, match=r"^raw/p\.csv: unknown source_timezone 'America/Chikago'$"):
        run_gate(
            load_contract("readings"),
            [raw_file(path, source_timezone="America/Chikago")],
            ds=DS,
            workdir=tmp_path / "gate",
            preprocess=PREPROCESS,
        )


def test_unreadable_source_and_bad_configuration_are_errors(tmp_path: Path) -> None:
    readings = load_contract("readings")
    path = tmp_path / "p.csv"
    path.write_text("station_id,region,observed_at,pollutant,value\nST-001,south,2026-01-02,o3,1\n", encoding="utf-8")
    with pytest.raises(SourceFileError, match=r"^raw/p\.csv: row 1: missing column\(s\) unit"):
        run_gate(readings, [raw_file(path, rows=1)], ds=DS, workdir=tmp_path / "g1")
    with pytest.raises(ValueError, match=r"^preprocess: unknown step\(s\) dedupe"):
        run_gate(readings, [], ds=DS, workdir=tmp_path / "g2", preprocess={"dedupe": True})
    # refused when the contract is read, before any gate runs
    with pytest.raises(
        ValueError, match=r"expect_column_values_to_be_unique\(a\): severity 'quarantine' needs a row-level"
    ):
        parse_contract(
            {
                "dataset": "x",
                "columns": {"a": {"type": "integer"}},
                "expectations": [
                    {
                        "expectation": "expect_column_values_to_be_unique",
                        "kwargs": {"column": "a"},
                        "severity": "quarantine",
                    }
                ],
            }
        )


# ============================================================================== (b) the sample day


def independent_staging(
    batch: sample_data.SampleBatch,
) -> dict[tuple[str, datetime.datetime, str], tuple[str, float, str]]:
    """What should pass the gate, read from the files with the standard library only.

    Malformed records, non-numeric, missing and out-of-range values (in the file's own units, as the
    generator defines them) are left out; timestamps go to UTC (partner: naive Chicago time);
    values go to the pollutant's target unit with the generator's own factors.
    """
    expected: dict[tuple[str, datetime.datetime, str], tuple[str, float, str]] = {}

    def add(station: str, region: str, at: datetime.datetime, pollutant: str, raw_value: Any, unit: str) -> None:
        if raw_value is None or raw_value == "" or isinstance(raw_value, bool):
            return
        try:
            value = float(raw_value)
        except ValueError:
            return
        if not math.isfinite(value) or value < sample_data.MIN_VALID_VALUE or value >= sample_data.MAX_VALID_VALUE:
            return
        key = (station, at.astimezone(UTC), pollutant)
        row = (region, sample_data.to_target_units(pollutant, value, unit), sample_data.TARGET_UNITS[pollutant])
        assert expected.setdefault(key, row) == row, f"two different readings for {key}"

    with batch.gateway_path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and list(obj) == list(sample_data.READING_FIELDS):
                at = datetime.datetime.fromisoformat(obj["observed_at"])
                assert at.tzinfo is not None
                add(obj["station_id"], obj["region"], at, obj["pollutant"], obj["value"], obj["unit"])
    chicago = ZoneInfo(sample_data.PARTNER_TIMEZONE)
    with batch.partner_path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        assert next(reader) == list(sample_data.READING_FIELDS)
        for fields in reader:
            if len(fields) == 6:
                station, region, observed_at, pollutant, value, unit = fields
                at = datetime.datetime.fromisoformat(observed_at).replace(tzinfo=chicago)
                add(station, region, at, pollutant, value, unit)
    return expected


def sample_files(batch: sample_data.SampleBatch) -> list[RawFile]:
    """Ingest both readings files as the pipeline does: counted with ``count_records``."""
    ds = batch.ds.isoformat()
    return [
        raw_file(batch.gateway_path, f"raw/readings/ds={ds}/run=r/{batch.gateway_path.name}"),
        raw_file(batch.partner_path, f"raw/readings/ds={ds}/run=r/{batch.partner_path.name}", source_timezone=CHICAGO),
    ]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[sample_data.SampleBatch, list[RawFile], GateOutcome]:
    batch = sample_data.generate(DS, tmp_path_factory.mktemp("sample"))
    files = sample_files(batch)
    outcome = run_gate(
        load_contract("readings"), files, ds=DS, workdir=tmp_path_factory.mktemp("sample_gate"), preprocess=PREPROCESS
    )
    return batch, files, outcome


@pytest.fixture(scope="module")
def quiet_day(tmp_path_factory: pytest.TempPathFactory) -> tuple[sample_data.SampleBatch, GateOutcome]:
    """The first day after DS without a smoke event, gated."""
    root = tmp_path_factory.mktemp("quiet")
    day = datetime.date.fromisoformat(DS)
    for offset in range(1, 30):
        batch = sample_data.generate(day + datetime.timedelta(days=offset), root / str(offset))
        if batch.smoke_event is None:
            break
    else:  # pragma: no cover - the generator makes smoke about one day in three
        pytest.fail("no day without a smoke event in a month of samples")
    outcome = run_gate(
        load_contract("readings"),
        sample_files(batch),
        ds=batch.ds.isoformat(),
        workdir=root / "gate",
        preprocess=PREPROCESS,
    )
    return batch, outcome


def test_sample_manifest_counts_match_the_generator(sample: tuple[Any, list[RawFile], GateOutcome]) -> None:
    batch, files, _ = sample
    assert [f.rows for f in files] == [batch.gateway.rows, batch.partner.rows]


def test_sample_accounting_matches_the_generator_exactly(sample: tuple[Any, list[RawFile], GateOutcome]) -> None:
    batch, _, outcome = sample
    report = outcome.report
    stats = [batch.gateway, batch.partner]
    defects = sum(s.malformed + s.missing_values + s.out_of_range + s.non_numeric for s in stats)
    assert defects > 0
    assert report["rows_in"] == sum(s.rows for s in stats)
    assert report["rows_in"] == report["rows_passed"] + report["rows_quarantined"] + report["duplicates_removed"]
    assert report["rows_quarantined"] == defects
    assert report["duplicates_removed"] == sum(s.duplicates for s in stats) > 0
    assert report["rows_passed"] == sum(s.clean_rows for s in stats)
    # each generator defect lands on the matching check
    by_check = report["quarantine_by_check"]
    assert by_check.get("parse", 0) == sum(s.malformed for s in stats)
    assert by_check.get("type", 0) == sum(s.non_numeric for s in stats)
    assert by_check.get("not_null", 0) == sum(s.missing_values for s in stats)
    assert by_check.get(PM_RANGE, 0) + by_check.get(GAS_RANGE, 0) == sum(s.out_of_range for s in stats)
    assert set(by_check) <= {"parse", "type", "not_null", PM_RANGE, GAS_RANGE}
    assert report["success"] is True
    assert report["failed"] == []


def test_sample_quarantine_points_at_real_rows(sample: tuple[Any, list[RawFile], GateOutcome]) -> None:
    _, files, outcome = sample
    rows = read_parquet(outcome.quarantine_path)
    by_file = {f.key: f for f in files}
    assert len({(r["source_file"], r["source_row"]) for r in rows}) == len(rows)
    for r in rows:
        raw = by_file[r["source_file"]]
        lines = raw.local_path.read_text(encoding="utf-8").split("\n")
        line = lines[r["source_row"] - 1]
        assert r["reason"].startswith(f"row {r['source_row']}: ")
        if r["check_name"] == "parse":
            assert r["record"] == line
        else:  # the record is the line's values; the station id proves it is the same line
            assert json.loads(r["record"])["station_id"] in line


def test_sample_staged_rows_equal_an_independent_reading(sample: tuple[Any, list[RawFile], GateOutcome]) -> None:
    batch, _, outcome = sample
    expected = independent_staging(batch)
    staged = staged_rows(outcome)
    assert len(staged) == len(expected) == outcome.report["rows_passed"]
    got = {(s, at, p): (region, value, unit) for s, region, at, p, value, unit in staged}
    assert got.keys() == expected.keys()
    for key, (region, value, unit) in expected.items():
        assert got[key][0] == region
        assert got[key][2] == unit
        assert math.isclose(got[key][1], value, rel_tol=1e-9, abs_tol=1e-12), key
    # every staged timestamp is on the logical date, in UTC, and the file is in reading order
    assert {at.date() for _, at, _ in got} == {batch.ds}
    origins = [(r["_source_file"], r["_source_row"]) for r in read_parquet(outcome.staged_path)]
    assert origins == sorted(origins)


def test_sample_partner_timestamps_are_chicago_time(sample: tuple[Any, list[RawFile], GateOutcome]) -> None:
    """Partner stations are stamped in Chicago time even in the central region (Denver)."""
    batch, _, outcome = sample
    staged = staged_rows(outcome)
    partner = [r for r in staged if r[1] in sample_data.PARTNER_REGIONS]
    assert {r[1] for r in partner} == {"south", "central"}
    hours = {r[2].hour for r in partner if r[1] == "central"}
    assert hours == set(range(24))  # 18:00 Chicago (UTC-6) is 00:00 UTC: a full UTC day
    with batch.partner_path.open(encoding="utf-8") as fh:
        first = next(csv.DictReader(fh))
    assert first["observed_at"] == "2026-01-01 18:00:00"


def test_smoke_warning_on_a_smoke_day(sample: tuple[Any, list[RawFile], GateOutcome]) -> None:
    batch, _, outcome = sample
    assert batch.smoke_event is not None
    assert batch.partner.smoke_event_rows + batch.gateway.smoke_event_rows == batch.smoke_event.hours
    assert [w["check"] for w in outcome.warnings] == [SMOKE_WARNING]
    assert outcome.report["warnings"] == [SMOKE_WARNING]
    assert outcome.failed == []
    warning = outcome.warnings[0]
    assert warning["severity"] == "warn"
    assert warning["success"] is False
    assert 500 < warning["observed_value"] <= 700
    staged = staged_rows(outcome)
    smoky = [r for r in staged if r[4] > 500]
    assert {(r[0], r[3]) for r in smoky} == {(batch.smoke_event.station_id, "pm25")}
    assert len(smoky) == batch.smoke_event.hours


def test_no_smoke_warning_on_a_quiet_day(quiet_day: tuple[sample_data.SampleBatch, GateOutcome]) -> None:
    batch, outcome = quiet_day
    assert batch.smoke_event is None
    assert outcome.warnings == []
    assert outcome.report["warnings"] == []
    check = next(c for c in outcome.report["checks"] if c["check"] == SMOKE_WARNING)
    assert check["success"] is True
    assert check["observed_value"] <= 500
    stats = [batch.gateway, batch.partner]
    assert outcome.report["rows_passed"] == sum(s.clean_rows for s in stats)
    assert outcome.report["rows_quarantined"] == sum(
        s.malformed + s.missing_values + s.out_of_range + s.non_numeric for s in stats
    )
    assert outcome.report["duplicates_removed"] == sum(s.duplicates for s in stats)


# ============================================================================== (c) failing checks

PARTS = {
    "dataset": "parts",
    "columns": {
        "part_id": {"type": "integer", "nullable": False},
        "name": {"type": "string"},
        "weight": {"type": "double"},
    },
    "primary_key": ["part_id"],
    "expectations": [
        {
            "expectation": "expect_column_values_to_be_between",
            "kwargs": {"column": "weight", "min_value": 0, "max_value": 10},
            "severity": "fail",
        },
        {"expectation": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}, "severity": "fail"},
        {
            "expectation": "expect_column_values_to_match_regex",
            "kwargs": {"column": "name", "regex": "^[a-z]+$"},
            "severity": "fail",
        },
        {"expectation": "expect_column_values_to_be_unique", "kwargs": {"column": "part_id"}, "severity": "warn"},
        {
            "expectation": "expect_column_values_to_be_between",
            "kwargs": {"column": "part_id", "max_value": 100},
            "severity": "quarantine",
        },
    ],
}


def test_failing_fail_checks_raise_one_report_of_every_failure(tmp_path: Path) -> None:
    path = tmp_path / "parts.csv"
    path.write_text("part_id,name,weight\n4,gear,1\n2,Nut,50\n1,bolt,2.5\n3,washer,75.5\n500,big,1\n", encoding="utf-8")
    contract = parse_contract(PARTS, source="parts.yaml")
    with pytest.raises(QualityGateFailed) as info:
        run_gate(contract, [raw_file(path)], ds=DS, workdir=tmp_path / "gate")
    failure = info.value
    assert str(failure).splitlines() == [
        "quality gate failed for parts ds=2026-01-02: 2 check(s) failed",
        "  - [fail] expect_column_values_to_be_between(weight): 2 of 4 rows unexpected; examples [50.0, 75.5]",
        '  - [fail] expect_column_values_to_match_regex(name): 1 of 4 rows unexpected; examples ["Nut"]',
        # the quarantine, by check, with its reasons: the whole story in one message
        "rows in 5, passed 4, quarantined 1",
        "  quarantined by expect_column_values_to_be_between(part_id): 1 row(s)",
        "    e.g. raw/parts.csv: row 6: column part_id: 500 is not between -inf and 100 "
        "(expect_column_values_to_be_between)",
    ]
    report = failure.report
    assert report["success"] is False
    assert report["failed"] == [
        "expect_column_values_to_be_between(weight)",
        "expect_column_values_to_match_regex(name)",
    ]
    assert report["warnings"] == []
    assert (report["rows_in"], report["rows_passed"], report["rows_quarantined"]) == (5, 4, 1)
    checks = {c["check"]: c for c in report["checks"]}
    assert checks["expect_table_row_count_to_be_between(table)"]["success"] is True
    assert checks["expect_column_values_to_be_unique(part_id)"]["success"] is True
    assert checks["expect_column_values_to_be_between(part_id)"]["unexpected_count"] == 1
    assert checks["expect_column_values_to_be_between(weight)"]["unexpected_count"] == 2
    assert checks["expect_column_values_to_be_between(weight)"]["element_count"] == 4
    # the quarantine is still written so the failed run can be investigated
    assert [(r[1], r[3]) for r in quarantine_rows_at(tmp_path / "gate" / "quarantine.parquet")] == [
        (6, "expect_column_values_to_be_between(part_id)")
    ]


def quarantine_rows_at(path: Path) -> list[tuple[Any, ...]]:
    return [(r["source_file"], r["source_row"], r["column_name"], r["check_name"]) for r in read_parquet(path)]


def test_an_empty_input_fails_the_row_count_check(tmp_path: Path) -> None:
    path = tmp_path / "parts.csv"
    path.write_text("part_id,name,weight\n", encoding="utf-8")
    # a header-only file is only read as 0 rows when its source allows empty files (else it is an
    # error naming the file: tests/unit/test_records_not_files.py)
    allowed = ReadSettings(allow_empty=True)
    with pytest.raises(QualityGateFailed) as info:
        run_gate(parse_contract(PARTS), [raw_file(path, rows=0, read=allowed)], ds=DS, workdir=tmp_path / "gate")
    assert info.value.report["failed"] == ["expect_table_row_count_to_be_between(table)"]
    assert "observed 0" in str(info.value)


# =========================================================================== (d) accounting errors


@pytest.mark.parametrize("claimed", [2, 4])
def test_manifest_row_count_that_disagrees_with_the_file(tmp_path: Path, claimed: int) -> None:
    path = tmp_path / "parts.csv"
    path.write_text("part_id,name,weight\n1,a,1\n2,b\n3,c,3\n", encoding="utf-8")  # 3 records (one ragged)
    assert count_records(path) == 3
    with pytest.raises(
        AccountingError, match=rf"^raw/parts\.csv: the manifest says {claimed} rows but the gate read 3$"
    ):
        run_gate(parse_contract(PARTS), [raw_file(path, rows=claimed)], ds=DS, workdir=tmp_path / "gate")


# ============================================================================== (e) row conditions


@pytest.fixture
def con() -> Iterator[Any]:
    import duckdb

    connection = duckdb.connect()
    connection.execute("CREATE TABLE t (pollutant VARCHAR, n BIGINT)")
    connection.execute("INSERT INTO t VALUES ('pm25', 1), ('o3', 2), ('co', 3), (NULL, 4), ('x\"y', 5)")
    yield connection
    connection.close()


@pytest.mark.parametrize(
    ("condition", "selected", "bound"),
    [
        ('pollutant == "o3"', [2], ["o3"]),
        ("pollutant=='co'", [3], ["co"]),
        ('  pollutant   ==   "nothing"  ', [], ["nothing"]),
        ('pollutant == "x\\"y"', [5], ['x"y']),
        ('pollutant in ["o3", "co"]', [2, 3], [["o3", "co"]]),
        ("pollutant in ('pm25',)", [1], [["pm25"]]),
        ("pollutant in []", [], [[]]),
        ("n == 3", [3], [3]),
        ("n in [1, 4]", [1, 4], [[1, 4]]),
    ],
)
def test_row_condition_sql_accepts_the_simple_forms(
    con: Any, condition: str, selected: list[int], bound: list[Any]
) -> None:
    params = Params()
    params("unrelated")  # conditions are composed with other bound values: numbering continues
    sql = row_condition_sql(condition, params, ["pollutant", "n"])
    assert params.values == ["unrelated", *bound]
    assert "$2" in sql
    assert "o3" not in sql  # values are bound, never in the SQL text
    rows = con.execute(f"SELECT n FROM t WHERE ($1 IS NOT NULL) AND ({sql}) ORDER BY n", params.values).fetchall()
    assert [r[0] for r in rows] == selected


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ('pollutant != "o3"', "use `column == value` or `column in [values]`"),
        ('pollutantin ["o3"]', "use `column == value` or `column in [values]`"),
        ('nin ["o3"]', "use `column == value` or `column in [values]`"),
        ("n > 3", "use `column == value` or `column in [values]`"),
        ('pollutant == "o3" and n == 1', "is not a literal"),
        ('pollutant == "o3" or 1 == 1', "is not a literal"),
        ("pollutant == o3", "'o3' is not a literal"),
        ("pollutant == __import__('os')", "is not a literal"),
        ('colour == "red"', "unknown column 'colour'"),
        ('pollutant in "o3"', "`in` needs a list"),
        ("pollutant in [['o3']]", "`in` needs a list of strings or numbers"),
        ('pollutant == ["o3"]', "`==` needs a single string or number"),
        ("", "use `column == value`"),
    ],
)
def test_row_condition_sql_rejects_other_forms(condition: str, message: str) -> None:
    with pytest.raises(ValueError, match="row_condition") as info:
        row_condition_sql(condition, Params(), ["pollutant", "n"])
    assert repr(condition) in str(info.value)
    assert message in str(info.value)


def test_a_bad_row_condition_in_a_contract_stops_the_gate(tmp_path: Path) -> None:
    raw = {
        "dataset": "x",
        "columns": {"a": {"type": "integer"}, "kind": {"type": "string"}},
        "expectations": [
            {
                "expectation": "expect_column_values_to_be_between",
                "kwargs": {"column": "a", "min_value": 0, "row_condition": 'kind != "y"'},
                "severity": "quarantine",
            }
        ],
    }
    with pytest.raises(ValueError, match=r"row_condition 'kind != \"y\"': use `column == value`"):
        run_gate(parse_contract(raw), [], ds=DS, workdir=tmp_path / "gate")


# ================================================================================ (f) determinism


def test_rerun_gives_byte_identical_output(sample: tuple[Any, list[RawFile], GateOutcome], tmp_path: Path) -> None:
    _, files, first = sample
    staged, quarantine = first.staged_path.read_bytes(), first.quarantine_path.read_bytes()
    second = run_gate(load_contract("readings"), files, ds=DS, workdir=tmp_path / "again", preprocess=PREPROCESS)
    assert second.staged_path.read_bytes() == staged
    assert second.quarantine_path.read_bytes() == quarantine
    assert second.report == first.report
    # and again in the same workdir (a task retry): the previous run's database is not in the way
    third = run_gate(load_contract("readings"), files, ds=DS, workdir=tmp_path / "again", preprocess=PREPROCESS)
    assert third.staged_path.read_bytes() == staged
    assert third.quarantine_path.read_bytes() == quarantine
