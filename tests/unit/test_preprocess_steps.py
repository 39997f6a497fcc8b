"""The declared preprocessing steps (de-duplication by key, missing values, scaling, time zones)
through the real gate (``run_gate`` on DuckDB) on small files, with exact expected outputs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from lockgate.contracts import load_contract
from lockgate.formats import count_records
from lockgate.gate import GateOutcome, RawFile, run_gate
from lockgate.transforms.preprocess import validate_preprocess
from tests.support.contracts import sensor_contract

DS = "2026-01-02"
CONTRACT = sensor_contract("[id, at]")
UTC = dt.UTC


@pytest.fixture
def contract(tmp_path: Path) -> Any:
    path = tmp_path / "sensor.yaml"
    path.write_text(CONTRACT)
    return load_contract(path)


def gate(contract: Any, tmp_path: Path, csv: str, preprocess: dict[str, Any], tz: str | None = None) -> GateOutcome:
    path = tmp_path / "in.csv"
    path.write_text(csv)
    raw = RawFile("raw/in.csv", path, "csv", count_records(path), source_timezone=tz)
    return run_gate(contract, [raw], ds=DS, workdir=tmp_path / "work", preprocess=preprocess)


def rows(outcome: GateOutcome, *cols: str) -> list[tuple[Any, ...]]:
    import duckdb

    names = ", ".join(f'"{c}"' for c in cols)
    return (
        duckdb.connect().sql(f"SELECT {names} FROM read_parquet('{outcome.staged_path}') ORDER BY {names}").fetchall()
    )


def quarantine(outcome: GateOutcome) -> list[tuple[Any, ...]]:
    import duckdb

    return (
        duckdb.connect()
        .sql(
            f"SELECT source_row, check_name, reason FROM read_parquet('{outcome.quarantine_path}') ORDER BY source_row"
        )
        .fetchall()
    )


def at(hour: int) -> dt.datetime:
    return dt.datetime(2026, 1, 2, hour, tzinfo=UTC)


def test_deduplicate_by_key_keeps_the_latest(contract: Any, tmp_path: Path) -> None:
    csv = (
        "id,at,value,site\n"
        "a,2026-01-02T01:00:00Z,1,x\n"
        "a,2026-01-02T03:00:00Z,3,x\n"
        "a,2026-01-02T02:00:00Z,2,x\n"
        "b,2026-01-02T01:00:00Z,5,y\n"
        "b,2026-01-02T01:00:00Z,6,y\n"  # a tie on keep_latest_by: the row read last wins
    )
    out = gate(contract, tmp_path, csv, {"deduplicate": {"key": ["id"], "keep_latest_by": "at"}})
    assert rows(out, "id", "at", "value") == [("a", at(3), 3.0), ("b", at(1), 6.0)]
    report = out.report
    assert (report["rows_in"], report["rows_passed"], report["rows_quarantined"], report["duplicates_removed"]) == (
        5,
        2,
        0,
        3,
    )


def test_deduplicate_ignores_quarantined_rows(contract: Any, tmp_path: Path) -> None:
    csv = "id,at,value,site\na,2026-01-02T01:00:00Z,1,x\na,2026-01-02T05:00:00Z,oops,x\n"
    out = gate(contract, tmp_path, csv, {"deduplicate": {"key": ["id"], "keep_latest_by": "at"}})
    # the later row cannot be read: it is quarantined, and the earlier one is the latest good row
    assert rows(out, "id", "value") == [("a", 1.0)]
    assert out.report["duplicates_removed"] == 0
    assert [q[:2] for q in quarantine(out)] == [(3, "type")]


def test_missing_drop_quarantines_with_the_reason_and_fill_puts_the_value_in(contract: Any, tmp_path: Path) -> None:
    csv = "id,at,value,site\na,2026-01-02T01:00:00Z,1,\nb,2026-01-02T01:00:00Z,,x\nc,2026-01-02T01:00:00Z, ,y\n"
    out = gate(contract, tmp_path, csv, {"missing": {"value": "drop", "site": {"fill": "unknown"}}})
    assert rows(out, "id", "value", "site") == [("a", 1.0, "unknown")]
    assert quarantine(out) == [
        (3, "missing", "row 3: column value: missing value dropped by policy"),
        (4, "missing", "row 4: column value: missing value dropped by policy"),
    ]
    assert (out.report["rows_in"], out.report["rows_passed"], out.report["rows_quarantined"]) == (3, 1, 2)


def test_missing_fill_is_typed_like_a_source_value(contract: Any, tmp_path: Path) -> None:
    csv = "id,at,value,site\na,2026-01-02T01:00:00Z,,x\nb,,2,x\n"
    out = gate(contract, tmp_path, csv, {"missing": {"value": {"fill": 0}, "at": {"fill": "2026-01-02T12:00:00Z"}}})
    assert rows(out, "id", "at", "value") == [("a", at(1), 0.0), ("b", at(12), 2.0)]


def test_missing_flag_keeps_the_row_and_sets_the_flag_column(contract: Any, tmp_path: Path) -> None:
    csv = "id,at,value,site\na,2026-01-02T01:00:00Z,1.5,x\nb,2026-01-02T01:00:00Z,,x\n"
    out = gate(contract, tmp_path, csv, {"missing": {"value": "flag"}})
    assert rows(out, "id", "value", "value_missing") == [("a", 1.5, False), ("b", None, True)]
    assert out.report["rows_quarantined"] == 0


def test_scale_uses_the_declared_bounds(contract: Any, tmp_path: Path) -> None:
    csv = "id,at,value,site\na,2026-01-02T01:00:00Z,50,x\nb,2026-01-02T01:00:00Z,250,x\nc,2026-01-02T01:00:00Z,,x\n"
    out = gate(contract, tmp_path, csv, {"scale": {"value": {"min": 0, "max": 200, "into": "value_scaled"}}})
    # declared, not data-dependent: the same value always scales the same; outliers stay visible
    assert rows(out, "id", "value", "value_scaled") == [("a", 50.0, 0.25), ("b", 250.0, 1.25), ("c", None, None)]


def test_source_timezone_turns_naive_local_times_into_utc(contract: Any, tmp_path: Path) -> None:
    csv = "id,at,value,site\na,2026-01-02 01:00:00,1,x\nb,2026-01-02T01:00:00Z,2,x\n"
    out = gate(contract, tmp_path, csv, {}, tz="America/Chicago")
    # naive: local time in the source's zone (UTC-6 in January); an explicit Z stays as it is
    assert rows(out, "id", "at") == [("a", at(7)), ("b", at(1))]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"deduplicate": {"key": []}}, r"^preprocess\.deduplicate\.key: a non-empty list"),
        ({"deduplicate": {"key": ["id"], "newest": "at"}}, r"^preprocess\.deduplicate: expected"),
        ({"missing": {"value": "zero"}}, r"^preprocess\.missing\.value: expected 'drop', 'flag' or \{fill: value\}"),
        ({"scale": {"value": {"min": 5, "max": 5, "into": "v"}}}, r"^preprocess\.scale\.value: min and max"),
        ({"scale": {"value": {"min": 0, "max": 5}}}, r"^preprocess\.scale\.value: expected"),
    ],
)
def test_invalid_steps_name_the_key(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_preprocess(config)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"deduplicate": {"key": ["nope"]}}, r"preprocess\.deduplicate\.key: column 'nope' is not in the contract"),
        ({"missing": {"site": "flag"}}, r"preprocess\.missing\.site: 'flag' sets the column 'site_missing'"),
        ({"missing": {"id": "flag"}}, r"preprocess\.missing\.id: 'flag' sets the column 'id_missing'"),
        (
            {"scale": {"value": {"min": 0, "max": 1, "into": "site"}}},
            r"preprocess\.scale\.value\.into: 'site' must be a double column",
        ),
    ],
)
def test_steps_naming_unknown_or_unfit_columns_fail_before_reading(
    contract: Any, tmp_path: Path, config: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        gate(contract, tmp_path, "id,at,value,site\na,2026-01-02T01:00:00Z,1,x\n", config)


# --------------------------------------------------------------------------------------- enrich

READINGS = """\
dataset: readings_x
version: 1
description: Readings enriched with the station's region.
owner: test
columns:
  station_id: {type: string, nullable: false}
  value: {type: double}
  region: {type: string, nullable: REGION_NULLABLE}
  elevation_m: {type: double}
