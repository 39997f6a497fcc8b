"""The gate's input: every raw file of a date as one stream of Arrow string batches, scanned once by DuckDB.

The quality gate used to read each file in Python batches and INSERT every batch into a
``candidates`` table, then type that table: a full copy of the input in strings before any typing.
Here the readers of :mod:`lockgate.formats` feed one :class:`pyarrow.RecordBatchReader`
(:meth:`GateSource.reader`) that DuckDB scans inside the gate's typing statement, so the strings are
typed as they stream by and never stored.

Around that stream this module keeps what the gate needs from reading:

* the **rejects** (records that could not be read at all) go to a small Parquet file next to the
  gate's database as they come (:class:`RejectSink`), so memory stays flat even when a file is all
  rejects;
* the **accounting** per file: records read (rows plus rejects) must equal the manifest's count, or
  :class:`AccountingError`;
* the **schema drift** of each file, compared before it is read (the contract's ``fail`` policy
  raises :class:`SchemaDriftError` naming the file);
* **errors keep their type**: an exception raised while DuckDB pulls a batch reaches DuckDB as a
  generic error; :attr:`GateSource.error` keeps the original so the gate re-raises it (a
  ``SourceFileError`` naming the file and row stays one).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockgate.coerce import SOURCE_TZ_COLUMN
from lockgate.formats import ROW_COLUMN, Reject, read_batches

if TYPE_CHECKING:
    from lockgate.gate import RawFile
    from lockgate.progress import Progress

#: the file a row was read from, as its 1-based place in :attr:`GateSource.files` (a small integer
#: per row instead of the key's text: the gate's one table holds it for every row)
FILE_COLUMN = "_file"
#: the rows of each batch DuckDB scans: DuckDB's row group size. The typing statement inserts the
#: rows into the gate's table with every thread, in order, a batch at a time: a batch of a whole row
#: group is compressed and written at once, while smaller ones (a reader's batch is ~22,000 readings)
#: wait uncompressed until the batches before them are in, then are copied into a row group. With
#: the gate's small memory limit the waiting batches soon fill the insert's share of it and the other
#: thread stops. Two threads, busy machine: 2M readings 3.05-3.41 -> 2.66-2.73 s CPU for the statement;
#: 10M 19.4-20.4 -> 14.8-17.1 s (the gate 27.4-29.2 -> 22.6-24.7 s), peak RSS 422-425 -> 438-481 MiB.
#: The table's row groups no longer depend on the thread count, nor do the staged file's bytes
BATCH_ROWS = 122_880
#: rejects are written to disk in groups of this many (a file of only rejects stays in flat memory)
REJECT_GROUP = 50_000
#: the columns of a reject as the gate's quarantine stores it
REJECT_COLUMNS = ("source_file", "source_row", "column_name", "check_name", "reason", "record")


class RejectSink:
    """Unreadable records, written to a Parquet file in groups as they arrive (see the module doc)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._pending: list[Reject] = []
        self._writer: Any = None

    def add(self, rejects: Sequence[Reject]) -> None:
        self._pending.extend(rejects)
        self.count += len(rejects)
        if len(self._pending) >= REJECT_GROUP:
            self._flush()

    def _schema(self) -> Any:
        import pyarrow as pa

        return pa.schema(
            [
                ("source_file", pa.string()),
                ("source_row", pa.int64()),
                ("column_name", pa.string()),
                ("check_name", pa.string()),
                ("reason", pa.string()),
                ("record", pa.string()),
            ]
        )

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._writer is None:
            self._writer = pq.ParquetWriter(str(self.path), self._schema(), compression="zstd")
        rejects, self._pending = self._pending, []
        table = pa.table(
            {
                "source_file": pa.array([r.file for r in rejects], pa.string()),
                "source_row": pa.array([r.row for r in rejects], pa.int64()),
                "column_name": pa.array([r.column for r in rejects], pa.string()),
                "check_name": pa.array(["parse"] * len(rejects), pa.string()),
                "reason": pa.array([f"row {r.row}: {r.reason}" for r in rejects], pa.string()),
                "record": pa.array([r.raw for r in rejects], pa.string()),
            },
            schema=self._schema(),
        )
        self._writer.write_table(table)

    def close(self) -> Path | None:
        """Write what is pending; the Parquet file of every reject, or None when there was none."""
        if self._pending:
            self._flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        return self.path if self.count else None


