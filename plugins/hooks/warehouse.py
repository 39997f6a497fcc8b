"""The warehouse: an embedded DuckDB file (default), PostgreSQL or Redshift over a real connection.

The dialect comes from the connection's type (``duckdb``, ``postgres`` or ``redshift``). Loads run
in one transaction that moves the rows in bulk (DuckDB reads the Parquet itself; PostgreSQL receives
them through ADBC bulk ingest, i.e. binary COPY, never row-by-row INSERT; Redshift COPYs the curated
Parquet from S3 itself), applies the load SQL from ``include/sql/<dialect>/`` and writes the audit row.
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
from lockgate.contracts import Column, arrow_type
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
#: a quoted identifier, a string literal, or a $n placeholder (the only ones rewritten for Redshift)
_QUOTED_OR_PLACEHOLDER = re.compile(r'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'|\$(\d+)\b')

#: Redshift COPY reads from S3 itself: the location must be a plain S3 URI (bucket, key characters
#: the lake writes, %-escapes included; no quote, backslash, space or semicolon can get through)
_S3_URI = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9._=+%-]+)*/?")
#: one IAM role ARN (partition, 12-digit account, path and name characters); no comma, which COPY
#: would read as a chain of roles
_ROLE_ARN = re.compile(r"arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[A-Za-z0-9+=.@_/-]{1,512}")
#: characters of AWS access key ids, secret keys and session tokens
_AWS_KEY = re.compile(r"[A-Za-z0-9/+=]{16,2048}")
#: extras of a redshift connection that are Lockgate's, not redshift_connector's
REDSHIFT_LOCKGATE_EXTRAS = ("schema", "copy_iam_role", "copy_aws_conn_id", "dialect", "path")


def _strict_literal(value: str, pattern: re.Pattern[str], what: str) -> str:
    """A SQL string literal for a value that cannot be a bound parameter, after a strict check.

    Redshift's COPY takes its S3 location and its authorization as literals only (the server does
    not accept parameters there), so these values are validated against a whitelist pattern that
    excludes quotes, backslashes and semicolons instead of being escaped.
    """
    if not isinstance(value, str) or not pattern.fullmatch(value) or "'" in value or "\\" in value:
        raise ValueError(f"refusing {what} {value!r}: it does not match {pattern.pattern}")
    return "'" + value + "'"


def s3_literal(uri: str) -> str:
    """A validated ``s3://bucket/key`` location as a Redshift string literal."""
    return _strict_literal(uri, _S3_URI, "S3 location")


def iam_role_literal(arn: str) -> str:
    """A validated IAM role ARN as a Redshift string literal."""
    return _strict_literal(arn, _ROLE_ARN, "IAM role")


def credentials_literal(access_key: str, secret_key: str, token: str | None = None) -> str:
    """``'aws_access_key_id=...;aws_secret_access_key=...[;token=...]'`` with every part validated.

    The result is a secret: it is registered with Airflow's secrets masker and never logged.
    """
    parts = [("aws_access_key_id", access_key), ("aws_secret_access_key", secret_key)]
    if token:
        parts.append(("token", token))
    for name, value in parts:
        if not isinstance(value, str) or not _AWS_KEY.fullmatch(value):
            raise ValueError(f"refusing the AWS credentials: {name} has characters an AWS key never has")
    text = ";".join(f"{name}={value}" for name, value in parts)
    from airflow.sdk.log import mask_secret

    mask_secret(text)
    for _, value in parts[1:]:
        mask_secret(value)
    return "'" + text + "'"


def redshift_connect_kwargs(hook: Any) -> dict[str, Any]:
    """redshift_connector.connect() arguments of a RedshiftSQLHook: the provider's own (user,
    password - or an IAM token when extra ``iam`` is set -, host, port, database) plus the extras
    that are redshift_connector's, without Lockgate's (:data:`REDSHIFT_LOCKGATE_EXTRAS`)."""
    extras = {k: v for k, v in hook.conn.extra_dejson.items() if k not in REDSHIFT_LOCKGATE_EXTRAS and v is not None}
    return {**hook._get_conn_params(), **extras}


