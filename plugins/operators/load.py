"""Warehouse loads: a logical date's curated partitions into a table, in one transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from lockgate.config import DEFAULT_WAREHOUSE_CONN_ID
from lockgate.contracts import DATE_PARTITION
from lockgate.hooks.warehouse import WarehouseHook
from lockgate.layout import manifest_key
from lockgate.lineage import LineageDataset
from lockgate.operators.base import LakeOperator
from lockgate.sql import SQL_TYPES, ident

if TYPE_CHECKING:
    from airflow.sdk import Context

LOAD_MODES = ("replace_partition", "merge")
AUDIT_TABLE = "lockgate_load_audit"


class WarehouseLoadOperator(LakeOperator):
    """Load the curated partitions of one logical date into a warehouse table.

    The table is created from the contract when absent. In one transaction the rows are staged
    (PostgreSQL: ADBC bulk ingest, i.e. COPY), applied by ``mode`` and recorded in
    ``lockgate_load_audit`` (dag, run, dataset, partition, rows, checksum, time):

    * ``replace_partition`` - delete the date's rows, insert the staged rows;
    * ``merge`` - upsert on the contract's primary key.

    A rerun of the same date gives the same table; nothing is ever doubled.

    :param dataset: the curated dataset to load.
    :param table: the warehouse table (in the connection's schema).
    :param mode: ``replace_partition`` or ``merge``.
    :param warehouse_conn_id: the warehouse connection (see :class:`~lockgate.hooks.warehouse.WarehouseHook`).
    """

    template_fields: tuple[str, ...] = ("dataset", "table")

    def __init__(
        self,
        *,
        table: str,
        mode: str = "replace_partition",
        warehouse_conn_id: str = DEFAULT_WAREHOUSE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if mode not in LOAD_MODES:
            raise ValueError(f"mode must be one of {', '.join(LOAD_MODES)}, not {mode!r}")
        self.table = table
        self.mode = mode
        self.warehouse_conn_id = warehouse_conn_id

    @property
    def table_key(self) -> tuple[str, ...]:
        """The table's key in the warehouse: a date-partitioned table holds many days, so ``ds`` joins
        the contract's key (which is unique within one day); a merged table is keyed by the contract."""
        key = self.contract.primary_key
        if self.mode == "replace_partition" and key and DATE_PARTITION not in key:
            return (*key, DATE_PARTITION)
        return key

    @cached_property
    def warehouse(self) -> WarehouseHook:
        return WarehouseHook(warehouse_conn_id=self.warehouse_conn_id)

    def _reconcile(self, session: Any, table: str, staging: str, files: list[Any], ds: str) -> None:
        """Before commit: the warehouse must hold what the lake holds, or nothing is committed.

        replace_partition compares the date's partition with the curated files' fingerprint (see
        :mod:`lockgate.reconcile`); merge checks every staged key is in the table.
        """
        import duckdb

        from lockgate.reconcile import ReconciliationError, differences, fingerprint_sql

        columns = self.contract.storage_columns
        if self.mode == "merge":
            keys = " AND ".join(f"t.{ident(k)} = s.{ident(k)}" for k in self.contract.primary_key)
            missing = session.fetchall(
                f"SELECT count(*) FROM {staging} AS s WHERE NOT EXISTS (SELECT 1 FROM {table} AS t WHERE {keys})"
            )[0][0]
            if missing:
                raise ReconciliationError(f"{table}: {missing} merged keys are missing after the merge")
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
        contract = self.contract
        if self.mode == "merge" and not contract.primary_key:
            raise AirflowFailException(f"{contract.path}: mode 'merge' needs a primary_key in the contract")
        key = manifest_key("curated", self.dataset, ds)
        if not self.lake.exists(key):
            raise AirflowException(f"no curated manifest at {self.lake.uri(key)}: did partitioning run?")
        manifest = self.lake.read_json(key)
        columns = contract.storage_columns
        names = [c.name for c in columns]
        table = self.warehouse.table(self.table)
        audit = self.warehouse.table(AUDIT_TABLE)
        with self.workdir() as work:
            files = [self.lake.local_copy(f["key"], work) for f in manifest["files"]]
            with self.warehouse.transaction() as session:
                session.run_template("create_table.sql", table=table, columns=columns, primary_key=self.table_key)
                session.run_template("audit_table.sql", audit_table=audit)
                if files:
                    staging = session.stage_parquet(files, columns)
                    staged_rows = session.fetchall(f"SELECT count(*) FROM {staging}")[0][0]
                    if staged_rows != manifest["rows"]:
                        raise AirflowException(
                            f"staged {staged_rows} rows but the curated manifest {key} lists {manifest['rows']}"
                        )
                    template = "replace_partition.sql" if self.mode == "replace_partition" else "merge.sql"
                    session.run_template(
                        template,
                        [datetime.fromisoformat(ds).date()],
                        table=table,
                        staging=staging,
                        columns=names,
                        primary_key=contract.primary_key,
                    )
                    self._reconcile(session, table, staging, files, ds)
                elif self.mode == "replace_partition":
                    session.execute(
                        f"DELETE FROM {table} WHERE {ident(DATE_PARTITION)} = $1", [datetime.fromisoformat(ds).date()]
                    )
                session.run_template(
                    "audit_upsert.sql",
                    [
                        self.table,
                        datetime.fromisoformat(ds).date(),
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
        self.lineage.outputs.append(LineageDataset(namespace, name, list(columns), row_count=manifest["rows"]))
        self.log.info("loaded %d rows of %s ds=%s into %s (%s)", manifest["rows"], self.dataset, ds, table, self.mode)
        return {
            "table": self.table,
            "rows_loaded": manifest["rows"],
            "mode": self.mode,
            "checksum": manifest["checksum"],
        }
