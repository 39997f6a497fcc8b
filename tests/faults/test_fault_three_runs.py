"""The same logical date run three times through the DAG's own operator chain (local lake, real
PostgreSQL): after every run the warehouse holds the same rows (count and content checksum per
table), the audit the same rows, and the lake the same files byte for byte (key -> sha256) in every
zone of files; the curated zone is an Iceberg table per dataset, so there each run is exactly one
new snapshot whose rows for the date equal the first run's (the older snapshots' files stay for time
travel until retention expires them).

The runs share their run id, as the runs of a cleared DAG run do (a new run id adds its own
``raw/.../run=<id>/`` folder by design; tests/integration/test_pipeline_s3_postgres.py checks that
case). tests/e2e/test_air_quality_daily.py reruns once through dag.test(); this goes to three and
compares the lake too.
"""

from __future__ import annotations

import hashlib
import json
import re
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


#: what legitimately differs between reruns: when a run loaded and wrote its summary, and the curated
#: snapshot (a new one per rerun) a SQL model read its inputs from
RUN_TIMES = ("loaded_at", "written_at")
SNAPSHOT_ID = re.compile(r"snapshot \d+")


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in RUN_TIMES}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return SNAPSHOT_ID.sub("snapshot <id>", value) if isinstance(value, str) else value


def lake_files(lake: Path) -> dict[str, str]:
    """Every file of the zones that hold files (raw, staged, quarantine, quality, reports): key -> sha256
    (of a JSON file: its content without the run's times and snapshot ids)."""
    files = {}
    for p in sorted(lake.rglob("*")):
        key = p.relative_to(lake).as_posix()
        # the data-health index is a cache keyed by each document's mtime (lockgate.health_index)
        if not p.is_file() or key.startswith("curated/") or "/_index/" in key:
            continue
        data = p.read_bytes()
        if p.suffix == ".json":
            data = json.dumps(_stable(json.loads(data)), sort_keys=True).encode()
        files[key] = hashlib.sha256(data).hexdigest()
    return files


def curated_state() -> dict[str, tuple[int, list[tuple[Any, ...]]]]:
    """Per curated table: its number of snapshots and its current rows of the date, sorted."""
    from lockgate.hooks.iceberg import CatalogHook

    hook = CatalogHook()
    state = {}
    for dataset in TABLES:
        rows = hook.read_date(dataset, DS).read_all().to_pylist()
        state[dataset] = (
            len(hook.table(dataset).snapshots()),
            sorted((tuple(sorted(r.items())) for r in rows), key=repr),
        )
    return state


def test_three_runs_of_one_date_leave_the_same_warehouse_and_lake(
    pg_dsn: str, lockgate_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(*airflow_conn_env("lockgate_warehouse", pg_dsn))
    sources = generate(DS, tmp_path / "sources").registry_path.parent.parent
    states, lakes, curated = [], [], []
    for _ in range(3):
        run = run_chain(str(sources), DS, RUN_ID)
        assert run.results["load_fact_air_quality_hourly"]["rows_loaded"] > 7000
        states.append(warehouse_state(pg_dsn))
        lakes.append(lake_files(lockgate_home / "lake"))
        curated.append(curated_state())

    assert states[0]["fact_air_quality_hourly"][0] == run.results["load_fact_air_quality_hourly"]["rows_loaded"]
    assert [t for t in TABLES.values() if states[0][t][0] == 0] == []
    assert len(states[0][AUDIT_TABLE]) == 3  # one row per table and date, replaced by each rerun
    assert states[1] == states[0]
    assert states[2] == states[0]
    assert {k.split("/")[0] for k in lakes[0]} >= {"raw", "staged", "quarantine", "quality", "reports"}
    for dataset in TABLES:
        snapshots = [c[dataset][0] for c in curated]
        assert snapshots == [snapshots[0], snapshots[0] + 1, snapshots[0] + 2]  # one snapshot per rerun
        assert curated[0][dataset][1]  # the date has rows
        assert curated[1][dataset][1] == curated[0][dataset][1] == curated[2][dataset][1]
    differing = [
        k
        for k in lakes[0].keys() | lakes[1].keys() | lakes[2].keys()
        if not lakes[0].get(k) == lakes[1].get(k) == lakes[2].get(k)
    ]
    assert differing == []
