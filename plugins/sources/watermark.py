"""Durable watermark ranges of incremental SQL sources, kept in the warehouse (``lockgate_watermarks``).

Each logical date of an incremental source owns one range ``(low, high]`` of the watermark column:

* the first ingestion of a date starts at the high end of the latest *committed* earlier date and
  records its range, uncommitted, once the data is in the raw zone;
* every later ingestion of that date (a retry after a failed load, a manual rerun) reads exactly
  that recorded range again, so replace-partition loads stay idempotent and no row ever lands in
  two dates;
* :class:`~lockgate.operators.watermark.CommitWatermarkOperator`, downstream of the warehouse load,
  marks the range committed; only then does the next date start after it. A new date whose
  predecessor is still uncommitted waits (a retryable error) instead of reading that date's rows
  a second time.

Values are stored as text with their type (``integer``, ``double``, ``decimal``, ``timestamp``,
``date``, ``string``) and decoded before they are bound as query parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from airflow.sdk.exceptions import AirflowException

from lockgate.config import DEFAULT_WAREHOUSE_CONN_ID

WATERMARK_TABLE = "lockgate_watermarks"


def encode(value: Any) -> tuple[str | None, str | None]:
    """``(value_type, text)`` of a watermark value (``(None, None)`` for no value)."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        raise TypeError("a boolean cannot be a watermark")
    if isinstance(value, int):
        return "integer", str(value)
    if isinstance(value, float):
        return "double", repr(value)
    if isinstance(value, Decimal):
        return "decimal", str(value)
    if isinstance(value, datetime):
        return "timestamp", value.isoformat()
    if isinstance(value, date):
        return "date", value.isoformat()
    if isinstance(value, str):
        return "string", value
    raise TypeError(f"unsupported watermark value type {type(value).__name__}")


def decode(value_type: str | None, text: str | None) -> Any:
    """The value :func:`encode` stored."""
    if text is None:
        return None
    readers: dict[str, Callable[[str], Any]] = {
        "integer": int,
        "double": float,
        "decimal": Decimal,
        "timestamp": datetime.fromisoformat,
        "date": date.fromisoformat,
        "string": str,
    }
    if value_type not in readers:
        raise ValueError(f"unknown watermark value type {value_type!r}")
    return readers[value_type](text)


@dataclass(frozen=True)
class WatermarkRange:
    """The rows of one logical date: ``low < watermark <= high`` (``low`` None: from the start;
    ``high`` None: nothing to read)."""

    ds: str
    low: Any
    high: Any
    committed: bool = False
    rows: int = 0
    run_id: str = ""


@dataclass(frozen=True)
class RangePlan:
    """What an ingestion of one date reads: a recorded range again, or a new range from ``low``
    up to the source's highest value (but never into a later date's range: ``cap``)."""

    ds: str
    low: Any
    recorded: WatermarkRange | None = None
    cap: Any = None
    cap_is_empty: bool = False


def plan_range(ranges: list[WatermarkRange], ds: str, *, source: str) -> RangePlan:
    """Decide which watermark range ``ds`` reads, from the ranges recorded so far (pure logic)."""
    for r in ranges:
        if r.ds == ds:
            return RangePlan(ds, r.low, recorded=r)
    earlier = [r for r in ranges if r.ds < ds]
    pending = [r.ds for r in earlier if not r.committed]
    if pending:
        # reading from the last committed value would take those dates' rows a second time
        raise AirflowException(
            f"{source}: ds={ds} cannot start: the watermark range of ds={', '.join(pending)} is recorded but not "
            f"committed (its load has not succeeded, or no CommitWatermarkOperator runs after the load)"
        )
    low = earlier[-1].high if earlier else None
    if earlier and low is None:
        low = earlier[-1].low  # an empty range ends where it started
    later = [r for r in ranges if r.ds > ds]
    if later:
        # a date older than dates already read (a backfill): only what lies before them is left
        first = later[0]
        if first.low is None:
            return RangePlan(ds, low, cap_is_empty=True)
        return RangePlan(ds, low, cap=first.low)
    return RangePlan(ds, low)


class WatermarkStore:
    """The ``lockgate_watermarks`` table in the warehouse (DuckDB or PostgreSQL).

    :param warehouse_conn_id: the warehouse connection (see :class:`~lockgate.hooks.warehouse.WarehouseHook`).
    """

    def __init__(self, warehouse_conn_id: str = DEFAULT_WAREHOUSE_CONN_ID) -> None:
        from lockgate.hooks.warehouse import WarehouseHook

        self.warehouse = WarehouseHook(warehouse_conn_id=warehouse_conn_id)

    @property
    def table(self) -> str:
        return self.warehouse.table(WATERMARK_TABLE)

    def ranges(self, dag_id: str, source_name: str) -> list[WatermarkRange]:
        from lockgate.sql import render_statement

        with self.warehouse.transaction() as session:
            session.run_template("watermark_table.sql", table=self.table)
            rows = session.fetchall(
                render_statement(session.dialect, "watermark_select.sql", table=self.table), [dag_id, source_name]
            )
        return [
            WatermarkRange(
                ds=d.isoformat() if isinstance(d, date) else str(d),
                low=decode(vtype, low),
                high=decode(vtype, high),
                committed=bool(committed),
                rows=int(n),
                run_id=str(run_id),
            )
            for d, _col, vtype, low, high, n, committed, run_id in rows
        ]

    def record(self, dag_id: str, source_name: str, column: str, r: WatermarkRange) -> None:
        low_type, low = encode(r.low)
        high_type, high = encode(r.high)
        with self.warehouse.transaction() as session:
            session.run_template("watermark_table.sql", table=self.table)
            session.run_template(
                "watermark_record.sql",
                [
                    dag_id,
                    source_name,
                    date.fromisoformat(r.ds),
                    column,
                    high_type or low_type,
                    low,
                    high,
                    r.rows,
                    r.run_id,
                    datetime.now(UTC),
                ],
                table=self.table,
            )

    def commit(self, dag_id: str, source_name: str, ds: str, run_id: str) -> WatermarkRange:
        """Mark the range of ``ds`` committed; an error when that date never recorded one."""
        with self.warehouse.transaction() as session:
            session.run_template("watermark_table.sql", table=self.table)
            session.run_template(
                "watermark_commit.sql",
                [dag_id, source_name, date.fromisoformat(ds), run_id, datetime.now(UTC)],
                table=self.table,
            )
        for r in self.ranges(dag_id, source_name):
            if r.ds == ds:
                return r
        raise LookupError(f"no watermark range recorded for {dag_id}/{source_name} ds={ds}: did the ingestion run?")
