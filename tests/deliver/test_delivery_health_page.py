"""The Data health page's day drill-down shows what the run summary says was delivered where."""

from __future__ import annotations

from datetime import date

from lockgate.ui.health import build_health
from lockgate.ui.render import render_day

DS = "2026-01-02"


def test_the_day_drilldown_lists_the_datasets_deliveries() -> None:
    report = {
        "dataset": "sales_accounting",
        "ds": DS,
        "rows_in": 10,
        "rows_passed": 10,
        "rows_quarantined": 0,
        "duplicates_removed": 0,
        "checks": [],
        "failed": [],
        "warnings": [],
        "success": True,
    }
    delivery = {
        "target": "drop_ledger_for_partner",
        "kind": "partner_drop",
        "location": "s3://partner/in/ledger/ds=2026-01-02",
        "dataset": "sales_accounting",
        "rows": 10,
        "batches": 1,
        "rejected": 0,
        "recorded_at": "2026-01-03 01:00:00",
    }
    other = {**delivery, "target": "upsert_movements_to_pos", "dataset": "sales_supply_chain"}
    summary = {
        "dag_id": "sales_distribution",
        "run_id": "scheduled__x",
        "ds": DS,
        "datasets": [{"dataset": "sales_accounting", "table": "fact_sales_ledger", "rows_loaded": 10}],
        "deliveries": [delivery, other],
    }
    day = build_health([report], [summary], today=date(2026, 1, 3)).dataset("sales_accounting").days[0]
    assert [d["target"] for d in day.deliveries] == ["drop_ledger_for_partner"]  # its own dataset's only
    html = render_day("sales_accounting", day, ds=DS, check=None, samples=[], locations={}, rerun=None)
    assert '<table id="deliveries">' in html
    assert '<tr data-target="drop_ledger_for_partner">' in html
    assert "s3://partner/in/ledger/ds=2026-01-02" in html
    assert "upsert_movements_to_pos" not in html
