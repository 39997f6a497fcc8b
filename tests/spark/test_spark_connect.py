"""The gate and partition on a Spark Connect server named by an Airflow connection with a token.

A real Spark Connect server (pyspark's own ``SparkConnectServer``, ``local[2]``, on a free loopback
port) is started once for the module, with token authentication
(``SPARK_CONNECT_AUTHENTICATE_TOKEN`` in the server's environment only: pyspark's client would take
that variable as its token too, and the token must come from the connection). Airflow's own
``dag.test()`` runs the flagship sample day (gateway NDJSON and partner CSV) through ingest, the
quality gate and the partition step twice: on DuckDB, and on Spark through the connection
``sc://localhost:<port>`` with the token as its password. The outputs must be the same, and the
token (and its URL-quoted form) must appear nowhere: task logs, XComs, OpenLineage events, the lake
(report, staged, quarantine and curated files, Iceberg metadata) and the server's log.

The host is ``localhost``, not ``127.0.0.1``: pyspark sends a token over TLS to any other host (and
this server speaks plaintext), and over gRPC's local credentials to ``localhost`` only.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pendulum
import pytest

from lockgate import sample_data
from lockgate.hooks.lake import LakeHook
from lockgate.layout import raw_prefix, zone_prefix
from tests.spark.conftest import JAVA_HOW, java_major
from tests.support.dags import load_bundled_dag_file
from tests.support.net import free_port
from tests.support.requires import unavailable

pytestmark = pytest.mark.integration

DS = "2026-01-02"
CONN_ID = "lockgate_test_connect"
#: characters URL quoting changes (``/``, ``+``, ``=``): the quoted form is a second string to look for
TOKEN = f"lg/{secrets.token_hex(12)}+tok=en"
SHOWN_TOKEN = "token=***"
SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
#: the server's log line once it takes requests (``SparkConnectServer``)
STARTED = "Spark Connect server started at: 127.0.0.1:{port}"
DAG_FILE = '''
"""Test DAGs: the flagship sample day ingested, gated and partitioned, one DAG per engine."""
import pendulum
from airflow.sdk import DAG

from lockgate.operators.ingest import IngestOperator
from lockgate.operators.partition import PartitionOperator
from lockgate.operators.quality import QualityGateOperator

PREPROCESS = PREPROCESS_VALUE


def readings(dag_id, engine):
    start = pendulum.datetime(2026, 1, 1, tz="UTC")
    with DAG(dag_id=dag_id, schedule=None, start_date=start, catchup=False) as dag:
        gateway = IngestOperator(
            task_id="ingest_gateway", dataset="readings", source="GATEWAY_FILE", format="ndjson"
        )
        partner = IngestOperator(
            task_id="ingest_partner",
            dataset="readings",
            source="PARTNER_FILE",
            format="csv",
            source_timezone="America/Chicago",
        )
        spark = {"engine": engine, "spark_conn_id": "CONN_ID"}
        gate = QualityGateOperator(task_id="gate_readings", dataset="readings", preprocess=PREPROCESS, **spark)
        partition = PartitionOperator(task_id="partition_readings", dataset="readings", **spark)
        [gateway, partner] >> gate >> partition
    return dag


duckdb_dag = readings("DAG_ID_duckdb", "duckdb")
spark_dag = readings("DAG_ID_spark", "spark")
'''


@dataclass
class ConnectServer:
    """A Spark Connect server process on ``127.0.0.1:port``, its output in ``log``."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def wait_ready(self, timeout: float = 240.0) -> None:
        """Block until the server says it takes requests; fail with its log if it exits or hangs."""
        started = STARTED.format(port=self.port)
        deadline = time.monotonic() + timeout
        while started not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])
                pytest.fail(f"the Spark Connect server did not start (exit {self.process.poll()}):\n{tail}")
            time.sleep(0.25)

    def stop(self) -> None:
        """SIGTERM (the server stops its SparkContext), then wait for the process to be gone."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


def server_command(port: int) -> list[str]:
    """pyspark's ``spark-submit`` running the Spark Connect server on ``127.0.0.1:port`` (no UI)."""
    from pyspark.find_spark_home import _find_spark_home

    settings = {
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.connect.grpc.port.maxRetries": "0",  # another port than the connection's: fail, loudly
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "2",
    }
    conf = [arg for key, value in settings.items() for arg in ("--conf", f"{key}={value}")]
    submit = os.path.join(_find_spark_home(), "bin", "spark-submit")
    head = [submit, "--class", SERVER_CLASS, "--name", "lockgate-connect-test", "--master", "local[2]"]
    return [*head, "--driver-memory", "512m", *conf]


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConnectServer]:
    """A Spark Connect server with token authentication, started (not yet waited for) for the module."""
    if importlib.util.find_spec("pyspark") is None:
        unavailable("pyspark is not installed", "uv sync (the dev group has the spark extra)")
    major = java_major()
    if major is None or major < 17:
        unavailable(f"Spark needs Java 17 or newer (found: {major or 'no java on PATH'})", JAVA_HOW)
    port = free_port()
    log = tmp_path_factory.mktemp("connect") / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_REMOTE", "SPARK_CONNECT"))}
    # the token reaches the server through its environment, never its command line (``ps`` shows that)
    env.update(SPARK_CONNECT_AUTHENTICATE_TOKEN=TOKEN, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable)
    with log.open("wb") as out:
        process = subprocess.Popen(
            server_command(port), env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    server = ConnectServer(process, port, log)
    try:
        yield server
    finally:
        _stop_connect_sessions()
        server.stop()


def _stop_connect_sessions() -> None:
    """End this process's Spark Connect session (the tasks opened it and leave it for the next)."""
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    session = ConnectSession.getActiveSession() or ConnectSession._get_default_session()
    if session is not None:
        session.stop()


@pytest.fixture
def dags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The two DAGs of :data:`DAG_FILE` over the flagship sample day, in a DAG bundle of their own."""
    from tests.unit.test_gate import PREPROCESS

    batch = sample_data.generate(DS, tmp_path / "sources")
    source = (
        DAG_FILE.replace("PREPROCESS_VALUE", repr(PREPROCESS))
        .replace("GATEWAY_FILE", str(batch.gateway_path))
        .replace("PARTNER_FILE", str(batch.partner_path))
        .replace("CONN_ID", CONN_ID)
    )
    return load_bundled_dag_file(tmp_path, monkeypatch, source, "lockgate_connect")


@dataclass
class Run:
    """One engine's run: its outputs in the lake, what its tasks returned and its Airflow ids."""

    home: Path
    dag_id: str
    run_id: str
    xcoms: dict[tuple[str, str], Any]


def run_pipeline(dag: Any, home: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """``dag.test()`` of one engine's DAG into lake ``home``; every task must succeed."""
    home.mkdir()
    monkeypatch.setenv("LOCKGATE_HOME", str(home))
    run = dag.test(logical_date=pendulum.parse(DS))
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert set(states.values()) == {"success"}, states
    return Run(home, dag.dag_id, str(run.run_id), all_xcoms(dag.dag_id, str(run.run_id)))


def all_xcoms(dag_id: str, run_id: str) -> dict[tuple[str, str], Any]:
    """Every XCom the run's tasks pushed, by (task, key), from the metadata database."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter(XComModel.dag_id == dag_id, XComModel.run_id == run_id).all()
        return {(row.task_id, row.key): row.value for row in rows}


def outputs(run: Run, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The gate's report, staged and quarantine rows, and the partition step's result, with the run's
    raw folder (``run=<run id>``, in every file key) written as ``run=R``: the runs' ids differ."""
    import pyarrow.parquet as pq

    monkeypatch.setenv("LOCKGATE_HOME", str(run.home))
    lake = LakeHook()
    report = lake.read_json(f"{zone_prefix('quality', 'readings', DS)}/report.json")
    for check in report["checks"]:  # the engine that evaluated each check is the one difference
        check["engine"] = {"spark": "duckdb"}.get(check["engine"], check["engine"])
    staged = pq.read_table(lake.local_copy(f"{zone_prefix('staged', 'readings', DS)}/part-0.parquet", run.home / "o"))
    quarantine_key = f"{zone_prefix('quarantine', 'readings', DS)}/quarantine.parquet"
    quarantine = pq.read_table(lake.local_copy(quarantine_key, run.home / "o"))
    partition = run.xcoms[("partition_readings", "return_value")]
    found = {
        "report": report,
        "staged": staged.to_pylist(),
        "staged schema": columns(staged),
        "quarantine": quarantine.to_pylist(),
        "quarantine schema": columns(quarantine),
        # the date's Iceberg snapshot: its rows and their checksum (the number of files may differ)
        "partition": {k: partition[k] for k in ("rows", "checksum")},
    }
    return renamed(found, raw_prefix("readings", DS, run.run_id), raw_prefix("readings", DS, "R"))


def columns(table: Any) -> list[tuple[str, str]]:
    """Names and types (DuckDB marks a column required or not by how its plan derived it: not an
    answer, see ``test_spark_gate_parity.loose``)."""
    return [(field.name, str(field.type)) for field in table.schema]


def renamed(value: Any, old: str, new: str) -> Any:
    """``value`` with ``old`` replaced by ``new`` in every string it holds."""
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {renamed(k, old, new): renamed(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [renamed(v, old, new) for v in value]
    return value


def refused(port: int) -> str:
    """The error of a session on the server without a token (its message)."""
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    session = ConnectSession(connection=f"sc://localhost:{port}")  # neither default nor active
    try:
        session.range(1).collect()
    except Exception as exc:  # pyspark's gRPC error
        return str(exc)
    finally:
        session.stop()
    return "no error"


def files_under(*folders: Path) -> Iterator[Path]:
    """Every file under ``folders``: the lake (report, staged, quarantine, curated files, Iceberg
    metadata) and Airflow's home (task log files, the metadata database with XComs and rendered fields).
    A Parquet file's key-value metadata is plain bytes in its footer: the scan covers it. Its data
    cannot hold the token: it equals the DuckDB run's, which never saw it."""
    for folder in folders:
        yield from (path for path in sorted(folder.rglob("*")) if path.is_file())


def test_the_gate_and_partition_on_spark_connect_answer_as_duckdb_and_never_show_the_token(
    connect_server: ConnectServer,
    dags: Any,
    airflow_home: Path,
    lineage_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # the client must find the token in the connection only
    for name in ("SPARK_CONNECT_AUTHENTICATE_TOKEN", "SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    connection = {"conn_type": "spark", "host": "sc://localhost", "port": connect_server.port, "password": TOKEN}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(connection))
    caplog.set_level(logging.INFO)

    duck = run_pipeline(dags.duckdb_dag, tmp_path / "duckdb", monkeypatch)  # while the server starts
    connect_server.wait_ready()
    spark = run_pipeline(dags.spark_dag, tmp_path / "spark", monkeypatch)

    # (a) the same answers
    expected, got = outputs(duck, monkeypatch), outputs(spark, monkeypatch)
    assert expected["report"]["rows_quarantined"] > 0
    assert expected["report"]["duplicates_removed"] > 0
    assert got == expected

    # (b) the token, plain or URL-quoted, nowhere
    printed = capfd.readouterr()
    secrets_ = (TOKEN, quote(TOKEN, safe=""))
    lineage = lineage_file.read_text()
    places = {
        "task logs (logging)": caplog.text,
        "task logs (stdout/stderr)": printed.out + printed.err,
        "XComs": json.dumps({f"{t}/{k}": v for (t, k), v in spark.xcoms.items()}, default=str),
        "OpenLineage events": lineage,
        "Spark Connect server log": connect_server.log.read_text(errors="replace"),
        **{f"file {path}": path.read_bytes().decode("latin-1") for path in files_under(spark.home, airflow_home)},
    }
    for where, text in places.items():
        for secret in secrets_:
            assert secret not in text, f"the Spark connection's token is in the {where}"
    # the checks looked where the secret would have been: the tasks logged their Spark, token masked
    shown = f"on Spark sc://localhost:{connect_server.port}/;{SHOWN_TOKEN}"
    assert f"gate readings ds={DS} {shown}" in printed.out + printed.err
    assert f"partition readings {shown}" in printed.out + printed.err
    assert f'"{spark.dag_id}.gate_readings"' in lineage
    assert f'"{spark.dag_id}.partition_readings"' in lineage
    assert ("gate_readings", "return_value") in spark.xcoms

    # the token did the authenticating: without it the server refuses
    refused_session = refused(connect_server.port)
    assert "UNAUTHENTICATED" in refused_session, refused_session
    # the Connect session left the process as it was: with this variable set, pyspark would build
    # every later session of the process as a Spark Connect one (a local master fails)
    assert os.environ.get("SPARK_CONNECT_MODE_ENABLED") is None  # (not `in os.environ`: its repr has the token)
