"""Hostile identifiers: quotes, semicolons, spaces and mixed case in table, column and dataset names.

The contract schema only admits plain lower-case names, so a contract with a hostile column or
dataset name is refused naming the file and the field. The warehouse table name is free text (an
operator argument): it loads into exactly that, correctly quoted, table. To show the quoting does
not depend on the schema's restriction, a contract *object* with hostile column names (as a looser
schema would produce) runs the gate, the partition step and the load too, while every SQL statement
they send to DuckDB (and, on PostgreSQL, to the server) is recorded: the hostile names appear in
them only as quoted identifiers or inside string literals.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from lockgate.contracts import ContractError, Expectation, load_contract
from lockgate.hooks.lake import LakePathError
from lockgate.hooks.warehouse import WarehouseHook, WarehouseSession
from lockgate.operators.ingest import IngestOperator
from lockgate.sql import ident
from tests.hostile.harness import CONTRACT, DS, Case, assert_case, assert_inside_lake, csv_text, run_case
from tests.support.pg import airflow_conn_env

pytestmark = pytest.mark.integration

HOSTILE_TABLE = 'Hostile "Readings"; DROP TABLE hostile_readings; --'
#: contract column -> its hostile name (the partition key stays plain: DuckDB writes a hive key
#: name percent-encoded into the path but does not decode it when reading, see the report)
RENAMED = {
    "station_id": 'Station "ID"; DROP TABLE x; --',
    "ts": "Observed At",
    "region": "region",
    "pollutant": "it's pollutant",
    "value": "Value;",
    "unit": "UNIT",
}
HOSTILE_NAMES = [n for n in RENAMED.values() if n != "region"]
#: what must never show outside a quoted identifier or a string literal
FRAGMENTS = ["DROP TABLE", "Station", "Observed At", "it's", "Value;", "UNIT", "Hostile"]
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")


# ------------------------------------------------------------------------------------ contracts


@pytest.mark.parametrize("name", [*HOSTILE_NAMES, "x y", "Ünïcode"])
def test_contract_with_a_hostile_column_name_is_refused(name: str, tmp_path: Path) -> None:
    raw = yaml.safe_load(CONTRACT.read_text())
    raw["columns"][name] = {"type": "string"}
    path = tmp_path / "hostile.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ContractError) as failure:
        load_contract(path)
    assert f"{path}: columns: {name!r} does not match" in str(failure.value)


@pytest.mark.parametrize("dataset", ["readings; DROP TABLE x", 'a"b', "Readings", "../evil", "a b"])
def test_contract_with_a_hostile_dataset_name_is_refused(dataset: str, tmp_path: Path) -> None:
    raw = yaml.safe_load(CONTRACT.read_text())
    raw["dataset"] = dataset
    path = tmp_path / "hostile.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ContractError) as failure:
        load_contract(path)
    assert f"{path}: dataset: {dataset!r} does not match" in str(failure.value)


@pytest.mark.parametrize("dataset", ["../../evil", "a/../../b", "x\\..\\y"])
def test_an_operator_dataset_that_would_leave_the_lake_is_refused(
    dataset: str, lockgate_home: Path, tmp_path: Path
) -> None:
    source = tmp_path / "sources" / "r.csv"
    source.parent.mkdir()
    source.write_text(csv_text(["ST-001", f"{DS}T01:00:00Z", "north", "pm25", "1.5", "ug/m3"]))
    op = IngestOperator(task_id="ingest", dataset=dataset, contract=str(CONTRACT), source=str(source))
    context = {"ds": DS, "run_id": "manual__hostile", "dag": None, "ti": None}
    with pytest.raises(LakePathError, match="unsafe lake key segment"):
        op.execute(context)  # type: ignore[arg-type]
    assert_inside_lake(lockgate_home)


# ---------------------------------------------------------------------------- SQL recording


class _RecordingConnection:
    """A real DuckDB connection that notes every statement text it is given."""

    def __init__(self, connection: Any, log: list[str]) -> None:
        self._connection = connection
        self._log = log

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        self._log.append(sql)
        return self._connection.execute(sql, *args, **kwargs)

    def sql(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        self._log.append(sql)
        return self._connection.sql(sql, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SQL text sent to DuckDB (gate, partition, load) and through a warehouse session."""
    import duckdb

    log: list[str] = []
    connect = duckdb.connect
    monkeypatch.setattr(duckdb, "connect", lambda *a, **k: _RecordingConnection(connect(*a, **k), log))
    session_execute = WarehouseSession.execute

    def execute(self: WarehouseSession, sql: str, params: Any = None) -> None:
        log.append(sql)
        session_execute(self, sql, params)

    monkeypatch.setattr(WarehouseSession, "execute", execute)
    return log


def assert_only_quoted(log: list[str], names: list[str]) -> None:
    """The hostile names reach SQL only inside quoted identifiers or string literals.

    Names derived from a hostile one (PostgreSQL's per-date partition tables) count as long as
    they are quoted too: a badly quoted name leaves a fragment outside every token.
    """
    assert log
    for sql in log:
        outside = _QUOTED.sub(" ", sql)
        for fragment in FRAGMENTS:
            assert fragment not in outside, f"{fragment!r} outside quotes in:\n{sql}"
    sent = "\n".join(log)
    for name in names:
        assert ident(name) in sent, f"{name!r} never reached SQL"


