"""Partitioning: a logical date's staged rows become that date of the curated zone's Iceberg table."""

from __future__ import annotations

import uuid
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from lockgate import pii
from lockgate.contracts import DATE_PARTITION, ORIGIN_COLUMNS
from lockgate.duckdb_session import bounded_duckdb
from lockgate.hooks.iceberg import (
    DEFAULT_CATALOG_CONN_ID,
    CatalogHook,
    PublishedDate,
    hive_folder,
    snapshot_summary,
)
from lockgate.layout import zone_prefix
from lockgate.operators.base import LakeOperator
from lockgate.schema_evolution import IncompatibleSchemaError
from lockgate.spark_engine import DEFAULT_SPARK_CONN_ID, checked_engine
from lockgate.sql import ident, literal

if TYPE_CHECKING:
    from airflow.sdk import Context


def _hive_partition(folder: str) -> dict[str, str]:
    """The partition of a folder DuckDB wrote: ``ds=2026-01-02/region=north`` -> its pairs."""
    return dict(segment.split("=", 1) for segment in folder.split("/") if "=" in segment)


def _contract_rows(con: Any, staged: Path) -> str:
    """The staged rows without the gate's origin columns (they stay in the staged zone only)."""
    relation = f"read_parquet({literal(str(staged))})"
    present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}
    origin = [c for c in ORIGIN_COLUMNS if c in present]
    if not origin:
        return relation
    return f"(SELECT * EXCLUDE ({', '.join(ident(c) for c in origin)}) FROM {relation})"


def write_partitioned(con: Any, select: str, keys: list[str], out: Path, tag: str | None = None) -> int:
    """DuckDB writes the rows as zstd Parquet, one folder per partition (``ds=.../<key>=...``),
    with every thread it has and in no particular order; returns the rows written.

    Files are named ``<tag>-part-<n>.parquet`` (``part-<n>.parquet`` without a tag) and added to
    whatever ``out`` holds: a tag unique to the publish means no file there has such a name, so
    ``OVERWRITE_OR_IGNORE`` (which only replaces a file of the same name) overwrites nothing.
    The partition columns stay in the files (``WRITE_PARTITION_COLUMNS``): Iceberg takes a data
    file's partition from its columns' bounds, and engines reading a data file alone need them.
    """
    pattern = f"{tag}-part-{{i}}" if tag else "part-{i}"
    (rows,) = con.execute(
        f"COPY ({select}) TO {literal(str(out))} (FORMAT parquet, COMPRESSION zstd, "
        f"PARTITION_BY ({', '.join(ident(k) for k in keys)}), WRITE_PARTITION_COLUMNS true, "
        f"OVERWRITE_OR_IGNORE, FILENAME_PATTERN {literal(pattern)})"
    ).fetchone()
    return int(rows)


#: DuckDB's memory for the partitioned write; beyond it, DuckDB spills to the task's work folder
MEMORY_LIMIT = "1GB"


