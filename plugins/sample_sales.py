"""Deterministic sample data for the ``sales_distribution`` pipeline (a daily point-of-sale feed).

Twelve stores export one day of events from their point-of-sale systems as CSV files
``pos/sales_<ds>_part-NNN.csv`` (at most :data:`ROWS_PER_FILE` rows each, so a big day arrives as
more files and the pipeline fans out over them). One feed carries two kinds of record, which the
pipeline routes by rules, as the seeds' distribution example has it ("send sales data to
accounting, inventory data to supply chain"):

* money: ``sale`` and ``refund`` (unit price, amount, currency) -> accounting;
* stock: ``restock`` (with a supplier), ``transfer_in``, ``transfer_out``, ``writeoff`` -> supply chain.

Columns: ``event_id, record_type, occurred_at, store_id, sku, quantity, unit_price, amount,
currency, supplier_id``; ``occurred_at`` is ISO 8601 with the store's local UTC offset.

Every day also carries deliberate defects, each row in exactly one category (checked by the
end-to-end tests against what the pipeline reports):

==================  ================================================  ===========================
category            what                                              where it ends
==================  ================================================  ===========================
``duplicates``      an exact copy of a clean line                     dropped by the sales gate
``malformed``       a line with an extra field                        sales quarantine (parse)
``bad_quantity``    a quantity that is not a number                   sales quarantine (type)
``missing_id``      no event id                                       sales quarantine (not null)
``wrong_day``       an event of the previous day                      sales quarantine (event time)
``unrouted``        a record type no rule knows (gift cards, ...)     sales quarantine (route)
``accounting_bad``  a sale without price, a refund with amount > 0    accounting quarantine
``supply_bad``      a restock without supplier                        supply-chain quarantine
==================  ================================================  ===========================

About one day in three has a bulk order (one sale above 5000 EUR), which the accounting
contract's ``warn`` check reports. Big days (Midsummer Eve, Black Friday, the week before
Christmas, or ``scale=``) have :data:`BIG_DAY_SCALE` times the volume.

Only the standard library; all randomness from :class:`random.Random` seeded with SHA-256 of the
date, integer cents for money: the same date always gives byte-identical files.
Run as ``python -m lockgate.sample_sales --ds 2026-01-02 --out DIR``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import hashlib
import json
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

FIELDS: Final = (
    "event_id",
    "record_type",
    "occurred_at",
    "store_id",
    "sku",
    "quantity",
    "unit_price",
    "amount",
    "currency",
    "supplier_id",
)
ACCOUNTING_TYPES: Final = ("sale", "refund")
SUPPLY_CHAIN_TYPES: Final = ("restock", "transfer_in", "transfer_out", "writeoff")
UNKNOWN_TYPES: Final = ("gift_card", "promo_credit", "layaway")
STORES: Final = tuple(f"S{n:02d}" for n in range(1, 13))
STORE_TIMEZONES: Final = {s: ("Europe/Stockholm" if i < 6 else "Europe/Helsinki") for i, s in enumerate(STORES)}
SUPPLIERS: Final = tuple(f"SUP-{n:02d}" for n in range(1, 9))
SKU_COUNT: Final = 150
CURRENCY: Final = "EUR"
ROWS_PER_FILE: Final = 800
BIG_DAY_SCALE: Final = 5
BULK_ORDER_CENTS: Final = 500_000
"""A bulk order is above 5000.00 EUR, the accounting contract's ``warn`` threshold."""


@dataclasses.dataclass(frozen=True)
class SalesBatch:
    """What :func:`generate` wrote for one day, with exact counts per category."""

    ds: datetime.date
    files: tuple[Path, ...]
    rows: int
    duplicates: int
    malformed: int
    bad_quantity: int
    missing_id: int
    wrong_day: int
    unrouted: int
    accounting_routed: int
    accounting_bad: int
    supply_routed: int
    supply_bad: int
    bulk_order: bool
    big_day: bool

    @property
    def sales_quarantined(self) -> int:
        """Rows the sales gate quarantines."""
        return self.malformed + self.bad_quantity + self.missing_id + self.wrong_day

    @property
    def sales_passed(self) -> int:
        """Rows the sales gate stages (what the route reads)."""
        return self.rows - self.duplicates - self.sales_quarantined

    @property
    def accounting_loaded(self) -> int:
        return self.accounting_routed - self.accounting_bad

    @property
    def supply_loaded(self) -> int:
        return self.supply_routed - self.supply_bad

    def counts(self) -> dict[str, int | bool]:
        fields = (f.name for f in dataclasses.fields(self) if f.name not in ("ds", "files"))
        return {
            **{name: getattr(self, name) for name in fields},
            "sales_quarantined": self.sales_quarantined,
            "sales_passed": self.sales_passed,
            "accounting_loaded": self.accounting_loaded,
            "supply_loaded": self.supply_loaded,
        }


