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
from typing import TYPE_CHECKING, Any, BinaryIO

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from lockgate.config import DEFAULT_LAKE_CONN_ID, lockgate_home

if TYPE_CHECKING:
    import pyarrow.dataset
    import pyarrow.fs

_CHUNK = 8 * 1024 * 1024
#: where publishes build or upload a new version before it goes live, at the lake root
STAGING = ".staging"
#: the file in each published folder that lists its version's data files (the commit point)
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


def dump_json(payload: Any) -> str:
    """The text of a JSON document in the lake: sorted keys, so the same payload gives the same bytes."""
    return json.dumps(payload, indent=2, sort_keys=True, default=str)


def content_name(stem: str, path: str | Path, suffix: str) -> str:
    """``<stem>-<content id><suffix>``: a file name that names one content for good.

    The id is the first 64 bits of the file's sha256, in decimal (``part-<digits>.parquet`` keeps
    the shape of DuckDB's ``part-<n>`` names). The same bytes always get the same name, so reruns
    publish identical keys; different bytes get a different name, so a reader holding a file
    name from an older version can never open newer bytes under it.
    """
    return f"{stem}-{int(sha256_file(path)[:16], 16):020d}{suffix}"


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

    def _copy_within(self, source_key: str, key: str) -> None:
        """Server-side copy of one lake object to another key, encrypted like every other write.

        The managed ``copy`` switches to a multipart copy for objects above 5 GB, where a single
        ``CopyObject`` would be refused.
        """
        bucket = self._bucket_prefix[0]
        self.s3_hook.get_conn().copy(
            {"Bucket": bucket, "Key": self._s3_key(source_key)},
            bucket,
            self._s3_key(key),
            ExtraArgs=dict(self.sse_args),
        )

    def replace_prefix(self, local_dir: Path | None, prefix: str) -> builtins.list[LakeObject]:
        """Make ``prefix`` hold exactly the files of ``local_dir`` (nothing when it is None).

        Callers name data files by their content (a key never names two different contents, see
        ``PartitionOperator``) and put the metadata the version is read by (``_manifest.json``,
        any name starting with ``_``) in the same folder. What a reader can rely on:

        Local lake: the new tree is built under ``.staging/`` at the lake root (outside every
        dataset, so no reader's glob sees it; DuckDB's glob does not skip hidden names, so hidden
        names inside the dataset would not do) and swapped in with one ``renameat2`` exchange of
        the date's folder, then the old tree is deleted (a file a reader already opened stays
        readable through its descriptor). A reader going through :meth:`published_files` (or the
        dataset readers built on it, :meth:`published_dataset` and :meth:`published_uris`) sees
        exactly one version. A path-walking reader (DuckDB's glob, ``pyarrow.dataset``) is not
        atomic against any swap, and no local layout makes it so: both list a folder through a
        handle, then stat each name by path, and silently skip a name that no longer resolves.
        A walk that a publish falls into can therefore return part of one version, or nothing
        (measured in ``tests/integration/test_lake_atomic_publish.py``). Since data files are
        named by their content, a name never resolves to the other version's bytes: a file
        listed before the swap and opened after it fails with "file not found". Rows of two
        versions in one read would take more publishes of the date during that one read.

        S3 has no rename and no multi-object commit, so no publish can be atomic for a reader
        that lists the live keys itself. The order below gives what can be had: every new file is
        first uploaded under ``.staging/`` at the lake root (an upload that fails for good, the
        usual fault, leaves the live date untouched); then copied into place server-side; then the
        metadata files are written, the manifest being the commit point; then stale files are
        deleted. A path-walker racing a publish can see the old files plus some new ones (or the
        new plus some old), never part of one version alone; a reader going through
        :meth:`published_files` (or :meth:`published_dataset`) sees exactly one version.

        Leftovers of a killed run (a staging folder, staged objects) are removed by the next
        publish of the same prefix.
        """
        prefix = safe_key(prefix)
        source = local_dir if local_dir is not None and local_dir.is_dir() else None
        files = sorted(p for p in source.rglob("*") if p.is_file()) if source is not None else []
        # file -> its key below the prefix
        relative = {p: p.relative_to(source).as_posix() for p in files} if source is not None else {}
        published = [LakeObject(safe_key(prefix, relative[p]), p.stat().st_size) for p in files]
        tag = hashlib.sha256(prefix.encode()).hexdigest()[:16]
        if self.is_s3:
            self._replace_prefix_s3(relative, prefix, tag)
            return published
        staging_root = self._root / STAGING
        staging_root.mkdir(exist_ok=True)
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
        return published

    def _replace_prefix_s3(self, relative: dict[Path, str], prefix: str, tag: str) -> None:
        staging = safe_key(STAGING, tag)
        self.delete_prefix(staging)  # objects a killed run staged
        data = [p for p in relative if not p.name.startswith("_")]
        meta = [p for p in relative if p.name.startswith("_")]
        live = {o.key for o in self.list(prefix)}
        # every file is copied, even one already live under its key: with content-named files
        # that rewrites the same bytes, and a caller that reuses names still gets its new bytes
        for path in data:
            self.put_file(path, safe_key(staging, relative[path]))
        for path in data:
            self._copy_within(safe_key(staging, relative[path]), safe_key(prefix, relative[path]))
        for path in meta:  # the commit point: readers of the manifest switch here
            self.put_file(path, safe_key(prefix, relative[path]))
        keep = {safe_key(prefix, r) for r in relative.values()}
        self.delete([k for k in sorted(live) if k not in keep])
        self.delete_prefix(staging)

    def published_files(self, prefix: str, manifest: str = MANIFEST) -> builtins.list[LakeObject]:
        """The data files of the version of ``prefix`` that is published now, from its manifest.

        This is the atomic way to read a date: the manifest is one object, replaced in one write,
        and it lists files whose keys name one content each, so the list is exactly one version,
        never a mix, on S3 as on a local lake. A file of the list can vanish only when a newer
        version is published while the caller reads; reading it then fails (file not found) and
        calling this again gives the newer version. Raises ``FileNotFoundError`` when nothing was
        ever published under ``prefix``.
        """
        document = self.read_json(safe_key(prefix, manifest))
        return [LakeObject(safe_key(f["key"]), int(f["bytes"])) for f in document["files"]]

    def published_dates(self, dataset: str) -> builtins.list[str]:
        """The logical dates of ``dataset`` (``<zone>/<name>``) that have a published version, oldest first.

        A date counts once its manifest exists: a publish in progress, or a folder left without
        one, is not a published date.
        """
        return sorted(
            folder.removeprefix("ds=")
            for folder, _, name in (rel.partition("/") for rel, _ in self.iter_relative(dataset))
            if name == MANIFEST and folder.startswith("ds=")
        )

    def published_keys(self, dataset: str, dates: Sequence[str] | None = None) -> builtins.list[str]:
        """Keys of the data files published for ``dates`` of ``dataset`` (all its dates when None).

        Each date's list comes from that date's manifest, so it is exactly one version of the
        date (see :meth:`published_files`). Raises ``FileNotFoundError`` when a date asked for, or
        when no date at all, has been published.
        """
        dataset = safe_key(dataset)
        chosen = self.published_dates(dataset) if dates is None else builtins.list(dates)
        if not chosen:
            raise FileNotFoundError(f"no date of {self.uri(dataset)} has been published")
        return [o.key for ds in chosen for o in self.published_files(safe_key(dataset, f"ds={ds}"))]

    def published_uris(self, dataset: str, dates: Sequence[str] | None = None) -> builtins.list[str]:
        """:meth:`published_keys` as paths (local lake) or ``s3://`` URIs, for DuckDB's ``read_parquet``.

        ``read_parquet($uris, hive_partitioning = true)`` then reads the published versions with
        their partition columns (``ds``, ``region``, ...) taken from the paths, atomically per date:
        unlike a glob over the dataset's folder, the list never holds part of a version or files
        of two versions of one date. (An ``s3://`` list needs DuckDB's httpfs extension;
        :meth:`published_dataset` reads S3 with pyarrow alone, and DuckDB can query that dataset.)
        """
        return [self.uri(key) for key in self.published_keys(dataset, dates)]

    def arrow_filesystem(self) -> tuple[pyarrow.fs.FileSystem, str]:
        """A pyarrow filesystem for the lake, and the lake root's path within it.

        On S3 the credentials, region and endpoint are the aws connection's (resolved by the
        amazon provider), so pyarrow reads with exactly what the hook writes with.
        """
        import pyarrow.fs as pafs

        if not self.is_s3:
            return pafs.LocalFileSystem(), str(self._root)
        hook = self.s3_hook
        credentials = hook.get_credentials()
        options: dict[str, Any] = {}
        if hook.conn_region_name:
            options["region"] = hook.conn_region_name
        endpoint = hook.conn_config.endpoint_url
        if endpoint:
            scheme, _, host = str(endpoint).rstrip("/").rpartition("://")
            options.update(endpoint_override=host, scheme=scheme or "https")
        filesystem = pafs.S3FileSystem(
            access_key=credentials.access_key,
            secret_key=credentials.secret_key,
            session_token=credentials.token,
            **options,
        )
        bucket, prefix = self._bucket_prefix
        return filesystem, f"{bucket}/{prefix}" if prefix else bucket

    def published_dataset(self, dataset: str, dates: Sequence[str] | None = None) -> pyarrow.dataset.Dataset:
        """The published versions of ``dataset``'s ``dates`` (all when None) as a ``pyarrow.dataset``.

        The files are those of each date's manifest (:meth:`published_keys`) and the partition
        columns come from their hive paths, so a scan sees each date's old version or its new one,
        never a mix and never part of one, on a local lake and on S3. A globbing reader has no such
        guarantee (see :meth:`replace_prefix`). DuckDB queries the result directly
        (``con.from_arrow(dataset)``), with projection and filter pushdown.

        The dataset holds the file list it was opened with: when a date is published again before
        a scan reaches its files, the scan fails (pyarrow: "file not found"; DuckDB scanning the
        dataset: "reading the Arrow source failed") instead of mixing versions; open the dataset
        again to read the new version.
        """
        import pyarrow.dataset as pads

        keys = self.published_keys(dataset, dates)
        filesystem, root = self.arrow_filesystem()
        return pads.dataset(
            [f"{root}/{key}" for key in keys],
            format="parquet",
            filesystem=filesystem,
            partitioning="hive",
            partition_base_dir=f"{root}/{safe_key(dataset)}",
        )

    def iter_relative(self, prefix: str) -> Iterator[tuple[str, LakeObject]]:
        """Objects under ``prefix`` with their key relative to it."""
        prefix = safe_key(prefix)
        for obj in self.list(prefix):
            yield posixpath.relpath(obj.key, prefix), obj
