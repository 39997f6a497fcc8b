"""Streaming readers for source files: CSV, JSON array, NDJSON and Parquet (optionally gzip or zstd).

Every reader yields Arrow record batches of *strings* plus a ``_row`` column (where the record is:
the line number for CSV and NDJSON, the element number for a JSON array, the row number for
Parquet) and a list of :class:`Reject` for records that could not be read at all. Typing happens in
the quality gate, so every cast failure is reported the same way whatever the format.

Nothing here holds a whole file in memory: text is read line by line, JSON arrays are decoded one
element at a time, Parquet by row group batches.

CSV has two readers that give identical results. The **fast path** (Arrow's C++ streaming CSV
reader) takes every UTF-8 file without a quote character and without blank lines: there each
physical line after the header is exactly one record, so ``_row`` (the line number) and the
rejects (wrong field count, reported by Arrow's ``invalid_row_handler`` with the line number) are
exact. Anything else - quoted fields (embedded delimiters, newlines, escaped quotes, malformed
quoting), blank lines, other encodings - goes through the Python ``csv`` reader, which numbers a
record by the line it starts on. Which reader a file takes is decided by one scan of its bytes,
the same way for counting at ingestion and for reading in the gate, so the counts always agree.

Header matching: a contract column matches a header name exactly, else ignoring case and
surrounding whitespace (``" Station_ID "`` feeds ``station_id``); the order of columns in the file
does not matter.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import os
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

FORMATS = ("csv", "json", "ndjson", "parquet")
ROW_COLUMN = "_row"
DEFAULT_BATCH_ROWS = 50_000
_JSON_CHUNK = 1 << 20
_SCAN_CHUNK = 8 << 20
#: file-name endings of the compressions the readers undo while streaming
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd"}


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


def compression_of(path: str | Path) -> str | None:
    """``"gzip"``, ``"zstd"`` or None, from the file name's last suffix."""
    return COMPRESSIONS.get(Path(str(path)).suffix.lower())


def detect_format(path: str | Path) -> str:
    """Format from the file name: ``x.csv``, ``x.ndjson``/``x.jsonl``, ``x.json``, ``x.parquet``
    (each optionally ``.gz``, ``.zst`` or ``.zstd``)."""
    name = Path(str(path)).name.lower()
    for suffix in COMPRESSIONS:
        name = name.removesuffix(suffix)
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


def _is_utf8(encoding: str) -> bool:
    return encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig")


def _open_binary(path: Path) -> IO[bytes]:
    """The file's bytes, decompressed while streaming when the name says gzip or zstd."""
    compression = compression_of(path)
    if compression == "gzip":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if compression == "zstd":
        import pyarrow as pa

        # pyarrow's NativeFile is a binary file object (read/readable/close), zstd from its bundled codec
        return pa.input_stream(str(path), compression="zstd")
    return open(path, "rb")


def _open_text(path: Path, encoding: str) -> IO[str]:
    # utf-8-sig strips a byte-order mark when there is one and is plain utf-8 otherwise
    enc = "utf-8-sig" if _is_utf8(encoding) else encoding
    if compression_of(path):
        return io.TextIOWrapper(_open_binary(path), encoding=enc, newline="")
    return open(path, encoding=enc, newline="")


def _header_key(name: str) -> str:
    return name.strip().casefold()


def match_columns(header: list[str], columns: list[str]) -> list[int | None]:
    """Position in ``header`` of each contract column (None: absent).

    An exact name wins; otherwise the first header name equal ignoring case and surrounding
    whitespace (``" Station_ID "`` -> ``station_id``).
    """
    exact = {h: i for i, h in reversed(list(enumerate(header)))}
    loose = {_header_key(h): i for i, h in reversed(list(enumerate(header)))}
    return [exact.get(c, loose.get(_header_key(c))) for c in columns]


