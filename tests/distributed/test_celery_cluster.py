"""Lockgate distributed on this machine: PostgreSQL metadata, Redis broker, two Celery workers.

The api-server (with the execution API), scheduler, dag-processor and two Celery workers run as
local processes on free ports (see ``cluster.py``). The test triggers ``air_quality_daily`` for
2026-01-02 and a big day (Midsummer Eve) of ``sales_distribution`` over the REST API, then checks from the
metadata database that tasks ran on both workers (the big day's mapped ingest tasks included),
and that the PostgreSQL warehouse the cluster loaded has exactly the content a ``dag.test()`` run
of the same date produces. The DAGs folder also holds a broken pipeline spec: the real
dag-processor must keep every other DAG active and record no import error.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml

from lockgate.contracts import load_contract
from lockgate.sample_sales import generate as generate_sales
from tests.distributed.cluster import WORKERS, CeleryCluster
from tests.support.pg import airflow_conn_env, temporary_database, to_url
from tests.support.pipeline import content_checksum_sql

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("LOCKGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379")
AQ_DAG, AQ_DS = "air_quality_daily", "2026-01-02"
SALES_DAG, BIG_DAY = "sales_distribution", "2026-06-19"  # Midsummer Eve: a big day
AQ_TABLES = {
    "dim_station": "stations",
    "fact_air_quality_hourly": "readings",
    "agg_air_quality_daily": "agg_air_quality_daily",
}
RUN_TIMEOUT = 300.0


def redis_db() -> int:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=3).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis does not answer at {REDIS_URL} ({exc}); .ci/run starts it")
        pytest.skip(f"Redis does not answer at {REDIS_URL}: {exc}")
    return 1 + os.getpid() % 15  # not db 0: other local users; the key prefix keeps tests apart too


def dags_folder(target: Path) -> Path:
    """This repository's DAGs plus one broken pipeline spec, which must hide nothing."""
    shutil.copytree(REPO / "dags", target, ignore=shutil.ignore_patterns("__pycache__"))
    broken = yaml.safe_load((REPO / "dags" / "pipelines" / "sales_distribution.yaml").read_text())
    broken["dag_id"] = "returns_distribution"
    broken["loads"][0]["mode"] = "upsert"
    (target / "pipelines" / "returns_distribution.yaml").write_text(yaml.safe_dump(broken, sort_keys=False))
    return target


@pytest.fixture(scope="module")
def cluster(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CeleryCluster, str]]:
    db = redis_db()
    root = tmp_path_factory.mktemp("celery-cluster")
    with temporary_database(pg_server) as metadata, temporary_database(pg_server) as warehouse:
        name, conn = airflow_conn_env("lockgate_warehouse", warehouse)
        cluster = CeleryCluster(
            home=root / "airflow",
            metadata_url=to_url(metadata, scheme="postgresql+psycopg2"),
            broker_url=f"{REDIS_URL}/{db}",
            dags_folder=dags_folder(root / "dags"),
            extra_env={
                "LOCKGATE_HOME": str(root / "lockgate"),
                name: conn,
                "AIRFLOW__OPENLINEAGE__NAMESPACE": "lockgate-distributed",
                "AIRFLOW__OPENLINEAGE__TRANSPORT": f'{{"type": "file", "log_file_path": "{root}/lineage.jsonl"}}',
            },
        )
        cluster.migrate()
        try:
            cluster.start()
            yield cluster, warehouse
        finally:
            cluster.stop()


@pytest.fixture(scope="module")
def runs(cluster: tuple[CeleryCluster, str]) -> dict[str, str]:
    """Both runs triggered as soon as their DAGs are parsed, so they share the workers."""
    airflow, _ = cluster
    for dag_id in (AQ_DAG, SALES_DAG):
        airflow.wait_for(f"DAG {dag_id}", lambda d=dag_id: airflow.get(f"/api/v2/dags/{d}") is not None, 120)
    return {
        AQ_DAG: airflow.trigger(AQ_DAG, AQ_DS, f"distributed__{AQ_DS}"),
        SALES_DAG: airflow.trigger(SALES_DAG, BIG_DAY, f"distributed__{BIG_DAY}"),
    }


def wait_for_run(airflow: CeleryCluster, dag_id: str, run_id: str) -> str:
    deadline = time.monotonic() + RUN_TIMEOUT
    state = None
    while time.monotonic() < deadline:
        airflow.check_alive()
        state = airflow.run_state(dag_id, run_id)
        if state in ("success", "failed"):
            return state
        time.sleep(2)
    raise AssertionError(f"{dag_id} {run_id} still {state} after {RUN_TIMEOUT:.0f}s\n{airflow.tails()}")


