"""The warehouse: an embedded DuckDB file (default) or PostgreSQL over a real connection.

The dialect comes from the connection's type (``duckdb`` or ``postgres``). Loads run in one
transaction that stages the rows (DuckDB reads the Parquet itself; PostgreSQL receives them through
ADBC bulk ingest, i.e. COPY, never row-by-row INSERT), applies the load SQL from
``include/sql/<dialect>/`` and writes the audit row.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from lockgate.config import DEFAULT_WAREHOUSE_CONN_ID, lockgate_home
from lockgate.contracts import Column
from lockgate.sql import SQL_TYPES, ident, qualified, render, split_statements

#: libpq parameters passed through from the connection's extra (TLS and timeouts)
_LIBPQ_EXTRAS = (
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "connect_timeout",
    "application_name",
    "target_session_attrs",
)


_PLACEHOLDER = re.compile(r"\$(\d+)\b")


class WarehouseSession:
    """One open transaction on the warehouse; see :meth:`WarehouseHook.transaction`."""

    def __init__(self, hook: WarehouseHook, connection: Any) -> None:
        self.hook = hook
        self.connection = connection
        self.dialect = hook.dialect
        # a DuckDB cursor is a separate connection (own transaction, own temp tables): use the connection
        self._cursor = connection if self.dialect == "duckdb" else connection.cursor()
        self._staged = 0

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        if params:
            self._cursor.execute(sql, list(params))
        else:
            self._cursor.execute(sql)

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        self.execute(sql, params)
        return [tuple(r) for r in self._cursor.fetchall()]

    def run_template(self, template: str, params: Sequence[Any] | None = None, **context: Any) -> None:
        """Render ``include/sql/<dialect>/<template>`` and run its statements in this transaction."""
        values = list(params or [])
        for statement in split_statements(render(self.dialect, template, **context)):
            # each statement binds the leading parameters it references ($1..$n)
            highest = max((int(n) for n in _PLACEHOLDER.findall(statement)), default=0)
            self.execute(statement, values[:highest])

    def stage_arrow(self, table: Any) -> str:
        """Load an Arrow table into a temporary staging table; returns its quoted name."""
        self._staged += 1
        name = f"lockgate_stage_{os.getpid()}_{self._staged}"
        if self.dialect == "duckdb":
            self._cursor.register("_lockgate_arrow", table)
            self._cursor.execute(f"CREATE TEMP TABLE {ident(name)} AS SELECT * FROM _lockgate_arrow")
            self._cursor.unregister("_lockgate_arrow")
        else:
            self._cursor.adbc_ingest(name, table, mode="create", temporary=True)
        return ident(name)

    def stage_parquet(self, files: Sequence[str | Path], columns: Sequence[Column]) -> str:
        """Load Parquet files into a temporary staging table; returns its quoted name.

        Column types are cast from the contract so hive-partition values (strings in paths) come
        back as their declared types.
        """
        self._staged += 1
        name = f"lockgate_stage_{os.getpid()}_{self._staged}"
        select = ", ".join(
            f"CAST({ident(c.name)} AS {SQL_TYPES['duckdb'][c.type]}) AS {ident(c.name)}" for c in columns
        )
        file_list = [str(f) for f in files]
        if self.dialect == "duckdb":
            self._cursor.execute(
                f"CREATE TEMP TABLE {ident(name)} AS SELECT {select} FROM read_parquet($1, hive_partitioning = true)",
                [file_list],
            )
            return ident(name)
        import duckdb
        import pyarrow as pa

        reader_con = duckdb.connect()
        try:
            reader_con.execute("SET TimeZone='UTC'")
            reader_con.execute("SET memory_limit = '512MB'")  # batches stream through; keep it bounded
            schema = pa.schema([(c.name, _arrow_type(c.type)) for c in columns])
            # a relation (not a DB-API result) streams: execute().to_arrow_reader() copies every row first
            relation = reader_con.sql(
                f"SELECT {select} FROM read_parquet($1, hive_partitioning = true)", params=[file_list]
            )
            batches = relation.to_arrow_reader(100_000)
            reader = pa.RecordBatchReader.from_batches(schema, (b.cast(schema) for b in batches))
            self._cursor.adbc_ingest(name, reader, mode="create", temporary=True)
        finally:
            reader_con.close()
        return ident(name)


def _arrow_type(ctype: str) -> Any:
    import pyarrow as pa

    return {
        "string": pa.string(),
        "integer": pa.int64(),
        "double": pa.float64(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }[ctype]


class WarehouseHook(BaseHook):
    """Connect to the warehouse named by an Airflow connection.

    Connection types: ``duckdb`` (``host`` or extra ``path``: the database file) and ``postgres``
    (host, port, login, password, ``schema`` = database; extra ``schema`` = the warehouse schema,
    default ``public``; TLS settings such as ``sslmode`` pass through). When the connection does
    not exist, the embedded default applies: DuckDB at ``$LOCKGATE_HOME/warehouse.duckdb``.

    :param warehouse_conn_id: the Airflow connection of the warehouse.
    """

    conn_name_attr = "warehouse_conn_id"
    default_conn_name = DEFAULT_WAREHOUSE_CONN_ID
    conn_type = "lockgate_warehouse"
    hook_name = "Lockgate warehouse"

    def __init__(self, warehouse_conn_id: str = DEFAULT_WAREHOUSE_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.warehouse_conn_id = warehouse_conn_id

    @cached_property
    def _conn(self) -> Any | None:
        try:
            return self.get_connection(self.warehouse_conn_id)
        except AirflowNotFoundException:
            return None

    @cached_property
    def dialect(self) -> str:
        if self._conn is None:
            return "duckdb"
        conn_type = (self._conn.conn_type or "").lower()
        if conn_type in ("postgres", "postgresql"):
            return "postgres"
        if conn_type == "duckdb":
            return "duckdb"
        raise ValueError(
            f"connection {self.warehouse_conn_id!r} has type {conn_type!r}; Lockgate warehouses are duckdb or postgres"
        )

    @cached_property
    def duckdb_path(self) -> Path:
        if self._conn is None:
            return lockgate_home() / "warehouse.duckdb"
        return Path(self._conn.extra_dejson.get("path") or self._conn.host).resolve()

    @property
    def schema(self) -> str:
        if self.dialect == "duckdb":
            return "main"
        return str(self._conn.extra_dejson.get("schema", "public")) if self._conn else "public"

    def table(self, name: str) -> str:
        """A table name qualified with the warehouse schema and quoted."""
        return qualified(self.schema, name)

    def _postgres_uri(self) -> str:
        conn = self._conn
        assert conn is not None
        auth = ""
        if conn.login:
            auth = quote(conn.login, safe="")
            if conn.password:
                auth += ":" + quote(conn.password, safe="")
            auth += "@"
        host = conn.host or "localhost"
        port = conn.port or 5432
        database = quote(conn.schema or "postgres", safe="")
        extras = {k: v for k, v in conn.extra_dejson.items() if k in _LIBPQ_EXTRAS}
        query = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in sorted(extras.items()))
        return f"postgresql://{auth}{host}:{port}/{database}" + (f"?{query}" if query else "")

    def openlineage_dataset(self, table: str) -> tuple[str, str]:
        """(namespace, name) by the OpenLineage naming spec."""
        if self.dialect == "postgres":
            conn = self._conn
            assert conn is not None
            return (
                f"postgres://{conn.host or 'localhost'}:{conn.port or 5432}",
                f"{conn.schema or 'postgres'}.{self.schema}.{table}",
            )
        return f"duckdb://{self.duckdb_path}", f"{self.duckdb_path.stem}.{self.schema}.{table}"

    def _connect_duckdb(self, timeout: float = 120.0) -> Any:
        """Open the DuckDB file, waiting while another process holds its write lock.

        One process at a time may write an embedded DuckDB file; parallel load tasks (LocalExecutor)
        take turns instead of failing.
        """
        import duckdb

        deadline = time.monotonic() + timeout
        delay = 0.1
        while True:
            try:
                return duckdb.connect(str(self.duckdb_path))
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                self.log.info("warehouse %s is locked by another task; waiting", self.duckdb_path)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    @contextmanager
    def transaction(self) -> Iterator[WarehouseSession]:
        """A session whose work commits together, or not at all if anything raises."""
        if self.dialect == "duckdb":
            self.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
            connection: Any = self._connect_duckdb()
            connection.execute("SET TimeZone='UTC'")
            connection.begin()
        else:
            import adbc_driver_postgresql.dbapi as adbc

            connection = adbc.connect(self._postgres_uri())
            connection.cursor().execute("SET TIME ZONE 'UTC'")
        try:
            yield WarehouseSession(self, connection)
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            connection.close()

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a read-only query and return all rows."""
        with self.transaction() as session:
            return session.fetchall(sql, params)

    def query_template(
        self, template: str, params: Sequence[Any] | None = None, **context: Any
    ) -> list[tuple[Any, ...]]:
        (statement,) = split_statements(render(self.dialect, template, **context))
        return self.query(statement, params)

    def table_exists(self, table: str) -> bool:
        rows = self.query(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2",
            [self.schema, table],
        )
        return bool(rows[0][0])
