"""Every Lockgate operator's execute() on the embedded defaults: a local lake under $LOCKGATE_HOME
and the DuckDB warehouse file next to it.

The whole air_quality_daily chain runs twice for one date (a rerun has a new run id); the tests
then check the data each step left behind against what the sample generator says it wrote.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from lockgate.contracts import load_contract
from lockgate.hooks.iceberg import CatalogHook
from lockgate.hooks.lake import LakeHook
from lockgate.hooks.warehouse import WarehouseHook
from lockgate.operators.aqi import DailyAqiOperator
from lockgate.operators.ingest import IngestOperator
from lockgate.operators.load import AUDIT_TABLE, WarehouseLoadOperator
from lockgate.operators.partition import PartitionOperator
from lockgate.operators.quality import QualityGateOperator
from lockgate.sample_data import REGIONS, SampleBatch, generate
from tests.support.pipeline import (
    CHAIN,
    DAG_ID,
    SENSORS,
    TABLES,
    ChainRun,
    air_quality_dag,
    content_checksum_sql,
    context,
    run_chain,
)

DS = "2026-01-02"  # a day with a PM2.5 smoke event (ST-019)
RUN_1, RUN_2 = "manual__2026-01-02T00:00:00+00:00", "manual__rerun"
RAW_RUN_1 = "run=manual__2026-01-02T00_00_00_00_00"


@dataclass
class Pipeline:
    home: Path
    batch: SampleBatch
    first: ChainRun
    rerun: ChainRun
    checksums_first: dict[str, tuple[int, str]]
    checksums_rerun: dict[str, tuple[int, str]]
    audit_first: list[tuple[Any, ...]]

    @property
    def lake_root(self) -> Path:
        return self.home / "lake"

    def warehouse(self, sql: str) -> list[tuple[Any, ...]]:
        """Query the DuckDB warehouse file on a read-only connection of its own."""
        import duckdb

        con = duckdb.connect(str(self.home / "warehouse.duckdb"), read_only=True)
        try:
            con.execute("SET TimeZone='UTC'")
            return [tuple(r) for r in con.execute(sql).fetchall()]
        finally:
            con.close()

    def report(self, dataset: str) -> dict[str, Any]:
        return json.loads((self.lake_root / f"quality/{dataset}/ds={DS}/report.json").read_text())


def checksums(pipeline_home: Path) -> dict[str, tuple[int, str]]:
    hook = WarehouseHook()
    assert hook.duckdb_path == pipeline_home / "warehouse.duckdb"
    out = {}
    for dataset, table in TABLES.items():
        columns = [c.name for c in load_contract(dataset).storage_columns]
        (row,) = hook.query(content_checksum_sql(hook.table(table), columns))
        out[table] = (int(row[0]), str(row[1]))
    return out


def audit_rows() -> list[tuple[Any, ...]]:
    hook = WarehouseHook()
    return hook.query(
        f"SELECT table_name, partition_ds, dag_id, run_id, dataset, mode, rows_loaded, checksum "
        f"FROM {hook.table(AUDIT_TABLE)} ORDER BY table_name, partition_ds"
    )


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """The chain run for DS on the embedded defaults, then rerun with a new run id."""
    home = tmp_path_factory.mktemp("lockgate_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOCKGATE_HOME", str(home))
        for name in ("AIRFLOW_CONN_LOCKGATE_LAKE", "AIRFLOW_CONN_LOCKGATE_WAREHOUSE", "AIRFLOW_CONN_LOCKGATE_ALERTS"):
            mp.delenv(name, raising=False)
        batch = generate(DS, home / "sources")
        first = run_chain(str(home / "sources"), DS, RUN_1)
        checksums_first, audit_first = checksums(home), audit_rows()
        rerun = run_chain(str(home / "sources"), DS, RUN_2)
        yield Pipeline(home, batch, first, rerun, checksums_first, checksums(home), audit_first)


def expected(batch: SampleBatch) -> dict[str, int]:
    sources = (batch.gateway, batch.partner)
    return {
        "rows_in": sum(s.rows for s in sources),
        "rows_quarantined": sum(s.malformed + s.missing_values + s.out_of_range + s.non_numeric for s in sources),
        "duplicates_removed": sum(s.duplicates for s in sources),
        "rows_passed": sum(s.clean_rows for s in sources),
    }


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------------ wiring


def test_chain_runs_every_dag_task_after_its_upstreams() -> None:
    from airflow.sdk import BaseSensorOperator

    dag = air_quality_dag()
    # the chain skips only the sources task and the waits for late files, and says which those are
    sensors = {t.task_id for t in dag.tasks if isinstance(t, BaseSensorOperator)}
    assert sensors == set(SENSORS)
    assert set(CHAIN) == {t.task_id for t in dag.tasks} - {"prepare_sources"} - sensors
    for i, task_id in enumerate(CHAIN):
        upstream = dag.get_task(task_id).upstream_task_ids - {"prepare_sources"} - sensors
        assert upstream <= set(CHAIN[:i]), f"{task_id} runs before {upstream - set(CHAIN[:i])}"
    # each sensor guards the ingestion of its own source
    assert {s: sorted(dag.get_task(s).downstream_task_ids) for s in SENSORS} == {
        "wait_gateway": ["list_gateway_files"],
        "wait_partner": ["list_partner_files"],
        "wait_stations": ["ingest_stations"],
    }


def test_readings_ingest_is_one_mapped_task_per_listed_file(pipeline: Pipeline) -> None:
    """The chain ran the listing tasks and one ingest per file they listed (one file each here)."""
    batch = pipeline.batch
    for source, path in (("gateway", batch.gateway_path), ("partner", batch.partner_path)):
        listed = pipeline.first.results[f"list_{source}_files"]
        assert listed == [{"source": str(path), "source_name": f"{source}/readings_{DS}"}]
        (op,) = pipeline.first.operators[f"ingest_{source}"]
        assert (op.task_id, op.source, op.source_name) == (f"ingest_{source}", str(path), f"{source}/readings_{DS}")


def test_sample_day_has_a_smoke_event(pipeline: Pipeline) -> None:
    assert pipeline.batch.smoke_event is not None
    assert pipeline.batch.smoke_event.station_id == "ST-019"


# ---------------------------------------------------------------------------------------- ingest


@pytest.mark.parametrize(
    ("task_id", "dataset", "source", "folder"),
    [
        ("ingest_gateway", "readings", "gateway", f"gateway/readings_{DS}"),  # mapped: a folder per file
        ("ingest_partner", "readings", "partner", f"partner/readings_{DS}"),
        ("ingest_stations", "stations", "registry", "ingest_stations"),
    ],
)
def test_raw_manifest_describes_the_source_file_byte_for_byte(
    pipeline: Pipeline, task_id: str, dataset: str, source: str, folder: str
) -> None:
    batch = pipeline.batch
    src = {"gateway": batch.gateway_path, "partner": batch.partner_path, "registry": batch.registry_path}[source]
    expected_rows = {
        "gateway": batch.gateway.rows,
        "partner": batch.partner.rows,
        "registry": batch.station_count,  # data rows, not the header
    }[source]
    folder = f"raw/{dataset}/ds={DS}/{RAW_RUN_1}/{folder}"
    manifest = json.loads((pipeline.lake_root / folder / "_manifest.json").read_text())
    raw_key = f"{folder}/{src.name}"
    assert manifest["files"] == [
        {
            "key": raw_key,
            "source": str(src),
            "format": {"gateway": "ndjson", "partner": "csv", "registry": "csv"}[source],
            "bytes": src.stat().st_size,
            "rows": expected_rows,
            "sha256": sha256(src),
        }
    ]
    assert (manifest["dataset"], manifest["ds"], manifest["run_id"]) == (dataset, DS, RUN_1)
    assert (manifest["rows"], manifest["bytes"]) == (expected_rows, src.stat().st_size)
    assert manifest["source_timezone"] == ("America/Chicago" if source == "partner" else None)
    # the raw object is the source, as received
    assert (pipeline.lake_root / raw_key).read_bytes() == src.read_bytes()
    result = pipeline.first.results[task_id]
    assert (result if task_id == "ingest_stations" else result[0]) == {
        "manifest_key": f"{folder}/_manifest.json",
        "files": 1,
        "rows": expected_rows,
        "bytes": src.stat().st_size,
    }


def test_each_run_keeps_its_own_raw_folder(pipeline: Pipeline) -> None:
    runs = sorted(p.name for p in (pipeline.lake_root / f"raw/readings/ds={DS}").iterdir())
    assert runs == [RAW_RUN_1, "run=manual__rerun"]
    # the rerun's gate read only the rerun's files: nothing was counted twice
    assert pipeline.rerun.results["gate_readings"]["rows_in"] == expected(pipeline.batch)["rows_in"]


def test_ingest_without_matching_files_raises_a_retryable_error_naming_the_pattern(lockgate_home: Path) -> None:
    pattern = str(lockgate_home / "in" / "readings_*.ndjson")
    op = IngestOperator(task_id="ingest_gateway", dataset="readings", source=pattern, format="ndjson")
    with pytest.raises(AirflowException, match=re.escape(repr(pattern))) as info:
        op.execute(context(DS, RUN_1))
    assert not isinstance(info.value, AirflowFailException)  # late files: let the task retry
    assert not (lockgate_home / "lake" / "raw").exists()


def test_ingest_allow_empty_writes_an_empty_manifest(lockgate_home: Path) -> None:
    op = IngestOperator(
        task_id="ingest_gateway", dataset="readings", source=str(lockgate_home / "none*.csv"), allow_empty=True
    )
    result = op.execute(context(DS, RUN_1))
    assert (result["files"], result["rows"], result["bytes"]) == (0, 0, 0)
    manifest = LakeHook().read_json(result["manifest_key"])
    assert manifest["files"] == []


def test_ingest_glob_takes_every_matching_file_in_order(lockgate_home: Path) -> None:
    folder = lockgate_home / "in"
    folder.mkdir()
    (folder / "b.csv").write_text("station_id,name\nST-002,b\nST-003,c\n")
    (folder / "a.csv").write_text("station_id,name\nST-001,a\n")
    (folder / "a.txt").write_text("not matched\n")
    op = IngestOperator(task_id="ingest_stations", dataset="stations", source=str(folder / "*.csv"))
    result = op.execute(context(DS, RUN_1))
    manifest = LakeHook().read_json(result["manifest_key"])
    assert [(Path(f["source"]).name, f["rows"], f["format"]) for f in manifest["files"]] == [
        ("a.csv", 1, "csv"),
        ("b.csv", 2, "csv"),
    ]
    # a retry of the same task replaces what the earlier try wrote
    (folder / "b.csv").unlink()
    op2 = IngestOperator(task_id="ingest_stations", dataset="stations", source=str(folder / "*.csv"))
    op2.execute(context(DS, RUN_1))
    raw = lockgate_home / "lake" / f"raw/stations/ds={DS}/{RAW_RUN_1}/ingest_stations"
    assert sorted(p.name for p in raw.iterdir()) == ["_manifest.json", "a.csv"]


# ------------------------------------------------------------------------------------------ gate


def test_gate_accounts_for_every_row_as_the_generator_wrote_it(pipeline: Pipeline) -> None:
    want = expected(pipeline.batch)
    report = pipeline.report("readings")
    for key, value in want.items():
        assert report[key] == value, key
    assert report["rows_in"] == report["rows_passed"] + report["rows_quarantined"] + report["duplicates_removed"]
    assert pipeline.first.results["gate_readings"]["rows_passed"] == want["rows_passed"]
    # the smoke event is real data: it passes, and the warn check says someone should look
    assert report["warnings"] == ["expect_column_max_to_be_between(value)"]
    assert report["success"] is True


def test_quarantine_parquet_has_one_row_per_bad_input_row_with_its_reason(pipeline: Pipeline) -> None:
    import pyarrow.parquet as pq

    batch = pipeline.batch
    rows = pq.read_table(pipeline.lake_root / f"quarantine/readings/ds={DS}/quarantine.parquet").to_pylist()
    assert len(rows) == expected(batch)["rows_quarantined"]
    # raw/readings/ds=<date>/run=<run>/<source>/<file name>/<file>
    source_of = lambda row: Path(row["source_file"]).parent.parent.name  # noqa: E731
    by_source: dict[str, int] = {}
    for row in rows:
        by_source[source_of(row)] = by_source.get(source_of(row), 0) + 1
        assert row["ds"] == date.fromisoformat(DS)
        assert row["reason"].startswith(f"row {row['source_row']}: ")
        assert len(row["reason"]) > len(f"row {row['source_row']}: ") + 5
        assert row["check_name"]
        assert row["record"]
    gw, pt = batch.gateway, batch.partner
    assert by_source == {
        "gateway": gw.malformed + gw.missing_values + gw.out_of_range,
        "partner": pt.malformed + pt.missing_values + pt.out_of_range + pt.non_numeric,
    }
    checks: dict[str, int] = {}
    for row in rows:
        name = "range" if row["check_name"].startswith("expect_column_values_to_be_between") else row["check_name"]
        checks[name] = checks.get(name, 0) + 1
    assert checks == {
        "parse": gw.malformed + pt.malformed,
        "not_null": gw.missing_values + pt.missing_values,
        "type": pt.non_numeric,
        "range": gw.out_of_range + pt.out_of_range,
    }
    # source_row is the line number in the source file (1-based; the CSV header is line 1)
    lines = {
        "gateway": batch.gateway_path.read_text().splitlines(),
        "partner": batch.partner_path.read_text().splitlines(),
    }
    for r in rows:
        line = lines[source_of(r)][r["source_row"] - 1]
        if r["check_name"] == "parse":
            assert r["record"] == line  # unreadable lines are kept verbatim
        else:
            assert json.loads(r["record"])["station_id"] in line  # typed rows keep their raw values as JSON


def test_stations_and_aqi_pass_the_gate_whole(pipeline: Pipeline) -> None:
    import pyarrow.parquet as pq

    for dataset, rows in (("stations", 50), ("agg_air_quality_daily", 50)):
        report = pipeline.report(dataset)
        assert (report["rows_in"], report["rows_passed"], report["rows_quarantined"]) == (rows, rows, 0)
        quarantine = pipeline.lake_root / f"quarantine/{dataset}/ds={DS}/quarantine.parquet"
        assert pq.read_table(quarantine).num_rows == 0
        assert pq.read_table(pipeline.lake_root / f"staged/{dataset}/ds={DS}/part-0.parquet").num_rows == rows


def test_gate_without_an_ingestion_manifest_fails_clearly(lockgate_home: Path) -> None:
    op = QualityGateOperator(task_id="gate_readings", dataset="readings")
    with pytest.raises(
        AirflowException, match=r"no ingestion manifest under .*raw/readings/ds=2026-01-02/run="
    ) as info:
        op.execute(context(DS, RUN_1))
    assert "did ingestion run?" in str(info.value)
    assert not (lockgate_home / "lake" / "staged").exists()


def test_later_steps_without_their_input_fail_clearly(lockgate_home: Path) -> None:
    ctx = context(DS, RUN_1)
    with pytest.raises(AirflowException, match=r"nothing staged at .*did the quality gate run"):
        PartitionOperator(task_id="p", dataset="readings").execute(ctx)
    with pytest.raises(
        AirflowException,
        match=r"no curated table lockgate\.readings in the catalog .*"
        r"nothing of .readings. has been published: did partitioning run",
    ):
        WarehouseLoadOperator(task_id="l", dataset="readings", table="fact").execute(ctx)
    with pytest.raises(AirflowException, match="no curated readings for ds=2026-01-02"):
        DailyAqiOperator(task_id="a", dataset="agg_air_quality_daily").execute(ctx)


# ------------------------------------------------------------------------------------- partition


def test_curated_readings_are_hive_partitioned_by_date_and_region(pipeline: Pipeline) -> None:
    import csv

    import duckdb

    base = pipeline.lake_root / "curated/readings"
    files = sorted(p.relative_to(pipeline.lake_root).as_posix() for p in base.rglob("*") if p.is_file())
    # an Iceberg table: data files below data/ds=<date>/region=<region>/, metadata below metadata/
    layout = re.compile(rf"curated/readings/data/ds={DS}/region=({'|'.join(REGIONS)})/[0-9a-f]{{12}}-part-\d+\.parquet")
    catalog = CatalogHook()
    current = catalog.local_date("readings", DS, pipeline.lake_root / "unused")
    parquet = list(current.keys)
    assert all(f.startswith(("curated/readings/data/", "curated/readings/metadata/")) for f in files), files
    assert all(layout.fullmatch(f) for f in parquet), parquet
    assert {layout.fullmatch(f).group(1) for f in parquet} == set(REGIONS)  # type: ignore[union-attr]
    table = catalog.table("readings")
    assert [f.name for f in table.spec().fields] == ["ds", "region"]
    manifest = {
        "rows": current.rows,
        "files": [
            {"key": key, "rows": f.record_count}
            for key, f in zip(current.keys, catalog.date_files("readings", DS), strict=True)
        ],
    }
    glob = [str(pipeline.lake_root / key) for key in parquet]  # the current snapshot's files

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        by_region = dict(
            con.execute(
                "SELECT region, count(*) FROM read_parquet($1, hive_partitioning = true) GROUP BY region", [glob]
            ).fetchall()
        )
        assert by_region == {Path(f["key"]).parent.name.split("=")[1]: f["rows"] for f in manifest["files"]}
        assert sum(by_region.values()) == manifest["rows"] == expected(pipeline.batch)["rows_passed"]
        (ds_values,) = con.execute(
            "SELECT list(DISTINCT ds) FROM read_parquet($1, hive_partitioning = true)", [glob]
        ).fetchone()
        assert [str(v) for v in ds_values] == [DS]
        # every reading sits in its station's region folder (regions from the registry)
        pairs = set(
            con.execute(
                "SELECT DISTINCT station_id, region FROM read_parquet($1, hive_partitioning = true)", [glob]
            ).fetchall()
        )
    finally:
        con.close()
    with open(pipeline.batch.registry_path, newline="") as fh:
        registry = {r["station_id"]: r["region"] for r in csv.DictReader(fh)}
    assert pairs == set(registry.items())

    rows = catalog.read_date("readings", DS).read_all()
    assert rows.num_rows == manifest["rows"]
    assert set(rows.column_names) == {c.name for c in load_contract("readings").storage_columns}
    assert set(rows.column("region").to_pylist()) == set(REGIONS)


def test_rerun_publishes_byte_identical_curated_files(pipeline: Pipeline) -> None:
    for task_id in ("partition_readings", "partition_stations", "partition_daily_aqi"):
        first, rerun = dict(pipeline.first.results[task_id]), dict(pipeline.rerun.results[task_id])
        assert first.pop("snapshot_id") != rerun.pop("snapshot_id")  # each publish is a snapshot of its own
        assert first == rerun  # same rows, same files, same checksum


# ------------------------------------------------------------------------------------------ load


def test_warehouse_rows_are_rows_in_minus_quarantined_minus_duplicates(pipeline: Pipeline) -> None:
    for dataset, table in TABLES.items():
        report = pipeline.report(dataset)
        want = report["rows_in"] - report["rows_quarantined"] - report["duplicates_removed"]
        assert pipeline.warehouse(f'SELECT count(*) FROM "{table}"') == [(want,)], table
    assert pipeline.warehouse('SELECT count(*) FROM "fact_air_quality_hourly"') == [
        (expected(pipeline.batch)["rows_passed"],)
    ]
    assert pipeline.warehouse(
        'SELECT count(*), count(DISTINCT (station_id, observed_at, pollutant)) FROM "fact_air_quality_hourly"'
    ) == [(7129, 7129)]


def test_warehouse_holds_exactly_the_curated_rows(pipeline: Pipeline) -> None:
    import duckdb

    # the curated rows as the table holds them now: the current snapshot's files of the date (the
    # first run's files stay in the folder for time travel until retention removes them)
    current = CatalogHook().local_date("readings", DS, pipeline.lake_root / "unused")
    files = ", ".join(f"'{f}'" for f in current.files)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        con.execute(f"ATTACH '{pipeline.home / 'warehouse.duckdb'}' AS wh (READ_ONLY)")
        curated = f"read_parquet([{files}], hive_partitioning = true)"
        cols = "station_id, region, observed_at, pollutant, value, unit, CAST(ds AS DATE)"
        lake_rows, warehouse_rows = f"SELECT {cols} FROM {curated}", f"SELECT {cols} FROM wh.fact_air_quality_hourly"
        assert con.execute(f"SELECT count(*) FROM ({lake_rows})").fetchone() == (7129,)
        assert con.execute(f"SELECT count(*) FROM ({lake_rows} EXCEPT ALL {warehouse_rows})").fetchone() == (0,)
        assert con.execute(f"SELECT count(*) FROM ({warehouse_rows} EXCEPT ALL {lake_rows})").fetchone() == (0,)
        # units are the EPA's after the gate's conversion (partner mg/m3 PM became ug/m3)
        units = dict(
            con.execute("SELECT pollutant, list(DISTINCT unit) FROM wh.fact_air_quality_hourly GROUP BY 1").fetchall()
        )
    finally:
        con.close()
    assert units == {
        "pm25": ["ug/m3"],
        "pm10": ["ug/m3"],
        "o3": ["ppm"],
        "co": ["ppm"],
        "so2": ["ppb"],
        "no2": ["ppb"],
    }


def test_rerun_leaves_the_same_warehouse_content(pipeline: Pipeline) -> None:
    assert pipeline.checksums_rerun == pipeline.checksums_first
    assert pipeline.checksums_first["fact_air_quality_hourly"][0] == 7129
    assert pipeline.checksums_first["dim_station"][0] == 50
    assert pipeline.checksums_first["agg_air_quality_daily"][0] == 50


def test_audit_has_one_row_per_table_and_date_from_the_latest_run(pipeline: Pipeline) -> None:
    day = date.fromisoformat(DS)
    rows = pipeline.warehouse(
        f'SELECT table_name, partition_ds, dag_id, run_id, dataset, mode, rows_loaded, checksum FROM "{AUDIT_TABLE}" '
        "ORDER BY table_name"
    )
    catalog = CatalogHook()
    curated = {d: catalog.local_date(d, DS, pipeline.lake_root / "unused").checksum for d in TABLES}
    agg = "agg_air_quality_daily"
    assert rows == [
        (agg, day, DAG_ID, RUN_2, agg, "replace_partition", 50, curated[agg]),
        ("dim_station", day, DAG_ID, RUN_2, "stations", "scd2", 50, curated["stations"]),
        ("fact_air_quality_hourly", day, DAG_ID, RUN_2, "readings", "replace_partition", 7129, curated["readings"]),
    ]
    # the first run wrote the same rows with its own run id; the rerun replaced them
    assert [(r[0], r[3]) for r in pipeline.audit_first] == [(r[0], RUN_1) for r in rows]


# ------------------------------------------------------------------------------------------- AQI


def test_smoke_event_station_has_the_days_highest_aqi_driven_by_pm25(pipeline: Pipeline) -> None:
    smoke = pipeline.batch.smoke_event
    assert smoke is not None
    rows = pipeline.warehouse(
        "SELECT station_id, region, aqi, category, dominant_pollutant, pm25_24h, hours_observed "
        'FROM "agg_air_quality_daily" ORDER BY aqi DESC, station_id'
    )
    top, runner_up = rows[0], rows[1]
    assert top[0] == smoke.station_id
    assert top[4] == "pm25"
    assert top[2] > runner_up[2]
    assert top[2] > 150
    assert top[3] in ("Unhealthy", "Very Unhealthy", "Hazardous")
    # the 24-hour mean is the mean of the day's loaded hourly PM2.5 readings of that station
    (mean, hours) = pipeline.warehouse(
        "SELECT avg(value), count(DISTINCT observed_at) FROM fact_air_quality_hourly "
        f"WHERE station_id = '{smoke.station_id}' AND pollutant = 'pm25'"
    )[0]
    assert top[5] == pytest.approx(mean)
    assert top[6] >= hours
    assert {r[0] for r in rows} == {f"ST-{i:03d}" for i in range(1, 51)}
    assert all(r[2] >= 0 for r in rows)

    summary = json.loads((pipeline.lake_root / f"reports/{DAG_ID}/ds={DS}/summary.json").read_text())
    assert summary["top_aqi"][0] == {
        "station_id": top[0],
        "region": top[1],
        "aqi": top[2],
        "category": top[3],
        "dominant_pollutant": "pm25",
    }


def test_run_summary_balances_every_dataset(pipeline: Pipeline) -> None:
    summary = pipeline.rerun.results["summarize"]
    assert summary == json.loads((pipeline.lake_root / f"reports/{DAG_ID}/ds={DS}/summary.json").read_text())
    want = expected(pipeline.batch)
    by_dataset = {d["dataset"]: d for d in summary["datasets"]}
    assert by_dataset["readings"] == {
        "dataset": "readings",
        "table": "fact_air_quality_hourly",
        "rows_in": want["rows_in"],
        "rows_quarantined": want["rows_quarantined"],
        "duplicates_removed": want["duplicates_removed"],
        "rows_loaded": want["rows_passed"],
        "balanced": True,
        "load_run_id": RUN_2,  # the rerun's load is the one the warehouse holds
        "loaded_at": by_dataset["readings"]["loaded_at"],
    }
    for dataset in by_dataset.values():
        assert dataset["load_run_id"] == RUN_2, dataset
        loaded_at = datetime.fromisoformat(dataset["loaded_at"])
        assert loaded_at.utcoffset() == timedelta(0), dataset  # an aware UTC time (naive: None)
        assert datetime.now(UTC) - timedelta(hours=1) < loaded_at <= datetime.now(UTC), dataset
    assert all(d["balanced"] for d in summary["datasets"])
    assert summary["run_id"] == RUN_2
    assert summary["locations"] == {
        "lake": str(pipeline.lake_root),
        "warehouse": str(pipeline.home / "warehouse.duckdb"),
    }


# --------------------------------------------------------------------------------------- lineage


def _names(datasets: list[Any]) -> list[tuple[str, str]]:
    return [(d.namespace, d.name) for d in datasets]


def _schema(dataset: Any) -> list[tuple[str, str]] | None:
    facet = dataset.facets.get("schema")
    return None if facet is None else [(f.name, f.type) for f in facet.fields]


def test_lineage_names_what_each_operator_really_read_and_wrote(pipeline: Pipeline) -> None:
    ops = pipeline.first.operators
    root = pipeline.lake_root
    lake = lambda key: ("file", str(root / key))  # noqa: E731
    readings = [
        ("station_id", "string"),
        ("region", "string"),
        ("observed_at", "timestamp"),
        ("pollutant", "string"),
        ("value", "double"),
        ("unit", "string"),
        ("ds", "date"),
    ]

    (partner,) = ops["ingest_partner"]  # mapped: one instance per file, one file here
    ingest = partner.get_openlineage_facets_on_complete(None)
    assert _names(ingest.inputs) == [("file", str(pipeline.batch.partner_path))]
    assert _names(ingest.outputs) == [lake("raw/readings")]
    stats = ingest.outputs[0].outputFacets["outputStatistics"]
    assert (stats.rowCount, stats.size) == (pipeline.batch.partner.rows, pipeline.batch.partner_path.stat().st_size)

    gate = ops["gate_readings"].get_openlineage_facets_on_complete(None)
    assert _names(gate.inputs) == [lake("raw/readings")]
    assert _names(gate.outputs) == [lake("staged/readings"), lake("quarantine/readings")]
    assert _schema(gate.outputs[0]) == readings
    assert gate.outputs[0].outputFacets["outputStatistics"].rowCount == 7129
    assert gate.outputs[1].outputFacets["outputStatistics"].rowCount == expected(pipeline.batch)["rows_quarantined"]

    part = ops["partition_readings"].get_openlineage_facets_on_complete(None)
    assert _names(part.inputs) == [lake("staged/readings")]
    assert _names(part.outputs) == [lake("curated/readings")]
    assert _schema(part.outputs[0]) == readings

    load = ops["load_fact_air_quality_hourly"].get_openlineage_facets_on_complete(None)
    wh = pipeline.home / "warehouse.duckdb"
    assert _names(load.inputs) == [lake("curated/readings")]
    assert _names(load.outputs) == [(f"duckdb://{wh}", "warehouse.main.fact_air_quality_hourly")]
    assert _schema(load.outputs[0]) == readings
    assert load.outputs[0].outputFacets["outputStatistics"].rowCount == 7129

    aqi = ops["compute_daily_aqi"].get_openlineage_facets_on_complete(None)
    assert _names(aqi.inputs) == [lake("curated/readings")]
    assert _names(aqi.outputs) == [lake("raw/agg_air_quality_daily")]
    assert [n for n, _ in _schema(aqi.outputs[0]) or []] == load_contract("agg_air_quality_daily").column_names

    # a fresh operator that has not run reports nothing rather than guessing
    fresh = QualityGateOperator(task_id="gate", dataset="readings").get_openlineage_facets_on_complete(None)
    assert (fresh.inputs, fresh.outputs) == ([], [])


def test_every_chain_task_returns_a_json_serialisable_result(pipeline: Pipeline) -> None:
    """Return values go to XCom: they must serialise."""
    for task_id in CHAIN:
        json.dumps(pipeline.first.results[task_id])
