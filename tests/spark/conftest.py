"""Fixtures of the Spark tests: one local SparkSession per module, and the source tests' contracts.

Spark needs pyspark (the ``spark`` extra, in the dev group) and a Java 17 runtime. Without them the
tests skip with a message saying so; under ``CI`` they fail (``.ci/run`` installs Java).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.sources.conftest import contracts  # the same private include/ as the source tests
from tests.support.requires import unavailable

__all__ = ["contracts", "spark"]

#: the session's time zone is not UTC on purpose: a handed-over instant must not move with it
SESSION_TIME_ZONE = "America/New_York"
#: rows per Arrow batch Spark sends (its default, set so the batch counts the tests assert hold)
BATCH_ROWS = 10_000
JAVA_HOW = "apt-get install openjdk-17-jre-headless"


def java_major() -> int | None:
    """The major version of the ``java`` on PATH, or None without one."""
    java = shutil.which("java")
    if java is None:
        return None
    out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    found = re.search(r'version "(\d+)', out.stderr + out.stdout)
    return int(found.group(1)) if found else None


def _stop_gateway() -> None:
    """End the JVM pyspark started for this process: ``stop()`` leaves it running (and holding its
    heap) until the Python process exits, and an xdist worker goes on to run other test files."""
    from pyspark import SparkContext

    gateway: Any = SparkContext._gateway
    if gateway is None:
        return
    gateway.shutdown()
    proc = getattr(gateway, "proc", None)
    if proc is not None:
        proc.stdin.close()  # the gateway server exits when its stdin closes, but after dag.test() and
        try:  # Python workers it has been seen to linger: its SparkContext is stopped, end it
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=30)
    SparkContext._gateway = None
    SparkContext._jvm = None


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """A local SparkSession (``local[2]``, 512 MiB driver, no UI) for the tests of one module."""
    if importlib.util.find_spec("pyspark") is None:
        unavailable("pyspark is not installed", "uv sync (the dev group has the spark extra)")
    major = java_major()
    if major is None or major < 17:
        unavailable(f"Spark needs Java 17 or newer (found: {major or 'no java on PATH'})", JAVA_HOW)
    from pyspark.sql import SparkSession

    with pytest.MonkeyPatch.context() as mp:
        # Python workers run this interpreter (pyspark's default is the first python3 on PATH)
        mp.setenv("PYSPARK_PYTHON", sys.executable)
        mp.setenv("SPARK_LOCAL_IP", "127.0.0.1")
        session = (
            SparkSession.builder.master("local[2]")
            .appName("lockgate-tests")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.memory", "512m")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.sql.session.timeZone", SESSION_TIME_ZONE)
            .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(BATCH_ROWS))
            .getOrCreate()
        )
        session.sparkContext.setLogLevel("ERROR")
        try:
            yield session
        finally:
            session.stop()
            _stop_gateway()
