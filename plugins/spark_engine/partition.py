"""The partition step on Spark (``engine: spark``): not finished, so it fails loudly (see
:mod:`lockgate.spark_engine.gate` and ``docs/spark.md``, "Status")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lockgate.spark_engine.connection import spark_target
from lockgate.spark_engine.gate import SparkEngineUnavailable


def write_on_spark(contract: Any, staged: Path, out: Path, tag: str, *, spark_conn_id: str, log: Any = None) -> int:
    """Write the date's curated files on Spark: refused for now, before anything is written."""
    target = spark_target(spark_conn_id)
    raise SparkEngineUnavailable(
        f"{contract.dataset}: the partition step on Spark ({target.shown}) is not available yet; "
        "run this dataset with engine: duckdb (docs/spark.md, 'Status')"
    )
