"""Load modes, schema evolution and the per-date lock, on DuckDB and on real PostgreSQL."""

from __future__ import annotations

import copy
import threading
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from lockgate.contracts import load_contract
from lockgate.formats import count_records
from lockgate.gate import RawFile, run_gate
from lockgate.hooks.iceberg import CatalogHook
from lockgate.hooks.lake import LakeHook
from lockgate.hooks.warehouse import WarehouseHook
from lockgate.operators.load import LoadConflictError, WarehouseLoadOperator
from lockgate.operators.partition import PartitionOperator
from tests.support.pg import airflow_conn_env

pytestmark = pytest.mark.integration

REPO_INCLUDE = Path(__file__).resolve().parents[2] / "include"
SITES: dict[str, Any] = {
    "dataset": "sites",
    "columns": {
        "site_id": {"type": "string", "nullable": False},
        "region": {"type": "string", "nullable": False},
        "capacity": {"type": "integer"},
    },
    "primary_key": ["site_id"],
    "schema_drift": {"curated": "evolve"},
}


@pytest.fixture(params=["duckdb", "postgres"])
def env(request: pytest.FixtureRequest, lockgate_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A private include/ with the `sites` contract, the lake in lockgate_home, the warehouse."""
    contracts = tmp_path / "include" / "contracts"
    contracts.mkdir(parents=True)
    (contracts / "contract.schema.json").write_text((REPO_INCLUDE / "contracts" / "contract.schema.json").read_text())
    for dialect in ("duckdb", "postgres", "common"):
        (tmp_path / "include" / "sql").mkdir(exist_ok=True)
        target = tmp_path / "include" / "sql" / dialect
        if not target.exists():
            target.symlink_to(REPO_INCLUDE / "sql" / dialect)
    monkeypatch.setenv("LOCKGATE_INCLUDE_DIR", str(tmp_path / "include"))
    from lockgate.sql import _environment

    _environment.cache_clear()
    if request.param == "postgres":
        dsn = request.getfixturevalue("pg_dsn")
        monkeypatch.setenv(*airflow_conn_env("lockgate_warehouse", dsn))
    else:
        dsn = None
    yield {"contracts": contracts, "tmp": tmp_path, "dsn": dsn, "dialect": request.param}
    _environment.cache_clear()


def publish(env: Any, ds: str, rows: list[str], spec: dict[str, Any] | None = None) -> None:
    """Contract -> gate -> staged -> curated for one date, as the DAG's steps would."""
    spec = spec or SITES
    (env["contracts"] / "sites.yaml").write_text(yaml.safe_dump(spec))
    header = ",".join(spec["columns"])
    path = env["tmp"] / f"sites-{ds}-{len(rows)}.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    outcome = run_gate(
        load_contract("sites"), [RawFile(path.name, path, "csv", count_records(path))], ds=ds, workdir=env["tmp"] / "g"
    )
    LakeHook().put_file(outcome.staged_path, f"staged/sites/ds={ds}/part-0.parquet")
    PartitionOperator(task_id="p", dataset="sites").execute(ctx(ds))


def ctx(ds: str, run: str = "manual__t") -> dict[str, Any]:
    from types import SimpleNamespace

    return {"ds": ds, "run_id": run, "dag": SimpleNamespace(dag_id="t")}


def load(ds: str, mode: str, **kwargs: Any) -> dict[str, Any]:
    op = WarehouseLoadOperator(task_id="load", dataset="sites", table="dim_site", mode=mode, **kwargs)
    return op.execute(ctx(ds))


