"""SqlSource against real PostgreSQL: full reads, incremental reads by watermark across dates with a
failed run in the middle, and the whole chain ingest -> gate -> partition -> load -> commit.

The source rows are written and read back with psycopg, independently of the code under test.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from lockgate.hooks.lake import LakeHook
from lockgate.operators.ingest import IngestOperator
from lockgate.operators.load import WarehouseLoadOperator
from lockgate.operators.partition import PartitionOperator
from lockgate.operators.quality import QualityGateOperator
from lockgate.operators.watermark import CommitWatermarkOperator
from lockgate.sources.sql import SqlSource
from lockgate.sources.watermark import WATERMARK_TABLE, WatermarkRange, plan_range
from tests.support.net import LOOPBACK, free_port
from tests.support.pg import airflow_conn_env

pytestmark = pytest.mark.integration

DAG_ID = "orders_daily"
D1, D2, D3 = "2026-01-01", "2026-01-02", "2026-01-03"
ORDERS: dict[str, Any] = {
    "dataset": "orders",
    "columns": {
        "order_id": {"type": "integer", "nullable": False},
        "customer": {"type": "string", "nullable": False},
        "amount": {"type": "double", "nullable": False},
        "updated_at": {"type": "timestamp", "nullable": False},
    },
    "primary_key": ["order_id"],
}
T0 = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


def ctx(ds: str, run_id: str) -> dict[str, Any]:
    return {"ds": ds, "run_id": run_id, "dag": SimpleNamespace(dag_id=DAG_ID), "ti": None}


@pytest.fixture
def source_db(
    pg_dsn: str, lockgate_home: Path, contracts: Callable[[dict[str, Any]], Path], monkeypatch: pytest.MonkeyPatch
) -> str:
    """The ``src_pg`` connection to a fresh database with an empty ``orders`` table; the orders contract."""
    contracts(ORDERS)
    monkeypatch.setenv(*airflow_conn_env("src_pg", pg_dsn))
    with psycopg.connect(pg_dsn) as conn:
        conn.execute(
            "CREATE TABLE orders (order_id bigint PRIMARY KEY, customer text NOT NULL, "
            "amount numeric(10, 2) NOT NULL, updated_at timestamptz, note text)"
        )
    return pg_dsn


def add_orders(dsn: str, ids: range, *, at: datetime | None = None) -> None:
    """Insert orders; each one's watermark is ``at`` (or T0 + id minutes)."""
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO orders VALUES (%s, %s, %s, %s, NULL)",
            [(i, f"c{i % 7}", Decimal(i) + Decimal("0.25"), at or T0 + timedelta(minutes=i)) for i in ids],
        )


def incremental(**kwargs: Any) -> SqlSource:
    return SqlSource(
        conn_id="src_pg", table="public.orders", mode="incremental", watermark_column="updated_at", **kwargs
    )


def ingest_op(source: SqlSource) -> IngestOperator:
    return IngestOperator(task_id="ingest_orders", dataset="orders", source=source)


def landed(manifest: dict[str, Any]) -> Any:
    import pyarrow.parquet as pq

    (entry,) = manifest["files"]
    return pq.read_table(LakeHook().local_copy(entry["key"], "/unused"))


def ingest(ds: str, run_id: str, source: SqlSource | None = None) -> tuple[dict[str, Any], list[int]]:
    """Ingest one date; returns its manifest and the order ids it landed."""
    result = ingest_op(source or incremental()).execute(ctx(ds, run_id))
    manifest = LakeHook().read_json(result["manifest_key"])
    return manifest, landed(manifest).column("order_id").to_pylist()


def commit(ds: str, run_id: str, warehouse_conn_id: str | None = None) -> dict[str, Any]:
    op = CommitWatermarkOperator(
        task_id="commit_orders", ingest=ingest_op(incremental()), warehouse_conn_id=warehouse_conn_id
    )
    result: dict[str, Any] = op.execute(ctx(ds, run_id))
    return result


