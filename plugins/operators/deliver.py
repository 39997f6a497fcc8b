"""Deliveries: a logical date's loaded rows to an HTTP API, a partner drop or another database, once."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from lockgate import delivery
from lockgate.config import DEFAULT_WAREHOUSE_CONN_ID
from lockgate.contracts import ORIGIN_COLUMNS
from lockgate.delivery import DELIVERY_AUDIT_TABLE, Batch, Target
from lockgate.hooks.partner import RETRY_STATUSES
from lockgate.hooks.warehouse import WarehouseHook
from lockgate.layout import zone_prefix
from lockgate.lineage import LineageDataset
from lockgate.operators.base import LakeOperator
from lockgate.operators.load import AUDIT_TABLE
from lockgate.sql import SQL_TYPES, ident, literal, render

if TYPE_CHECKING:
    from airflow.sdk import Context

    from lockgate.hooks.partner import ApiDeliveryHook, ApiResponse, PartnerDropHook, TableUpsertHook


@dataclass(frozen=True)
class Curated:
    """A date's published curated version: local data files, rows, checksum (the load audit's)."""

    files: list[str]
    rows: int
    checksum: str
    source: str


#: rows fetched at a time where the target takes the date as one unit (a drop's hash, an upsert)
CHUNK_ROWS = 10_000
#: DuckDB's own memory for the selection's sort; beyond it the sort spills to the task's workdir.
#: With one thread, a delivery's peak stays near this (plus one batch) whatever the date's size.
DUCKDB_MEMORY_LIMIT = "64MB"
#: the same for a drop's COPY (its writer's buffers need more; still independent of the date's size)
COPY_MEMORY_LIMIT = "128MB"


@dataclass(frozen=True)
class Selection:
    """What a delivery sends: its column names and the SQL that chooses the rows (never the rows:
    they are streamed from DuckDB a chunk at a time, see :meth:`DeliverOperator._chunks`)."""

    names: list[str]
    sql: str
    params: list[Any]
    source: str


class ChangedUnderneath(AirflowFailException):
    """The selection read again to send it is not what was hashed to plan the delivery."""


class DeliverOperator(LakeOperator):
    """Deliver the rows a logical date loaded to one target, exactly once (see :mod:`lockgate.delivery`).

    The rows are the date's version in the curated Iceberg table's current snapshot: the very files
    the load committed, which the load's audit row vouches for by checksum. A date that did not load,
    or whose curated version changed after its load, is refused: only good dates go out and the
    quarantine never does. The curated zone holds personal data hashed or masked already; with
    ``pii="clear"`` the target receives it in clear, from the staged zone (the gate's good rows).

    Every batch the target acknowledges is recorded at once in ``lockgate_delivery_audit`` (the
    warehouse's audit schema) with its status, idempotency key, rows and content hash; a retry sends
    what is not acknowledged, an unchanged rerun sends nothing, a changed date is sent again with
    new keys and the reason. A batch the receiver refuses (a 4xx other than 429) is recorded with
    the response and fails the task naming the batch and its first rows. A kill between a receiver's
    acknowledgement and its audit row can resend that one batch, with the same key: receivers
    de-duplicate by ``Idempotency-Key``, upserts and drops are idempotent by construction.

    :param kind: ``http``, ``partner_drop`` or ``table``.
    :param conn_id: the target's Airflow connection (http; a drop zone like a lake connection;
        a common-sql database). Not defined: the embedded default under ``$LOCKGATE_HOME``.
    :param options: the kind's settings. http: ``endpoint``, ``batch_size`` (500), ``rate_limit``
        (requests a second), ``max_retries`` (5), ``backoff_seconds`` (1), ``max_backoff_seconds``
        (60), ``timeout_seconds`` (30). partner_drop: ``format`` (``parquet`` or ``csv``),
        ``prefix`` (default the dataset). table: ``table`` (``schema.table`` allowed).
    :param where: a routing predicate the rows must satisfy (:mod:`lockgate.pipelines.predicates`).
    :param columns: the columns sent (default all, ``ds`` included).
    :param pii: ``protected`` (hash/mask, the default) or ``clear`` (the target may receive it).
    :param target_name: the delivery's name in the audit (default the task id).
    :param pipeline: the pipeline named in idempotency keys (default the DAG id).
    :param warehouse_conn_id: the warehouse whose load audit vouches for the date and which keeps
        the delivery audit.
    :param catalog_conn_id: the curated zone's Iceberg catalog connection (default: the catalog's own,
        see :mod:`lockgate.hooks.iceberg`).
    """

    template_fields: tuple[str, ...] = ("dataset",)
    ui_color = "#fde9d9"

    def __init__(
        self,
        *,
        kind: str,
        conn_id: str,
        options: Mapping[str, Any] | None = None,
        where: Mapping[str, Any] | None = None,
        columns: Sequence[str] | None = None,
        pii: str = "protected",
        target_name: str | None = None,
        pipeline: str | None = None,
        warehouse_conn_id: str = DEFAULT_WAREHOUSE_CONN_ID,
        catalog_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if kind not in delivery.KINDS:
            raise ValueError(f"kind must be one of {', '.join(delivery.KINDS)}, not {kind!r}")
        if pii not in delivery.PII_POLICIES:
            raise ValueError(f"pii must be one of {', '.join(delivery.PII_POLICIES)}, not {pii!r}")
        self.kind = kind
        self.conn_id = conn_id
        self.options = dict(options or {})
        self.where = dict(where) if where else None
        self.columns = list(columns) if columns else None
        self.pii = pii
        self.target_name = target_name or self.task_id
        self.pipeline = pipeline
        self.warehouse_conn_id = warehouse_conn_id
        self.catalog_conn_id = catalog_conn_id

    # -- hooks -----------------------------------------------------------------------------------

    @cached_property
    def target(self) -> Target:
        return Target(self.kind, self.conn_id, self.options)

    @cached_property
    def warehouse(self) -> WarehouseHook:
        return WarehouseHook(warehouse_conn_id=self.warehouse_conn_id)

    @cached_property
    def api(self) -> ApiDeliveryHook:
        from lockgate.hooks.partner import ApiDeliveryHook

        o = self.options
        return ApiDeliveryHook(
            self.conn_id,
            max_retries=int(o.get("max_retries", 5)),
            backoff_seconds=float(o.get("backoff_seconds", 1.0)),
            max_backoff_seconds=float(o.get("max_backoff_seconds", 60.0)),
            timeout_seconds=float(o.get("timeout_seconds", 30.0)),
        )

    @cached_property
    def drop_zone(self) -> PartnerDropHook:
        from lockgate.hooks.partner import PartnerDropHook

        return PartnerDropHook(partner_conn_id=self.conn_id)

    @cached_property
    def database(self) -> TableUpsertHook:
        from lockgate.hooks.partner import TableUpsertHook

        return TableUpsertHook(self.conn_id)

    # -- where it goes ----------------------------------------------------------------------------

    def drop_folder(self, ds: str) -> str:
        return f"{self.options.get('prefix') or self.dataset}/ds={ds}"

    def lineage_output(self, ds: str) -> tuple[str, str]:
        """(namespace, name) of the target by the OpenLineage naming spec."""
        if self.kind == "http" and self.api.connection is None:
            return "file", str(self.api.outbox_for(str(self.options.get("endpoint", ""))))
        if self.kind == "http":
            return delivery.http_lineage(self.api.base_url, str(self.options.get("endpoint", "")))
        if self.kind == "partner_drop":
            return self.drop_zone.openlineage_dataset(self.drop_folder(ds))
        return self.database.lineage(str(self.options["table"]))

    def location(self, ds: str) -> str:
        """The target as people read it in the audit and the run summary (never a secret)."""
        namespace, name = self.lineage_output(ds)
        if namespace == "file":
            return name
        return f"{namespace}{name}" if name.startswith("/") else f"{namespace}/{name}"

    # -- what goes --------------------------------------------------------------------------------

    def _curated(self, ds: str, work: Path) -> Curated:
        """The date's version in the curated Iceberg table's current snapshot (what the load read):
        local copies of its data files, its rows and checksum (see ``CatalogHook.local_date``)."""
        from lockgate.hooks.iceberg import CatalogHook, CuratedDataMissing

        if self.catalog_conn_id is None:
            catalog = CatalogHook(lake=self.lake)
        else:
            catalog = CatalogHook(self.catalog_conn_id, lake=self.lake)
        try:
            found = catalog.local_date(self.dataset, ds, work / "curated")
        except CuratedDataMissing:
            raise self._not_published(ds, catalog.location(self.dataset)) from None
        return Curated([str(f) for f in found.files], found.rows, found.checksum, catalog.location(self.dataset))

    def _not_published(self, ds: str, where: str) -> AirflowFailException:
        return AirflowFailException(
            f"{self.dataset} ds={ds} has no curated version ({where}): only a date that passed its gate and "
            "loaded is delivered"
        )

    def _require_loaded(self, ds: str, curated: Curated) -> None:
        """Only a good date goes out: the load committed exactly this curated version (same checksum)."""
        found = []
        if self.warehouse.table_exists(AUDIT_TABLE):
            found = self.warehouse.query(
                f"SELECT table_name, checksum FROM {self.warehouse.table(AUDIT_TABLE)} "
                "WHERE dataset = $1 AND partition_ds = $2",
                [self.dataset, date.fromisoformat(ds)],
            )
        if not found:
            raise AirflowFailException(
                f"{self.dataset} ds={ds} was not loaded (no row in {AUDIT_TABLE}): only a date that loaded is delivered"
            )
        if all(checksum != curated.checksum for _, checksum in found):
            raise AirflowFailException(
                f"{self.dataset} ds={ds}: the curated version (checksum {curated.checksum[:12]}) is not the one "
                f"loaded into {found[0][0]} (checksum {found[0][1][:12]}); load the date again before delivering it"
            )

    def _relation(self, con: Any, ds: str, curated: Curated, work: Path) -> tuple[str, str]:
        """DuckDB relation of the date's rows, and where they came from."""
        types = {c.name: c.type for c in self.contract.storage_columns}
        typed = ", ".join(f"CAST({ident(n)} AS {SQL_TYPES['duckdb'][t]}) AS {ident(n)}" for n, t in types.items())
        if self.pii == "clear":
            # the gate's typed rows before the partition step hashed or masked personal data
            key = f"{zone_prefix('staged', self.dataset, ds)}/part-0.parquet"
            staged = literal(str(self.lake.local_copy(key, work / "staged")))
            present = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({staged})").fetchall()}
            origin = [c for c in ORIGIN_COLUMNS if c in present]
            exclude = f" EXCLUDE ({', '.join(ident(c) for c in origin)})" if origin else ""
            con.execute(
                f"CREATE TEMP VIEW rows_of_date AS SELECT {typed} FROM (SELECT *{exclude} FROM read_parquet({staged}))"
            )
            (rows,) = con.execute("SELECT count(*) FROM rows_of_date").fetchone()
            if rows != curated.rows:
                raise AirflowFailException(
                    f"{self.dataset} ds={ds}: the staged zone holds {rows} rows but the loaded version has "
                    f"{curated.rows}; run the gate and the load again before delivering in clear"
                )
            return "rows_of_date", self.lake.uri(key)
        if curated.files:
            files = ", ".join(literal(f) for f in curated.files)
            con.execute(
                # Iceberg data files hold their partition columns; hive folder names are not read
                f"CREATE TEMP VIEW rows_of_date AS SELECT {typed} FROM read_parquet([{files}], "
                "hive_partitioning = false)"
            )
        else:
            columns = ", ".join(f"CAST(NULL AS {SQL_TYPES['duckdb'][t]}) AS {ident(n)}" for n, t in types.items())
            con.execute(f"CREATE TEMP VIEW rows_of_date AS SELECT {columns} WHERE FALSE")
        return "rows_of_date", curated.source

    def _select(self, con: Any, ds: str, curated: Curated, work: Path) -> Selection:
        from lockgate.checks import Params

        relation, source = self._relation(con, ds, curated, work)
        params = Params()
        types = {c.name: c.type for c in self.contract.storage_columns}
        sql = delivery.selection_sql(
            relation,
            types=types,
            order_by=self.contract.primary_key or list(types),
            bind=params,
            where=self.where,
            columns=self.columns,
        )
        return Selection(list(self.columns or types), sql, params.values, source)

    @staticmethod
    def _chunks(con: Any, selection: Selection, size: int, *, skip: int = 0) -> Iterator[list[tuple[Any, ...]]]:
        """The selection's rows, ``size`` at a time (the last chunk may be shorter), after the first
        ``skip``: DuckDB streams them, Python never holds more than one chunk."""
        sql = f"{selection.sql} OFFSET {int(skip)}" if skip else selection.sql
        cursor = con.execute(sql, selection.params)
        while chunk := cursor.fetchmany(size):
            yield chunk

    def _digest(self, con: Any, selection: Selection, ds: str, pipeline: str) -> tuple[str, list[Batch]]:
        """Pass one: the version and keyed batches of the date, hashed as they stream by (no rows kept)."""
        if self.kind == "http":
            batches = delivery.digest_batches(selection.names, self._chunks(con, selection, self.target.batch_size))
        else:
            # a drop file and an upsert transaction are one unit each, an empty date included
            batches = [delivery.digest_whole(selection.names, self._chunks(con, selection, CHUNK_ROWS))]
        return delivery.keyed(batches, pipeline=pipeline, dataset=self.dataset, ds=ds)

    def _changed(self, ds: str, what: str) -> ChangedUnderneath:
        return ChangedUnderneath(
            f"{self.dataset} ds={ds}: {what} while it was being delivered (the rows read to send differ from "
            "the rows hashed to plan the delivery); nothing more was sent, run the delivery again"
        )

    # -- the audit --------------------------------------------------------------------------------

    def _acks(self, ds: str) -> list[delivery.Ack]:
        audit = self.warehouse.table(DELIVERY_AUDIT_TABLE)
        with self.warehouse.transaction() as session:
            session.run_template("delivery_audit_table.sql", audit_table=audit)
        rows = self.warehouse.query_template(
            "delivery_audit_acks.sql", [self.target_name, self.dataset, date.fromisoformat(ds)], audit_table=audit
        )
        return [delivery.Ack(int(b), str(k), int(n), str(h), str(v), str(r)) for b, k, n, h, v, r in rows]

    def _supersede(self, ds: str, version: str) -> None:
        with self.warehouse.transaction() as session:
            session.run_template(
                "delivery_audit_supersede.sql",
                [self.target_name, self.dataset, date.fromisoformat(ds), version],
                audit_table=self.warehouse.table(DELIVERY_AUDIT_TABLE),
            )

    def _record(
        self,
        context: Context,
        ds: str,
        version: str,
        batch: Batch,
        total: int,
        status: str,
        reason: str,
        *,
        http_status: int | None = None,
        retried: Sequence[int] = (),
        response: str | None = None,
    ) -> None:
        """One batch's outcome, committed now: a kill after this line never resends the batch."""
        with self.warehouse.transaction() as session:
            session.run_template(
                "delivery_audit_insert.sql",
                [
                    context["dag"].dag_id,
                    str(context["run_id"]),
                    self.target_name,
                    self.kind,
                    self.location(ds),
                    self.dataset,
                    date.fromisoformat(ds),
                    version,
                    batch.number,
                    total,
                    batch.key,
                    batch.count,
                    batch.content_hash,
                    status,
                    http_status,
                    ",".join(str(s) for s in retried) or None,
                    response,
                    reason,
                    datetime.now(UTC),
                ],
                audit_table=self.warehouse.table(DELIVERY_AUDIT_TABLE),
            )

    # -- the targets ------------------------------------------------------------------------------

    def _filled(self, con: Any, ds: str, plan: delivery.Plan, total: int, selection: Selection) -> Iterator[Batch]:
        """Pass two: the plan's batches with their rows, read again from the selection one batch at a
        time, starting at the first batch to send (earlier ones are not read into Python), each
        checked against pass one's hash: changed rows fail loudly instead of going out under old keys,
        and so do rows beyond pass one's last batch."""
        todo = {b.number: b for b in plan.send}
        start = plan.send[0]
        chunks = self._chunks(con, selection, self.target.batch_size, skip=start.first - 1)
        for number, chunk in enumerate(chunks, start.number):
            if number > total:
                raise self._changed(ds, f"the selection grew beyond its {total} batch(es)")
            planned = todo.pop(number, None)
            if planned is None:
                continue  # acknowledged out of order already
            rows = delivery.json_rows(selection.names, chunk)
            if len(rows) != planned.count or delivery.content_hash(rows) != planned.content_hash:
                raise self._changed(ds, f"batch {number} changed")
            yield replace(planned, rows=rows, size=None)
        if todo:
            raise self._changed(ds, f"the selection ended before batch {min(todo)}")

    def _send_http(
        self, context: Context, ds: str, plan: delivery.Plan, total: int, names: list[str], batches: Iterator[Batch]
    ) -> None:
        """POST the plan's batches in order, each acknowledged in the audit as soon as it is."""
        endpoint = str(self.options.get("endpoint", ""))
        limiter = delivery.RateLimiter(self.options.get("rate_limit"))
        for batch in batches:
            body = delivery.http_body(self.dataset, ds, batch, total, plan.version)
            limiter.wait()
            name = f"{self.dataset}-{ds}-batch-{batch.number:05d}"
            response = self.api.post(endpoint, body, {"Idempotency-Key": batch.key}, name=name)
            if not response.ok:
                self._refused(context, ds, plan, batch, total, names, response)
            self._record(
                context,
                ds,
                plan.version,
                batch,
                total,
                delivery.ACKNOWLEDGED,
                plan.reason,
                http_status=response.status,
                retried=response.retried,
            )
            retried = f" after retries on {list(response.retried)}" if response.retried else ""
            self.log.info(
                "%s: batch %d of %d (%d rows, key %s) acknowledged with HTTP %d%s",
                self.target_name,
                batch.number,
                total,
                len(batch.rows),
                batch.key,
                response.status,
                retried,
            )

    def _refused(
        self,
        context: Context,
        ds: str,
        plan: delivery.Plan,
        batch: Batch,
        total: int,
        names: list[str],
        response: ApiResponse,
    ) -> NoReturn:
        """A batch the receiver did not take: still failing after urllib3's retries (429, 5xx: a task
        retry may cure it), or rejected (any other status: recorded with the response, not retried)."""
        text = delivery.redact(response.text, self.api.secrets())[: delivery.RESPONSE_KEPT]
        where = f"delivery {self.target_name} of {self.dataset} ds={ds} to {self.location(ds)}"
        if response.status in RETRY_STATUSES:
            raise AirflowException(
                f"{where}: batch {batch.number} of {total} still answered HTTP {response.status} after "
                f"{len(response.retried)} retries: {text}; a retry of the task resumes from this batch"
            )
        self._record(
            context,
            ds,
            plan.version,
            batch,
            total,
            delivery.REJECTED,
            plan.reason,
            http_status=response.status,
            retried=response.retried,
            response=text,
        )
        indexes = delivery.rejected_indexes(response.json(), len(batch.rows))
        raise AirflowFailException(
            delivery.rejection_message(where, batch, total, response.status, text, indexes, names)
        )

    def _send_drop(
        self, context: Context, ds: str, plan: delivery.Plan, con: Any, selection: Selection, work: Path
    ) -> None:
        """DuckDB writes the selection straight to the file (its own streaming writer, no row in
        Python), which is then published whole or not at all."""
        fmt = str(self.options.get("format", "parquet"))
        (batch,) = plan.send
        name = f"{self.dataset}_{ds}.{fmt}"
        local = work / "drop" / name
        local.parent.mkdir(parents=True, exist_ok=True)
        options = "FORMAT parquet, COMPRESSION zstd" if fmt == "parquet" else "FORMAT csv, HEADER true"
        # the selection again, written by DuckDB with its types (one thread: the same rows give the same file)
        con.execute("SET threads = 1")
        # the Parquet writer buffers a row group per column on top of the sort's memory
        con.execute(f"SET memory_limit = {literal(COPY_MEMORY_LIMIT)}")
        (written,) = con.execute(
            f"COPY ({selection.sql}) TO {literal(str(local))} ({options})", selection.params
        ).fetchone()
        if written != batch.count:
            raise self._changed(ds, f"the selection held {batch.count} rows when hashed but {written} when written")
        marker = {
            "dataset": self.dataset,
            "ds": ds,
            "file": name,
            "format": fmt,
            "rows": batch.count,
            "content_hash": batch.content_hash,
            "idempotency_key": batch.key,
            "version": plan.version,
            "run_id": str(context["run_id"]),
        }
        key = self.drop_zone.drop(local, self.drop_folder(ds), name, marker)
        self._record(context, ds, plan.version, batch, 1, delivery.ACKNOWLEDGED, plan.reason)
        self.log.info(
            "%s: %d rows of %s ds=%s dropped as %s",
            self.target_name,
            batch.count,
            self.dataset,
            ds,
            self.drop_zone.uri(key),
        )

    def _send_table(self, context: Context, ds: str, plan: delivery.Plan, con: Any, selection: Selection) -> None:
        """Upsert the selection chunk by chunk inside one transaction; before it commits, the rows
        written must hash to what pass one planned (else it rolls back and fails)."""
        (batch,) = plan.send
        table = str(self.options["table"])
        key = list(self.contract.primary_key)
        by_name = {c.name: c for c in self.contract.storage_columns}
        columns = [by_name[n] for n in selection.names]

        def create() -> str:
            return render("duckdb", "delivery_upsert_table.sql", table=ident(table), columns=columns, primary_key=key)

        sha = delivery.StreamHash()

        def chunks() -> Iterator[list[tuple[Any, ...]]]:
            for chunk in self._chunks(con, selection, CHUNK_ROWS):
                sha.update(delivery.json_rows(selection.names, chunk))
                yield chunk

        def verify() -> None:
            if (sha.rows, sha.hexdigest()) != (batch.count, batch.content_hash):
                raise self._changed(ds, f"the selection ({sha.rows} rows) changed")

        written = self.database.upsert(table, selection.names, chunks(), key, create=create, before_commit=verify)
        self._record(context, ds, plan.version, batch, 1, delivery.ACKNOWLEDGED, plan.reason)
        self.log.info(
            "%s: %d rows of %s ds=%s upserted into %s on (%s)",
            self.target_name,
            written,
            self.dataset,
            ds,
            self.location(ds),
            ", ".join(key),
        )

    # -- the step ---------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        import duckdb

        ds = self.logical_ds(context)
        pipeline = self.pipeline or context["dag"].dag_id
        with self.workdir() as work:
            curated = self._curated(ds, work)
            self._require_loaded(ds, curated)
            con = duckdb.connect()
            try:
                con.execute("SET TimeZone='UTC'")
                # the ORDER BY's sort is DuckDB's: bounded, spilling to the workdir beyond the limit
                # (one thread: more threads each want their own buffers under the same small limit,
                # and a query result DuckDB cannot spill is what made it run out of memory)
                con.execute("SET threads = 1")
                con.execute(f"SET memory_limit = {literal(DUCKDB_MEMORY_LIMIT)}")
                con.execute(f"SET temp_directory = {literal(str(work / 'spill'))}")
                selection = self._select(con, ds, curated, work)
                version, batches = self._digest(con, selection, ds, pipeline)
                plan = delivery.plan(version, batches, self._acks(ds))
                self.log.info(
                    "%s: %s ds=%s -> %s: %s", self.target_name, self.dataset, ds, self.location(ds), plan.reason
                )
                if plan.supersede:
                    self._supersede(ds, version)
                if plan.send and self.kind == "http":
                    self._send_http(
                        context,
                        ds,
                        plan,
                        len(batches),
                        selection.names,
                        self._filled(con, ds, plan, len(batches), selection),
                    )
                elif plan.send and self.kind == "partner_drop":
                    self._send_drop(context, ds, plan, con, selection, work)
                elif plan.send:
                    self._send_table(context, ds, plan, con, selection)
            finally:
                con.close()
        rows = sum(b.count for b in batches)
        self._lineage(ds, selection, rows)
        return {
            "target": self.target_name,
            "kind": self.kind,
            "location": self.location(ds),
            "dataset": self.dataset,
            "ds": ds,
            "rows": rows,
            "rows_sent": sum(b.count for b in plan.send),
            "batches": len(batches),
            "batches_sent": len(plan.send),
            "version": version,
            "reason": plan.reason,
        }

    def _lineage(self, ds: str, selection: Selection, rows: int) -> None:
        by_name = {c.name: c for c in self.contract.storage_columns}
        columns = [by_name[n] for n in selection.names]
        zone = "staged" if self.pii == "clear" else "curated"
        self.lineage.inputs.append(self.lake_dataset(f"{zone}/{self.dataset}", self.contract.storage_columns))
        namespace, name = self.lineage_output(ds)
        self.lineage.outputs.append(LineageDataset(namespace, name, columns, row_count=rows, partitions=[{"ds": ds}]))


