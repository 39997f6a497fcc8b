"""SQL databases through any common-sql DbApiHook: a full read or an incremental one by watermark."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from lockgate.config import DEFAULT_WAREHOUSE_CONN_ID
from lockgate.lineage import LineageDataset
from lockgate.sources.base import ParquetSpool, Source, Unit
from lockgate.sources.watermark import RangePlan, WatermarkRange, WatermarkStore, encode, plan_range
from lockgate.sql import ident

if TYPE_CHECKING:
    from airflow.sdk import Context

    from lockgate.progress import Progress

MODES = ("full", "incremental")


def quote_identifier(hook: Any, name: str) -> str:
    """Quote ``name`` for the hook's database: ANSI double quotes (``lockgate.sql.ident``) unless
    the hook's dialect escapes words differently (MySQL's backticks), then that quote doubled."""
    fmt = str(getattr(hook, "escape_word_format", '"{}"') or '"{}"')
    if fmt == '"{}"':
        return ident(name)
    opening, closing = fmt.split("{}", 1)
    if "\x00" in name:
        raise ValueError(f"identifier contains a NUL byte: {name!r}")
    return opening + name.replace(closing, closing * 2) + closing


def qualified_table(hook: Any, table: str) -> str:
    """``schema.table`` (dotted) with each part quoted."""
    return ".".join(quote_identifier(hook, part) for part in table.split("."))


class SqlSource(Source):
    """Rows of a table or query in any database with a common-sql hook, spooled to Parquet in batches.

    The database is read through ``BaseHook.get_connection(conn_id).get_hook()``, so every
    DbApiHook works; PostgreSQL (and psycopg) uses a server-side cursor so a large result streams
    in ``batch_rows`` batches instead of arriving whole.

    ``mode="incremental"`` reads the rows whose ``watermark_column`` lies in this logical date's
    range ``(low, high]``, durably recorded per date in the warehouse (see
    :mod:`lockgate.sources.watermark`): a failed run re-reads the same rows, a successful rerun
    reads none twice. Place a :class:`~lockgate.operators.watermark.CommitWatermarkOperator` after
    the warehouse load. Rows with a NULL watermark are never read incrementally, and rows that
    arrive late with a watermark value at or below a committed range are out of scope: they belong
    to no open range (a full reload picks them up).

    :param conn_id: the Airflow connection of the source database.
    :param table: table to read (``schema.table`` allowed); or ``query``. Templated.
    :param query: a SELECT to read instead of a table (incremental reads wrap it). Templated.
    :param mode: ``full`` or ``incremental``.
    :param watermark_column: the monotonic column of incremental reads (a number, date, timestamp).
    :param warehouse_conn_id: where the watermark ranges are kept.
    :param batch_rows: rows per fetch and per Parquet batch (bounds memory).
    :param name: the file name in the raw zone (``<name>.parquet``).
    """

    template_fields = ("table", "query")
    kind = "sql"

    def __init__(
        self,
        *,
        conn_id: str,
        table: str | None = None,
        query: str | None = None,
        mode: str = "full",
        watermark_column: str | None = None,
        warehouse_conn_id: str = DEFAULT_WAREHOUSE_CONN_ID,
        batch_rows: int = 50_000,
        name: str = "rows",
    ) -> None:
        if (table is None) == (query is None):
            raise ValueError("give exactly one of table= or query=")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if mode == "incremental" and not watermark_column:
            raise ValueError("incremental mode needs watermark_column")
        self.conn_id = conn_id
        self.table = table
        self.query = query
        self.mode = mode
        self.watermark_column = watermark_column
        self.warehouse_conn_id = warehouse_conn_id
        self.batch_rows = batch_rows
        self.name = name
        self._range: WatermarkRange | None = None
        self._rerun = False

    def describe(self) -> str:
        what = self.table if self.table is not None else "query"
        return f"sql:{self.conn_id}/{what}"

    def _hook(self) -> Any:
        from airflow.sdk import BaseHook

        hook = BaseHook.get_connection(self.conn_id).get_hook()
        if not hasattr(hook, "get_conn") or not hasattr(hook, "placeholder"):
            raise AirflowFailException(f"connection {self.conn_id!r} has no common-sql DbApiHook")
        return hook

    def _from(self, hook: Any) -> str:
        if self.table is not None:
            return qualified_table(hook, self.table)
        assert self.query is not None
        return f"({self.query.strip().rstrip(';')}) AS lockgate_src"

    @staticmethod
    def _cursor(connection: Any) -> Any:
        # psycopg/psycopg2: a named cursor is server-side, so fetchmany() streams instead of the
        # driver fetching the whole result on execute()
        if type(connection).__module__.split(".")[0] in ("psycopg2", "psycopg"):
            return connection.cursor(name="lockgate_sql_source")
        return connection.cursor()

    def _plan(self, hook: Any, context: Context, ds: str) -> tuple[Any, Any, bool]:
        """``(low, high, empty)`` of this date's incremental read; records nothing yet."""
        assert self.watermark_column is not None
        store = WatermarkStore(self.warehouse_conn_id)
        plan: RangePlan = plan_range(
            store.ranges(self._dag_id(context), self._state_name()), ds, source=self.describe()
        )
        if plan.recorded is not None:
            self._rerun = True
            r = plan.recorded
            return r.low, r.high, r.high is None or r.high == r.low
        if plan.cap_is_empty:
            return plan.low, plan.low, True
        col = quote_identifier(hook, self.watermark_column)
        ph = hook.placeholder
        where, params = [], []
        if plan.low is not None:
            where.append(f"{col} > {ph}")
            params.append(plan.low)
        if plan.cap is not None:
            where.append(f"{col} <= {ph}")
            params.append(plan.cap)
        sql = f"SELECT max({col}) FROM {self._from(hook)}" + (f" WHERE {' AND '.join(where)}" if where else "")
        (high,) = hook.get_first(sql, parameters=params or None)
        if high is None:
            return plan.low, plan.low, True  # nothing new: the range is empty and ends where it starts
        return plan.low, high, False

    def _adbc_uri(self, hook: Any) -> str | None:
        """The libpq URI to read through ADBC when the source is PostgreSQL; None for DB-API."""
        if getattr(hook, "conn_type", None) != "postgres":
            return None
        from lockgate.hooks.warehouse import postgres_uri

        return postgres_uri(hook.get_connection(self.conn_id))

    def _read_sql(self, hook: Any, low: Any, high: Any, numbered: bool) -> tuple[str, list[Any]]:
        """The SELECT of this read and its parameters: everything, or the watermark range
        ``(low, high]`` in watermark order. ``numbered``: ``$1``-style placeholders (ADBC)."""
        sql = f"SELECT * FROM {self._from(hook)}"
        if self.mode != "incremental":
            return sql, []
        assert self.watermark_column is not None
        col = quote_identifier(hook, self.watermark_column)
        params = [high] if low is None else [low, high]
        marks = [f"${n}" for n in range(1, len(params) + 1)] if numbered else [hook.placeholder] * len(params)
        where = [f"{col} <= {marks[-1]}"] if low is None else [f"{col} > {marks[0]}", f"{col} <= {marks[1]}"]
        return f"{sql} WHERE {' AND '.join(where)} ORDER BY {col}", params

    def _spool_dbapi(
        self, hook: Any, sql: str, params: list[Any], spool: ParquetSpool, progress: Progress
    ) -> list[str]:
        """Rows through the hook's DB-API cursor, ``batch_rows`` at a time; returns the column names."""
        columns: list[str] = []
        connection = hook.get_conn()
        try:
            cursor = self._cursor(connection)
            try:
                cursor.execute(sql, params or None)
                while rows := cursor.fetchmany(self.batch_rows):
                    columns = columns or [d[0] for d in cursor.description]
                    spool.write_rows(columns, rows)
                    progress.advance(len(rows))
                return columns or [d[0] for d in (cursor.description or [])]
            finally:
                cursor.close()
        finally:
            connection.close()

    def _spool_adbc(self, uri: str, sql: str, params: list[Any], spool: ParquetSpool, progress: Progress) -> list[str]:
        """PostgreSQL's result as Arrow batches through ADBC (no Python object per value)."""
        import pyarrow as pa

        from lockgate.sources.postgres_arrow import query_batches

        with query_batches(uri, sql, params, self.batch_rows) as (columns, batches):
            for batch in batches:
                try:
                    spool.write_batch(batch)
                except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                    raise ValueError(
                        f"{self.describe()}: a value does not fit its column's type (set by the first rows): {exc}"
                    ) from None
                progress.advance(batch.num_rows)
        return columns

    def _dag_id(self, context: Context) -> str:
        return str(context["dag"].dag_id)

    def _state_name(self) -> str:
        return f"{self.dataset}/{self.source_name}"

    def units(self, context: Context, workdir: Path, *, log: Any, progress: Progress) -> Iterator[Unit]:
        self._range, self._rerun = None, False  # this execution's own state, whatever ran before
        hook = self._hook()
        ds = str(context.get("ds") or context["dag_run"].run_after.date().isoformat())
        adbc_uri = self._adbc_uri(hook)
        extra: dict[str, Any] = {}
        low: Any = None
        high: Any = None
        empty = False
        if self.mode == "incremental":
            assert self.watermark_column is not None
            low, high, empty = self._plan(hook, context, ds)
            self._range = WatermarkRange(ds=ds, low=low, high=high, run_id=str(context["run_id"]))
            extra["watermark"] = self._watermark_facts()
            log.info(
                "%s: %s range (%s, %s]%s",
                self.describe(),
                self.watermark_column,
                low,
                high,
                " (the range this date recorded before)" if self._rerun else "",
            )
        sql, params = self._read_sql(hook, low, high, numbered=adbc_uri is not None)
        if empty:
            # nothing to read, but the file still gets the columns, so the gate can check them
            sql, params = f"SELECT * FROM {self._from(hook)} WHERE 1 = 0", []
        path = workdir / f"{self.name}.parquet"
        spool = ParquetSpool(path, description=self.describe())
        try:
            if adbc_uri is not None:
                columns = self._spool_adbc(adbc_uri, sql, params, spool, progress)
            else:
                columns = self._spool_dbapi(hook, sql, params, spool, progress)
        except ValueError as exc:
            raise AirflowFailException(str(exc)) from None
        spool.close(empty_columns=columns)
        if self._range is not None:
            self._range = WatermarkRange(
                ds=ds, low=self._range.low, high=self._range.high, rows=spool.rows, run_id=self._range.run_id
            )
        yield Unit(
            name=path.name,
            path=path,
            format="parquet",
            source=self.describe(),
            rows=spool.rows,
            extra=extra,
            **self._lineage(hook),
        )

    def _watermark_facts(self) -> dict[str, Any]:
        assert self._range is not None
        vtype, low = encode(self._range.low)
        htype, high = encode(self._range.high)
        return {
            "column": self.watermark_column,
            "type": htype or vtype,
            "low_exclusive": low,
            "high_inclusive": high,
            "rerun_of_recorded_range": self._rerun,
        }

    def lineage_inputs(self, hook: Any) -> list[LineageDataset]:
        """The tables this source reads, named as the OpenLineage provider names them: its SQL parser
        reads the query (or ``SELECT * FROM <table>``) and the hook's ``get_openlineage_database_info``
        gives the namespace (``postgres://host:port``, ``redshift://cluster.region:port``) and the
        database; the schema is the parsed one or the connection's current schema. Empty when the
        provider cannot tell (no database info for this hook, a parse failure): lineage never fails
        an ingestion."""
        sql = self.query if self.query is not None else f"SELECT * FROM {self._from(hook)}"
        try:
            from airflow.providers.openlineage.sqlparser import get_openlineage_facets_with_sql

            parsed = get_openlineage_facets_with_sql(hook, sql, self.conn_id, None, use_connection=False)
        except Exception:  # noqa: BLE001 - lineage must never fail an ingestion
            return []
        return [LineageDataset(dataset.namespace, dataset.name) for dataset in (parsed.inputs if parsed else [])]

    def _lineage(self, hook: Any) -> dict[str, Any]:
        """``Unit`` keyword arguments for :meth:`lineage_inputs`."""
        inputs = self.lineage_inputs(hook)
        return {"lineage": inputs[0], "more_lineage": inputs[1:]} if inputs else {}

    def manifest_extra(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sql": {"mode": self.mode, "table": self.table}}
        if self._range is not None:
            out["watermark"] = self._watermark_facts() | {"rows": self._range.rows}
        return out

    def landed(self, context: Context, manifest: dict[str, Any], *, log: Any) -> None:
        # a range is recorded once per date; a rerun read that recorded range and keeps it as it is
        if self._range is None or self._rerun:
            return
        assert self.watermark_column is not None
        WatermarkStore(self.warehouse_conn_id).record(
            self._dag_id(context), self._state_name(), self.watermark_column, self._range
        )
        log.info("%s: recorded ds=%s range, uncommitted until its load commits", self.describe(), self._range.ds)
