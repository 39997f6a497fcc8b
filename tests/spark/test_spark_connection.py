"""``engine: spark``: the operator argument, and which Spark a connection names, its token never shown.

No JVM here: these resolve connections and build operators only.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from lockgate.spark_engine import ENGINES, checked_engine
from lockgate.spark_engine.connection import spark_target, task_cpus

TOKEN = "sparktoken-7f3a9c1e55"


def test_no_connection_is_local_mode_with_the_tasks_cpus() -> None:
    target = spark_target("lockgate_spark_nowhere")
    assert (target.url, target.remote, target.shown) == (f"local[{task_cpus()}]", False, f"local[{task_cpus()}]")
    assert spark_target(None).url == f"local[{task_cpus()}]"


def test_a_local_master_and_a_classic_master(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_LOCAL", json.dumps({"conn_type": "spark", "host": "local[3]"}))
    monkeypatch.setenv(
        "AIRFLOW_CONN_SPARK_STANDALONE",
        json.dumps({"conn_type": "spark", "host": "spark://master", "port": 7077, "extra": {"conf": {"a.b": 1}}}),
    )
    assert spark_target("spark_local").url == "local[3]"
    standalone = spark_target("spark_standalone")
    assert (standalone.url, standalone.remote, standalone.conf) == ("spark://master:7077", False, {"a.b": "1"})


def test_spark_connect_url_carries_the_token_and_nothing_shows_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    conn = {"conn_type": "spark", "host": "sc://spark.internal", "login": "etl", "password": TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_CONNECT", json.dumps({**conn, "extra": {"use_ssl": True}}))
    target = spark_target("spark_connect")
    assert target.remote
    assert target.url == f"sc://spark.internal:15002/;user_id=etl;use_ssl=true;token={TOKEN}"
    assert target.shown == "sc://spark.internal:15002/;user_id=etl;use_ssl=true;token=***"
    assert TOKEN not in repr(target)
    assert TOKEN not in str([target])
    # the token is registered with Airflow's masker: a log line that prints the URL shows ***
    from airflow.sdk._shared.secrets_masker import redact

    assert TOKEN not in str(redact(target.url))
    assert "***" in str(redact(target.url))


def test_a_host_without_scheme_and_the_token_in_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "spark_connect", "host": "spark.internal", "port": 443, "extra": {"token": TOKEN}}
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_CONNECT2", json.dumps(conn))
    target = spark_target("spark_connect2")
    assert target.url == f"sc://spark.internal:443/;token={TOKEN}"
    assert target.shown == "sc://spark.internal:443/;token=***"


def test_the_engine_argument_is_checked_when_the_dag_is_parsed() -> None:
    from lockgate.operators.partition import PartitionOperator
    from lockgate.operators.quality import QualityGateOperator

    assert ENGINES == ("duckdb", "spark")
    assert checked_engine("spark") == "spark"
    gate = QualityGateOperator(task_id="g", dataset="readings", engine="spark", spark_conn_id="my_spark")
    assert (gate.engine, gate.spark_conn_id) == ("spark", "my_spark")
    assert QualityGateOperator(task_id="g2", dataset="readings").engine == "duckdb"
    assert PartitionOperator(task_id="p", dataset="readings", engine="spark").engine == "spark"
    for make in (QualityGateOperator, PartitionOperator):
        with pytest.raises(ValueError, match="engine must be one of duckdb, spark, not 'spork'"):
            make(task_id="x", dataset="readings", engine="spork")


def test_logging_the_target_never_prints_the_token(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    conn = {"conn_type": "spark", "host": "sc://spark.internal", "password": TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_CONNECT3", json.dumps(conn))
    target = spark_target("spark_connect3")
    with caplog.at_level(logging.INFO):
        logging.getLogger("lockgate.test").info("gate on Spark %s (%r)", target.shown, target)
    assert TOKEN not in caplog.text
    assert "token=***" in caplog.text


def test_what_the_spark_gate_does_not_run_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    """Work the Spark engine would answer differently (or not at all) stops the task, loudly."""
    from airflow.sdk.exceptions import AirflowFailException

    from lockgate.contracts import load_contract
    from lockgate.gate import RawFile
    from lockgate.spark_engine.gate import run_gate_on_spark

    contract = load_contract("readings")
    sliced = RawFile("raw/a.csv", tmp_path / "a.csv", "csv", 1, slice_by="observed_at")
    refused = r"readings: the quality gate on Spark \(local\[\d+\]\) does not run"
    with pytest.raises(AirflowFailException, match=refused):
        run_gate_on_spark(contract, [sliced], ds="2026-01-02", workdir=tmp_path / "w", spark_conn_id="nowhere")
    scale = {"scale": {"value": {"min": 0, "max": 1, "into": "value"}}}
    with pytest.raises(AirflowFailException, match="preprocessing step"):
        run_gate_on_spark(contract, [], ds="2026-01-02", workdir=tmp_path / "w", preprocess=scale, spark_conn_id="x")
    assert list(tmp_path.iterdir()) == []


def test_the_pipeline_key_reaches_the_gate_and_the_partition(tmp_path: Path) -> None:
    """``datasets.<name>.engine`` and ``connections.spark`` in a pipeline YAML -> the operators' arguments."""
    import yaml

    from lockgate.pipelines.factory import build_dag
    from lockgate.pipelines.spec import PipelineSpecError, load_spec

    sales = Path(__file__).resolve().parents[2] / "dags" / "pipelines" / "sales_distribution.yaml"
    raw = yaml.safe_load(sales.read_text())
    name = next(iter(raw["datasets"]))
    raw["datasets"][name] = {**(raw["datasets"][name] or {}), "engine": "spark"}
    raw.setdefault("connections", {})["spark"] = "team_spark"
    path = tmp_path / "sales_on_spark.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    spec = load_spec(path)
    assert spec.datasets[name].engine == "spark"
    assert spec.spark_conn_id == "team_spark"
    dag = build_dag(spec)
    gate = dag.get_task(f"gate_{name}")
    assert (gate.engine, gate.spark_conn_id) == ("spark", "team_spark")
    others = [t for t in dag.tasks if t.task_id.startswith("gate_") and t.task_id != f"gate_{name}"]
    assert all(t.engine == "duckdb" for t in others)
    partition = [t for t in dag.tasks if t.task_id == f"partition_{name}"]
    assert all((t.engine, t.spark_conn_id) == ("spark", "team_spark") for t in partition)

    raw["datasets"][name]["engine"] = "spork"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(PipelineSpecError, match="engine"):
        load_spec(path)


def test_a_spark_connect_server_that_is_not_there_fails_the_task_at_once_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pyspark's client retries a closed port for many minutes; the task fails in seconds instead,
    naming the server without its token."""
    import time

    from airflow.sdk.exceptions import AirflowException

    from lockgate.spark_engine.connection import spark_session
    from tests.support.net import free_port

    port = free_port()  # nothing listens on it
    conn = {"conn_type": "spark", "host": "sc://localhost", "port": port, "password": TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_GONE", json.dumps(conn))
    target = spark_target("spark_gone")
    started = time.monotonic()
    with pytest.raises(AirflowException) as failed:
        spark_session(target)
    assert time.monotonic() - started < 10
    message = str(failed.value)
    assert f"sc://localhost:{port}/;token=***" in message
    assert "ConnectionRefusedError" in message
    assert TOKEN not in message
