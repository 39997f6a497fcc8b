"""The lake: a local folder (embedded default) or an ``s3://bucket/prefix`` URL.

Zones and keys are plain relative paths (``raw/readings/ds=2026-01-02/...``); this hook maps them to
the storage. Operators never touch boto3 or the file system directly for lake data. The curated
zone is made of Iceberg tables (``curated/<dataset>/{data,metadata}/``), written and read through
their catalog (:mod:`lockgate.hooks.iceberg`); this hook only places their data files.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from lockgate.config import DEFAULT_LAKE_CONN_ID, lockgate_home

_CHUNK = 8 * 1024 * 1024
#: the file in a raw folder that lists what one run received (see ``IngestOperator``)
MANIFEST = "_manifest.json"


class LakePathError(ValueError):
    """A key would leave the lake root or is not a clean relative path."""


def safe_key(*parts: str) -> str:
    """Join key parts and refuse anything that could escape the lake root.

    Partition values come from data, so ``..``, backslashes and NUL bytes are rejected rather than
    normalised away. Leading, doubled and trailing slashes and ``.`` segments carry no meaning in a
    key and are dropped, so ``/raw//x`` is ``raw/x`` (still inside the lake).
    """
    segments: list[str] = []
    for part in parts:
        for seg in str(part).split("/"):
            if seg in ("", "."):
                continue
            if seg == ".." or "\\" in seg or "\x00" in seg:
                raise LakePathError(f"unsafe lake key segment {seg!r} in {'/'.join(parts)!r}")
            segments.append(seg)
    if not segments:
        raise LakePathError(f"empty lake key from {parts!r}")
    return "/".join(segments)


@dataclass(frozen=True)
class LakeObject:
    """One object in the lake (``modified``: seconds since the epoch, when listed)."""

    key: str
    size: int
    modified: float | None = field(default=None, compare=False)


def sha256_file(path: str | Path) -> str:
    """Checksum of a local file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def dump_json(payload: Any) -> str:
    """The text of a JSON document in the lake: sorted keys, so the same payload gives the same bytes."""
    return json.dumps(payload, indent=2, sort_keys=True, default=str)


