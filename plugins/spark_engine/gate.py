"""The quality gate on Spark (``engine: spark``): not finished, so it fails loudly.

What is in place: the operator argument, the pipeline key and the connection
(:mod:`lockgate.spark_engine.connection`), and the translation of the gate's typing from DuckDB
SQL to Spark SQL (:mod:`lockgate.spark_engine.dialect`). What is missing before a date can be
gated on Spark with the DuckDB engine's answers is listed in ``docs/spark.md`` ("Status"); until
then a task asking for Spark stops here, before it reads or writes anything, rather than giving
answers no test has compared with DuckDB's.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from lockgate.spark_engine.connection import spark_target


class SparkEngineUnavailable(AirflowFailException):
    """``engine: spark`` was asked for a step the Spark engine does not run yet (no retry helps)."""


def run_gate_on_spark(contract: Any, files: Any, *, spark_conn_id: str, log: Any = None, **_: Any) -> Any:
    """Gate one logical date on Spark: refused for now (see the module docstring)."""
    target = spark_target(spark_conn_id)  # resolved, so a wrong connection is named now, token masked
    raise SparkEngineUnavailable(
        f"{contract.dataset}: the quality gate on Spark ({target.shown}) is not available yet; "
        "run this dataset with engine: duckdb (docs/spark.md, 'Status')"
    )