def test_full_read_streams_in_batches_and_counts_every_row(source_db: str) -> None:
    add_orders(source_db, range(1, 1235))
    source = SqlSource(conn_id="src_pg", table="public.orders", batch_rows=100)
    manifest, ids = ingest(D1, "manual__full", source)
    with psycopg.connect(source_db) as conn:
        (count,) = conn.execute("SELECT count(*) FROM orders").fetchone() or (0,)
    assert manifest["rows"] == manifest["files"][0]["rows"] == count == 1234
    assert sorted(ids) == list(range(1, 1235))
    import pyarrow.parquet as pq

    (entry,) = manifest["files"]
    parquet = pq.ParquetFile(LakeHook().local_copy(entry["key"], "/unused"))
    # written batch by batch (one row group per fetchmany), never the whole result at once
    assert parquet.num_row_groups == 13
    table = parquet.read()
    assert str(table.schema.field("amount").type) == "decimal128(38, 2)"
    assert table.schema.field("updated_at").type.tz is not None
    assert str(table.schema.field("note").type) == "string"  # all NULL: stored as text
    assert table.column("amount").to_pylist()[:2] == [Decimal("1.25"), Decimal("2.25")]
    assert manifest["source_kind"] == "sql"
    assert manifest["files"][0]["format"] == "parquet"
    assert "watermark" not in manifest
    # the contract has no `note`: drift recorded per file and in the summary
    assert entry["drift"] == {"added": ["note"], "missing": [], "retyped": []}
    assert manifest["drift"] == {"files": 1, "added": ["note"], "missing": [], "retyped": []}


def test_query_with_bound_parameters_and_an_empty_result(source_db: str) -> None:
    add_orders(source_db, range(1, 11))
    source = SqlSource(conn_id="src_pg", query="SELECT order_id, customer FROM orders WHERE order_id > 100")
    manifest, ids = ingest(D1, "manual__q", source)
    assert (manifest["rows"], ids) == (0, [])
    assert landed(manifest).column_names == ["order_id", "customer"]


def test_incremental_across_three_dates_with_a_failed_run_in_the_middle(source_db: str) -> None:
    store = "SELECT partition_ds, low_value, high_value, rows_read, committed FROM " + WATERMARK_TABLE
    add_orders(source_db, range(1, 6))
    m1, ids1 = ingest(D1, "scheduled__d1")
    assert sorted(ids1) == [1, 2, 3, 4, 5]
    assert m1["watermark"]["low_exclusive"] is None
    assert m1["rows"] == 5
    commit(D1, "scheduled__d1")

    # day 2: five new rows are read, but the load fails, so the watermark is not committed
    add_orders(source_db, range(6, 11))
    m2, ids2 = ingest(D2, "scheduled__d2")
    assert sorted(ids2) == [6, 7, 8, 9, 10]
    assert m2["watermark"]["low_exclusive"] == m1["watermark"]["high_inclusive"]
    # while day 2 is uncommitted, day 3 must not start from day 1's watermark (it would re-read 6..10)
    add_orders(source_db, range(11, 14))
    with pytest.raises(AirflowException, match=r"ds=2026-01-02 is recorded but not committed") as info:
        ingest(D3, "scheduled__d3")
    assert not isinstance(info.value, AirflowFailException)  # retryable: day 2 may succeed meanwhile

    # the next attempt of day 2 re-reads exactly the same rows, not the ones that arrived since
    m2b, ids2b = ingest(D2, "scheduled__d2")
    assert sorted(ids2b) == sorted(ids2)
    assert m2b["watermark"]["rerun_of_recorded_range"] is True
    assert m2b["watermark"]["high_inclusive"] == m2["watermark"]["high_inclusive"]
    commit(D2, "scheduled__d2")

    m3, ids3 = ingest(D3, "scheduled__d3")
    assert sorted(ids3) == [11, 12, 13]
    commit(D3, "scheduled__d3")

    # a rerun of a successful date reads its own range again: nothing new, nothing lost
    add_orders(source_db, range(14, 16))
    m1b, ids1b = ingest(D1, "manual__rerun_d1")
    assert sorted(ids1b) == [1, 2, 3, 4, 5]

    # over the dates' latest reads every source row up to day 3's watermark lands exactly once
    union = ids1b + ids2b + ids3
    assert sorted(union) == list(range(1, 14))
    assert len(union) == len(set(union))
    for manifest, ids in ((m1b, ids1b), (m2b, ids2b), (m3, ids3)):
        assert manifest["rows"] == len(ids) == manifest["watermark"]["rows"]

    from lockgate.hooks.warehouse import WarehouseHook

    rows = WarehouseHook().query(store + " ORDER BY partition_ds")
    assert [(r[0], r[3], r[4]) for r in rows] == [
        (date(2026, 1, 1), 5, True),
        (date(2026, 1, 2), 5, True),
        (date(2026, 1, 3), 3, True),
    ]
    # the ranges chain: each starts where the previous one ended
    assert rows[1][1] == rows[0][2]
    assert rows[2][1] == rows[1][2]


