"""Streaming readers for source files: CSV, JSON array, NDJSON and Parquet (optionally gzip).

Every reader yields Arrow record batches of *strings* plus a ``_row`` column (where the record is:
the line number for CSV and NDJSON, the element number for a JSON array, the row number for
Parquet) and a list of :class:`Reject` for records that could not be read at all. Typing happens in
the quality gate, so every cast failure is reported the same way whatever the format.

Nothing here holds a whole file in memory: text is read line by line, JSON arrays are decoded one
element at a time, Parquet by row group batches.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

FORMATS = ("csv", "json", "ndjson", "parquet")
ROW_COLUMN = "_row"
DEFAULT_BATCH_ROWS = 50_000
_JSON_CHUNK = 1 << 20


class SourceFileError(ValueError):
    """A file cannot be read at all; the message names the file (and the row or column if known)."""


@dataclass(frozen=True)
class Reject:
    """A record that could not be read; it goes to quarantine with this reason."""

    file: str
    row: int
    reason: str
    raw: str
    column: str | None = None


def detect_format(path: str | Path) -> str:
    """Format from the file name: ``x.csv``, ``x.ndjson``/``x.jsonl``, ``x.json``, ``x.parquet`` (+ ``.gz``)."""
    name = Path(path).name.lower().removesuffix(".gz")
    for suffix, fmt in (
        (".csv", "csv"),
        (".ndjson", "ndjson"),
        (".jsonl", "ndjson"),
        (".json", "json"),
        (".parquet", "parquet"),
    ):
        if name.endswith(suffix):
            return fmt
    raise SourceFileError(f"{path}: cannot tell the format from the file name; set format= explicitly")


def _open_text(path: Path, encoding: str) -> IO[str]:
    # utf-8-sig strips a byte-order mark when there is one and is plain utf-8 otherwise
    enc = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding=enc, newline="")
    return open(path, encoding=enc, newline="")


def _truncate(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


class _BatchBuilder:
    """Accumulates string rows column-wise and emits Arrow record batches."""

    def __init__(self, columns: list[str], batch_rows: int) -> None:
        self.columns = columns
        self.batch_rows = batch_rows
        self._values: list[list[str | None]] = [[] for _ in columns]
        self._rows: list[int] = []
        self.rejects: list[Reject] = []

    def add(self, row_number: int, values: list[str | None]) -> None:
        for store, value in zip(self._values, values, strict=True):
            store.append(value)
        self._rows.append(row_number)

    def full(self) -> bool:
        return len(self._rows) + len(self.rejects) >= self.batch_rows

    def flush(self) -> tuple[Any, list[Reject]]:
        import pyarrow as pa

        arrays = [pa.array(v, type=pa.string()) for v in self._values]
        arrays.append(pa.array(self._rows, type=pa.int64()))
        batch = pa.RecordBatch.from_arrays(arrays, names=[*self.columns, ROW_COLUMN])
        rejects = self.rejects
        self._values = [[] for _ in self.columns]
        self._rows = []
        self.rejects = []
        return batch, rejects


def read_batches(
    path: str | Path,
    columns: list[str],
    *,
    fmt: str | None = None,
    delimiter: str = ",",
    encoding: str = "utf-8",
    batch_rows: int = DEFAULT_BATCH_ROWS,
    display_name: str | None = None,
    optional: Collection[str] = (),
) -> Iterator[tuple[Any, list[Reject]]]:
    """Yield ``(record_batch, rejects)`` for ``columns`` of a source file, as strings.

    :param path: local file to read.
    :param columns: the contract's columns; a source missing one of them is an error naming it,
        unless it is in ``optional`` (nullable columns): then its values are null.
        Extra source columns are ignored (they are reported by :func:`source_columns`).
    :param fmt: one of :data:`FORMATS`; detected from the file name when omitted.
    :param display_name: how the file is named in rejects and errors (e.g. its lake key).
    """
    path = Path(path)
    fmt = fmt or detect_format(path)
    name = display_name or str(path)
    readers = {"csv": _csv_rows, "ndjson": _ndjson_rows, "json": _json_array_rows, "parquet": _parquet_batches}
    if fmt not in readers:
        raise SourceFileError(f"{name}: unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        yield from _parquet_batches(path, columns, name, batch_rows, optional)
        return
    builder = _BatchBuilder(columns, batch_rows)
    try:
        if fmt == "csv":
            rows = _csv_rows(path, columns, name, builder, delimiter=delimiter, encoding=encoding, optional=optional)
        elif fmt == "ndjson":
            rows = _ndjson_rows(path, columns, name, builder, encoding=encoding)
        else:
            rows = _json_array_rows(path, columns, name, builder, encoding=encoding)
        for _ in rows:
            if builder.full():
                yield builder.flush()
    except UnicodeDecodeError as exc:
        raise SourceFileError(
            f"{name}: not valid {encoding} text ({exc.reason} at byte {exc.start} of a read block)"
        ) from None
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        raise SourceFileError(f"{name}: unreadable: {exc}") from None
    batch, rejects = builder.flush()
    if batch.num_rows or rejects:
        yield batch, rejects


def _csv_rows(
    path: Path,
    columns: list[str],
    name: str,
    builder: _BatchBuilder,
    *,
    delimiter: str,
    encoding: str,
    optional: Collection[str] = (),
) -> Iterator[None]:
    with _open_text(path, encoding) as fh:
        reader = csv.reader(fh, delimiter=delimiter, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            return  # an empty file has no rows; the manifest says 0
        except csv.Error as exc:
            raise SourceFileError(f"{name}: row 1: malformed CSV header: {exc}") from None
        missing = [c for c in columns if c not in header and c not in optional]
        if missing:
            raise SourceFileError(
                f"{name}: row 1: missing column(s) {', '.join(missing)} (header: {', '.join(header)})"
            )
        positions = [header.index(c) if c in header else None for c in columns]
        width = len(header)
        line = reader.line_num
        while True:
            start = line + 1
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                line = reader.line_num
                builder.rejects.append(Reject(name, start, f"malformed CSV: {exc}", ""))
                yield None
                continue
            line = reader.line_num
            if not record:
                continue  # blank line: no record
            if len(record) != width:
                raw = delimiter.join(record)
                builder.rejects.append(
                    Reject(name, start, f"expected {width} fields, found {len(record)}", _truncate(raw))
                )
            else:
                builder.add(start, [record[p] if p is not None and record[p] != "" else None for p in positions])
            yield None


def _json_values(obj: Any, columns: list[str]) -> list[str | None]:
    out: list[str | None] = []
    for col in columns:
        value = obj.get(col)
        if value is None:
            out.append(None)
        elif isinstance(value, str):
            out.append(value)
        elif isinstance(value, bool):
            out.append("true" if value else "false")
        elif isinstance(value, (int, float)):
            out.append(repr(value))
        else:
            out.append(json.dumps(value))
    return out


def _json_record(name: str, row: int, text: str, obj: Any, columns: list[str], builder: _BatchBuilder) -> None:
    if not isinstance(obj, dict):
        builder.rejects.append(
            Reject(name, row, f"expected a JSON object, found {type(obj).__name__}", _truncate(text))
        )
        return
    builder.add(row, _json_values(obj, columns))


def _ndjson_rows(path: Path, columns: list[str], name: str, builder: _BatchBuilder, *, encoding: str) -> Iterator[None]:
    with _open_text(path, encoding) as fh:
        for number, line in enumerate(fh, start=1):
            text = line.strip()
            if not text:
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                builder.rejects.append(
                    Reject(name, number, f"invalid JSON at column {exc.colno}: {exc.msg}", _truncate(text))
                )
            else:
                _json_record(name, number, text, obj, columns, builder)
            yield None


_NUMBER_CHARS = frozenset("0123456789.eE+-")


def _is_number(obj: Any) -> bool:
    return isinstance(obj, (int, float)) and not isinstance(obj, bool)


def _json_array_rows(
    path: Path, columns: list[str], name: str, builder: _BatchBuilder, *, encoding: str
) -> Iterator[None]:
    """Decode a top-level JSON array one element at a time (incremental ``raw_decode``)."""
    decoder = json.JSONDecoder()
    with _open_text(path, encoding) as fh:
        buf = fh.read(_JSON_CHUNK)
        eof = not buf
        pos = 0

        def more() -> None:
            nonlocal buf, pos, eof
            chunk = fh.read(_JSON_CHUNK)
            eof = not chunk
            buf = buf[pos:] + chunk
            pos = 0

        def skip(chars: str) -> None:
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in chars:
                    pos += 1
                if pos < len(buf) or eof:
                    return
                more()

        skip(" \t\r\n")
        if pos >= len(buf):
            return  # empty file
        if buf[pos] != "[":
            raise SourceFileError(f"{name}: row 1: expected a JSON array, found {buf[pos]!r}")
        pos += 1
        element = 0
        while True:
            skip(" \t\r\n")
            if pos < len(buf) and buf[pos] == "]":
                return
            if element:
                if pos >= len(buf) or buf[pos] != ",":
                    raise SourceFileError(f"{name}: element {element + 1}: expected ',' or ']' in the JSON array")
                pos += 1
                skip(" \t\r\n")
            element += 1
            while True:
                try:
                    obj, end = decoder.raw_decode(buf, pos)
                except json.JSONDecodeError as exc:
                    if not eof:
                        more()
                        continue
                    raise SourceFileError(f"{name}: element {element}: invalid JSON: {exc.msg}") from None
                if not eof and (end >= len(buf) or (_is_number(obj) and buf[end] in _NUMBER_CHARS)):
                    # a number at the end of the buffer may continue in the next chunk; raw_decode
                    # stops a number before a trailing '.', 'e' or '-' ("1." | "5"), so look past it
                    more()
                    continue
                break
            _json_record(name, element, buf[pos:end], obj, columns, builder)
            pos = end
            yield None


def _parquet_batches(
    path: Path, columns: list[str], name: str, batch_rows: int, optional: Collection[str] = ()
) -> Iterator[tuple[Any, list[Reject]]]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceFileError(f"{name}: not a readable Parquet file: {exc}") from None
    present = parquet.schema_arrow.names
    missing = [c for c in columns if c not in present and c not in optional]
    if missing:
        raise SourceFileError(f"{name}: missing column(s) {', '.join(missing)} (columns: {', '.join(present)})")
    offset = 0
    readable = [c for c in columns if c in present]
    for batch in parquet.iter_batches(batch_size=batch_rows, columns=readable):
        arrays = []
        for col in columns:
            if col not in present:
                arrays.append(pa.nulls(batch.num_rows, pa.string()))
                continue
            arr = batch.column(col)
            if pa.types.is_timestamp(arr.type) and arr.type.tz:
                # Arrow's %S already carries the unit's fraction of a second ("05.123456")
                arr = pc.strftime(arr, format="%Y-%m-%dT%H:%M:%S%z")
            arrays.append(pc.cast(arr, pa.string()))
        arrays.append(pa.array(range(offset + 1, offset + batch.num_rows + 1), type=pa.int64()))
        offset += batch.num_rows
        yield pa.RecordBatch.from_arrays(arrays, names=[*columns, ROW_COLUMN]), []


def source_columns(
    path: str | Path, *, fmt: str | None = None, delimiter: str = ",", encoding: str = "utf-8"
) -> list[str]:
    """The columns a source file has (CSV header, Parquet schema, keys of the first JSON record)."""
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return list(pq.ParquetFile(path).schema_arrow.names)
    with _open_text(path, encoding) as fh:
        if fmt == "csv":
            return next(csv.reader(fh, delimiter=delimiter), [])
        if fmt == "ndjson":
            for line in fh:
                if line.strip():
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    return list(obj) if isinstance(obj, dict) else []
            return []
    return []


def count_records(path: str | Path, *, fmt: str | None = None, delimiter: str = ",", encoding: str = "utf-8") -> int:
    """Records in a source file as the gate will see them: readable rows plus rejects.

    Used for the raw manifest, so ``rows in = rows passed + quarantined + duplicates`` can be checked.
    """
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    total = 0
    # an empty column list still walks every record (and counts rejects) without building values
    for batch, rejects in read_batches(path, [], fmt=fmt, delimiter=delimiter, encoding=encoding):
        total += batch.num_rows + len(rejects)
    return total
