"""lockgate.load_guards as pure logic: shrink refusals, repeated keys, and a COPY line traced back
through the curated files to the staged row and its raw file and row."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import pytest

from lockgate.contracts import Column
from lockgate.load_guards import (
    Source,
    check_predicate,
    copy_error_position,
    curated_row,
    duckdb_refusal,
    error_column,
    error_constraint,
    key_sources,
    lake_checks,
    refused_rows,
    repeated_key_message,
    repeated_keys,
    shrink_refusal,
    source_lines,
    staged_sources,
)

COLUMNS = [
    Column("site_id", "string", nullable=False),
    Column("email", "string", pii="hash"),
    Column("capacity", "integer"),
    Column("region", "string"),
    Column("ds", "date", nullable=False),
]
DS = "2026-01-03"


@pytest.mark.parametrize(
    ("loaded", "delivered", "share", "refused"),
    [
        (0, 0, 0.5, False),  # nothing loaded: the first load is never guarded
        (2, 0, 0.5, True),
        (10, 4, 0.5, True),
        (10, 4, 0.3, False),
        (10, 5, 0.5, False),  # exactly the share
        (10, 11, 0.5, False),
        (10, 0, 0.0, False),  # 0 switches the guard off
        (7129, 0, 0.5, True),
    ],
)
def test_shrink_refusal(loaded: int, delivered: int, share: float, refused: bool) -> None:
    assert (shrink_refusal("readings ds=2026-01-03", loaded, delivered, share) is not None) is refused


def test_shrink_refusal_names_both_counts_and_shares() -> None:
    assert shrink_refusal("readings ds=2026-01-03", 7129, 0, 0.5) == (
        "readings ds=2026-01-03: the warehouse holds 7,129 rows for this date and the new delivery has 0 "
        "(0% < 50%); set the DAG param allow_shrink to replace it"
    )
    assert "(40% < 50%)" in str(shrink_refusal("x", 10, 4, 0.5))
    assert "(49.99% < 50%)" in str(shrink_refusal("x", 10_000, 4999, 0.5))  # never "50% < 50%"


def write(con: Any, path: Path, rows: list[tuple[Any, ...]], columns: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"CREATE OR REPLACE TABLE t ({columns})")
    if rows:
        con.executemany(f"INSERT INTO t VALUES ({', '.join('?' * len(rows[0]))})", rows)
    con.execute(f"COPY t TO '{path}' (FORMAT parquet)")
    return path


@pytest.fixture
def lake(tmp_path: Path) -> dict[str, Any]:
    """Two curated files of one date (hive paths: region below ds, email hashed) and the staged file
    they came from (email in clear, with each row's raw file and row; not in curated order)."""
    con = duckdb.connect()
    curated = "site_id VARCHAR, email VARCHAR, capacity BIGINT"
    north = write(
        con,
        tmp_path / f"curated/ds={DS}/region=north/part-a.parquet",
        [("S1", "h(a@x)", 10), ("S2", None, 20), ("S2", None, 20)],
        curated,
    )
    south = write(
        con,
        tmp_path / f"curated/ds={DS}/region=south/part-b.parquet",
        [("S3", "h(b@x)", 5000), ("S4", "h(c@x)", 1)],
        curated,
    )
    staged = write(
        con,
        tmp_path / "staged.parquet",
        [
            ("S4", "c@x", 1, "south", date(2026, 1, 3), "raw/sites/b.csv", 9),
            ("S3", "b@x", 5000, "south", date(2026, 1, 3), "raw/sites/b.csv", 4),
            ("S2", None, 20, "north", date(2026, 1, 3), "raw/sites/a.csv", 3),
            ("S2", None, 20, "north", date(2026, 1, 3), "raw/sites/c.csv", 2),
            ("S1", "a@x", 10, "north", date(2026, 1, 3), "raw/sites/a.csv", 2),
            ("S3", "b@x", 4999, "south", date(2026, 1, 3), "raw/sites/a.csv", 8),  # differs in capacity
        ],
        "site_id VARCHAR, email VARCHAR, capacity BIGINT, region VARCHAR, ds DATE, "
        "_source_file VARCHAR, _source_row BIGINT",
    )
    con.close()
    return {"files": [north, south], "staged": staged, "tmp": tmp_path}


def test_a_copy_line_is_the_nth_row_streamed_from_the_files_in_order(lake: dict[str, Any]) -> None:
    row = curated_row(lake["files"], COLUMNS, 4)  # the first row of the second file
    # as text: exact whatever the type, and printed as the warehouse shows it
    assert row == {"site_id": "S3", "email": "h(b@x)", "capacity": "5000", "region": "south", "ds": DS}
    assert curated_row(lake["files"], COLUMNS, 1)["site_id"] == "S1"  # type: ignore[index]
    assert curated_row(lake["files"], COLUMNS, 6) is None


def test_the_staged_row_is_found_by_its_values_except_pii(lake: dict[str, Any]) -> None:
    row = curated_row(lake["files"], COLUMNS, 4)
    assert row is not None
    # the email differs (hashed in curated, clear in staged): compared on everything else
    assert staged_sources(lake["staged"], COLUMNS, row) == [Source("raw/sites/b.csv", 4)]


def test_identical_rows_give_every_candidate(lake: dict[str, Any]) -> None:
    row = curated_row(lake["files"], COLUMNS, 2)
    assert row is not None
    assert staged_sources(lake["staged"], COLUMNS, row) == [Source("raw/sites/a.csv", 3), Source("raw/sites/c.csv", 2)]
    assert staged_sources(lake["staged"], COLUMNS, row, limit=1) == [Source("raw/sites/a.csv", 3)]


def test_a_staged_file_without_origin_columns_names_nothing(lake: dict[str, Any]) -> None:
    con = duckdb.connect()
    old = write(con, lake["tmp"] / "old.parquet", [("S3", "b@x", 5000, "south", date(2026, 1, 3))],
                "site_id VARCHAR, email VARCHAR, capacity BIGINT, region VARCHAR, ds DATE")  # fmt: skip
    con.close()
    assert staged_sources(old, COLUMNS, {"site_id": "S3", "capacity": "5000"}) == []


def test_source_lines() -> None:
    sources = [Source("raw/a.csv", 3), Source("raw/c.csv", 2)]
    assert source_lines(sources[:1], "email", None) == ["source: raw/a.csv row 3, column email, value NULL"]
    assert source_lines(sources, "capacity", "5000") == [
        "source: raw/a.csv row 3, column capacity, value 5000",
        "source: raw/c.csv row 2, column capacity, value 5000",
    ]
    assert source_lines(sources[:1], None, None) == ["source: raw/a.csv row 3"]


def test_repeated_keys_are_found_within_a_memory_limit_far_below_the_keys_size(tmp_path: Path) -> None:
    """The GROUP BY runs in a bounded DuckDB: with a limit far below the keys' size it spills to the
    task's work folder and still finds exactly the repeated keys."""  # 10M readings: 1.2 GiB unbounded
    con = duckdb.connect()
    path = tmp_path / f"curated/ds={DS}/region=north/part-a.parquet"
    path.parent.mkdir(parents=True)
    # 3M distinct long keys (~150 MB of text to group), three of them twice
    con.execute(
        f"""COPY (SELECT 'site-' || lpad(CAST(i AS VARCHAR), 40, '0') AS site_id, NULL::VARCHAR AS email,
                   i AS capacity FROM range(3000000) t(i)
            UNION ALL SELECT 'site-' || lpad(CAST(i AS VARCHAR), 40, '0'), NULL, i FROM range(7, 10) t(i))
            TO '{path}' (FORMAT parquet)"""
    )
    con.close()
    work = tmp_path / "work"
    work.mkdir()
    count, examples = repeated_keys([path], COLUMNS, ["site_id"], work, memory_limit="48MB")
    assert count == 3
    assert examples == [({"site_id": "site-" + str(i).rjust(40, "0")}, 2) for i in (7, 8, 9)]
    # the limit is in force (DuckDB removes its spill files when the connection closes): far too
    # little memory for even one block is DuckDB's own out-of-memory error, not a bigger process
    with pytest.raises(duckdb.OutOfMemoryException):
        repeated_keys([path], COLUMNS, ["site_id"], work, memory_limit="1MB")


def test_lake_checks_give_the_repeated_keys_and_the_reconciliation_fingerprint(
    lake: dict[str, Any], tmp_path: Path
) -> None:
    """What the load computes beside its COPY: the same keys as :func:`repeated_keys` and the lake's
    fingerprint as the reconciliation computes it over the same rows (one thread, bounded)."""
    from lockgate.hooks.warehouse import parquet_rows_sql
    from lockgate.reconcile import fingerprint_sql

    found = lake_checks(lake["files"], COLUMNS, ["site_id"], tmp_path, fingerprint=True, threads=1)
    assert found.repeated == (1, [({"site_id": "S2"}, 2)])
    con = duckdb.connect()
    expected = con.execute(
        fingerprint_sql(COLUMNS, f"({parquet_rows_sql(COLUMNS)})"), [[str(f) for f in lake["files"]]]
    ).fetchone()
    assert found.fingerprint == tuple(expected)
    assert found.fingerprint[0] == 5  # the rows of both files
    unique = lake_checks(lake["files"][1:], COLUMNS, ["site_id"], tmp_path, fingerprint=False)
    assert unique.repeated == (0, [])
    assert unique.fingerprint is None
    assert lake_checks([], COLUMNS, ["site_id"], tmp_path, fingerprint=True).fingerprint is None  # nothing to load
    assert lake_checks(lake["files"], COLUMNS, [], tmp_path, fingerprint=False).repeated == (0, [])  # no key


def test_repeated_keys_are_found_when_the_hashes_are_grouped_a_slice_at_a_time(
    lake: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big date's key hashes are grouped in slices (hash modulo the number of slices): a key's
    rows all fall in one slice, so every repeat is still found, with the same examples."""
    import lockgate.load_guards as guards

    whole = repeated_keys(lake["files"], COLUMNS, ["site_id", "region"], tmp_path)
    monkeypatch.setattr(guards, "KEYS_PER_PASS", 2)  # 5 rows: 3 slices
    assert repeated_keys(lake["files"], COLUMNS, ["site_id", "region"], tmp_path) == whole
    assert whole == (1, [({"site_id": "S2", "region": "north"}, 2)])


def test_repeated_keys_over_the_curated_files(lake: dict[str, Any], tmp_path: Path) -> None:
    assert repeated_keys(lake["files"], COLUMNS, ["site_id"], tmp_path) == (1, [({"site_id": "S2"}, 2)])
    assert repeated_keys(lake["files"], COLUMNS, ["site_id", "region"], tmp_path) == (
        1,
        [({"site_id": "S2", "region": "north"}, 2)],
    )
    assert repeated_keys(lake["files"], COLUMNS, ["site_id", "capacity", "email"], tmp_path) == (
        1,
        [({"site_id": "S2", "capacity": "20", "email": None}, 2)],  # NULLs group together
    )
    assert repeated_keys(lake["files"][1:], COLUMNS, ["site_id"], tmp_path) == (0, [])
    message = repeated_key_message(
        "sites ds=2026-01-03 (dim_site, merge)",
        1,
        [({"site_id": "S2"}, [Source("raw/sites/a.csv", 3), Source("raw/sites/c.csv", 2)])],
        [2],
    )
    assert message.splitlines()[1] == "  site_id='S2': 2 rows (source: raw/sites/a.csv row 3; raw/sites/c.csv row 2)"


ADBC_CHECK = SimpleNamespace(
    details=[
        (b"PG_DIAG_CONTEXT", b"COPY dim_site__ds_20260102, line 3"),
        (b"PG_DIAG_CONSTRAINT_NAME", b"capacity_below_1000"),
    ]
)


@pytest.mark.parametrize(
    ("error", "position"),
    [
        (ADBC_CHECK, (3, None)),
        (SimpleNamespace(details=[(b"PG_DIAG_CONTEXT", b"COPY t, line 4, column day")]), (4, "day")),
        (
            SimpleNamespace(details=[(b"PG_DIAG_CONTEXT", b"COPY t, line 2"), (b"PG_DIAG_COLUMN_NAME", b"region")]),
            (2, "region"),
        ),
        (
            ValueError('ERROR:  date out of range: "infinity"\nCONTEXT:  COPY "dim ""x""", line 12, column day: "x"\n'),
            (12, "day"),
        ),
        (SimpleNamespace(diag=SimpleNamespace(context="COPY t, line 7", column_name=None)), (7, None)),
        (ValueError("ON CONFLICT DO UPDATE command cannot affect row a second time"), None),
        (SimpleNamespace(details=[]), None),
    ],
)
def test_copy_error_position(error: Any, position: tuple[int, str | None] | None) -> None:
    assert copy_error_position(error) == position