@dataclass
class GateSource:
    """The raw files of one gate run as one Arrow stream (see the module doc).

    :param files: the raw files, read in this order.
    :param columns: the source columns to read (contract columns the source provides).
    :param nullable: columns a file may lack (their values are null).
    :param drift: called with each file before it is read (raises to refuse the file).
    :param rejects: where unreadable records go.
    """

    files: Sequence[RawFile]
    columns: list[str]
    nullable: Collection[str]
    drift: Callable[[RawFile], None]
    rejects: RejectSink
    progress: Progress | None = None
    #: records read per file (rows plus rejects), in the order of ``files``
    per_file: list[dict[str, Any]] = field(default_factory=list)
    #: the exception that stopped the stream, kept with its type (DuckDB only sees its text)
    error: BaseException | None = None

    def schema(self) -> Any:
        import pyarrow as pa

        constant = pa.dictionary(pa.int32(), pa.string())

        return pa.schema(
            [(FILE_COLUMN, pa.int32()), (ROW_COLUMN, pa.int64()), (SOURCE_TZ_COLUMN, constant)]
            + [(c, pa.string()) for c in self.columns]
        )

    def file_names(self) -> str:
        """SQL: the key of a row's file (the text :data:`FILE_COLUMN` stands for)."""
        from lockgate.sql import literal

        if len(self.files) == 1:
            return literal(self.files[0].key)  # no lookup per row
        return f"[{', '.join(literal(raw.key) for raw in self.files)}][{FILE_COLUMN}]"

    def file_numbers(self, keys: Collection[str]) -> list[int]:
        """The :data:`FILE_COLUMN` values of the files with these keys."""
        return [at for at, raw in enumerate(self.files, start=1) if raw.key in keys]

    def reader(self) -> Any:
        """A ``pyarrow.RecordBatchReader`` over every file's readable rows (it can be read once)."""
        import pyarrow as pa

        return pa.RecordBatchReader.from_batches(self.schema(), self._batches())

    def _batches(self) -> Iterator[Any]:
        try:
            for number, raw in enumerate(self.files, start=1):
                # whole row groups within a file (a file's zone column is one dictionary throughout)
                yield from _rebatched(self._file_batches(raw, number), BATCH_ROWS)
        except BaseException as exc:
            self.error = exc
            raise

    def _file_batches(self, raw: RawFile, number: int) -> Iterator[Any]:
        import numpy as np
        import pyarrow as pa

        from lockgate.gate import AccountingError

        self.drift(raw)
        schema = self.schema()
        tz = pa.array([raw.source_timezone], pa.string())
        seen = 0
        for batch, rejects in read_batches(
            raw.local_path,
            self.columns,
            fmt=raw.format,
            delimiter=raw.delimiter,
            encoding=raw.encoding,
            display_name=raw.key,
            optional=self.nullable,
            settings=raw.read,
        ):
            n = batch.num_rows
            seen += n + len(rejects)
            if self.progress is not None:
                self.progress.advance(n + len(rejects))
            if rejects:
                self.rejects.add(rejects)
            if n:
                yield pa.RecordBatch.from_arrays(
                    [pa.array(np.full(n, number, np.int32)), batch.column(ROW_COLUMN), _constant(tz, n)]
                    + [batch.column(c) for c in self.columns],
                    schema=schema,
                )
        if seen != raw.rows:
            raise AccountingError(f"{raw.key}: the manifest says {raw.rows} rows but the gate read {seen}")
        self.per_file.append({"key": raw.key, "rows": seen})


def _rebatched(batches: Iterator[Any], rows: int) -> Iterator[Any]:
    """The same rows, in the same order, in batches of exactly ``rows`` rows (the last one: what is left).

    The batches must share their dictionaries (Arrow does not unify dictionaries holding a null).
    """
    import pyarrow as pa

    pending: list[Any] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        if count < rows:
            continue
        whole = pa.concat_batches(pending)
        start = 0
        while count - start >= rows:
            yield whole.slice(start, rows)
            start += rows
        pending = [whole.slice(start)] if start < count else []
        count -= start
    if pending:
        yield pa.concat_batches(pending)


def _constant(value: Any, n: int) -> Any:
    """An Arrow string array of ``n`` times one value, without a Python list (a dictionary of one)."""
    import numpy as np
    import pyarrow as pa

    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), value)
