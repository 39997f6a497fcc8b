"""air_quality_daily end to end through Airflow's own ``dag.test()``.

Two consecutive dates and a rerun of the first, on the embedded DuckDB warehouse and on a real
PostgreSQL server: warehouse rows equal rows ingested minus quarantined minus duplicates (taken
from the sample generator's own bookkeeping), and the rerun changes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from lockgate.cli import run_dag
from lockgate.hooks.lake import LakeHook
from lockgate.hooks.warehouse import WarehouseHook
from lockgate.sample_data import generate
from tests.support.http_recorder import RecordingHTTPServer
from tests.support.openlineage import validate_event
from tests.support.pg import airflow_conn_env

pytestmark = pytest.mark.integration

DAG_ID = "air_quality_daily"
DAY_1, DAY_2 = "2026-01-02", "2026-01-03"
TABLES = ("dim_station", "fact_air_quality_hourly", "agg_air_quality_daily")
#: fingerprint() of each table after DAY_1 and DAY_2 on DuckDB, run before the daily AQI became a SQL
#: model (with DailyAqiOperator's Python AQI, commit dced03d)
BEFORE_SQL_MODEL = {
    "dim_station": (50, "41c443756162bc3823d2518827333ac84433e379ba20365bbcbc982158575297"),
    "fact_air_quality_hourly": (14225, "9965d533e806d2728826fd64ed0e3ac2c03a03acb1f9f7c99b4a701a01e288e0"),
    "agg_air_quality_daily": (100, "c2cd52a59516f8f84b1a42ec1fa4685dd39cecaf85d607ecbf7d1409592460cb"),
}


def expected_counts(ds: str, tmp: Path) -> dict[str, int]:
    """What the gate must find in the generated sample, from the generator's own counts."""
    batch = generate(ds, tmp / f"expected-{ds}")
    sources = (batch.gateway, batch.partner)
    return {
        "rows_in": sum(s.rows for s in sources),
        "rows_quarantined": sum(s.malformed + s.missing_values + s.out_of_range + s.non_numeric for s in sources),
        "duplicates_removed": sum(s.duplicates for s in sources),
        "rows_loaded": sum(s.clean_rows for s in sources),
        "stations": batch.station_count,
    }


def fingerprint(warehouse: WarehouseHook, table: str, ds: str | None = None) -> tuple[int, str]:
    """Row count and a content hash of a table (optionally one logical date), dialect independent."""
    where, params = ("WHERE ds = $1", [ds_date(ds)]) if ds else ("", [])
    rows = warehouse.query(f"SELECT * FROM {warehouse.table(table)} {where}", params)
    digest = hashlib.sha256("\n".join(sorted(repr(tuple(str(v) for v in r)) for r in rows)).encode()).hexdigest()
    return len(rows), digest


def ds_date(ds: str) -> Any:
    from datetime import date

    return date.fromisoformat(ds)


def summary(ds: str) -> dict[str, Any]:
    return LakeHook().read_json(f"reports/{DAG_ID}/ds={ds}/summary.json")


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request: pytest.FixtureRequest, lockgate_home: Path, monkeypatch: pytest.MonkeyPatch) -> WarehouseHook:
    if request.param == "postgres":
        dsn = request.getfixturevalue("pg_dsn")
        monkeypatch.setenv(*airflow_conn_env("lockgate_warehouse", dsn))
    hook = WarehouseHook()
    assert hook.dialect == request.param
    return hook