def column_drift(present: list[str], names: list[str]) -> tuple[list[str], list[str]]:
    """(source columns no contract column matches, contract columns the source lacks), matched as
    :func:`match_columns` does."""
    positions = match_columns(present, names)
    used = {p for p in positions if p is not None}
    added = [c for i, c in enumerate(present) if i not in used]
    missing = [c for c, p in zip(names, positions, strict=True) if p is None]
    return added, missing


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
        with _seekable(path, name) as local:
            yield from _parquet_batches(local, columns, name, batch_rows, optional)
        return
    if fmt == "csv":
        try:
            plan = _scan_csv(path, delimiter, encoding)
            if plan is not None:
                yield from _csv_fast_batches(
                    path, plan, columns, name, delimiter=delimiter, batch_rows=batch_rows, optional=optional
                )
                return
        except (EOFError, gzip.BadGzipFile, OSError) as exc:
            raise SourceFileError(f"{name}: unreadable: {exc}") from None
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
        where = _locate_decode_error(path, encoding, "line" if fmt == "json" else "row")
        at = f" at {where}" if where else ""
        raise SourceFileError(f"{name}: not valid {encoding} text{at} ({exc.reason})") from None
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        raise SourceFileError(f"{name}: unreadable: {exc}") from None
    except ValueError as exc:
        if type(exc).__name__ != "ArrowInvalid":  # a corrupt zstd frame, from pyarrow's stream
            raise
        raise SourceFileError(f"{name}: unreadable: {exc}") from None
    batch, rejects = builder.flush()
    if batch.num_rows or rejects:
        yield batch, rejects


def _binary_lines(fh: IO[bytes]) -> Iterator[bytes]:
    """The lines of a binary stream, ``\n`` kept (compressed streams have no ``readline`` of their own)."""
    rest = b""
    while chunk := fh.read(_JSON_CHUNK):
        *lines, rest = (rest + chunk).split(b"\n")
        for line in lines:
            yield line + b"\n"
    if rest:
        yield rest


def _locate_decode_error(path: Path, encoding: str, unit: str) -> str:
    """``row N, byte B of the line`` of the first byte that does not decode (rows are lines, as the
    CSV and NDJSON readers number them); empty when it cannot be found again."""
    decoder = codecs.getincrementaldecoder("utf-8-sig" if _is_utf8(encoding) else encoding)()
    try:
        with _open_binary(path) as fh:
            for number, line in enumerate(_binary_lines(fh), start=1):
                try:
                    decoder.decode(line)
                except UnicodeDecodeError as exc:
                    return f"{unit} {number}, byte {max(exc.start, 0) + 1} of the line"
    except (EOFError, OSError, ValueError):
        pass
    return ""


def _header_positions(header: list[str], columns: list[str], name: str, optional: Collection[str]) -> list[int | None]:
    positions = match_columns(header, columns)
    missing = [c for c, p in zip(columns, positions, strict=True) if p is None and c not in optional]
    if missing:
        raise SourceFileError(f"{name}: row 1: missing column(s) {', '.join(missing)} (header: {', '.join(header)})")
    return positions


def _longest_line_within(chunk: bytes, since: int, limit: int) -> int:
    """Bytes of the line left open at the end of ``chunk``, or -1 when a line is longer than ``limit``.

    ``since`` is the length the first line already had in the previous chunk. Jumps from the last
    line end within each ``limit`` window, so a chunk of short lines costs a few ``rfind`` calls.
    """
    pos, carried = 0, since
    while True:
        budget = limit - carried
        if budget < 0:
            return -1
        if len(chunk) - pos <= budget:
            last = max(chunk.rfind(b"\n", pos), chunk.rfind(b"\r", pos))
            return carried + len(chunk) - pos if last < 0 else len(chunk) - last - 1
        end = max(chunk.rfind(b"\n", pos, pos + budget + 1), chunk.rfind(b"\r", pos, pos + budget + 1))
        if end < 0:
            return -1
        pos, carried = end + 1, 0


@dataclass(frozen=True)
class _FastCsv:
    """What the byte scan found about a CSV that can take the fast path."""

    header: list[str]
    records: int