class PartitionOperator(LakeOperator):
    """Publish the staged rows of a logical date as that date of the dataset's Iceberg table.

    The table (``lockgate.<dataset>``, see :mod:`lockgate.hooks.iceberg`) is created from the
    contract on the first publish and is partitioned by ``ds`` then the contract's partition keys.
    DuckDB writes the date's Parquet files with all the task's CPUs (on a local lake straight into
    the table's ``data/`` folder, on S3 into the work folder, then uploaded), and one Iceberg
    commit makes them the date: one overwrite snapshot replaces every data file of the date, so a
    rerun replaces exactly that date, other dates are never touched, and a reader of the table sees
    the old version of the date or the new one. The snapshot's summary carries the run id, the
    logical date, the row count and the rows' checksum.

    :param dataset: the dataset to partition.
    :param catalog_conn_id: the Iceberg catalog connection (missing: the embedded SQLite catalog).
    :param memory_limit: DuckDB's memory for the write; beyond it DuckDB spills to the task's
        work folder, so the task's memory does not grow with the day.
    :param engine: where the curated files are written: ``duckdb`` (in the task) or ``spark``
        (see ``docs/spark.md``); either way pyiceberg commits them as one snapshot of the date.
    :param spark_conn_id: with ``engine="spark"``, the Airflow connection naming the Spark cluster.
    """

    template_fields: tuple[str, ...] = ("dataset",)

    def __init__(
        self,
        *,
        catalog_conn_id: str = DEFAULT_CATALOG_CONN_ID,
        memory_limit: str = MEMORY_LIMIT,
        engine: str = "duckdb",
        spark_conn_id: str = DEFAULT_SPARK_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.engine = checked_engine(engine)
        self.spark_conn_id = spark_conn_id
        self.catalog_conn_id = catalog_conn_id
        self.memory_limit = memory_limit

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

    def _write(self, work: Path, staged: Path, out: Path, tag: str) -> int:
        """The engine writes the date's curated rows (PII protected) under ``out``; returns the rows."""
        if self.engine == "spark":
            from lockgate.spark_engine.partition import write_on_spark

            return write_on_spark(
                self.contract, staged, out, tag, work=work, spark_conn_id=self.spark_conn_id, log=self.log
            )
        return self._write_duckdb(work, staged, out, tag)

    def _write_duckdb(self, work: Path, staged: Path, out: Path, tag: str) -> int:
        """DuckDB writes the date's curated rows (PII protected) under ``out``; returns the rows."""
        con = bounded_duckdb(work, self.memory_limit)
        try:
            relation = _contract_rows(con, staged)
            (rows,) = con.execute(f"SELECT count(*) FROM {relation}").fetchone()
            if not rows:
                return 0
            # personal data is hashed or masked here, so it never reaches the curated zone in clear
            try:
                select = pii.select_list(self.contract, con)
            except pii.PiiKeyMissing as exc:
                raise AirflowFailException(f"{self.contract.path}: {exc}") from None
            # the storage columns in contract order: readers that map columns by position
            # (Redshift's COPY from Parquet) get the table's order
            columns = ", ".join(ident(c.name) for c in self.contract.storage_columns)
            rows_sql = f"SELECT {columns} FROM (SELECT {select} FROM {relation})"
            return write_partitioned(con, rows_sql, [DATE_PARTITION, *self.contract.partition_keys], out, tag)
        finally:
            con.close()

    def _publish(self, context: Context, table: Any, ds: str, staged_key: str) -> tuple[int, PublishedDate]:
        """(rows DuckDB wrote, what the commit published); a failed publish leaves no file behind."""
        tag = uuid.uuid4().hex[:12]
        with self.workdir() as work:
            staged = self.lake.local_copy(staged_key, work / "in")
            out = self.catalog.write_folder(table, work)
            try:
                rows = self._write(work, staged, out, tag)
                dag = context.get("dag")
                summary = snapshot_summary(str(context["run_id"]), dag.dag_id if dag is not None else None)
                return rows, self.catalog.publish_date(table, ds, out, summary, tag=tag)
            except BaseException:
                # what this try wrote in place is referenced by no snapshot: remove it now (the
                # next publish of the date would, and so would a retention run)
                self._remove_uncommitted(table, ds)
                raise

    def _remove_uncommitted(self, table: Any, ds: str) -> None:
        try:
            self.catalog.remove_orphan_files(table, older_than=None, folder=f"{DATE_PARTITION}={ds}")
        except Exception:  # the publish's own error is the one to report
            self.log.exception("could not remove the files of the failed publish of ds=%s", ds)

    def execute(self, context: Context) -> dict[str, Any]:
        ds = self.logical_ds(context)
        staged_key = f"{zone_prefix('staged', self.dataset, ds)}/part-0.parquet"
        if not self.lake.exists(staged_key):
            raise AirflowException(f"nothing staged at {self.lake.uri(staged_key)}: did the quality gate run?")
        table = self._table()
        rows, published = self._publish(context, table, ds, staged_key)
        if published.rows != rows:  # the files hold what DuckDB wrote, or the publish is wrong
            raise AirflowFailException(
                f"{self.dataset} ds={ds}: {rows} staged rows, "
                f"but snapshot {published.snapshot_id} holds {published.rows}"
            )
        folders = sorted({hive_folder(location.rsplit("/data/", 1)[-1]) for location in published.files})
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
