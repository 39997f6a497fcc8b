"""WarehouseHook on a real PostgreSQL server, and the same load semantics on DuckDB.

Loads go through the hook exactly as ``WarehouseLoadOperator`` drives it (``transaction()``,
``create_table.sql``, ``stage_parquet`` of hive-partitioned Parquet written with pyarrow, the
dialect's ``replace_partition.sql`` / ``merge.sql``), and every result is read back *without* the
hook: psycopg for PostgreSQL, a separate read-only DuckDB connection for DuckDB.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from lockgate.contracts import Column, Contract, load_contract
from lockgate.hooks.warehouse import WarehouseHook
from lockgate.operators.load import AUDIT_TABLE, WarehouseLoadOperator
from tests.support.pg import airflow_conn_env

pytestmark = pytest.mark.integration

WAREHOUSE_CONN_ID = "lockgate_warehouse"
UTC = dt.UTC
DAY1, DAY2 = dt.date(2026, 1, 2), dt.date(2026, 1, 3)


# ------------------------------------------------------------------------------------------ fixtures


@dataclass
class Warehouse:
    kind: str  # postgres | duckdb_conn | duckdb_default
    hook: WarehouseHook
    dsn: str | None = None
    path: Path | None = None

    @property
    def dialect(self) -> str:
        return "postgres" if self.kind == "postgres" else "duckdb"

    @property
    def schema(self) -> str:
        return "public" if self.kind == "postgres" else "main"

    def independent(self, sql: str) -> list[tuple[Any, ...]]:
        """Run ``sql`` on a connection of its own, outside the hook (no parameters)."""
        if self.kind == "postgres":
            import psycopg

            assert self.dsn is not None
            with psycopg.connect(self.dsn) as conn:
                conn.execute("SET TIME ZONE 'UTC'")
                return [tuple(r) for r in conn.execute(sql).fetchall()]
        import duckdb

        assert self.path is not None
        con = duckdb.connect(str(self.path), read_only=True)
        try:
            con.execute("SET TimeZone='UTC'")
            return [tuple(r) for r in con.execute(sql).fetchall()]
        finally:
            con.close()


def _postgres(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    dsn = request.getfixturevalue("pg_dsn")
    monkeypatch.setenv(*airflow_conn_env(WAREHOUSE_CONN_ID, dsn))
    return Warehouse("postgres", WarehouseHook(), dsn=dsn)


def _duckdb_conn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    path = tmp_path / "wh" / "warehouse.duckdb"
    conn = {"conn_type": "duckdb", "extra": {"path": str(path)}}
    monkeypatch.setenv(f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}", json.dumps(conn))
    return Warehouse("duckdb_conn", WarehouseHook(), path=path)


def _duckdb_default(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    home = request.getfixturevalue("lockgate_home")
    monkeypatch.delenv(f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}", raising=False)
    return Warehouse("duckdb_default", WarehouseHook(), path=home / "warehouse.duckdb")


@pytest.fixture(params=["postgres", "duckdb_conn", "duckdb_default"])
def warehouse(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Warehouse:
    if request.param == "postgres":
        return _postgres(request, monkeypatch)
    if request.param == "duckdb_conn":
        return _duckdb_conn(tmp_path, monkeypatch)
    return _duckdb_default(request, monkeypatch)


@pytest.fixture(params=["duckdb_conn", "duckdb_default"])
def duck(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Warehouse:
    if request.param == "duckdb_conn":
        return _duckdb_conn(tmp_path, monkeypatch)
    return _duckdb_default(request, monkeypatch)


@pytest.fixture
def postgres(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    return _postgres(request, monkeypatch)


@pytest.fixture(scope="module")
def readings() -> Contract:
    return load_contract("readings")


@pytest.fixture(scope="module")
def stations() -> Contract:
    return load_contract("stations")


# ------------------------------------------------------------------------------------------- helpers


def reading(station: str, region: str, hour: int, pollutant: str, value: float, day: dt.date) -> tuple[Any, ...]:
    """One readings row in storage-column order (``ds`` last)."""
    unit = {"pm25": "ug/m3", "o3": "ppm"}[pollutant]
    at = dt.datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
    return (station, region, at, pollutant, value, unit, day)


def station(sid: str, name: str, region: str, lat: float, elevation: float | None, day: dt.date) -> tuple[Any, ...]:
    return (sid, name, region, lat, -90.0, "America/Chicago", elevation, dt.date(2020, 5, 1), day)


def write_hive(folder: Path, contract: Contract, rows: Sequence[tuple[Any, ...]]) -> list[Path]:
    """Rows as hive-partitioned Parquet (``ds=<date>/<partition key>=<value>/``) written by pyarrow.

    The partition columns live in the paths only, as in the curated zone.
    """
    import pyarrow as pa
    import pyarrow.dataset as pads

    types = {"string": pa.string(), "double": pa.float64(), "date": pa.date32(), "timestamp": pa.timestamp("us", "UTC")}
    columns = contract.storage_columns
    schema = pa.schema([(c.name, types[c.type]) for c in columns])
    table = pa.Table.from_pylist([dict(zip([c.name for c in columns], r, strict=True)) for r in rows], schema=schema)
    keys = ["ds", *contract.partition_keys]
    pads.write_dataset(
        table, folder, format="parquet", partitioning=keys, partitioning_flavor="hive", existing_data_behavior="error"
    )
    files = sorted(folder.rglob("*.parquet"))
    import pyarrow.parquet as pq

    assert files
    assert all(not set(keys) & set(pq.read_schema(f).names) for f in files)  # partition values only in paths
    return files


def load(
    wh: Warehouse,
    tmp_path: Path,
    contract: Contract,
    table: str,
    rows: Sequence[tuple[Any, ...]],
    day: dt.date,
    mode: str,
) -> None:
    """One load of ``day`` the way WarehouseLoadOperator does it, through the hook."""
    folder = tmp_path / f"curated-{table}-{day}-{len(list(tmp_path.glob('curated-*')))}"
    files = write_hive(folder, contract, rows)
    columns = contract.storage_columns
    target = wh.hook.table(table)
    # the table's key exactly as the load operator chooses it (date-partitioned tables add ds)
    key = WarehouseLoadOperator(task_id="probe", dataset=contract.dataset, table=table, mode=mode).table_key
    with wh.hook.transaction() as session:
        session.run_template("create_table.sql", table=target, columns=columns, primary_key=key)
        staging = session.stage_parquet(files, columns)
        session.run_template(
            f"{mode}.sql",
            [day],
            table=target,
            staging=staging,
            columns=[c.name for c in columns],
            primary_key=contract.primary_key,
        )


def quoted(wh: Warehouse, table: str) -> str:
    return f'"{wh.schema}"."' + table.replace('"', '""') + '"'


def table_rows(wh: Warehouse, table: str, contract: Contract) -> list[tuple[Any, ...]]:
    names = ", ".join(f'"{c.name}"' for c in contract.storage_columns)
    order = ", ".join(f'"{c}"' for c in ("ds", *contract.primary_key))
    return wh.independent(f"SELECT {names} FROM {quoted(wh, table)} ORDER BY {order}")


def sort_rows(rows: Sequence[tuple[Any, ...]], contract: Contract) -> list[tuple[Any, ...]]:
    names = [c.name for c in contract.storage_columns]
    positions = [names.index(c) for c in ("ds", *contract.primary_key)]
    return sorted(rows, key=lambda r: tuple(r[i] for i in positions))


DAY1_READINGS = [
    reading("ST-001", "north", 0, "pm25", 12.5, DAY1),
    reading("ST-001", "north", 0, "o3", 0.031, DAY1),
    reading("ST-002", "south", 1, "pm25", 640.2, DAY1),
    reading("ST-003", "east", 23, "o3", 0.044, DAY1),
]
DAY2_READINGS = [
    reading("ST-001", "north", 5, "pm25", 9.0, DAY2),
    reading("ST-004", "west", 6, "o3", 0.02, DAY2),
]


# ------------------------------------------------------------------------------- connection / naming


def test_postgres_dialect_schema_and_lineage_names(postgres: Warehouse) -> None:
    hook = postgres.hook
    assert postgres.dsn is not None
    url = urlsplit(postgres.dsn)
    dbname, host, port = url.path.lstrip("/"), url.hostname, url.port or 5432
    assert hook.dialect == "postgres"
    assert hook.schema == "public"
    assert hook.table("fact") == '"public"."fact"'
    assert hook.openlineage_dataset("fact") == (f"postgres://{host}:{port}", f"{dbname}.public.fact")
    # the hook talks to the database of the connection, not to the server's default one
    assert hook.query("SELECT current_database(), current_setting('TimeZone')") == [(dbname, "UTC")]
    assert not hook.table_exists("fact")


def test_postgres_schema_from_connection_extra(
    postgres: Warehouse, monkeypatch: pytest.MonkeyPatch, readings: Contract
) -> None:
    import psycopg

    assert postgres.dsn is not None
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        conn.execute('CREATE SCHEMA "air quality"')
    name, value = airflow_conn_env("lockgate_wh_schema", postgres.dsn)
    monkeypatch.setenv(name, value + "?schema=air+quality")
    hook = WarehouseHook("lockgate_wh_schema")
    assert hook.schema == "air quality"
    assert hook.table("fact") == '"air quality"."fact"'
    with hook.transaction() as s:
        s.run_template("create_table.sql", table=hook.table("fact"), columns=readings.storage_columns, primary_key=())
    assert hook.table_exists("fact")
    assert postgres.independent("SELECT table_schema FROM information_schema.tables WHERE table_name = 'fact'") == [
        ("air quality",)
    ]


def test_duckdb_dialect_and_file(duck: Warehouse) -> None:
    warehouse = duck
    hook = warehouse.hook
    assert hook.dialect == "duckdb"
    assert hook.duckdb_path == warehouse.path
    assert hook.table("fact") == '"main"."fact"'
    assert hook.openlineage_dataset("fact") == (f"duckdb://{warehouse.path}", "warehouse.main.fact")
    assert hook.query("SELECT 1 + 1") == [(2,)]
    assert warehouse.path is not None
    assert warehouse.path.is_file()  # created, parent folder included


def test_unsupported_connection_type_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LOCKGATE_WH_MYSQL", "mysql://u@127.0.0.1:3306/db")
    with pytest.raises(ValueError, match="duckdb, postgres or redshift"):
        _ = WarehouseHook("lockgate_wh_mysql").dialect


# ------------------------------------------------------------------------------------- create_table


EXPECTED_TYPES = {
    "postgres": {
        "string": "text",
        "timestamp": "timestamp with time zone",
        "double": "double precision",
        "date": "date",
    },
    "duckdb": {"string": "VARCHAR", "timestamp": "TIMESTAMP WITH TIME ZONE", "double": "DOUBLE", "date": "DATE"},
}


def test_create_table_from_the_readings_contract(warehouse: Warehouse, readings: Contract) -> None:
    hook = warehouse.hook
    columns = readings.storage_columns
    for _ in range(2):  # idempotent
        with hook.transaction() as s:
            s.run_template(
                "create_table.sql", table=hook.table("fact"), columns=columns, primary_key=readings.primary_key
            )
    assert hook.table_exists("fact")
    found = warehouse.independent(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        f"WHERE table_schema = '{warehouse.schema}' AND table_name = 'fact' ORDER BY ordinal_position"
    )
    types = EXPECTED_TYPES[warehouse.dialect]
    # every contract column is NOT NULL in readings; the primary key makes no difference there
    assert found == [(c.name, types[c.type], "NO" if not c.nullable else "YES") for c in columns]
    assert [c.name for c in columns] == ["station_id", "region", "observed_at", "pollutant", "value", "unit", "ds"]
    if warehouse.dialect == "postgres":
        pk = warehouse.independent(
            "SELECT k.column_name FROM information_schema.table_constraints AS c "
            "JOIN information_schema.key_column_usage AS k USING (constraint_schema, constraint_name) "
            "WHERE c.table_name = 'fact' AND c.constraint_type = 'PRIMARY KEY' ORDER BY k.ordinal_position"
        )
        assert [r[0] for r in pk] == ["station_id", "observed_at", "pollutant"]
    # DuckDB declares no key on purpose (eager constraint checks would refuse delete + re-insert of
    # the same keys in one transaction); uniqueness there is proven by the load tests below.


def test_postgres_table_key_is_enforced(postgres: Warehouse, readings: Contract, tmp_path: Path) -> None:
    load(postgres, tmp_path, readings, "fact", DAY1_READINGS, DAY1, "replace_partition")
    pk = postgres.independent(
        "SELECT k.column_name FROM information_schema.table_constraints AS c "
        "JOIN information_schema.key_column_usage AS k USING (constraint_schema, constraint_name) "
        "WHERE c.table_name = 'fact' AND c.constraint_type = 'PRIMARY KEY' ORDER BY k.ordinal_position"
    )
    # a date-partitioned table holds many days: its key is the contract's plus ds
    assert [r[0] for r in pk] == ["station_id", "observed_at", "pollutant", "ds"]
    with pytest.raises(Exception, match=r"(?i)duplicate key"), postgres.hook.transaction() as s:
        s.execute(
            f"INSERT INTO {postgres.hook.table('fact')} VALUES ($1, $2, $3, $4, $5, $6, $7)", list(DAY1_READINGS[0])
        )
    assert table_rows(postgres, "fact", readings) == sort_rows(DAY1_READINGS, readings)


# ------------------------------------------------------------------------------------- stage_parquet


def test_stage_parquet_reads_a_hive_partitioned_folder_with_contract_types(
    warehouse: Warehouse, readings: Contract, tmp_path: Path
) -> None:
    rows = DAY1_READINGS + DAY2_READINGS
    files = write_hive(tmp_path / "curated", readings, rows)
    assert {f.parent.name for f in files} == {"region=north", "region=south", "region=east", "region=west"}
    assert {f.parent.parent.name for f in files} == {"ds=2026-01-02", "ds=2026-01-03"}
    with warehouse.hook.transaction() as s, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        staging = s.stage_parquet(files, readings.storage_columns)
        # the rows stream to the server in batches; DuckDB warns when a result is copied whole first
        assert not [w for w in caught if "extra copy" in str(w.message)]
        staged = s.fetchall(
            f"SELECT station_id, region, observed_at, pollutant, value, unit, ds FROM {staging} "
            "ORDER BY ds, station_id, observed_at, pollutant"
        )
        kinds = s.fetchall(
            f"SELECT pg_typeof(observed_at)::text, pg_typeof(value)::text, pg_typeof(ds)::text FROM {staging} LIMIT 1"
            if warehouse.dialect == "postgres"
            else f"SELECT typeof(observed_at), typeof(value), typeof(ds) FROM {staging} LIMIT 1"
        )
    assert staged == sort_rows(rows, readings)  # region and ds come back from the paths, typed
    expected_kinds = {
        "postgres": ("timestamp with time zone", "double precision", "date"),
        "duckdb": ("TIMESTAMP WITH TIME ZONE", "DOUBLE", "DATE"),
    }
    assert kinds == [expected_kinds[warehouse.dialect]]
    assert all(r[2].utcoffset() == dt.timedelta(0) for r in staged)


def test_stage_parquet_is_temporary(warehouse: Warehouse, readings: Contract, tmp_path: Path) -> None:
    files = write_hive(tmp_path / "curated", readings, DAY1_READINGS)
    with warehouse.hook.transaction() as s:
        staging = s.stage_parquet(files, readings.storage_columns)
    name = staging.strip('"')
    assert not warehouse.hook.table_exists(name)
    with pytest.raises(Exception, match=r"(?i)does not exist|not found|unknown"):
        warehouse.hook.query(f"SELECT count(*) FROM {staging}")


# ------------------------------------------------------------------------------------ load semantics


def test_replace_partition_twice_keeps_one_copy_and_leaves_other_dates(
    warehouse: Warehouse, readings: Contract, tmp_path: Path
) -> None:
    load(warehouse, tmp_path, readings, "fact", DAY2_READINGS, DAY2, "replace_partition")
    load(warehouse, tmp_path, readings, "fact", DAY1_READINGS, DAY1, "replace_partition")
    day2_before = [r for r in table_rows(warehouse, "fact", readings) if r[-1] == DAY2]
    assert day2_before == sort_rows(DAY2_READINGS, readings)

    # a corrected day 1: one reading changed, one gone; loaded twice (a rerun)
    corrected = [DAY1_READINGS[0], reading("ST-002", "south", 1, "pm25", 35.0, DAY1), DAY1_READINGS[3]]
    for _ in range(2):
        load(warehouse, tmp_path, readings, "fact", corrected, DAY1, "replace_partition")
        assert table_rows(warehouse, "fact", readings) == sort_rows(corrected + DAY2_READINGS, readings)

    counts = warehouse.independent(f"SELECT ds, count(*) FROM {quoted(warehouse, 'fact')} GROUP BY ds ORDER BY ds")
    assert counts == [(DAY1, 3), (DAY2, 2)]


def test_merge_upserts_on_the_primary_key(warehouse: Warehouse, stations: Contract, tmp_path: Path) -> None:
    first = [
        station("ST-001", "Elm Park", "north", 41.9, 180.0, DAY1),
        station("ST-002", "Harbor", "south", 29.7, None, DAY1),
        station("ST-003", "Ridge", "east", 40.1, 310.5, DAY1),
    ]
    load(warehouse, tmp_path, stations, "dim_station", first, DAY1, "merge")
    assert table_rows(warehouse, "dim_station", stations) == first

    second = [
        station("ST-002", "Harbor Point", "south", 29.75, 4.0, DAY2),  # changed: every column wins
        station("ST-004", "Mesa", "west", 35.0, 1500.0, DAY2),  # new key
    ]

    def by_station() -> list[tuple[Any, ...]]:
        return warehouse.independent(
            'SELECT "station_id", "name", "region", "latitude", "longitude", "timezone", "elevation_m", '
            f'"commissioned_on", "ds" FROM {quoted(warehouse, "dim_station")} ORDER BY "station_id"'
        )

    for _ in range(2):  # a rerun of the same merge changes nothing more
        load(warehouse, tmp_path, stations, "dim_station", second, DAY2, "merge")
        assert by_station() == [first[0], second[0], first[2], second[1]]
    assert warehouse.independent(
        f"SELECT count(*), count(DISTINCT station_id) FROM {quoted(warehouse, 'dim_station')}"
    ) == [(4, 4)]

    # rerunning the older date's merge does not roll the newer snapshot back
    load(warehouse, tmp_path, stations, "dim_station", first, DAY1, "merge")
    assert by_station() == [first[0], second[0], first[2], second[1]]


def test_exception_inside_a_transaction_rolls_everything_back(
    warehouse: Warehouse, readings: Contract, tmp_path: Path
) -> None:
    load(warehouse, tmp_path, readings, "fact", DAY1_READINGS, DAY1, "replace_partition")
    load(warehouse, tmp_path, readings, "fact", DAY2_READINGS, DAY2, "replace_partition")
    before = table_rows(warehouse, "fact", readings)
    table = warehouse.hook.table("fact")

    class Boom(RuntimeError):
        pass

    def delete_then_fail() -> None:
        with warehouse.hook.transaction() as s:
            s.execute(f'DELETE FROM {table} WHERE "ds" = $1', [DAY1])
            s.execute(f"DELETE FROM {table} WHERE station_id = $1", ["ST-004"])
            # the deletes are visible inside the transaction...
            assert s.fetchall(f"SELECT count(*) FROM {table}") == [(1,)]
            s.run_template("audit_table.sql", audit_table=warehouse.hook.table(AUDIT_TABLE))
            raise Boom("load failed half way")

    with pytest.raises(Boom):
        delete_then_fail()
    # ...and gone after the rollback, DDL included
    assert table_rows(warehouse, "fact", readings) == before
    assert not warehouse.hook.table_exists(AUDIT_TABLE)

    def delete_then_bad_sql() -> None:
        with warehouse.hook.transaction() as s:
            s.execute(f'DELETE FROM {table} WHERE "ds" = $1', [DAY2])
            s.execute(f"SELECT no_such_column FROM {table}")

    # a failing statement (not a Python error) rolls back too
    with pytest.raises(Exception, match=r"(?i)no_such_column|not found|does not exist"):
        delete_then_bad_sql()
    assert table_rows(warehouse, "fact", readings) == before


# ----------------------------------------------------------------------------------------- the audit


def _audit(wh: Warehouse, table: str, day: dt.date, run_id: str, rows: int) -> None:
    audit = wh.hook.table(AUDIT_TABLE)
    with wh.hook.transaction() as s:
        s.run_template("audit_table.sql", audit_table=audit)
        s.run_template(
            "audit_upsert.sql",
            [table, day, "air_quality_daily", run_id, "readings", "replace_partition", rows, f"sum-{run_id}",
             dt.datetime(2026, 1, 3, 1, 2, 3, tzinfo=UTC)],
            audit_table=audit,
        )  # fmt: skip


def test_audit_has_one_row_per_table_and_date(warehouse: Warehouse) -> None:
    _audit(warehouse, "fact", DAY1, "scheduled__1", 10)
    _audit(warehouse, "fact", DAY2, "scheduled__2", 20)
    _audit(warehouse, "fact", DAY1, "manual__rerun", 11)  # a rerun replaces its date's row
    _audit(warehouse, "dim_station", DAY1, "scheduled__1", 50)
    got = warehouse.independent(
        "SELECT table_name, partition_ds, dag_id, run_id, dataset, mode, rows_loaded, checksum, loaded_at "
        f"FROM {quoted(warehouse, AUDIT_TABLE)} ORDER BY table_name, partition_ds"
    )
    at = dt.datetime(2026, 1, 3, 1, 2, 3, tzinfo=UTC)
    common = ("air_quality_daily",)
    assert got == [
        ("dim_station", DAY1, *common, "scheduled__1", "readings", "replace_partition", 50, "sum-scheduled__1", at),
        ("fact", DAY1, *common, "manual__rerun", "readings", "replace_partition", 11, "sum-manual__rerun", at),
        ("fact", DAY2, *common, "scheduled__2", "readings", "replace_partition", 20, "sum-scheduled__2", at),
    ]


# ---------------------------------------------------------------------------------------- quoting


def test_table_name_with_a_double_quote_and_space(warehouse: Warehouse, readings: Contract, tmp_path: Path) -> None:
    name = 'fact "hourly"; DROP TABLE x'
    assert warehouse.hook.table(name) == f'"{warehouse.schema}"."fact ""hourly""; DROP TABLE x"'
    load(warehouse, tmp_path, readings, name, DAY1_READINGS, DAY1, "replace_partition")
    load(warehouse, tmp_path, readings, name, DAY1_READINGS, DAY1, "replace_partition")
    assert warehouse.hook.table_exists(name)
    assert table_rows(warehouse, name, readings) == sort_rows(DAY1_READINGS, readings)
    tables = warehouse.independent(
        f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{warehouse.schema}'"
    )
    assert tables == [(name,)]


def test_column_type_mapping_covers_every_contract_type(warehouse: Warehouse, tmp_path: Path) -> None:
    """Integers and booleans too (not in the shipped contracts), through stage + replace."""
    contract = Contract(
        dataset="probe",
        columns=(Column("id", "string", nullable=False), Column("n", "integer"), Column("ok", "boolean")),
        primary_key=("id",),
    )
    import pyarrow as pa
    import pyarrow.dataset as pads

    table = pa.table(
        {"id": ["a", "b"], "n": pa.array([2**40, None], pa.int64()), "ok": [True, None], "ds": pa.array([DAY1, DAY1])}
    )
    pads.write_dataset(table, tmp_path / "probe", format="parquet", partitioning=["ds"], partitioning_flavor="hive")
    files = sorted((tmp_path / "probe").rglob("*.parquet"))
    hook = warehouse.hook
    with hook.transaction() as s:
        s.run_template(
            "create_table.sql", table=hook.table("probe"), columns=contract.storage_columns, primary_key=("id",)
        )
        staging = s.stage_parquet(files, contract.storage_columns)
        s.run_template(
            "replace_partition.sql", [DAY1], table=hook.table("probe"), staging=staging,
            columns=[c.name for c in contract.storage_columns], primary_key=("id",),
        )  # fmt: skip
    assert warehouse.independent(f"SELECT id, n, ok, ds FROM {quoted(warehouse, 'probe')} ORDER BY id") == [
        ("a", 2**40, True, DAY1),
        ("b", None, None, DAY1),
    ]
