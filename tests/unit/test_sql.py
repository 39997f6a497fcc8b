"""Tests for ``lockgate.sql``: identifier quoting and the SQL templates.

The DuckDB templates are rendered with the shipped ``readings`` contract and executed, statement by
statement as the warehouse hook does, in an in-memory DuckDB; the results are checked.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Any

import jinja2
import pytest

from lockgate.config import include_dir
from lockgate.contracts import Column, load_contract
from lockgate.sql import DIALECTS, SQL_TYPES, ident, literal, qualified, render, split_statements

EVIL = 'x"; DROP TABLE y; --'
UTC = datetime.UTC
DAY = datetime.date(2026, 1, 2)


@pytest.fixture
def con() -> Any:
    import duckdb

    connection = duckdb.connect()
    connection.execute("SET TimeZone='UTC'")
    yield connection
    connection.close()


def run(con: Any, sql: str, params: list[Any] | None = None) -> None:
    """Execute a rendered template the way the warehouse hook does: statement by statement, each
    binding the leading parameters it references ($1..$n)."""
    for statement in split_statements(sql):
        highest = max((int(n) for n in re.findall(r"\$(\d+)", statement)), default=0)
        con.execute(statement, (params or [])[:highest] if highest else None)


def templates(dialect: str) -> list[str]:
    """Every template a dialect can render: its own, and the shared ones in common/."""
    folders = (include_dir() / "sql" / dialect, include_dir() / "sql" / "common")
    return sorted({p.name for folder in folders for p in folder.glob("*.sql")})


# ---------------------------------------------------------------------------------------- quoting


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("station_id", '"station_id"'),
        ("Mixed Case", '"Mixed Case"'),
        ('a"b', '"a""b"'),
        ('""', '""""""'),
        (EVIL, '"x""; DROP TABLE y; --"'),
        ("", '""'),
    ],
)
def test_ident_doubles_quotes(name: str, quoted: str) -> None:
    assert ident(name) == quoted


def test_ident_refuses_nul() -> None:
    with pytest.raises(ValueError, match="NUL byte"):
        ident("a\x00b")


def test_qualified_and_literal() -> None:
    assert qualified("main", "readings") == '"main"."readings"'
    assert qualified("", 'we"ird') == '"we""ird"'
    assert literal("it's") == "'it''s'"
    assert literal("") == "''"


def test_hostile_table_name_is_just_a_name(con: Any) -> None:
    con.execute("CREATE TABLE y (v INTEGER)")
    con.execute("INSERT INTO y VALUES (42)")
    table = ident(EVIL)
    con.execute(f"CREATE TABLE {table} ({ident('col; DELETE FROM y')} VARCHAR)")
    con.execute(f"INSERT INTO {table} VALUES ('ok')")
    assert con.execute(f"SELECT * FROM {table}").fetchall() == [("ok",)]
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert tables == {"y", EVIL}
    columns = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = $1", [EVIL]
        ).fetchall()
    ]
    assert columns == ["col; DELETE FROM y"]
    assert con.execute("SELECT v FROM y").fetchall() == [(42,)]  # y survived
    con.execute(f"DROP TABLE {table}")
    assert con.execute("SELECT count(*) FROM y").fetchone() == (1,)


def test_literal_is_inert(con: Any) -> None:
    text = "'); DROP TABLE y; --"
    con.execute("CREATE TABLE y (v INTEGER)")
    assert con.execute(f"SELECT {literal(text)}").fetchone() == (text,)
    assert con.execute("SELECT count(*) FROM y").fetchone() == (0,)


def test_split_statements() -> None:
    assert split_statements("SELECT 1;\nSELECT 2;\n\n;\n") == ["SELECT 1", "SELECT 2"]
    assert split_statements("SELECT ';' AS a;\nSELECT 3") == ["SELECT ';' AS a", "SELECT 3"]
    assert split_statements("  \n") == []


# -------------------------------------------------------------------------------------- templates


def test_every_template_is_covered() -> None:
    assert templates("duckdb") == [
        "add_column.sql",
        "append.sql",
        "audit_table.sql",
        "audit_upsert.sql",
        "create_table.sql",
        # the delivery audit (tests/deliver runs it on DuckDB and PostgreSQL warehouses)
        "delivery_audit_acks.sql",
        "delivery_audit_insert.sql",
        "delivery_audit_summary.sql",
        "delivery_audit_supersede.sql",
        "delivery_audit_table.sql",
        # the embedded default target of a table delivery (tests/deliver)
        "delivery_upsert_table.sql",
        "dq_results_insert.sql",
        "dq_results_replace.sql",
        "dq_results_table.sql",
        "merge.sql",
        "replace_partition.sql",
        # the quarantine replay's link to the run it replayed (tests/e2e/test_quarantine_replay.py, DuckDB)
        "replay_audit_delete.sql",
        "replay_audit_insert.sql",
        "replay_audit_table.sql",
        "scd2.sql",
        "top_daily_aqi.sql",
        # the SQL source's watermark state (tests/sources/test_sql_source.py runs them on both dialects)
        "watermark_commit.sql",
        "watermark_record.sql",
        "watermark_select.sql",
        "watermark_table.sql",
        "widen_column.sql",
    ]
    # the load modes and schema evolution run in tests/unit/test_load_modes.py on DuckDB and
    # tests/integration/test_load_modes_postgres.py on PostgreSQL
    assert templates("postgres") == sorted(
        [t for t in templates("duckdb") if t != "delivery_upsert_table.sql"]
        # PostgreSQL's own: the per-date lock, and the date partitions of replace_partition/append tables
        + ["create_date_partition.sql", "lock_partition.sql", "lock_table_ddl.sql", "table_kind.sql"]
        + ["truncate_partition.sql"]
    )


def readings_row(station: str, hour: int, pollutant: str, value: float, ds: datetime.date = DAY) -> tuple[Any, ...]:
    return (station, "north", datetime.datetime(2026, 1, 2, hour, tzinfo=UTC), pollutant, value, "ug/m3", ds)


def create_readings(con: Any, table: str, primary_key: tuple[str, ...] = ()) -> list[Column]:
    columns = load_contract("readings").storage_columns
    run(con, render("duckdb", "create_table.sql", table=table, columns=columns, primary_key=primary_key))
    return columns


def test_duckdb_create_table_follows_the_contract(con: Any) -> None:
    contract = load_contract("readings")
    table = qualified("main", EVIL)
    sql = render(
        "duckdb",
        "create_table.sql",
        table=table,
        columns=contract.storage_columns,
        primary_key=["station_id", "observed_at", "pollutant", "ds"],
    )
    assert '"x""; DROP TABLE y; --"' in sql
    run(con, sql)
    run(con, sql)  # IF NOT EXISTS: a rerun is harmless
    described = con.execute(f"DESCRIBE {table}").fetchall()
    assert [(r[0], r[1], r[2]) for r in described] == [
        ("station_id", "VARCHAR", "NO"),
        ("region", "VARCHAR", "NO"),
        ("observed_at", "TIMESTAMP WITH TIME ZONE", "NO"),
        ("pollutant", "VARCHAR", "NO"),
        ("value", "DOUBLE", "NO"),
        ("unit", "VARCHAR", "NO"),
        ("ds", "DATE", "NO"),
    ]
    con.execute(f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?)", readings_row("ST-001", 0, "pm25", 1.0))
    import duckdb

    with pytest.raises(duckdb.ConstraintException, match="NOT NULL"):
        con.execute(f"INSERT INTO {table} VALUES ('ST-001', 'north', now(), 'o3', NULL, 'ppm', DATE '2026-01-02')")


def test_duckdb_create_table_without_primary_key_and_nullable_columns(con: Any) -> None:
    columns = [Column("a", "integer"), Column("b", "boolean", nullable=False), Column("c", "date")]
    sql = render("duckdb", "create_table.sql", table=ident("t"), columns=columns, primary_key=[])
    assert "PRIMARY KEY" not in sql
    run(con, sql)
    assert con.execute("DESCRIBE t").fetchall()[0][:3] == ("a", "BIGINT", "YES")
    con.execute("INSERT INTO t VALUES (NULL, true, NULL)")
    assert con.execute("SELECT count(*) FROM t").fetchone() == (1,)


def test_duckdb_replace_partition_and_merge(con: Any) -> None:
    columns = create_readings(con, ident("readings"), ("station_id", "observed_at", "pollutant"))
    names = [c.name for c in columns]
    insert = "INSERT INTO {} VALUES (?, ?, ?, ?, ?, ?, ?)"
    for row in [
        readings_row("ST-001", 0, "pm25", 1.0),
        readings_row("ST-001", 1, "pm25", 2.0),
        readings_row("ST-009", 0, "pm25", 9.0, ds=datetime.date(2026, 1, 1)),
    ]:
        con.execute(insert.format("readings"), row)
    create_readings(con, ident("staging"))
    for row in [readings_row("ST-001", 1, "pm25", 20.0), readings_row("ST-002", 5, "o3", 0.04)]:
        con.execute(insert.format("staging"), row)

    sql = render("duckdb", "replace_partition.sql", table=ident("readings"), staging=ident("staging"), columns=names)
    run(con, sql, [DAY])
    got = con.execute("SELECT station_id, hour(observed_at), value, ds FROM readings ORDER BY ALL").fetchall()
    assert got == [
        ("ST-001", 1, 20.0, DAY),  # the day's old rows are gone, the staged ones are in
        ("ST-002", 5, 0.04, DAY),
        ("ST-009", 0, 9.0, datetime.date(2026, 1, 1)),  # another day is untouched
    ]
    run(con, sql, [DAY])  # idempotent
    assert con.execute("SELECT count(*) FROM readings").fetchone() == (3,)

    con.execute("DELETE FROM staging")
    for row in [readings_row("ST-002", 5, "o3", 0.05), readings_row("ST-003", 2, "co", 0.3)]:
        con.execute(insert.format("staging"), row)
    sql = render(
        "duckdb", "merge.sql", table=ident("readings"), staging=ident("staging"), columns=names,
        primary_key=("station_id", "observed_at", "pollutant"),
    )  # fmt: skip
    expected = [("ST-001", "pm25", 20.0), ("ST-002", "o3", 0.05), ("ST-003", "co", 0.3), ("ST-009", "pm25", 9.0)]
    run(con, sql, [DAY])
    assert con.execute("SELECT station_id, pollutant, value FROM readings ORDER BY ALL").fetchall() == expected
    run(con, sql, [DAY])  # a rerun converges: no duplicate keys
    assert con.execute("SELECT station_id, pollutant, value FROM readings ORDER BY ALL").fetchall() == expected


def test_duckdb_audit_table_and_upsert(con: Any) -> None:
    audit = qualified("main", "_lockgate_loads")
    run(con, render("duckdb", "audit_table.sql", audit_table=audit))
    sql = render("duckdb", "audit_upsert.sql", audit_table=audit)
    loaded = datetime.datetime(2026, 1, 3, 1, 2, 3, tzinfo=UTC)
    base = ["readings", DAY, "dag", "run1", "readings", "replace_partition", 10, "abc", loaded]
    run(con, sql, base)
    rerun = [*base[:3], "run2", *base[4:6], 12, "def", loaded]
    run(con, sql, rerun)
    rows = con.execute(
        f"SELECT table_name, partition_ds, run_id, rows_loaded, checksum, loaded_at FROM {audit}"
    ).fetchall()
    assert rows == [("readings", DAY, "run2", 12, "def", loaded)]


def test_duckdb_top_daily_aqi(con: Any) -> None:
    agg = load_contract("agg_air_quality_daily")
    table = ident("agg")
    run(con, render("duckdb", "create_table.sql", table=table, columns=agg.storage_columns, primary_key=[]))
    names = ", ".join(ident(c.name) for c in agg.storage_columns)
    for station, aqi, ds in [
        ("ST-001", 50, DAY),
        ("ST-002", 150, DAY),
        ("ST-003", 150, DAY),
        ("ST-004", 400, datetime.date(2026, 1, 1)),
    ]:
        con.execute(
            f"INSERT INTO agg ({names}) VALUES (?, 'north', ?, 'x', 'pm25', {'NULL, ' * 7}24, 'r', ?)",
            [station, aqi, ds],
        )
    sql = render("duckdb", "top_daily_aqi.sql", table=table, limit=2)
    assert sql.rstrip().endswith("LIMIT 2;")
    (statement,) = split_statements(sql)
    assert [r[0] for r in con.execute(statement, [DAY]).fetchall()] == ["ST-002", "ST-003"]


@pytest.mark.parametrize("template", templates("postgres"))
def test_postgres_templates_render(template: str) -> None:
    columns = load_contract("readings").storage_columns
    names = [c.name for c in columns]
    params = {
        "table": qualified("public", EVIL),
        "staging": ident("_stage"),
        "audit_table": qualified("public", "_lockgate_loads"),
        "columns": columns if template == "create_table.sql" else names,
        "primary_key": ("station_id", "observed_at", "pollutant"),
        "attributes": names[3:],
        "column": columns[4],
        "limit": 5,
        "partition": qualified("public", EVIL + "__ds_20260102"),
        "day": "'2026-01-02'",
    }
    sql = render("postgres", template, **params)
    assert "{{" not in sql
    assert "{%" not in sql
    assert "{#" not in sql
    statements = split_statements(sql)
    assert statements
    if template == "create_table.sql":
        assert '"observed_at" timestamptz NOT NULL' in sql
        assert '"value" double precision NOT NULL' in sql
        assert 'PRIMARY KEY ("station_id", "observed_at", "pollutant")' in sql
        assert '"public"."x""; DROP TABLE y; --"' in sql
    if template == "merge.sql":
        assert 'ON CONFLICT ("station_id", "observed_at", "pollutant") DO UPDATE SET' in sql
        for column in ("region", "value", "unit", "ds"):  # every non-key column is updated
            assert f'"{column}" = EXCLUDED."{column}"' in sql
        for column in ("station_id", "observed_at", "pollutant"):
            assert f'"{column}" = EXCLUDED."{column}"' not in sql
    if template == "top_daily_aqi.sql":
        assert "LIMIT 5;" in sql


# ------------------------------------------------------------------------------------ environment


def test_strict_undefined_raises_on_a_missing_variable() -> None:
    with pytest.raises(jinja2.UndefinedError, match="'staging' is undefined"):
        render("duckdb", "replace_partition.sql", table=ident("t"), columns=["a"])
    with pytest.raises(jinja2.UndefinedError, match="'limit' is undefined"):
        render("postgres", "top_daily_aqi.sql", table=ident("t"))


def test_unknown_dialect_and_template() -> None:
    with pytest.raises(ValueError, match="unknown SQL dialect 'oracle'; expected one of duckdb, postgres"):
        render("oracle", "merge.sql")
    with pytest.raises(jinja2.TemplateNotFound):
        render("duckdb", "nope.sql")


def test_sql_types_cover_every_contract_type() -> None:
    from lockgate.contracts import COLUMN_TYPES

    assert set(DIALECTS) == set(SQL_TYPES)
    for dialect in DIALECTS:
        assert set(SQL_TYPES[dialect]) == set(COLUMN_TYPES)


def test_include_dir_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Templates come from include_dir(): prove it by rendering one from another folder."""
    from lockgate import sql as sql_module

    (tmp_path / "sql" / "duckdb").mkdir(parents=True)
    (tmp_path / "sql" / "duckdb" / "hello.sql").write_text("SELECT {{ name | ident }} FROM {{ t }};\n")
    monkeypatch.setenv("LOCKGATE_INCLUDE_DIR", str(tmp_path))
    sql_module._environment.cache_clear()
    try:
        assert render("duckdb", "hello.sql", name='a"b', t="x") == 'SELECT "a""b" FROM x;\n'
    finally:
        monkeypatch.delenv("LOCKGATE_INCLUDE_DIR")
        sql_module._environment.cache_clear()
