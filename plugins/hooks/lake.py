"""The lake: a local folder (embedded default) or an ``s3://bucket/prefix`` URL.

Zones and keys are plain relative paths (``raw/readings/ds=2026-01-02/...``); this hook maps them to
the storage. Operators never touch boto3 or the file system directly for lake data.
"""

from __future__ import annotations

import builtins
import ctypes
import hashlib
import json
import os
import posixpath
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from lockgate.config import DEFAULT_LAKE_CONN_ID, lockgate_home

_CHUNK = 8 * 1024 * 1024


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
    """One object in the lake."""

    key: str
    size: int


def sha256_file(path: str | Path) -> str:
    """Checksum of a local file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _exchange(a: Path, b: Path) -> None:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``).

    Where the call is unavailable, fall back to two renames: a reader may then briefly find the
    date missing, but still never a mix of old and new files.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        at_fdcwd, rename_exchange = -100, 2
        if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
            return
        errno = ctypes.get_errno()
        if errno not in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: not supported here
            raise OSError(errno, f"renameat2 exchange of {a} and {b} failed")
    aside = a.with_name(a.name + ".old")
    os.rename(b, aside)
    os.rename(a, b)
    os.rename(aside, a)


class LakeHook(BaseHook):
    """Read and write the lake.

    The ``lockgate_lake`` connection's extra holds ``url`` (``s3://bucket/prefix`` or a folder) and,
    for S3, ``aws_conn_id`` (default ``aws_default``) naming the Airflow aws connection with the
    credentials. When the connection does not exist, the embedded default applies: the folder
    ``$LOCKGATE_HOME/lake``.

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
        extra = conn.extra_dejson
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
    def s3_hook(self) -> Any:
        """The amazon provider's S3Hook for the configured aws connection (S3 lakes only)."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=self._settings.get("aws_conn_id", "aws_default"))

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
                    found.append(LakeObject(rel, int(item["Size"])))
            return sorted(found, key=lambda o: o.key)
        base = self._local_path(prefix)
        if not base.is_dir():
            return []
        return sorted(
            (
                LakeObject(p.relative_to(self._root).as_posix(), p.stat().st_size)
                for p in base.rglob("*")
                if p.is_file() and not p.name.startswith(".tmp-")
            ),
            key=lambda o: o.key,
        )

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
        body = json.dumps(payload, indent=2, sort_keys=True, default=str)
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

    def replace_prefix(self, local_dir: Path | None, prefix: str) -> builtins.list[LakeObject]:
        """Make ``prefix`` hold exactly the files of ``local_dir`` (nothing when it is None).

        Local lake: the new tree is built under ``.staging/`` at the lake root (outside every
        dataset, so no reader's glob sees it) and swapped in with one atomic ``renameat2`` exchange,
        so a reader never gets rows of two versions and never finds the date empty. A reader that
        walks the folders by path while the swap happens can still miss part of the old version
        (it resolves the date's folder again at each level); only a table format or readers going
        through the manifest close that gap. Leftovers of a killed run are removed by the next one.

        S3 has no multi-object swap: new objects are written first (each PUT is atomic), then stale
        ones deleted; Lockgate's own readers go through the manifest written afterwards, which is
        the commit point.
        """
        prefix = safe_key(prefix)
        source = local_dir if local_dir is not None and local_dir.is_dir() else None
        files = sorted(p for p in source.rglob("*") if p.is_file()) if source else []
        if self.is_s3:
            published = (
                [self.put_file(p, safe_key(prefix, p.relative_to(source).as_posix())) for p in files] if source else []
            )
            keep = {o.key for o in published}
            self.delete([o.key for o in self.list(prefix) if o.key not in keep])
            return published
        staging_root = self._root / ".staging"
        staging_root.mkdir(exist_ok=True)
        tag = hashlib.sha256(prefix.encode()).hexdigest()[:16]
        for stale in staging_root.glob(f"{tag}-*"):  # a run killed mid-publish left these
            shutil.rmtree(stale, ignore_errors=True)
        fresh = staging_root / f"{tag}-{uuid.uuid4().hex}"
        if source is not None:
            shutil.copytree(source, fresh)
        else:
            fresh.mkdir()
        final = self._local_path(prefix)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            _exchange(fresh, final)  # fresh now holds the old tree
            shutil.rmtree(fresh, ignore_errors=True)
        else:
            os.rename(fresh, final)
        if source is None:
            return []
        return [LakeObject(safe_key(prefix, p.relative_to(source).as_posix()), p.stat().st_size) for p in files]

    def iter_relative(self, prefix: str) -> Iterator[tuple[str, LakeObject]]:
        """Objects under ``prefix`` with their key relative to it."""
        prefix = safe_key(prefix)
        for obj in self.list(prefix):
            yield posixpath.relpath(obj.key, prefix), obj