class LakeHook(BaseHook):
    """Read and write the lake.

    The ``lockgate_lake`` connection (connection type ``lockgate_lake``, with a form in Admin ->
    Connections; a ``generic`` connection with the same JSON extra works as well) holds ``url``
    (``s3://bucket/prefix`` or a folder) and, for S3, ``aws_conn_id`` (default ``aws_default``)
    naming the Airflow aws connection with the credentials. When the connection does not exist,
    the embedded default applies: the folder ``$LOCKGATE_HOME/lake``.

    Encryption at rest (S3): every object this hook writes (uploads, multipart uploads, JSON
    documents, server-side copies) carries server-side encryption. The default is SSE-S3
    (``ServerSideEncryption=AES256``); the lake connection's extra ``sse_kms_key_id`` (a KMS key id,
    ARN or alias) switches to SSE-KMS with that key. The setting belongs to the lake connection,
    not the aws one: it is a property of where the data lives, while the aws connection only says
    who is writing (one set of credentials can write to lakes with different keys). ``sse`` may
    also be given explicitly (``AES256`` or ``aws:kms``; ``aws:kms`` without a key id uses the
    bucket's AWS managed key).

    :param lake_conn_id: the Airflow connection describing the lake.
    """

    conn_name_attr = "lake_conn_id"
    default_conn_name = DEFAULT_LAKE_CONN_ID
    conn_type = "lockgate_lake"
    hook_name = "Lockgate lake"

    def __init__(self, lake_conn_id: str = DEFAULT_LAKE_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lake_conn_id = lake_conn_id

    @cached_property
    def _settings(self) -> dict[str, Any]:
        try:
            conn = self.get_connection(self.lake_conn_id)
        except AirflowNotFoundException:
            return {"url": str(lockgate_home() / "lake")}
        # a form (connection type lockgate_lake) may store an unset field as null or "": not a setting
        extra = {k: v for k, v in conn.extra_dejson.items() if v not in (None, "")}
        url = extra.get("url") or conn.host
        if not url:
            raise ValueError(f"connection {self.lake_conn_id!r} has no extra 'url' (s3://bucket/prefix or a folder)")
        return {**extra, "url": url}

    @property
    def url(self) -> str:
        """The lake root as configured (``s3://bucket/prefix`` or an absolute folder)."""
        return str(self._settings["url"]).rstrip("/")

    @property
    def is_s3(self) -> bool:
        return self.url.startswith("s3://")

    @cached_property
    def _bucket_prefix(self) -> tuple[str, str]:
        without_scheme = self.url[len("s3://") :]
        bucket, _, prefix = without_scheme.partition("/")
        return bucket, prefix.strip("/")

    @cached_property
    def _root(self) -> Path:
        root = Path(self.url.removeprefix("file://")).resolve()
        root.mkdir(parents=True, exist_ok=True)
        return root

    @cached_property
    def sse_args(self) -> dict[str, str]:
        """The server-side encryption arguments every S3 write of this lake carries."""
        key_id = self._settings.get("sse_kms_key_id")
        mode = self._settings.get("sse") or ("aws:kms" if key_id else "AES256")
        if mode == "AES256" and not key_id:
            return {"ServerSideEncryption": "AES256"}
        if mode == "aws:kms":
            return {"ServerSideEncryption": "aws:kms", **({"SSEKMSKeyId": str(key_id)} if key_id else {})}
        raise ValueError(
            f"connection {self.lake_conn_id!r}: extra 'sse' must be 'AES256' or 'aws:kms' "
            f"(an 'sse_kms_key_id' needs 'aws:kms'), got {mode!r}"
        )

    @cached_property
    def s3_hook(self) -> Any:
        """The amazon provider's S3Hook for the configured aws connection (S3 lakes only).

        Its ``extra_args`` carry :attr:`sse_args`, so the provider's uploads (``load_file``,
        ``load_string``, multipart or not) are encrypted at rest.
        """
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=self._settings.get("aws_conn_id", "aws_default"), extra_args=self.sse_args)

    # -- naming ---------------------------------------------------------------------------------

    def _s3_key(self, key: str) -> str:
        _, prefix = self._bucket_prefix
        # validate the key on its own: an empty key must not address the lake prefix itself
        key = safe_key(key)
        return safe_key(prefix, key) if prefix else key

    def _local_path(self, key: str) -> Path:
        path = (self._root / safe_key(key)).resolve()
        if self._root not in path.parents and path != self._root:
            raise LakePathError(f"lake key {key!r} resolves outside the lake root")
        return path

    def uri(self, key: str) -> str:
        """Full URI of a key, for logs and reports."""
        if self.is_s3:
            return f"s3://{self._bucket_prefix[0]}/{self._s3_key(key)}"
        return str(self._local_path(key))

    def openlineage_dataset(self, key: str) -> tuple[str, str]:
        """(namespace, name) by the OpenLineage naming spec: ``s3://bucket`` + key, or ``file`` + path."""
        if self.is_s3:
            return f"s3://{self._bucket_prefix[0]}", self._s3_key(key)
        return "file", str(self._local_path(key))

    # -- reading --------------------------------------------------------------------------------

    def list(self, prefix: str) -> list[LakeObject]:
        """Objects under a prefix (recursive), sorted by key; keys are relative to the lake root."""
        prefix = safe_key(prefix)
        if self.is_s3:
            bucket, root = self._bucket_prefix
            paginator = self.s3_hook.get_conn().get_paginator("list_objects_v2")
            found = []
            for page in paginator.paginate(Bucket=bucket, Prefix=self._s3_key(prefix) + "/"):
                for item in page.get("Contents", []):
                    rel = item["Key"][len(root) + 1 :] if root else item["Key"]
                    found.append(LakeObject(rel, int(item["Size"]), item["LastModified"].timestamp()))
            return sorted(found, key=lambda o: o.key)
        base = self._local_path(prefix)
        if not base.is_dir():
            return []
        found = []
        for path in base.rglob("*"):
            if not path.name.startswith(".tmp-") and path.is_file():
                stat = path.stat()
                found.append(LakeObject(path.relative_to(self._root).as_posix(), stat.st_size, stat.st_mtime))
        return sorted(found, key=lambda o: o.key)

    def exists(self, key: str) -> bool:
        if self.is_s3:
            return bool(self.s3_hook.check_for_key(self._s3_key(key), self._bucket_prefix[0]))
        return self._local_path(key).is_file()

    def local_copy(self, key: str, workdir: str | Path) -> Path:
        """A local file with the object's bytes: the file itself for a local lake, a download for S3.

        Downloads stream to disk, so memory stays flat whatever the object's size.
        """
        if not self.is_s3:
            path = self._local_path(key)
            if not path.is_file():
                raise FileNotFoundError(f"lake object not found: {path}")
            return path
        target = Path(workdir) / safe_key(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        with self._not_found_as_file_error(key):
            self.s3_hook.get_conn().download_file(self._bucket_prefix[0], self._s3_key(key), str(target))
        return target

    def read_json(self, key: str) -> Any:
        if self.is_s3:
            with self._not_found_as_file_error(key):
                return json.loads(self.s3_hook.read_key(self._s3_key(key), self._bucket_prefix[0]))
        with open(self._local_path(key), encoding="utf-8") as fh:
            return json.load(fh)

    @contextmanager
    def _not_found_as_file_error(self, key: str) -> Iterator[None]:
        """A missing S3 object raises FileNotFoundError, as a missing local file does."""
        from botocore.exceptions import ClientError

        try:
            yield
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                raise FileNotFoundError(f"lake object not found: {self.uri(key)}") from exc
            raise

    # -- writing --------------------------------------------------------------------------------

    def put_file(self, local_path: str | Path, key: str) -> LakeObject:
        """Publish a local file under ``key``; a reader never sees a partly written object."""
        size = os.path.getsize(local_path)
        if self.is_s3:
            self.s3_hook.load_file(str(local_path), self._s3_key(key), self._bucket_prefix[0], replace=True)
            return LakeObject(safe_key(key), size)
        target = self._local_path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # copy to a hidden temp name in the same folder, then rename: atomic on POSIX
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        os.close(fd)
        try:
            shutil.copyfile(local_path, tmp)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return LakeObject(safe_key(key), size)

    def put_stream(self, stream: BinaryIO, key: str, workdir: str | Path) -> tuple[LakeObject, str]:
        """Copy a byte stream into the lake in chunks; returns the object and its sha256."""
        digest = hashlib.sha256()
        spool = Path(workdir) / f".spool-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
        with open(spool, "wb") as out:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        try:
            return self.put_file(spool, key), digest.hexdigest()
        finally:
            spool.unlink(missing_ok=True)

    def write_json(self, key: str, payload: Any) -> LakeObject:
        body = dump_json(payload)
        if self.is_s3:
            self.s3_hook.load_string(body, self._s3_key(key), self._bucket_prefix[0], replace=True)
            return LakeObject(safe_key(key), len(body.encode()))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "payload.json"
            path.write_text(body, encoding="utf-8")
            return self.put_file(path, key)

    def delete(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        if self.is_s3:
            self.s3_hook.delete_objects(self._bucket_prefix[0], [self._s3_key(k) for k in keys])
            return
        for key in keys:
            self._local_path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under a prefix; returns how many were deleted."""
        objects = self.list(prefix)
        self.delete([o.key for o in objects])
        if not self.is_s3:
            base = self._local_path(prefix)
            if base.is_dir():
                shutil.rmtree(base, ignore_errors=True)
        return len(objects)

    def iter_relative(self, prefix: str) -> Iterator[tuple[str, LakeObject]]:
        """Objects under ``prefix`` with their key relative to it."""
        prefix = safe_key(prefix)
        for obj in self.list(prefix):
            yield posixpath.relpath(obj.key, prefix), obj
