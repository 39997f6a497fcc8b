"""RouteOperator on a local lake: rows routed by rules, unrouted rows quarantined, every row counted."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from lockgate.config import include_dir
from lockgate.hooks.lake import LakeHook
from lockgate.operators.route import RouteOperator, plan_rules, route_counts_balance
from lockgate.pipelines.spec import contract_for

DS = "2026-01-02"
RUN = "manual__2026-01-02T00:00:00+00:00"
MONEY = {"record_type": {"in": ["sale", "refund"]}}
STOCK = {"record_type": {"in": ["restock", "transfer_in", "transfer_out", "writeoff"]}}


def row(n: int, record_type: str, quantity: int = 1, amount: float | None = 10.0) -> dict[str, Any]:
    money = record_type in ("sale", "refund", "gift_card")
    return {
        "event_id": f"SL-20260102-{n:06d}",
        "record_type": record_type,
        "occurred_at": datetime(2026, 1, 2, 9, n % 60, tzinfo=UTC),
        "store_id": "S01",
        "sku": "SKU-0001",
        "quantity": quantity,
        "unit_price": 5.0 if money else None,
        "amount": amount if money else None,
        "currency": "EUR" if money else None,
        "supplier_id": "SUP-01" if record_type == "restock" else None,
        "ds": date(2026, 1, 2),
    }


ROWS = [
    row(1, "sale"),
    row(2, "restock", quantity=40),
    row(3, "gift_card"),
    row(4, "refund", amount=-10.0),
    row(5, "writeoff", quantity=3),
    row(6, "sale", quantity=500, amount=2500.0),
    row(7, "layaway"),
]


@pytest.fixture
def lake(lockgate_home: Path) -> LakeHook:
    """A local lake with the gate's staged sales rows for DS."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    hook = LakeHook()
    table = pa.Table.from_pylist(ROWS)
    staged = lockgate_home / "staged.parquet"
    pq.write_table(table, staged)
    hook.put_file(staged, f"staged/sales/ds={DS}/part-0.parquet")
    return hook


def context() -> dict[str, Any]:
    return {"ds": DS, "run_id": RUN, "dag": SimpleNamespace(dag_id="sales_distribution"), "ti": None}


def read_parquet(lake: LakeHook, key: str) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return pq.read_table(lake.local_copy(key, "/tmp")).to_pylist()


def routed_key(target: str, task_id: str = "route_sales") -> str:
    return f"raw/{target}/ds={DS}/run=manual__2026-01-02T00_00_00_00_00/{task_id}/routed.parquet"


def test_rows_go_to_the_first_matching_rule_and_the_rest_to_quarantine(lake: LakeHook) -> None:
    op = RouteOperator(
        task_id="route_sales",
        dataset="sales",
        rules=[{"target": "sales_accounting", "when": MONEY}, {"target": "sales_supply_chain", "when": STOCK}],
    )
    result = op.execute(context())
    assert result == {
        "rows_in": 7,
        "routed": {"sales_accounting": 3, "sales_supply_chain": 2},
        "rows_unrouted": 2,
        "rows_matched": 5,
    }
    accounting = read_parquet(lake, routed_key("sales_accounting"))
    # projected onto the target's contract, in the target's column order, source order kept
    assert list(accounting[0]) == contract_for("sales_accounting").column_names
    assert [r["event_id"][-1] for r in accounting] == ["1", "4", "6"]
    supply = read_parquet(lake, routed_key("sales_supply_chain"))
    assert [(r["record_type"], r["quantity"], r["supplier_id"]) for r in supply] == [
        ("restock", 40, "SUP-01"),
        ("writeoff", 3, None),
    ]
    # each target gets an ingestion manifest, so its own quality gate reads it like any source
    manifest = lake.read_json(routed_key("sales_supply_chain").replace("routed.parquet", "_manifest.json"))
    assert (manifest["dataset"], manifest["rows"], manifest["files"][0]["format"]) == (
        "sales_supply_chain",
        2,
        "parquet",
    )

    unrouted = read_parquet(lake, f"quarantine/sales/ds={DS}/unrouted.parquet")
    assert [(r["source_row"], r["check_name"]) for r in unrouted] == [(3, "route"), (7, "route")]
    assert "matched no routing rule of route_sales" in unrouted[0]["reason"]
    assert "sales_accounting when record_type in [sale, refund]" in unrouted[0]["reason"]
    assert json.loads(unrouted[1]["record"])["record_type"] == "layaway"

    report = lake.read_json(f"quality/sales/ds={DS}/route.json")
    assert report["rows_in"] == sum(report["routed"].values()) + report["rows_unrouted"]
    assert [r["rows"] for r in report["rules"]] == [3, 2]