def task_instances(airflow: CeleryCluster, dag_id: str, run_id: str) -> list[tuple[str, int, str, str]]:
    """(task_id, map_index, state, hostname) of a run, from the metadata database."""
    dsn = airflow.metadata_url.replace("+psycopg2", "")
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT task_id, map_index, state, hostname FROM task_instance WHERE dag_id = %s AND run_id = %s "
            "ORDER BY task_id, map_index",
            [dag_id, run_id],
        ).fetchall()
    return [(str(t), int(m), str(s), str(h)) for t, m, s, h in rows]


def checksums(dsn: str) -> dict[str, tuple[int, str]]:
    found = {}
    with psycopg.connect(dsn) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        for table, dataset in AQ_TABLES.items():
            columns = [c.name for c in load_contract(dataset).storage_columns]
            count, digest = conn.execute(content_checksum_sql(f'"public"."{table}"', columns)).fetchone()
            found[table] = (int(count), str(digest))
    return found


def test_a_broken_spec_keeps_the_others_active_in_the_real_dag_processor(
    cluster: tuple[CeleryCluster, str], runs: dict[str, str]
) -> None:
    airflow, _ = cluster
    airflow.wait_for("the stand-in", lambda: airflow.get("/api/v2/dags/returns_distribution") is not None, 60)
    assert airflow.get("/api/v2/importErrors")["total_entries"] == 0
    for dag_id in (AQ_DAG, SALES_DAG):
        dag = airflow.get(f"/api/v2/dags/{dag_id}")
        assert dag["is_stale"] is False
    stand_in = airflow.get("/api/v2/dags/returns_distribution")
    assert stand_in["is_paused"] is True
    assert "broken-spec" in {t["name"] for t in stand_in["tags"]}
    details = airflow.get("/api/v2/dags/returns_distribution/details")
    assert "loads.0.mode: 'upsert' is not one of" in details["doc_md"]


def test_air_quality_daily_runs_on_both_workers_and_loads_what_dag_test_loads(
    cluster: tuple[CeleryCluster, str],
    runs: dict[str, str],
    pg_dsn: str,
    lockgate_home: Path,
    airflow_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    airflow, warehouse = cluster
    # the reference, while the cluster works: dag.test() of the same date into another warehouse
    from lockgate.cli import run_dag

    monkeypatch.setenv(*airflow_conn_env("lockgate_warehouse", pg_dsn))
    assert run_dag(AQ_DAG, AQ_DS) == "success"
    reference = checksums(pg_dsn)

    assert wait_for_run(airflow, AQ_DAG, runs[AQ_DAG]) == "success"
    tis = task_instances(airflow, AQ_DAG, runs[AQ_DAG])
    assert {state for _, _, state, _ in tis} == {"success"}
    hosts = {host for _, _, _, host in tis}
    assert hosts == set(WORKERS), tis  # every task ran on one of the two workers, and both worked

    distributed = checksums(warehouse)
    assert distributed == reference
    assert distributed["dim_station"][0] == 50
    assert distributed["fact_air_quality_hourly"][0] > 7000


def test_a_big_day_fans_out_over_both_workers(
    cluster: tuple[CeleryCluster, str], runs: dict[str, str], tmp_path: Path
) -> None:
    airflow, warehouse = cluster
    batch = generate_sales(BIG_DAY, tmp_path / "expected")
    assert wait_for_run(airflow, SALES_DAG, runs[SALES_DAG]) == "success"
    tis = task_instances(airflow, SALES_DAG, runs[SALES_DAG])
    ingests = [(m, host) for task, m, state, host in tis if task == "ingest_pos" and state == "success"]
    assert sorted(m for m, _ in ingests) == list(range(len(batch.files)))  # one mapped task per file
    assert {host for _, host in ingests} == set(WORKERS)
    with psycopg.connect(warehouse) as conn:
        ledger = conn.execute("SELECT count(*) FROM fact_sales_ledger WHERE ds = %s", [BIG_DAY]).fetchone()[0]
        movements = conn.execute("SELECT count(*) FROM fact_inventory_movements WHERE ds = %s", [BIG_DAY]).fetchone()[0]
    assert (ledger, movements) == (batch.accounting_loaded, batch.supply_loaded)