def _scan_csv(path: Path, delimiter: str, encoding: str) -> _FastCsv | None:
    """One streaming pass over a CSV's bytes: its header and record count when the fast path can
    read it exactly (UTF-8, no quote character, no blank line), else None (the Python reader).

    Without quotes a record cannot span lines, and without blank lines every line after the header
    is one record (a row or a reject), so the record count is the line count.
    """
    if not _is_utf8(encoding) or len(delimiter) != 1 or delimiter in '"\r\n':
        return None
    import numpy as np

    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 0
    tail = b""  # the last two bytes of the previous chunk, for terminators across chunk edges
    first_line = b""
    size = 0
    since = 0  # bytes of the line still open at the end of the previous chunk
    with _open_binary(path) as fh:
        while chunk := fh.read(_SCAN_CHUNK):
            if b'"' in chunk or b"\x00" in chunk:
                return None  # quoting, or a NUL byte (Python's csv rejects its record; Arrow would not)
            # Arrow fails on a line longer than its block ("straddling object"), and the Python
            # reader rejects a field over csv.field_size_limit(): a longer line takes the Python
            # reader, so both readers give the same result (a reject naming the row)
            since = _longest_line_within(chunk, since, csv.field_size_limit())
            if since < 0:
                return None
            # ASCII is valid UTF-8: isascii() is far cheaper than decoding (unless a character is
            # still open from the previous chunk)
            if not (chunk.isascii() and not decoder.getstate()[0]):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    return None  # the Python reader raises the error naming the file
            edge = tail + chunk[:2]
            if b"\n\n" in edge or b"\r\r" in edge or b"\n\r\n" in edge:
                return None  # a blank line across the chunk edge
            if not size:
                if chunk.removeprefix(codecs.BOM_UTF8)[:1] in (b"\n", b"\r"):
                    return None  # a blank header line: the Python reader reports it
                first_line = chunk
            if b"\r" in chunk:
                if b"\n\n" in chunk or b"\r\r" in chunk or b"\n\r\n" in chunk:
                    return None  # a blank line: no record, but it shifts the line numbers
                # \n, \r\n and a lone \r each end a line (as in Python's csv and Arrow)
                lines += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
            else:
                # only \n: numpy counts the line ends and finds a blank line ("\n\n") at SIMD speed
                ends = np.frombuffer(chunk, np.uint8) == 10
                if (ends[1:] & ends[:-1]).any():
                    return None
                lines += int(np.count_nonzero(ends))
            if tail.endswith(b"\r") and chunk.startswith(b"\n"):
                lines -= 1  # a \r\n split across two chunks was counted twice
            size += len(chunk)
            tail = (tail + chunk[-2:])[-2:]
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return None
    if not size:
        return _FastCsv([], 0)
    if not tail.endswith((b"\n", b"\r")):
        lines += 1  # the last line has no terminator
    end = min((i for i in (first_line.find(b"\n"), first_line.find(b"\r")) if i >= 0), default=-1)
    if end < 0 and lines > 1:
        return None  # a header longer than a scan chunk: let the Python reader deal with it
    text = (first_line if end < 0 else first_line[:end]).decode("utf-8-sig")
    return _FastCsv(text.split(delimiter), lines - 1)


def _int64s(values: Any) -> Any:
    """An Arrow int64 array over a numpy int64 array's memory."""
    import pyarrow as pa

    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


