"""lockgate.ui.drilldown and lockgate.ui.catalog: one day in detail (PII masked), and the dataset catalog."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lockgate.contracts import parse_contract
from lockgate.hooks.lake import LakeHook
from lockgate.pii import MASK, mask
from lockgate.ui import drilldown
from lockgate.ui.app import health_as_dict
from lockgate.ui.catalog import build_catalog, render_catalog, search
from lockgate.ui.health import build_health
from lockgate.ui.render import render_day

DS = "2026-01-04"
CONTRACT = parse_contract(
    {
        "dataset": "customers",
        "columns": {
            "id": {"type": "string", "nullable": False},
            "phone": {"type": "string", "pii": "mask"},
            "email": {"type": "string", "pii": "hash"},
            "age": {"type": "integer"},
        },
    }
)


def _quarantine(lake: LakeHook, tmp: Path, rows: list[dict[str, object]]) -> None:
    table = pa.Table.from_pylist(
        [
            {
                "source_file": "raw/customers/a.csv",
                "source_row": i + 2,
                "column_name": r["column"],
                "check_name": r["check"],
                "reason": r["reason"],
                "record": json.dumps(r["record"]),
                "ds": DS,
            }
            for i, r in enumerate(rows)
        ]
    )
    pq.write_table(table, tmp / "q.parquet")
    lake.put_file(tmp / "q.parquet", f"quarantine/customers/ds={DS}/quarantine.parquet")


def test_samples_are_masked_as_in_the_curated_zone_reasons_included(lockgate_home: Path, tmp_path: Path) -> None:
    lake = LakeHook()
    record = {"id": "c1", "phone": "+46701234567", "email": "ann@example.com", "age": "x"}
    rows = [
        {"column": "age", "check": "type", "reason": "column age: 'x' is not an integer", "record": record},
        {"column": "phone", "check": "not_null", "reason": "column phone: '+46701234567' fails x", "record": record},
    ] + [
        {"column": "age", "check": "type", "reason": f"column age: '{i}x'", "record": {"id": f"c{i}"}}
        for i in range(30)
    ]
    _quarantine(lake, tmp_path, rows)

    samples = drilldown.quarantine_samples(lake, "customers", DS, contract=CONTRACT)
    assert len(samples) == drilldown.MAX_SAMPLES  # 32 quarantined, 20 shown
    first = json.loads(samples[0]["record"])
    assert first["phone"] == mask("+46701234567") == "****4567"
    assert first["email"] == MASK  # no key connection here: a hashed column is fully masked
    assert first["age"] == "x"
    assert first["id"] == "c1"
    assert "+46701234567" not in json.dumps(samples)
    assert samples[1]["reason"] == "column phone: '****4567' fails x"

    only = drilldown.quarantine_samples(lake, "customers", DS, check="not_null", contract=CONTRACT)
    assert [s["check_name"] for s in only] == ["not_null"]
    assert drilldown.quarantine_samples(lake, "customers", "2026-01-05", contract=CONTRACT) == []


def test_example_text_without_a_record_hides_a_pii_value() -> None:
    protect = drilldown.PiiProtector(CONTRACT)
    assert protect.text("a.csv: row 4: column email: 'ann@x.se' is not valid") == (
        "a.csv: row 4: column email: (value hidden: personal data)"
    )
    assert protect.text("a.csv: row 4: column age: 'x'") == "a.csv: row 4: column age: 'x'"


def test_the_day_page_shows_reasons_checks_samples_files_and_the_run(lockgate_home: Path, tmp_path: Path) -> None:
    lake = LakeHook()
    report = {
        "dataset": "customers",
        "ds": DS,
        "rows_in": 10,
        "rows_passed": 7,
        "rows_quarantined": 3,
        "duplicates_removed": 0,
        "quarantine_by_check": {"type": 2, "expect_column_values_to_be_between(age)": 1},
        "quarantine_by_column": {"age": 3},
        "quarantine_examples": {"type": ["a.csv: row 2: column age: 'x' is not an integer"]},
        "checks": [
            {
                "check": "expect_column_values_to_be_between(age)",
                "expectation": "expect_column_values_to_be_between",
                "kwargs": {"column": "age", "min_value": 0, "max_value": 130},
                "severity": "quarantine",
                "success": True,
                "unexpected_count": 1,
                "element_count": 8,
                "observed_value": None,
                "examples": [150],
            }
        ],
        "success": True,
    }
    summary = {
        "dag_id": "crm",
        "run_id": "scheduled__x",
        "ds": DS,
        "datasets": [{"dataset": "customers", "rows_loaded": 7}],
    }
    health = build_health([report], [summary], today=date(2026, 1, 5))
    day = health.dataset("customers").days[0]
    locations = drilldown.locations(lake, "customers", DS)
    html = render_day("customers", day, ds=DS, check=None, samples=[], locations=locations, rerun={"dag_id": "crm"})
    assert 'href="../dags/crm/runs/scheduled__x"' in html
    assert 'data-key="type"' in html
    assert 'data-key="age"' in html  # by check (built-in) and by column
    assert "min_value=0, max_value=130" in html  # the threshold
    assert 'data-field="unexpected_count" data-value="1"' in html
    assert 'data-field="unexpected_count" data-value="2"' in html  # the built-in type check
    assert str(lockgate_home / "lake" / "quarantine" / "customers" / f"ds={DS}" / "quarantine.parquet") in html
    assert '<form method="post" action="rerun"' in html
    assert 'name="ds" value="2026-01-04"' in html
    # the JSON keeps the numbers and leaves examples (possibly personal data) out
    latest = health_as_dict(health)["datasets"][0]["latest"]
    assert latest["state"] == "quarantine-heavy"
    assert latest["rows_loaded"] == 7  # 30% quarantined
    assert {c["check"]: c["unexpected_count"] for c in latest["checks"]} == {
        "expect_column_values_to_be_between(age)": 1,
        "type": 2,
    }
    assert all("examples" not in c for c in latest["checks"])


def test_the_catalog_lists_contracts_and_searches_names_columns_and_owners() -> None:
    summary = {
        "dag_id": "air_quality_daily",
        "ds": DS,
        "run_id": "r",
        "pipeline": {"schedule": "@daily", "gated": ["readings"], "intermediate": [], "owners": ["air-quality"]},
        "datasets": [{"dataset": "readings", "table": "fact_air_quality_hourly", "rows_loaded": 5}],
    }
    report = {"dataset": "readings", "ds": DS, "rows_in": 5, "rows_passed": 5, "checks": []}
    entries = build_catalog(build_health([report], [summary], today=date(2026, 1, 5)), [summary])
    by_name = {e["dataset"]: e for e in entries}
    assert {"readings", "stations", "sales"} <= set(by_name)  # every contract, run or not
    readings = by_name["readings"]
    assert readings["pipeline"] == "air_quality_daily"
    assert readings["tables"] == ["fact_air_quality_hourly"]
    assert {"name": "station_id", "type": "string"}.items() <= readings["columns"][0].items()
    assert readings["primary_key"]
    assert readings["last_status"] == "loaded"
    assert by_name["stations"]["freshness"] == "never run"
    assert by_name["stations"]["owner"] == "air-quality-team"
    assert [e["dataset"] for e in search(entries, "fact_air_quality")] == ["readings"]
    assert "stations" in [e["dataset"] for e in search(entries, "latitude")]  # a column name
    assert "stations" in [e["dataset"] for e in search(entries, "air-quality-team")]  # an owner
    html = render_catalog(entries, query="latitude")
    assert 'data-dataset="stations"' in html
    assert 'data-dataset="sales"' not in html