def postgres_uri(conn: Any) -> str:
    """A libpq URI (what ADBC's PostgreSQL driver takes) of an Airflow connection: credentials,
    host, port, database (``schema``) and the extras that are libpq settings (TLS and the like)."""
    auth = ""
    if conn.login:
        auth = quote(conn.login, safe="")
        if conn.password:
            auth += ":" + quote(conn.password, safe="")
        auth += "@"
    host = conn.host or "localhost"
    port = conn.port or 5432
    database = quote(conn.schema or "postgres", safe="")
    extras = {k: v for k, v in conn.extra_dejson.items() if k in _LIBPQ_EXTRAS and v not in (None, "")}
    query = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in sorted(extras.items()))
    return f"postgresql://{auth}{host}:{port}/{database}" + (f"?{query}" if query else "")


def numeric_placeholders(sql: str) -> str:
    """``$n`` placeholders as redshift_connector's ``numeric`` style (``:n``), outside quotes only."""
    return _QUOTED_OR_PLACEHOLDER.sub(lambda m: f":{m.group(1)}" if m.group(1) else m.group(0), sql)


def parquet_rows_sql(columns: Sequence[Column]) -> str:
    """The query every load reads curated Parquet with (``$1``: the file list, in load order).

    Column types are cast from the contract so hive-partition values (strings in paths) come back
    as their declared types. DuckDB keeps the files' order and each file's row order, so the n-th
    row of this query is the n-th row a COPY received (see :mod:`lockgate.load_guards`).
    """
    select = ", ".join(f"CAST({ident(c.name)} AS {SQL_TYPES['duckdb'][c.type]}) AS {ident(c.name)}" for c in columns)
    return f"SELECT {select} FROM read_parquet($1, hive_partitioning = true)"


class WarehouseSession:
    """One open transaction on the warehouse; see :meth:`WarehouseHook.transaction`."""

    def __init__(self, hook: WarehouseHook, connection: Any) -> None:
        self.hook = hook
        self.connection = connection
        self.dialect = hook.dialect
        # a DuckDB cursor is a separate connection (own transaction, own temp tables): use the connection
        self._cursor = connection if self.dialect == "duckdb" else connection.cursor()
        if self.dialect == "redshift":
            self._cursor.paramstyle = "numeric"  # the templates' $n, rewritten to :n by execute()
        self._staged = 0

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        if self.dialect == "redshift":
            sql = numeric_placeholders(sql)
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
        file_list = [str(f) for f in files]
        if self.dialect == "duckdb":
            self._cursor.execute(f"CREATE TEMP TABLE {ident(name)} AS {parquet_rows_sql(columns)}", [file_list])
            return ident(name)
        if self.dialect != "postgres":
            raise ValueError(f"stage_parquet reads local Parquet files; the {self.dialect} dialect COPYs from S3")
        with _parquet_reader(files, columns) as reader:
            self._cursor.adbc_ingest(name, reader, mode="create", temporary=True)
        return ident(name)

    def ingest_parquet(self, files: Sequence[str | Path], columns: Sequence[Column], table: str, schema: str) -> int:
        """COPY Parquet files straight into an existing table (PostgreSQL); returns the rows written.

        ``table`` and ``schema`` are plain names: ADBC quotes them itself and matches columns by name,
        so the table's column order does not matter. The rows join this session's transaction.
        """
        if self.dialect != "postgres":
            raise ValueError(f"ingest_parquet is PostgreSQL's bulk path, not {self.dialect}'s")
        with _parquet_reader(files, columns) as reader:
            return int(self._cursor.adbc_ingest(table, reader, mode="append", db_schema_name=schema))


@contextmanager
def _parquet_reader(files: Sequence[str | Path], columns: Sequence[Column]) -> Iterator[Any]:
    """The files' rows as a streaming Arrow reader with the contract's types (partition values from paths).

    DuckDB decodes the Parquet in its own threads while the consumer (ADBC's COPY) writes: measured
    faster than pyarrow's dataset scanner for the same files.
    """
    import duckdb
    import pyarrow as pa

    reader_con = duckdb.connect()
    try:
        reader_con.execute("SET TimeZone='UTC'")
        reader_con.execute("SET memory_limit = '512MB'")  # batches stream through; keep it bounded
        schema = pa.schema([(c.name, arrow_type(c.type)) for c in columns])
        # a relation (not a DB-API result) streams: execute().to_arrow_reader() copies every row first
        relation = reader_con.sql(parquet_rows_sql(columns), params=[[str(f) for f in files]])
        batches = relation.to_arrow_reader(100_000)
        yield pa.RecordBatchReader.from_batches(schema, (b.cast(schema) for b in batches))
    finally:
        reader_con.close()


