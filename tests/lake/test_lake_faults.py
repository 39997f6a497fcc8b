"""S3 faults during the publish of a date to the curated table, injected by a proxy in front of moto.

The lake's aws connection points at :class:`tests.support.s3_faults.FaultyS3Proxy`, which answers
chosen requests with ``503 SlowDown`` or ``500 InternalError``. Three cases:

* one failed attempt per request (a data file upload, a metadata upload): botocore's own retries
  absorb them (the client's ``standard`` retry mode: up to 3 attempts per request), the task
  succeeds and the table holds exactly what a run without faults holds;
* a data file upload that keeps failing: the task fails before its commit, the table still shows
  the old version to every reader, the failed try removes the files it had uploaded, and the
  task's retry publishes the new one;
* a metadata upload of the commit that keeps failing: the task fails, no snapshot is added, every
  reader sees the old version; the retry publishes the new one.

Old and new versions differ (the old one holds the morning's readings only), so a partial or
mixed date is told apart by its rows.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from lockgate.hooks.iceberg import CatalogHook
from lockgate.hooks.lake import LakeHook
from lockgate.sample_data import generate
from tests.support.pipeline import READINGS_TO_CURATED, context, operator, run_chain
from tests.support.s3 import aws_conn_env, lake_conn_env
from tests.support.s3_faults import Fault, FaultyS3Proxy

pytestmark = pytest.mark.integration

DS = "2026-01-02"
RUN = "scheduled__2026-01-02T00:00:00+00:00"
FAULTY_AWS = "lockgate_faulty_aws"
DATA = f"curated/readings/data/ds={DS}/"
METADATA = "curated/readings/metadata/"
STAGED = f"staged/readings/ds={DS}/part-0.parquet"
#: botocore's standard retry mode: attempts per request (the first one included)
ATTEMPTS = 3


def _rows(paths: list[Path]) -> int:
    if not paths:
        return 0
    row = duckdb.connect().execute("SELECT count(*) FROM read_parquet($1)", [[str(p) for p in paths]]).fetchone()
    assert row is not None
    return int(row[0])


@dataclass
class Lake:
    """The faulty lake (``s3://bucket/lake`` through the proxy) and what readers see in it."""

    bucket: str
    aws_conn_id: str
    proxy: FaultyS3Proxy
    old_rows: int
    new_rows: int
    #: the date's rows as a run without faults publishes them
    clean: list[tuple[object, ...]]

    def partition(self) -> dict[str, Any]:
        """One try of the DAG's partition_readings task (an Airflow retry runs a fresh copy)."""
        return dict(operator("partition_readings").execute(context(DS, RUN)))

    def table_rows(self) -> list[tuple[object, ...]]:
        """The date's rows read through the table's current snapshot."""
        return _sorted_rows(CatalogHook().read_date("readings", DS).read_all())

    def snapshots(self) -> int:
        return len(CatalogHook().table("readings").snapshots())

    def unreferenced(self) -> list[str]:
        """Data files of the date in the lake that no snapshot refers to."""
        catalog = CatalogHook()
        table = catalog.table("readings")
        referenced = {catalog._lake_key(f) for f in catalog.referenced_files(table)}
        return sorted(o.key for o in LakeHook().list(DATA) if o.key not in referenced)


def _sorted_rows(table: Any) -> list[tuple[object, ...]]:
    columns = [table[name].to_pylist() for name in table.column_names]
    return sorted(zip(*columns, strict=True), key=repr)


def _use_lake(monkeypatch: pytest.MonkeyPatch, bucket: str, root: str, aws_conn_id: str) -> LakeHook:
    monkeypatch.setenv(*lake_conn_env(f"s3://{bucket}/{root}", aws_conn_id))
    return LakeHook()


@pytest.fixture
def lake(
    s3_bucket: str,
    aws_conn_id: str,
    moto_server: str,
    lockgate_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Lake]:
    with FaultyS3Proxy(moto_server) as proxy:
        for name, value in aws_conn_env(proxy.endpoint_url, FAULTY_AWS).items():
            monkeypatch.setenv(name, value)

        # a run without faults, straight to moto, in a lake of its own: the reference
        generate(DS, tmp_path / "sources")
        clean_lake = _use_lake(monkeypatch, s3_bucket, "clean", aws_conn_id)
        run_chain(str(tmp_path / "sources"), DS, RUN, tasks=READINGS_TO_CURATED)
        clean = _sorted_rows(CatalogHook().read_date("readings", DS).read_all())
        full = clean_lake.local_copy(STAGED, tmp_path / "dl")
        morning = tmp_path / "morning.parquet"
        duckdb.connect().execute(
            "COPY (SELECT * FROM read_parquet($1) WHERE hour(observed_at AT TIME ZONE 'UTC') < 12) "
            f"TO '{morning}' (FORMAT parquet)",
            [str(full)],
        )

        # the faulty lake: an older version of the date published, then the full day staged
        faulty = _use_lake(monkeypatch, s3_bucket, "lake", FAULTY_AWS)
        faulty.put_file(morning, STAGED)
        old_rows = int(operator("partition_readings").execute(context(DS, RUN))["rows"])
        faulty.put_file(full, STAGED)
        new_rows = _rows([full])
        assert 0 < old_rows < new_rows
        proxy.requests.clear()
        yield Lake(s3_bucket, aws_conn_id, proxy, old_rows, new_rows, clean)


def test_transient_s3_errors_are_retried_by_botocore_and_the_task_succeeds(lake: Lake) -> None:
    data_put = lake.proxy.add(Fault("PUT", re.escape(f"/lake/{DATA}"), nth=2, status=503))
    metadata_put = lake.proxy.add(Fault("PUT", re.escape(f"/lake/{METADATA}"), nth=1, status=500))
    snapshots = lake.snapshots()

    result = lake.partition()

    assert result["rows"] == lake.new_rows
    assert [(r.status, r.path) for r in lake.proxy.injected()] == [
        (503, data_put.target),
        (500, metadata_put.target),
    ]
    for fault in (data_put, metadata_put):
        answered = [r.status for r in lake.proxy.requests if r.method == "PUT" and r.path == fault.target]
        assert answered == [fault.status, 200], fault.target  # failed once, retried once, done
    assert lake.table_rows() == lake.clean
    assert lake.snapshots() == snapshots + 1
    assert lake.unreferenced() == []


def test_a_data_upload_that_keeps_failing_leaves_the_old_version_for_every_reader(lake: Lake) -> None:
    snapshots = lake.snapshots()
    old = lake.table_rows()
    assert len(old) == lake.old_rows
    fault = lake.proxy.add(Fault("PUT", re.escape(f"/lake/{DATA}"), nth=3, times=99, status=503))

    with pytest.raises(Exception, match=r"SlowDown|reduce your request rate"):
        lake.partition()

    attempts = Counter(r.path for r in lake.proxy.injected())
    assert attempts == {fault.target: ATTEMPTS}  # botocore gave up after its attempts
    assert lake.snapshots() == snapshots  # no commit
    assert lake.table_rows() == old
    assert lake.unreferenced() == []  # the failed try removed what it had uploaded

    lake.proxy.clear()
    assert lake.partition()["rows"] == lake.new_rows  # the task's retry
    assert lake.table_rows() == lake.clean
    assert lake.unreferenced() == []


def test_a_commit_whose_metadata_cannot_be_written_adds_no_snapshot(lake: Lake) -> None:
    snapshots = lake.snapshots()
    old = lake.table_rows()
    lake.proxy.add(Fault("PUT", re.escape(f"/lake/{METADATA}"), nth=1, times=99, status=500))

    with pytest.raises(Exception, match=r"InternalError|internal error|500"):
        lake.partition()

    assert lake.snapshots() == snapshots
    assert lake.table_rows() == old

    lake.proxy.clear()
    assert lake.partition()["rows"] == lake.new_rows  # the task's retry
    assert lake.table_rows() == lake.clean
    assert lake.unreferenced() == []
