"""The ``enrich`` preprocessing step: readings joined with the station registry's curated data.

A YAML pipeline ingests a station registry and readings, publishes the registry (partitioned by
region, so ``region`` lives in the curated files' hive path), and enriches each reading with its
station's region before the readings' checks; run end to end with Airflow's ``dag.test()``. A
second test drives the operators directly to show which published date of a reference is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pendulum
import pytest

from lockgate.hooks.lake import LakeHook
from lockgate.hooks.warehouse import WarehouseHook
from lockgate.layout import zone_prefix
from lockgate.pipelines.spec import PipelineSpecError, load_spec
from tests.support.dags import SPEC_HEADER, use_dags_folder, write_yaml_pipeline

pytestmark = pytest.mark.integration

DS = "2026-01-02"
DAG_ID = "readings_enriched"
STATIONS_CONTRACT = """\
dataset: stations_x
version: 1
description: A test station registry.
owner: test
columns:
  station_id: {type: string, nullable: false}
  region: {type: string, nullable: false}
primary_key: [station_id]
partition_keys: [region]
"""
READINGS_CONTRACT = """\
dataset: readings_x
version: 1
description: Test readings, enriched with the station's region.
owner: test
columns:
  station_id: {type: string, nullable: false}
  hour: {type: integer, nullable: false}
  value: {type: double}
  region: {type: string, nullable: false}
primary_key: [station_id, hour]
"""
SPEC = (
    SPEC_HEADER
    + """\
  files:
    - {{id: registry, dataset: stations_x, path: "registry/stations.csv", format: csv}}
    - {{id: feed, dataset: readings_x, path: "feed/readings_{{{{ ds }}}}.csv", format: csv}}
datasets:
  stations_x:
    contract: {stations}
  readings_x:
    contract: {readings}
    preprocess:
      enrich: {{reference: stations_x, on: [station_id], columns: {{region: region}}, required: {required}}}
loads:
  - {{dataset: stations_x, table: dim_station_x, mode: replace_partition}}
  - {{dataset: readings_x, table: fact_readings_x, mode: replace_partition}}