def test_committing_a_date_that_never_ingested_fails_clearly(source_db: str) -> None:
    with pytest.raises(AirflowFailException, match="no watermark range recorded for orders_daily/orders/ingest_orders"):
        commit(D1, "scheduled__d1")


def test_an_incremental_source_with_no_new_rows_records_an_empty_range(source_db: str) -> None:
    m1, ids = ingest(D1, "scheduled__d1")  # nothing in the table yet
    assert (m1["rows"], ids) == (0, [])
    assert landed(m1).column_names == ["order_id", "customer", "amount", "updated_at", "note"]
    commit(D1, "scheduled__d1")
    add_orders(source_db, range(1, 4))
    m2, ids2 = ingest(D2, "scheduled__d2")
    assert sorted(ids2) == [1, 2, 3]
    assert m2["watermark"]["low_exclusive"] is None  # the empty range before kept no bound


def test_plan_range_rules() -> None:
    committed = [WatermarkRange(D1, None, 5, True), WatermarkRange(D2, 5, 9, True)]
    assert plan_range(committed, D3, source="s").low == 9
    assert plan_range(committed, D2, source="s").recorded == committed[1]  # a rerun: the same range
    # a backfill of a date before every recorded one: nothing is left for it
    assert plan_range(committed, "2025-12-31", source="s").cap_is_empty
    # an empty committed range ends where it started
    assert plan_range([WatermarkRange(D1, 4, 4, True)], D2, source="s").low == 4
    with pytest.raises(AirflowException, match="ds=2026-01-02 is recorded but not committed"):
        plan_range([committed[0], WatermarkRange(D2, 5, 9, False)], D3, source="s")


# ------------------------------------------------------------------------------- the whole chain


def run_chain(ds: str, run_id: str, *, load_conn: str = "lockgate_warehouse") -> dict[str, Any]:
    """ingest -> gate -> partition -> load -> commit for one date, stopping at the first failure."""
    c = ctx(ds, run_id)
    ingest = ingest_op(incremental())
    out = {"ingest": ingest.execute(c)}
    out["gate"] = QualityGateOperator(task_id="gate_orders", dataset="orders").execute(c)
    out["partition"] = PartitionOperator(task_id="partition_orders", dataset="orders").execute(c)
    out["load"] = WarehouseLoadOperator(
        task_id="load_orders", dataset="orders", table="fact_orders", warehouse_conn_id=load_conn
    ).execute(c)
    out["commit"] = CommitWatermarkOperator(task_id="commit_orders", ingest=ingest).execute(c)
    return out


