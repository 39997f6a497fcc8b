"""Helpers of the delivery tests: a date of ``alerts`` published and loaded for real, and a delivery.

The rows go through the real PartitionOperator (staged Parquet -> curated partitions + manifest,
personal data hashed and masked) and the real WarehouseLoadOperator (the load audit the delivery
checks), so a delivery reads exactly what a pipeline run leaves behind.
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.process
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from lockgate.operators.deliver import DeliverOperator

DS = "2026-01-02"
DAG_ID = "deliver_tests"
CONTRACT = """\
dataset: alerts
version: 1
description: Stations and their daily AQI, with a contact per station (personal data).
owner: test
columns:
  station_id: {type: string, nullable: false}
  region: {type: string, nullable: false}
  aqi: {type: integer, nullable: false}
  category: {type: string, nullable: false}
  contact_email: {type: string, pii: hash}
  contact_phone: {type: string, pii: mask}
  measured_at: {type: timestamp, nullable: false}
primary_key: [station_id]
partition_keys: [region]
"""
CATEGORIES = ((50, "Good"), (120, "Unhealthy for Sensitive Groups"), (180, "Unhealthy"), (260, "Very Unhealthy"))
PII_KEY = "test-pii-key-not-secret"


def contract_file(folder: Path) -> str:
    path = folder / "alerts.yaml"
    path.write_text(CONTRACT, encoding="utf-8")
    return str(path)


def environment(monkeypatch: Any) -> None:
    """The PII key connection the partition step hashes with."""
    monkeypatch.setenv("AIRFLOW_CONN_LOCKGATE_PII_KEY", json.dumps({"conn_type": "generic", "password": PII_KEY}))


def context(ds: str, run_id: str) -> dict[str, Any]:
    return {"ds": ds, "run_id": run_id, "dag": SimpleNamespace(dag_id=DAG_ID), "ti": None, "params": {}}


def rows(count: int, version: int = 0) -> list[dict[str, Any]]:
    """``count`` stations; ``version`` shifts every AQI (a corrected day)."""
    out = []
    for i in range(count):
        aqi, category = CATEGORIES[i % len(CATEGORIES)]
        out.append(
            {
                "station_id": f"ST-{i:04d}",
                "region": ("north", "south", "east")[i % 3],
                "aqi": aqi + version,
                "category": category,
                "contact_email": f"keeper{i}@stations.example",
                "contact_phone": f"+49 30 5550{i:04d}",
                "measured_at": f"{DS}T12:00:00+00:00",
            }
        )
    return out


def publish_and_load(contract: str, ds: str, data: list[dict[str, Any]], workdir: Path) -> None:
    """Stage ``data`` for ``ds``, partition it and load it (replace_partition) into ``fact_alerts``."""
    from lockgate.operators.load import WarehouseLoadOperator

    publish(contract, ds, data, workdir)
    WarehouseLoadOperator(
        task_id="load_fact_alerts", dataset="alerts", contract=contract, table="fact_alerts", allow_shrink=True
    ).execute(context(ds, "publish"))  # type: ignore[arg-type]


def publish(contract: str, ds: str, data: list[dict[str, Any]], workdir: Path) -> None:
    """Stage ``data`` for ``ds`` (as the gate would) and partition it into the curated zone."""
    import duckdb

    from lockgate.hooks.lake import LakeHook
    from lockgate.operators.partition import PartitionOperator

    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / f"rows-{ds}.json"
    source.write_text(json.dumps(data), encoding="utf-8")
    staged = workdir / f"staged-{ds}.parquet"
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        con.execute(
            f"""COPY (SELECT station_id, region, CAST(aqi AS BIGINT) AS aqi, category, contact_email, contact_phone,
                       CAST(measured_at AS TIMESTAMPTZ) AS measured_at, CAST($1 AS DATE) AS ds,
                       'raw/alerts/file.json' AS _source_file, row_number() OVER () AS _source_row
                FROM read_json('{source}', columns = {{station_id: 'VARCHAR', region: 'VARCHAR', aqi: 'BIGINT',
                     category: 'VARCHAR', contact_email: 'VARCHAR', contact_phone: 'VARCHAR',
                     measured_at: 'VARCHAR'}}))
               TO '{staged}' (FORMAT parquet)""",
            [ds],
        )
    finally:
        con.close()
    LakeHook().put_file(staged, f"staged/alerts/ds={ds}/part-0.parquet")
    PartitionOperator(task_id="partition_alerts", dataset="alerts", contract=contract).execute(context(ds, "publish"))


def operator(**kwargs: Any) -> DeliverOperator:
    kwargs.setdefault("task_id", "deliver_alerts")
    kwargs.setdefault("dataset", "alerts")
    return DeliverOperator(**kwargs)


def deliver(ds: str, run_id: str, **kwargs: Any) -> dict[str, Any]:
    return operator(**kwargs).execute(context(ds, run_id))  # type: ignore[arg-type]


def start_delivery(ds: str, run_id: str, **kwargs: Any) -> multiprocessing.process.BaseProcess:
    """The same delivery in a child process, forked from the test's (connections, $LOCKGATE_HOME and
    the imported Airflow inherited: no interpreter start-up to wait for), for a test to kill."""
    process = multiprocessing.get_context("fork").Process(
        target=deliver, args=(ds, run_id), kwargs=kwargs, name=f"deliver-{run_id}", daemon=True
    )
    process.start()
    return process


def audit(warehouse: Any, target: str = "deliver_alerts") -> list[dict[str, Any]]:
    """The delivery audit's rows of one target, oldest first."""
    names = (
        "batch_no",
        "batches",
        "status",
        "idempotency_key",
        "rows_sent",
        "content_hash",
        "version",
        "http_status",
        "retried",
        "response",
        "reason",
        "run_id",
    )
    found = warehouse.query(
        f"SELECT {', '.join(names)} FROM {warehouse.table('lockgate_delivery_audit')} WHERE target = $1 "
        "ORDER BY recorded_at, batch_no",
        [target],
    )
    return [dict(zip(names, r, strict=True)) for r in found]