def delivered(warehouse: WarehouseHook, dag_id: str, ds: str) -> list[dict[str, Any]]:
    """What a DAG's deliveries of a date stand at, per target (for the run summary): rows and
    batches acknowledged, batches rejected, where to, when last; [] when nothing was delivered."""
    if not warehouse.table_exists(DELIVERY_AUDIT_TABLE):
        return []
    rows = warehouse.query_template(
        "delivery_audit_summary.sql",
        [dag_id, date.fromisoformat(ds)],
        audit_table=warehouse.table(DELIVERY_AUDIT_TABLE),
    )
    keys = ("target", "kind", "location", "dataset", "rows", "batches", "rejected", "recorded_at")
    found = [dict(zip(keys, row, strict=True)) for row in rows]
    for entry in found:
        entry.update(rows=int(entry["rows"]), batches=int(entry["batches"]), rejected=int(entry["rejected"]))
        entry["recorded_at"] = str(entry["recorded_at"])
    return found


def format_deliveries(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """The run summary's lines about deliveries (none when there were none)."""
    if not entries:
        return []
    lines = ["", "Delivered (acknowledged by the target):"]
    for e in entries:
        rejected = f", {e['rejected']} batch(es) rejected" if e["rejected"] else ""
        lines.append(
            f"  {e['target']:<28}{e['dataset']:<24}{e['rows']:>7} rows in {e['batches']} batch(es){rejected} "
            f"-> {e['kind']} {e['location']}"
        )
    return lines