def _seed(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _prices() -> dict[str, int]:
    rng = random.Random(_seed("lockgate-sales:catalogue"))  # noqa: S311 - sample data, not security
    return {f"SKU-{n:04d}": rng.randrange(199, 14_999) for n in range(1, SKU_COUNT + 1)}


def is_big_day(day: datetime.date) -> bool:
    """Midsummer Eve (the Friday from 19 to 25 June), Black Friday (the day after the fourth
    Thursday of November) and 19-23 December."""
    if day.month == 6:
        return day.weekday() == 4 and 19 <= day.day <= 25
    if day.month == 11:
        thursdays = [d for d in range(1, 31) if datetime.date(day.year, 11, d).weekday() == 3]
        return day.day == thursdays[3] + 1
    return day.month == 12 and 19 <= day.day <= 23


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


@dataclasses.dataclass
class _Event:
    store: str
    at: datetime.datetime
    record_type: str
    sku: str
    quantity: int
    cents: int | None
    supplier: str | None
    kind: str = "clean"  # or a defect category
    fields: list[str] = dataclasses.field(default_factory=list)


def _day_events(rng: random.Random, day: datetime.date, scale: int, prices: dict[str, int]) -> list[_Event]:
    events: list[_Event] = []
    skus = sorted(prices)
    for store in STORES:
        tz = ZoneInfo(STORE_TIMEZONES[store])
        plan = {
            "sale": rng.randint(110, 150) * scale,
            "refund": rng.randint(4, 9) * scale,
            "restock": rng.randint(3, 6) * scale,
            "transfer_in": rng.randint(0, 3) * scale,
            "transfer_out": rng.randint(0, 3) * scale,
            "writeoff": rng.randint(0, 2) * scale,
        }
        for record_type, n in plan.items():
            for _ in range(n):
                second = rng.randrange(8 * 3600, 21 * 3600)  # opening hours, local
                at = datetime.datetime.combine(day, datetime.time(), tz) + datetime.timedelta(seconds=second)
                sku = rng.choice(skus)
                quantity = rng.randint(1, 4) if record_type in ACCOUNTING_TYPES else rng.randint(5, 60)
                supplier = rng.choice(SUPPLIERS) if record_type == "restock" else None
                events.append(_Event(store, at, record_type, sku, quantity, prices[sku], supplier))
    events.sort(key=lambda e: (e.store, e.at, e.record_type, e.sku))
    return events


def _fields(event: _Event, event_id: str) -> list[str]:
    money = event.record_type in ACCOUNTING_TYPES
    cents = event.cents if money and event.cents is not None else None
    amount = None
    if cents is not None:
        amount = cents * event.quantity * (-1 if event.record_type == "refund" else 1)
    return [
        event_id,
        event.record_type,
        event.at.isoformat(timespec="seconds"),
        event.store,
        event.sku,
        str(event.quantity),
        _money(cents) if cents is not None else "",
        _money(amount) if amount is not None else "",
        CURRENCY if money else "",
        event.supplier or "",
    ]


def _pick(rng: random.Random, events: list[_Event], count: int, want: Sequence[str]) -> list[_Event]:
    """``count`` clean events of the wanted record types, chosen at random, marked by the caller."""
    candidates = [e for e in events if e.kind == "clean" and e.record_type in want]
    return rng.sample(candidates, min(count, len(candidates)))


def generate(ds: str | datetime.date, out_dir: Path, *, scale: int | None = None) -> SalesBatch:
    """Write one day of the point-of-sale feed under ``out_dir/pos/`` (replacing that day's files).

    ``scale`` multiplies the volume (default: :data:`BIG_DAY_SCALE` on big days, else 1).
    """
    day = ds if isinstance(ds, datetime.date) else datetime.date.fromisoformat(str(ds))
    big = is_big_day(day)
    scale = scale or (BIG_DAY_SCALE if big else 1)
    rng = random.Random(_seed(f"lockgate-sales:{day.isoformat()}"))  # noqa: S311 - sample data, not security
    events = _day_events(rng, day, scale, _prices())

    # defects: each picks clean events and turns them into exactly one category
    for e in _pick(rng, events, rng.randint(2, 3) * scale, ACCOUNTING_TYPES + SUPPLY_CHAIN_TYPES):
        e.kind = "malformed"
    for e in _pick(rng, events, rng.randint(2, 3), ACCOUNTING_TYPES + SUPPLY_CHAIN_TYPES):
        e.kind = "bad_quantity"
    for e in _pick(rng, events, rng.randint(1, 2), ACCOUNTING_TYPES + SUPPLY_CHAIN_TYPES):
        e.kind = "missing_id"
    for e in _pick(rng, events, rng.randint(1, 2), ACCOUNTING_TYPES):
        e.kind = "wrong_day"
        e.at = e.at - datetime.timedelta(days=1)
    for e in _pick(rng, events, rng.randint(3, 6) * scale, ("sale",)):
        e.kind = "unrouted"
        e.record_type = rng.choice(UNKNOWN_TYPES)
    for e in _pick(rng, events, rng.randint(1, 2), ("sale",)):
        e.kind = "accounting_bad"
        e.cents = None  # no price: the accounting contract needs one
    for e in _pick(rng, events, rng.randint(1, 2), ("refund",)):
        e.kind = "accounting_bad"
        e.cents = -(e.cents or 100)  # a refund booked as income: amount > 0
    for e in _pick(rng, events, rng.randint(1, 2), ("restock",)):
        e.kind = "supply_bad"
        e.supplier = None
    bulk = big or rng.random() < 1 / 3
    if bulk:
        (order,) = _pick(rng, events, 1, ("sale",))
        order.quantity = BULK_ORDER_CENTS // (order.cents or 1) + 1
        order.kind = "bulk"

    lines: list[list[str]] = []
    copied = _pick(rng, events, rng.randint(4, 8) * scale, ACCOUNTING_TYPES + SUPPLY_CHAIN_TYPES)
    duplicates = {id(e) for e in copied}
    stamp = day.strftime("%Y%m%d")
    for seq, event in enumerate(events, start=1):
        event_id = "" if event.kind == "missing_id" else f"SL-{stamp}-{seq:06d}"
        event.fields = _fields(event, event_id)
        if event.kind == "bad_quantity":
            event.fields[5] = rng.choice(["x" + event.fields[5], "n/a", "3 pcs"])
        if event.kind == "malformed":
            event.fields = [*event.fields, "CHECKOUT-7"]
        lines.append(event.fields)
        if id(event) in duplicates:
            lines.append(list(event.fields))

    files = _write(day, Path(out_dir), lines)
    kinds = [e.kind for e in events]
    routed_money = sum(1 for e in events if e.record_type in ACCOUNTING_TYPES and e.kind in _PASSES_SALES_GATE)
    routed_stock = sum(1 for e in events if e.record_type in SUPPLY_CHAIN_TYPES and e.kind in _PASSES_SALES_GATE)
    return SalesBatch(
        ds=day,
        files=tuple(files),
        rows=len(lines),
        duplicates=len(duplicates),
        malformed=kinds.count("malformed"),
        bad_quantity=kinds.count("bad_quantity"),
        missing_id=kinds.count("missing_id"),
        wrong_day=kinds.count("wrong_day"),
        unrouted=kinds.count("unrouted"),
        accounting_routed=routed_money,
        accounting_bad=sum(1 for e in events if e.kind == "accounting_bad"),
        supply_routed=routed_stock,
        supply_bad=kinds.count("supply_bad"),
        bulk_order=bulk,
        big_day=big,
    )


_PASSES_SALES_GATE: Final = ("clean", "bulk", "accounting_bad", "supply_bad")


def _write(day: datetime.date, out_dir: Path, lines: list[list[str]]) -> list[Path]:
    folder = out_dir / "pos"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(f"sales_{day.isoformat()}_part-*.csv"):
        stale.unlink()
    paths = []
    for part, start in enumerate(range(0, max(len(lines), 1), ROWS_PER_FILE), start=1):
        path = folder / f"sales_{day.isoformat()}_part-{part:03d}.csv"
        tmp = path.with_name(f".{path.name}.tmp")
        # newline="" so the bytes are the same on every platform; a reader never sees half a file
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(FIELDS)
            writer.writerows(lines[start : start + ROWS_PER_FILE])
        os.replace(tmp, path)
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lockgate.sample_sales --ds YYYY-MM-DD --out DIR [--scale N]``: write and print counts."""
    parser = argparse.ArgumentParser(prog="python -m lockgate.sample_sales", description=__doc__.split("\n")[0])
    parser.add_argument("--ds", required=True, help="logical date, YYYY-MM-DD")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--scale", type=int, default=None, help="volume multiplier (default: by date)")
    args = parser.parse_args(argv)
    batch = generate(args.ds, args.out, scale=args.scale)
    print(json.dumps({"ds": batch.ds.isoformat(), "files": [str(p) for p in batch.files], **batch.counts()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
