"""Warehouse loads: a logical date's curated partitions into a table, in one transaction."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from lockgate.config import DEFAULT_WAREHOUSE_CONN_ID
from lockgate.contracts import DATE_PARTITION, Column
from lockgate.hooks.warehouse import WarehouseHook, s3_literal
from lockgate.layout import zone_prefix
from lockgate.lineage import LineageDataset
from lockgate.load_guards import (
    MAX_SOURCES,
    LakeChecks,
    check_predicate,
    copy_error_position,
    curated_row,
    duckdb_refusal,
    error_column,
    error_constraint,
    key_sources,
    lake_checks,
    refused_rows,
    repeated_key_message,
    shrink_refusal,
    source_lines,
    staged_sources,
)
from lockgate.operators.base import LakeOperator
from lockgate.schema_evolution import IncompatibleSchemaError, contract_type
from lockgate.schema_evolution import plan as plan_evolution
from lockgate.sql import ident, literal, render, render_statement, split_statements

if TYPE_CHECKING:
    from airflow.sdk import Context

LOAD_MODES = ("replace_partition", "merge", "append", "scd2")
#: modes whose table holds whole logical dates (on PostgreSQL: one partition per date)
DATE_MODES = ("replace_partition", "append")
AUDIT_TABLE = "lockgate_load_audit"
#: PostgreSQL truncates identifiers longer than this many bytes
_PG_MAX_IDENTIFIER = 63
#: the history columns of an scd2 table, after the contract's
SCD2_COLUMNS = (
    Column("valid_from", "date", nullable=False, description="first snapshot date of this version"),
    Column("valid_to", "date", description="snapshot date that replaced this version (NULL: current)"),
    Column("is_current", "boolean", nullable=False),
)


def load_params() -> dict[str, Any]:
    """The DAG params every Lockgate DAG declares for its loads (shown in the UI's trigger form)."""
    from airflow.sdk import Param

    return {
        "allow_shrink": Param(
            False,
            type="boolean",
            title="Allow shrinking a loaded date",
            description=(
                "replace_partition loads refuse to replace a loaded date with an empty delivery or one "
                "smaller than the contract's min_replace_share (default 50%) of the rows loaded; tick to "
                "replace it anyway (a source that really shrank, a day deleted on purpose)"
            ),
        )
    }


class LoadConflictError(RuntimeError):
    """Another load of the same table and date holds the lock."""


def date_partition_name(table: str, day: date) -> str:
    """The PostgreSQL partition of ``table`` holding ``day``: ``<table>__ds_<yyyymmdd>``.

    A name that would pass PostgreSQL's 63-byte limit keeps a prefix and a hash of the full table
    name instead (PostgreSQL would truncate it silently, and two tables could collide).
    """
    suffix = f"__ds_{day:%Y%m%d}"
    name = table + suffix
    if len(name.encode()) <= _PG_MAX_IDENTIFIER:
        return name
    digest = hashlib.sha256(table.encode()).hexdigest()[:10]
    budget = _PG_MAX_IDENTIFIER - len(suffix) - len(digest) - 1
    prefix = table.encode()[:budget].decode(errors="ignore")
    return f"{prefix}_{digest}{suffix}"


def copy_manifest(locations: Sequence[str], sizes: Sequence[int]) -> dict[str, Any]:
    """A Redshift COPY manifest listing exactly these data files (``s3://`` URIs and byte sizes).

    COPY from Parquet needs each entry's ``content_length``; ``mandatory`` makes a missing file
    fail the COPY instead of loading less.
    """
    return {
        "entries": [
            {"url": url, "mandatory": True, "meta": {"content_length": int(size)}}
            for url, size in zip(locations, sizes, strict=True)
        ]
    }


def write_copy_manifest(lake: Any, manifest: dict[str, Any], files: Sequence[Path]) -> str:
    """Write the Redshift COPY manifest of a curated date as of one snapshot; returns its URI.

    ``manifest`` and ``files`` are ``CatalogHook.local_date``'s (``CuratedDate.manifest()`` and
    its local files). The manifest lists exactly the snapshot's data files of the date (the
    table's folder also holds other versions' files, kept for time travel). When the snapshot has
    delete files for the date (another engine's merge-on-read deletes), the data files hold rows
    the table no longer has: the scan's rows (``files``, one file) are uploaded next to the
    manifest and listed instead.
    """
    folder = f"curated/{manifest['dataset']}/copy-manifests/ds={manifest['ds']}/snapshot-{manifest['snapshot_id']}"
    if manifest.get("materialised"):
        (path,) = files
        rows_key = f"{folder}/rows.parquet"
        lake.put_file(path, rows_key)
        entries = copy_manifest([lake.uri(rows_key)], [path.stat().st_size])
    else:
        entries = copy_manifest([f["location"] for f in manifest["files"]], [f["bytes"] for f in manifest["files"]])
    key = f"{folder}.json"
    lake.write_json(key, entries)
    return str(lake.uri(key))


def redshift_stage_sql(
    staging: str,
    columns: Sequence[Column],
    locations: Sequence[tuple[str, dict[str, str]]],
    authorization: str,
    template: str = "copy_parquet.sql",
) -> list[tuple[str, list[Any]]]:
    """Every statement (text, bound values) that stages curated Parquet on S3 into ``staging`` on Redshift.

    ``locations`` are full ``s3://`` URIs with their partition values (:func:`curated_locations`);
    ``authorization`` comes from :meth:`WarehouseHook.copy_authorization`. Partition values are
    bound parameters; the location and authorization are strict literals (COPY binds neither).
    """
    statements: list[tuple[str, list[Any]]] = [
        (render_statement("redshift", "stage_table.sql", staging=staging, columns=columns), [])
    ]
    base = staging.strip('"').replace('""', '"')
    for number, (uri, values) in enumerate(locations, 1):
        names = [c.name for c in columns if c.name in values]
        rendered = render(
            "redshift",
            template,
            part=ident(f"{base}_part_{number}"),
            staging=staging,
            location=s3_literal(uri),
            authorization=authorization,
            file_columns=[c for c in columns if c.name not in values],
            columns=columns,
            partition_values={name: index for index, name in enumerate(names, 1)},
        )
        for statement in split_statements(rendered):
            bound = [values[n] for n in names] if statement.startswith("INSERT INTO") else []
            statements.append((statement, bound))
    return statements


class WarehouseLoadOperator(LakeOperator):
    """Load the curated partitions of one logical date into a warehouse table.

    The table is created from the contract when absent, and evolved with it (new nullable columns
    added, safe widenings applied, anything else refused with the column and both types). In one
    transaction the rows are staged (PostgreSQL: ADBC bulk ingest, i.e. COPY), applied by ``mode``,
    reconciled with the lake and recorded in ``lockgate_load_audit`` (dag, run, dataset, partition,
    rows, checksum, time):

    * ``replace_partition`` - delete the date's rows, insert the staged rows (refused when the
      delivery is empty or smaller than ``min_replace_share`` of what is loaded, unless ``allow_shrink``);
    * ``merge`` - upsert on the contract's primary key, the latest snapshot winning;
    * ``append`` - insert the staged rows once per date: a rerun with the same data is a no-op, a
      rerun with different data fails (use ``replace_partition`` for data that gets corrected);
    * ``scd2`` - slowly changing dimension: changed keys get a new version, history is kept in
      ``valid_from``, ``valid_to``, ``is_current``.

    Loads of different dates never wait for each other; two loads of the same table and date do
    not both write (PostgreSQL: an advisory lock; the second waits up to ``lock_timeout`` seconds,
    then fails with a clear message; Redshift has no such lock: ``LOCK`` serialises all writers of
    the table). A rerun of the same date gives the same table.

    On PostgreSQL a ``replace_partition`` or ``append`` table is list-partitioned by ``ds`` and the
    rows are COPYed (ADBC bulk ingest) straight into the date's partition, which a rerun truncates
    first: no staging table, no ``INSERT ... SELECT``, no dead tuples. Such a table declares no
    primary key (see :attr:`table_key`).

    :param dataset: the curated dataset to load.
    :param table: the warehouse table (in the connection's schema).
    :param mode: ``replace_partition``, ``merge``, ``append`` or ``scd2``.
    :param warehouse_conn_id: the warehouse connection (see :class:`~lockgate.hooks.warehouse.WarehouseHook`).
    :param lock_timeout: seconds to wait for a concurrent load of the same table and date.
    :param min_replace_share: ``replace_partition`` refuses to replace a loaded date with fewer than
        this share of its rows (0 rows included); None: the contract's ``min_replace_share``.
    :param allow_shrink: replace a date whatever the share; None: the run's DAG param
        ``allow_shrink`` (a person decides in the trigger form), default False.

    Before the commit, a date whose curated rows repeat a primary key is refused naming the key
    values and their raw files and rows (see :mod:`lockgate.load_guards`); a row PostgreSQL refuses
    during the COPY is named by its raw file and row too.
    """

    template_fields: tuple[str, ...] = ("dataset", "table")

    def __init__(
        self,
        *,
        table: str,
        mode: str = "replace_partition",
        warehouse_conn_id: str = DEFAULT_WAREHOUSE_CONN_ID,
        lock_timeout: float = 300.0,
        min_replace_share: float | None = None,
        allow_shrink: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if mode not in LOAD_MODES:
            raise ValueError(f"mode must be one of {', '.join(LOAD_MODES)}, not {mode!r}")
        if min_replace_share is not None and not 0 <= min_replace_share <= 1:
            raise ValueError(f"min_replace_share must be between 0 and 1, not {min_replace_share!r}")
        self.min_replace_share = min_replace_share
        self.allow_shrink = allow_shrink
        self.table = table
        self.mode = mode
        self.warehouse_conn_id = warehouse_conn_id
        self.lock_timeout = lock_timeout

    @property
    def table_key(self) -> tuple[str, ...]:
        """The table's key in the warehouse: a date-partitioned table holds many days, so ``ds`` joins
        the contract's key (unique within one day); a merged table is keyed by the contract; an scd2
        table by the contract's key and the version's first date.

        Declared as a PRIMARY KEY only where a load needs the index (merge and scd2 on PostgreSQL:
        ``ON CONFLICT`` and key lookups). A replace_partition or append table holds the date's rows
        exactly as the curated partition has them, and a date whose key is not unique is refused
        (by the quality gate, and again, before the commit, by the load's own GROUP BY over the curated
        files, see :func:`lockgate.load_guards.repeated_keys`), so the index would only re-check
        that while costing ~3x the COPY itself at 10M rows; nothing else writes those tables. Writes
        from outside Lockgate are not checked there.
        """
        key = self.contract.primary_key
        if not key:
            return ()
        if self.mode == "scd2":
            return (*key, "valid_from")
        if self.mode in ("replace_partition", "append") and DATE_PARTITION not in key:
            return (*key, DATE_PARTITION)
        return key

    @property
    def table_columns(self) -> list[Column]:
        """The warehouse table's columns: the contract's, ``ds``, and the history columns of scd2."""
        columns = list(self.contract.storage_columns)
        return [*columns, *SCD2_COLUMNS] if self.mode == "scd2" else columns

    @cached_property
    def warehouse(self) -> WarehouseHook:
        return WarehouseHook(warehouse_conn_id=self.warehouse_conn_id)

    def _declared_key(self, dialect: str) -> tuple[str, ...]:
        """The PRIMARY KEY create_table.sql declares (see :attr:`table_key`)."""
        return () if dialect == "postgres" and self.mode in DATE_MODES else self.table_key

    def _lock(self, session: Any, ds: str) -> None:
        """Hold the (table, date) lock for this transaction; wait, then fail clearly."""
        if session.dialect == "redshift":
            session.run_template("lock_partition.sql", table=self.warehouse.table(self.table))
            return
        if session.dialect != "postgres":
            return  # an embedded DuckDB file has one writer at a time (WarehouseHook waits for it)
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.2
        while True:
            (locked,) = session.fetchall(render_statement("postgres", "lock_partition.sql"), [f"{self.table}:{ds}"])[0]
            if locked:
                return
            if time.monotonic() > deadline:
                raise LoadConflictError(
                    f"another load of {self.table} ds={ds} has held the lock for {self.lock_timeout:.0f} s; "
                    "this one gives up without writing"
                )
            self.log.info("another load of %s ds=%s is running; waiting", self.table, ds)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _create_or_evolve(self, session: Any, table: str) -> None:
        """Create the table, or bring an existing one to the contract's columns."""
        existing = {
            name: contract_type(session.dialect, data_type)
            for name, data_type in session.fetchall(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = $1 AND table_name = $2",
                [self.warehouse.schema, self.table],
            )
        }
        if not existing:
            session.run_template(
                "create_table.sql",
                table=table,
                columns=self.table_columns,
                primary_key=self._declared_key(session.dialect),
                partition_by=DATE_PARTITION if session.dialect == "postgres" and self.mode in DATE_MODES else None,
            )
            return
        try:
            changes = plan_evolution(self.table, {k: v for k, v in existing.items() if v}, self.table_columns)
        except IncompatibleSchemaError as exc:
            raise AirflowFailException(str(exc)) from None
        for column in changes.add:
            self.log.info("schema evolution: adding %s %s to %s", column.name, column.type, table)
            session.run_template("add_column.sql", table=table, column=column)
        for column in changes.widen:
            self.log.info("schema evolution: widening %s of %s to %s", column.name, table, column.type)
            session.run_template("widen_column.sql", table=table, column=column)

    def _prepare_date_partition(self, table: str, day: date) -> str | None:
        """PostgreSQL: the table and the date's partition exist before the load; returns its name.

        A short transaction of its own, serialised per table (DDL only, committed at once): an empty
        partition is harmless, and attaching it here keeps the load's long transaction free of locks
        that would make loads of other dates wait. None: the table is a plain one (created before
        Lockgate partitioned tables, or by hand); it is loaded with DELETE + COPY instead.
        """
        with self.warehouse.transaction() as session:
            session.fetchall(
                render_statement("postgres", "lock_table_ddl.sql"),
                [f"lockgate-ddl:{self.warehouse.schema}.{self.table}"],
            )
            kind = session.fetchall(render_statement("postgres", "table_kind.sql"), [table])
            if not kind:
                self._create_or_evolve(session, table)
            elif kind[0][0] != "p":
                return None
            name = date_partition_name(self.table, day)
            partition = self.warehouse.table(name)
            if not session.fetchall(render_statement("postgres", "table_kind.sql"), [partition]):
                # partition bounds are DDL, never bound parameters: a literal of a parsed date
                session.run_template(
                    "create_date_partition.sql", table=table, partition=partition, day=literal(day.isoformat())
                )
            return name

    def _write(
        self, session: Any, table: str, files: list[Any], manifest: dict[str, Any], day: date, partition: str | None
    ) -> tuple[int, str | None]:
        """Move the date's rows into the table by ``mode``; (rows written or staged, staging table or None)."""
        contract = self.contract
        columns = contract.storage_columns
        names = [c.name for c in columns]
        if session.dialect == "postgres" and self.mode in DATE_MODES:
            # straight into the table (its date partition): one binary COPY, nothing staged
            self._clear_date(session, table, day, partition)
            target = partition if partition is not None else self.table
            return session.ingest_parquet(files, columns, target, self.warehouse.schema), None
        if session.dialect == "redshift":
            if not self.lake.is_s3:
                raise AirflowFailException(f"a redshift warehouse COPYs from an S3 lake, not {self.lake.url}")
            staging = ident(f"lockgate_stage_{self.task_id}_{day:%Y%m%d}"[:127])
            locations: list[tuple[str, dict[str, str]]] = [(write_copy_manifest(self.lake, manifest, files), {})]
            for statement, params in redshift_stage_sql(
                staging, columns, locations, self.warehouse.copy_authorization(), "copy_parquet_manifest.sql"
            ):
                session.execute(statement, params)
        else:
            staging = session.stage_parquet(files, columns)
        staged_rows = int(session.fetchall(f"SELECT count(*) FROM {staging}")[0][0])
        session.run_template(
            f"{self.mode}.sql",
            [day],
            table=table,
            staging=staging,
            columns=names,
            primary_key=contract.primary_key,
            attributes=[n for n in names if n not in contract.primary_key],
        )
        return staged_rows, staging

    def _clear_date(self, session: Any, table: str, day: date, partition: str | None) -> None:
        """replace_partition: the date's old rows go (TRUNCATE of its partition, else DELETE)."""
        if self.mode != "replace_partition":
            return
        if partition is not None:
            session.run_template("truncate_partition.sql", partition=self.warehouse.table(partition))
        else:
            session.execute(f"DELETE FROM {table} WHERE {ident(DATE_PARTITION)} = $1", [day])

    def _already_appended(self, session: Any, audit: str, day: date, checksum: str) -> bool:
        """Append is exactly once per date: same data again is a no-op, different data an error."""
        found = session.fetchall(
            f"SELECT checksum FROM {audit} WHERE table_name = $1 AND partition_ds = $2", [self.table, day]
        )
        if not found:
            return False
        if found[0][0] == checksum:
            return True
        raise AirflowFailException(
            f"{self.table} ds={day} was already appended with other data (checksum {found[0][0][:12]}, now "
            f"{checksum[:12]}); append never rewrites a date: use mode replace_partition for corrected data"
        )

    def _reconcile(
        self,
        session: Any,
        table: str,
        staging: str | None,
        lake_side: Future[LakeChecks],
        ds: str,
        partition: str | None,
    ) -> None:
        """Before commit: the warehouse must hold what the lake holds, or nothing is committed.

        replace_partition and append compare the date's partition with the curated files'
        fingerprint (see :mod:`lockgate.reconcile`); merge and scd2 check every staged key is in the
        table (for scd2: as a current version). ``partition``: the date's own PostgreSQL partition,
        scanned directly (it holds only that date, so no row needs the date filter). ``lake_side``:
        the curated files' fingerprint, computed beside the writes (:meth:`_lake_checks`).
        """
        from lockgate.reconcile import ReconciliationError, differences, fingerprint_sql

        columns = self.contract.storage_columns
        if self.mode in ("merge", "scd2"):
            keys = " AND ".join(f"t.{ident(k)} = s.{ident(k)}" for k in self.contract.primary_key)
            current = ' AND t."is_current"' if self.mode == "scd2" else ""
            missing = session.fetchall(
                f"SELECT count(*) FROM {staging} AS s "
                f"WHERE NOT EXISTS (SELECT 1 FROM {table} AS t WHERE {keys}{current})"
            )[0][0]
            if missing:
                raise ReconciliationError(f"{table}: {missing} staged keys are missing after the {self.mode}")
            return
        if partition is not None:
            relation, where, params = self.warehouse.table(partition), "TRUE", []
        else:
            relation, where, params = table, f"{ident(DATE_PARTITION)} = $1", [date.fromisoformat(ds)]
        warehouse = session.fetchall(fingerprint_sql(columns, relation, where, session.dialect), params)[0]
        lake = lake_side.result().fingerprint
        assert lake is not None  # asked for every replace_partition and append (an aggregate's one row)
        found = differences(columns, lake, warehouse)
        if found:
            raise ReconciliationError(
                f"{table} ds={ds} does not match the lake partition; nothing was committed:\n  " + "\n  ".join(found)
            )
        self.log.info(
            "reconciled %s ds=%s with the lake: %d rows, %d column fingerprints", table, ds, lake[0], len(columns)
        )

    def _load(
        self,
        context: Context,
        manifest: dict[str, Any],
        files: list[Any],
        ds: str,
        work: Path,
        lake_side: Future[LakeChecks],
    ) -> bool:
        """The date's rows into the table, reconciled and audited, in one transaction; True: an
        append of the same data again, skipped. ``lake_side``: the curated files' own checks, running
        meanwhile (:meth:`_lake_checks`); a date whose keys repeat is refused before the commit."""
        day = date.fromisoformat(ds)
        table = self.warehouse.table(self.table)
        audit = self.warehouse.table(AUDIT_TABLE)
        partition = None
        if self.warehouse.dialect == "postgres" and self.mode in DATE_MODES:
            partition = self._prepare_date_partition(table, day)
        with self.warehouse.transaction() as session:
            self._lock(session, ds)
            self._create_or_evolve(session, table)
            session.run_template("audit_table.sql", audit_table=audit)
            if self.mode == "append" and self._already_appended(session, audit, day, manifest["checksum"]):
                self._refuse_repeated_keys(lake_side.result(), files, ds, work)
                return True
            self._refuse_shrink(session, table, audit, day, partition, manifest["rows"], context)
            if files:
                written, staging = self._write(session, table, files, manifest, day, partition)
                if written != manifest["rows"]:
                    raise AirflowException(
                        f"wrote {written} rows but the curated manifest "
                        f"snapshot {manifest['snapshot_id']} of curated {self.dataset} ds={ds} holds "
                        f"{manifest['rows']}; nothing was committed"
                    )
                self._refuse_repeated_keys(lake_side.result(), files, ds, work)
                self._reconcile(session, table, staging, lake_side, ds, partition)
            elif self.mode == "replace_partition":
                self._clear_date(session, table, day, partition)
            session.run_template(
                "audit_upsert.sql",
                [
                    self.table,
                    day,
                    context["dag"].dag_id,
                    str(context["run_id"]),
                    self.dataset,
                    self.mode,
                    manifest["rows"],
                    manifest["checksum"],
                    datetime.now(UTC),
                ],
                audit_table=audit,
            )
        return False

    def _shrink_allowed(self, context: Context) -> bool:
        """The operator's ``allow_shrink``, else the run's DAG param (False when the DAG has none)."""
        if self.allow_shrink is not None:
            return self.allow_shrink
        value = (context.get("params") or {}).get("allow_shrink", False)
        if isinstance(value, str):  # a conf value that bypassed the Param's type
            return value.strip().lower() in ("true", "1", "yes")
        return bool(value)

    def _loaded_rows(self, session: Any, table: str, audit: str, day: date, partition: str | None) -> int:
        """Rows the table holds for ``day``: the audit row's count (written with them), else a count."""
        found = session.fetchall(
            f"SELECT rows_loaded FROM {audit} WHERE table_name = $1 AND partition_ds = $2", [self.table, day]
        )
        if found:
            return int(found[0][0])
        if partition is not None:
            return int(session.fetchall(f"SELECT count(*) FROM {self.warehouse.table(partition)}")[0][0])
        return int(session.fetchall(f"SELECT count(*) FROM {table} WHERE {ident(DATE_PARTITION)} = $1", [day])[0][0])

    def _refuse_shrink(
        self, session: Any, table: str, audit: str, day: date, partition: str | None, delivered: int, context: Context
    ) -> None:
        """replace_partition: a delivery much smaller than what is loaded (or empty) is refused."""
        if self.mode != "replace_partition" or self._shrink_allowed(context):
            return
        share = self.contract.min_replace_share if self.min_replace_share is None else self.min_replace_share
        loaded = self._loaded_rows(session, table, audit, day, partition)
        refusal = shrink_refusal(f"{self.dataset} ds={day} ({self.table})", loaded, delivered, share)
        if refusal:
            raise AirflowFailException(refusal + "; nothing was written")

    def _staged_copy(self, ds: str, work: Path) -> Path | None:
        """The date's staged rows (with their raw file and row), fetched only to explain a failure."""
        key = f"{zone_prefix('staged', self.dataset, ds)}/part-0.parquet"
        try:
            return self.lake.local_copy(key, work / "staged")
        except FileNotFoundError:
            return None

    def _lake_checks(self, files: list[Any], work: Path) -> LakeChecks:
        """The curated files' repeated keys and (replace_partition, append) their fingerprint, in a
        DuckDB of one thread: run beside the COPY, it leaves the COPY its CPU (10M readings: the
        checks' ~4-5 s of a 20 s load went out of its wall time)."""
        contract = self.contract
        fingerprint = self.mode in DATE_MODES
        return lake_checks(files, contract.storage_columns, contract.primary_key, work, fingerprint, threads=1)

    def _refuse_repeated_keys(self, checks: LakeChecks, files: list[Any], ds: str, work: Path) -> None:
        """No load commits two rows with one key from one date (the gate checks it; this defends the
        table): the refusal names the key values and their raw files and rows."""
        count, examples = checks.repeated
        if not count:
            return
        columns = self.contract.storage_columns
        staged = self._staged_copy(ds, work)
        located = []
        for values, _ in examples:
            located.append((values, key_sources(files, columns, staged, values) if staged else []))
        what = f"{self.dataset} ds={ds} ({self.table}, {self.mode})"
        raise AirflowFailException(repeated_key_message(what, count, located, [n for _, n in examples]))

    def _postgres_refusal(self, error: BaseException, columns: list[Column]) -> tuple[str, str | None] | None:
        """PostgreSQL: (predicate of the rows a constraint refuses, its column) from the error's
        diagnostics, and for a CHECK its definition in the catalog (a DBA's rule, say); or None."""
        column = error_column(error)
        if column:
            return f"{ident(column)} IS NULL", column
        name = error_constraint(error)
        if not name:
            return None
        found = self.warehouse.query(
            "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint AS c JOIN pg_namespace AS n "
            "ON n.oid = c.connamespace WHERE c.conname = $1 AND n.nspname = $2 AND c.contype = 'c' LIMIT 1",
            [name, self.warehouse.schema],
        )
        match = re.fullmatch(r"CHECK \((.*)\)( NOT VALID)?", str(found[0][0]), re.DOTALL) if found else None
        return check_predicate(match.group(1), columns) if match else None

    def _refused_curated_rows(
        self, error: BaseException, files: list[Any], columns: list[Column]
    ) -> tuple[list[tuple[str, dict[str, Any]]], str | None] | None:
        """The curated rows the warehouse refused (each with how it was found) and the column, or None.

        A COPY line names its row exactly (the n-th row streamed); otherwise the rule the warehouse
        names (a NOT NULL column, a CHECK) is evaluated over the curated rows.
        """
        position = copy_error_position(error)
        if position is not None:
            line, column = position
            row = curated_row(files, columns, line)
            if row is None:
                return None
            if column is None and (refusal := self._postgres_refusal(error, columns)):
                column = refusal[1]
            return [(f"COPY line {line}", row)], column
        refusal = duckdb_refusal(error, columns) if self.warehouse.dialect == "duckdb" else None
        if refusal is None and self.warehouse.dialect == "postgres":
            refusal = self._postgres_refusal(error, columns)
        if refusal is None:
            return None
        predicate, column = refusal
        return [("a refused row", row) for row in refused_rows(files, columns, predicate)], column

    def _refused_row_message(self, error: BaseException, files: list[Any], ds: str, work: Path) -> str | None:
        """The warehouse's error with the raw file and row of each row it refused, or None."""
        try:
            return self._locate_refused_row(error, files, ds, work)
        except Exception:  # explaining must never hide the warehouse's own error
            self.log.exception("could not find the source of the refused row")
            return None

    def _locate_refused_row(self, error: BaseException, files: list[Any], ds: str, work: Path) -> str | None:
        columns = self.contract.storage_columns
        found = self._refused_curated_rows(error, files, columns)
        if not found or not found[0]:
            return None
        refused, column = found
        staged = self._staged_copy(ds, work)
        lines: list[str] = []
        for label, row in refused:
            sources = staged_sources(staged, columns, row) if staged else []
            value = row.get(column) if column else None
            lines += source_lines(sources, column, value) or [
                f"source: no staged row of {self.dataset} ds={ds} has the values of {label}: {row}"
            ]
        return f"{error}\n" + "\n".join(lines[:MAX_SOURCES])

    def _curated_date(self, ds: str, work: Path) -> tuple[dict[str, Any], list[Path]]:
        """(the date as a manifest dict: rows, checksum, files; local copies of its data files),
        from the curated Iceberg table's current snapshot (see ``CatalogHook.local_date``)."""
        from lockgate.hooks.iceberg import CatalogHook, CuratedDataMissing

        try:
            curated = CatalogHook(lake=self.lake).local_date(self.dataset, ds, work)
        except CuratedDataMissing as exc:
            raise AirflowException(f"{exc}: did partitioning run?") from None
        return curated.manifest(), list(curated.files)

    def _emit_partition(self, context: Context, ds: str) -> None:
        """Tag this load's asset events with ``partition_key`` = the date (quality-gated partitions).

        Only reached once the date passed its gate and loaded: a failed or skipped load emits no event
        at all, so a consumer on a ``PartitionedAssetTimetable`` runs for exactly the dates that passed.
        """
        from airflow.sdk import Asset

        outlet_events = context.get("outlet_events")
        if outlet_events is None:
            return  # executed outside a task runner (unit tests call execute() directly)
        for outlet in self.outlets or []:
            if isinstance(outlet, Asset):
                outlet_events[outlet].add_partitions(ds)

    def execute(self, context: Context) -> dict[str, Any]:
        ds = self.logical_ds(context)
        contract = self.contract
        if self.mode in ("merge", "scd2") and not contract.primary_key:
            raise AirflowFailException(f"{contract.path}: mode {self.mode!r} needs a primary_key in the contract")
        columns = contract.storage_columns
        table = self.warehouse.table(self.table)
        with self.workdir() as work:
            # the date's data files in the curated table's current snapshot (one version, local copies)
            manifest, files = self._curated_date(ds, work)
            # the curated files' own checks run beside the writes; their verdict is read before the commit
            with ThreadPoolExecutor(max_workers=1) as pool:
                lake_side = pool.submit(self._lake_checks, files, work)
                try:
                    skipped = self._load(context, manifest, files, ds, work, lake_side)
                except Exception as exc:
                    # a repeated key explains a failed write first (merge: "cannot affect row a second time")
                    self._refuse_repeated_keys(lake_side.result(), files, ds, work)
                    located = self._refused_row_message(exc, files, ds, work)
                    if located is None:
                        raise
                    raise AirflowFailException(located) from exc
        namespace, name = self.warehouse.openlineage_dataset(self.table)
        self.lineage.inputs.append(self.lake_dataset(f"curated/{self.dataset}", columns))
        self.lineage.outputs.append(
            LineageDataset(namespace, name, self.table_columns, row_count=manifest["rows"], partitions=[{"ds": ds}])
        )
        self._emit_partition(context, ds)
        if skipped:
            self.log.info("%s ds=%s was already appended with the same data: nothing to do", table, ds)
        else:
            self.log.info(
                "loaded %d rows of %s ds=%s into %s (%s)", manifest["rows"], self.dataset, ds, table, self.mode
            )
        return {
            "table": self.table,
            "rows_loaded": 0 if skipped else manifest["rows"],
            "mode": self.mode,
            "checksum": manifest["checksum"],
        }