def test_two_days_and_a_rerun(
    warehouse: WarehouseHook, airflow_home: Path, lineage_file: Path, tmp_path: Path, lockgate_home: Path
) -> None:
    assert run_dag(DAG_ID, DAY_1) == "success"
    assert run_dag(DAG_ID, DAY_2) == "success"
    before = {t: fingerprint(warehouse, t) for t in TABLES}
    if warehouse.dialect == "duckdb":
        # the daily AQI became a SQL model (issue 17): the warehouse holds exactly what it held with
        # the Python operator for these dates (row count, content hash taken before the change)
        assert before == BEFORE_SQL_MODEL
    day_2_before = {t: fingerprint(warehouse, t, DAY_2) for t in TABLES if t != "dim_station"}

    for ds in (DAY_1, DAY_2):
        expected = expected_counts(ds, tmp_path)
        readings = next(d for d in summary(ds)["datasets"] if d["dataset"] == "readings")
        assert {k: readings[k] for k in ("rows_in", "rows_quarantined", "duplicates_removed", "rows_loaded")} == {
            k: expected[k] for k in ("rows_in", "rows_quarantined", "duplicates_removed", "rows_loaded")
        }
        assert (
            readings["rows_in"]
            == readings["rows_loaded"] + readings["rows_quarantined"] + readings["duplicates_removed"]
        )
        assert fingerprint(warehouse, "fact_air_quality_hourly", ds)[0] == expected["rows_loaded"]
        assert fingerprint(warehouse, "agg_air_quality_daily", ds)[0] == expected["stations"]
    assert fingerprint(warehouse, "dim_station")[0] == 50

    # the rerun of day 1 changes nothing anywhere: same rows, same content, day 2 untouched
    assert run_dag(DAG_ID, DAY_1) == "success"
    assert {t: fingerprint(warehouse, t) for t in TABLES} == before
    assert {t: fingerprint(warehouse, t, DAY_2) for t in TABLES if t != "dim_station"} == day_2_before
    audit = warehouse.query(
        f"SELECT table_name, count(*) FROM {warehouse.table('lockgate_load_audit')} GROUP BY table_name ORDER BY 1"
    )
    assert [(t, int(n)) for t, n in audit] == [
        ("agg_air_quality_daily", 2),
        ("dim_station", 2),
        ("fact_air_quality_hourly", 2),
    ]

    # the smoke event of day 1 (ST-019, PM2.5 500-700 ug/m3) is the worst AQI of the day
    top = summary(DAY_1)["top_aqi"][0]
    assert (top["station_id"], top["dominant_pollutant"], top["category"]) == ("ST-019", "pm25", "Very Unhealthy")
    assert top["aqi"] > 200

    # the stations Unhealthy or worse went to the notification API once (embedded default: the outbox),
    # the rerun sent nothing again
    unhealthy = warehouse.query(
        f"SELECT station_id FROM {warehouse.table('agg_air_quality_daily')} WHERE ds = $1 "
        "AND category IN ('Unhealthy', 'Very Unhealthy', 'Hazardous') ORDER BY station_id",
        [ds_date(DAY_1)],
    )
    outbox = sorted((lockgate_home / "outbox" / "pollutrack_notify").rglob(f"*-{DAY_1}-batch-*.json"))
    sent = [row["station_id"] for path in outbox for row in json.loads(path.read_text())["body"]["rows"]]
    assert sent == [station for (station,) in unhealthy]
    assert "ST-019" in sent
    acknowledged = warehouse.query(
        f"SELECT DISTINCT run_id FROM {warehouse.table('lockgate_delivery_audit')} "
        "WHERE partition_ds = $1 AND status = 'acknowledged'",
        [ds_date(DAY_1)],
    )
    assert len(acknowledged) == 1
    (notified,) = summary(DAY_1)["deliveries"]
    assert (notified["target"], notified["rows"]) == ("notify_unhealthy_stations", len(sent))

    if warehouse.dialect == "duckdb":
        _assert_lineage(lineage_file)


