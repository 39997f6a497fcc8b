"""The shared fixtures of tests/conftest.py work against real servers."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from tests.support import pg as pgsupport
from tests.support.s3 import aws_conn_env

pytestmark = pytest.mark.integration


# ------------------------------------------------------------------------------------------ postgres


def test_pg_dsn_is_a_fresh_database_that_round_trips_rows(pg_dsn: str) -> None:
    dbname = pg_dsn.rsplit("/", 1)[1]
    assert pg_dsn.startswith("postgresql://")
    assert dbname.startswith(pgsupport.TEST_DB_PREFIX)
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("select current_database()").fetchone() == (dbname,)
        assert conn.execute(
            "select count(*) from information_schema.tables where table_schema = 'public'"
        ).fetchone() == (0,)
        conn.execute("create table probe (id int primary key, name text not null)")
        conn.execute("insert into probe values (%s, %s)", (1, "lockgate"))
        conn.commit()
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("select id, name from probe").fetchall() == [(1, "lockgate")]


_seen_databases: list[str] = []


@pytest.mark.parametrize("run", [1, 2])
def test_each_pg_dsn_use_gets_its_own_database(pg_dsn: str, pg_server: str, run: int) -> None:
    dbname = pg_dsn.rsplit("/", 1)[1]
    assert dbname not in _seen_databases
    _seen_databases.append(dbname)
    if run == 2:
        # The first run's database was dropped when that test ended.
        with psycopg.connect(pg_server, autocommit=True) as conn:
            existing = {row[0] for row in conn.execute("select datname from pg_database")}
        assert _seen_databases[0] not in existing
        assert dbname in existing


def test_two_databases_in_one_test_are_distinct(pg_server: str) -> None:
    with (
        pgsupport.temporary_database(pg_server) as first,
        pgsupport.temporary_database(pg_server) as second,
    ):
        assert first != second
        with psycopg.connect(first) as a, psycopg.connect(second) as b:
            a.execute("create table only_in_first (x int)")
            a.commit()
            assert b.execute("select to_regclass('only_in_first')").fetchone() == (None,)


def test_temporary_database_drop_forces_out_open_sessions(pg_server: str) -> None:
    with pgsupport.temporary_database(pg_server) as dsn:
        # Left open on purpose: DROP ... WITH (FORCE) must cope.
        lingering = psycopg.connect(dsn)
    dbname = dsn.rsplit("/", 1)[1]
    with psycopg.connect(pg_server, autocommit=True) as conn:
        assert conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone() is None
    lingering.close()


@pytest.fixture(scope="module")
def probe_written(pg_dsn_module: str) -> str:
    """``pg_dsn_module`` with one row written by a module-scoped fixture (once per module)."""
    with psycopg.connect(pg_dsn_module) as conn:
        conn.execute("create table shared_probe (x int)")
        conn.execute("insert into shared_probe values (1)")
        conn.commit()
    return pg_dsn_module


def test_pg_dsn_module_is_shared_within_a_module(probe_written: str, pg_dsn_module: str) -> None:
    assert pg_dsn_module == probe_written


def test_pg_dsn_module_keeps_earlier_writes(probe_written: str) -> None:
    # the write happened in another fixture's connection, once for the module: it is still there,
    # whether this test runs alone or after the others (each test stands alone)
    with psycopg.connect(probe_written) as conn:
        assert conn.execute("select count(*) from shared_probe").fetchone() == (1,)


def test_airflow_connection_from_env_reaches_the_database(pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.postgres.hooks.postgres import PostgresHook
    from airflow.sdk import BaseHook

    name, value = pgsupport.airflow_conn_env("lockgate_test_pg", pg_dsn)
    assert name == "AIRFLOW_CONN_LOCKGATE_TEST_PG"
    assert value.startswith("postgres://")
    monkeypatch.setenv(name, value)

    conn = BaseHook.get_connection("lockgate_test_pg")
    assert conn.conn_type == "postgres"
    assert conn.schema == pg_dsn.rsplit("/", 1)[1]
    assert PostgresHook(postgres_conn_id="lockgate_test_pg").get_first("select current_database()") == (conn.schema,)


def test_postgresql_scheme_is_normalised_by_airflow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Airflow 3's task SDK maps a ``postgresql://`` URI to conn_type ``postgres`` too."""
    from airflow.sdk import Connection

    monkeypatch.setenv("AIRFLOW_CONN_LOCKGATE_SCHEME_PROBE", "postgresql://u@127.0.0.1:5/db")
    conn = Connection.get("lockgate_scheme_probe")
    assert (conn.conn_type, conn.host, conn.port, conn.schema, conn.login) == (
        "postgres",
        "127.0.0.1",
        5,
        "db",
        "u",
    )


