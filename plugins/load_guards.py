"""What a warehouse load checks before it writes, and how it names the source of a refused row.

* **Shrinking deliveries** (:func:`shrink_refusal`): a ``replace_partition`` load that would
  replace a loaded date with fewer than the contract's ``min_replace_share`` of its rows (0 rows
  included) is refused with both counts, unless the run says ``allow_shrink``. The first load of a
  date is never refused.
* **Repeated keys** (:func:`repeated_keys`): a GROUP BY over the curated files of the date; a
  key held by two rows is refused before anything commits (``merge`` would otherwise raise
  PostgreSQL's ``ON CONFLICT DO UPDATE command cannot affect row a second time`` or insert both on
  DuckDB, and the other modes would load both). The load runs it beside its writes, with the lake's
  side of the reconciliation (:func:`lake_checks`), and reads the verdict before its commit.
* **A refused row's source** (:func:`copy_error_position`, :func:`curated_row`,
  :func:`staged_sources`): the warehouse names the COPY line; the n-th line is the n-th row of the
  curated files as the load streamed them (:func:`lockgate.hooks.warehouse.parquet_rows_sql`); the
  staged rows of the date with the same values (PII columns aside: the partition step hashed or
  masked those) carry the raw file and row they were read from (``ORIGIN_COLUMNS``).

Everything here reads local Parquet with an in-memory DuckDB and takes plain values, so it is
tested without a warehouse.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockgate.contracts import DATE_PARTITION, ORIGIN_COLUMNS, Column
from lockgate.hooks.warehouse import parquet_rows_sql
from lockgate.sql import SQL_TYPES, ident

#: candidates named per refused row (identical staged rows all match)
MAX_SOURCES = 5
#: DuckDB memory for the repeated-key GROUP BY and the fingerprint of a date's curated files (see
#: :func:`lake_checks`): grouping a hash of the key spills beyond it, beside the load's COPY. 10M
#: readings, the load task's peak: 430 MiB (482 under 128MB, 790 under 512MB with the keys grouped
#: before the COPY); the checks' ~1.3 s of CPU take 4.2 s of one thread, well within the COPY's time
REPEATED_KEYS_MEMORY = "64MB"
#: rows whose key hashes one GROUP BY of :func:`lake_checks` groups under that limit (10M: 4.2 s
#: on one thread; a 100M-row date takes 10 such slices, each reading the key columns again)
KEYS_PER_PASS = 10_000_000
#: ``COPY <table>, line <n>[, column <c>]`` in PostgreSQL's error context
_COPY_LINE = re.compile(r"\bCOPY .*?, line (\d+)(?:, column (.+?))?(?::|\n|$)", re.DOTALL)
#: DuckDB's constraint errors name the column, or the CHECK's expression (never the row)
_NOT_NULL = re.compile(r"NOT NULL constraint failed: (?:.*\.)?([A-Za-z_][A-Za-z0-9_]*)")
_CHECK = re.compile(r"CHECK constraint failed on table .*? with expression CHECK\((.*)\)\s*$", re.DOTALL)


@dataclass(frozen=True)
class Source:
    """Where the gate read a staged row: the raw file's lake key and its row."""

    file: str
    row: int


def _percent(share: float) -> str:
    return f"{share * 100:.4g}%"


def shrink_refusal(what: str, loaded: int, delivered: int, min_share: float) -> str | None:
    """Why replacing ``loaded`` rows with ``delivered`` is refused, or None when it may go on.

    ``what`` names the date (``readings ds=2026-01-03``). Nothing loaded: never refused.
    """
    if loaded <= 0 or delivered >= loaded * min_share:
        return None
    return (
        f"{what}: the warehouse holds {loaded:,} rows for this date and the new delivery has {delivered:,} "
        f"({_percent(delivered / loaded)} < {_percent(min_share)}); set the DAG param allow_shrink to replace it"
    )


#: a date's repeated keys: (how many keys, up to a few of them as ({column: value as text}, copies))
RepeatedKeys = tuple[int, list[tuple[dict[str, str | None], int]]]


@dataclass(frozen=True)
class LakeChecks:
    """What the load learns from the curated files alone: the repeated keys (:func:`repeated_keys`)
    and the lake's side of the reconciliation (:func:`lockgate.reconcile.fingerprint_sql`'s row, or
    None when not asked)."""

    repeated: RepeatedKeys
    fingerprint: tuple[Any, ...] | None


