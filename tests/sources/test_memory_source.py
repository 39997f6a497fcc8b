"""In-memory data handed from an upstream task to an ingestion, through Airflow's own ``dag.test()``.

One upstream @task builds a pandas DataFrame, another a pyarrow Table; each hands it over with
``lockgate.sources.memory.hand_over`` (a small reference in XCom, the data in the lake). The
ingestion tasks land them like any other source and the quality gate reads them from the raw zone.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pendulum
import pytest

from lockgate.hooks.lake import LakeHook
from lockgate.layout import MANIFEST, raw_prefix
from lockgate.sources.memory import ArrowSource
from tests.support.dags import load_bundled_dag_file

pytestmark = pytest.mark.integration

DS = "2026-01-02"
SCORES: dict[str, Any] = {
    "dataset": "scores",
    "columns": {
        "station_id": {"type": "string", "nullable": False},
        "score": {"type": "double", "nullable": False},
        "observed_at": {"type": "timestamp", "nullable": False},
    },
    "primary_key": ["station_id", "observed_at"],
}
DAG_FILE = '''
"""Test DAG: upstream tasks hand a pandas DataFrame and an Arrow table to two ingestions."""
import pendulum
from airflow.sdk import DAG, task

from lockgate.operators.ingest import IngestOperator
from lockgate.operators.quality import QualityGateOperator
from lockgate.sources.memory import ArrowSource, hand_over

STATIONS = [f"ST-{i:03d}" for i in range(1, 41)]


def frame():
    import pandas as pd

    return pd.DataFrame(
        {
            "station_id": STATIONS[:25],
            "score": [i / 4 for i in range(25)],
            "observed_at": pd.date_range("2026-01-02", periods=25, freq="h", tz="UTC"),
        },
        index=range(100, 125),  # a non-default index is not data: it must not land as a column
    )


def arrow_table():
    import pyarrow as pa

    return pa.table(
        {
            "station_id": STATIONS[25:],
            "score": pa.array([float(i) for i in range(15)]),
            "observed_at": pa.array(
                [pendulum.datetime(2026, 1, 2, i, tz="UTC") for i in range(15)], pa.timestamp("us", tz="UTC")
            ),
        }
    )


with DAG(dag_id="DAG_ID", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False) as dag:

    @task
    def make_frame(**context):
        return hand_over(frame(), context)

    @task
    def make_table(**context):
        return hand_over(arrow_table(), context)

    ingest_frame = IngestOperator(
        task_id="ingest_frame", dataset="scores", source=ArrowSource(from_task="make_frame", name="frame")
    )
    ingest_table = IngestOperator(
        task_id="ingest_table", dataset="scores", source=ArrowSource(from_task="make_table", name="table")
    )
    gate = QualityGateOperator(task_id="gate_scores", dataset="scores")
    make_frame() >> ingest_frame >> gate
    make_table() >> ingest_table >> gate
'''


@pytest.fixture
def memory_dag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The module of the DAG file above, in a DAG bundle of its own."""
    return load_bundled_dag_file(tmp_path, monkeypatch, DAG_FILE, "lockgate_memory")


def test_pandas_and_arrow_from_upstream_tasks_are_ingested_and_gated(
    airflow_home: Path, lockgate_home: Path, contracts: Callable[[dict[str, Any]], Path], memory_dag: Any
) -> None:
    contracts(SCORES)
    dag = memory_dag.dag
    run = dag.test(logical_date=pendulum.parse(DS))
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states == dict.fromkeys(
        ["make_frame", "make_table", "ingest_frame", "ingest_table", "gate_scores"], "success"
    ), states

    import pyarrow.parquet as pq

    lake = LakeHook()
    prefix = raw_prefix("scores", DS, str(run.run_id))
    landed = {}
    for source_name, expected in (("ingest_frame", memory_dag.frame()), ("ingest_table", memory_dag.arrow_table())):
        manifest = lake.read_json(f"{prefix}/{source_name}/{MANIFEST}")
        (entry,) = manifest["files"]
        table = pq.read_table(lake.local_copy(entry["key"], lockgate_home / "x"))
        landed[source_name] = table
        # rows handed over = rows in the manifest = rows landed, and the data as produced
        assert manifest["rows"] == entry["rows"] == table.num_rows == len(expected)
        assert manifest["source_kind"] == "memory"
        assert manifest["drift"] == {"files": 0, "added": [], "missing": [], "retyped": []}
        assert entry["handoff"].startswith(f"handoff/{dag.dag_id}/ds={DS}/")
        assert table.column_names == ["station_id", "score", "observed_at"]
    assert landed["ingest_frame"].column("station_id").to_pylist() == memory_dag.STATIONS[:25]
    assert landed["ingest_frame"].column("score").to_pylist() == [i / 4 for i in range(25)]
    assert landed["ingest_table"].equals(memory_dag.arrow_table())

    # after landing they are treated like any other source: the gate read both, every row passed
    report = lake.read_json(f"quality/scores/ds={DS}/report.json")
    assert report["rows_in"] == 40
    assert report["rows_passed"] == 40


def test_a_missing_reference_is_a_clear_error(lockgate_home: Path) -> None:
    from types import SimpleNamespace

    from airflow.sdk.exceptions import AirflowFailException

    from lockgate.operators.ingest import IngestOperator

    ti = SimpleNamespace(xcom_pull=lambda task_ids, key: None)
    op = IngestOperator(task_id="ingest", dataset="scores", source=ArrowSource(from_task="make_frame"))
    with pytest.raises(
        AirflowFailException, match=r"memory:make_frame: expected a hand-over reference .* got NoneType"
    ):
        op.execute({"ds": DS, "run_id": "manual__x", "dag": SimpleNamespace(dag_id="t"), "ti": ti})