def test_a_rerun_writes_the_same_bytes(lake: LakeHook) -> None:
    def run() -> dict[str, str]:
        RouteOperator(
            task_id="route_sales", dataset="sales", rules=[{"target": "sales_accounting", "when": MONEY}]
        ).execute(context())
        return {
            o.key: Path(lake.local_copy(o.key, "/tmp")).read_bytes().hex() for o in lake.list("raw/sales_accounting")
        }

    first = run()
    assert run() == first
    assert len([k for k in first if k.endswith(".parquet")]) == 1


def test_match_all_sends_a_row_to_every_matching_target_once(lake: LakeHook) -> None:
    rules = [
        {"target": "sales_accounting", "when": {"record_type": "sale"}},
        {"target": "sales_accounting", "when": {"amount": {"gt": 0}}},  # overlaps the first: written once
        {"target": "sales_supply_chain", "when": {"record_type": {"in": ["sale", "restock"]}}},
    ]
    result = RouteOperator(task_id="route_sales", dataset="sales", rules=rules, match="all").execute(context())
    # accounting: sales 1 and 6 (which also have amount > 0) and the gift card 3 (amount 10)
    assert result["routed"] == {"sales_accounting": 3, "sales_supply_chain": 3}
    assert result["rows_matched"] == 4  # rows 1, 2, 3, 6
    assert result["rows_unrouted"] == 3  # the refund (amount < 0), the writeoff, the layaway (no amount)
    report = lake.read_json(f"quality/sales/ds={DS}/route.json")
    assert [r["rows"] for r in report["rules"]] == [2, 1, 3]


def test_too_many_unrouted_rows_fail_after_publishing_the_quarantine(lake: LakeHook) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    op = RouteOperator(
        task_id="route_sales",
        dataset="sales",
        rules=[{"target": "sales_accounting", "when": MONEY}],
        max_unrouted_percent=25,
    )
    with pytest.raises(AirflowFailException, match=r"4 of 7 rows of sales ds=2026-01-02 match no rule \(more than 25"):
        op.execute(context())
    assert len(read_parquet(lake, f"quarantine/sales/ds={DS}/unrouted.parquet")) == 4


def test_target_columns_can_be_mapped_from_other_source_columns(lake: LakeHook, tmp_path: Path) -> None:
    contract = yaml.safe_load((include_dir() / "contracts" / "sales_supply_chain.yaml").read_text())
    contract["dataset"] = "stock_moves"
    contract["columns"]["units"] = contract["columns"].pop("quantity")
    contract["expectations"] = []
    path = tmp_path / "stock_moves.yaml"
    path.write_text(yaml.safe_dump(contract, sort_keys=False))
    op = RouteOperator(
        task_id="route_sales",
        dataset="sales",
        rules=[{"target": "stock_moves", "when": STOCK, "columns": {"units": "quantity"}}],
        target_contracts={"stock_moves": str(path)},
    )
    op.execute(context())
    moved = read_parquet(lake, routed_key("stock_moves"))
    assert [r["units"] for r in moved] == [40, 3]


def test_plan_rules_refuses_a_target_column_without_a_source() -> None:
    source = contract_for("sales")
    target = contract_for("sales_accounting")
    with pytest.raises(ValueError, match="column 'amount' of sales_accounting has no source column"):
        plan_rules(
            [{"target": "sales_accounting", "when": MONEY, "columns": {"amount": "total"}}],
            source,
            {"sales_accounting": target},
        )


def test_accounting_rule() -> None:
    assert route_counts_balance(10, {"a": 6, "b": 3}, 1, 9, "first")
    assert not route_counts_balance(10, {"a": 6, "b": 3}, 2, 9, "first")
    assert route_counts_balance(10, {"a": 6, "b": 6}, 1, 9, "all")
    assert not route_counts_balance(10, {"a": 6, "b": 6}, 0, 9, "all")