def repeated_keys(
    files: Sequence[str | Path],
    columns: Sequence[Column],
    key: Sequence[str],
    work: Path,
    limit: int = MAX_SOURCES,
    memory_limit: str = REPEATED_KEYS_MEMORY,
) -> RepeatedKeys:
    """Keys held by more than one row of the curated files: (how many keys, up to ``limit`` of them
    as ({column: value as text}, copies), in key order).

    The GROUP BY runs in ``memory_limit``, spilling to ``work``: unbounded, it held 1.1-1.2 GiB for a
    10M-row date (the load task's peak).
    """
    return lake_checks(files, columns, key, work, fingerprint=False, limit=limit, memory_limit=memory_limit).repeated


def lake_checks(
    files: Sequence[str | Path],
    columns: Sequence[Column],
    key: Sequence[str],
    work: Path,
    fingerprint: bool,
    limit: int = MAX_SOURCES,
    memory_limit: str = REPEATED_KEYS_MEMORY,
    threads: int | None = None,
) -> LakeChecks:
    """The curated files' repeated keys (none looked for without a ``key``) and, when asked, their
    fingerprint, in one DuckDB bounded to ``memory_limit`` (spilling to ``work``) with at most
    ``threads`` threads (the load runs this beside its COPY: one leaves the COPY its CPU)."""
    from lockgate.duckdb_session import bounded_duckdb
    from lockgate.reconcile import fingerprint_sql

    if not files:
        return LakeChecks((0, []), None)
    file_list = [[str(f) for f in files]]
    rows = parquet_rows_sql(columns)
    con = bounded_duckdb(work, memory_limit)
    try:
        if threads is not None:
            con.execute(f"SET threads = {int(threads)}")
        repeated = _repeated_keys(con, rows, file_list, key, limit) if key else (0, [])
        found = con.execute(fingerprint_sql(columns, f"({rows})"), file_list).fetchone() if fingerprint else None
    finally:
        con.close()
    return LakeChecks(repeated, tuple(found) if found is not None else None)


def _repeated_keys(con: Any, rows: str, file_list: list[Any], key: Sequence[str], limit: int) -> RepeatedKeys:
    """:func:`repeated_keys` on an open connection (``rows``: :func:`parquet_rows_sql`).

    When no 64-bit hash of the key repeats no key does
    (:func:`lockgate.duckdb_session.repeating_hash_slices`, as the gate's own uniqueness check
    asks); only a repeated hash, a real repeat or a collision, groups the key's values themselves.
    """
    from lockgate.duckdb_session import repeating_hash_slices

    names = ", ".join(ident(k) for k in key)
    # DuckDB's grouping does not stay within a small limit whatever the number of groups (100M keys
    # failed under 128MB): the hashes are counted, then grouped, a slice at a time
    slices, repeating = repeating_hash_slices(con, f"({rows})", key, KEYS_PER_PASS, file_list)
    con.execute("CREATE TEMP TABLE _repeated_hashes (h UBIGINT)")
    for part in repeating:
        where = f"WHERE hash({names}) % {slices} = {part}" if slices > 1 else ""
        con.execute(
            f"INSERT INTO _repeated_hashes SELECT hash({names}) AS h FROM ({rows}) {where} "
            "GROUP BY h HAVING count(*) > 1",
            file_list,
        )
    (hashes,) = con.execute("SELECT count(*) FROM _repeated_hashes").fetchone()
    if not hashes:
        return 0, []
    texts = ", ".join(f"CAST({ident(k)} AS VARCHAR)" for k in key)
    # grouped by the typed values (as the warehouse's key compares), shown as text: only the rows
    # whose hash repeats (a real repeat, or a collision)
    found = con.execute(
        f"SELECT {texts}, count(*) AS _copies, count(*) OVER () AS _keys FROM ({rows}) "
        f"WHERE hash({names}) IN (SELECT h FROM _repeated_hashes) "
        f"GROUP BY {names} HAVING count(*) > 1 ORDER BY {names} LIMIT {int(limit)}",
        file_list,
    ).fetchall()
    if not found:
        return 0, []
    return int(found[0][-1]), [(dict(zip(key, r[: len(key)], strict=True)), int(r[len(key)])) for r in found]