"""
)
STATIONS = "station_id,region\nST-1,north\nST-2,south\nST-3,north\n"
#: ST-9 is not in the registry
READINGS = "station_id,hour,value\nST-1,0,10\nST-2,0,20\nST-9,0,90\nST-3,1,30\nST-1,1,11\n"


def write_pipeline(tmp_path: Path, required: str = "true", readings_contract: str = READINGS_CONTRACT) -> Path:
    dags, src = tmp_path / "dags", tmp_path / "src"
    for folder in ("registry", "feed"):
        (src / folder).mkdir(parents=True, exist_ok=True)
    (src / "registry" / "stations.csv").write_text(STATIONS)
    (src / "feed" / f"readings_{DS}.csv").write_text(READINGS)
    stations, readings = tmp_path / "stations_x.yaml", tmp_path / "readings_x.yaml"
    stations.write_text(STATIONS_CONTRACT)
    readings.write_text(readings_contract)
    spec = SPEC.format(dag_id=DAG_ID, src=src, stations=stations, readings=readings, required=required)
    return write_yaml_pipeline(dags, DAG_ID, spec)


@pytest.fixture
def pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    spec = write_pipeline(tmp_path)
    use_dags_folder(spec.parents[1], monkeypatch)
    return spec


def test_readings_are_enriched_with_the_region_of_their_station(
    pipeline: Path, lockgate_home: Path, airflow_home: Path
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(pipeline.parents[1]))
    assert bag.import_errors == {}
    dag = bag.get_dag(DAG_ID)
    # the readings' gate joins the registry's curated data: it runs after the registry is partitioned
    assert dag.get_task("gate_readings_x").upstream_task_ids == {"ingest_feed", "partition_stations_x"}
    for task in dag.tasks:
        task.retries = 0

    run = dag.test(logical_date=pendulum.parse(DS))
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert str(run.state) == "success", states

    lake = LakeHook()
    report = lake.read_json(f"{zone_prefix('quality', 'readings_x', DS)}/report.json")
    assert (report["rows_in"], report["rows_passed"], report["rows_quarantined"], report["duplicates_removed"]) == (
        5,
        4,
        1,
        0,
    )
    # region is a contract column the source never had: not schema drift
    assert report["schema_drift"] == []

    warehouse = WarehouseHook()
    rows: list[Any] = warehouse.query(
        f"SELECT station_id, hour, value, region FROM {warehouse.table('fact_readings_x')} ORDER BY station_id, hour"
    )
    assert [tuple(r) for r in rows] == [
        ("ST-1", 0, 10.0, "north"),
        ("ST-1", 1, 11.0, "north"),
        ("ST-2", 0, 20.0, "south"),
        ("ST-3", 1, 30.0, "north"),
    ]

    import duckdb

    (key,) = [o.key for o in lake.list(zone_prefix("quarantine", "readings_x", DS)) if o.key.endswith(".parquet")]
    quarantined = (
        duckdb.connect()
        .sql(f"SELECT source_row, check_name, reason FROM read_parquet('{lake.local_copy(key, lockgate_home)}')")
        .fetchall()
    )
    # nothing silently dropped: the reading of an unknown station is quarantined, naming key and reference
    assert quarantined == [(4, "enrich", "row 4: no stations_x row for station_id=ST-9 (preprocess.enrich)")]


@pytest.mark.parametrize("where", ["local", "s3"])
def test_the_newest_published_date_of_the_reference_on_or_before_the_logical_date_is_used(
    where: str, tmp_path: Path, lockgate_home: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:

    from airflow.sdk.exceptions import AirflowFailException

    from lockgate.operators.ingest import IngestOperator
    from lockgate.operators.partition import PartitionOperator
    from lockgate.operators.quality import QualityGateOperator
    from tests.support.pipeline import context
    from tests.support.s3 import lake_conn_env

    if where == "s3":
        # the lake on the moto server through the amazon provider's S3Hook: the gate downloads the
        # reference's files with their hive path (region=<r>/ is where region lives)
        bucket, aws_conn_id = request.getfixturevalue("s3_bucket"), request.getfixturevalue("aws_conn_id")
        monkeypatch.setenv(*lake_conn_env(f"s3://{bucket}/lake", aws_conn_id))
    assert LakeHook().is_s3 == (where == "s3")
    stations_contract, readings_contract = tmp_path / "stations_x.yaml", tmp_path / "readings_x.yaml"
    stations_contract.write_text(STATIONS_CONTRACT)
    readings_contract.write_text(READINGS_CONTRACT)
    src = tmp_path / "src"
    src.mkdir()
    # the registry is published on 01-02 and again on 01-05, when ST-1 moved to the west region
    for ds, registry in (("2026-01-02", STATIONS), ("2026-01-05", STATIONS.replace("ST-1,north", "ST-1,west"))):
        (src / f"stations_{ds}.csv").write_text(registry)
        ctx = context(ds, f"manual__{ds}")
        common: dict[str, Any] = {"dataset": "stations_x", "contract": str(stations_contract)}
        IngestOperator(task_id="ingest", source=str(src / f"stations_{ds}.csv"), **common).execute(ctx)
        QualityGateOperator(task_id="gate", **common).execute(ctx)
        PartitionOperator(task_id="partition", **common).execute(ctx)

    def gate_readings(ds: str) -> list[tuple[Any, ...]]:
        import duckdb

        (src / f"readings_{ds}.csv").write_text("station_id,hour,value\nST-1,0,1\n")
        ctx = context(ds, f"manual__readings_{ds}")
        common: dict[str, Any] = {"dataset": "readings_x", "contract": str(readings_contract)}
        IngestOperator(task_id="ingest", source=str(src / f"readings_{ds}.csv"), **common).execute(ctx)
        step = {"reference": "stations_x", "on": ["station_id"], "columns": ["region"]}
        QualityGateOperator(task_id="gate", preprocess={"enrich": step}, **common).execute(ctx)
        staged = LakeHook().local_copy(f"{zone_prefix('staged', 'readings_x', ds)}/part-0.parquet", tmp_path)
        return duckdb.connect().sql(f"SELECT station_id, region FROM read_parquet('{staged}')").fetchall()

    assert gate_readings("2026-01-04") == [("ST-1", "north")]  # 01-02's registry: 01-05 is later
    assert gate_readings("2026-01-05") == [("ST-1", "west")]
    assert gate_readings("2026-01-09") == [("ST-1", "west")]
    with pytest.raises(AirflowFailException, match=r"reference dataset 'stations_x' has no curated date on or before"):
        gate_readings("2026-01-01")


@pytest.mark.parametrize(
    ("required", "contract", "field", "message"),
    [
        ("false", READINGS_CONTRACT, "datasets.readings_x.preprocess", "'region' must be nullable"),
        (
            "true",
            READINGS_CONTRACT.replace("region: {type: string", "region: {type: integer"),
            "datasets.readings_x.preprocess.enrich.columns",
            "column 'region' is integer in contract readings_x but stations_x.region is string",
        ),
        (
            "true",
            READINGS_CONTRACT.replace("  region: {type: string, nullable: false}\n", ""),
            "datasets.readings_x.preprocess",
            "column 'region' is not in the contract; declare it with the type of stations_x.region",
        ),
    ],
)
def test_enrich_mistakes_fail_the_spec_naming_the_field(
    tmp_path: Path, required: str, contract: str, field: str, message: str
) -> None:
    spec = write_pipeline(tmp_path, required=required, readings_contract=contract)
    with pytest.raises(PipelineSpecError) as failure:
        load_spec(spec)
    assert [f for f, m, _ in failure.value.problems if message in m] == [field], str(failure.value)
