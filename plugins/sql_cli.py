"""``lockgate sql "<query>"``: run one query on the configured warehouse and print a table.

The warehouse is whatever the ``lockgate_warehouse`` connection says: the embedded DuckDB file
under ``LOCKGATE_HOME`` by default, PostgreSQL (or Redshift) when ``AIRFLOW_CONN_LOCKGATE_WAREHOUSE``
points there. It goes through :class:`~lockgate.hooks.warehouse.WarehouseHook`, as the pipelines do.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from lockgate.config import DEFAULT_WAREHOUSE_CONN_ID


def run_query(sql: str, conn_id: str = DEFAULT_WAREHOUSE_CONN_ID) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The column names and rows ``sql`` returns on the warehouse ``conn_id`` (no rows for a statement)."""
    from lockgate.hooks.warehouse import WarehouseHook

    with WarehouseHook(conn_id).transaction() as session:
        session.execute(sql)
        cursor = session._cursor  # the session's DB-API cursor (DuckDB: its connection)
        if not cursor.description:
            return [], []
        return [column[0] for column in cursor.description], [tuple(row) for row in cursor.fetchall()]


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table: a header, a rule, one line per row, and the row count."""
    cells = [[("NULL" if value is None else str(value)) for value in row] for row in rows]
    widths = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(columns)]
    lines = [" | ".join(name.ljust(w) for name, w in zip(columns, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in cells]
    lines.append(f"({len(rows)} row{'' if len(rows) == 1 else 's'})")
    return "\n".join(lines)


def cmd_sql(args: argparse.Namespace) -> int:
    """Print what a query returns on the configured warehouse."""
    try:
        columns, rows = run_query(args.query, args.warehouse_conn_id)
    except Exception as exc:  # noqa: BLE001 -- any driver's error: shown as one line, not a traceback
        print(f"lockgate sql: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(format_table(columns, rows) if columns else "OK")
    return 0


def add_parser(sub: Any, environment: Any) -> None:
    """Register ``lockgate sql``; ``environment()`` applies the embedded defaults before the query."""
    sql = sub.add_parser("sql", help="run a query on the warehouse (DuckDB file by default) and print a table")
    sql.add_argument("query", help='e.g. "SELECT ds, count(*) FROM lockgate.county_daily_aqi GROUP BY ds"')
    sql.add_argument("--warehouse-conn-id", default=DEFAULT_WAREHOUSE_CONN_ID)

    def run(args: argparse.Namespace) -> int:
        environment()
        return cmd_sql(args)

    sql.set_defaults(func=run)
