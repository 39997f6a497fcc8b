"""The same logical date run three times through the DAG's own operator chain (local lake, real
PostgreSQL): after every run the warehouse holds the same rows (count and content checksum per
table), the audit the same rows, and the lake the same files byte for byte (key -> sha256).

The runs share their run id, as the runs of a cleared DAG run do (a new run id adds its own
``raw/.../run=<id>/`` folder by design; tests/integration/test_pipeline_s3_postgres.py checks that
case). tests/e2e/test_air_quality_daily.py reruns once through dag.test(); this goes to three and
compares the lake too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import psycopg
import pytest

from lockgate.contracts import load_contract
from lockgate.operators.load import AUDIT_TABLE
from lockgate.sample_data import generate
from tests.support.pg import airflow_conn_env
from tests.support.pipeline import TABLES, content_checksum_sql, run_chain

pytestmark = pytest.mark.integration

DS = "2026-01-02"
RUN_ID = "scheduled__2026-01-02T00:00:00+00:00"


def warehouse_state(dsn: str) -> dict[str, Any]:
    state: dict[str, Any] = {}
    with psycopg.connect(dsn) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        for dataset, table in TABLES.items():
            columns = [c.name for c in load_contract(dataset).storage_columns]
            state[table] = conn.execute(content_checksum_sql(f'"public"."{table}"', columns)).fetchone()  # type: ignore[arg-type]
        state[AUDIT_TABLE] = conn.execute(
            "SELECT table_name, partition_ds, dag_id, run_id, dataset, mode, rows_loaded, checksum "  # type: ignore[arg-type]
            f'FROM "public"."{AUDIT_TABLE}" ORDER BY table_name, partition_ds'
        ).fetchall()
    return state


def lake_files(lake: Path) -> dict[str, str]:
    return {
        p.relative_to(lake).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(lake.rglob("*"))
        if p.is_file()
    }


def test_three_runs_of_one_date_leave_the_same_warehouse_and_lake(
    pg_dsn: str, lockgate_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(*airflow_conn_env("lockgate_warehouse", pg_dsn))
    sources = generate(DS, tmp_path / "sources").registry_path.parent.parent
    states, lakes = [], []
    for _ in range(3):
        run = run_chain(str(sources), DS, RUN_ID)
        assert run.results["load_fact_air_quality_hourly"]["rows_loaded"] > 7000
        states.append(warehouse_state(pg_dsn))
        lakes.append(lake_files(lockgate_home / "lake"))

    assert states[0]["fact_air_quality_hourly"][0] == run.results["load_fact_air_quality_hourly"]["rows_loaded"]
    assert [t for t in TABLES.values() if states[0][t][0] == 0] == []
    assert len(states[0][AUDIT_TABLE]) == 3  # one row per table and date, replaced by each rerun
    assert states[1] == states[0]
    assert states[2] == states[0]
    assert {k.split("/")[0] for k in lakes[0]} >= {"raw", "staged", "quarantine", "quality", "curated", "reports"}
    differing = [
        k
        for k in lakes[0].keys() | lakes[1].keys() | lakes[2].keys()
        if not lakes[0].get(k) == lakes[1].get(k) == lakes[2].get(k)
    ]
    assert differing == []
