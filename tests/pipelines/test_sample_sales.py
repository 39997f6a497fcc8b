"""The sales sample: deterministic, every row in one category, big days in more files."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date
from pathlib import Path

from lockgate import sample_sales as ss
from lockgate.pipelines.predicates import first_match

ROUTES = [
    {"target": "sales_accounting", "when": {"record_type": {"in": list(ss.ACCOUNTING_TYPES)}}},
    {"target": "sales_supply_chain", "when": {"record_type": {"in": list(ss.SUPPLY_CHAIN_TYPES)}}},
]


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_same_date_is_byte_identical(tmp_path: Path) -> None:
    first = ss.generate("2026-01-02", tmp_path / "a")
    second = ss.generate("2026-01-02", tmp_path / "b")
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    assert first.counts() == second.counts()
    assert tree(tmp_path / "a") != tree(ss.generate("2026-01-03", tmp_path / "c").files[0].parents[1])


def test_every_row_is_in_the_files_and_in_one_category(tmp_path: Path) -> None:
    batch = ss.generate("2026-01-02", tmp_path)
    lines = []
    for path in batch.files:
        with path.open(newline="") as fh:
            reader = csv.reader(fh)
            assert tuple(next(reader)) == ss.FIELDS
            lines += list(reader)
    assert len(lines) == batch.rows
    assert sum(1 for line in lines if len(line) != len(ss.FIELDS)) == batch.malformed
    well_formed = [tuple(line) for line in lines if len(line) == len(ss.FIELDS)]
    assert sum(n - 1 for n in Counter(well_formed).values()) == batch.duplicates
    unique = list(dict.fromkeys(well_formed))
    assert sum(1 for r in unique if not r[5].isdigit()) == batch.bad_quantity
    assert sum(1 for r in unique if r[0] == "") == batch.missing_id
    assert sum(1 for r in unique if not r[2].startswith("2026-01-02")) == batch.wrong_day
    passed = [
        dict(zip(ss.FIELDS, r, strict=True))
        for r in unique
        if r[0] and r[5].isdigit() and r[2].startswith("2026-01-02")
    ]
    assert len(passed) == batch.sales_passed
    # routing the passed rows with the pipeline's own rules gives the generator's counts
    types = {"record_type": "string"}
    targets = Counter(first_match(ROUTES, {"record_type": r["record_type"]}, types) for r in passed)
    assert targets == {0: batch.accounting_routed, 1: batch.supply_routed, None: batch.unrouted}
    assert batch.rows == batch.duplicates + batch.sales_quarantined + batch.sales_passed


def test_big_days_have_more_rows_in_more_files(tmp_path: Path) -> None:
    normal = ss.generate("2026-11-20", tmp_path / "normal")
    black_friday = ss.generate("2026-11-27", tmp_path / "big")
    assert not normal.big_day
    assert black_friday.big_day
    assert black_friday.bulk_order
    assert black_friday.rows > 4 * normal.rows
    assert len(black_friday.files) > 2 * len(normal.files)
    assert ss.is_big_day(date(2026, 12, 21))
    assert ss.is_big_day(date(2026, 6, 19))  # Midsummer Eve
    assert not ss.is_big_day(date(2026, 11, 26))  # Thanksgiving itself