def _csv_fast_batches(
    path: Path,
    plan: _FastCsv,
    columns: list[str],
    name: str,
    *,
    delimiter: str,
    batch_rows: int,
    optional: Collection[str],
) -> Iterator[tuple[Any, list[Reject]]]:
    """Arrow's streaming CSV reader over a file :func:`_scan_csv` accepted (see the module doc)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if not plan.header:
        return
    positions = _header_positions(plan.header, columns, name, optional)
    width = len(plan.header)
    # Arrow sees positional names, so odd or repeated header names cannot confuse it
    names = [f"f{i}" for i in range(width)]
    wanted = sorted({p for p in positions if p is not None})
    bad: list[tuple[int, Reject]] = []

    def invalid(row: Any) -> str:
        if row.number is None:  # pragma: no cover - Arrow knows line numbers in the serial reader
            raise SourceFileError(f"{name}: a malformed record at an unknown line")
        reason = f"expected {width} fields, found {row.actual_columns}"
        bad.append((row.number, Reject(name, row.number, reason, _truncate(row.text or ""))))
        return "skip"

    stream = _open_binary(path)
    try:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=4 << 20, skip_rows=1, column_names=names),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                quote_char=False,
                ignore_empty_lines=False,
                newlines_in_values=False,
                invalid_row_handler=invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={names[p]: pa.string() for p in wanted},
                include_columns=[names[p] for p in wanted],
                strings_can_be_null=True,
                null_values=[""],  # exactly the Python reader's rule: an empty field is missing
            ),
        )
        line = 2  # the next line a row can be on
        done = 0  # rejects already handed out
        # pa.nulls/from_buffers, not pa.array: pa.array looks for pandas objects and imports pandas
        empty = pa.RecordBatch.from_arrays(
            [pa.nulls(0, pa.string()) for _ in columns] + [pa.nulls(0, pa.int64())], names=[*columns, ROW_COLUMN]
        )
        for batch in reader:
            n = batch.num_rows
            pending = [b for b, _ in bad[done:]]
            if not pending or pending[0] > line + n - 1:
                numbers = _int64s(np.arange(line, line + n, dtype=np.int64))
                line += n
            else:
                # a reject among these lines: number the rows around it (rare, so a Python loop)
                skip, out = set(pending), list[int]()
                while len(out) < n:
                    if line not in skip:
                        out.append(line)
                    line += 1
                numbers = _int64s(np.array(out, dtype=np.int64))
            arrays = [batch.column(names[p]) if p is not None else pa.nulls(n, pa.string()) for p in positions]
            full = pa.RecordBatch.from_arrays([*arrays, numbers], names=[*columns, ROW_COLUMN])
            settled = [r for num, r in bad[done:] if num < line]
            done += len(settled)
            for start in range(0, n, batch_rows):
                yield full.slice(start, batch_rows), []
            for start in range(0, len(settled), batch_rows):
                yield empty, settled[start : start + batch_rows]
        rest = [r for _, r in bad[done:]]
        for start in range(0, len(rest), batch_rows):
            yield empty, rest[start : start + batch_rows]
    finally:
        stream.close()


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
        positions = _header_positions(header, columns, name, optional)
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
                # an unclosed quote makes one record of every line up to the end of the file
                span = f" (one record from lines {start} to {line}: a quote is never closed)" if line > start else ""
                builder.rejects.append(Reject(name, start, f"malformed CSV: {exc}{span}", ""))
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


@contextmanager
def _seekable(path: Path, name: str) -> Iterator[Path]:
    """A Parquet file as a plain local path: compressed ones (``x.parquet.zst``) are decompressed,
    streaming, into a temporary file next to them (Parquet needs to seek to its footer)."""
    if not compression_of(path):
        yield path
        return
    import shutil
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=".lockgate-", suffix=".parquet", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out, _open_binary(path) as src:
            shutil.copyfileobj(src, out, _SCAN_CHUNK)
    except (EOFError, gzip.BadGzipFile, OSError, ValueError) as exc:
        os.unlink(tmp)
        raise SourceFileError(f"{name}: unreadable: {exc}") from None
    try:
        yield Path(tmp)
    finally:
        os.unlink(tmp)


def parquet_schema(path: str | Path) -> Any:
    """The Arrow schema of a Parquet file, compressed as a whole (``x.parquet.zst``) or not."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    with _seekable(path, str(path)) as local:
        try:
            return pq.ParquetFile(local).schema_arrow
        except (pa.ArrowInvalid, OSError) as exc:
            raise SourceFileError(f"{path}: not a readable Parquet file: {exc}") from None


def source_columns(
    path: str | Path, *, fmt: str | None = None, delimiter: str = ",", encoding: str = "utf-8"
) -> list[str]:
    """The columns a source file has (CSV header, Parquet schema, keys of the first JSON record)."""
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with _seekable(path, str(path)) as local:
            return list(pq.ParquetFile(local).schema_arrow.names)
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


def count_records(
    path: str | Path,
    *,
    fmt: str | None = None,
    delimiter: str = ",",
    encoding: str = "utf-8",
    display_name: str | None = None,
) -> int:
    """Records in a source file as the gate will see them: readable rows plus rejects.

    Used for the raw manifest, so ``rows in = rows passed + quarantined + duplicates`` can be checked.
    ``display_name`` names the file in errors (e.g. its source URI rather than a local spool path).
    """
    path = Path(path)
    name = display_name or str(path)
    fmt = fmt or detect_format(path)
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        with _seekable(path, name) as local:
            try:
                return int(pq.ParquetFile(local).metadata.num_rows)
            except (pa.ArrowInvalid, OSError) as exc:
                raise SourceFileError(f"{name}: not a readable Parquet file: {exc}") from None
    if fmt == "csv":
        try:
            plan = _scan_csv(path, delimiter, encoding)
        except (EOFError, gzip.BadGzipFile, OSError) as exc:
            raise SourceFileError(f"{name}: unreadable: {exc}") from None
        if plan is not None:
            # no quotes, no blank lines: every line after the header is one record (see _scan_csv)
            return plan.records
    total = 0
    # an empty column list still walks every record (and counts rejects) without building values
    for batch, rejects in read_batches(path, [], fmt=fmt, delimiter=delimiter, encoding=encoding, display_name=name):
        total += batch.num_rows + len(rejects)
    return total
