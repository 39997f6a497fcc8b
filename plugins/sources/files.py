"""Files: a local glob or an S3 prefix with a glob, copied byte for byte as received."""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import os
import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException

from lockgate.formats import detect_format
from lockgate.lineage import LineageDataset
from lockgate.sources.base import Source, Unit

if TYPE_CHECKING:
    from airflow.sdk import Context

    from lockgate.progress import Progress

_CHUNK = 8 * 1024 * 1024


def glob_match(key: str, pattern: str) -> bool:
    """Match an S3 key like a shell glob matches a path: ``*`` and ``?`` stay within one folder and
    hidden names (``.x``) only match a pattern segment that starts with a dot."""
    keys, patterns = key.split("/"), pattern.split("/")
    return len(keys) == len(patterns) and all(
        fnmatch.fnmatchcase(k, p) and (p.startswith(".") or not k.startswith("."))
        for k, p in zip(keys, patterns, strict=True)
    )


def raw_names(sources: list[str]) -> list[str]:
    """Names in the raw zone: the file name, or the path below the common folder when names repeat."""
    names = [posixpath.basename(uri) for uri in sources]
    if len(set(names)) == len(names):
        return names
    parts = [uri.split("/") for uri in sources]
    common = 0
    while all(len(p) > common + 1 and p[common] == parts[0][common] for p in parts):
        common += 1
    return ["/".join(p[common:]) for p in parts]


class FileSource(Source):
    """Files matching a local glob or an S3 URL with a glob in the key, streamed as received.

    :param pattern: ``/data/readings_{{ ds }}*.csv`` or ``s3://bucket/in/{{ ds }}/*.ndjson``. Templated.
    :param format: ``csv``, ``json``, ``ndjson`` or ``parquet``; detected from the names when omitted.
    :param aws_conn_id: aws connection for S3 sources.
    :param allow_empty: zero matching files is a success instead of a (retryable) failure, and a
        matching file with no records (zero bytes, a CSV header only, an empty JSON array) is 0 rows
        instead of an error naming it.
    :param slice_by: the files cover many days: the date or timestamp column that places each row on
        its logical date. Recorded in the manifest; the quality gate then takes only the date's rows
        and counts the others per file (see :mod:`lockgate.gate`).
    """

    template_fields = ("pattern",)
    kind = "files"

    def __init__(
        self,
        pattern: str,
        *,
        format: str | None = None,
        aws_conn_id: str = "aws_default",
        allow_empty: bool = False,
        slice_by: str | None = None,
    ) -> None:
        self.pattern = pattern
        self.format = format
        self.aws_conn_id = aws_conn_id
        self.allow_empty = allow_empty
        self.slice_by = slice_by

    def manifest_extra(self) -> dict[str, Any]:
        return {"slice_by": self.slice_by} if self.slice_by else {}

    def describe(self) -> str:
        return self.pattern

    def empty_units_allowed(self) -> bool:
        return self.allow_empty

    @cached_property
    def s3(self) -> Any:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=self.aws_conn_id)

    def list(self) -> list[str]:
        if self.pattern.startswith("s3://"):
            bucket, _, pattern = self.pattern[len("s3://") :].partition("/")
            prefix = pattern.split("*", 1)[0].split("?", 1)[0]
            keys = self.s3.list_keys(bucket_name=bucket, prefix=prefix)
            return sorted(f"s3://{bucket}/{k}" for k in keys if glob_match(k, pattern) and not k.endswith("/"))
        return sorted(p for p in glob.glob(self.pattern) if os.path.isfile(p))

    @contextmanager
    def _open(self, uri: str) -> Iterator[IO[bytes]]:
        if uri.startswith("s3://"):
            bucket, _, key = uri[len("s3://") :].partition("/")
            body = self.s3.get_conn().get_object(Bucket=bucket, Key=key)["Body"]
            try:
                yield body
            finally:
                body.close()
        else:
            with open(uri, "rb") as fh:
                yield fh

    @staticmethod
    def lineage_dataset(uri: str) -> LineageDataset:
        if uri.startswith("s3://"):
            bucket, _, key = uri[len("s3://") :].partition("/")
            return LineageDataset(f"s3://{bucket}", key)
        return LineageDataset("file", str(Path(uri).resolve()))

    def units(self, context: Context, workdir: Path, *, log: Any, progress: Progress) -> Iterator[Unit]:
        sources = self.list()
        if not sources and not self.allow_empty:
            # the files may simply be late: a plain AirflowException lets the task retry
            raise AirflowException(f"no source files match {self.pattern!r}")
        if not any(uri.startswith("s3://") for uri in sources):
            progress.total = sum(os.path.getsize(uri) for uri in sources) or None
        for uri, name in zip(sources, raw_names(sources), strict=True):
            spool = workdir / name
            spool.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            with self._open(uri) as stream, open(spool, "wb") as out:
                while chunk := stream.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    progress.advance(len(chunk))
            yield Unit(
                name=name,
                path=spool,
                format=self.format or detect_format(name),
                source=uri,
                sha256=digest.hexdigest(),
                lineage=self.lineage_dataset(uri),
            )


