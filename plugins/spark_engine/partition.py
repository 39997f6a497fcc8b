"""The partition step on Spark (``engine: spark``): Spark writes the date's curated Parquet files,
pyiceberg commits them.

Spark cannot write Iceberg here without a runtime jar from outside the package registries, so it
writes plain Parquet and the partition step's own publish (:meth:`lockgate.hooks.iceberg.CatalogHook.publish_date`)
adds those files to the table in one overwrite snapshot of the date, exactly as it adds DuckDB's:
the same checks of the files' schema and partition, the same rows' checksum, the same summary.

Spark's ``partitionBy`` leaves the partition columns out of the files, but Iceberg takes a data
file's partition from its columns' bounds (and a reader of the file alone needs them): the files
are partitioned by copies of the key columns, then moved to the ``ds=.../<key>=...`` folders the
DuckDB engine writes, named ``<tag>-part-<n>.parquet`` as the publish expects.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from lockgate.spark_engine.connection import spark_session, spark_target
from lockgate.spark_engine.gate import SparkEngineUnavailable, engine_settings, ident

#: the copies of the partition keys Spark partitions by (their folders are renamed to the keys')
_KEY_COPY = "__lockgate_partition_"


def write_on_spark(
    contract: Any,
    staged: Path,
    out: Path,
    tag: str,
    *,
    work: Path,
    spark_conn_id: str | None = None,
    session: Any = None,
    log: Any = None,
) -> int:
    """Spark writes the staged rows as the date's curated files under ``out``; returns the rows.

    ``session``: a SparkSession to use (tests share one); default: one on ``spark_conn_id``.
    """
    from lockgate import pii

    target = spark_target(spark_conn_id) if session is None else None
    if pii.pii_columns(contract):
        where = f" ({target.shown})" if target is not None else ""
        raise SparkEngineUnavailable(
            f"{contract.dataset}: the partition step on Spark{where} does not protect PII columns yet; "
            "run this dataset with engine: duckdb (docs/spark.md)"
        )
    if log is not None and target is not None:
        log.info("partition %s on Spark %s", contract.dataset, target.shown)
    spark = session if session is not None else spark_session(target or spark_target(None))
    with engine_settings(spark):
        return _write(spark, contract, staged, out, tag, work)


def _write(spark: Any, contract: Any, staged: Path, out: Path, tag: str, work: Path) -> int:
    from lockgate.contracts import DATE_PARTITION

    keys = [DATE_PARTITION, *contract.partition_keys]
    # the storage columns in contract order (readers that map columns by position get the table's)
    columns = [ident(c.name) for c in contract.storage_columns]
    copies = [f"{ident(k)} AS {ident(f'{_KEY_COPY}{i}')}" for i, k in enumerate(keys)]
    frame = spark.read.parquet(str(staged)).selectExpr(*columns, *copies)
    folder = work / "spark-partition"
    shutil.rmtree(folder, ignore_errors=True)
    frame.write.partitionBy(*[f"{_KEY_COPY}{i}" for i in range(len(keys))]).parquet(str(folder))
    return _place(folder, out, keys, tag)


def _place(folder: Path, out: Path, keys: list[str], tag: str) -> int:
    """Move Spark's part files to ``out/<key>=<value>/.../<tag>-part-<n>.parquet``; the rows they hold."""
    import pyarrow.parquet as pq

    rows = 0
    for n, part in enumerate(sorted(folder.rglob("part-*.parquet"))):
        segments = part.relative_to(folder).parts[:-1]
        renamed = []
        for segment in segments:
            name, _, value = segment.partition("=")
            renamed.append(f"{keys[int(name.removeprefix(_KEY_COPY))]}={value}")
        target = out.joinpath(*renamed, f"{tag}-part-{n}.parquet")
        target.parent.mkdir(parents=True, exist_ok=True)
        rows += pq.ParquetFile(part).metadata.num_rows
        shutil.move(part, target)
    shutil.rmtree(folder, ignore_errors=True)
    return rows
