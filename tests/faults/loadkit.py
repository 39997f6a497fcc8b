"""Helpers of the fault tests: readings published to the curated zone, a load, the warehouse's state.

The data goes through the real PartitionOperator (staged Parquet -> curated partitions + manifest)
and the real WarehouseLoadOperator; the state is read back with psycopg, outside Lockgate.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg

from lockgate.contracts import load_contract
from lockgate.hooks.lake import LakeHook
from lockgate.operators.load import AUDIT_TABLE, WarehouseLoadOperator
from lockgate.operators.partition import PartitionOperator
from tests.support.pipeline import content_checksum_sql

REPO = Path(__file__).resolve().parents[2]
TABLE = "fact_readings"
DS = "2026-01-02"
#: runs one load in a process of its own (so that the test can kill it)
LOAD_SCRIPT = "import sys\nfrom tests.faults.loadkit import load\nload(sys.argv[1], sys.argv[2])\n"


def context(ds: str, run_id: str) -> dict[str, Any]:
    return {"ds": ds, "run_id": run_id, "dag": SimpleNamespace(dag_id="faults"), "ti": None}


def publish(ds: str, rows: int, version: int, workdir: Path) -> None:
    """``rows`` readings for ``ds`` (values depend on ``version``), staged then partitioned for real."""
    import duckdb

    staged = workdir / f"staged-{ds}-{rows}-{version}.parquet"
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        # keys are unique: 1000 stations x 6 pollutants per second of the day
        con.execute(
            f"""COPY (SELECT 'ST-' || lpad(CAST(i % 1000 AS VARCHAR), 3, '0') AS station_id,
                       ['north', 'south', 'east', 'west', 'central'][i % 5 + 1] AS region,
                       CAST($1 AS TIMESTAMPTZ) + to_seconds(CAST(i // 6000 AS BIGINT)) AS observed_at,
                       ['pm25', 'pm10', 'o3', 'co', 'so2', 'no2'][(i // 1000) % 6 + 1] AS pollutant,
                       round((i % 997) * 0.1 + $2, 3) AS value,
                       'ug/m3' AS unit,
                       CAST($1 AS DATE) AS ds
                FROM range({int(rows)}) AS t(i))
               TO '{staged}' (FORMAT parquet)""",
            [ds, float(version)],
        )
    finally:
        con.close()
    LakeHook().put_file(staged, f"staged/readings/ds={ds}/part-0.parquet")
    PartitionOperator(task_id="partition_readings", dataset="readings").execute(context(ds, "publish"))


def operator() -> WarehouseLoadOperator:
    return WarehouseLoadOperator(task_id="load_fact", dataset="readings", table=TABLE, mode="replace_partition")


def load(ds: str, run_id: str) -> dict[str, Any]:
    return operator().execute(context(ds, run_id))  # type: ignore[arg-type]


def start_load_process(ds: str, run_id: str, log: Path) -> subprocess.Popen[bytes]:
    """The same load in a child process (the environment - connections, $LOCKGATE_HOME - inherited)."""
    out = log.open("wb")
    return subprocess.Popen(
        [sys.executable, "-c", LOAD_SCRIPT, ds, run_id], cwd=REPO, env=os.environ.copy(), stdout=out, stderr=out
    )


def table_state(dsn: str) -> tuple[int, str]:
    """Row count and md5 of every row of the table, in key order."""
    columns = [c.name for c in load_contract("readings").storage_columns]
    with psycopg.connect(dsn) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        row = conn.execute(content_checksum_sql(f'"public"."{TABLE}"', columns)).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return int(row[0]), str(row[1])


def audit_rows(dsn: str) -> list[tuple[Any, ...]]:
    """The audit table without ``loaded_at`` (the clock)."""
    with psycopg.connect(dsn) as conn:
        return [
            tuple(r)
            for r in conn.execute(
                "SELECT table_name, partition_ds, dag_id, run_id, dataset, mode, rows_loaded, checksum "  # type: ignore[arg-type]
                f'FROM "public"."{AUDIT_TABLE}" ORDER BY table_name, partition_ds'
            ).fetchall()
        ]


def leftovers(dsn: str) -> list[str]:
    """Relations a load may create besides the table, its date partitions and the audit table."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT n.nspname || '.' || c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND c.relname NOT IN (%s, %s) AND c.relname NOT LIKE %s ORDER BY 1",
            [TABLE, AUDIT_TABLE, f"{TABLE}__ds_%"],
        ).fetchall()
    return [r[0] for r in rows]


def wait_for(query: str, dsn: str, what: str, timeout: float = 120.0, params: list[Any] | None = None) -> Any:
    """Poll ``query`` until it returns a row; that row (fails naming ``what`` after ``timeout``)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
            if row is not None:
                return row
            time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what} after {timeout:.0f} s")
