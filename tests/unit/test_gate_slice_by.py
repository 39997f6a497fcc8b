"""``slice_by``: the quality gate takes one logical date's rows from a file covering many days.

The file is an EPA AirData-shaped export over three days (dates written ``1/3/11``, which the
contract's ``format`` makes a date). For each date the gate stages exactly that date's rows,
counts the others per file (never quarantining them, never as the date's input), and quarantines
the rows that cannot be placed on any date (no date, or one that does not parse) in every date
that reads the file, with the original file row. Accounting is exact for every date.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from lockgate.config import include_dir
from lockgate.contracts import load_contract, parse_contract
from lockgate.formats import count_records
from lockgate.gate import RawFile, run_gate

KEY = "raw/epa_pm25_daily/ds=x/run=r/airdata/daily_pm25_2011.csv"
HEADER = "date,site_id,poc,daily_mean_pm25,units,daily_obs_count,percent_complete\n"
#: (line in the file, date as written, site, poc, mean, units); line 1 is the header
ROWS = [
    (2, "1/3/11", "060370002", 1, 12.1, "ug/m3 LC"),
    (3, "1/3/11", "060658001", 1, 54.4, "ug/m3 LC"),
    (4, "1/4/11", "060370002", 1, 9.3, "ug/m3 LC"),
    (5, "1/4/11", "060658001", 1, 40.2, "ppm"),  # a bad unit: the problem of 2011-01-04 alone
    (6, "1/5/11", "060370002", 1, 20.0, "ug/m3 LC"),
    (7, "1/5/11", "060658001", 1, 22.5, "ug/m3 LC"),
    (8, "1/5/11", "060371103", 1, 35.9, "ug/m3 LC"),
    (9, "13/45/11", "060371103", 2, 30.0, "ug/m3 LC"),  # no such date: belongs to no date
    (10, "", "060371103", 3, 31.0, "ug/m3 LC"),  # no date at all
]
DAYS = {"2011-01-03": "1/3/11", "2011-01-04": "1/4/11", "2011-01-05": "1/5/11"}
UNPLACED = [9, 10]


SENSOR = """\
dataset: sensor
version: 1
description: A test feed with a timestamp.
owner: test
columns:
  id: {type: string, nullable: false}
  at: {type: timestamp, nullable: false}
  value: {type: double}
  site: {type: string}