def test_dsn_helpers_normalise_keyword_dsns() -> None:
    url = pgsupport.dsn_for_database("host=127.0.0.1 port=5432 user=postgres password=p@ss dbname=postgres", "x_1")
    assert url == "postgresql://postgres:p%40ss@127.0.0.1:5432/x_1"
    assert pgsupport.redact(url) == "postgresql://postgres:***@127.0.0.1:5432/x_1"
    assert pgsupport.to_url("postgresql://postgres@127.0.0.1:5432/postgres?sslmode=disable", dbname="d") == (
        "postgresql://postgres@127.0.0.1:5432/d?sslmode=disable"
    )


def test_throwaway_server_starts_answers_and_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The no-$LOCKGATE_TEST_PG_DSN path, exercised even when the environment sets that variable."""
    monkeypatch.delenv(pgsupport.PG_DSN_ENV, raising=False)
    server = pgsupport.start_throwaway_postgres()
    root = server.root
    try:
        assert server.port != 5432
        assert server.dsn() == f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
        with psycopg.connect(server.dsn()) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
            assert conn.execute("show fsync").fetchone() == ("off",)
            assert conn.execute("show listen_addresses").fetchone() == ("127.0.0.1",)
        with (
            pgsupport.temporary_database(server.dsn()) as dsn,
            psycopg.connect(dsn) as conn,
        ):
            row = conn.execute("select current_database()").fetchone()
            assert row is not None
            assert row[0].startswith(pgsupport.TEST_DB_PREFIX)
    finally:
        server.stop()
    assert not root.exists()
    assert not pgsupport.can_connect(server.dsn(), timeout=1)
    server.stop()  # idempotent


def test_pg_bindir_is_the_highest_installed_version() -> None:
    bindir = pgsupport.find_pg_bindir()
    installed = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if installed and not os.environ.get(pgsupport.PG_BINDIR_ENV):
        assert bindir == installed[-1]
    assert (bindir / "pg_ctl").exists()


# ----------------------------------------------------------------------------------------------- S3


def test_s3_bucket_round_trips_an_object_through_s3hook(s3_bucket: str, aws_conn_id: str, moto_server: str) -> None:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    hook = S3Hook(aws_conn_id=aws_conn_id)
    assert hook.conn_config.endpoint_url == moto_server
    assert moto_server.startswith("http://127.0.0.1:")
    assert hook.check_for_bucket(s3_bucket)
    hook.load_string("hello lockgate", key="raw/2024-01-01/probe.txt", bucket_name=s3_bucket)
    assert hook.read_key("raw/2024-01-01/probe.txt", bucket_name=s3_bucket) == "hello lockgate"
    assert hook.list_keys(bucket_name=s3_bucket, prefix="raw/") == ["raw/2024-01-01/probe.txt"]


def test_s3_bucket_is_removed_with_its_objects(aws_conn_id: str) -> None:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from tests.support.s3 import temporary_bucket

    hook = S3Hook(aws_conn_id=aws_conn_id)
    with temporary_bucket(aws_conn_id) as bucket:
        hook.load_string("x", key="a/b.txt", bucket_name=bucket)
        hook.load_string("y", key="c.txt", bucket_name=bucket)
    assert not hook.check_for_bucket(bucket)


def test_aws_conn_env_for_another_conn_id(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    env = aws_conn_env(moto_server, "lockgate_other_s3")
    assert list(env) == ["AIRFLOW_CONN_LOCKGATE_OTHER_S3"]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    hook = S3Hook(aws_conn_id="lockgate_other_s3")
    credentials = hook.get_credentials()
    assert credentials.access_key.startswith("testing")
    assert isinstance(hook.get_conn().list_buckets()["Buckets"], list)


def test_fake_aws_credentials_are_in_the_environment() -> None:
    assert os.environ["AWS_ACCESS_KEY_ID"].startswith("testing")
    assert os.environ["AWS_SHARED_CREDENTIALS_FILE"] == "/dev/null"
    assert "AWS_PROFILE" not in os.environ


# ------------------------------------------------------------------------------------------- misc


def test_lockgate_home(lockgate_home: Path) -> None:
    assert os.environ["LOCKGATE_HOME"] == str(lockgate_home)
    assert lockgate_home.is_dir()
    assert list(lockgate_home.iterdir()) == []


def test_root_without_postgres_user_gives_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_such_user(name: str) -> None:
        raise KeyError(name)

    monkeypatch.setattr(pgsupport.os, "geteuid", lambda: 0)
    monkeypatch.setattr(pgsupport.pwd, "getpwnam", no_such_user)
    with pytest.raises(pgsupport.PostgresUnavailable, match="no 'postgres' system user"):
        pgsupport.start_throwaway_postgres()