def rows(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    return WarehouseHook().query(sql, params)


D1, D2, D3 = "2026-01-01", "2026-01-02", "2026-01-03"


def test_append_is_exactly_once_per_date(env: Any) -> None:
    publish(env, D1, ["S1,north,10", "S2,south,20"])
    assert load(D1, "append")["rows_loaded"] == 2
    assert load(D1, "append")["rows_loaded"] == 0  # the same data again: nothing to do
    publish(env, D2, ["S1,north,11"])
    load(D2, "append")
    assert rows("SELECT ds, count(*) FROM dim_site GROUP BY ds ORDER BY ds") == [
        (date(2026, 1, 1), 2),
        (date(2026, 1, 2), 1),
    ]
    publish(env, D1, ["S1,north,10", "S2,south,99"])  # corrected data for an appended date
    with pytest.raises(AirflowFailException, match="already appended with other data"):
        load(D1, "append")
    assert rows("SELECT CAST(sum(capacity) AS BIGINT) FROM dim_site") == [(41,)]


def test_scd2_keeps_history_and_reruns_change_nothing(env: Any) -> None:
    publish(env, D1, ["S1,north,10", "S2,south,20"])
    load(D1, "scd2")
    publish(env, D2, ["S1,north,10", "S2,east,20", "S3,west,5"])  # S2 moved, S3 new
    load(D2, "scd2")
    history = "SELECT site_id, region, valid_from, valid_to, is_current FROM dim_site ORDER BY site_id, valid_from"
    expected = [
        ("S1", "north", date(2026, 1, 1), None, True),
        ("S2", "south", date(2026, 1, 1), date(2026, 1, 2), False),
        ("S2", "east", date(2026, 1, 2), None, True),
        ("S3", "west", date(2026, 1, 2), None, True),
    ]
    assert rows(history) == expected
    load(D2, "scd2")  # rerun of the same date
    load(D1, "scd2")  # rerun of an older date never rewrites history
    assert rows(history) == expected
    publish(env, D2, ["S1,north,10", "S2,east,25", "S3,west,5"])  # D2 corrected: S2's capacity
    load(D2, "scd2")
    assert rows("SELECT capacity FROM dim_site WHERE site_id = 'S2' AND is_current") == [(25,)]
    assert len(rows(history)) == 4  # corrected in place, no extra version


def test_schema_evolves_with_the_contract_or_fails_naming_the_column(env: Any) -> None:
    publish(env, D1, ["S1,north,10"])
    load(D1, "replace_partition")
    before = rows("SELECT ds, capacity FROM dim_site ORDER BY ds")
    assert before == [(date(2026, 1, 1), 10)]
    # integer -> double: the warehouse could widen it, but the curated Iceberg table cannot (it
    # promotes only int -> long, float -> double): the partition step refuses, naming the column
    widened = copy.deepcopy(SITES)
    widened["columns"]["capacity"] = {"type": "double"}
    with pytest.raises(AirflowFailException, match="column capacity: old type integer, new type double"):
        publish(env, D2, ["S1,north,10.5"], widened)
    assert CatalogHook().published_dates("sites") == [D1]  # nothing of D2 reached the curated zone
    with pytest.raises(AirflowException, match="has not been published"):
        load(D2, "replace_partition")
    assert rows("SELECT ds, capacity FROM dim_site ORDER BY ds") == before  # nor the warehouse

    grown = copy.deepcopy(SITES)
    grown["columns"]["operator"] = {"type": "string"}  # a new nullable column evolves both
    publish(env, D2, ["S1,north,11,acme"], grown)
    load(D2, "replace_partition")
    assert rows("SELECT ds, capacity, operator FROM dim_site ORDER BY ds") == [
        (date(2026, 1, 1), 10, None),
        (date(2026, 1, 2), 11, "acme"),
    ]
    broken = copy.deepcopy(grown)
    broken["columns"]["region"] = {"type": "integer", "nullable": False}
    with pytest.raises(AirflowFailException, match="column region: old type string, new type integer"):
        publish(env, D3, ["S1,7,10,acme"], broken)
    assert CatalogHook().published_dates("sites") == [D1, D2]
    assert rows("SELECT count(*) FROM dim_site WHERE ds = '2026-01-03'") == [(0,)]


# an embedded DuckDB file has one writer at a time by construction: the lock is PostgreSQL's
@pytest.mark.parametrize("env", ["postgres"], indirect=True)
def test_same_date_loads_are_serialised_and_other_dates_are_not(env: Any) -> None:
    publish(env, D1, ["S1,north,10"])
    publish(env, D2, ["S1,north,11"])
    load(D1, "replace_partition")
    held, release = threading.Event(), threading.Event()

    def hold_lock() -> None:  # another load of D1 in progress
        with psycopg.connect(env["dsn"]) as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('dim_site:2026-01-01'))")
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert held.wait(10)
        with pytest.raises(LoadConflictError, match="another load of dim_site ds=2026-01-01"):
            load(D1, "replace_partition", lock_timeout=1)
        assert load(D2, "replace_partition", lock_timeout=1)["rows_loaded"] == 1  # another date goes on
    finally:
        release.set()
        holder.join()
    assert load(D1, "replace_partition")["rows_loaded"] == 1  # free again