def test_chain_into_postgres_with_a_failed_load_loses_and_duplicates_nothing(
    source_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(*airflow_conn_env("lockgate_warehouse", source_db))  # the warehouse is PostgreSQL too
    # a warehouse nobody listens on: the load of that attempt fails like a lost database would
    monkeypatch.setenv(*airflow_conn_env("broken_wh", f"postgresql://postgres@{LOOPBACK}:{free_port()}/nowhere"))

    add_orders(source_db, range(1, 6))
    r1 = run_chain(D1, "scheduled__d1")
    assert r1["ingest"]["rows"] == r1["load"]["rows_loaded"] == 5

    add_orders(source_db, range(6, 10))
    with pytest.raises(Exception, match=r"nowhere|connect|refused"):
        run_chain(D2, "scheduled__d2", load_conn="broken_wh")
    add_orders(source_db, range(10, 12))  # arrive while day 2 is being repaired
    r2 = run_chain(D2, "scheduled__d2")  # the next attempt
    assert r2["ingest"]["rows"] == r2["load"]["rows_loaded"] == 4

    r3 = run_chain(D3, "scheduled__d3")
    assert r3["ingest"]["rows"] == r3["load"]["rows_loaded"] == 2
    run_chain(D1, "manual__rerun_d1")  # a rerun of a loaded date

    with psycopg.connect(source_db) as conn:
        loaded = conn.execute("SELECT order_id, ds FROM fact_orders ORDER BY order_id").fetchall()
        source_rows = conn.execute("SELECT order_id FROM orders ORDER BY order_id").fetchall()
        marks = conn.execute(f"SELECT partition_ds, committed FROM {WATERMARK_TABLE} ORDER BY partition_ds").fetchall()
    assert [r[0] for r in loaded] == [r[0] for r in source_rows] == list(range(1, 12))
    by_date = {d: [i for i, ds in loaded if ds == d] for d in {ds for _, ds in loaded}}
    assert by_date == {date(2026, 1, 1): [1, 2, 3, 4, 5], date(2026, 1, 2): [6, 7, 8, 9], date(2026, 1, 3): [10, 11]}
    assert marks == [(date(2026, 1, 1), True), (date(2026, 1, 2), True), (date(2026, 1, 3), True)]
    assert json.dumps(r3["commit"])  # the result is XCom-able


def test_lineage_names_the_real_input_tables_as_the_openlineage_provider_does(source_db: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(source_db)
    namespace, database = f"postgres://{parts.hostname}:{parts.port or 5432}", parts.path.lstrip("/")
    with psycopg.connect(source_db) as conn:
        conn.execute("CREATE SCHEMA shop")
        conn.execute("CREATE TABLE shop.customers (customer text PRIMARY KEY, region text)")
    table = SqlSource(conn_id="src_pg", table="orders")
    # the schema is there even when the table is named without one (it used to be `{db}.orders`)
    assert [(d.namespace, d.name) for d in table.lineage_inputs(table._hook())] == [
        (namespace, f"{database}.public.orders")
    ]
    query = SqlSource(
        conn_id="src_pg",
        query="SELECT o.order_id, c.region FROM orders o JOIN shop.customers c ON c.customer = o.customer",
    )
    # every table the query reads (it used to be one `{db}.query`)
    assert sorted((d.namespace, d.name) for d in query.lineage_inputs(query._hook())) == [
        (namespace, f"{database}.public.orders"),
        (namespace, f"{database}.shop.customers"),
    ]


def test_an_ingested_query_reports_each_input_table_in_lineage(source_db: str) -> None:
    add_orders(source_db, range(1, 4))
    source = SqlSource(conn_id="src_pg", query="SELECT * FROM orders WHERE order_id > 1")
    op = ingest_op(source)
    op.execute(ctx(D1, "manual__lineage"))
    assert [d.name.rsplit(".", 2)[-2:] for d in op.lineage.inputs] == [["public", "orders"]]


def test_postgresql_is_read_as_arrow_through_adbc_typed_like_the_dbapi_path(
    source_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lockgate.sources import postgres_arrow

    statements: list[str] = []
    real = postgres_arrow.query_batches

    def recording(uri: str, sql: str, *args: Any) -> Any:
        statements.append(sql)
        return real(uri, sql, *args)

    monkeypatch.setattr(postgres_arrow, "query_batches", recording)
    with psycopg.connect(source_db) as conn:
        conn.execute("CREATE TABLE odd (k int, id uuid, doc jsonb, n numeric, p numeric(12, 4))")
        conn.execute(
            "INSERT INTO odd VALUES (1, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": 1}', 1.5, 2.25),"
            " (2, NULL, NULL, 10.125, NULL)"
        )
    op = ingest_op(SqlSource(conn_id="src_pg", query="SELECT * FROM odd ORDER BY k"))
    manifest = LakeHook().read_json(op.execute(ctx(D1, "manual__adbc"))["manifest_key"])
    assert statements == ["SELECT * FROM (SELECT * FROM odd ORDER BY k) AS lockgate_src"]
    table = landed(manifest)
    assert manifest["rows"] == 2
    # numeric: decimal128(38, scale) -- the declared scale, else the widest in the first rows
    assert str(table.schema.field("p").type) == "decimal128(38, 4)"
    assert str(table.schema.field("n").type) == "decimal128(38, 3)"
    assert table.column("n").to_pylist() == [Decimal("1.500"), Decimal("10.125")]
    # types only PostgreSQL has arrive as their text
    assert table.column("id").to_pylist() == ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", None]
    assert str(table.schema.field("doc").type) == "string"
