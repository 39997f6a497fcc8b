"""Ingestion: bring a logical date's source files into the raw zone of the lake, as received."""

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

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from lockgate.formats import FORMATS, SourceFileError, count_records, detect_format
from lockgate.hooks.lake import safe_key
from lockgate.layout import MANIFEST, raw_prefix
from lockgate.lineage import LineageDataset
from lockgate.operators.base import LakeOperator
from lockgate.progress import Progress

if TYPE_CHECKING:
    from airflow.sdk import Context

_CHUNK = 8 * 1024 * 1024


def _glob_match(key: str, pattern: str) -> bool:
    """Match an S3 key like a shell glob matches a path: ``*`` and ``?`` stay within one folder and
    hidden names (``.x``) only match a pattern segment that starts with a dot."""
    keys, patterns = key.split("/"), pattern.split("/")
    return len(keys) == len(patterns) and all(
        fnmatch.fnmatchcase(k, p) and (p.startswith(".") or not k.startswith("."))
        for k, p in zip(keys, patterns, strict=True)
    )


class IngestOperator(LakeOperator):
    """Copy the source files of one logical date into ``raw/<dataset>/ds=<date>/run=<run>/<source>/``.

    Files are streamed byte for byte (never held in memory) and described in a manifest next to
    them: key, source, bytes, rows and sha256 per file. The quality gate reads exactly the files of
    the manifests of its own run.

    :param dataset: the dataset the files feed.
    :param source: a local glob (``/data/readings_{{ ds }}*.csv``) or an S3 URL with an optional
        glob in the key (``s3://bucket/in/{{ ds }}/*.ndjson``). Templated.
    :param source_name: folder under the run for this source (default: the task id), so several
        sources of one dataset land side by side.
    :param format: ``csv``, ``json``, ``ndjson`` or ``parquet``; detected from the names when omitted.
    :param source_timezone: IANA zone of naive timestamps in these files (default UTC). Templated.
    :param delimiter: CSV field delimiter.
    :param encoding: text encoding of CSV and JSON files.
    :param source_aws_conn_id: aws connection for S3 sources.
    :param allow_empty: succeed with zero files instead of failing (and retrying).
    """

    template_fields: tuple[str, ...] = ("dataset", "source", "source_timezone")

    def __init__(
        self,
        *,
        source: str,
        source_name: str | None = None,
        format: str | None = None,
        source_timezone: str | None = None,
        delimiter: str = ",",
        encoding: str = "utf-8",
        source_aws_conn_id: str = "aws_default",
        allow_empty: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if format is not None and format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
        self.source = source
        self.source_name = source_name
        self.format = format
        self.source_timezone = source_timezone
        self.delimiter = delimiter
        self.encoding = encoding
        self.source_aws_conn_id = source_aws_conn_id
        self.allow_empty = allow_empty

    @cached_property
    def source_s3(self) -> Any:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=self.source_aws_conn_id)

    def _list_sources(self) -> list[str]:
        if self.source.startswith("s3://"):
            bucket, _, pattern = self.source[len("s3://") :].partition("/")
            prefix = pattern.split("*", 1)[0].split("?", 1)[0]
            keys = self.source_s3.list_keys(bucket_name=bucket, prefix=prefix)
            return sorted(f"s3://{bucket}/{k}" for k in keys if _glob_match(k, pattern) and not k.endswith("/"))
        return sorted(p for p in glob.glob(self.source) if os.path.isfile(p))

    @staticmethod
    def _raw_names(sources: list[str]) -> list[str]:
        """Names in the raw zone: the file name, or the path below the common folder when names repeat."""
        names = [posixpath.basename(uri) for uri in sources]
        if len(set(names)) == len(names):
            return names
        parts = [uri.split("/") for uri in sources]
        common = 0
        while all(len(p) > common + 1 and p[common] == parts[0][common] for p in parts):
            common += 1
        return ["/".join(p[common:]) for p in parts]

    @contextmanager
    def _open(self, uri: str) -> Iterator[IO[bytes]]:
        if uri.startswith("s3://"):
            bucket, _, key = uri[len("s3://") :].partition("/")
            body = self.source_s3.get_conn().get_object(Bucket=bucket, Key=key)["Body"]
            try:
                yield body
            finally:
                body.close()
        else:
            with open(uri, "rb") as fh:
                yield fh

    def _source_dataset(self, uri: str) -> LineageDataset:
        if uri.startswith("s3://"):
            bucket, _, key = uri[len("s3://") :].partition("/")
            return LineageDataset(f"s3://{bucket}", key)
        return LineageDataset("file", str(Path(uri).resolve()))

    def execute(self, context: Context) -> dict[str, Any]:
        ds = self.logical_ds(context)
        run_id = str(context["run_id"])
        source_name = self.source_name or self.task_id
        prefix = safe_key(raw_prefix(self.dataset, ds, run_id), source_name)
        sources = self._list_sources()
        if not sources and not self.allow_empty:
            # the files may simply be late: a plain AirflowException lets the task retry
            raise AirflowException(f"no source files match {self.source!r} for {self.dataset} ds={ds}")

        # a retry of this task replaces what an earlier try of it wrote
        self.lake.delete_prefix(prefix)
        entries: list[dict[str, Any]] = []
        local = not any(uri.startswith("s3://") for uri in sources)
        total = sum(os.path.getsize(uri) for uri in sources) if local else None
        progress = Progress(f"{self.task_id} ({self.dataset})", total=total, unit="bytes", log=self.log)
        with self.workdir() as work:
            for uri, name in zip(sources, self._raw_names(sources), strict=True):
                fmt = self.format or detect_format(name)
                spool = work / name
                spool.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                with self._open(uri) as stream, open(spool, "wb") as out:
                    while chunk := stream.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        progress.advance(len(chunk))
                try:
                    rows = count_records(spool, fmt=fmt, delimiter=self.delimiter, encoding=self.encoding)
                except SourceFileError as exc:
                    raise AirflowFailException(f"{uri}: {exc}") from None
                key = safe_key(prefix, name)
                obj = self.lake.put_file(spool, key)
                spool.unlink()
                entries.append(
                    {
                        "key": key,
                        "source": uri,
                        "format": fmt,
                        "bytes": obj.size,
                        "rows": rows,
                        "sha256": digest.hexdigest(),
                    }
                )
                self.log.info("ingested %s -> %s (%d rows, %d bytes)", uri, self.lake.uri(key), rows, obj.size)
                self.lineage.inputs.append(self._source_dataset(uri))

        progress.finish()
        manifest = {
            "dataset": self.dataset,
            "ds": ds,
            "run_id": run_id,
            "source_name": source_name,
            "source": self.source,
            "source_timezone": self.source_timezone,
            "delimiter": self.delimiter,
            "encoding": self.encoding,
            "files": entries,
            "rows": sum(e["rows"] for e in entries),
            "bytes": sum(e["bytes"] for e in entries),
        }
        manifest_key = safe_key(prefix, MANIFEST)
        self.lake.write_json(manifest_key, manifest)
        self.lineage.outputs.append(
            self.lake_dataset(
                f"raw/{self.dataset}", row_count=manifest["rows"], size_bytes=manifest["bytes"], partitions=[{"ds": ds}]
            )
        )
        return {
            "manifest_key": manifest_key,
            "files": len(entries),
            "rows": manifest["rows"],
            "bytes": manifest["bytes"],
        }