def _assert_lineage(lineage_file: Path) -> None:
    """Every event validates against the OpenLineage 2-0-2 schema; operators name real datasets."""
    events = [json.loads(line) for line in lineage_file.read_text().splitlines() if line.strip()]
    assert events, "no OpenLineage events were written"
    for event in events:
        assert validate_event(event) == [], event["job"]["name"]
    completes = {e["job"]["name"]: e for e in events if e.get("eventType") == "COMPLETE"}
    load = completes[f"{DAG_ID}.load_fact_air_quality_hourly"]
    (output,) = load["outputs"]
    assert output["namespace"].startswith("duckdb://")
    assert output["name"].endswith(".main.fact_air_quality_hourly")
    assert [f["name"] for f in output["facets"]["schema"]["fields"]] == [
        "station_id",
        "region",
        "observed_at",
        "pollutant",
        "value",
        "unit",
        "ds",
    ]
    assert output["outputFacets"]["outputStatistics"]["rowCount"] > 7000
    gate = completes[f"{DAG_ID}.gate_readings"]
    assert [i["name"].rsplit("/", 2)[-2:] for i in gate["inputs"]] == [["raw", "readings"]]
    # the gate's assertions and metrics ride on its input dataset
    quality = gate["inputs"][0]["inputFacets"]
    assertions = {a["name"]: a for a in quality["dataQualityAssertions"]["assertions"]}
    assert assertions["expect_column_max_to_be_between(value)"]["success"] is False  # the smoke event
    assert assertions["expect_compound_columns_to_be_unique(station_id,observed_at,pollutant)"]["success"] is True
    # derived columns say where they come from; partition steps say which partitions they wrote
    daily = completes[f"{DAG_ID}.compute_daily_aqi"]["outputs"][0]["facets"]["columnLineage"]["fields"]
    # derived from the model's SQL: the AQI is computed from the readings' values, by pollutant
    assert {f["field"] for f in daily["aqi"]["inputFields"]} == {"value", "pollutant"}
    assert {f["field"] for f in daily["hours_observed"]["inputFields"]} == {"observed_at"}
    assert {f["name"].rsplit("/", 2)[-2:] == ["curated", "readings"] for f in daily["aqi"]["inputFields"]} == {True}
    assert daily["station_id"]["inputFields"][0]["transformations"][0]["subtype"] == "IDENTITY"
    written = completes[f"{DAG_ID}.partition_readings"]["outputs"][0]["outputFacets"]["subset"]
    assert {p["identifier"] for p in written["outputCondition"]["partitions"]} == {
        f"ds={DAY_1}/region={region}" for region in ("central", "east", "north", "south", "west")
    }
    loaded = completes[f"{DAG_ID}.load_fact_air_quality_hourly"]["outputs"][0]["outputFacets"]["subset"]
    assert loaded["outputCondition"]["partitions"] == [{"identifier": f"ds={DAY_1}", "dimensions": {"ds": DAY_1}}]
    summarize = completes[f"{DAG_ID}.summarize"]
    assert summarize["outputs"][0]["name"].endswith(f"reports/{DAG_ID}")
    assert {i["name"].rsplit(".", 1)[-1] for i in summarize["inputs"] if i["namespace"].startswith("duckdb")} == {
        "lockgate_load_audit",
        "agg_air_quality_daily",
    }
    metrics = quality["dataQualityMetrics"]
    assert metrics["rowCount"] == 7152
    assert metrics["columnMetrics"]["value"]["max"] > 500
    assert sorted(o["name"].rsplit("/", 2)[-2] for o in gate["outputs"]) == ["quarantine", "staged"]


def test_alerts_reach_the_webhook(
    lockgate_home: Path, airflow_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A data-quality warning and a task failure each reach the webhook notifier as a POST."""
    with RecordingHTTPServer() as receiver:
        monkeypatch.setenv(
            "AIRFLOW_CONN_LOCKGATE_ALERTS",
            json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": receiver.port, "schema": "http"}),
        )
        # day 1 has a smoke event: PM2.5 up to ~700 ug/m3 trips the warn-level max check
        assert run_dag(DAG_ID, DAY_1) == "success"
        warnings = [r.json() for r in receiver.requests if r.json()["event"] == "dq_warning"]
        assert len(warnings) == 1
        assert "expect_column_max_to_be_between(value)" in warnings[0]["message"]
        assert warnings[0]["details"]["observed_value"] > 500
        assert warnings[0]["task_id"] == "gate_readings"

        # a partner file without its unit column: the gate fails the run, the failure is alerted
        sources = tmp_path / "broken-sources"
        generate(DAY_2, sources)
        partner = sources / "partner" / f"readings_{DAY_2}.csv"
        with partner.open(newline="") as fh:
            rows = [row[:-1] for row in csv.reader(fh)]  # drop the last column: unit
        with partner.open("w", newline="") as fh:
            csv.writer(fh).writerows(rows)
        monkeypatch.setenv("AIRFLOW_VAR_POLLUTRACK_SOURCE_URL", str(sources))
        receiver.requests.clear()
        assert run_dag(DAG_ID, DAY_2) == "failed"
        failures = [r.json() for r in receiver.requests if r.json()["event"] == "task_failure"]
        assert [f["task_id"] for f in failures] == ["gate_readings"]
        report = LakeHook().list(f"quality/readings/ds={DAY_2}")
        assert report == []  # the gate failed before it could read the data: nothing published

    # nothing for day 2 reached the warehouse
    warehouse = WarehouseHook()
    assert fingerprint(warehouse, "fact_air_quality_hourly", DAY_2)[0] == 0
