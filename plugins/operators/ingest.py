"""Ingestion: bring a logical date's source data into the raw zone of the lake, with a manifest.

Every source (files, HTTP APIs, SQL databases, in-memory data handed over by an upstream task) sits
behind one interface, :class:`lockgate.sources.base.Source`; this operator owns the landing and does
it the same way for all of them.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from lockgate.contracts import Contract, ContractError
from lockgate.formats import (
    DEFAULT_MAX_FIELD_BYTES,
    DEFAULT_MAX_UNDECODABLE_PERCENT,
    FORMATS,
    DuplicateColumnError,
    ReadSettings,
    SourceFileError,
    count_records,
)
from lockgate.hooks.lake import safe_key, sha256_file
from lockgate.layout import MANIFEST, raw_prefix
from lockgate.operators.base import LakeOperator
from lockgate.progress import Progress
from lockgate.sources.base import Source, Unit
from lockgate.sources.drift import inferred_types, infers_types, unit_drift
from lockgate.sources.files import FileSource, glob_match

if TYPE_CHECKING:
    from airflow.sdk import Context

# kept importable from here for code written against the files-only operator
_glob_match = glob_match


class IngestOperator(LakeOperator):
    """Land one logical date's data from a source in ``raw/<dataset>/ds=<date>/run=<run>/<source>/``.

    The source spools each unit (a file as received, or a Parquet/NDJSON file it wrote in batches)
    to a local work folder; this operator then writes it to the lake and describes it in a manifest
    next to it: key, source, format, bytes, rows and sha256 per file, the schema drift against the
    contract, and whatever the source adds (pages read, the watermark range). The quality gate
    reads exactly the files of the manifests of its own run, so after landing every source is
    treated alike.

    :param dataset: the dataset the data feeds.
    :param source: a :class:`~lockgate.sources.base.Source` (``HttpSource``, ``SqlSource``,
        ``ArrowSource``, ``FileSource``), or for files a local glob (``/data/readings_{{ ds }}*.csv``)
        or an S3 URL with an optional glob in the key (``s3://bucket/in/{{ ds }}/*.ndjson``).
        Templated (a source object's own ``template_fields`` are rendered too).
    :param source_name: folder under the run for this source (default: the task id), so several
        sources of one dataset land side by side.
    :param format: for file sources: ``csv``, ``json``, ``ndjson`` or ``parquet``; detected from the
        names when omitted.
    :param source_timezone: IANA zone of naive timestamps in this data (default UTC). Templated.
    :param delimiter: CSV field delimiter.
    :param encoding: text encoding of CSV and JSON files.
    :param source_aws_conn_id: aws connection for S3 file sources.
    :param allow_empty: for file sources: succeed with zero files, and take a file with no records
        (zero bytes, a CSV header only, an empty JSON array) as 0 rows, instead of failing. Other
        sources (HTTP, SQL, in-memory) may always deliver nothing.
    :param max_field_bytes: a value longer than this (UTF-8 bytes) quarantines its record, keeping
        the value's first KB and its length (see :mod:`lockgate.formats`).
    :param max_undecodable_percent: a file where more than this share of the records holds bytes that
        are not valid ``encoding`` text fails, suggesting the ``encoding`` setting; below it, each
        such record is quarantined with the byte offset.
    :param detect_drift: compare each landed file's columns (and types, where the format carries
        them) with the contract and record the drift in the manifest.
    :param slice_by: for file sources covering many days: the date or timestamp column that places
        each row on its logical date. Recorded in the manifest, where the quality gate reads it (as it
        reads the reading settings): each date then takes only its rows (see :mod:`lockgate.gate`).
    """

    template_fields: tuple[str, ...] = ("dataset", "source", "source_timezone")

    def __init__(
        self,
        *,
        source: str | Source,
        source_name: str | None = None,
        format: str | None = None,
        source_timezone: str | None = None,
        delimiter: str = ",",
        encoding: str = "utf-8",
        source_aws_conn_id: str = "aws_default",
        allow_empty: bool = False,
        max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES,
        max_undecodable_percent: float = DEFAULT_MAX_UNDECODABLE_PERCENT,
        detect_drift: bool = True,
        slice_by: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if format is not None and format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
        if not isinstance(source, (str, Source)):
            raise TypeError(f"source must be a glob/S3 URL string or a lockgate Source, not {type(source).__name__}")
        self.source = source
        self.source_name = source_name
        self.format = format
        self.source_timezone = source_timezone
        self.delimiter = delimiter
        self.encoding = encoding
        self.source_aws_conn_id = source_aws_conn_id
        self.allow_empty = allow_empty
        # refused here, at parse time, rather than when the first file is read
        ReadSettings(max_field_bytes=max_field_bytes, max_undecodable_percent=max_undecodable_percent)
        self.max_field_bytes = max_field_bytes
        self.max_undecodable_percent = max_undecodable_percent
        self.detect_drift = detect_drift
        self.slice_by = slice_by

    def resolved_source(self) -> Source:
        """The source object; a string is a file pattern (read at execute time: tests and mapped
        tasks set ``source`` after construction)."""
        if isinstance(self.source, Source):
            return self.source
        return FileSource(
            self.source,
            format=self.format,
            aws_conn_id=self.source_aws_conn_id,
            allow_empty=self.allow_empty,
            slice_by=self.slice_by,
        )

    def read_settings(self, source: Source) -> ReadSettings:
        """How this run's files are read, at ingestion and (through the manifest) in the gate."""
        return ReadSettings(
            max_field_bytes=self.max_field_bytes,
            max_undecodable_percent=self.max_undecodable_percent,
            allow_empty=self.allow_empty or source.empty_units_allowed(),
        )

    def _land(self, unit: Unit, prefix: str, settings: ReadSettings) -> dict[str, Any]:
        """Write one spooled unit to the lake and describe it for the manifest (the one landing path)."""
        try:
            rows = unit.rows
            if rows is None:
                rows = count_records(
                    unit.path,
                    fmt=unit.format,
                    delimiter=self.delimiter,
                    encoding=self.encoding,
                    display_name=unit.source,
                    settings=settings,
                )
        except SourceFileError as exc:
            # the reader's message starts with the name it was given: the source, not the spool file
            raise AirflowFailException(str(exc)) from None
        digest = unit.sha256 or sha256_file(unit.path)
        key = safe_key(prefix, unit.name)
        entry: dict[str, Any] = {
            "key": key,
            "source": unit.source,
            "format": unit.format,
            "rows": rows,
            "sha256": digest,
        }
        contract = self._drift_contract
        if contract is not None:
            try:
                inferred = None
                if rows and infers_types(contract):
                    # the contract allows inference: record the file's own schema next to it
                    inferred = inferred_types(unit.path, unit.format, delimiter=self.delimiter, encoding=self.encoding)
                    entry["schema"] = inferred
                drift = unit_drift(
                    contract,
                    unit.path,
                    key,
                    fmt=unit.format,
                    rows=rows,
                    delimiter=self.delimiter,
                    encoding=self.encoding,
                    inferred=inferred,
                )
            except DuplicateColumnError as exc:
                raise AirflowFailException(f"{unit.source}: row 1: {exc}") from None
            except SourceFileError as exc:
                # e.g. a header naming one column twice: the reader names the lake key, people know the source
                raise AirflowFailException(f"{unit.source}: {str(exc).removeprefix(key + ': ')}") from None
            except (ValueError, OSError) as exc:
                raise AirflowFailException(
                    f"{unit.source}: cannot read the columns to compare with the contract: {exc}"
                ) from None
            if any(drift.values()):
                # only files that drift carry the key, so a clean file's entry reads as before
                entry["drift"] = drift
        obj = self.lake.put_file(unit.path, key)
        unit.path.unlink()
        entry["bytes"] = obj.size
        entry.update(unit.extra)
        self.log.info("ingested %s -> %s (%d rows, %d bytes)", unit.source, self.lake.uri(key), rows, obj.size)
        if unit.lineage is not None:
            self.lineage.inputs.append(unit.lineage)
        self.lineage.inputs.extend(unit.more_lineage)
        return entry

    @cached_property
    def _drift_contract(self) -> Contract | None:
        """The contract to compare with, or None (drift detection off, or no contract to compare)."""
        if not self.detect_drift:
            return None
        try:
            return self.contract
        except ContractError as exc:
            if self.contract_name is not None:
                raise  # a contract named explicitly must exist
            self.log.info("no schema drift check: %s", exc)
            return None

    def execute(self, context: Context) -> dict[str, Any]:
        ds = self.logical_ds(context)
        run_id = str(context["run_id"])
        source_name = self.source_name or self.task_id
        prefix = safe_key(raw_prefix(self.dataset, ds, run_id), source_name)
        source = self.resolved_source()
        source.bind(dataset=self.dataset, source_name=source_name)
        settings = self.read_settings(source)

        entries: list[dict[str, Any]] = []
        progress = Progress(
            f"{self.task_id} ({self.dataset})", unit="bytes" if source.kind == "files" else "rows", log=self.log
        )
        cleared = False
        with self.workdir() as work:
            spool = Path(work)
            for unit in source.units(context, spool, log=self.log, progress=progress):
                if not cleared:
                    # a retry of this task replaces what an earlier try of it wrote; cleared only
                    # once the source delivered, so a source that is late leaves nothing behind
                    self.lake.delete_prefix(prefix)
                    cleared = True
                entries.append(self._land(unit, prefix, settings))
        if not cleared:
            self.lake.delete_prefix(prefix)
        progress.finish()

        drifted = [e["drift"] for e in entries if e.get("drift")]
        manifest: dict[str, Any] = {
            "dataset": self.dataset,
            "ds": ds,
            "run_id": run_id,
            "source_name": source_name,
            "source_kind": source.kind,
            "source": source.describe(),
            "source_timezone": self.source_timezone,
            "delimiter": self.delimiter,
            "encoding": self.encoding,
            **settings.manifest(),
            "files": entries,
            "rows": sum(e["rows"] for e in entries),
            "bytes": sum(e["bytes"] for e in entries),
            **source.manifest_extra(),
        }
        if self._drift_contract is not None:
            manifest["drift"] = {
                "files": len(drifted),
                "added": sorted({c for d in drifted for c in d["added"]}),
                "missing": sorted({c for d in drifted for c in d["missing"]}),
                "retyped": sorted({c for d in drifted for c in d["retyped"]}),
            }
        manifest_key = safe_key(prefix, MANIFEST)
        self.lake.write_json(manifest_key, manifest)
        source.landed(context, manifest, log=self.log)
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


#: ``dag_run.conf`` key of an event run's objects (:func:`lockgate.events.run_conf`)
EVENTS_CONF = "lockgate_events"


def ledger_key(dataset: str, ds: str, source_name: str) -> str:
    """``raw/<dataset>/ds=<date>/ledger/<source>.json``: what the date ingested from a source, per object
    key (ETag and its manifest entry). Beside the run folders, so raw retention removes it with them."""
    from lockgate.layout import zone_prefix

    return safe_key(zone_prefix("raw", dataset, ds), "ledger", f"{source_name.replace('/', '_')}.json")


class EventIngestOperator(IngestOperator):
    """An :class:`IngestOperator` of an event-driven pipeline: lands what its run's events name.

    In an event run (``dag_run.conf["lockgate_events"]`` from the dispatcher, :mod:`lockgate.events`) it
    lands only the objects of this source the date has not ingested yet (object key + ETag in the
    date's ledger: a redelivered message lands nothing), and its manifest also lists the files the
    date ingested before (their raw keys in earlier runs' folders: the lake keeps them), so the gate,
    the publish and the load see the whole date, as after a scheduled run. A scheduled or manual run
    ingests ``source`` as usual and resets the ledger to what it landed.

    :param on_bad_event: ``skip`` (log an object that no longer exists with its message id) or ``fail``.
    """

    def __init__(self, *, on_bad_event: str = "skip", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on_bad_event = on_bad_event

    def execute(self, context: Context) -> dict[str, Any]:
        conf = getattr(context.get("dag_run"), "conf", None) or {}
        events = conf.get(EVENTS_CONF)
        ds = self.logical_ds(context)
        source_name = self.source_name or self.task_id
        key = ledger_key(self.dataset, ds, source_name)
        ledger: dict[str, Any] = self.lake.read_json(key) if self.lake.exists(key) else {}
        objects = (events or {}).get(source_name)
        if events is None or (not objects and not ledger):
            # a scheduled/manual run, or an event run that names nothing of a source the date never had
            result = super().execute(context)
            self._write_ledger(key, {}, result["manifest_key"], events is not None)
            return result
        return self._execute_events(context, key, ledger, objects or [])

    def _execute_events(
        self, context: Context, key: str, ledger: dict[str, Any], objects: list[dict[str, Any]]
    ) -> dict[str, Any]:
        from lockgate.events import plan_ledger
        from lockgate.sources.files import ObjectsSource

        plan = plan_ledger(ledger, objects)
        for dup in plan.duplicates:
            self.log.info(
                "message %s: s3://%s/%s (ETag %s) was already ingested for this date: not landed again",
                dup.get("message_id"), dup["bucket"], dup["key"], dup["etag"],
            )  # fmt: skip
        for removed in plan.removed:
            self.log.info("%s was removed from the bucket: dropped from the date", removed)
        self.log.info(
            "%d object(s) to land, %d carried from earlier runs of the date, %d duplicate(s)",
            len(plan.land), len(plan.carry), len(plan.duplicates),
        )  # fmt: skip
        source = ObjectsSource(
            plan.land,
            format=self.format,
            aws_conn_id=self.source_aws_conn_id,
            on_missing=self.on_bad_event,
            slice_by=self.slice_by,
        )
        self.source = source
        # the carried files are the date's too: a run that lands nothing new still has a manifest
        self.allow_empty = self.allow_empty or not plan.land
        result = super().execute(context)
        carried = {c["key"]: ledger[c["key"]] for c in plan.carry}
        # what the events named but this run did not land stays on record in the manifest, with message ids
        trace = {"duplicates": plan.duplicates, "missing": source.skipped, "removed": plan.removed}
        return self._merge_manifest(result, carried, key, trace)

    def _merge_manifest(
        self, result: dict[str, Any], carried: dict[str, Any], key: str, trace: dict[str, Any]
    ) -> dict[str, Any]:
        manifest = self.lake.read_json(result["manifest_key"])
        new = manifest["files"]
        manifest["files"] = [entry["entry"] for entry in carried.values()] + new
        manifest["rows"] = sum(e["rows"] for e in manifest["files"])
        manifest["bytes"] = sum(e["bytes"] for e in manifest["files"])
        manifest["carried"] = len(carried)
        manifest["events"] = trace
        if "drift" in manifest:
            drifted = [e["drift"] for e in manifest["files"] if e.get("drift")]
            for part in ("added", "missing", "retyped"):
                manifest["drift"][part] = sorted({c for d in drifted for c in d[part]})
            manifest["drift"]["files"] = len(drifted)
        self.lake.write_json(result["manifest_key"], manifest)
        self._write_ledger(key, carried, result["manifest_key"], True, new)
        return {**result, "files": len(manifest["files"]), "rows": manifest["rows"], "bytes": manifest["bytes"]}

    def _write_ledger(
        self,
        key: str,
        carried: dict[str, Any],
        manifest_key: str,
        from_events: bool,
        new: list[dict[str, Any]] | None = None,
    ) -> None:
        """The date's objects after this run: what it carried and what it landed (keyed by object key).

        A scheduled run's files have no ETag here (an S3 listing has them, the landing does not record
        them), so the first event naming one of them lands it once more: never a lost or doubled row.
        """
        if new is None:
            new = self.lake.read_json(manifest_key)["files"]
        ledger = dict(carried)
        for entry in new:
            object_key = entry.get("object_key") or _object_key(entry["source"])
            ledger[object_key] = {"etag": entry.get("etag", ""), "entry": entry}
        self.lake.write_json(key, ledger)
        self.log.info("the date's ledger %s holds %d object(s)", self.lake.uri(key), len(ledger))


def _object_key(source: str) -> str:
    """``s3://bucket/key`` -> ``key`` (a local path stays as it is)."""
    return source[len("s3://") :].partition("/")[2] if source.startswith("s3://") else source
