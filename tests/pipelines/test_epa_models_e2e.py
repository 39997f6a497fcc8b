"""epa_pm25_aqi end to end through ``dag.test()``: a YAML pipeline with two SQL models.

``epa_site_daily_aqi`` indexes each site's PM2.5 with the breakpoints in force on the day (2011:
the 1999 table), ``epa_county_daily_aqi`` joins it with the site registry. On DuckDB and on a real
PostgreSQL warehouse: every row accounted for, the AQI equal to the Python reference, a rerun
changes nothing, and the models' column lineage (derived from their SQL) validates against the
OpenLineage spec and names, column by column, where each output column comes from.
"""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from lockgate.cli import run_dag
from lockgate.config import include_dir
from lockgate.hooks.lake import LakeHook
from lockgate.hooks.warehouse import WarehouseHook
from lockgate.transforms.aqi import category, sub_index
from tests.support.openlineage import validate_event
from tests.support.pg import airflow_conn_env

pytestmark = pytest.mark.integration

DAG_ID = "epa_pm25_aqi"
DS = "2011-01-03"
TABLES = ("fact_epa_pm25_daily", "dim_epa_site", "agg_epa_site_daily_aqi", "agg_epa_county_daily_aqi")
SAMPLE = include_dir() / "samples" / "epa_pm25_aqi" / "airdata"


def sample_rows(name: str) -> list[dict[str, str]]:
    with open(SAMPLE / name, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def fingerprint(warehouse: WarehouseHook, table: str) -> tuple[int, str]:
    rows = warehouse.query(f"SELECT * FROM {warehouse.table(table)}")
    digest = hashlib.sha256("\n".join(sorted(repr(tuple(str(v) for v in r)) for r in rows)).encode()).hexdigest()
    return len(rows), digest


def expected_site_aqi() -> dict[str, tuple[float, int, str]]:
    """site -> (highest POC's mean, AQI, category) from the sample file and the Python AQI."""
    best: dict[str, float] = {}
    for row in sample_rows(f"daily_pm25_{DS}.csv"):
        best[row["site_id"]] = max(best.get(row["site_id"], 0.0), float(row["daily_mean_pm25"]))
    out = {}
    for site, value in best.items():
        aqi = sub_index("pm25", value, on=DS)
        assert aqi is not None
        out[site] = (value, aqi, category(aqi))
    return out


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request: pytest.FixtureRequest, lockgate_home: Path, monkeypatch: pytest.MonkeyPatch) -> WarehouseHook:
    if request.param == "postgres":
        monkeypatch.setenv(*airflow_conn_env("lockgate_warehouse", request.getfixturevalue("pg_dsn")))
    hook = WarehouseHook()
    assert hook.dialect == request.param
    return hook


def test_two_models_end_to_end_and_a_rerun(warehouse: WarehouseHook, airflow_home: Path, lineage_file: Path) -> None:
    assert run_dag(DAG_ID, DS) == "success"
    before = {t: fingerprint(warehouse, t) for t in TABLES}

    # every input row accounted for: the sample's rows in, all of them loaded (none bad in it)
    readings = sample_rows(f"daily_pm25_{DS}.csv")
    report = LakeHook().read_json(f"quality/epa_pm25_daily/ds={DS}/report.json")
    assert (report["rows_in"], report["rows_quarantined"], report["rows_passed"]) == (len(readings), 0, len(readings))
    assert before["fact_epa_pm25_daily"][0] == len(readings)

    # the site model: the 1999 table in force on 2011-01-03, equal to the Python reference
    expected = expected_site_aqi()
    sites = warehouse.query(
        f"SELECT site_id, date, daily_mean_pm25, aqi, category, breakpoint_revision "
        f"FROM {warehouse.table('agg_epa_site_daily_aqi')} WHERE ds = $1 ORDER BY site_id",
        [date.fromisoformat(DS)],
    )
    assert {r[0]: (float(r[2]), int(r[3]), r[4]) for r in sites} == expected
    assert {(str(r[1]), r[5]) for r in sites} == {(DS, "1999")}
    assert expected["060658001"][1] == 128  # 54.4 ug/m3: the EPA guideline's worked example
    model_report = LakeHook().read_json(f"quality/epa_site_daily_aqi/ds={DS}/report.json")
    assert (model_report["rows_in"], model_report["rows_passed"]) == (len(expected), len(expected))

    # the joining model: worst site per county
    registry = {r["site_id"]: (r["state"], r["county"]) for r in sample_rows("sites.csv")}
    counties: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for site, (_, aqi, _) in expected.items():
        counties.setdefault(registry[site], []).append((aqi, site))
    got = warehouse.query(
        f"SELECT state, county, aqi, category, worst_site_id, sites FROM {warehouse.table('agg_epa_county_daily_aqi')}"
    )
    assert {(r[0], r[1]): (int(r[2]), r[3], r[4], int(r[5])) for r in got} == {
        key: (max(v)[0], category(max(v)[0]), max(v)[1], len(v)) for key, v in counties.items()
    }

    if warehouse.dialect == "duckdb":
        assert_model_lineage(lineage_file)

    # a rerun of the date changes nothing
    assert run_dag(DAG_ID, DS) == "success"
    assert {t: fingerprint(warehouse, t) for t in TABLES} == before


def assert_model_lineage(lineage_file: Path) -> None:
    """The models' events validate against the OpenLineage spec; column lineage as the SQL says."""
    events = [json.loads(line) for line in lineage_file.read_text().splitlines() if line.strip()]
    completes = {e["job"]["name"]: e for e in events if e.get("eventType") == "COMPLETE"}
    for name in ("model_epa_site_daily_aqi", "model_epa_county_daily_aqi"):
        assert validate_event(completes[f"{DAG_ID}.{name}"]) == []

    def fields(task: str) -> dict[str, set[tuple[str, str]]]:
        (output,) = completes[f"{DAG_ID}.{task}"]["outputs"]
        lineage: dict[str, Any] = output["facets"]["columnLineage"]["fields"]
        return {
            column: {(f["name"].rsplit("/", 1)[-1], f["field"]) for f in entry["inputFields"]}
            for column, entry in lineage.items()
        }

    daily = "epa_pm25_daily"
    assert fields("model_epa_site_daily_aqi") == {
        "site_id": {(daily, "site_id")},
        "date": {(daily, "date")},
        "daily_mean_pm25": {(daily, "daily_mean_pm25")},
        "aqi": {(daily, "daily_mean_pm25"), (daily, "date")},
        "category": {(daily, "daily_mean_pm25"), (daily, "date")},
        "breakpoint_revision": {(daily, "date")},
    }
    site = "epa_site_daily_aqi"
    assert fields("model_epa_county_daily_aqi") == {
        "state": {("epa_sites", "state")},
        "county": {("epa_sites", "county")},
        "aqi": {(site, "aqi")},
        "category": {(site, "aqi")},
        "worst_site_id": {(site, "site_id"), (site, "aqi")},
        # count(*) reads no column: no lineage entry for `sites`
    }
    (output,) = completes[f"{DAG_ID}.model_epa_county_daily_aqi"]["outputs"]
    lineage = output["facets"]["columnLineage"]["fields"]
    subtypes = {c: {f["transformations"][0]["subtype"] for f in e["inputFields"]} for c, e in lineage.items()}
    # a column passed through unchanged is an identity; one computed by an aggregate an aggregation
    assert subtypes == {
        "state": {"IDENTITY"},
        "county": {"IDENTITY"},
        "aqi": {"AGGREGATION"},
        "category": {"AGGREGATION"},
        "worst_site_id": {"AGGREGATION"},
    }
