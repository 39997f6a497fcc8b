"""The load's own guards, on DuckDB and real PostgreSQL: shrinking deliveries, repeated keys, and a
refused row named by its raw file and row (see lockgate.load_guards)."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import duckdb
import psycopg
import pytest
import yaml
from airflow.sdk.exceptions import AirflowFailException

from lockgate.hooks.lake import LakeHook
from lockgate.hooks.warehouse import WarehouseHook
from lockgate.operators.load import LOAD_MODES, WarehouseLoadOperator
from lockgate.operators.partition import PartitionOperator
from tests.integration.test_load_modes import D1, D2, SITES, ctx, load, publish, rows
from tests.integration.test_load_modes import env as env  # the fixture, DuckDB and PostgreSQL

pytestmark = pytest.mark.integration


#: a delivery the gate passes 0 rows of (its one row quarantined; `sites` has no row-count check)
NOTHING_PASSES = ["S9,north,not-a-number"]


def load_with(ds: str, mode: str = "replace_partition", params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """A load whose run carries DAG params (as the trigger form sets them)."""
    op = WarehouseLoadOperator(task_id="load", dataset="sites", table="dim_site", mode=mode, **kwargs)
    return op.execute({**ctx(ds), "params": params or {}})


def loaded(ds: str) -> list[tuple[Any, ...]]:
    return rows("SELECT site_id, capacity FROM dim_site WHERE ds = $1 ORDER BY site_id", [date.fromisoformat(ds)])


def audited(ds: str) -> list[tuple[Any, ...]]:
    return rows("SELECT rows_loaded FROM lockgate_load_audit WHERE partition_ds = $1", [date.fromisoformat(ds)])


def sites(n: int, offset: int = 0) -> list[str]:
    return [f"S{i:02d},north,{i}" for i in range(offset, offset + n)]


# ------------------------------------------------------------------------------ shrinking deliveries


def test_an_empty_delivery_never_replaces_a_loaded_date_unless_allowed(env: Any) -> None:
    publish(env, D1, ["S1,north,10", "S2,south,20"])
    assert load(D1, "replace_partition")["rows_loaded"] == 2
    publish(env, D1, NOTHING_PASSES)
    with pytest.raises(AirflowFailException) as refused:
        load(D1, "replace_partition")
    assert "sites ds=2026-01-01 (dim_site): the warehouse holds 2 rows for this date and the new delivery has 0" in (
        str(refused.value)
    )
    assert "(0% < 50%); set the DAG param allow_shrink" in str(refused.value)
    assert loaded(D1) == [("S1", 10), ("S2", 20)]  # nothing was written
    assert audited(D1) == [(2,)]
    assert load_with(D1, params={"allow_shrink": True})["rows_loaded"] == 0
    assert loaded(D1) == []
    assert audited(D1) == [(0,)]


def test_a_shrink_below_the_declared_share_is_refused_naming_both_counts(env: Any) -> None:
    publish(env, D1, sites(10))
    load(D1, "replace_partition")
    publish(env, D1, sites(4))
    with pytest.raises(AirflowFailException, match=r"holds 10 rows .* new delivery has 4 \(40% < 50%\)"):
        load(D1, "replace_partition")
    assert len(loaded(D1)) == 10
    assert load_with(D1, min_replace_share=0.3)["rows_loaded"] == 4  # the operator's override
    assert len(loaded(D1)) == 4
    # the contract's setting: 4 -> 1 is 25%, refused at 0.3, taken at 0.2
    publish(env, D1, sites(1), {**SITES, "min_replace_share": 0.3})
    with pytest.raises(AirflowFailException, match=r"holds 4 rows .* has 1 \(25% < 30%\)"):
        load(D1, "replace_partition")
    publish(env, D1, sites(1), {**SITES, "min_replace_share": 0.2})
    assert load(D1, "replace_partition")["rows_loaded"] == 1
    assert loaded(D1) == [("S00", 0)]


def test_the_first_load_of_a_date_and_growing_or_equal_deliveries_are_never_refused(env: Any) -> None:
    publish(env, D1, NOTHING_PASSES)
    assert load(D1, "replace_partition")["rows_loaded"] == 0  # nothing loaded yet: not guarded
    publish(env, D1, sites(2))
    assert load(D1, "replace_partition")["rows_loaded"] == 2  # 0 loaded: growing from nothing
    publish(env, D1, sites(1))
    assert load(D1, "replace_partition")["rows_loaded"] == 1  # exactly 50%: allowed
    assert loaded(D1) == [("S00", 0)]
    publish(env, D2, sites(3))
    load(D2, "replace_partition")
    assert rows("SELECT ds, count(*) FROM dim_site GROUP BY ds ORDER BY ds") == [
        (date(2026, 1, 1), 1),
        (date(2026, 1, 2), 3),
    ]


def test_allow_shrink_as_a_string_conf_value_and_false_param(env: Any) -> None:
    publish(env, D1, sites(4))
    load(D1, "replace_partition")
    publish(env, D1, sites(1))
    with pytest.raises(AirflowFailException, match="allow_shrink"):
        load_with(D1, params={"allow_shrink": False})
    with pytest.raises(AirflowFailException, match="allow_shrink"):
        load_with(D1, params={"allow_shrink": "false"})
    assert load_with(D1, params={"allow_shrink": "true"})["rows_loaded"] == 1


def test_merge_never_deletes_so_a_smaller_delivery_keeps_the_other_keys(env: Any) -> None:
    """merge and scd2 only upsert: a smaller delivery removes nothing, so they are not guarded."""
    publish(env, D1, sites(4))
    load(D1, "merge")
    publish(env, D1, ["S00,south,99"])
    assert load(D1, "merge")["rows_loaded"] == 1
    assert rows("SELECT site_id, region FROM dim_site ORDER BY site_id") == [
        ("S00", "south"),
        ("S01", "north"),
        ("S02", "north"),
        ("S03", "north"),
    ]


# ---------------------------------------------------------------------------------- repeated keys


STAGED_SITES = "site_id VARCHAR, region VARCHAR, capacity BIGINT"


def publish_staged(
    env: Any, ds: str, staged_rows: list[tuple[Any, ...]], spec: dict[str, Any] = SITES, columns: str = STAGED_SITES
) -> None:
    """Bypass the gate: stage rows (the contract's columns, then the raw file and row) as the gate
    would, then partition."""
    (env["contracts"] / "sites.yaml").write_text(yaml.safe_dump(spec))
    path = env["tmp"] / f"staged-{ds}.parquet"
    con = duckdb.connect()
    try:
        con.execute(f"CREATE TABLE s ({columns}, ds DATE, _source_file VARCHAR, _source_row BIGINT)")
        width = len(staged_rows[0]) - 2
        con.executemany(
            f"INSERT INTO s VALUES ({', '.join('?' * (width + 3))})",
            [(*r[:width], ds, *r[width:]) for r in staged_rows],
        )
        con.execute(f"COPY s TO '{path}' (FORMAT parquet)")
    finally:
        con.close()
    LakeHook().put_file(path, f"staged/sites/ds={ds}/part-0.parquet")
    PartitionOperator(task_id="p", dataset="sites").execute(ctx(ds))


@pytest.mark.parametrize("mode", LOAD_MODES)
def test_a_repeated_key_is_refused_under_every_mode_naming_the_key_and_its_rows(env: Any, mode: str) -> None:
    publish(env, D1, ["S1,north,10", "S2,south,20"])
    load(D1, mode)
    before = rows("SELECT * FROM dim_site ORDER BY site_id")
    publish_staged(
        env,
        D2,
        [
            ("S1", "north", 11, "raw/sites/a.csv", 2),
            ("S1", "east", 12, "raw/sites/b.csv", 7),
            ("S2", "south", 20, "raw/sites/a.csv", 3),
        ],
    )
    with pytest.raises(AirflowFailException) as refused:
        load(D2, mode)
    message = str(refused.value)
    assert f"sites ds={D2} (dim_site, {mode}): 1 primary key value(s) appear more than once" in message
    assert "site_id='S1': 2 rows (source: raw/sites/a.csv row 2; raw/sites/b.csv row 7)" in message
    assert "cannot affect row a second time" not in message
    assert rows("SELECT * FROM dim_site ORDER BY site_id") == before  # nothing written
    assert rows("SELECT count(*) FROM lockgate_load_audit WHERE partition_ds = $1", [date(2026, 1, 2)]) == [(0,)]


def test_repeated_keys_are_counted_and_a_few_named(env: Any) -> None:
    staged = [(f"K{i}", "north", i, "raw/sites/x.csv", 2 * i + n) for i in range(7) for n in (1, 2)]
    publish_staged(env, D1, staged)
    with pytest.raises(AirflowFailException) as refused:
        load(D1, "replace_partition")
    message = str(refused.value)
    assert ": 7 primary key value(s) appear more than once" in message
    assert "site_id='K0': 2 rows (source: raw/sites/x.csv row 1; raw/sites/x.csv row 2)" in message
    assert "site_id='K4'" in message  # the first five, in key order
    assert "site_id='K5'" not in message
    hook = WarehouseHook()
    assert not hook.table_exists("dim_site") or hook.query("SELECT count(*) FROM dim_site") == [(0,)]


# ------------------------------------------------------------------- a refused row, named by source


@pytest.mark.parametrize("env", ["postgres"], indirect=True)
@pytest.mark.parametrize("mode", ["replace_partition", "append"])
def test_a_row_the_warehouse_refuses_names_its_raw_file_and_row(env: Any, mode: str) -> None:
    """A DBA's CHECK on the table: the COPY line PostgreSQL names is mapped back to the raw row."""
    publish(env, D1, ["S1,north,10"])
    load(D1, mode)
    with psycopg.connect(env["dsn"]) as conn:
        conn.execute("ALTER TABLE dim_site ADD CONSTRAINT capacity_below_1000 CHECK (capacity < 1000)")
    publish(env, D2, ["S3,west,7", "S1,north,10", "S2,south,5000", "S4,east,1"])
    with pytest.raises(AirflowFailException) as refused:
        load(D2, mode)
    message = str(refused.value)
    assert 'violates check constraint "capacity_below_1000"' in message  # the warehouse's own words
    # the CSV's third data line (the header is line 1 of the file)
    assert "source: sites-2026-01-02-4.csv row 4, column capacity, value 5000" in message, message
    assert loaded(D2) == []
    assert audited(D2) == []


@pytest.mark.parametrize("env", ["postgres"], indirect=True)
def test_identical_refused_rows_are_all_named(env: Any) -> None:
    spec = copy.deepcopy(SITES)
    spec["primary_key"] = []
    publish(env, D1, ["S1,north,10"], spec)
    load(D1, "replace_partition")
    with psycopg.connect(env["dsn"]) as conn:
        conn.execute("ALTER TABLE dim_site ADD CONSTRAINT capacity_below_1000 CHECK (capacity < 1000)")
    publish(env, D1, ["S2,south,5000", "S1,north,10", "S2,south,5000"], spec)
    with pytest.raises(AirflowFailException) as refused:
        load(D1, "replace_partition")
    message = str(refused.value)
    assert "source: sites-2026-01-01-3.csv row 2, column capacity, value 5000" in message
    assert "source: sites-2026-01-01-3.csv row 4, column capacity, value 5000" in message
    assert loaded(D1) == [("S1", 10)]


@pytest.mark.parametrize("mode", ["replace_partition", "merge"])
@pytest.mark.parametrize(
    ("rule", "row", "value", "words"),
    [
        ("CHECK (capacity < 1000)", "S2,south,5000", "value 5000", "check constraint"),
        ("NOT NULL", "S2,south,", "value NULL", "null"),
    ],
    ids=["check", "not-null"],
)
def test_a_rule_of_the_table_refusing_a_row_names_its_raw_row(
    env: Any, mode: str, rule: str, row: str, value: str, words: str
) -> None:
    """A table a DBA made (with a rule on capacity) before Lockgate loaded it. PostgreSQL's COPY
    names the line (replace_partition); its merge refuses the row in the INSERT from the staging
    table, and DuckDB names only the rule: then the rule is evaluated over the curated rows."""
    key = ", PRIMARY KEY (site_id)" if mode == "merge" else ""
    ddl = (
        "CREATE TABLE dim_site (site_id TEXT NOT NULL, region TEXT NOT NULL, "
        f"capacity BIGINT {rule}, ds DATE NOT NULL{key})"
    )
    if env["dialect"] == "postgres":
        with psycopg.connect(env["dsn"]) as conn:
            conn.execute(ddl)
    else:
        with WarehouseHook().transaction() as session:
            session.execute(ddl)
    publish(env, D1, ["S3,west,7", row, "S1,north,10"])
    with pytest.raises(AirflowFailException) as refused:
        load(D1, mode)
    message = str(refused.value)
    assert f"source: sites-2026-01-01-3.csv row 3, column capacity, {value}" in message, message
    assert words in message.lower()  # the warehouse's own words are kept
    assert rows("SELECT count(*) FROM dim_site") == [(0,)]