"""


def curated_reference(root: Path, rows: list[tuple[str, str, float | None]], ds: str = DS) -> Any:
    """Stations as the partition step publishes them: hive-partitioned by region, region not in the files."""
    import duckdb

    from lockgate.transforms.preprocess import Reference

    out = root / "curated" / "stations"
    out.mkdir(parents=True, exist_ok=True)
    values = ", ".join(f"('{s}', '{r}', {'NULL' if e is None else e})" for s, r, e in rows)
    duckdb.connect().sql(
        f"COPY (SELECT * FROM (VALUES {values}) AS v(station_id, region, elevation_m)) TO '{out}/ds={ds}' "
        "(FORMAT parquet, PARTITION_BY (region))"
    )
    return Reference("stations", ds, tuple(sorted((out / f"ds={ds}").rglob("*.parquet"))))


def enrich_gate(tmp_path: Path, csv: str, step: dict[str, Any], reference: Any, nullable: bool = True) -> GateOutcome:
    contract_path = tmp_path / "readings_x.yaml"
    contract_path.write_text(READINGS.replace("REGION_NULLABLE", "true" if nullable else "false"))
    path = tmp_path / "in.csv"
    path.write_text(csv)
    raw = RawFile("raw/in.csv", path, "csv", count_records(path))
    return run_gate(
        load_contract(contract_path),
        [raw],
        ds=DS,
        workdir=tmp_path / "work",
        preprocess={"enrich": step},
        references={"stations": reference},
    )


STATIONS = [("ST-1", "north", 10.0), ("ST-2", "south", None), ("ST-3", "north", 30.5)]
READINGS_CSV = "station_id,value\nST-1,1\nST-2,2\nST-9,9\nST-3,3\n"


def test_enrich_adds_reference_columns_and_quarantines_unmatched_required_rows(tmp_path: Path) -> None:
    step = {"reference": "stations", "on": ["station_id"], "columns": ["region", "elevation_m"], "required": True}
    out = enrich_gate(tmp_path, READINGS_CSV, step, curated_reference(tmp_path, STATIONS), nullable=False)
    # region comes from the hive path of the reference's files, elevation_m from the files themselves
    assert rows(out, "station_id", "value", "region", "elevation_m") == [
        ("ST-1", 1.0, "north", 10.0),
        ("ST-2", 2.0, "south", None),
        ("ST-3", 3.0, "north", 30.5),
    ]
    assert quarantine(out) == [(4, "enrich", "row 4: no stations row for station_id=ST-9 (preprocess.enrich)")]
    report = out.report
    assert (report["rows_in"], report["rows_passed"], report["rows_quarantined"], report["duplicates_removed"]) == (
        4,
        3,
        1,
        0,
    )
    # the source never had region: that is not schema drift
    assert report["schema_drift"] == []


def test_enrich_optional_keeps_unmatched_rows_with_nulls(tmp_path: Path) -> None:
    step = {"reference": "stations", "on": {"station_id": "station_id"}, "columns": {"region": "region"}}
    step["required"] = False
    out = enrich_gate(tmp_path, READINGS_CSV, step, curated_reference(tmp_path, STATIONS))
    assert rows(out, "station_id", "region", "elevation_m") == [
        ("ST-1", "north", None),  # elevation_m is not enriched here and not in the source
        ("ST-2", "south", None),
        ("ST-3", "north", None),
        ("ST-9", None, None),
    ]
    assert out.report["rows_quarantined"] == 0


def test_enrich_fails_on_a_key_repeated_in_the_reference(tmp_path: Path) -> None:
    stations = [*STATIONS, ("ST-1", "south", 11.0)]  # ST-1 in two regions: a join would double its rows
    step = {"reference": "stations", "on": ["station_id"], "columns": ["region"], "required": True}
    with pytest.raises(
        ValueError,
        match=r"^preprocess\.enrich: reference stations \(curated ds=2026-01-02\): 1 key\(s\) occur more than once "
        r"on station_id, e\.g\. station_id=ST-1 \(2 rows\); a join would multiply rows",
    ):
        enrich_gate(tmp_path, READINGS_CSV, step, curated_reference(tmp_path, stations))


def test_enrich_from_a_published_date_without_rows_matches_nothing(tmp_path: Path) -> None:
    from lockgate.transforms.preprocess import Reference

    step = {"reference": "stations", "on": ["station_id"], "columns": ["region"], "required": True}
    out = enrich_gate(tmp_path, "station_id,value\nST-1,1\n", step, Reference("stations", DS, ()))
    assert quarantine(out) == [(2, "enrich", "row 2: no stations row for station_id=ST-1 (preprocess.enrich)")]


def test_enrich_optional_into_a_non_nullable_column_fails_before_reading(tmp_path: Path) -> None:
    step = {"reference": "stations", "on": ["station_id"], "columns": ["region"], "required": False}
    with pytest.raises(ValueError, match=r"^preprocess\.enrich\.columns\.region: 'region' must be nullable"):
        enrich_gate(tmp_path, READINGS_CSV, step, curated_reference(tmp_path, STATIONS), nullable=False)


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            {"reference": "stations", "on": ["station_id"], "columns": ["district"]},
            r"preprocess\.enrich\.columns\.district: column 'district' is not in the contract; declare it with the "
            r"type of stations\.district \(enrich from reference stations\)",
        ),
        (
            {"reference": "stations", "on": ["nope"], "columns": ["region"]},
            r"preprocess\.enrich\.on\.nope: column 'nope' is not in the contract",
        ),
        (
            {"reference": "stations", "on": ["station_id"], "columns": {"region": "area"}},
            r"preprocess\.enrich\.columns\.region: reference stations has no column 'area'",
        ),
        (
            {"reference": "registry", "on": ["station_id"], "columns": ["region"]},
            r"preprocess\.enrich: reference dataset 'registry' was not given to the gate",
        ),
    ],
)
def test_enrich_errors_name_the_step_the_column_and_the_reference(
    tmp_path: Path, step: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        enrich_gate(tmp_path, READINGS_CSV, step, curated_reference(tmp_path, STATIONS))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"enrich": {"reference": "stations", "on": []}}, r"^preprocess\.enrich: expected \{reference"),
        (
            {"enrich": {"reference": "stations", "on": [], "columns": ["region"]}},
            r"^preprocess\.enrich\.on: expected a non-empty list",
        ),
        (
            {"enrich": [{"reference": "s", "on": ["a"], "columns": ["b"], "required": "yes"}]},
            r"^preprocess\.enrich\.0\.required: true or false",
        ),
    ],
)
def test_invalid_enrich_steps_name_the_key(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_preprocess(config)
