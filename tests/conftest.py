"""Root conftest: fixtures shared by the whole lockgate test-suite.

Fixtures (details in each docstring; helper code lives in ``tests/support``):

=====================  =========  ==========================================================
``pg_server``          session    admin DSN (database ``postgres``) of a PostgreSQL server:
                                  ``$LOCKGATE_TEST_PG_DSN`` if set, else a throwaway server.
``pg_dsn``             function   ``postgresql://postgres@127.0.0.1:PORT/lockgate_t_<hex>``, a
                                  fresh database dropped (WITH (FORCE)) after the test.
``pg_dsn_module``      module     same, shared by all tests of one module.
``moto_server``        session    endpoint URL of a local moto S3 server (``http://127.0.0.1:N``).
``aws_conn_id``        function   id of an Airflow ``aws`` connection to ``moto_server``, set as
                                  ``AIRFLOW_CONN_LOCKGATE_TEST_AWS`` for the test.
``s3_bucket``          function   name of a fresh bucket (created through ``S3Hook`` on
                                  ``aws_conn_id``), emptied and deleted after the test.
``lockgate_home``      function   ``Path`` of a temp dir, also set as ``$LOCKGATE_HOME``.
=====================  =========  ==========================================================

Marker: ``@pytest.mark.integration`` for tests that start or talk to real servers.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from lockgate.hooks.lake import LakeHook

# Make ``tests.support`` importable however pytest was started (rootdir-relative imports).
_REPO_ROOT = Path(__file__).resolve().parent.parent
if str(_REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPO_ROOT))

# Airflow reads its configuration on first import, so the test session's Airflow (its own home,
# SQLite metadata DB, this repo's dags/, OpenLineage to a file) is set before anything imports it.
_AIRFLOW_TEST_HOME = Path(tempfile.mkdtemp(prefix="lockgate-airflow-test-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_TEST_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(_REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_TEST_HOME / 'airflow.db'}",
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "lockgate-test",
        # dag.test() runs tasks in this process: a forked emitter cannot reach its in-process
        # supervisor and hangs until the OpenLineage timeout; a thread can
        "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "True",
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(_AIRFLOW_TEST_HOME / "lineage.jsonl"), "append": True}
        ),
        "GX_ANALYTICS_ENABLED": "False",
    }
)
for _name in [n for n in os.environ if n.startswith(("AIRFLOW_CONN_LOCKGATE", "AIRFLOW_VAR_POLLUTRACK"))]:
    del os.environ[_name]  # a developer's own lake/warehouse must never leak into the tests

from tests.support import pg as _pg
from tests.support import s3 as _s3


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "integration: talks to real local servers (PostgreSQL, moto S3, HTTP); slower than unit tests",
    )


#: modules that start servers or whole pipelines (minutes each; `--durations=30`), slowest first.
#: `make test` hands whole files to two workers in collection order: starting these first keeps one
#: worker from meeting two of them at the end while the other idles.
SLOW_FIRST = (
    "tests/events/test_events_airflow.py",
    "tests/browser/",
    "tests/distributed/",
    "tests/integration/test_lake_atomic_publish.py",
    "tests/pipelines/test_sales_distribution_e2e.py",
    "tests/repo/",
    "tests/security/test_secret_scan.py",
    "tests/spark/",
    "tests/security/test_airflow_roles.py",
    "tests/pipelines/test_new_pipeline.py",
    "tests/e2e/",
    "tests/faults/",
    "tests/provider/",
)


def slow_rank(path: str) -> int:
    """Where a test file goes in the run: its place in :data:`SLOW_FIRST`, else after them all."""
    return next((rank for rank, prefix in enumerate(SLOW_FIRST) if path.startswith(prefix)), len(SLOW_FIRST))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # a stable sort: the order inside a file, and of the other files, is unchanged
    root = str(config.rootpath) + os.sep
    items.sort(key=lambda item: slow_rank(str(item.path).removeprefix(root).replace(os.sep, "/")))


def _stop_openlineage_pool(listener: object, grace: float = 2.0) -> None:
    """Stop the listener's process pool at once: the provider's ``before_stopping`` waits (up to
    30 s) for queued events, and xdist interrupts a worker that is not gone 5 s after the session,
    which printed a KeyboardInterrupt at the end of a green run. The session's events were read by
    the tests that wanted them; what is still queued is dropped."""
    executor = getattr(listener, "_executor", None)
    if executor is None:
        return
    listener._executor = None  # type: ignore[attr-defined]  # a later event would build a new pool
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + grace
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.terminate()  # blocked on its queue: nothing left for it to do
            process.join(1.0)


def pytest_unconfigure(config: pytest.Config) -> None:
    # dag.test() sends DAG-run events through the OpenLineage listener's process pool; an xdist
    # worker ends without running atexit handlers, so the pool's forked worker would outlive the
    # session, blocked on its queue. The provider's own shutdown hook stops it.
    listener = sys.modules.get("airflow.providers.openlineage.plugins.listener")
    if listener is not None:
        _stop_openlineage_pool(listener.get_openlineage_listener())
    # every pytest process (each xdist worker too) made its own Airflow home at import: remove it
    # whether or not a test asked for it
    shutil.rmtree(_AIRFLOW_TEST_HOME, ignore_errors=True)


# ------------------------------------------------------------------------------------- environment


@pytest.fixture(scope="session", autouse=True)
def _fake_aws_environment() -> Iterator[None]:
    """Fake AWS credentials for the whole session so boto never finds real ones or real endpoints."""
    with pytest.MonkeyPatch.context() as mp:
        for name in _s3.UNSET_AWS_ENV:
            mp.delenv(name, raising=False)
        for name, value in _s3.FAKE_AWS_ENV.items():
            mp.setenv(name, value)
        yield


@pytest.fixture(scope="session", autouse=True)
def _session_work_folders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Task work folders under the session's temporary folder (the tasks' subprocesses inherit it):
    a test that kills a task mid-run leaves its folder there, not in the machine's /tmp."""
    from lockgate.operators.base import WORKDIR_ENV

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(WORKDIR_ENV, str(tmp_path_factory.getbasetemp() / "lockgate-work"))
        yield


