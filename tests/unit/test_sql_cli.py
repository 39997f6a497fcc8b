"""``lockgate sql``: a query on the configured warehouse, printed as a table (DuckDB file and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.cli import main
from lockgate.hooks.warehouse import WarehouseHook
from lockgate.sql_cli import format_table
from tests.support.pg import airflow_conn_env


def test_format_table_pads_columns_and_counts_rows() -> None:
    assert format_table(["county", "aqi"], [("Kern", 151), ("Fresno", None)]).splitlines() == [
        "county | aqi ",
        "-------+-----",
        "Kern   | 151 ",
        "Fresno | NULL",
        "(2 rows)",
    ]


def test_lockgate_sql_reads_the_embedded_duckdb_warehouse(
    lockgate_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_LOCKGATE_WAREHOUSE", raising=False)
    with WarehouseHook().transaction() as session:
        session.execute("CREATE SCHEMA IF NOT EXISTS lockgate")
        session.execute(
            "CREATE TABLE lockgate.aqi AS SELECT * FROM (VALUES ('Kern', 151), ('Fresno', 88)) t(county, aqi)"
        )
    assert main(["sql", "SELECT county, aqi FROM lockgate.aqi ORDER BY aqi DESC"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "county | aqi",
        "-------+----",
        "Kern   | 151",
        "Fresno | 88 ",
        "(2 rows)",
    ]


@pytest.mark.integration
def test_lockgate_sql_reads_postgresql_when_the_connection_points_there(
    lockgate_home: Path, pg_dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(*airflow_conn_env("lockgate_warehouse", pg_dsn))
    assert main(["sql", "SELECT current_database() AS db, 1 + 1 AS two"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split(" | ") == ["db".ljust(len(pg_dsn.rsplit("/", 1)[1])), "two"]
    assert out[2].split(" | ") == [pg_dsn.rsplit("/", 1)[1], "2  "]


def test_a_bad_query_is_one_line_on_stderr(lockgate_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "SELECT * FROM no_such_table"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lockgate sql: ")
    assert "no_such_table" in err
