"""Fixtures of the Spark tests: one local SparkSession per test process, and the source tests' contracts.

Spark needs pyspark (the ``spark`` extra, in the dev group) and a Java 17 runtime. Without them the
tests skip with a message saying so; under ``CI`` they fail (``.ci/run`` installs Java).

The session is shared by every test that asks for ``spark`` in the process (an xdist worker runs
whole files, so the Spark files of a worker follow one another): a JVM start and its warm-up once,
not once per file. After each test the session is set back to how it started: the settings the
test (or a ``getOrCreate()`` of the code under test) changed are restored, temporary views
dropped, the cache cleared. The session is stopped, and its JVM ended, as soon as the next
test does not ask for it: a Spark Connect client in this process needs no classic session beside
it, and the tests after the Spark files do not share the machine with an idle JVM.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.sources.conftest import contracts  # the same private include/ as the source tests
from tests.support.requires import unavailable

__all__ = ["contracts", "local_spark", "spark", "stop_local_spark"]

#: the session's time zone is not UTC on purpose: a handed-over instant must not move with it
SESSION_TIME_ZONE = "America/New_York"
#: rows per Arrow batch Spark sends (its default, set so the batch counts the tests assert hold)
BATCH_ROWS = 10_000
JAVA_HOW = "apt-get install openjdk-17-jre-headless"
#: the tests' session: ``local[2]``, no UI, two shuffle partitions (the data is small). The driver
#: has Spark's default 1 GiB: one JVM now runs every Spark file of a worker, and at 512 MiB the
#: hostile corpus's longest record ran it out of heap after the killed and parity files (seen once).
#: The status store keeps what the (disabled) UI would show of past jobs: a few, not a thousand.
SESSION_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.memory": "1g",
    "spark.ui.retainedJobs": "20",
    "spark.ui.retainedStages": "20",
    "spark.sql.ui.retainedExecutions": "20",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.session.timeZone": SESSION_TIME_ZONE,
    "spark.sql.execution.arrow.maxRecordsPerBatch": str(BATCH_ROWS),
}


def java_major() -> int | None:
    """The major version of the ``java`` on PATH, or None without one."""
    java = shutil.which("java")
    if java is None:
        return None
    out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    found = re.search(r'version "(\d+)', out.stderr + out.stdout)
    return int(found.group(1)) if found else None


class _Shared:
    """The process's session and its settings as started (what each test gets back)."""

    session: Any = None
    settings: dict[str, str] = {}


def local_spark() -> Any:
    """The process's local SparkSession (see the module docstring), started on first use."""
    if _Shared.session is not None:
        return _Shared.session
    if importlib.util.find_spec("pyspark") is None:
        unavailable("pyspark is not installed", "uv sync (the dev group has the spark extra)")
    major = java_major()
    if major is None or major < 17:
        unavailable(f"Spark needs Java 17 or newer (found: {major or 'no java on PATH'})", JAVA_HOW)
    from pyspark.sql import SparkSession

    # a Spark Connect client earlier in this process (tests/spark/test_spark_connect.py) leaves this
    # set for good: every later builder, the code under test's too, would ask for a Connect server
    os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)
    with pytest.MonkeyPatch.context() as mp:
        # Python workers run this interpreter (pyspark's default is the first python3 on PATH); the
        # SparkContext reads it when it starts, the JVM its address when it is launched
        mp.setenv("PYSPARK_PYTHON", sys.executable)
        mp.setenv("SPARK_LOCAL_IP", "127.0.0.1")
        builder = SparkSession.builder.master("local[2]").appName("lockgate-tests")
        for key, value in SESSION_CONF.items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    _Shared.session, _Shared.settings = session, dict(session.conf.getAll)
    return session


def _set_back(session: Any) -> None:
    """Undo what a test left in the shared session: settings, temporary views, cached data."""
    now = dict(session.conf.getAll)
    for key in now.keys() - _Shared.settings.keys():
        if session.conf.isModifiable(key):
            session.conf.unset(key)
    for key, value in _Shared.settings.items():
        if now.get(key) != value and session.conf.isModifiable(key):
            session.conf.set(key, value)
    for table in session.catalog.listTables():
        if table.isTemporary:
            session.catalog.dropTempView(table.name)
    session.catalog.clearCache()


def stop_local_spark() -> None:
    """Stop the process's session, if one runs, and end its JVM."""
    session, _Shared.session = _Shared.session, None
    if session is not None:
        session.stop()
        _stop_gateway()


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


@pytest.fixture(scope="session")
def _spark_of_the_process() -> Iterator[None]:
    """Stops the shared session at the end of the run whatever the last test was."""
    yield
    stop_local_spark()


@pytest.fixture
def spark(_spark_of_the_process: None) -> Iterator[Any]:
    """The process's local SparkSession (``local[2]``, 1 GiB driver, no UI), set back after the test."""
    session = local_spark()
    yield session
    if _Shared.session is session:
        _set_back(session)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After a test's fixtures are gone: stop the shared session when the next test does not ask for it."""
    try:
        return (yield)
    finally:
        if "spark" not in getattr(nextitem, "fixturenames", ()):
            stop_local_spark()