class WarehouseHook(BaseHook):
    """Connect to the warehouse named by an Airflow connection.

    Connection types: ``duckdb`` (``host`` or extra ``path``: the database file), ``postgres``
    (host, port, login, password, ``schema`` = database; extra ``schema`` = the warehouse schema,
    default ``public``; TLS settings such as ``sslmode`` pass through) and ``redshift`` (the amazon
    provider's connection, opened through its ``RedshiftSQLHook``; extra ``schema`` as for
    PostgreSQL, and what COPY reads S3 with: ``copy_iam_role`` = a role ARN the cluster may assume,
    or ``copy_aws_conn_id`` = an ``aws`` connection whose keys go into COPY's CREDENTIALS). When the
    connection does not exist, the embedded default applies: DuckDB at ``$LOCKGATE_HOME/warehouse.duckdb``.
    Lockgate's own type ``lockgate_warehouse`` (a form in Admin -> Connections) is any of the three,
    chosen by its ``dialect`` field (default ``postgres``), with the same fields and extras.

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
        if conn_type == "lockgate_warehouse":  # Lockgate's own connection type: the form's "dialect" field
            conn_type = str(self._conn.extra_dejson.get("dialect") or "postgres").lower()
        if conn_type in ("postgres", "postgresql"):
            return "postgres"
        if conn_type == "duckdb":
            return "duckdb"
        if conn_type == "redshift":
            return "redshift"
        raise ValueError(
            f"connection {self.warehouse_conn_id!r} has type {conn_type!r}; "
            "Lockgate warehouses are duckdb, postgres or redshift"
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
        return str(self._conn.extra_dejson.get("schema") or "public") if self._conn else "public"

    def table(self, name: str) -> str:
        """A table name qualified with the warehouse schema and quoted."""
        return qualified(self.schema, name)

    def _postgres_uri(self) -> str:
        assert self._conn is not None
        return postgres_uri(self._conn)

    def copy_authorization(self) -> str:
        """Redshift COPY's authorization clause, from the connection's extra (validated; a secret)."""
        assert self._conn is not None
        extra = self._conn.extra_dejson
        if extra.get("copy_iam_role"):
            return f"IAM_ROLE {iam_role_literal(str(extra['copy_iam_role']))}"
        if extra.get("copy_aws_conn_id"):
            from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

            credentials = AwsBaseHook(aws_conn_id=str(extra["copy_aws_conn_id"]), client_type="sts").get_credentials()
            literal = credentials_literal(credentials.access_key, credentials.secret_key, credentials.token)
            return f"CREDENTIALS {literal}"
        raise ValueError(
            f"connection {self.warehouse_conn_id!r}: a redshift warehouse needs extra copy_iam_role "
            "(a role ARN) or copy_aws_conn_id (an aws connection) for COPY to read the lake"
        )

    def redshift_sql_hook(self) -> Any:
        """The amazon provider's RedshiftSQLHook for this connection, opening connections with
        :func:`redshift_connect_kwargs` (the provider passes every extra to redshift_connector,
        which refuses the keys that are Lockgate's)."""
        from airflow.providers.amazon.aws.hooks.redshift_sql import RedshiftSQLHook

        class _Hook(RedshiftSQLHook):
            def get_conn(self) -> Any:  # type: ignore[override]  # the provider's is wrapped in tenacity
                import redshift_connector

                return redshift_connector.connect(**redshift_connect_kwargs(self))

        return _Hook(redshift_conn_id=self.warehouse_conn_id)

    def openlineage_dataset(self, table: str) -> tuple[str, str]:
        """(namespace, name) by the OpenLineage naming spec."""
        if self.dialect == "redshift":
            conn = self._conn
            assert conn is not None
            # the amazon provider's namespace (redshift://<cluster>.<region>:<port>), as its own
            # operators name the same tables
            info = self.redshift_sql_hook().get_openlineage_database_info(conn)
            return f"{info.scheme}://{info.authority}", f"{info.database or 'dev'}.{self.schema}.{table}"
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
        elif self.dialect == "redshift":
            connection = self.redshift_sql_hook().get_conn()
            connection.autocommit = False
            connection.cursor().execute("SET TIME ZONE 'UTC'")
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