def repeated_key_message(
    what: str, count: int, examples: list[tuple[dict[str, str | None], list[Source]]], copies: list[int]
) -> str:
    """The refusal of a date whose curated rows repeat a key, with each example's sources."""
    lines = [
        f"{what}: {count:,} primary key value(s) appear more than once in the curated rows; "
        "a load never writes two rows with one key from one date (nothing was written):"
    ]
    for (values, sources), n in zip(examples, copies, strict=True):
        keys = ", ".join(f"{k}={v!r}" for k, v in values.items())
        where = "; ".join(f"{s.file} row {s.row}" for s in sources) or "no staged row found"
        lines.append(f"  {keys}: {n} rows (source: {where})")
    return "\n".join(lines)


def copy_error_position(error: BaseException) -> tuple[int, str | None] | None:
    """(COPY line, column or None) named by a PostgreSQL error, or None.

    Read from the diagnostics when the driver gives them (ADBC: ``details``, psycopg: ``diag``),
    else from the message text; the column comes from the context (``..., column day``) or the
    diagnostics' column name (a NOT NULL violation).
    """
    diagnostics = _diagnostics(error)
    text = diagnostics.get("PG_DIAG_CONTEXT") or str(error)
    match = _COPY_LINE.search(text)
    if not match:
        return None
    column = match.group(2) or diagnostics.get("PG_DIAG_COLUMN_NAME")
    return int(match.group(1)), column


def error_constraint(error: BaseException) -> str | None:
    """The constraint a PostgreSQL error names (a CHECK a DBA added, say), or None."""
    return _diagnostics(error).get("PG_DIAG_CONSTRAINT_NAME")


#: PostgreSQL's SQLSTATE of a NOT NULL violation
_NOT_NULL_VIOLATION = "23502"


def error_column(error: BaseException) -> str | None:
    """The column a PostgreSQL NOT NULL violation names in its diagnostics, or None."""
    diagnostics = _diagnostics(error)
    if diagnostics.get("PG_DIAG_SQLSTATE") != _NOT_NULL_VIOLATION:
        return None
    return diagnostics.get("PG_DIAG_COLUMN_NAME")


def _diagnostics(error: BaseException) -> dict[str, str]:
    details = getattr(error, "details", None)  # ADBC: [(b"PG_DIAG_CONTEXT", b"COPY t, line 2"), ...]
    if isinstance(details, list):
        found = {}
        for item in details:
            if isinstance(item, tuple) and len(item) == 2:
                name, value = (p.decode("utf-8", "replace") if isinstance(p, bytes) else str(p) for p in item)
                found[name] = value
        return found
    diag = getattr(error, "diag", None)  # psycopg
    if diag is None:
        return {}
    fields = {
        "PG_DIAG_CONTEXT": "context",
        "PG_DIAG_COLUMN_NAME": "column_name",
        "PG_DIAG_CONSTRAINT_NAME": "constraint_name",
        "PG_DIAG_SQLSTATE": "sqlstate",
    }
    return {name: str(text) for name, attr in fields.items() if (text := getattr(diag, attr, None))}


def check_predicate(expression: str, columns: Sequence[Column]) -> tuple[str, str | None]:
    """(a predicate true for the rows a CHECK refuses, its one column or None) from its expression.

    A CHECK refuses a row only when its expression is false (NULL passes), hence ``IS FALSE``.
    """
    named = [c.name for c in columns if re.search(rf"(?<![A-Za-z0-9_]){re.escape(c.name)}(?![A-Za-z0-9_])", expression)]
    return f"({expression}) IS FALSE", named[0] if len(named) == 1 else None


def duckdb_refusal(error: BaseException, columns: Sequence[Column]) -> tuple[str, str | None] | None:
    """(predicate of the refused rows, column or None) from a DuckDB constraint error, or None."""
    text = str(error)
    if match := _NOT_NULL.search(text):
        return f"{ident(match.group(1))} IS NULL", match.group(1)
    if match := _CHECK.search(text):
        return check_predicate(match.group(1), columns)
    return None


