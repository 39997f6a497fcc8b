"""Partitioning: a logical date's staged rows become that date of the curated zone's Iceberg table."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from lockgate import pii
from lockgate.contracts import DATE_PARTITION, ORIGIN_COLUMNS
from lockgate.hooks.iceberg import DEFAULT_CATALOG_CONN_ID, CatalogHook, hive_folder, snapshot_summary
from lockgate.layout import zone_prefix
from lockgate.operators.base import LakeOperator
from lockgate.schema_evolution import IncompatibleSchemaError
from lockgate.sql import ident, literal

if TYPE_CHECKING:
    from airflow.sdk import Context


def _hive_partition(folder: str) -> dict[str, str]:
    """The partition of a folder DuckDB wrote: ``ds=2026-01-02/region=north`` -> its pairs."""
    return dict(segment.split("=", 1) for segment in folder.split("/") if "=" in segment)


def _count_rows(con: Any, path: Path) -> int:
    (rows,) = con.execute("SELECT count(*) FROM read_parquet($1)", [str(path)]).fetchone()
    return int(rows)


def _contract_rows(con: Any, staged: Path) -> str:
    """The staged rows without the gate's origin columns (they stay in the staged zone only)."""
    relation = f"read_parquet({literal(str(staged))})"
    present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}
    origin = [c for c in ORIGIN_COLUMNS if c in present]
    if not origin:
        return relation
    return f"(SELECT * EXCLUDE ({', '.join(ident(c) for c in origin)}) FROM {relation})"


def write_partitioned(con: Any, select: str, order: str, keys: list[str], out: Path) -> None:
    """DuckDB writes the rows as zstd Parquet, one folder per partition (``ds=.../<key>=...``).

    The partition columns stay in the files (``WRITE_PARTITION_COLUMNS``): Iceberg takes a data
    file's partition from its columns' bounds, and engines reading a data file alone need them.
    """
    con.execute(
        f"COPY ({select} ORDER BY {order}) TO {literal(str(out))} (FORMAT parquet, COMPRESSION zstd, "
        f"PARTITION_BY ({', '.join(ident(k) for k in keys)}), WRITE_PARTITION_COLUMNS true, "
        "FILENAME_PATTERN 'part-{i}')"
    )


class PartitionOperator(LakeOperator):
    """Publish the staged rows of a logical date as that date of the dataset's Iceberg table.

    The table (``lockgate.<dataset>``, see :mod:`lockgate.hooks.iceberg`) is created from the
    contract on the first publish and is partitioned by ``ds`` then the contract's partition keys.
    A publish is one Iceberg commit: one overwrite snapshot replaces every data file of the date,
    so a rerun replaces exactly that date, other dates are never touched, and a reader of the
    table sees the old version of the date or the new one. The snapshot's summary carries the run
    id, the logical date and the row count.

    :param dataset: the dataset to partition.
    :param catalog_conn_id: the Iceberg catalog connection (missing: the embedded SQLite catalog).
    """

    template_fields: tuple[str, ...] = ("dataset",)

    def __init__(self, *, catalog_conn_id: str = DEFAULT_CATALOG_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.catalog_conn_id = catalog_conn_id

    @cached_property
    def catalog(self) -> CatalogHook:
        return CatalogHook(self.catalog_conn_id, lake=self.lake)

    @property
    def schema(self) -> dict[str, str]:
        """The curated schema this contract produces: column -> type."""
        return {c.name: c.type for c in self.contract.storage_columns}

    def _table(self) -> Any:
        """The dataset's table, created or evolved by the contract's ``schema_drift.curated`` policy."""
        try:
            return self.catalog.table_for(self.contract, self.dataset)
        except IncompatibleSchemaError as exc:
            raise AirflowFailException(str(exc)) from None

    def _write(self, work: Path, staged: Path, out: Path) -> int:
        """DuckDB writes the date's curated rows (PII protected) under ``out``; returns the rows."""
        import duckdb

        keys = [DATE_PARTITION, *self.contract.partition_keys]
        order = ", ".join(ident(c) for c in (self.contract.primary_key or self.contract.column_names))
        con = duckdb.connect()
        try:
            # one thread: the same input always gives the same files, so reruns hold the same rows
            # in the same order
            con.execute("SET threads = 1")
            con.execute("SET TimeZone='UTC'")
            # bounded memory whatever the day's size: DuckDB spills the sort to disk
            con.execute("SET memory_limit = '1GB'")
            con.execute(f"SET temp_directory = {literal(str(work / 'spill'))}")
            rows = _count_rows(con, staged)
            if rows:
                # personal data is hashed or masked here, so it never reaches the curated zone in clear
                try:
                    select = pii.select_list(self.contract, con)
                except pii.PiiKeyMissing as exc:
                    raise AirflowFailException(f"{self.contract.path}: {exc}") from None
                # the storage columns in contract order: readers that map columns by position
                # (Redshift's COPY from Parquet) get the table's order
                columns = ", ".join(ident(c.name) for c in self.contract.storage_columns)
                rows_sql = f"SELECT {columns} FROM (SELECT {select} FROM {_contract_rows(con, staged)})"
                write_partitioned(con, rows_sql, order, keys, out)
            return rows
        finally:
            con.close()

    def execute(self, context: Context) -> dict[str, Any]:
        ds = self.logical_ds(context)
        staged_key = f"{zone_prefix('staged', self.dataset, ds)}/part-0.parquet"
        if not self.lake.exists(staged_key):
            raise AirflowException(f"nothing staged at {self.lake.uri(staged_key)}: did the quality gate run?")
        table = self._table()
        with self.workdir() as work:
            staged = self.lake.local_copy(staged_key, work / "in")
            out = work / "out"
            rows = self._write(work, staged, out)
            folders = sorted({hive_folder(p.relative_to(out).as_posix()) for p in out.rglob("*.parquet")})
            dag = context.get("dag")
            summary = snapshot_summary(str(context["run_id"]), dag.dag_id if dag is not None else None)
            published = self.catalog.publish_date(table, ds, out, summary)
        if published.rows != rows:  # the files hold what DuckDB counted, or the publish is wrong
            raise AirflowFailException(
                f"{self.dataset} ds={ds}: {rows} staged rows, "
                f"but snapshot {published.snapshot_id} holds {published.rows}"
            )
        self.lineage.inputs.append(self.lake_dataset(f"staged/{self.dataset}", self.contract.storage_columns))
        output = self.lake_dataset(
            f"curated/{self.dataset}",
            self.contract.storage_columns,
            row_count=published.rows,
            size_bytes=published.bytes,
            partitions=[_hive_partition(f) for f in folders] or [{DATE_PARTITION: ds}],
        )
        output.version = str(published.snapshot_id)
        self.lineage.outputs.append(output)
        self.log.info(
            "%s ds=%s: %d rows in %d files, snapshot %d of %s",
            self.dataset,
            ds,
            published.rows,
            len(published.files),
            published.snapshot_id,
            self.catalog.location(self.dataset),
        )
        return {
            "rows": published.rows,
            "files": len(published.files),
            "snapshot_id": published.snapshot_id,
            "checksum": published.checksum,
        }