@pytest.mark.parametrize("env", ["postgres"], indirect=True)
def test_a_load_waits_for_the_same_date_and_goes_on_when_it_is_free(env: Any) -> None:
    """The other half of the lock: within lock_timeout the second load waits, then writes."""
    publish(env, D1, ["S1,north,10"])
    held, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        with psycopg.connect(env["dsn"]) as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('dim_site:2026-01-01'))")
            held.set()
            release.wait(60)

    def release_once_waiting() -> None:
        # free the lock once the load has tried it and found it taken (its session shows the attempt)
        with psycopg.connect(env["dsn"], autocommit=True) as conn:
            while not conn.execute(
                "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
                "AND query LIKE 'SELECT pg_try_advisory_xact_lock%'"
            ).fetchone():
                threading.Event().wait(0.05)
        release.set()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert held.wait(10)
    releaser = threading.Thread(target=release_once_waiting, daemon=True)
    releaser.start()
    try:
        assert load(D1, "replace_partition", lock_timeout=120)["rows_loaded"] == 1
    finally:
        release.set()
        holder.join()
    assert rows("SELECT site_id, capacity FROM dim_site") == [("S1", 10)]


def test_a_new_not_null_column_is_refused_naming_it(env: Any) -> None:
    publish(env, D1, ["S1,north,10"])
    load(D1, "replace_partition")
    # the curated table takes the new column (optional there: its older files have no value for
    # it); the warehouse refuses it, its existing rows would break NOT NULL
    grown = copy.deepcopy(SITES)
    grown["columns"]["owner"] = {"type": "string", "nullable": False}
    publish(env, D2, ["S1,north,10,acme"], grown)
    with pytest.raises(AirflowFailException, match="column owner: new and NOT NULL"):
        load(D2, "replace_partition")
    assert rows("SELECT site_id, ds, capacity FROM dim_site") == [("S1", date(2026, 1, 1), 10)]  # nothing changed
    # a retype neither can follow is refused earlier, by the partition step, naming the column
    retyped = copy.deepcopy(grown)
    retyped["columns"]["capacity"] = {"type": "boolean"}
    with pytest.raises(AirflowFailException, match="column capacity: old type integer, new type boolean"):
        publish(env, D3, ["S1,north,true,acme"], retyped)
    assert rows("SELECT site_id, ds, capacity FROM dim_site") == [("S1", date(2026, 1, 1), 10)]


@pytest.mark.parametrize(
    "table",
    ['dim "Site"; DROP TABLE dim_site; --', "Dim Site " + "x" * 50],
    ids=["hostile", "longer-than-63-bytes"],
)
def test_awkward_table_names_are_quoted_everywhere(env: Any, table: str) -> None:
    """Through the operator: create, partition (PostgreSQL), COPY, reconcile, audit - twice."""
    publish(env, D1, ["S1,north,10", "S2,south,20"])
    publish(env, D2, ["S1,north,11"])
    for ds in (D1, D2, D1):
        op = WarehouseLoadOperator(task_id="load", dataset="sites", table=table, mode="replace_partition")
        op.execute(ctx(ds))
    quoted = WarehouseHook().table(table)
    assert rows(f"SELECT ds, count(*) FROM {quoted} GROUP BY ds ORDER BY ds") == [
        (date(2026, 1, 1), 2),
        (date(2026, 1, 2), 1),
    ]
    assert WarehouseHook().table_exists(table)
    assert rows("SELECT table_name, count(*) FROM lockgate_load_audit GROUP BY table_name") == [(table, 2)]
    if env["dialect"] == "postgres":
        with psycopg.connect(env["dsn"]) as conn:
            parts = conn.execute(
                "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = to_regclass(%s) ORDER BY 1",
                [quoted],
            ).fetchall()
        assert [len(p[0].encode()) <= 63 for p in parts] == [True, True]
        assert [p[0].rsplit("__ds_", 1)[1] for p in parts] == ["20260101", "20260102"]


@pytest.mark.parametrize("env", ["postgres"], indirect=True)
def test_a_plain_table_from_before_partitioning_is_still_replaced_by_date(env: Any) -> None:
    """A table created unpartitioned, with its key (older Lockgate, or by hand): DELETE + COPY into it."""
    with psycopg.connect(env["dsn"]) as conn:
        conn.execute(
            "CREATE TABLE dim_site (site_id text NOT NULL, region text NOT NULL, capacity bigint, ds date NOT NULL, "
            "PRIMARY KEY (site_id, ds))"
        )
    publish(env, D1, ["S1,north,10", "S2,south,20"])
    publish(env, D2, ["S1,north,11"])
    for ds in (D1, D2, D1):
        load(ds, "replace_partition")
    assert rows("SELECT ds, count(*) FROM dim_site GROUP BY ds ORDER BY ds") == [
        (date(2026, 1, 1), 2),
        (date(2026, 1, 2), 1),
    ]
    with psycopg.connect(env["dsn"]) as conn:
        kinds = conn.execute("SELECT relname, relkind::text FROM pg_class WHERE relname LIKE 'dim_site%'").fetchall()
        assert sorted(kinds) == [("dim_site", "r"), ("dim_site_pkey", "i")]  # left as it was: no partitions