class ObjectsSource(FileSource):
    """Exactly the S3 objects an event run was given (``lockgate.events``), each landed with its key,
    ETag and message id in its manifest entry.

    An object that no longer exists is a bad event: ``on_missing="skip"`` logs it with its message id
    and lands the others (``skipped`` lists it); ``"fail"`` fails the task naming it.

    :param objects: ``{"bucket", "key", "etag", "message_id"}`` per object.
    """

    template_fields: tuple[str, ...] = ()  # type: ignore[assignment]  # nothing templated: exact objects

    def __init__(
        self,
        objects: list[dict[str, Any]],
        *,
        format: str | None = None,
        aws_conn_id: str = "aws_default",
        on_missing: str = "skip",
        slice_by: str | None = None,
    ) -> None:
        super().__init__("", format=format, aws_conn_id=aws_conn_id, allow_empty=False, slice_by=slice_by)
        self.objects = objects
        self.on_missing = on_missing
        self.skipped: list[dict[str, Any]] = []

    def describe(self) -> str:
        return f"{len(self.objects)} object(s) named by queue events"

    def list(self) -> list[str]:
        return [f"s3://{o['bucket']}/{o['key']}" for o in self.objects]

    def units(self, context: Context, workdir: Path, *, log: Any, progress: Progress) -> Iterator[Unit]:
        from airflow.sdk.exceptions import AirflowFailException
        from botocore.exceptions import ClientError

        client = self.s3.get_conn()
        uris = self.list()
        for obj, uri, name in zip(self.objects, uris, raw_names(uris), strict=True):
            try:
                response = client.get_object(Bucket=obj["bucket"], Key=obj["key"])
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                    raise
                message = f"message {obj.get('message_id')}: {uri} named by the event does not exist (any more)"
                if self.on_missing == "fail":
                    raise AirflowFailException(message) from None
                log.warning("%s: skipped (on_bad_event: skip)", message)
                self.skipped.append(obj)
                continue
            spool = workdir / name
            spool.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            body = response["Body"]
            try:
                with open(spool, "wb") as out:
                    while chunk := body.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        progress.advance(len(chunk))
            finally:
                body.close()
            # the version landed: a later event naming the same ETag is a duplicate of this one
            etag = str(response.get("ETag", "")).strip('"') or obj.get("etag", "")
            yield Unit(
                name=name,
                path=spool,
                format=self.format or detect_format(name),
                source=uri,
                sha256=digest.hexdigest(),
                extra={"object_key": obj["key"], "etag": etag, "message_id": obj.get("message_id")},
                lineage=self.lineage_dataset(uri),
            )
