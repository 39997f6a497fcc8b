"""Warehouse loads: a logical date's curated partitions into a table, in one transaction."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from lockgate.config import DEFAULT_WAREHOUSE_CONN_ID
from lockgate.contracts import DATE_PARTITION, Column
from lockgate.hooks.warehouse import WarehouseHook
from lockgate.layout import manifest_key
from lockgate.lineage import LineageDataset
from lockgate.operators.base import LakeOperator
from lockgate.schema_evolution import IncompatibleSchemaError, contract_type
from lockgate.schema_evolution import plan as plan_evolution
from lockgate.sql import SQL_TYPES, ident, render_statement

if TYPE_CHECKING:
    from airflow.sdk import Context

LOAD_MODES = ("replace_partition", "merge", "append", "scd2")
AUDIT_TABLE = "lockgate_load_audit"
#: the history columns of an scd2 table, after the contract's
SCD2_COLUMNS = (
    Column("valid_from", "date", nullable=False, description="first snapshot date of this version"),
    Column("valid_to", "date", description="snapshot date that replaced this version (NULL: current)"),
    Column("is_current", "boolean", nullable=False),
)


class LoadConflictError(RuntimeError):
    """Another load of the same table and date holds the lock."""


class WarehouseLoadOperator(LakeOperator):
    """Load the curated partitions of one logical date into a warehouse table.

    The table is created from the contract when absent, and evolved with it (new nullable columns
    added, safe widenings applied, anything else refused with the column and both types). In one
    transaction the rows are staged (PostgreSQL: ADBC bulk ingest, i.e. COPY), applied by ``mode``,
    reconciled with the lake and recorded in ``lockgate_load_audit`` (dag, run, dataset, partition,
    rows, checksum, time):

    * ``replace_partition`` - delete the date's rows, insert the staged rows;
    * ``merge`` - upsert on the contract's primary key, the latest snapshot winning;
    * ``append`` - insert the staged rows once per date: a rerun with the same data is a no-op, a
      rerun with different data fails (use ``replace_partition`` for data that gets corrected);
    * ``scd2`` - slowly changing dimension: changed keys get a new version, history is kept in
      ``valid_from``, ``valid_to``, ``is_current``.

    Loads of different dates never wait for each other; two loads of the same table and date do
    not both write (PostgreSQL: an advisory lock; the second waits up to ``lock_timeout`` seconds,
    then fails with a clear message). A rerun of the same date gives the same table.

    :param dataset: the curated dataset to load.
    :param table: the warehouse table (in the connection's schema).
    :param mode: ``replace_partition``, ``merge``, ``append`` or ``scd2``.
    :param warehouse_conn_id: the warehouse connection (see :class:`~lockgate.hooks.warehouse.WarehouseHook`).
    :param lock_timeout: seconds to wait for a concurrent load of the same table and date.
    """

    template_fields: tuple[str, ...] = ("dataset", "table")

    def __init__(
        self,
        *,
        table: str,
        mode: str = "replace_partition",
        warehouse_conn_id: str = DEFAULT_WAREHOUSE_CONN_ID,
        lock_timeout: float = 300.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if mode not in LOAD_MODES:
            raise ValueError(f"mode must be one of {', '.join(LOAD_MODES)}, not {mode!r}")
        self.table = table
        self.mode = mode
        self.warehouse_conn_id = warehouse_conn_id
        self.lock_timeout = lock_timeout

    @property
    def table_key(self) -> tuple[str, ...]:
        """The table's key in the warehouse: a date-partitioned table holds many days, so ``ds`` joins
        the contract's key (unique within one day); a merged table is keyed by the contract; an scd2
        table by the contract's key and the version's first date."""
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

    def _lock(self, session: Any, ds: str) -> None:
        """Hold the (table, date) lock for this transaction; wait, then fail clearly."""
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
                "create_table.sql", table=table, columns=self.table_columns, primary_key=self.table_key
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

    def _reconcile(self, session: Any, table: str, staging: str, files: list[Any], ds: str) -> None:
        """Before commit: the warehouse must hold what the lake holds, or nothing is committed.

        replace_partition and append compare the date's partition with the curated files'
        fingerprint (see :mod:`lockgate.reconcile`); merge and scd2 check every staged key is in the
        table (for scd2: as a current version).
        """
        import duckdb

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
        typed = ", ".join(f"CAST({ident(c.name)} AS {SQL_TYPES['duckdb'][c.type]}) AS {ident(c.name)}" for c in columns)
        reader = duckdb.connect()
        try:
            reader.execute("SET TimeZone='UTC'")
            relation = f"(SELECT {typed} FROM read_parquet($1, hive_partitioning = true))"
            lake = reader.execute(fingerprint_sql(columns, relation), [[str(f) for f in files]]).fetchone()
        finally:
            reader.close()
        warehouse = session.fetchall(
            fingerprint_sql(columns, table, f"{ident(DATE_PARTITION)} = $1"), [datetime.fromisoformat(ds).date()]
        )[0]
        assert lake is not None  # an aggregate query always returns one row
        found = differences(columns, lake, warehouse)
        if found:
            raise ReconciliationError(
                f"{table} ds={ds} does not match the lake partition; nothing was committed:\n  " + "\n  ".join(found)
            )
        self.log.info(
            "reconciled %s ds=%s with the lake: %d rows, %d column fingerprints", table, ds, lake[0], len(columns)
        )

    def execute(self, context: Context) -> dict[str, Any]:
        ds = self.logical_ds(context)
        day = date.fromisoformat(ds)
        contract = self.contract
        if self.mode in ("merge", "scd2") and not contract.primary_key:
            raise AirflowFailException(f"{contract.path}: mode {self.mode!r} needs a primary_key in the contract")
        key = manifest_key("curated", self.dataset, ds)
        if not self.lake.exists(key):
            raise AirflowException(f"no curated manifest at {self.lake.uri(key)}: did partitioning run?")
        manifest = self.lake.read_json(key)
        columns = contract.storage_columns
        names = [c.name for c in columns]
        table = self.warehouse.table(self.table)
        audit = self.warehouse.table(AUDIT_TABLE)
        skipped = False
        with self.workdir() as work:
            files = [self.lake.local_copy(f["key"], work) for f in manifest["files"]]
            with self.warehouse.transaction() as session:
                self._lock(session, ds)
                self._create_or_evolve(session, table)
                session.run_template("audit_table.sql", audit_table=audit)
                if self.mode == "append" and self._already_appended(session, audit, day, manifest["checksum"]):
                    skipped = True
                elif files:
                    staging = session.stage_parquet(files, columns)
                    staged_rows = session.fetchall(f"SELECT count(*) FROM {staging}")[0][0]
                    if staged_rows != manifest["rows"]:
                        raise AirflowException(
                            f"staged {staged_rows} rows but the curated manifest {key} lists {manifest['rows']}"
                        )
                    session.run_template(
                        f"{self.mode}.sql",
                        [day],
                        table=table,
                        staging=staging,
                        columns=names,
                        primary_key=contract.primary_key,
                        attributes=[n for n in names if n not in contract.primary_key],
                    )
                    self._reconcile(session, table, staging, files, ds)
                elif self.mode == "replace_partition":
                    session.execute(f"DELETE FROM {table} WHERE {ident(DATE_PARTITION)} = $1", [day])
                if not skipped:
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
        namespace, name = self.warehouse.openlineage_dataset(self.table)
        self.lineage.inputs.append(self.lake_dataset(f"curated/{self.dataset}", columns))
        self.lineage.outputs.append(
            LineageDataset(namespace, name, self.table_columns, row_count=manifest["rows"], partitions=[{"ds": ds}])
        )
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
