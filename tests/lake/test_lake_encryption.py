"""Encryption at rest on every lake write to S3: SSE-S3 by default, SSE-KMS with the lake's key.

The headers are read back from the S3 API (``HeadObject`` on the moto server) for every object
under the lake prefix, independently of LakeHook: the curated zone's Iceberg objects (data files,
table metadata, manifests, manifest lists) included.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import duckdb
import pytest

from lockgate.contracts import Column
from lockgate.hooks.iceberg import CatalogHook, snapshot_summary
from lockgate.hooks.lake import LakeHook
from lockgate.sample_data import generate
from tests.support.pipeline import run_chain
from tests.support.s3 import create_kms_key, lake_conn_env, stored_objects

pytestmark = pytest.mark.integration

DS = "2026-01-02"
RUN = "scheduled__2026-01-02T00:00:00+00:00"


def _s3_lake(monkeypatch: pytest.MonkeyPatch, bucket: str, aws_conn_id: str, **extra: str) -> LakeHook:
    monkeypatch.setenv(*lake_conn_env(f"s3://{bucket}/lake", aws_conn_id, **extra))
    return LakeHook()


@pytest.fixture(params=["sse-s3", "sse-kms"])
def encryption(request: pytest.FixtureRequest, aws_conn_id: str) -> tuple[dict[str, str], dict[str, object]]:
    """(lake connection extra, what HeadObject must report for every object)."""
    if request.param == "sse-s3":
        return {}, {"sse": "AES256", "kms_key": None}
    key_id, arn = create_kms_key(aws_conn_id)
    return {"sse_kms_key_id": key_id}, {"sse": "aws:kms", "kms_key": {key_id, arn}}


def _assert_encrypted(objects: dict[str, dict[str, str | None]], want: dict[str, object]) -> None:
    assert objects
    for key, meta in objects.items():
        assert meta["sse"] == want["sse"], key
        if isinstance(want["kms_key"], set):
            assert meta["kms_key"] in want["kms_key"], key
        else:
            assert meta["kms_key"] is None, key


def test_every_lake_write_method_encrypts(
    encryption: tuple[dict[str, str], dict[str, object]],
    lockgate_home: Path,
    s3_bucket: str,
    aws_conn_id: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    extra, want = encryption
    lake = _s3_lake(monkeypatch, s3_bucket, aws_conn_id, **extra)
    small = tmp_path / "small.csv"
    small.write_bytes(b"a,b\n1,2\n")
    big = tmp_path / "big.bin"  # above the transfer threshold (8 MB): a multipart upload
    big.write_bytes(os.urandom(9 * 1024 * 1024))
    lake.put_file(small, "raw/x/small.csv")
    lake.put_file(big, "raw/x/big.bin")
    lake.put_stream(io.BytesIO(b"streamed" * 1000), "raw/x/stream.bin", tmp_path)
    lake.write_json("quality/x/report.json", {"ok": True})
    # a curated table: its data files and every metadata object Iceberg writes (table metadata
    # JSON, manifests, manifest lists) on create, on a publish and on a republish
    catalog = CatalogHook(lake=lake)
    table = catalog.create_table("x", [Column("n", "integer"), Column("ds", "date")], [])
    for version in (1, 2):
        out = tmp_path / f"out{version}"
        duckdb.connect().execute(
            f"COPY (SELECT range::BIGINT AS n, DATE '2026-01-02' AS ds FROM range({version})) TO '{out}' "
            "(FORMAT parquet, PARTITION_BY (ds), WRITE_PARTITION_COLUMNS true)"
        )
        catalog.publish_date(catalog.table("x"), "2026-01-02", out, snapshot_summary(f"run-{version}"))
    assert table.location().endswith("/lake/curated/x")

    objects = stored_objects(aws_conn_id, s3_bucket, "lake/")
    assert {k for k in objects if not k.startswith("lake/curated/")} == {
        "lake/raw/x/small.csv",
        "lake/raw/x/big.bin",
        "lake/raw/x/stream.bin",
        "lake/quality/x/report.json",
    }
    curated = sorted(k for k in objects if k.startswith("lake/curated/x/"))
    kinds = {k.split("/")[3] for k in curated}
    assert kinds == {"data", "metadata"}
    assert len([k for k in curated if k.endswith(".metadata.json")]) == 3  # create + two publishes
    assert len([k for k in curated if k.endswith(".parquet")]) == 2
    assert any(k.split("/")[-1].startswith("snap-") for k in curated)  # manifest lists
    _assert_encrypted(objects, want)


def test_air_quality_chain_on_s3_encrypts_every_object_it_writes(
    encryption: tuple[dict[str, str], dict[str, object]],
    s3_bucket: str,
    aws_conn_id: str,
    lockgate_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    extra, want = encryption
    _s3_lake(monkeypatch, s3_bucket, aws_conn_id, **extra)
    generate(DS, tmp_path / "sources")
    run = run_chain(str(tmp_path / "sources"), DS, RUN)
    assert run.results["load_fact_air_quality_hourly"]["rows_loaded"] > 0

    objects = stored_objects(aws_conn_id, s3_bucket, "lake/")
    zones = {key.split("/")[1] for key in objects}
    assert zones == {"raw", "staged", "quarantine", "quality", "curated", "reports"}  # every writer ran
    _assert_encrypted(objects, want)
    assert not (lockgate_home / "lake").exists()  # nothing went to the embedded lake instead


def test_an_unknown_encryption_setting_is_refused_with_the_connection_named(
    s3_bucket: str, aws_conn_id: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lake = _s3_lake(monkeypatch, s3_bucket, aws_conn_id, sse="rot13")
    with pytest.raises(ValueError, match=r"connection 'lockgate_lake': extra 'sse' must be 'AES256' or 'aws:kms'"):
        lake.write_json("raw/x.json", {})
    assert stored_objects(aws_conn_id, s3_bucket, "lake/") == {}
