"""Whatever the gate passes loads into every warehouse, unchanged: PostgreSQL and DuckDB as the reference.

* boundary values of every type (the first and last date and instant every warehouse stores, the
  BIGINT limits, the largest and smallest normal doubles, a 65,535-byte string, declared formats)
  go through the gate, and its staged Parquet through the warehouse hook's load path
  (``create_table.sql``, ``stage_parquet`` - ADBC's COPY on PostgreSQL -, ``replace_partition.sql``)
  into a real PostgreSQL and a real DuckDB table; the values read back equal the gate's, and the
  values the warehouses refuse or would store wrong (``infinity``, year 0, ``1e-400``...) are in
  quarantine instead;
* generated values: for every value the gate passes, PostgreSQL's own input parser for the type
  (``SELECT $1::date``, ``::timestamptz`` with the source's zone as the session's, ``::float8``,
  ``::numeric``, ``::boolean``) and DuckDB's ``CAST`` accept it and give the same value.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lockgate.coerce import WHITESPACE
from lockgate.contracts import parse_contract
from lockgate.formats import count_records
from lockgate.gate import RawFile, run_gate
from lockgate.hooks.warehouse import WarehouseHook
from lockgate.sql import SQL_TYPES
from tests.support.pg import airflow_conn_env
from tests.unit.test_coerce import (
    CHICAGO,
    DATE_TEXT,
    DS,
    GENERATED,
    NUMBER_TEXT,
    gate_values,
    iso_timestamps,
)

pytestmark = pytest.mark.integration

UTC = dt.UTC
CONN_ID = "lockgate_warehouse"
BIG = 2**63
LONGEST = "é" * 32767 + "e"  # 65,535 UTF-8 bytes: Redshift's VARCHAR(65535) exactly

CONTRACT = {
    "dataset": "bounds",
    "columns": {
        "k": {"type": "string", "nullable": False},
        "i": {"type": "integer"},
        "d": {"type": "double"},
        "b": {"type": "boolean"},
        "day": {"type": "date"},
        "epa_day": {"type": "date", "format": "%m/%d/%y"},
        "ts": {"type": "timestamp"},
        "s": {"type": "string"},
    },
    "primary_key": ["k"],
}

# (raw row, the typed row it loads as, or the check that quarantines it)
CASES: list[tuple[dict[str, Any], tuple[Any, ...] | str]] = [
    (
        {
            "k": "low",
            "i": str(-BIG),
            "d": "-1.7976931348623157e308",
            "b": "f",
            "day": "0001-01-01",
            "epa_day": "1/1/69",
            "ts": "0001-01-01T00:00:00Z",
            "s": " ",
        },
        (
            -BIG,
            -1.7976931348623157e308,
            False,
            dt.date(1, 1, 1),
            dt.date(1969, 1, 1),
            dt.datetime(1, 1, 1, tzinfo=UTC),
            " ",
        ),
    ),
    (
        {
            "k": "high",
            "i": str(BIG - 1),
            "d": "1.7976931348623157e308",
            "b": "TRUE",
            "day": "9999-12-31",
            "epa_day": "12/31/68",
            "ts": "9999-12-31T23:59:59.999999Z",
            "s": LONGEST,
        },
        (
            BIG - 1,
            1.7976931348623157e308,
            True,
            dt.date(9999, 12, 31),
            dt.date(2068, 12, 31),
            dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            LONGEST,
        ),
    ),
    (
        {
            "k": "tiny",
            "i": "7.0",
            "d": "2.2250738585072014e-308",
            "b": "0",
            "day": "2024-02-29",
            "epa_day": "1/3/11",
            "ts": "0001-01-01 00:00:00",
            "s": "\u00a0x\t",
        },
        # a naive year-1 time in Chicago is local mean time there (-5:50:36), in every engine alike
        (
            7,
            2.2250738585072014e-308,
            False,
            dt.date(2024, 2, 29),
            dt.date(2011, 1, 3),
            dt.datetime(1, 1, 1, 5, 50, 36, tzinfo=UTC),
            "\u00a0x\t",
        ),
    ),
    (
        {
            "k": "zero",
            "i": "-0",
            "d": "-0",
            "b": "t",
            "day": None,
            "epa_day": None,
            "ts": "2026-01-02T06:00:00.5+05:30",
            "s": None,
        },
        (0, -0.0, True, None, None, dt.datetime(2026, 1, 2, 0, 30, 0, 500000, tzinfo=UTC), None),
    ),
    # what DuckDB's TRY_CAST let through and a warehouse refused or stored wrong
    ({"k": "inf-day", "day": "infinity"}, "type"),
    ({"k": "year-0", "day": "0000-01-01"}, "range"),
    ({"k": "neg-year", "day": "-2011-01-05"}, "type"),
    ({"k": "epa-as-iso", "day": "1/5/11"}, "type"),
    ({"k": "ts-inf", "ts": "infinity"}, "type"),
    ({"k": "ts-after", "ts": "9999-12-31 23:00:00"}, "range"),  # 10000-01-01 in UTC
    ({"k": "underflow", "d": "1e-400"}, "range"),
    ({"k": "subnormal", "d": "4e-320"}, "range"),
    ({"k": "underscore", "d": "1_000"}, "type"),
    ({"k": "nan", "d": "NaN"}, "finite"),
    ({"k": "beyond-bigint", "i": str(BIG)}, "range"),
    ({"k": "too-long", "s": LONGEST + "x"}, "range"),
    ({"k": "nul", "s": "a\x00b"}, "nul"),
]
COLUMNS = ["i", "d", "b", "day", "epa_day", "ts", "s"]


@pytest.fixture
def gated(tmp_path: Path) -> tuple[Any, Path]:
    path = tmp_path / "bounds.ndjson"
    path.write_text("".join(json.dumps(raw) + "\n" for raw, _ in CASES), encoding="utf-8")
    raw = RawFile("raw/bounds.ndjson", path, "ndjson", count_records(path, fmt="ndjson"), source_timezone=CHICAGO)
    outcome = run_gate(parse_contract(CONTRACT, source="bounds.yaml"), [raw], ds=DS, workdir=tmp_path / "gate")
    return outcome, tmp_path


def expected_rows() -> list[tuple[Any, ...]]:
    return sorted((raw["k"], *typed) for raw, typed in CASES if isinstance(typed, tuple))


def test_the_gate_passes_the_boundaries_and_quarantines_what_a_warehouse_would_refuse(
    gated: tuple[Any, Path],
) -> None:
    import pyarrow.parquet as pq

    outcome, _ = gated
    staged = sorted(tuple(r[c] for c in ["k", *COLUMNS]) for r in pq.read_table(outcome.staged_path).to_pylist())
    assert staged == expected_rows()
    quarantined = {
        json.loads(r["record"])["k"]: r["check_name"] for r in pq.read_table(outcome.quarantine_path).to_pylist()
    }
    assert quarantined == {raw["k"]: typed for raw, typed in CASES if isinstance(typed, str)}
    report = outcome.report
    assert report["rows_in"] == len(CASES) == report["rows_passed"] + report["rows_quarantined"]


@pytest.mark.parametrize("dialect", ["postgres", "duckdb"])
def test_the_staged_boundaries_load_into_each_warehouse_unchanged(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, gated: tuple[Any, Path], dialect: str
) -> None:
    outcome, tmp_path = gated
    if dialect == "postgres":
        monkeypatch.setenv(*airflow_conn_env(CONN_ID, request.getfixturevalue("pg_dsn")))
    else:
        conn = {"conn_type": "duckdb", "extra": {"path": str(tmp_path / "warehouse.duckdb")}}
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    hook = WarehouseHook()
    contract = parse_contract(CONTRACT, source="bounds.yaml")
    columns = contract.storage_columns
    target = hook.table("bounds")
    with hook.transaction() as session:
        # the load path of WarehouseLoadOperator: create, stage (ADBC COPY on PostgreSQL), replace the date
        session.run_template("create_table.sql", table=target, columns=columns, primary_key=["k", "ds"])
        staging = session.stage_parquet([outcome.staged_path], columns)
        session.run_template(
            "replace_partition.sql",
            [dt.date.fromisoformat(DS)],
            table=target,
            staging=staging,
            columns=[c.name for c in columns],
            primary_key=list(contract.primary_key),
        )
    names = ", ".join(f'"{c}"' for c in ["k", *COLUMNS])
    loaded = sorted(tuple(r) for r in hook.query(f"SELECT {names} FROM {target}"))
    assert loaded == expected_rows()
    assert [type(v) for v in loaded[0][1:4]] == [int, float, bool]
    assert len(loaded) == outcome.report["rows_passed"]


# ============================================================================ generated: the warehouses' own parsers


@pytest.fixture(scope="module")
def pg(pg_server: str) -> Iterator[Any]:
    import psycopg

    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"SET TIME ZONE '{CHICAGO}'")  # naive values are the source's local time
        yield conn


@pytest.fixture(scope="module")
def duck() -> Iterator[Any]:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET TimeZone='{CHICAGO}'")
    yield con
    con.close()


def parsed_by_warehouses(pg: Any, duck: Any, ctype: str, value: str) -> tuple[Any, Any]:
    """``value`` as PostgreSQL's and DuckDB's own input parsers read it (an error if either refuses)."""
    pg_type = {"integer": "numeric", "double": "float8"}.get(ctype, SQL_TYPES["postgres"][ctype])
    from_pg = pg.execute(f"SELECT %s::{pg_type}", [value]).fetchone()[0]
    if ctype == "integer":
        # PostgreSQL's bigint parser refuses "7.0"; the gate hands it the number 7: check that number
        assert from_pg == int(from_pg), value
        from_pg = pg.execute("SELECT %s::numeric::bigint", [value]).fetchone()[0]
    from_duck = duck.execute(f"SELECT CAST(? AS {SQL_TYPES['duckdb'][ctype]})", [value]).fetchone()[0]
    return from_pg, from_duck


def assert_warehouses_agree(tmp_path: Path, pg: Any, duck: Any, ctype: str, values: list[str]) -> None:
    typed = gate_values(tmp_path, {"type": ctype}, values, source_timezone=CHICAGO)
    for i, value in enumerate(values):
        stripped = value.strip(WHITESPACE)
        if typed.staged.get(i) is None:
            continue  # quarantined, or missing (NULL)
        from_pg, from_duck = parsed_by_warehouses(pg, duck, ctype, stripped)
        assert from_pg == typed.staged[i], (value, from_pg)
        assert from_duck == typed.staged[i], (value, from_duck)


SPECIAL = ["infinity", "-infinity", "epoch", "now", "today", "NaN", "Infinity", "1e-400", "1e400", "0000-01-01"]


@GENERATED
@given(days=st.lists(st.dates(), min_size=1, max_size=15), texts=st.lists(DATE_TEXT | st.sampled_from(SPECIAL)))
def test_every_date_the_gate_passes_is_the_same_date_to_postgresql_and_duckdb(
    tmp_path: Path, pg: Any, duck: Any, days: list[dt.date], texts: list[str]
) -> None:
    assert_warehouses_agree(tmp_path, pg, duck, "date", [d.isoformat() for d in days] + texts)


@GENERATED
@given(stamps=st.lists(iso_timestamps() | st.sampled_from(SPECIAL), min_size=1, max_size=20))
def test_every_timestamp_the_gate_passes_is_the_same_instant_to_postgresql_and_duckdb(
    tmp_path: Path, pg: Any, duck: Any, stamps: list[str]
) -> None:
    assert_warehouses_agree(tmp_path, pg, duck, "timestamp", stamps)


@GENERATED
@given(
    floats=st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=15),
    texts=st.lists(NUMBER_TEXT | st.sampled_from(SPECIAL)),
)
def test_every_double_the_gate_passes_is_the_same_double_to_postgresql_and_duckdb(
    tmp_path: Path, pg: Any, duck: Any, floats: list[float], texts: list[str]
) -> None:
    assert_warehouses_agree(tmp_path, pg, duck, "double", [repr(f) for f in floats] + texts)


@GENERATED
@given(
    numbers=st.lists(st.integers(min_value=-(2**64), max_value=2**64), min_size=1, max_size=15),
    texts=st.lists(NUMBER_TEXT),
)
def test_every_integer_the_gate_passes_is_the_same_bigint_to_postgresql_and_duckdb(
    tmp_path: Path, pg: Any, duck: Any, numbers: list[int], texts: list[str]
) -> None:
    assert_warehouses_agree(tmp_path, pg, duck, "integer", [str(n) for n in numbers] + texts)


@GENERATED
@given(texts=st.lists(st.sampled_from(["t", "f", "TRUE", "false", "1", "0", "yes", "on", " T "]), min_size=1))
def test_every_boolean_the_gate_passes_is_the_same_to_postgresql_and_duckdb(
    tmp_path: Path, pg: Any, duck: Any, texts: list[str]
) -> None:
    assert_warehouses_agree(tmp_path, pg, duck, "boolean", texts)
