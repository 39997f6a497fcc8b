"""The gate and partition of a dataset on Spark (``engine: spark``), beside the DuckDB engine.

Nothing here imports pyspark at module level: DAG files name the engine, and only a task that
runs on Spark loads it. :mod:`lockgate.spark_engine.connection` resolves the Airflow Spark
connection (a Spark Connect URL, or local mode by default) without ever logging its secrets.
"""

from __future__ import annotations

#: the engines a quality gate and a partition step run on
ENGINES = ("duckdb", "spark")
#: the Airflow connection naming the Spark cluster (missing: local mode, for tests and the demo)
DEFAULT_SPARK_CONN_ID = "lockgate_spark"


def checked_engine(engine: str) -> str:
    """``engine`` when it is one of :data:`ENGINES`, else a ``ValueError`` naming the choices."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    return engine
