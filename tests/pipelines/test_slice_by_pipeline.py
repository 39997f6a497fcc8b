"""``slice_by`` in a YAML pipeline: one EPA AirData-shaped file covering three days, run per date.

The spec declares the file source with ``slice_by: date`` (the contract's ``format`` makes ``1/3/11``
a date). Each logical date loads only its rows, the quality report counts the file's rows of other
dates (``files[].outside_window``), the run summary balances, the rows no date can hold are
quarantined by every date with their file row, and a rerun changes nothing. Spec validation names
the file, line and field of a ``slice_by`` that is not a date column of the contract.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pytest

from lockgate.cli import run_dag
from lockgate.hooks.lake import LakeHook
from lockgate.hooks.warehouse import WarehouseHook
from lockgate.layout import zone_prefix
from lockgate.pipelines.spec import PipelineSpecError, load_spec
from tests.support.dags import use_dags_folder, write_yaml_pipeline

DAG_ID = "epa_annual_sliced"
TABLE = "fact_epa_pm25_daily"
SPEC = """\
dag_id: {dag_id}
description: |
  ### {dag_id} - an annual AirData file sliced into daily partitions
owners: [test-team]
schedule: "@daily"
start_date: 2011-01-01
catchup: false
retries: 2
alerts: {{default: ["webhook:lockgate_test_alerts"]}}
sources:
  location: {{url: "{src}"}}
  files:
    - id: annual
      dataset: epa_pm25_daily
      path: "airdata/daily_pm25_2011.csv"
      format: csv
      slice_by: {slice_by}
datasets:
  epa_pm25_daily: {{}}
loads:
  - dataset: epa_pm25_daily
    table: {table}
"""
FILE = """\
date,site_id,poc,daily_mean_pm25,units,daily_obs_count,percent_complete
1/3/11,060370002,1,12.1,ug/m3 LC,1,100.0
1/3/11,060658001,1,54.4,ug/m3 LC,1,100.0
1/4/11,060370002,1,9.3,ug/m3 LC,1,100.0
1/5/11,060370002,1,20.0,ug/m3 LC,1,100.0
1/5/11,060658001,1,22.5,ug/m3 LC,1,100.0
1/5/11,060371103,1,35.9,ug/m3 LC,1,100.0
1/35/11,060371103,2,30.0,ug/m3 LC,1,100.0
"""
#: date -> the (site, poc, mean) rows of that date in FILE
EXPECTED = {
    "2011-01-03": [("060370002", 1, 12.1), ("060658001", 1, 54.4)],
    "2011-01-04": [("060370002", 1, 9.3)],
    "2011-01-05": [("060370002", 1, 20.0), ("060371103", 1, 35.9), ("060658001", 1, 22.5)],
}
ROWS = 7
BAD_LINE = 8  # 1/35/11: line 8 of the file (the header is line 1)


def write_pipeline(tmp_path: Path, slice_by: str) -> tuple[Path, Path]:
    dags, src = tmp_path / "dags", tmp_path / "src"
    (src / "airdata").mkdir(parents=True)
    (src / "airdata" / "daily_pm25_2011.csv").write_text(FILE, encoding="utf-8")
    spec = write_yaml_pipeline(dags, DAG_ID, SPEC.format(dag_id=DAG_ID, src=src, slice_by=slice_by, table=TABLE))
    return dags, spec


def fingerprint(warehouse: WarehouseHook) -> str:
    rows = warehouse.query(f"SELECT * FROM {warehouse.table(TABLE)}")
    return hashlib.sha256("\n".join(sorted(repr(tuple(str(v) for v in r)) for r in rows)).encode()).hexdigest()


@pytest.mark.integration
def test_each_date_loads_only_its_rows_and_a_rerun_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lockgate_home: Path, airflow_home: Path
) -> None:
    dags, _ = write_pipeline(tmp_path, "date")
    use_dags_folder(dags, monkeypatch)
    lake, warehouse = LakeHook(), WarehouseHook()
    for ds, expected in EXPECTED.items():
        assert run_dag(DAG_ID, ds, folder=dags) == "success", ds
        loaded = warehouse.query(
            f"SELECT date, site_id, poc, daily_mean_pm25 FROM {warehouse.table(TABLE)} WHERE ds = $1 "
            "ORDER BY site_id, poc",
            [date.fromisoformat(ds)],
        )
        assert [(str(r[0]), r[1], int(r[2]), float(r[3])) for r in loaded] == [(ds, *row) for row in expected]

        report = lake.read_json(f"{zone_prefix('quality', 'epa_pm25_daily', ds)}/report.json")
        outside = ROWS - len(expected) - 1
        (entry,) = report["files"]
        assert (entry["rows"], entry["slice_by"], entry["outside_window"]) == (ROWS, "date", outside)
        assert (report["rows_read"], report["rows_outside_window"]) == (ROWS, outside)
        # the date's input is its rows and the one row no date can hold (quarantined by every date)
        assert (report["rows_in"], report["rows_passed"], report["rows_quarantined"]) == (
            len(expected) + 1,
            len(expected),
            1,
        )
        assert report["quarantine_by_column"] == {"date": 1}
        (reason,) = [r for shown in report["quarantine_examples"].values() for r in shown]
        assert f"row {BAD_LINE}: " in reason
        assert "cannot read 1/35/11 as date" in reason

        summary = lake.read_json(f"{zone_prefix('reports', DAG_ID, ds)}/summary.json")
        (dataset,) = summary["datasets"]
        balance = (dataset["rows_in"], dataset["rows_loaded"], dataset["balanced"])
        assert balance == (len(expected) + 1, len(expected), True)

    total = warehouse.query(f"SELECT count(*) FROM {warehouse.table(TABLE)}")[0][0]
    assert total == sum(len(rows) for rows in EXPECTED.values())
    before = fingerprint(warehouse)
    assert run_dag(DAG_ID, "2011-01-04", folder=dags) == "success"
    assert fingerprint(warehouse) == before


@pytest.mark.parametrize(
    ("slice_by", "problem"),
    [
        ("day", "column 'day' is not in contract epa_pm25_daily"),
        ("site_id", "column 'site_id' is string in contract epa_pm25_daily: slice_by needs a date or timestamp"),
    ],
)
def test_spec_validation_names_file_line_and_field(tmp_path: Path, slice_by: str, problem: str) -> None:
    _, spec = write_pipeline(tmp_path, slice_by)
    with pytest.raises(PipelineSpecError) as caught:
        load_spec(spec)
    (line,) = caught.value.lines()
    assert line.startswith(f"{spec}:17: sources.files.0.slice_by: {problem}"), line


def test_the_spec_keeps_slice_by(tmp_path: Path) -> None:
    _, spec = write_pipeline(tmp_path, "date")
    (source,) = load_spec(spec).files
    assert source.slice_by == "date"
