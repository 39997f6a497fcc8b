"""LakeHook on a real S3 HTTP API (moto server) and on a local folder: the same behaviour on both.

Every S3 assertion is checked against what is really in the bucket (listed with the amazon
provider's S3Hook, independently of LakeHook), every local assertion against the file system.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from lockgate.hooks.lake import LakeHook, LakeObject, LakePathError, safe_key
from tests.support.s3 import lake_conn_env

pytestmark = pytest.mark.integration


@dataclass
class Lake:
    """A LakeHook plus an independent view of its storage (what really exists there)."""

    kind: str
    hook: LakeHook
    #: every stored object as {key relative to the lake root: bytes}, read without LakeHook
    stored: Callable[[], dict[str, bytes]]
    #: the location of a relative key in the storage: an S3 key in the bucket, or an absolute path
    location: Callable[[str], str]


def _s3_lake(bucket: str, aws_conn_id: str, prefix: str, monkeypatch: pytest.MonkeyPatch) -> Lake:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    monkeypatch.setenv(*lake_conn_env(url, aws_conn_id))
    raw = S3Hook(aws_conn_id=aws_conn_id)
    root = prefix.strip("/")

    def stored() -> dict[str, bytes]:
        out = {}
        for key in raw.list_keys(bucket_name=bucket) or []:
            assert not root or key.startswith(root + "/"), f"{key} was written outside the lake prefix {root}/"
            body = raw.get_conn().get_object(Bucket=bucket, Key=key)["Body"].read()
            out[key[len(root) + 1 :] if root else key] = body
        return out

    return Lake("s3", LakeHook(), stored, lambda key: f"{root}/{key}" if root else key)


def _local_lake(root: Path, monkeypatch: pytest.MonkeyPatch) -> Lake:
    monkeypatch.setenv(*lake_conn_env(str(root)))

    def stored() -> dict[str, bytes]:
        if not root.exists():
            return {}
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    return Lake("local", LakeHook(), stored, lambda key: str(root / key))


@pytest.fixture(params=["s3", "local"])
def lake(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Lake:
    if request.param == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        return _s3_lake(bucket, request.getfixturevalue("aws_conn_id"), "lake/v1", monkeypatch)
    return _local_lake(tmp_path / "lake", monkeypatch)


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------------- both storages


def test_lake_round_trip_is_the_same_on_s3_and_local(lake: Lake, tmp_path: Path) -> None:
    hook = lake.hook
    assert hook.is_s3 is (lake.kind == "s3")
    src = tmp_path / "src"
    payloads = {
        "raw/readings/ds=2026-01-02/run=r1/gateway/readings.ndjson": b'{"a": 1}\n{"a": 2}\n',
        "raw/readings/ds=2026-01-02/run=r1/partner/readings.csv": b"a,b\n1,2\n3,4\n",
        # a sibling whose name starts like the prefix below: must not be listed with it
        "raw/readings/ds=2026-01-020/x.csv": b"not the same date\n",
        "raw/stations/ds=2026-01-02/run=r1/stations.csv": b"station_id\nST-001\n",
    }
    for i, (key, data) in enumerate(payloads.items()):
        obj = hook.put_file(_write(src / f"{i}.bin", data), key)
        assert obj == LakeObject(key, len(data))

    # what is really stored: exactly the payloads, under the lake root
    assert lake.stored() == payloads

    prefix = "raw/readings/ds=2026-01-02"
    listed = hook.list(prefix)
    assert listed == [
        LakeObject("raw/readings/ds=2026-01-02/run=r1/gateway/readings.ndjson", 18),
        LakeObject("raw/readings/ds=2026-01-02/run=r1/partner/readings.csv", 12),
    ]
    assert hook.list(prefix + "/") == listed  # trailing slash means the same folder
    assert [o.key for o in hook.list("raw")] == sorted(payloads)
    assert hook.list("raw/nothing/here") == []
    assert dict(hook.iter_relative(prefix)) == {
        "run=r1/gateway/readings.ndjson": listed[0],
        "run=r1/partner/readings.csv": listed[1],
    }

    key = "raw/readings/ds=2026-01-02/run=r1/partner/readings.csv"
    assert hook.exists(key)
    assert not hook.exists("raw/readings/ds=2026-01-02/run=r1/partner/missing.csv")
    assert not hook.exists("raw/readings/ds=2026-01-02")  # a folder is not an object

    copy = hook.local_copy(key, tmp_path / "work")
    assert copy.read_bytes() == payloads[key]
    if lake.kind == "s3":
        assert copy.is_relative_to(tmp_path / "work")  # downloaded into the work folder
    else:
        assert str(copy) == lake.location(key)  # the lake file itself, no copy

    report = {"rows_in": 3, "ds": "2026-01-02", "checks": [{"check": "x", "success": True}], "ratio": 0.5}
    written = hook.write_json("quality/readings/ds=2026-01-02/report.json", report)
    assert written.key == "quality/readings/ds=2026-01-02/report.json"
    stored_json = lake.stored()[written.key]
    assert written.size == len(stored_json)
    assert json.loads(stored_json) == report
    assert hook.read_json(written.key) == report

    digest_source = b"streamed bytes " * 1000
    obj, sha = hook.put_stream(io.BytesIO(digest_source), "raw/stream/blob.bin", tmp_path)
    assert obj == LakeObject("raw/stream/blob.bin", len(digest_source))
    assert sha == hashlib.sha256(digest_source).hexdigest()
    assert lake.stored()["raw/stream/blob.bin"] == digest_source
    assert not list(tmp_path.glob(".spool-*"))  # the spool file is cleaned up

    # overwriting replaces the object
    hook.put_file(_write(src / "new.csv", b"replaced\n"), key)
    assert lake.stored()[key] == b"replaced\n"

    # delete_prefix removes exactly that folder, not the look-alike sibling nor other datasets
    assert hook.delete_prefix(prefix) == 2
    remaining = lake.stored()
    assert not any(k.startswith(prefix + "/") for k in remaining)
    assert "raw/readings/ds=2026-01-020/x.csv" in remaining
    assert "raw/stations/ds=2026-01-02/run=r1/stations.csv" in remaining
    assert hook.list(prefix) == []
    assert not hook.exists(key)
    assert hook.delete_prefix(prefix) == 0  # idempotent

    hook.delete(["raw/stream/blob.bin"])
    assert "raw/stream/blob.bin" not in lake.stored()


def test_uri_and_openlineage_name_point_at_the_stored_object(lake: Lake, tmp_path: Path) -> None:
    key = "curated/readings/ds=2026-01-02/region=north/part-0.parquet"
    lake.hook.put_file(_write(tmp_path / "p.parquet", b"PAR1"), key)
    location = lake.location(key)
    if lake.kind == "s3":
        bucket = lake.hook.url.removeprefix("s3://").split("/")[0]
        assert location == f"lake/v1/{key}"
        assert lake.hook.uri(key) == f"s3://{bucket}/lake/v1/{key}"
        assert lake.hook.openlineage_dataset(key) == (f"s3://{bucket}", f"lake/v1/{key}")
    else:
        assert lake.hook.uri(key) == location
        assert lake.hook.openlineage_dataset(key) == ("file", location)
        assert Path(location).read_bytes() == b"PAR1"


#: ``..`` segments, backslashes, NUL bytes and keys that are empty once normalised
UNSAFE_KEYS = ("../outside.txt", "raw/../../outside.txt", "raw/..", "raw\\..\\x", "raw/a\x00b", "", "/", "./.")


def test_unsafe_keys_raise_before_anything_is_written(lake: Lake, tmp_path: Path) -> None:
    src = _write(tmp_path / "f.txt", b"x")
    for bad_key in UNSAFE_KEYS:
        for call in (
            lambda k: lake.hook.put_file(src, k),
            lambda k: lake.hook.write_json(k, {"a": 1}),
            lambda k: lake.hook.put_stream(io.BytesIO(b"x"), k, tmp_path),
            lake.hook.exists,
            lake.hook.list,
            lake.hook.delete_prefix,
            lake.hook.uri,
            lake.hook.openlineage_dataset,
            lambda k: lake.hook.local_copy(k, tmp_path / "work"),
        ):
            with pytest.raises(LakePathError):
                call(bad_key)
    assert lake.stored() == {}
    # nothing landed next to the lake folder either (where "../outside.txt" would point)
    assert {p.name for p in tmp_path.iterdir()} <= {"f.txt", "lake"}


def test_missing_objects_raise_file_not_found(lake: Lake, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        lake.hook.local_copy("raw/none.csv", tmp_path / "work")
    with pytest.raises(FileNotFoundError):
        lake.hook.read_json("raw/none.json")


def test_absolute_looking_keys_never_leave_the_lake(lake: Lake, tmp_path: Path) -> None:
    """A leading slash cannot address the file system root or the bucket outside the lake prefix.

    (Today the key is taken relative to the lake root; refusing it outright would be as safe.)
    """
    src = _write(tmp_path / "f.txt", b"inside")
    try:
        lake.hook.put_file(src, "/raw/abs.txt")
    except LakePathError:
        assert lake.stored() == {}
    else:
        assert lake.stored() == {"raw/abs.txt": b"inside"}
        assert lake.hook.local_copy("/raw/abs.txt", tmp_path / "work").read_bytes() == b"inside"


# ------------------------------------------------------------------------------------ S3 specific


def test_s3_lake_at_the_bucket_root(
    s3_bucket: str, aws_conn_id: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lake = _s3_lake(s3_bucket, aws_conn_id, "", monkeypatch)
    lake.hook.put_file(_write(tmp_path / "a.csv", b"a\n"), "raw/x/a.csv")
    lake.hook.write_json("raw/x/_manifest.json", {"files": 1})
    assert set(lake.stored()) == {"raw/x/a.csv", "raw/x/_manifest.json"}
    assert [o.key for o in lake.hook.list("raw/x")] == ["raw/x/_manifest.json", "raw/x/a.csv"]
    assert lake.hook.openlineage_dataset("raw/x/a.csv") == (f"s3://{s3_bucket}", "raw/x/a.csv")
    assert lake.hook.uri("raw/x/a.csv") == f"s3://{s3_bucket}/raw/x/a.csv"


def test_s3_lake_url_with_trailing_slash_and_nested_prefix(
    s3_bucket: str, aws_conn_id: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lake = _s3_lake(s3_bucket, aws_conn_id, "team/lake/", monkeypatch)
    assert lake.hook.url == f"s3://{s3_bucket}/team/lake"
    lake.hook.put_file(_write(tmp_path / "a.csv", b"a\n"), "staged/d/part-0.parquet")
    assert lake.stored() == {"staged/d/part-0.parquet": b"a\n"}
    assert lake.hook.list("staged") == [LakeObject("staged/d/part-0.parquet", 2)]
    assert lake.hook.openlineage_dataset("staged/d") == (f"s3://{s3_bucket}", "team/lake/staged/d")


def test_s3_lake_does_not_see_objects_outside_its_prefix(
    s3_bucket: str, aws_conn_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    raw = S3Hook(aws_conn_id=aws_conn_id)
    raw.load_string("other", key="elsewhere/raw/x/a.csv", bucket_name=s3_bucket)
    raw.load_string("mine", key="lake/raw/x/a.csv", bucket_name=s3_bucket)
    lake = _s3_lake(s3_bucket, aws_conn_id, "lake", monkeypatch)
    assert lake.hook.list("raw") == [LakeObject("raw/x/a.csv", 4)]
    assert lake.hook.delete_prefix("raw") == 1
    assert raw.list_keys(bucket_name=s3_bucket) == ["elsewhere/raw/x/a.csv"]


# --------------------------------------------------------------------------------- local specific


def test_embedded_default_lake_is_under_lockgate_home(lockgate_home: Path, tmp_path: Path) -> None:
    hook = LakeHook()  # no lockgate_lake connection
    assert not hook.is_s3
    assert hook.url == str(lockgate_home / "lake")
    hook.put_file(_write(tmp_path / "a.csv", b"a\n"), "raw/x/a.csv")
    assert (lockgate_home / "lake" / "raw" / "x" / "a.csv").read_bytes() == b"a\n"
    assert hook.openlineage_dataset("raw/x") == ("file", str(lockgate_home / "lake" / "raw" / "x"))


def test_local_lake_ignores_unfinished_temp_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = _local_lake(tmp_path / "lake", monkeypatch)
    lake.hook.put_file(_write(tmp_path / "a.csv", b"a\n"), "raw/x/a.csv")
    _write(tmp_path / "lake" / "raw" / "x" / ".tmp-abc123", b"half written")
    assert lake.hook.list("raw/x") == [LakeObject("raw/x/a.csv", 2)]


# ---------------------------------------------------------------------------------------- safe_key


def test_safe_key_joins_clean_parts() -> None:
    assert safe_key("raw", "readings/ds=2026-01-02", "run=manual__x") == "raw/readings/ds=2026-01-02/run=manual__x"
    assert safe_key("a/", "/b", "./c") == "a/b/c"


@pytest.mark.parametrize("parts", [("..",), ("a", "../b"), ("a/..",), ("a\\b",), ("a\x00",), ("",), ("/", "."), ()])
def test_safe_key_rejects_escapes_and_empty_keys(parts: tuple[str, ...]) -> None:
    with pytest.raises(LakePathError):
        safe_key(*parts)