def test_error_constraint_and_column() -> None:
    assert error_constraint(ADBC_CHECK) == "capacity_below_1000"  # type: ignore[arg-type]
    assert error_constraint(ValueError("x")) is None
    not_null = [(b"PG_DIAG_SQLSTATE", b"23502"), (b"PG_DIAG_COLUMN_NAME", b"capacity")]
    assert error_column(SimpleNamespace(details=not_null)) == "capacity"  # type: ignore[arg-type]
    other = [(b"PG_DIAG_SQLSTATE", b"22008"), (b"PG_DIAG_COLUMN_NAME", b"capacity")]
    assert error_column(SimpleNamespace(details=other)) is None  # type: ignore[arg-type]
    psycopg_like = SimpleNamespace(diag=SimpleNamespace(sqlstate="23502", column_name="region", context=None))
    assert error_column(psycopg_like) == "region"  # type: ignore[arg-type]


def test_a_value_python_cannot_hold_is_traced_as_text(tmp_path: Path) -> None:
    """DuckDB's date 'infinity' (PostgreSQL's COPY refuses it: date out of range) has no Python value."""
    columns = [Column("site_id", "string"), Column("opened", "date"), Column("ds", "date")]
    con = duckdb.connect()
    day = f"ds={DS}"
    curated = write(con, tmp_path / day / "part-0.parquet", [("S1", "2011-01-05"), ("S2", "infinity")],
                    "site_id VARCHAR, opened DATE")  # fmt: skip
    staged = write(con, tmp_path / "staged.parquet",
                   [("S2", "infinity", DS, "raw/x.csv", 3), ("S1", "2011-01-05", DS, "raw/x.csv", 2)],
                   "site_id VARCHAR, opened DATE, ds DATE, _source_file VARCHAR, _source_row BIGINT")  # fmt: skip
    con.close()
    row = curated_row([curated], columns, 2)
    assert row == {"site_id": "S2", "opened": "infinity", "ds": DS}
    assert staged_sources(staged, columns, row) == [Source("raw/x.csv", 3)]