def _curated_query(
    files: Sequence[str | Path], columns: Sequence[Column], sql: str, params: Sequence[Any] = ()
) -> list[dict[str, str | None]]:
    """Rows of ``sql`` (over ``curated``: the streamed rows, typed; ``params`` bound from ``$2``) as
    {column: text}, by an in-memory DuckDB: the warehouse's transaction is aborted by then, and this
    never touches it."""
    import duckdb

    texts = ", ".join(f"CAST({ident(c.name)} AS VARCHAR) AS {ident(c.name)}" for c in columns)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        found = con.execute(
            f"WITH curated AS ({parquet_rows_sql(columns)}) SELECT {texts} FROM ({sql})",
            [[str(f) for f in files], *params],
        ).fetchall()
    finally:
        con.close()
    return [dict(zip((c.name for c in columns), r, strict=True)) for r in found]


def refused_rows(
    files: Sequence[str | Path], columns: Sequence[Column], predicate: str, limit: int = MAX_SOURCES
) -> list[dict[str, str | None]]:
    """The first ``limit`` curated rows a warehouse rule (``predicate``, from its error or catalog)
    refuses, as {column: text}."""
    return _curated_query(files, columns, f"SELECT * FROM curated WHERE {predicate} LIMIT {int(limit)}")


def key_sources(
    files: Sequence[str | Path],
    columns: Sequence[Column],
    staged: str | Path,
    key: dict[str, str | None],
    limit: int = MAX_SOURCES,
) -> list[Source]:
    """The raw files and rows of the curated rows holding one key ({column: text}): each such row
    is looked up whole (:func:`staged_sources`), so a key column the partition step hashed still
    leads to its row."""
    where = " AND ".join(f"CAST({ident(k)} AS VARCHAR) IS NOT DISTINCT FROM ${n}" for n, k in enumerate(key, 2))
    found: list[Source] = []
    for row in _curated_query(
        files, columns, f"SELECT * FROM curated WHERE {where} LIMIT {int(limit)}", [*key.values()]
    ):
        found.extend(staged_sources(staged, columns, row, limit))
    return sorted(dict.fromkeys(found), key=lambda s: (s.file, s.row))[:limit]


def curated_row(files: Sequence[str | Path], columns: Sequence[Column], line: int) -> dict[str, str | None] | None:
    """The ``line``-th (1-based) row the load streamed from ``files`` as {column: text}, or None past the end."""
    found = _curated_query(files, columns, f"SELECT * FROM curated LIMIT 1 OFFSET {int(line) - 1}")
    return found[0] if found else None


def staged_sources(
    staged: str | Path, columns: Sequence[Column], row: dict[str, str | None], limit: int = MAX_SOURCES
) -> list[Source]:
    """The staged rows equal to a curated ``row`` ({column: text}) in every column the partition
    step keeps as is (PII columns are hashed or masked there, so they are left out), as their raw
    file and row.

    Several candidates when identical rows were staged (at most ``limit``); none when the staged
    file predates ``ORIGIN_COLUMNS``.
    """
    import duckdb

    compared = [c for c in columns if c.pii_mode is None and c.name != DATE_PARTITION and c.name in row]
    if not compared:
        return []  # nothing the staged and curated rows share: any row would "match"
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        present = {r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet($1)", [str(staged)]).fetchall()}
        if not set(ORIGIN_COLUMNS) <= present:
            return []
        # both sides as the text of the contract's type, as the curated row was read
        where = " AND ".join(
            f"CAST(CAST({ident(c.name)} AS {SQL_TYPES['duckdb'][c.type]}) AS VARCHAR) IS NOT DISTINCT FROM ${n}"
            for n, c in enumerate(compared, 2)
        )
        file, number = (ident(c) for c in ORIGIN_COLUMNS)
        found = con.execute(
            f"SELECT {file}, {number} FROM read_parquet($1) WHERE {where} ORDER BY {file}, {number} LIMIT {int(limit)}",
            [str(staged), *(row[c.name] for c in compared)],
        ).fetchall()
    finally:
        con.close()
    return [Source(str(f), int(n)) for f, n in found]


def source_lines(sources: list[Source], column: str | None, value: str | None) -> list[str]:
    """``source: <file> row <n>, column <c>, value <v>`` per candidate (column and value when known)."""
    detail = f", column {column}, value {'NULL' if value is None else value}" if column else ""
    return [f"source: {s.file} row {s.row}{detail}" for s in sources]