@pytest.fixture
def lockgate_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh directory set as ``$LOCKGATE_HOME`` for this test."""
    home = tmp_path / "lockgate_home"
    home.mkdir()
    monkeypatch.setenv("LOCKGATE_HOME", str(home))
    return home


# -------------------------------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """Admin DSN (superuser, database ``postgres``) of a PostgreSQL server for this session.

    ``$LOCKGATE_TEST_PG_DSN`` when set (CI exports it when the machine's server answers on
    127.0.0.1:5432); otherwise a throwaway server is initdb'ed in a temp dir, started on a free
    loopback port and deleted at session end (see ``tests.support.pg.start_throwaway_postgres``).
    """
    import os

    configured = os.environ.get(_pg.PG_DSN_ENV, "").strip()
    if configured:
        if not _pg.can_connect(configured):
            raise RuntimeError(
                f"{_pg.PG_DSN_ENV}={_pg.redact(configured)} does not accept connections; "
                f"start that server or unset {_pg.PG_DSN_ENV} to use a throwaway one"
            )
        yield configured
        return
    server = _pg.start_throwaway_postgres()
    try:
        yield server.dsn()
    finally:
        server.stop()


@pytest.fixture
def pg_dsn(pg_server: str) -> Iterator[str]:
    """URL of a fresh, empty database (``lockgate_t_<hex>``) dropped after the test.

    For an Airflow connection to it: ``monkeypatch.setenv(*airflow_conn_env("my_conn", pg_dsn))``
    with ``from tests.support.pg import airflow_conn_env``.
    """
    with _pg.temporary_database(pg_server) as dsn:
        yield dsn


@pytest.fixture(scope="module")
def pg_dsn_module(pg_server: str) -> Iterator[str]:
    """Like ``pg_dsn`` but one database per test module (for expensive schema setups)."""
    with _pg.temporary_database(pg_server) as dsn:
        yield dsn


# ---------------------------------------------------------------------------------------------- S3


@pytest.fixture(scope="session")
def moto_server(_fake_aws_environment: None) -> Iterator[str]:
    """Endpoint URL (``http://127.0.0.1:N``) of a moto server running in a thread for the session."""
    server = _s3.MotoS3Server()
    endpoint = server.start()
    try:
        yield endpoint
    finally:
        server.stop()


@pytest.fixture
def aws_conn_id(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Id of an Airflow ``aws`` connection (fake keys, ``endpoint_url`` = moto) defined by env var.

    For another connection id: ``for k, v in aws_conn_env(moto_server, "my_id").items():
    monkeypatch.setenv(k, v)`` with ``from tests.support.s3 import aws_conn_env``.
    """
    for name, value in _s3.aws_conn_env(moto_server, _s3.TEST_AWS_CONN_ID).items():
        monkeypatch.setenv(name, value)
    return _s3.TEST_AWS_CONN_ID


@pytest.fixture
def s3_bucket(aws_conn_id: str) -> Iterator[str]:
    """Name of a new, empty bucket on the moto server (via ``S3Hook(aws_conn_id=aws_conn_id)``).

    Its objects and the bucket itself are deleted after the test.
    """
    with _s3.temporary_bucket(aws_conn_id) as bucket:
        yield bucket


@pytest.fixture(params=["local", "s3"])
def any_lake(request: pytest.FixtureRequest, lockgate_home: Path, monkeypatch: pytest.MonkeyPatch) -> LakeHook:
    """A ``LakeHook`` on the embedded local lake, then on a new bucket of the moto server: a test
    that asks for it runs once on each backend."""
    from lockgate.hooks.lake import LakeHook

    if request.param == "s3":
        bucket, aws_conn_id = request.getfixturevalue("s3_bucket"), request.getfixturevalue("aws_conn_id")
        monkeypatch.setenv(*_s3.lake_conn_env(f"s3://{bucket}/lake", aws_conn_id))
    hook = LakeHook()
    assert hook.is_s3 == (request.param == "s3")
    return hook


# ------------------------------------------------------------------------------------------ Airflow


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """The session's Airflow home with a migrated SQLite metadata DB (for ``dag.test()`` runs)."""
    import subprocess

    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, stdout=subprocess.DEVNULL)
    return _AIRFLOW_TEST_HOME


@pytest.fixture
def lineage_file(airflow_home: Path) -> Path:
    """The OpenLineage file transport's output, emptied for this test."""
    path = airflow_home / "lineage.jsonl"
    path.write_text("")
    return path