primary_key: [id]
"""


def epa_contract() -> Any:
    return load_contract(include_dir() / "contracts" / "epa_pm25_daily.yaml")


def write_file(path: Path) -> Path:
    lines = [f"{d},{site},{poc},{mean},{units},1,100.0\n" for _, d, site, poc, mean, units in ROWS]
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return path


def raw(path: Path, key: str = KEY, **kwargs: Any) -> RawFile:
    return RawFile(key=key, local_path=path, format="csv", rows=count_records(path, fmt="csv"), **kwargs)


def staged(outcome: Any) -> list[tuple[str, str, int, float]]:
    import pyarrow.parquet as pq

    rows = pq.read_table(outcome.staged_path).to_pylist()
    return sorted((str(r["date"]), r["site_id"], r["poc"], r["daily_mean_pm25"]) for r in rows)


def quarantined(outcome: Any) -> list[tuple[str, int, str, str, str]]:
    import pyarrow.parquet as pq

    rows = pq.read_table(outcome.quarantine_path).to_pylist()
    return [(r["source_file"], r["source_row"], r["column_name"], r["check_name"], r["reason"]) for r in rows]


@pytest.mark.parametrize("ds", list(DAYS))
def test_each_date_takes_only_its_rows_and_counts_the_others(tmp_path: Path, ds: str) -> None:
    path = write_file(tmp_path / "daily_pm25_2011.csv")
    outcome = run_gate(epa_contract(), [raw(path, slice_by="date")], ds=ds, workdir=tmp_path / "gate")
    report = outcome.report

    mine = [r for r in ROWS if r[1] == DAYS[ds]]
    good = [r for r in mine if r[5] == "ug/m3 LC"]
    assert staged(outcome) == sorted((ds, site, poc, mean) for _, _, site, poc, mean, _ in good)

    # quarantined: this date's bad rows, and the two rows no date can hold, at their file lines
    bad_lines = sorted([r[0] for r in mine if r[5] != "ug/m3 LC"] + UNPLACED)
    assert sorted(q[1] for q in quarantined(outcome)) == bad_lines
    assert {q[0] for q in quarantined(outcome)} == {KEY}

    # the date's input: its rows and the unplaceable ones; the other dates' rows only counted
    outside = len(ROWS) - len(mine) - len(UNPLACED)
    assert report["rows_read"] == len(ROWS)
    assert report["rows_outside_window"] == outside
    assert report["files"] == [{"key": KEY, "rows": len(ROWS), "slice_by": "date", "outside_window": outside}]
    assert report["rows_in"] == len(mine) + len(UNPLACED)
    assert report["rows_in"] == report["rows_passed"] + report["rows_quarantined"] + report["duplicates_removed"]
    assert report["rows_read"] == report["rows_in"] + report["rows_outside_window"]
    # the other dates' rows are no part of this date's metrics either
    assert report["column_metrics"]["site_id"]["count"] == len(mine) + len(UNPLACED)


def test_a_row_no_date_can_hold_is_quarantined_with_file_row_column_and_value(tmp_path: Path) -> None:
    path = write_file(tmp_path / "daily_pm25_2011.csv")
    outcome = run_gate(epa_contract(), [raw(path, slice_by="date")], ds="2011-01-03", workdir=tmp_path / "gate")
    by_line = {q[1]: q for q in quarantined(outcome)}
    unparseable, missing = by_line[9], by_line[10]
    assert unparseable[2] == "date"
    assert unparseable[4].startswith("row 9: ")
    assert "cannot read 13/45/11 as date" in unparseable[4]
    assert "no value to slice the file by" in unparseable[4]
    assert missing[2] == "date"
    assert missing[4].startswith("row 10: ")
    assert "no value to slice the file by" in missing[4]
    # both are counted under the typing checks that found them first
    assert outcome.report["quarantine_by_column"] == {"date": 2}


def test_a_rerun_of_a_date_gives_the_same_files(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    path = write_file(tmp_path / "daily_pm25_2011.csv")
    runs = [
        run_gate(epa_contract(), [raw(path, slice_by="date")], ds="2011-01-05", workdir=tmp_path / f"gate{i}")
        for i in range(2)
    ]
    for part in ("staged_path", "quarantine_path"):
        first, second = (pq.read_table(getattr(r, part)) for r in runs)
        assert first.equals(second)
    assert runs[0].report == runs[1].report


def test_only_the_sliced_file_is_sliced(tmp_path: Path) -> None:
    """A dataset fed by a multi-day file and a daily file: the daily file's rows are all the date's."""
    annual = write_file(tmp_path / "daily_pm25_2011.csv")
    daily = tmp_path / "daily_pm25_2011-01-03.csv"
    daily.write_text(HEADER + "1/4/11,060371103,5,7.7,ug/m3 LC,1,100.0\n", encoding="utf-8")
    files = [raw(annual, slice_by="date"), raw(daily, key="raw/epa_pm25_daily/ds=x/run=r/daily/d.csv")]
    outcome = run_gate(epa_contract(), files, ds="2011-01-03", workdir=tmp_path / "gate")
    # the contract has no event-time rule: the daily file's row is taken as the date's
    assert ("2011-01-04", "060371103", 5, 7.7) in staged(outcome)
    assert outcome.report["files"][1] == {"key": "raw/epa_pm25_daily/ds=x/run=r/daily/d.csv", "rows": 1}
    assert outcome.report["rows_outside_window"] == 5


def test_a_timestamp_falls_on_its_utc_date(tmp_path: Path) -> None:
    import yaml

    contract = parse_contract(yaml.safe_load(SENSOR), source="sensor.yaml")
    path = tmp_path / "sensor.csv"
    # naive times in Chicago (UTC-6): 20:00 on the 2nd is 02:00 UTC on the 3rd
    path.write_text("id,at,value,site\na,2026-01-02 10:00:00,1,x\nb,2026-01-02 20:00:00,2,x\nc,,3,x\n")
    outcome = run_gate(
        contract, [raw(path, slice_by="at", source_timezone="America/Chicago")], ds="2026-01-03", workdir=tmp_path / "g"
    )
    import pyarrow.parquet as pq

    rows = pq.read_table(outcome.staged_path).to_pylist()
    assert [(r["id"], r["at"]) for r in rows] == [("b", datetime.datetime(2026, 1, 3, 2, tzinfo=datetime.UTC))]
    assert [q[1] for q in quarantined(outcome)] == [4]
    assert outcome.report["rows_outside_window"] == 1


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ("day", "slice_by column 'day' is not in contract epa_pm25_daily"),
        ("site_id", "slice_by column 'site_id' is string in contract epa_pm25_daily: a date or timestamp"),
    ],
)
def test_a_slice_column_must_be_a_date_of_the_contract(tmp_path: Path, column: str, message: str) -> None:
    path = write_file(tmp_path / "daily_pm25_2011.csv")
    with pytest.raises(ValueError, match=message):
        run_gate(epa_contract(), [raw(path, slice_by=column)], ds="2011-01-03", workdir=tmp_path / "gate")


def test_slice_by_travels_from_the_ingest_to_the_gate_in_the_manifest() -> None:
    """One way to declare it: on the file source (``IngestOperator(slice_by=...)``, YAML
    ``sources.files[].slice_by``); the source records it in the raw manifest, which the gate reads,
    as it reads the reading settings. Event runs' objects carry it too."""
    from lockgate.operators.ingest import IngestOperator
    from lockgate.sources.files import FileSource, ObjectsSource

    ingest = IngestOperator(task_id="i", dataset="epa_pm25_daily", source="/in/*.csv", slice_by="date")
    assert ingest.resolved_source().manifest_extra() == {"slice_by": "date"}
    assert ObjectsSource([], slice_by="date").manifest_extra() == {"slice_by": "date"}
    assert FileSource("/in/*.csv").manifest_extra() == {}
