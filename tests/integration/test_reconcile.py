"""Reconciliation after each load: the warehouse partition must match the lake partition."""

from __future__ import annotations

from pathlib import Path

import duckdb
import psycopg
import pytest

from lockgate.contracts import Column, load_contract
from lockgate.reconcile import ReconciliationError, differences, fingerprint_sql, labels
from lockgate.sample_data import generate
from tests.support.pg import airflow_conn_env
from tests.support.pipeline import READINGS_TO_CURATED, content_checksum_sql, context, operator, run_chain

DS = "2026-01-02"


def test_fingerprints_match_and_name_what_differs() -> None:
    columns = load_contract("readings").storage_columns
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.execute(
        "CREATE TABLE a AS SELECT 'ST-' || lpad(i::VARCHAR, 3, '0') AS station_id, 'north' AS region, "
        "TIMESTAMPTZ '2026-01-02 00:00:00+00' + i * INTERVAL 1 HOUR AS observed_at, 'pm25' AS pollutant, "
        "i * 1.1 AS value, 'ug/m3' AS unit, DATE '2026-01-02' AS ds FROM range(20) t(i)"
    )
    con.execute("CREATE TABLE b AS SELECT * FROM a")
    fingerprint_a = con.execute(fingerprint_sql(columns, "a")).fetchone()
    assert differences(columns, fingerprint_a, con.execute(fingerprint_sql(columns, "b")).fetchone()) == []

    con.execute("UPDATE b SET value = value + 0.5 WHERE station_id = 'ST-007'")
    found = differences(columns, fingerprint_a, con.execute(fingerprint_sql(columns, "b")).fetchone())
    assert len(found) == 1
    assert found[0].startswith("value sum: lake")

    con.execute("DELETE FROM b WHERE station_id = 'ST-019'")
    found = differences(columns, fingerprint_a, con.execute(fingerprint_sql(columns, "b")).fetchone())
    assert found[0].startswith("rows count: lake 20, warehouse 19")
    assert any(f.startswith("observed_at max") for f in found)


def test_a_nullable_column_is_counted_so_null_and_empty_differ() -> None:
    """A NOT NULL column is not counted (its count is the row count); a nullable one must be: an
    empty string and a null have the same size in bytes."""
    columns = [Column("station_id", "string", nullable=False), Column("note", "string", nullable=True)]
    assert labels(columns) == [
        ("rows", "count"),
        ("station_id", "total bytes"),
        ("note", "values"),
        ("note", "total bytes"),
    ]
    con = duckdb.connect()
    con.execute("CREATE TABLE a AS SELECT * FROM (VALUES ('ST-001', ''), ('ST-002', 'x')) t(station_id, note)")
    con.execute("CREATE TABLE b AS SELECT * FROM (VALUES ('ST-001', NULL), ('ST-002', 'x')) t(station_id, note)")
    lake = con.execute(fingerprint_sql(columns, "a")).fetchone()
    warehouse = con.execute(fingerprint_sql(columns, "b")).fetchone()
    assert differences(columns, lake, warehouse) == ["note values: lake 2, warehouse 1"]


@pytest.mark.integration
def test_duckdb_and_postgres_fingerprint_multibyte_strings_alike(pg_dsn: str) -> None:
    """Strings are fingerprinted by their size in bytes on both engines (strlen / octet_length)."""
    columns = [c for c in load_contract("readings").storage_columns if c.name in ("station_id", "region")]
    rows = [("ST-é01", "nörth"), ("ST-日本", "south"), ("ST-🙂", "west")]
    con = duckdb.connect()
    con.execute("CREATE TABLE lake (station_id VARCHAR, region VARCHAR)")
    con.executemany("INSERT INTO lake VALUES (?, ?)", rows)
    lake = con.execute(fingerprint_sql(columns, "lake")).fetchone()
    assert lake is not None
    station_bytes = dict(zip(labels(columns), lake, strict=True))[("station_id", "total bytes")]
    assert station_bytes == sum(len(s.encode()) for s, _ in rows)  # bytes, not characters
    with psycopg.connect(pg_dsn, autocommit=True) as pg:
        pg.execute("CREATE TEMP TABLE wh (station_id text, region text)")
        with pg.cursor() as cur:
            cur.executemany("INSERT INTO wh VALUES (%s, %s)", rows)
            warehouse = cur.execute(fingerprint_sql(columns, "wh", dialect="postgres")).fetchone()
            assert differences(columns, lake, warehouse) == []
            # the same number of characters, one more byte: the fingerprints disagree
            cur.execute("UPDATE wh SET station_id = 'ST-éé1' WHERE station_id = 'ST-é01'")
            found = differences(
                columns, lake, cur.execute(fingerprint_sql(columns, "wh", dialect="postgres")).fetchone()
            )
    assert found == [f"station_id total bytes: lake {station_bytes}, warehouse {station_bytes + 1}"]


@pytest.mark.integration
def test_a_load_that_does_not_match_the_lake_commits_nothing(
    lockgate_home: Path, pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trigger that alters rows on the way in makes the warehouse disagree with the lake."""
    monkeypatch.setenv(*airflow_conn_env("lockgate_warehouse", pg_dsn))
    generate(DS, lockgate_home / "sources")
    ctx = context(DS, "manual__reconcile")
    run_chain(str(lockgate_home / "sources"), DS, "manual__reconcile", tasks=READINGS_TO_CURATED)
    load = operator("load_fact_air_quality_hourly")
    first = load.execute(ctx)
    columns = load_contract("readings").storage_columns
    checksum = content_checksum_sql('"public"."fact_air_quality_hourly"', [c.name for c in columns])
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        before = conn.execute(checksum).fetchone()
        audit_before = conn.execute("SELECT run_id, loaded_at FROM lockgate_load_audit").fetchall()
        conn.execute(
            "CREATE FUNCTION skew() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN NEW.value := NEW.value * 1.5; RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER skew BEFORE INSERT ON fact_air_quality_hourly FOR EACH ROW EXECUTE FUNCTION skew()"
        )

    with pytest.raises(ReconciliationError, match="value sum: lake"):
        operator("load_fact_air_quality_hourly").execute(context(DS, "manual__reconcile_2"))

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        assert conn.execute(checksum).fetchone() == before  # rolled back: the first load's rows, untouched
        assert conn.execute("SELECT run_id, loaded_at FROM lockgate_load_audit").fetchall() == audit_before
        assert before[0] == first["rows_loaded"]
