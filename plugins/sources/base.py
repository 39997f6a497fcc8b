"""The ingestion interface every source implements, and the bounded-memory spool writers they share.

A :class:`Source` yields *units*: each one a local spool file in a format the quality gate already
reads (files: the bytes as received; HTTP: NDJSON; SQL and in-memory data: Parquet written batch by
batch), with what it came from. :class:`~lockgate.operators.ingest.IngestOperator` owns everything
after that, the same way for every source: lake write, sha256, row count, schema drift, manifest,
lineage and the cleanup of an earlier try. After landing, no step can tell one source from another.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Context

    from lockgate.lineage import LineageDataset
    from lockgate.progress import Progress


@dataclass
class Unit:
    """One file a source hands to the landing: where it is spooled and what it came from.

    :param name: file name below the source's raw folder (``page.ndjson``, ``orders.parquet``).
    :param path: the local spool file.
    :param format: one of :data:`lockgate.formats.FORMATS`.
    :param source: where the data came from, for the manifest (never with credentials).
    :param rows: records in the file when the source counted them while writing (else counted).
    :param sha256: digest when the source computed it while streaming (else computed).
    :param extra: source-specific facts for the manifest entry (pages, watermark range, ...).
    :param lineage: the OpenLineage input dataset this unit was read from.
    :param more_lineage: further input datasets (a query joining several tables).
    """

    name: str
    path: Path
    format: str
    source: str
    rows: int | None = None
    sha256: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    lineage: LineageDataset | None = None
    more_lineage: list[LineageDataset] = field(default_factory=list)


class Source:
    """A place data is ingested from; subclasses implement :meth:`units`.

    Attributes named in ``template_fields`` are rendered by Airflow like the operator's own (Airflow
    renders the template fields of objects held in an operator's template fields).
    """

    template_fields: Sequence[str] = ()
    #: short kind for the manifest: ``files``, ``http``, ``sql``, ``memory``
    kind = "source"

    #: set by the ingesting operator (:meth:`bind`) before :meth:`units` runs
    dataset: str = ""
    source_name: str = ""

    def bind(self, *, dataset: str, source_name: str) -> None:
        """Tell the source which dataset and source folder it is ingested as (keys of its state)."""
        self.dataset = dataset
        self.source_name = source_name

    def describe(self) -> str:
        """What the manifest names as the source (no credentials)."""
        return self.kind

    def units(self, context: Context, workdir: Path, *, log: Any, progress: Progress) -> Iterator[Unit]:
        """Yield the units of this run, each spooled under ``workdir``; the caller lands and deletes it."""
        raise NotImplementedError

    def empty_units_allowed(self) -> bool:
        """Whether a unit with no records is a valid delivery (an API or a query with nothing new);
        a file source says no unless it declares ``allow_empty`` (an empty file may be a failed export)."""
        return True

    def manifest_extra(self) -> dict[str, Any]:
        """Source-level facts for the manifest (called after every unit landed)."""
        return {}

    def landed(self, context: Context, manifest: dict[str, Any], *, log: Any) -> None:
        """Called once the manifest is written: the whole run's data is in the raw zone."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"


class NdjsonSpool:
    """Append JSON records to a local NDJSON file, one line each (never the whole result in memory)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._fh: IO[str] = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def write(self, records: Sequence[Any]) -> None:
        for record in records:
            # ensure_ascii=False keeps text as received; default=str covers dates and decimals
            self._fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self.rows += len(records)

    def close(self) -> None:
        self._fh.close()


class ParquetSpool:
    """Write rows or Arrow record batches to a local Parquet file incrementally.

    The schema is fixed by the first batch written: the types it infers, with columns that are
    entirely null there stored as strings (a later value is written as its text). A later value that
    does not fit its column's type is an error naming the column, never a silent change of schema.
    """

    def __init__(self, path: Path, *, description: str) -> None:
        self.path = path
        self.description = description
        self.rows = 0
        self._writer: Any = None
        self._schema: Any = None
        self._as_text: set[str] = set()

    def _open(self, schema: Any) -> None:
        import pyarrow.parquet as pq

        self._schema = schema
        self._writer = pq.ParquetWriter(self.path, schema)

    def write_rows(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Append rows (sequences in ``columns`` order), e.g. one DB-API ``fetchmany`` result."""
        import pyarrow as pa

        if not rows:
            return
        values = [[row[i] for row in rows] for i in range(len(columns))]
        if self._schema is None:
            fields = []
            for name, column in zip(columns, values, strict=True):
                try:
                    inferred = pa.array(column).type
                except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                    raise ValueError(
                        f"{self.description}: column {name!r}: mixed or unsupported values: {exc}"
                    ) from None
                if pa.types.is_null(inferred):
                    inferred = pa.string()
                    self._as_text.add(name)
                elif pa.types.is_decimal(inferred):
                    # precision inferred from one batch may be too small for the next: use the widest
                    inferred = pa.decimal128(38, inferred.scale)
                fields.append(pa.field(name, inferred))
            self._open(pa.schema(fields))
        arrays = []
        for name, column in zip(columns, values, strict=True):
            if name in self._as_text:
                column = [None if v is None else _as_text(v) for v in column]
            target = self._schema.field(name).type
            try:
                arrays.append(pa.array(column, type=target))
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
                raise ValueError(
                    f"{self.description}: column {name!r}: a value does not fit the column's type {target} "
                    f"(set by the first rows): {exc}"
                ) from None
        self.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self._schema))

    def write_batch(self, batch: Any) -> None:
        """Append an Arrow record batch (the first one fixes the schema)."""
        if self._schema is None:
            self._open(batch.schema)
        elif batch.schema != self._schema:
            batch = batch.cast(self._schema)
        self._writer.write_batch(batch)
        self.rows += batch.num_rows

    def close(self, *, empty_columns: Sequence[str] = ()) -> None:
        """Finish the file; with no rows at all, an empty file with ``empty_columns`` as strings."""
        import pyarrow as pa

        if self._writer is None:
            self._open(pa.schema([pa.field(c, pa.string()) for c in empty_columns]))
        self._writer.close()


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    iso = getattr(value, "isoformat", None)
    return str(iso()) if callable(iso) else str(value)
