"""S3 faults during the partition write, injected by a proxy in front of the moto server.

The lake's aws connection points at :class:`tests.support.s3_faults.FaultyS3Proxy`, which answers
chosen requests with ``503 SlowDown`` or ``500 InternalError``. Three cases:

* one failed attempt per request (staging upload, server-side copy, manifest): botocore's own
  retries absorb them (the client's ``standard`` retry mode: up to 3 attempts per request), the
  task succeeds and the lake holds exactly what a run without faults writes;
* a staging upload that keeps failing: the task fails, the date still shows the old version to
  every reader (manifest and path-walker alike), and the task's retry publishes the new one;
* a server-side copy into place that keeps failing: the task fails, the manifest still names the
  old version (manifest readers see exactly it); a path-walker sees all the old files plus the
  copies made so far, never a part of a version; the task's retry publishes the new one.

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

from lockgate.hooks.lake import STAGING, LakeHook
from lockgate.sample_data import generate
from tests.support.pipeline import READINGS_TO_CURATED, context, operator, run_chain
from tests.support.s3 import FAKE_ACCESS_KEY, FAKE_SECRET_KEY, REGION, aws_conn_env, lake_conn_env, stored_objects
from tests.support.s3_faults import Fault, FaultyS3Proxy

pytestmark = pytest.mark.integration

DS = "2026-01-02"
RUN = "scheduled__2026-01-02T00:00:00+00:00"
FAULTY_AWS = "lockgate_faulty_aws"
PREFIX = f"curated/readings/ds={DS}"
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
    moto: str
    proxy: FaultyS3Proxy
    workdir: Path
    old_rows: int
    new_rows: int
    #: the curated file set of the same date written without faults: key -> sha256
    clean: dict[str, str]

    def curated(self) -> dict[str, str]:
        objects = stored_objects(self.aws_conn_id, self.bucket, f"lake/{PREFIX}/")
        return {k.removeprefix("lake/"): str(m["sha256"]) for k, m in objects.items()}

    def staging_leftovers(self) -> list[str]:
        return sorted(stored_objects(self.aws_conn_id, self.bucket, f"lake/{STAGING}/"))

    def partition(self) -> dict[str, Any]:
        """One try of the DAG's partition_readings task (an Airflow retry runs a fresh copy)."""
        return dict(operator("partition_readings").execute(context(DS, RUN)))

    def manifest_rows(self) -> int:
        """Rows of the published version, read the atomic way: the manifest, then its files."""
        reader = LakeHook()
        return _rows([reader.local_copy(o.key, self.workdir) for o in reader.published_files(PREFIX)])

    def walker_rows(self) -> int:
        """Rows a path-walker (``pyarrow.dataset`` with hive partitioning, S3 API) sees."""
        import pyarrow.dataset as pads
        import pyarrow.fs as pafs

        s3fs = pafs.S3FileSystem(
            access_key=FAKE_ACCESS_KEY,
            secret_key=FAKE_SECRET_KEY,
            region=REGION,
            scheme="http",
            endpoint_override=self.moto.removeprefix("http://"),
        )
        root = f"{self.bucket}/lake/curated/readings"
        return int(pads.dataset(root, format="parquet", partitioning="hive", filesystem=s3fs).count_rows())


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
        clean = {
            k.removeprefix("clean/"): str(m["sha256"])
            for k, m in stored_objects(aws_conn_id, s3_bucket, f"clean/{PREFIX}/").items()
        }
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
        yield Lake(s3_bucket, aws_conn_id, moto_server, proxy, tmp_path / "w", old_rows, new_rows, clean)


def test_transient_s3_errors_are_retried_by_botocore_and_the_task_succeeds(lake: Lake) -> None:
    staging_put = lake.proxy.add(Fault("PUT", re.escape(f"/lake/{STAGING}/"), nth=2, status=503))
    copy_put = lake.proxy.add(
        Fault("PUT", re.escape(f"/lake/{PREFIX}/region="), nth=1, status=500, header="x-amz-copy-source")
    )
    manifest_put = lake.proxy.add(Fault("PUT", re.escape(f"/lake/{PREFIX}/_manifest.json"), nth=1, status=503))

    result = lake.partition()

    assert result["rows"] == lake.new_rows
    injected = lake.proxy.injected()
    assert [(r.status, r.path) for r in injected] == [
        (503, staging_put.target),
        (500, copy_put.target),
        (503, manifest_put.target),
    ]
    for fault in (staging_put, copy_put, manifest_put):
        answered = [r.status for r in lake.proxy.requests if r.method == "PUT" and r.path == fault.target]
        assert answered == [fault.status, 200], fault.target  # failed once, retried once, done
    assert lake.curated() == lake.clean
    assert lake.manifest_rows() == lake.walker_rows() == lake.new_rows
    assert lake.staging_leftovers() == []


def test_an_upload_that_keeps_failing_leaves_the_old_version_for_every_reader(lake: Lake) -> None:
    before = lake.curated()
    fault = lake.proxy.add(Fault("PUT", re.escape(f"/lake/{STAGING}/"), nth=3, times=99, status=503))

    with pytest.raises(Exception, match=r"SlowDown|reduce your request rate"):
        lake.partition()

    attempts = Counter(r.path for r in lake.proxy.injected())
    assert attempts == {fault.target: ATTEMPTS}  # botocore gave up after its attempts
    assert lake.curated() == before  # nothing of the new version is live
    assert lake.manifest_rows() == lake.walker_rows() == lake.old_rows
    assert lake.staging_leftovers()  # what the failed try staged stays until the next publish

    lake.proxy.clear()
    assert lake.partition()["rows"] == lake.new_rows  # the task's retry
    assert lake.curated() == lake.clean
    assert lake.manifest_rows() == lake.walker_rows() == lake.new_rows
    assert lake.staging_leftovers() == []


def test_a_copy_into_place_that_keeps_failing_never_changes_what_the_manifest_names(lake: Lake) -> None:
    before = lake.curated()
    lake.proxy.add(
        Fault("PUT", re.escape(f"/lake/{PREFIX}/region="), nth=2, times=99, status=500, header="x-amz-copy-source")
    )

    with pytest.raises(Exception, match=r"InternalError|internal error"):
        lake.partition()

    after = lake.curated()
    assert after[f"{PREFIX}/_manifest.json"] == before[f"{PREFIX}/_manifest.json"]  # the commit never happened
    assert lake.manifest_rows() == lake.old_rows
    # the path-walker's view: every old file is still there, plus the one copy that went through
    assert set(before) < set(after)
    assert {k: after[k] for k in before} == before
    assert lake.walker_rows() > lake.old_rows

    lake.proxy.clear()
    assert lake.partition()["rows"] == lake.new_rows  # the task's retry
    assert lake.curated() == lake.clean
    assert lake.manifest_rows() == lake.walker_rows() == lake.new_rows
    assert lake.staging_leftovers() == []
