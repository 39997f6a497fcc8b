"""sales_distribution (declared only in YAML) end to end through Airflow's own ``dag.test()``.

The point-of-sale feed is gated, routed by the spec's rules to accounting and supply chain, each
gated by its own contract, partitioned and loaded; every count is checked against the sample
generator's own bookkeeping, on DuckDB and on PostgreSQL. A big day fans out as one mapped ingest
task per file, and the data-quality warning of its bulk order reaches the webhook named in the
spec's ``alerts``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from lockgate.cli import run_dag
from lockgate.hooks.lake import LakeHook
from lockgate.hooks.warehouse import WarehouseHook
from lockgate.sample_sales import ACCOUNTING_TYPES, SUPPLY_CHAIN_TYPES, SalesBatch, generate
from tests.support.http_recorder import RecordingHTTPServer
from tests.support.pg import airflow_conn_env

pytestmark = pytest.mark.integration

DAG_ID = "sales_distribution"
DAY = "2026-01-02"
BIG_DAY = "2026-06-19"  # Midsummer Eve: five times the volume, in more files
LEDGER, MOVEMENTS = "fact_sales_ledger", "fact_inventory_movements"


def expected(ds: str, tmp: Path) -> SalesBatch:
    return generate(ds, tmp / f"expected-{ds}")


def report(dataset: str, ds: str, name: str = "report.json") -> dict[str, Any]:
    return LakeHook().read_json(f"quality/{dataset}/ds={ds}/{name}")


def fingerprint(warehouse: WarehouseHook, table: str) -> tuple[int, str]:
    rows = warehouse.query(f"SELECT * FROM {warehouse.table(table)}")
    digest = hashlib.sha256("\n".join(sorted(repr(tuple(str(v) for v in r)) for r in rows)).encode()).hexdigest()
    return len(rows), digest


def day_rows(warehouse: WarehouseHook, table: str, ds: str, columns: str = "*") -> list[tuple[Any, ...]]:
    return warehouse.query(f"SELECT {columns} FROM {warehouse.table(table)} WHERE ds = $1", [date.fromisoformat(ds)])


def assert_day(warehouse: WarehouseHook, ds: str, batch: SalesBatch) -> None:
    sales = report("sales", ds)
    assert (sales["rows_in"], sales["rows_quarantined"], sales["duplicates_removed"], sales["rows_passed"]) == (
        batch.rows,
        batch.sales_quarantined,
        batch.duplicates,
        batch.sales_passed,
    )
    route = report("sales", ds, "route.json")
    assert route["rows_in"] == batch.sales_passed
    assert route["routed"] == {"sales_accounting": batch.accounting_routed, "sales_supply_chain": batch.supply_routed}
    assert route["rows_unrouted"] == batch.unrouted
    # every row accounted for: in = routed + unrouted
    assert route["rows_in"] == sum(route["routed"].values()) + route["rows_unrouted"]
    for dataset, routed, bad in (
        ("sales_accounting", batch.accounting_routed, batch.accounting_bad),
        ("sales_supply_chain", batch.supply_routed, batch.supply_bad),
    ):
        gate = report(dataset, ds)
        assert (gate["rows_in"], gate["rows_quarantined"], gate["rows_passed"]) == (routed, bad, routed - bad)

    ledger = day_rows(warehouse, LEDGER, ds, "record_type, amount, unit_price, currency")
    assert len(ledger) == batch.accounting_loaded
    assert {r[0] for r in ledger} == set(ACCOUNTING_TYPES)
    assert all((r[1] >= 0) == (r[0] == "sale") and r[2] is not None and r[3] == "EUR" for r in ledger)
    movements = day_rows(warehouse, MOVEMENTS, ds, "record_type, supplier_id")
    assert len(movements) == batch.supply_loaded
    assert {r[0] for r in movements} <= set(SUPPLY_CHAIN_TYPES)
    assert all(r[1] is not None for r in movements if r[0] == "restock")

    summary = LakeHook().read_json(f"reports/{DAG_ID}/ds={ds}/summary.json")
    assert {d["table"]: (d["rows_loaded"], d["balanced"]) for d in summary["datasets"]} == {
        LEDGER: (batch.accounting_loaded, True),
        MOVEMENTS: (batch.supply_loaded, True),
    }


def assert_delivered(home: Path, warehouse: WarehouseHook, ds: str, batch: SalesBatch) -> list[str]:
    """The day's ledger dropped for the partner (Parquet + _SUCCESS) and its movements upserted back to
    the point-of-sale table, on the embedded defaults; returns the runs that delivered them."""
    import duckdb
    import pyarrow.parquet as pq

    folder = home / "partner_drops" / "sales_ledger_partner" / "ledger" / f"ds={ds}"
    assert sorted(p.name for p in folder.iterdir()) == ["_SUCCESS", f"sales_accounting_{ds}.parquet"]
    ledger = pq.read_table(folder / f"sales_accounting_{ds}.parquet")
    assert ledger.num_rows == batch.accounting_loaded
    assert set(ledger.column("record_type").to_pylist()) == set(ACCOUNTING_TYPES)
    con = duckdb.connect(str(home / "origin" / "sales_pos_source.duckdb"), read_only=True)
    try:
        (moved,) = con.execute(
            "SELECT count(*) FROM inventory_movements WHERE ds = ?", [date.fromisoformat(ds)]
        ).fetchone()
    finally:
        con.close()
    assert moved == batch.supply_loaded
    summary = LakeHook().read_json(f"reports/{DAG_ID}/ds={ds}/summary.json")
    assert {d["target"]: (d["rows"], d["rejected"]) for d in summary["deliveries"]} == {
        "drop_ledger_for_partner": (batch.accounting_loaded, 0),
        "upsert_movements_to_pos": (batch.supply_loaded, 0),
    }
    audit = warehouse.query(
        f"SELECT target, run_id FROM {warehouse.table('lockgate_delivery_audit')} "
        "WHERE partition_ds = $1 AND status = 'acknowledged' ORDER BY target",
        [date.fromisoformat(ds)],
    )
    assert [t for t, _ in audit] == ["drop_ledger_for_partner", "upsert_movements_to_pos"]
    return [str(r) for _, r in audit]


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request: pytest.FixtureRequest, lockgate_home: Path, monkeypatch: pytest.MonkeyPatch) -> WarehouseHook:
    if request.param == "postgres":
        monkeypatch.setenv(*airflow_conn_env("lockgate_warehouse", request.getfixturevalue("pg_dsn")))
    hook = WarehouseHook()
    assert hook.dialect == request.param
    return hook


def test_a_day_routed_to_accounting_and_supply_chain_and_a_rerun(
    warehouse: WarehouseHook, airflow_home: Path, tmp_path: Path, lockgate_home: Path
) -> None:
    batch = expected(DAY, tmp_path)
    assert run_dag(DAG_ID, DAY) == "success"
    assert_day(warehouse, DAY, batch)
    delivered_by = assert_delivered(lockgate_home, warehouse, DAY, batch)
    before = {t: fingerprint(warehouse, t) for t in (LEDGER, MOVEMENTS)}

    # the rerun replaces the day in the ledger and merges the same movements: nothing changes
    assert run_dag(DAG_ID, DAY) == "success"
    assert {t: fingerprint(warehouse, t) for t in (LEDGER, MOVEMENTS)} == before
    assert_day(warehouse, DAY, batch)
    # and delivers nothing again: the acknowledgements are still the first run's
    assert assert_delivered(lockgate_home, warehouse, DAY, batch) == delivered_by


def test_a_big_day_fans_out_and_its_warning_reaches_the_alert_target(
    lockgate_home: Path, airflow_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    batch = expected(BIG_DAY, tmp_path)
    assert batch.big_day
    assert batch.bulk_order
    with RecordingHTTPServer() as receiver:
        monkeypatch.setenv(
            "AIRFLOW_CONN_LOCKGATE_ALERTS",
            json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": receiver.port, "schema": "http"}),
        )
        assert run_dag(DAG_ID, BIG_DAY) == "success"
        alerts = [r.json() for r in receiver.requests]

    assert_day(WarehouseHook(), BIG_DAY, batch)
    # one mapped ingest task per file, each into its own raw folder
    manifests = [o.key for o in LakeHook().list(f"raw/sales/ds={BIG_DAY}") if o.key.endswith("/_manifest.json")]
    assert len(manifests) == len(batch.files) > 10
    assert sorted(LakeHook().read_json(k)["files"][0]["source"].rsplit("/", 1)[1] for k in manifests) == sorted(
        p.name for p in batch.files
    )
    # the bulk order trips the accounting contract's warn check; the spec's `default` target gets it
    warnings = [a for a in alerts if a["event"] == "dq_warning"]
    assert [(w["task_id"], w["details"]["check"]) for w in warnings] == [
        ("gate_sales_accounting", "expect_column_max_to_be_between(amount)")
    ]
    assert warnings[0]["details"]["observed_value"] > 5000
    assert any(a["event"] == "run_summary" for a in alerts)
