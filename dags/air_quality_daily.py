"""
### air_quality_daily — the US EPA Air Quality Index for the PolluTrack network

Every day, for the logical date:

1. **wait** for each source file (deferred, up to 6 hours: late files are picked up when they land,
   missing ones fail with the pattern and the timeout), then **ingest** the station gateways' NDJSON
   readings, the partner agency's CSV readings (naive local timestamps in `America/Chicago`) and the
   station registry into the raw zone of the lake. Readings may come as many files a day
   (`readings_<date>*.ndjson`, `readings_<date>*.csv`): `list_<source>_files` lists them and
   `ingest_<source>` is mapped over the list, one task instance per file, so a big day spreads
   across workers;
2. **gate** each dataset against its contract (`include/contracts/`): timestamps to UTC, units to
   the EPA's, exact duplicates dropped, bad rows quarantined with a reason, `fail`/`warn` checks
   validated with Great Expectations;
3. **partition** into hive-partitioned Parquet (`ds=<date>/region=<region>`) in the curated zone;
4. **load** into the warehouse star schema: `dim_station` (slowly changing, scd2), `fact_air_quality_hourly` and
   `agg_air_quality_daily` (replace the date's partition; a delivery under half of what a date
   already holds, or empty, is refused unless the run is triggered with the param `allow_shrink`);
5. compute the **daily AQI** per station, a SQL model (`include/sql/models/agg_air_quality_daily.sql`:
   highest pollutant sub-index, with the EPA breakpoints in force on the date), **notify** the
   notification API (connection `pollutrack_notify`) of the stations whose
   day is "Unhealthy" or worse, exactly once per content version (without the connection: JSON
   files under `$LOCKGATE_HOME/outbox/`), and **summarise** the run.

Sources: the Airflow Variable `pollutrack_source_url` (a folder or `s3://bucket/prefix` holding
`gateway/`, `partner/` and `registry/`); when it is unset, a deterministic sample for the date is
generated under `$LOCKGATE_HOME/sources`. Lake and warehouse come from the `lockgate_lake` and
`lockgate_warehouse` connections, with embedded defaults when they are unset.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Variable, chain, dag, task

from lockgate.alerts import late_batch_deadline, notifiers_for
from lockgate.assets import load_outlets
from lockgate.operators.aqi import DailyAqiOperator
from lockgate.operators.deliver import DeliverOperator
from lockgate.operators.ingest import IngestOperator
from lockgate.operators.load import WarehouseLoadOperator, load_params
from lockgate.operators.partition import PartitionOperator
from lockgate.operators.quality import QualityGateOperator
from lockgate.operators.report import RunSummaryOperator
from lockgate.operators.wait import wait_for_files
from lockgate.pipelines.factory import ingest_each_file

PARTNER_TIMEZONE = "America/Chicago"
SOURCES = "{{ ti.xcom_pull(task_ids='prepare_sources') }}"
#: below the sources root; the readings may be split into several files a day (one mapped ingest each)
GATEWAY_FILES = "gateway/readings_{{ ds }}*.ndjson"
PARTNER_FILES = "partner/readings_{{ ds }}*.csv"
STATIONS_FILE = "registry/stations.csv"
#: source files may come late: each ingest first waits (deferred, no worker slot held) this long
WAIT_TIMEOUT = timedelta(hours=6)
WAIT_POKE = timedelta(minutes=5)
READINGS_PREPROCESS = {
    "convert_units": {
        "value": "value",
        "unit": "unit",
        "by": "pollutant",
        "targets": {"pm25": "ug/m3", "pm10": "ug/m3", "o3": "ppm", "co": "ppm", "so2": "ppb", "no2": "ppb"},
    },
    "drop_exact_duplicates": True,
}
#: the EPA's categories from "Unhealthy" (AQI 151) up: the stations the notification API hears about
UNHEALTHY_OR_WORSE = ["Unhealthy", "Very Unhealthy", "Hazardous"]
# which alerts go where (lockgate.alerts); a target whose connection is not defined is logged, not sent
ALERTS = {
    "default": ["webhook:lockgate_alerts"],
    "task_failure": ["webhook:lockgate_alerts", "slack:lockgate_slack", "email:air-quality-oncall@pollutrack.example"],
    "late_batch": ["webhook:lockgate_alerts", "slack:lockgate_slack", "email:air-quality-oncall@pollutrack.example"],
    "run_summary": ["webhook:lockgate_alerts", "slack:lockgate_slack", "email:air-quality-team@pollutrack.example"],
}
DQ_WARNINGS = notifiers_for(ALERTS, "dq_warning")
SCHEMA_DRIFT = notifiers_for(ALERTS, "schema_drift")
RUN_SUMMARY = notifiers_for(ALERTS, "run_summary")


@dag(
    dag_id="air_quality_daily",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["lockgate", "air-quality", "flagship"],
    doc_md=__doc__,
    # allow_shrink: a person decides in the trigger form whether a date may be replaced by much less
    params=load_params(),
    # one summary message per run; `late_batch` when the date's data is not loaded by 06:00 UTC the next day
    on_success_callback=[*RUN_SUMMARY],
    on_failure_callback=[*RUN_SUMMARY],
    deadline=late_batch_deadline(ALERTS, after=timedelta(hours=30)),
    default_args={
        "owner": "air-quality-team",
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": 2.0,
        "on_failure_callback": notifiers_for(ALERTS, "task_failure"),
        "on_retry_callback": notifiers_for(ALERTS, "task_retry"),
    },
)
def air_quality_daily() -> None:
    @task
    def prepare_sources(ds: str | None = None) -> str:
        """Where today's source files are: the configured URL, or a generated sample."""
        configured = Variable.get("pollutrack_source_url", default=None)
        if configured:
            return str(configured).rstrip("/")
        from lockgate.config import lockgate_home
        from lockgate.sample_data import generate

        out = lockgate_home() / "sources"
        generate(str(ds), out)
        return str(out)

    sources = prepare_sources()

    def wait(source_id: str, pattern: str) -> Any:
        """Wait for late files (a local glob or an S3 pattern, decided at run time)."""
        waiting = wait_for_files(
            f"wait_{source_id}", f"{SOURCES}/{pattern}", timeout=WAIT_TIMEOUT, poke_interval=WAIT_POKE
        )
        sources >> waiting
        return waiting

    # readings: list_<source>_files, then one mapped ingest per file (as the YAML pipelines' fan_out);
    # each instance lands in raw/readings/ds=<date>/run=<run>/<source>/<file name>/
    _, ingest_gateway = ingest_each_file(
        "ingest_gateway",
        root=sources,
        pattern=GATEWAY_FILES,
        source_id="gateway",
        after=wait("gateway", GATEWAY_FILES),
        dataset="readings",
        format="ndjson",
    )
    _, ingest_partner = ingest_each_file(
        "ingest_partner",
        root=sources,
        pattern=PARTNER_FILES,
        source_id="partner",
        after=wait("partner", PARTNER_FILES),
        dataset="readings",
        format="csv",
        source_timezone=PARTNER_TIMEZONE,
    )
    # the registry is one file, the whole station list (an scd2 snapshot): nothing to spread
    ingest_stations = IngestOperator(
        task_id="ingest_stations",
        dataset="stations",
        source=f"{SOURCES}/{STATIONS_FILE}",
        format="csv",
    )
    wait("stations", STATIONS_FILE) >> ingest_stations

    gate_readings = QualityGateOperator(
        task_id="gate_readings",
        dataset="readings",
        preprocess=READINGS_PREPROCESS,
        warning_notifiers=DQ_WARNINGS,
        schema_drift_notifiers=SCHEMA_DRIFT,
    )
    gate_stations = QualityGateOperator(
        task_id="gate_stations",
        dataset="stations",
        warning_notifiers=DQ_WARNINGS,
        schema_drift_notifiers=SCHEMA_DRIFT,
    )

    partition_readings = PartitionOperator(task_id="partition_readings", dataset="readings")
    partition_stations = PartitionOperator(task_id="partition_stations", dataset="stations")

    load_dim_station = WarehouseLoadOperator(
        task_id="load_dim_station",
        dataset="stations",
        table="dim_station",
        mode="scd2",
        outlets=load_outlets("stations", "dim_station"),
    )
    load_fact_hourly = WarehouseLoadOperator(
        task_id="load_fact_air_quality_hourly",
        dataset="readings",
        table="fact_air_quality_hourly",
        mode="replace_partition",
        outlets=load_outlets("readings", "fact_air_quality_hourly"),
    )

    # a SQL model (include/sql/models/agg_air_quality_daily.sql): the breakpoints in force on the date
    compute_daily_aqi = DailyAqiOperator(task_id="compute_daily_aqi", dataset="agg_air_quality_daily")
    gate_daily_aqi = QualityGateOperator(
        task_id="gate_daily_aqi", dataset="agg_air_quality_daily", warning_notifiers=DQ_WARNINGS
    )
    partition_daily_aqi = PartitionOperator(task_id="partition_daily_aqi", dataset="agg_air_quality_daily")
    load_daily_aqi = WarehouseLoadOperator(
        task_id="load_agg_air_quality_daily",
        dataset="agg_air_quality_daily",
        table="agg_air_quality_daily",
        mode="replace_partition",
        outlets=load_outlets("agg_air_quality_daily", "agg_air_quality_daily"),
    )

    # stations whose daily AQI is "Unhealthy" or worse, pushed to the notification API once per
    # content version (lockgate.delivery); without the connection the batches land in
    # $LOCKGATE_HOME/outbox/pollutrack_notify/ (the embedded default)
    notify_unhealthy = DeliverOperator(
        task_id="notify_unhealthy_stations",
        dataset="agg_air_quality_daily",
        kind="http",
        conn_id="pollutrack_notify",
        options={"endpoint": "v1/alerts", "batch_size": 100, "rate_limit": 5},
        where={"category": {"in": UNHEALTHY_OR_WORSE}},
        columns=["station_id", "region", "aqi", "category", "dominant_pollutant", "ds"],
    )

    summarize = RunSummaryOperator(
        task_id="summarize",
        datasets={
            "stations": "dim_station",
            "readings": "fact_air_quality_hourly",
            "agg_air_quality_daily": "agg_air_quality_daily",
        },
        aqi_table="agg_air_quality_daily",
    )

    chain([ingest_gateway, ingest_partner], gate_readings, partition_readings, load_fact_hourly)
    chain(ingest_stations, gate_stations, partition_stations, load_dim_station)
    chain(load_fact_hourly, compute_daily_aqi, gate_daily_aqi, partition_daily_aqi, load_daily_aqi)
    chain(load_daily_aqi, notify_unhealthy)
    chain([load_dim_station, load_daily_aqi, notify_unhealthy], summarize)


air_quality_daily_dag = air_quality_daily()

if __name__ == "__main__":
    air_quality_daily_dag.test()