def test_a_rule_the_warehouse_names_is_evaluated_over_the_curated_rows(lake: dict[str, Any]) -> None:
    check = duckdb_refusal(
        ValueError(
            'Constraint Error: CHECK constraint failed on table "dim_site" with expression CHECK((capacity < 1000))'
        ),
        COLUMNS,
    )
    assert check == ("((capacity < 1000)) IS FALSE", "capacity")
    assert [r["site_id"] for r in refused_rows(lake["files"], COLUMNS, check[0])] == ["S3"]
    not_null = duckdb_refusal(ValueError("Constraint Error: NOT NULL constraint failed: dim_site.email"), COLUMNS)
    assert not_null == ('"email" IS NULL', "email")
    assert [r["site_id"] for r in refused_rows(lake["files"], COLUMNS, not_null[0])] == ["S2", "S2"]
    assert duckdb_refusal(ValueError("Conversion Error: something else"), COLUMNS) is None
    # a CHECK over two columns names no single column; a CHECK passes NULL, so NULL rows are not refused
    assert check_predicate("(capacity < 100) OR (region = 'x')", COLUMNS)[1] is None
    assert refused_rows(lake["files"], COLUMNS, check_predicate("length(email) < 100", COLUMNS)[0]) == []


def test_a_repeated_key_leads_to_its_rows_even_when_the_key_is_hashed(lake: dict[str, Any]) -> None:
    """Keyed on a PII column, the curated key is a hash the staged rows do not hold: each curated row
    with the key is looked up by its other columns."""
    files, staged = lake["files"], lake["staged"]
    assert key_sources(files, COLUMNS, staged, {"email": None}) == [
        Source("raw/sites/a.csv", 3),
        Source("raw/sites/c.csv", 2),
    ]
    # S3 with capacity 5000 only, not the staged S3 that differs in capacity
    assert key_sources(files, COLUMNS, staged, {"email": "h(b@x)"}) == [Source("raw/sites/b.csv", 4)]
    assert key_sources(files, COLUMNS, staged, {"site_id": "S2", "capacity": "20"}, limit=1) == [
        Source("raw/sites/a.csv", 3)
    ]
    # nothing but PII to compare: no row is claimed to match
    assert staged_sources(staged, COLUMNS, {"email": "h(b@x)"}) == []