# --------------------------------------------------------------------------------- the runs


def hostile_contract() -> Any:
    """The corpus contract with hostile column names, built past the schema's name check."""
    base = load_contract(CONTRACT)
    columns = tuple(dataclasses.replace(c, name=RENAMED[c.name]) for c in base.columns)
    expectations = (
        Expectation("expect_column_values_to_be_between", "quarantine", {"column": "Value;", "min_value": 0}),
        Expectation("expect_compound_columns_to_be_unique", "fail", {"column_list": list(HOSTILE_KEY)}),
        Expectation("expect_column_values_to_match_regex", "quarantine", {"column": RENAMED["unit"], "regex": "^u"}),
    )
    return dataclasses.replace(
        base,
        columns=columns,
        primary_key=HOSTILE_KEY,
        partition_keys=("region",),
        event_time="Observed At",
        expectations=expectations,
    )


HOSTILE_KEY = (RENAMED["station_id"], "Observed At", "it's pollutant")


def hostile_rows() -> Case:
    header = tuple(RENAMED.values())
    rows = [
        ["ST-001", f"{DS}T01:00:00Z", "north", "pm25", "1.5", "ug/m3"],
        ["ST-002; DROP TABLE y; --", f"{DS}T02:00:00Z", "so'uth", "pm25", "2.5", "ug/m3"],
        ["ST-003", f"{DS}T03:00:00Z", "north", "pm25", "-3", "ug/m3"],  # quarantined: negative
        ["ST-004", f"{DS}T04:00:00Z", "north", "pm25", "x", "ug/m3"],  # quarantined: not a number
        ["ST-001", f"{DS}T01:00:00Z", "north", "pm25", "1.5", "ug/m3"],  # exact duplicate
        ["ST-005", f"{DS}T05:00:00Z", "north", "pm25", "5.5", "ppm"],  # quarantined: regex
    ]
    return Case("h.csv", csv_text(*rows, header=header).encode(), 6, quarantined=3, duplicates=1)


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The embedded DuckDB warehouse, or a fresh PostgreSQL database."""
    if request.param == "postgres":
        monkeypatch.setenv(*airflow_conn_env("lockgate_warehouse", request.getfixturevalue("pg_dsn")))
    return str(request.param)


def _columns(table: str) -> list[str]:
    hook = WarehouseHook()
    found = hook.query(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 "
        "ORDER BY ordinal_position",
        [hook.schema, table],
    )
    return [r[0] for r in found]


def test_hostile_table_name_loads_into_that_quoted_table(
    warehouse: str, lockgate_home: Path, tmp_path: Path, statements: list[str]
) -> None:
    c = Case(
        "t.csv",
        csv_text(
            ["ST-001", f"{DS}T01:00:00Z", "north", "pm25", "1.5", "ug/m3"],
            ["ST-002", f"{DS}T02:00:00Z", "south", "pm25", "-2", "ug/m3"],
        ).encode(),
        2,
        quarantined=1,
        reason="is not between 0 and 10000",
        column="value",
    )
    out = run_case(c, tmp_path / "sources", table=HOSTILE_TABLE)
    assert_case(c, out, lockgate_home)
    assert out.column("station_id") == ["ST-001"]
    assert _columns(HOSTILE_TABLE) == ["station_id", "ts", "region", "pollutant", "value", "unit", "ds"]
    hook = WarehouseHook()
    tables = {
        r[0]
        for r in hook.query("SELECT table_name FROM information_schema.tables WHERE table_schema = $1", [hook.schema])
    }
    assert HOSTILE_TABLE in tables
    assert "hostile_readings" not in tables  # nothing was created (or dropped) under the bare name
    audit = hook.query("SELECT table_name, rows_loaded FROM lockgate_load_audit")
    assert audit == [(HOSTILE_TABLE, 1)]
    assert_only_quoted(statements, [HOSTILE_TABLE])


def test_hostile_column_names_are_quoted_in_every_statement(
    warehouse: str, lockgate_home: Path, tmp_path: Path, statements: list[str]
) -> None:
    c = hostile_rows()
    contract = hostile_contract()
    out = run_case(c, tmp_path / "sources", table=HOSTILE_TABLE, contract=contract, columns=tuple(RENAMED.values()))
    assert_inside_lake(lockgate_home)
    assert out.failed_at is None, f"{out.failed_at}: {out.error}"
    # every row accounted for, by the quarantine rows' own column names
    assert c.rows_in == out.loaded + len(out.quarantine) + out.duplicates == 2 + 3 + 1
    assert sorted((q["source_row"], q["column_name"]) for q in out.quarantine) == [
        (4, "Value;"),
        (5, "Value;"),
        (7, "UNIT"),
    ]
    assert sorted(out.column(RENAMED["station_id"])) == ["ST-001", "ST-002; DROP TABLE y; --"]
    assert sorted(out.column("region")) == ["north", "so'uth"]
    assert _columns(HOSTILE_TABLE) == [*RENAMED.values(), "ds"]
    assert_only_quoted(statements, [*HOSTILE_NAMES, HOSTILE_TABLE])
