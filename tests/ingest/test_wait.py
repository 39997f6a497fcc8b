"""Waiting for late files: ``lockgate.operators.wait`` under Airflow's own ``dag.test()``.

``dag.test()`` runs a deferred task's trigger in-process (Airflow 3), so these runs go through the
real defer -> trigger -> resume cycle: a file that appears a few seconds late is picked up, one that
never appears fails with the timeout naming the pattern. Local folders and S3 (moto).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pendulum
import pytest

from lockgate.operators.wait import FilesTrigger, WaitForFilesSensor, matching_files, wait_for_files
from tests.support.dags import use_dags_folder

pytestmark = pytest.mark.integration

DS = "2026-01-02"


@pytest.fixture
def later() -> Iterator[Callable[[float, Callable[[], Any]], None]]:
    """``later(seconds, fn)``: run fn in a thread after a delay (a file arriving late)."""
    threads: list[threading.Thread] = []

    def schedule(delay: float, fn: Callable[[], Any]) -> None:
        thread = threading.Thread(target=lambda: (time.sleep(delay), fn()), daemon=True)
        thread.start()
        threads.append(thread)

    yield schedule
    for thread in threads:
        thread.join(timeout=30)


DAG_FILE = """
import pendulum
from airflow.sdk import DAG
from lockgate.operators.wait import wait_for_files

with DAG(dag_id={dag_id!r}, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False) as dag:
    wait_for_files(
        "wait_for_files", {source!r}, timeout={timeout!r}, poke_interval=0.5, aws_conn_id={conn!r}, retries=0
    )
"""


def run_wait(
    source: str, timeout: float, dags: Path, monkeypatch: pytest.MonkeyPatch, aws_conn_id: str = "aws_default"
) -> tuple[str, dict[str, str]]:
    """dag.test() a one-task DAG waiting for ``source``; the run state and each task's state.

    dag.test() only runs DAGs it finds in the DAGs folder (it serializes them from there), so the
    DAG is written as a file into a folder of its own.
    """
    from airflow.dag_processing.dagbag import DagBag

    dag_id = f"lockgate_wait_{uuid.uuid4().hex[:8]}"
    dags.mkdir(exist_ok=True)
    (dags / f"{dag_id}.py").write_text(DAG_FILE.format(dag_id=dag_id, source=source, timeout=timeout, conn=aws_conn_id))
    use_dags_folder(dags, monkeypatch)
    dag = DagBag(dag_folder=str(dags)).get_dag(dag_id)
    assert dag is not None
    run = dag.test(logical_date=pendulum.parse(DS))
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    return str(run.state), states


def test_a_local_file_arriving_late_is_picked_up(
    airflow_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    later: Callable[[float, Callable[[], Any]], None],
) -> None:
    target = tmp_path / "in" / "readings_2026-01-02.csv"
    target.parent.mkdir()
    later(2.5, lambda: target.write_text("id\n1\n"))
    started = time.monotonic()
    state, tasks = run_wait(str(tmp_path / "in" / "readings_*.csv"), 60, tmp_path / "dags", monkeypatch)
    assert (state, tasks) == ("success", {"wait_for_files": "success"})
    assert target.exists()
    assert time.monotonic() - started >= 2.0  # it really waited for the file (not a timing bound)


def test_an_s3_file_arriving_late_is_picked_up(
    airflow_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    aws_conn_id: str,
    s3_bucket: str,
    later: Callable[[float, Callable[[], Any]], None],
) -> None:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    hook = S3Hook(aws_conn_id=aws_conn_id)
    hook.load_string("ignored", key="in/other_2026-01-02.csv", bucket_name=s3_bucket)
    source = f"s3://{s3_bucket}/in/readings_*.csv"
    # only the other file is there when the wait starts (checked before the late upload is scheduled,
    # so a slow machine cannot turn this into a race)
    assert matching_files(source, aws_conn_id) == []
    later(2.5, lambda: hook.load_string("id\n1\n", key="in/readings_2026-01-02.csv", bucket_name=s3_bucket))
    started = time.monotonic()
    state, tasks = run_wait(source, 60, tmp_path / "dags", monkeypatch, aws_conn_id)
    assert (state, tasks) == ("success", {"wait_for_files": "success"})
    assert time.monotonic() - started >= 2.0  # it really waited for the file (not a timing bound)
    assert matching_files(source, aws_conn_id) == [f"s3://{s3_bucket}/in/readings_2026-01-02.csv"]


def test_a_file_that_never_comes_fails_with_the_timeout_naming_the_pattern(
    airflow_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pattern = str(tmp_path / "never" / "readings_*.csv")
    state, tasks = run_wait(pattern, 2, tmp_path / "dags", monkeypatch)
    assert (state, tasks) == ("failed", {"wait_for_files": "failed"})
    # the task's log (structlog, to stdout under dag.test()) carries the sensor's error
    out = capsys.readouterr().out
    assert f"AirflowSensorTimeout: no source file matched {pattern!r} within the wait timeout of 2 s" in out


def test_the_sensor_messages_and_trigger_round_trip(tmp_path: Path) -> None:
    from airflow.sdk.exceptions import AirflowSensorTimeout

    sensor = wait_for_files("w", str(tmp_path / "*.csv"), timeout=90, poke_interval=5)
    assert isinstance(sensor, WaitForFilesSensor)
    assert (sensor.timeout, sensor.poke_interval, sensor.deferrable, sensor.source) == (
        90,
        5,
        True,
        str(tmp_path / "*.csv"),
    )
    with pytest.raises(AirflowSensorTimeout, match=r"\*\.csv' within the wait timeout of 90 s \(0:01:30\)"):
        sensor.execute_complete({}, {"status": "timeout"})  # type: ignore[arg-type]
    sensor.execute_complete({}, {"status": "found", "files": ["x.csv"]})  # type: ignore[arg-type]
    trigger = FilesTrigger("s3://b/k/*.csv", "aws_x", 5.0, 123.0, 90.0)
    path, kwargs = trigger.serialize()
    assert path == "lockgate.operators.wait.FilesTrigger"
    assert FilesTrigger(**kwargs).serialize() == (path, kwargs)
