"""A pipeline declared only in YAML using the ingestion features: late files, a per-source time
zone, a fan-out over several files, and the preprocessing steps (de-duplication by key, missing
values, min-max scaling), run end to end with Airflow's ``dag.test()``.

The pipeline's DAG file and spec live in a temporary DAGs folder (``dag.test()`` only runs DAGs it
can serialise from the DAGs folder); the contract is a temporary file referenced by path.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

import pendulum
import pytest

from lockgate.hooks.lake import LakeHook
from lockgate.hooks.warehouse import WarehouseHook
from lockgate.pipelines.spec import load_spec
from tests.support.contracts import sensor_contract
from tests.support.dags import SPEC_HEADER, use_dags_folder, write_yaml_pipeline

pytestmark = pytest.mark.integration

DS = "2026-01-02"
DAG_ID = "sensor_preprocess"
CONTRACT = sensor_contract("[id]")
SPEC = (
    SPEC_HEADER
    + """\
  files:
    - id: feed
      dataset: sensor
      path: "feed/sensor_{{{{ ds }}}}_*.csv"
      format: csv
      timezone: America/Chicago
      fan_out: true
      wait: {{timeout_minutes: 2, poke_seconds: 0.5}}
datasets:
  sensor:
    contract: {contract}
    preprocess:
      deduplicate: {{key: [id], keep_latest_by: at}}
      missing: {{value: flag, site: {{fill: unknown}}}}
      scale: {{value: {{min: 0, max: 200, into: value_scaled}}}}
loads:
  - dataset: sensor
    table: fact_sensor
    mode: replace_partition
"""
)
#: two files; naive times are America/Chicago (UTC-6 in January)
PART_1 = "id,at,value,site\na,2026-01-02 01:00:00,50,x\nb,2026-01-02 02:00:00,,y\n"
PART_2 = "id,at,value,site\na,2026-01-02 03:00:00,100,\nc,2026-01-02T10:00:00Z,250,z\n"


@pytest.fixture
def pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    dags, src = tmp_path / "dags", tmp_path / "src"
    (src / "feed").mkdir(parents=True)
    contract = tmp_path / "sensor.yaml"
    contract.write_text(CONTRACT)
    spec = write_yaml_pipeline(dags, DAG_ID, SPEC.format(dag_id=DAG_ID, src=src, contract=contract))
    use_dags_folder(dags, monkeypatch)
    return {"dags": dags, "src": src, "spec": spec}


def test_the_spec_declares_wait_timezone_and_preprocessing(pipeline: dict[str, Path]) -> None:
    spec = load_spec(pipeline["spec"])
    (feed,) = spec.files
    assert (feed.timezone, feed.fan_out, feed.wait_timeout_minutes, feed.wait_poke_seconds) == (
        "America/Chicago",
        True,
        2,
        0.5,
    )
    assert spec.datasets["sensor"].preprocess["scale"] == {"value": {"min": 0, "max": 200, "into": "value_scaled"}}


def test_late_files_are_waited_for_then_preprocessed_and_loaded(
    pipeline: dict[str, Path], lockgate_home: Path, airflow_home: Path
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(pipeline["dags"]))
    assert bag.import_errors == {}
    dag = bag.get_dag(DAG_ID)
    upstream = {t.task_id: t.upstream_task_ids for t in dag.tasks}
    assert upstream["wait_feed"] == {"prepare_sources"}
    assert upstream["list_feed_files"] == {"prepare_sources", "wait_feed"}
    assert dag.get_task("wait_feed").timeout == 120
    for task in dag.tasks:
        task.retries = 0

    # the day's files land 2 s after the run starts: the wait defers, then everything runs
    feed = pipeline["src"] / "feed"

    def land() -> None:
        time.sleep(2)
        (feed / f"sensor_{DS}_1.csv").write_text(PART_1)
        (feed / f"sensor_{DS}_2.csv").write_text(PART_2)

    thread = threading.Thread(target=land, daemon=True)
    thread.start()
    run = dag.test(logical_date=pendulum.parse(DS))
    thread.join()
    states = {(ti.task_id, ti.map_index): str(ti.state) for ti in run.get_task_instances()}
    assert str(run.state) == "success", states
    # one mapped ingest per file
    assert sorted(k for k in states if k[0] == "ingest_feed") == [("ingest_feed", 0), ("ingest_feed", 1)]

    from lockgate.layout import zone_prefix

    report = LakeHook().read_json(f"{zone_prefix('quality', 'sensor', DS)}/report.json")
    assert (report["rows_in"], report["rows_passed"], report["rows_quarantined"], report["duplicates_removed"]) == (
        4,
        3,
        0,
        1,
    )
    # value_missing and value_scaled are made by the gate: their absence from the files is no drift
    assert report["schema_drift"] == []
    warehouse = WarehouseHook()
    rows: list[Any] = warehouse.query(
        f'SELECT id, "at", value, value_missing, value_scaled, site FROM {warehouse.table("fact_sensor")} ORDER BY id'
    )
    utc = dt.UTC
    assert [(r[0], r[1].astimezone(utc), *r[2:]) for r in rows] == [
        # a: the later of its two readings (03:00 Chicago = 09:00 UTC), the empty site filled
        ("a", dt.datetime(2026, 1, 2, 9, tzinfo=utc), 100.0, False, 0.5, "unknown"),
        # b: the missing value flagged, not dropped
        ("b", dt.datetime(2026, 1, 2, 8, tzinfo=utc), None, True, None, "y"),
        # c: an explicit Z is already UTC; 250 scales past 1 (declared bounds, no clipping)
        ("c", dt.datetime(2026, 1, 2, 10, tzinfo=utc), 250.0, False, 1.25, "z"),
    ]
