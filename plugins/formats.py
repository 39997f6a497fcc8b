"""Streaming readers for source files: CSV, JSON array, NDJSON and Parquet (optionally gzip or zstd).

Every reader yields Arrow record batches of *strings* plus a ``_row`` column (where the record is:
the line number for CSV and NDJSON, the element number for a JSON array, the row number for
Parquet) and a list of :class:`Reject` for records that could not be read at all. Typing happens in
the quality gate, so every cast failure is reported the same way whatever the format.

Nothing here holds a whole file in memory: text is read line by line, JSON arrays are decoded one
element at a time, Parquet by row group batches.

CSV has two readers that give identical results. The **fast path** (Arrow's C++ streaming CSV
reader) takes every UTF-8 file without blank lines whose quotes, if any, are closed on their own
line and quote as both readers agree (a quoted field starts after a delimiter or at the line's
start and ends before one or at the line's end; ``""`` inside it is a quote): there each physical
line after the header is exactly one record, so ``_row`` (the line number) and the rejects (wrong
field count, reported by Arrow's ``invalid_row_handler`` with the line number) are exact. Anything
else - quoted fields spanning lines, malformed quoting, blank lines, other encodings - goes through
the Python ``csv`` reader, which numbers a record by the line it starts on. Which reader a file
takes is decided by one scan of its bytes, the same way for counting at ingestion and for reading
in the gate, so the counts always agree.

NDJSON likewise has a fast path (DuckDB's JSON parser over blocks of lines, in
:mod:`lockgate.formats_fast`) that hands every line it cannot read exactly as the Python reader
does to the Python reader, so both give identical results. So do JSON array files: their elements,
found by a byte scan, go through the same routine as NDJSON lines, and at the first element that
routine and Python's decoder cannot both vouch for, the Python reader takes the rest of the file.

Header matching: a contract column matches a header name exactly, else ignoring case and
surrounding whitespace (``" Station_ID "`` feeds ``station_id``); the order of columns in the file
does not matter. Two header names that would feed one contract column (``id`` and ``" ID "``, or
``value`` twice) are an error naming the column: which one the producer meant cannot be told.
Repeated names of columns the contract does not read are left alone (they are schema drift). A JSON
object with a repeated key (at any depth) is quarantined naming the key, for the same reason.

Records, not files - what a reader does with a record it cannot read, per :class:`ReadSettings`
(file source options ``max_field_bytes``, ``max_undecodable_percent``, ``allow_empty``, recorded in
the raw manifest so ingestion and the gate read a file alike):

* **Undecodable bytes.** Text is decoded with an error handler that keeps each undecodable byte
  (as a lone surrogate, never valid text), so the record holding it is quarantined - the reason
  gives the bytes, their byte offset in the (decompressed) file, the line and the encoding - and
  the rest of the file goes on. A file where more than ``max_undecodable_percent`` (default 10) of
  the records are undecodable fails naming the file and suggesting the ``encoding:`` setting; so
  does an undecodable header. A file that starts with a UTF-16 (or UTF-32) byte-order mark, or
  whose first 4 KB are over a quarter NUL bytes, fails at once suggesting ``encoding: utf-16``
  (unless that is the declared encoding).
* **Oversized fields.** A value of a column the contract reads that is longer than
  ``max_field_bytes`` (UTF-8 bytes of the value; default 1 MiB) quarantines its record naming the
  column and the length; the quarantined record keeps the first KB of that value and its length
  (``"SSSS... (52,428,800 bytes)"``). Rows after it go on. The CSV Python reader measures a field up
  to 64 Mi characters (or ``max_field_bytes`` if larger); a longer one is quarantined as a malformed
  record without its first KB. Parquet values are typed and are not limited.
* **Empty deliveries.** A file with no records - zero bytes, a CSV header and nothing else, only
  blank lines, an empty JSON array, a Parquet file of 0 rows - is an error naming the file unless
  ``allow_empty`` is set (then it is 0 rows). A truncated export looks exactly like an empty one,
  and replacing a loaded day with nothing must be a decision, not an accident.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import os
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
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


#: default of :attr:`ReadSettings.max_field_bytes`: 1 MiB of UTF-8 per value
DEFAULT_MAX_FIELD_BYTES = 1 << 20
#: default of :attr:`ReadSettings.max_undecodable_percent`
DEFAULT_MAX_UNDECODABLE_PERCENT = 10.0
#: how much of an oversized value its quarantined record keeps
KEPT_FIELD_BYTES = 1024
#: lines up to this long may take the CSV fast path (and up to half of Arrow's block: a row must fit in one)
_FAST_LINE_BYTES = 1 << 20
#: Arrow's CSV block: its streaming reader's memory grows with the rows read at 4 MiB blocks (pyarrow
#: 26, 1M -> 10M readings: 150 -> 260 MiB) and not at 1 MiB (112 -> 117 MiB), for the same speed
_ARROW_BLOCK = 1 << 20
#: the Python csv reader builds a field up to this many characters (or max_field_bytes if larger)
#: before giving up on it, so an oversized field can be measured and its first KB kept
_CSV_MEASURE_CHARS = 64 << 20
_SNIFF_BYTES = 4096
#: NDJSON goes through the fast path (lockgate.formats_fast) where it can be exact; False: the
#: Python reader for every file (the reference the fast path is tested against)
FAST_NDJSON = True
#: JSON array files go through the fast path (lockgate.formats_fast.json_array_batches) where it
#: can be exact; False: the Python reader for every file (the reference it is tested against)
FAST_JSON = True


class SourceFileError(ValueError):
    """A file cannot be read at all; the message names the file (and the row or column if known)."""


class DuplicateColumnError(ValueError):
    """Two header names would feed one contract column; the message names the column and both names."""


@dataclass(frozen=True)
class ReadSettings:
    """How a source file's unreadable records and emptiness are treated (see the module doc).

    :param max_field_bytes: a value longer than this (UTF-8 bytes) quarantines its record.
    :param max_undecodable_percent: a file with a larger share of undecodable records fails.
    :param allow_empty: a file with no records is 0 rows instead of an error.
    """

    max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES
    max_undecodable_percent: float = DEFAULT_MAX_UNDECODABLE_PERCENT
    allow_empty: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.max_field_bytes, bool) or not isinstance(self.max_field_bytes, int):
            raise ValueError(f"max_field_bytes must be a whole number of bytes, not {self.max_field_bytes!r}")
        if self.max_field_bytes < 1:
            raise ValueError(f"max_field_bytes must be at least 1, not {self.max_field_bytes}")
        if not 0 <= self.max_undecodable_percent <= 100:
            raise ValueError(f"max_undecodable_percent must be between 0 and 100, not {self.max_undecodable_percent}")

    def manifest(self) -> dict[str, Any]:
        """The settings as the raw manifest records them (the gate reads them back)."""
        return {
            "max_field_bytes": self.max_field_bytes,
            "max_undecodable_percent": self.max_undecodable_percent,
            "allow_empty": self.allow_empty,
        }

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> ReadSettings:
        """The settings a raw manifest recorded (defaults for a manifest written before they existed)."""
        return cls(
            max_field_bytes=int(manifest.get("max_field_bytes", DEFAULT_MAX_FIELD_BYTES)),
            max_undecodable_percent=float(manifest.get("max_undecodable_percent", DEFAULT_MAX_UNDECODABLE_PERCENT)),
            allow_empty=bool(manifest.get("allow_empty", False)),
        )


DEFAULT_SETTINGS = ReadSettings()

#: the error handler the text readers decode with: each byte that does not decode becomes the lone
#: surrogate U+DC00+byte (like Python's "surrogateescape", but for every byte and every codec). A
#: decoder never produces a lone surrogate from valid text, so the marks find the record to
#: quarantine, show its bytes, and the rest of the file goes on.
_UNDECODABLE = "lockgate.undecodable"
_MARKS = re.compile("[\udc00-\udcff]+")


def _keep_undecodable(exc: UnicodeError) -> tuple[str | bytes, int]:
    if isinstance(exc, UnicodeDecodeError):
        return "".join(chr(0xDC00 + b) for b in exc.object[exc.start : exc.end]), exc.end
    if isinstance(exc, UnicodeEncodeError):
        # measuring a marked line in bytes: each mark is the one byte it stands for
        chars = exc.object[exc.start : exc.end]
        if all(0xDC00 <= ord(c) <= 0xDCFF for c in chars):
            return bytes(ord(c) - 0xDC00 for c in chars), exc.end
    raise exc


codecs.register_error(_UNDECODABLE, _keep_undecodable)


def _unmark(text: str) -> bytes:
    return bytes(ord(c) - 0xDC00 for c in text)


def _shown(text: str) -> str:
    """Text with each undecodable byte written ``\\xNN``, for a quarantined record."""
    return _MARKS.sub(lambda m: "".join(f"\\x{b:02x}" for b in _unmark(m.group())), text)


@dataclass(frozen=True)
class _BadBytes:
    """Where the first undecodable bytes of a record are."""

    data: bytes
    offset: int  # byte offset in the (decompressed) file, from 0
    line: int | None = None
    in_line: int = 0  # byte offset in the line, from 0

    def reason(self, encoding: str) -> str:
        shown = "".join(f"\\x{b:02x}" for b in self.data[:16])
        where = f" (line {self.line}, byte {self.in_line + 1} of the line)" if self.line is not None else ""
        return f"not valid {encoding} text: undecodable byte(s) {shown} at byte offset {self.offset}{where}"


@dataclass(frozen=True)
class _Text:
    """How a text file is decoded and measured."""

    codec: str  # the codec text is decoded with (utf-8-sig for any UTF-8: it strips a BOM)
    measure: str  # the codec that gives a text's length in bytes (no byte-order mark)
    ascii_bytes: bool  # an ASCII character is one byte (a shortcut for measuring)
    bom: int  # bytes of byte-order mark the decoder strips before the first character
    empty: bool  # the (decompressed) file has no bytes at all

    def size(self, text: str) -> int:
        """Bytes ``text`` took in the file (each undecodable-byte mark is the one byte it stands for)."""
        if self.ascii_bytes and text.isascii():
            return len(text)
        try:
            return len(text.encode(self.measure))
        except UnicodeEncodeError:
            # marks cannot be encoded back by every codec (UTF-16 refuses odd bytes): count them apart
            marks = sum(len(m) for m in _MARKS.findall(text))
            return len(_MARKS.sub("", text).encode(self.measure)) + marks


def _text_info(path: Path, encoding: str, name: str) -> _Text:
    """Look at the first bytes of a text file: refuse UTF-16 read as something else, find the BOM."""
    try:
        codec = codecs.lookup("utf-8-sig" if _is_utf8(encoding) else encoding).name
    except LookupError:
        raise SourceFileError(f"{name}: unknown encoding {encoding!r} (the source's `encoding:` setting)") from None
    with _open_binary(path) as fh:
        head = fh.read(_SNIFF_BYTES)
    _refuse_utf16_lookalike(head, codec, encoding, name)
    boms = {
        "utf-8-sig": (codecs.BOM_UTF8,),
        "utf-16": (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE),
        "utf-32": (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE),
    }
    bom = next((len(b) for b in boms.get(codec, ()) if head.startswith(b)), 0)
    measure = {"utf-8-sig": "utf-8", "utf-16": "utf-16-le", "utf-32": "utf-32-le"}.get(codec, codec)
    ascii_chars = bytes(range(128))
    try:
        ascii_bytes = ascii_chars.decode("ascii").encode(measure) == ascii_chars
    except UnicodeError:
        ascii_bytes = False
    return _Text(codec, measure, ascii_bytes, bom, not head)


def _refuse_utf16_lookalike(head: bytes, codec: str, encoding: str, name: str) -> None:
    """A UTF-16/32 file read as another encoding is not a few bad records: fail, naming the setting."""
    if codec.startswith(("utf-16", "utf-32")):
        return
    for bom, wide in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if head.startswith(bom):
            raise SourceFileError(
                f"{name}: starts with the {wide.upper()} byte-order mark {bom.hex(' ').upper()}, but the source's "
                f"encoding is {encoding}: set `encoding: {wide}` on the source"
            )
    nuls = head.count(0)
    if len(head) >= 16 and nuls * 4 > len(head):
        order = "le" if head[1::2].count(0) > head[0::2].count(0) else "be"
        raise SourceFileError(
            f"{name}: {nuls} of its first {len(head)} bytes are NUL: this looks like UTF-16 text without a "
            f"byte-order mark, not {encoding}: set `encoding: utf-16-{order}` (or `encoding: utf-16` for a "
            "file with a byte-order mark) on the source"
        )


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
    # utf-8-sig strips a byte-order mark when there is one and is plain utf-8 otherwise; undecodable
    # bytes are kept as marks (see _keep_undecodable), so one bad record never fails the file
    enc = "utf-8-sig" if _is_utf8(encoding) else encoding
    if compression_of(path):
        return io.TextIOWrapper(_open_binary(path), encoding=enc, errors=_UNDECODABLE, newline="")
    return open(path, encoding=enc, errors=_UNDECODABLE, newline="")


def _header_key(name: str) -> str:
    return name.strip().casefold()


def match_columns(header: list[str], columns: list[str]) -> list[int | None]:
    """Position in ``header`` of each contract column (None: absent).

    A header name feeds a contract column when it is equal ignoring case and surrounding whitespace
    (``" Station_ID "`` -> ``station_id``). Two header names feeding one column (``id`` and
    ``" ID "``, or ``value`` twice) raise :class:`DuplicateColumnError` naming the column: reading
    either one would be a guess.
    """
    loose: dict[str, list[int]] = {}
    for i, h in enumerate(header):
        loose.setdefault(_header_key(h), []).append(i)
    positions: list[int | None] = []
    for c in columns:
        found = loose.get(_header_key(c), [])
        if len(found) > 1:
            names = " and ".join(f"{header[i]!r} (field {i + 1})" for i in found)
            raise DuplicateColumnError(
                f"column {c} is named {len(found)} times in the header: {names}; rename or drop all but one"
            )
        positions.append(found[0] if found else None)
    return positions


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


def _kept(value: str) -> str:
    """A value as a quarantined record keeps it: whole, or its first KB and its length in bytes."""
    if len(value) * 4 <= KEPT_FIELD_BYTES:
        return value
    data = value.encode("utf-8", _UNDECODABLE)
    if len(data) <= KEPT_FIELD_BYTES:
        return value
    return data[:KEPT_FIELD_BYTES].decode("utf-8", "ignore") + f"... ({len(data):,} bytes)"


def _oversized(values: list[str | None], limit: int) -> tuple[int, int] | None:
    """(index, UTF-8 bytes) of the first value longer than ``limit`` bytes, or None."""
    for i, value in enumerate(values):
        # a character is at most 4 bytes: only a long value needs measuring
        if value is not None and len(value) * 4 > limit:
            size = len(value.encode("utf-8", _UNDECODABLE))
            if size > limit:
                return i, size
    return None


def _oversized_reason(column: str, size: int, limit: int) -> str:
    return (
        f"column {column}: a value of {size:,} bytes is over the field limit of {limit:,} bytes "
        f"(max_field_bytes); the record keeps its first {KEPT_FIELD_BYTES:,} bytes"
    )


class _BatchBuilder:
    """Accumulates string rows column-wise and emits Arrow record batches."""

    def __init__(self, columns: list[str], batch_rows: int) -> None:
        self.columns = columns
        self.batch_rows = batch_rows
        self._values: list[list[str | None]] = [[] for _ in columns]
        self._rows: list[int] = []
        self.rejects: list[Reject] = []
        #: records rejected for undecodable bytes, and the first one's reason
        self.undecodable = 0
        self.first_undecodable = ""

    def reject_undecodable(self, reject: Reject) -> None:
        self.rejects.append(reject)
        self.undecodable += 1
        self.first_undecodable = self.first_undecodable or f"row {reject.row}: {reject.reason}"

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
    settings: ReadSettings = DEFAULT_SETTINGS,
) -> Iterator[tuple[Any, list[Reject]]]:
    """Yield ``(record_batch, rejects)`` for ``columns`` of a source file, as strings.

    :param path: local file to read.
    :param columns: the contract's columns; a source missing one of them is an error naming it,
        unless it is in ``optional`` (nullable columns): then its values are null.
        Extra source columns are ignored (they are reported by :func:`source_columns`).
    :param fmt: one of :data:`FORMATS`; detected from the file name when omitted.
    :param display_name: how the file is named in rejects and errors (e.g. its lake key).
    :param settings: field limit, undecodable share and whether an empty file is allowed.
    :raises SourceFileError: the file cannot be read, is mostly undecodable, or has no records
        (unless ``settings.allow_empty``); the message starts with the file's name.
    """
    path = Path(path)
    fmt = fmt or detect_format(path)
    name = display_name or str(path)
    if fmt not in FORMATS:
        raise SourceFileError(f"{name}: unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    seen = 0
    for batch, rejects in _batches(path, columns, fmt, name, delimiter, encoding, batch_rows, optional, settings):
        seen += batch.num_rows + len(rejects)
        yield batch, rejects
    if not seen:
        refuse_empty(path, fmt, name, settings, delimiter=delimiter, encoding=encoding)


def refuse_empty(
    path: Path, fmt: str, name: str, settings: ReadSettings, *, delimiter: str = ",", encoding: str = "utf-8"
) -> None:
    """Raise for a file with no records unless ``settings.allow_empty``; the message says what it holds."""
    if settings.allow_empty:
        return
    if not _has_bytes(path):
        what = "is empty (0 bytes): no header, no records"
    elif fmt == "csv":
        header = source_columns(path, fmt=fmt, delimiter=delimiter, encoding=encoding)
        what = (
            f"has a header ({_truncate(delimiter.join(header), 200)}) but no records"
            if header
            else "has no header and no records"
        )
    elif fmt == "ndjson":
        what = "has no records (blank lines only)"
    elif fmt == "json":
        what = "is an empty JSON array: no records"
    else:
        what = "has no rows"
    raise SourceFileError(
        f"{name}: {what}. A truncated or failed export looks exactly like this, so an empty delivery "
        "is refused; if files without records are expected from this source, set allow_empty: true on it"
    )


def _has_bytes(path: Path) -> bool:
    if not compression_of(path):
        return path.stat().st_size > 0
    try:
        with _open_binary(path) as fh:
            return bool(fh.read(1))
    except (EOFError, OSError, ValueError):
        return True  # the reader has reported what is wrong with it


def _batches(
    path: Path,
    columns: list[str],
    fmt: str,
    name: str,
    delimiter: str,
    encoding: str,
    batch_rows: int,
    optional: Collection[str],
    settings: ReadSettings,
) -> Iterator[tuple[Any, list[Reject]]]:
    """The reader of each format (see :func:`read_batches`), errors mapped to :class:`SourceFileError`."""
    if fmt == "parquet":
        with _seekable(path, name) as local:
            yield from _parquet_batches(local, columns, name, batch_rows, optional)
        return
    builder = _BatchBuilder(columns, batch_rows)
    seen = 0
    try:
        if fmt == "csv":
            plan = _scan_csv(path, delimiter, encoding, min(settings.max_field_bytes, _FAST_LINE_BYTES))
            if plan is not None:
                yield from _csv_fast_batches(
                    path, plan, columns, name, delimiter=delimiter, batch_rows=batch_rows, optional=optional
                )
                return
        text = _text_info(path, encoding, name)
        if fmt == "ndjson" and columns and FAST_NDJSON and _is_utf8(encoding):
            from lockgate.formats_fast import ndjson_batches

            yield from ndjson_batches(
                path, columns, name, encoding=encoding, text=text, settings=settings, batch_rows=batch_rows
            )
            return
        if fmt == "json" and FAST_JSON and _is_utf8(encoding):
            from lockgate.formats_fast import json_array_batches

            # (with no columns too: counting walks and checks every element as reading does)
            yield from json_array_batches(
                path, columns, name, encoding=encoding, text=text, settings=settings, batch_rows=batch_rows
            )
            return
        if fmt == "csv":
            rows = _csv_rows(
                path,
                columns,
                name,
                builder,
                delimiter=delimiter,
                encoding=encoding,
                text=text,
                settings=settings,
                optional=optional,
            )
        elif fmt == "ndjson":
            rows = _ndjson_rows(path, columns, name, builder, encoding=encoding, text=text, settings=settings)
        else:
            rows = _json_array_rows(path, columns, name, builder, encoding=encoding, text=text, settings=settings)
        for _ in rows:
            if builder.full():
                batch, rejects = builder.flush()
                seen += batch.num_rows + len(rejects)
                yield batch, rejects
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        raise SourceFileError(f"{name}: unreadable: {exc}") from None
    except ValueError as exc:
        if type(exc).__name__ != "ArrowInvalid":  # a corrupt zstd frame, from pyarrow's stream
            raise
        raise SourceFileError(f"{name}: unreadable: {exc}") from None
    batch, rejects = builder.flush()
    seen += batch.num_rows + len(rejects)
    if batch.num_rows or rejects:
        yield batch, rejects
    _refuse_mostly_undecodable(builder, seen, name, encoding, settings)


def _refuse_mostly_undecodable(
    builder: _BatchBuilder, records: int, name: str, encoding: str, settings: ReadSettings
) -> None:
    """A file with more undecodable records than the setting allows is in another encoding."""
    if not builder.undecodable or builder.undecodable * 100 <= settings.max_undecodable_percent * records:
        return
    share = 100 * builder.undecodable / records
    raise SourceFileError(
        f"{name}: {builder.undecodable} of {records} records ({share:.1f}%) are not valid {encoding} text, "
        f"more than max_undecodable_percent ({settings.max_undecodable_percent:g}%); the first: "
        f"{builder.first_undecodable}. The file is probably in another encoding: set `encoding:` on the source "
        "(e.g. `encoding: cp1252` or `encoding: latin-1`)"
    )


class _Lines:
    """A text file's lines as ``csv`` and the NDJSON reader see them, with the byte offset each
    starts at; the first undecodable bytes of each line holding some are kept by line number."""

    def __init__(self, fh: IO[str], text: _Text, number: int = 0, offset: int | None = None) -> None:
        self.fh = fh
        self.text = text
        #: the number of the line before the first one (a reader taking over mid-file starts later)
        self.number = number
        #: the byte offset (in the decompressed file) the first line starts at
        self.offset = text.bom if offset is None else offset
        self.bad: dict[int, _BadBytes] = {}

    def __iter__(self) -> Iterator[str]:
        offset = self.offset
        size = self.text.size
        for line in self.fh:
            self.number += 1
            if not line.isascii():
                found = _MARKS.search(line)
                if found:
                    before = size(line[: found.start()])
                    self.bad[self.number] = _BadBytes(_unmark(found.group()), offset + before, self.number, before)
            offset += size(line)
            yield line

    def take(self, first: int, last: int) -> _BadBytes | None:
        """The first undecodable bytes on lines ``first`` to ``last`` (forgotten once taken)."""
        if not self.bad:
            return None
        found = [self.bad.pop(n) for n in range(first, last + 1) if n in self.bad]
        return found[0] if found else None


def _header_positions(header: list[str], columns: list[str], name: str, optional: Collection[str]) -> list[int | None]:
    try:
        positions = match_columns(header, columns)
    except DuplicateColumnError as exc:
        raise SourceFileError(f"{name}: row 1: {exc}") from None
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
    #: the file has quote characters, each quoted field closed on its own line (see _quotes_closed)
    quoted: bool = False


def _scan_csv(path: Path, delimiter: str, encoding: str, line_limit: int = _FAST_LINE_BYTES) -> _FastCsv | None:
    """One streaming pass over a CSV's bytes: its header and record count when the fast path can
    read it exactly (UTF-8, quotes closed on their own line (:func:`_quotes_closed`), no blank
    line, no line over ``line_limit`` bytes), else None (the Python reader).

    With every quote closed on its line a record cannot span lines, and without blank lines every
    line after the header is one record (a row or a reject), so the record count is the line count. A line no longer
    than ``line_limit`` (at most ``max_field_bytes``) cannot hold an oversized field.
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
    open_line = b""  # the last line of the previous chunk, not ended yet (for the quote check)
    quoted = False
    with _open_binary(path) as fh:
        while chunk := fh.read(_SCAN_CHUNK):
            if b"\x00" in chunk:
                return None  # a NUL byte (Python's csv rejects its record; Arrow would not)
            # Arrow fails on a line longer than its block ("straddling object"), and a field over
            # max_field_bytes is quarantined by the Python reader: a longer line takes the Python
            # reader, so both readers give the same result (a reject naming the row and column)
            since = _longest_line_within(chunk, since, min(line_limit, _ARROW_BLOCK // 2))
            if since < 0:
                return None
            # quotes are checked on whole lines: the line left open at a chunk's end waits for the next
            cut = max(chunk.rfind(b"\n"), chunk.rfind(b"\r")) + 1
            if b'"' in chunk or b'"' in open_line:
                quoted = True
                if cut and not _quotes_closed(open_line + chunk[:cut], delimiter):
                    return None  # quoting the fast path cannot take: the Python reader
            open_line = chunk[cut:] if cut else open_line + chunk
            # ASCII is valid UTF-8: isascii() is far cheaper than decoding (unless a character is
            # still open from the previous chunk)
            if not (chunk.isascii() and not decoder.getstate()[0]):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    return None  # the Python reader raises the error naming the file
            # a blank line is two line ends in a row other than "\r\n": "\n\n", "\r\r" or "\n\r"
            # ("\n" then a lone "\r", or then "\r\n")
            edge = tail + chunk[:2]
            if b"\n\n" in edge or b"\r\r" in edge or b"\n\r" in edge:
                return None  # a blank line across the chunk edge
            if not size:
                if chunk.removeprefix(codecs.BOM_UTF8)[:1] in (b"\n", b"\r"):
                    return None  # a blank header line: the Python reader reports it
                first_line = chunk
            if b"\r" in chunk:
                if b"\n\n" in chunk or b"\r\r" in chunk or b"\n\r" in chunk:
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
    if open_line and b'"' in open_line and not _quotes_closed(open_line, delimiter):
        return None
    if not size:
        return _FastCsv([], 0)
    if not tail.endswith((b"\n", b"\r")):
        lines += 1  # the last line has no terminator
    end = min((i for i in (first_line.find(b"\n"), first_line.find(b"\r")) if i >= 0), default=-1)
    if end < 0 and lines > 1:
        return None  # a header longer than a scan chunk: let the Python reader deal with it
    text = (first_line if end < 0 else first_line[:end]).decode("utf-8-sig")
    header = next(csv.reader([text], delimiter=delimiter, strict=True)) if '"' in text else text.split(delimiter)
    return _FastCsv(header, lines - 1, quoted)


def _quotes_closed(data: bytes, delimiter: str) -> bool:
    """Whether every quote in ``data`` (whole lines) is quoting as Python's ``csv`` (strict, doubled
    quotes) and Arrow's reader both read it, within its line.

    Per line the quotes pair up: an opening one starts a field (after a delimiter or at the line's
    start) or follows the closing one right before it (a doubled quote inside the field); a closing
    one ends the field (before a delimiter or the line's end) or is followed by an opening one.
    Anything else - a quote inside an unquoted field, text after a closing quote, a quoted field
    going on to the next line (an odd number of quotes on a line) - takes the Python reader.
    """
    import numpy as np

    arr = np.frombuffer(data, np.uint8)
    quotes = np.flatnonzero(arr == ord('"'))
    if not len(quotes):
        return True
    ends = np.flatnonzero((arr == ord("\n")) | (arr == ord("\r")))
    # an even number of quotes before every line end: each line has an even number, and a
    # quote's place among all of them tells opening (even) from closing (odd) as in its own line
    if (np.searchsorted(quotes, ends) % 2).any() or len(quotes) % 2:
        return False
    sep = ord(delimiter)

    def bound(byte: Any) -> Any:
        return (byte == sep) | (byte == ord("\n")) | (byte == ord("\r"))

    gaps = np.diff(quotes) == 1  # quote i + 1 is right after quote i (a doubled quote)
    opening, closing = quotes[0::2], quotes[1::2]
    # an opening quote starts the data or a field, or follows the closing one of a doubled quote
    open_ok = bound(arr[np.maximum(opening - 1, 0)]) | (opening == 0)
    open_ok[1:] |= gaps[1::2]
    # a closing quote ends the data or a field, or precedes the opening one of a doubled quote
    close_ok = bound(arr[np.minimum(closing + 1, len(arr) - 1)]) | (closing == len(arr) - 1)
    close_ok[:-1] |= gaps[1::2]
    return bool(open_ok.all() and close_ok.all())


def _int64s(values: Any) -> Any:
    """An Arrow int64 array over a numpy int64 array's memory."""
    import pyarrow as pa

    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


def _lines_around(line: int, n: int, skipped: Sequence[int]) -> Any:
    """The ``n`` line numbers from ``line`` on that are not in ``skipped`` (rejected lines), as numpy int64.

    At 0.1% bad rows nearly every block holds a reject, so this runs for most batches: numpy
    deletes the rejected lines from a range instead of a Python loop over every row.
    """
    import numpy as np

    # among n + len(skipped) lines from ``line``, at most len(skipped) are rejected: n are left
    end = line + n + len(skipped)
    ahead = np.unique(np.asarray(skipped, dtype=np.int64))
    ahead = ahead[(ahead >= line) & (ahead < end)]
    return np.delete(np.arange(line, end, dtype=np.int64), ahead - line)[:n]


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
        text = row.text or ""
        if plan.quoted and '"' in text:
            # the Python reader keeps a malformed record's fields joined, without their quotes
            text = delimiter.join(next(csv.reader([text], delimiter=delimiter, strict=True), []))
        bad.append((row.number, Reject(name, row.number, reason, _truncate(text))))
        return "skip"

    stream = _open_binary(path)
    try:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=_ARROW_BLOCK, skip_rows=1, column_names=names),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                quote_char='"' if plan.quoted else False,
                double_quote=True,
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
                kept = _lines_around(line, n, pending)
                numbers = _int64s(kept)
                line = int(kept[-1]) + 1 if n else line
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
    text: _Text,
    settings: ReadSettings,
    optional: Collection[str] = (),
) -> Iterator[None]:
    # the csv module's own limit (global, in characters) only has to let a field be measured: the
    # field limit is max_field_bytes, applied below with the column named and the first KB kept
    csv.field_size_limit(max(settings.max_field_bytes, _CSV_MEASURE_CHARS))
    with _open_text(path, encoding) as fh:
        lines = _Lines(fh, text)
        reader = csv.reader(lines, delimiter=delimiter, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            return  # zero bytes: read_batches reports it
        except csv.Error as exc:
            raise SourceFileError(f"{name}: row 1: malformed CSV header: {exc}") from None
        bad = lines.take(1, reader.line_num)
        if bad is not None:
            raise SourceFileError(
                f"{name}: row 1: the header is {bad.reason(encoding)}: the file is probably in another "
                "encoding: set `encoding:` on the source (e.g. `encoding: cp1252` or `encoding: latin-1`)"
            )
        if not header:
            if any(reader):
                raise SourceFileError(f"{name}: row 1: the header line is blank")
            return  # blank lines only: read_batches reports it
        positions = _header_positions(header, columns, name, optional)
        line = reader.line_num
        while True:
            start = line + 1
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                line = reader.line_num
                lines.take(start, line)
                # an unclosed quote makes one record of every line up to the end of the file
                span = f" (one record from lines {start} to {line}: a quote is never closed)" if line > start else ""
                builder.rejects.append(Reject(name, start, f"malformed CSV: {exc}{span}", ""))
                yield None
                continue
            line = reader.line_num
            if record:  # a blank line is no record
                _csv_record(
                    name,
                    start,
                    record,
                    header,
                    positions,
                    columns,
                    builder,
                    lines.take(start, line) if lines.bad else None,
                    settings,
                    encoding,
                    delimiter,
                )
                yield None


def _csv_record(
    name: str,
    row: int,
    record: list[str],
    header: list[str],
    positions: list[int | None],
    columns: list[str],
    builder: _BatchBuilder,
    bad: _BadBytes | None,
    settings: ReadSettings,
    encoding: str,
    delimiter: str,
) -> None:
    """One CSV record to the batch, or to the rejects with why (undecodable, ragged, oversized)."""
    if bad is not None:
        builder.reject_undecodable(Reject(name, row, bad.reason(encoding), _truncate(_shown(delimiter.join(record)))))
        return
    if len(record) != len(header):
        raw = delimiter.join(record)
        builder.rejects.append(Reject(name, row, f"expected {len(header)} fields, found {len(record)}", _truncate(raw)))
        return
    values = [record[p] if p is not None and record[p] != "" else None for p in positions]
    # a record whose fields together fit the limit (at 4 bytes a character) has no value over it
    big = _oversized(values, settings.max_field_bytes) if sum(map(len, record)) * 4 > settings.max_field_bytes else None
    if big is not None:
        column, size = columns[big[0]], big[1]
        raw = delimiter.join(_kept(v) for v in record)
        builder.rejects.append(
            Reject(name, row, _oversized_reason(column, size, settings.max_field_bytes), raw, column)
        )
        return
    builder.add(row, values)


class _KeyCheck:
    """``object_pairs_hook`` for the JSON decoder: builds dicts and notes keys an object repeats
    (``json`` keeps the last value silently)."""

    def __init__(self) -> None:
        self.repeated: list[str] = []

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen and key not in self.repeated:
                    self.repeated.append(key)
                seen.add(key)
        return obj


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


def _json_record(
    name: str,
    row: int,
    text: str,
    obj: Any,
    columns: list[str],
    builder: _BatchBuilder,
    keys: _KeyCheck,
    settings: ReadSettings,
) -> None:
    """One decoded JSON value to the batch, or to the rejects with why."""
    if keys.repeated:
        key = keys.repeated[0]
        column = key if key in columns else None
        where = f"column {column}: " if column else ""
        reason = f"{where}key {key!r} is repeated in a JSON object: which value is meant cannot be told"
        builder.rejects.append(Reject(name, row, reason, _truncate(_shown(text)), column))
        return
    if not isinstance(obj, dict):
        builder.rejects.append(
            Reject(name, row, f"expected a JSON object, found {type(obj).__name__}", _truncate(_shown(text)))
        )
        return
    values = _json_values(obj, columns)
    # a value is made from the record's text: at most 6 characters per one (json.dumps of a nested
    # "\u00e9" escape) and 4 bytes per character, so a short record needs no measuring
    big = _oversized(values, settings.max_field_bytes) if len(text) * 24 > settings.max_field_bytes else None
    if big is not None:
        column, size = columns[big[0]], big[1]
        raw = json.dumps(
            {c: _kept(v) for c, v in zip(columns, values, strict=True) if v is not None}, ensure_ascii=False
        )
        builder.rejects.append(
            Reject(name, row, _oversized_reason(column, size, settings.max_field_bytes), raw, column)
        )
        return
    lone = _lone_surrogate(values)
    if lone is not None:
        column = columns[lone]
        reason = (
            f"column {column}: the escape of a lone UTF-16 surrogate (\\ud800-\\udfff) is not a character, "
            "so the value cannot be stored as text"
        )
        builder.rejects.append(Reject(name, row, reason, _truncate(_shown(text)), column))
        return
    builder.add(row, values)


def _lone_surrogate(values: list[str | None]) -> int | None:
    """Position of the first value holding a lone surrogate (JSON's ``"\\ud800"`` decodes to one,
    and no UTF-8 writer can store it), or None."""
    for i, value in enumerate(values):
        if value is not None and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return i
    return None


def _ndjson_rows(
    path: Path,
    columns: list[str],
    name: str,
    builder: _BatchBuilder,
    *,
    encoding: str,
    text: _Text,
    settings: ReadSettings,
) -> Iterator[None]:
    with _open_text(path, encoding) as fh:
        yield from _ndjson_lines(_Lines(fh, text), columns, name, builder, encoding=encoding, settings=settings)


def _ndjson_lines(
    lines: _Lines,
    columns: list[str],
    name: str,
    builder: _BatchBuilder,
    *,
    encoding: str,
    settings: ReadSettings,
) -> Iterator[None]:
    """The exact NDJSON reader over lines (a whole file, or the rest of one the fast path handed over)."""
    keys = _KeyCheck()
    decoder = json.JSONDecoder(object_pairs_hook=keys)
    for line in lines:
        number = lines.number
        bad = lines.take(number, number) if lines.bad else None
        if bad is not None and line.strip():
            builder.reject_undecodable(Reject(name, number, bad.reason(encoding), _truncate(_shown(line.strip()))))
            yield None
        elif _ndjson_record(name, number, line, columns, builder, keys, decoder, settings):
            yield None


def _ndjson_record(
    name: str,
    number: int,
    line: str,
    columns: list[str],
    builder: _BatchBuilder,
    keys: _KeyCheck,
    decoder: json.JSONDecoder,
    settings: ReadSettings,
) -> bool:
    """One NDJSON line (without undecodable bytes) to the batch or the rejects; False for a blank line."""
    record = line.strip()
    if not record:
        return False
    if not columns:
        # counting (count_records): a non-blank line is one record whether it decodes or is
        # rejected, so the JSON is not decoded (most of the reading's time)
        builder.add(number, [])
        return True
    keys.repeated.clear()
    try:
        obj = decoder.decode(record)
    except json.JSONDecodeError as exc:
        builder.rejects.append(
            Reject(name, number, f"invalid JSON at column {exc.colno}: {exc.msg}", _truncate(record))
        )
    else:
        _json_record(name, number, record, obj, columns, builder, keys, settings)
    return True


_NUMBER_CHARS = frozenset("0123456789.eE+-")


def _is_number(obj: Any) -> bool:
    return isinstance(obj, (int, float)) and not isinstance(obj, bool)


def _json_array_rows(
    path: Path,
    columns: list[str],
    name: str,
    builder: _BatchBuilder,
    *,
    encoding: str,
    text: _Text,
    settings: ReadSettings,
) -> Iterator[None]:
    """Decode a top-level JSON array one element at a time (incremental ``raw_decode``)."""
    with _open_text(path, encoding) as fh:
        yield from _json_array_elements(fh, columns, name, builder, encoding=encoding, text=text, settings=settings)


def _json_array_elements(
    fh: IO[str],
    columns: list[str],
    name: str,
    builder: _BatchBuilder,
    *,
    encoding: str,
    text: _Text,
    settings: ReadSettings,
    after: int | None = None,
    offset: int = 0,
) -> Iterator[None]:
    """The exact JSON array reader over a text stream: from the file's start (``after`` None), or
    (a reader taking over mid-file) right after element ``after`` - right after the ``[`` for 0 -
    at byte ``offset`` of the file."""
    keys = _KeyCheck()
    decoder = json.JSONDecoder(object_pairs_hook=keys)
    buf = fh.read(_JSON_CHUNK)
    eof = not buf
    pos = 0
    dropped = text.bom if after is None else offset  # bytes of the file before buf[0]

    def more() -> None:
        nonlocal buf, pos, eof, dropped
        chunk = fh.read(_JSON_CHUNK)
        eof = not chunk
        dropped += text.size(buf[:pos])
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

    element = after or 0
    if after is None:
        skip(" \t\r\n")
        if pos >= len(buf):
            return  # empty file: read_batches reports it
        if buf[pos] != "[":
            raise SourceFileError(f"{name}: row 1: expected a JSON array, found {_shown(buf[pos])!r}")
        pos += 1
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
            keys.repeated.clear()
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
        found = _MARKS.search(buf, pos, end)
        if found is not None:
            # undecodable bytes inside a JSON string: that element is quarantined
            bad = _BadBytes(_unmark(found.group()), dropped + text.size(buf[: found.start()]))
            builder.reject_undecodable(Reject(name, element, bad.reason(encoding), _truncate(_shown(buf[pos:end]))))
        else:
            _json_record(name, element, buf[pos:end], obj, columns, builder, keys, settings)
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
    settings: ReadSettings = DEFAULT_SETTINGS,
) -> int:
    """Records in a source file as the gate will see them: readable rows plus rejects.

    Used for the raw manifest, so ``rows in = rows passed + quarantined + duplicates`` can be checked.
    ``display_name`` names the file in errors (e.g. its source URI rather than a local spool path).
    Raises :class:`SourceFileError` where :func:`read_batches` would: a file with no records (unless
    ``settings.allow_empty``), a mostly undecodable or UTF-16-looking file, an unreadable one.
    """
    path = Path(path)
    name = display_name or str(path)
    fmt = fmt or detect_format(path)
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        with _seekable(path, name) as local:
            try:
                rows = int(pq.ParquetFile(local).metadata.num_rows)
            except (pa.ArrowInvalid, OSError) as exc:
                raise SourceFileError(f"{name}: not a readable Parquet file: {exc}") from None
        if not rows:
            refuse_empty(path, fmt, name, settings)
        return rows
    if fmt == "csv":
        try:
            plan = _scan_csv(path, delimiter, encoding, min(settings.max_field_bytes, _FAST_LINE_BYTES))
        except (EOFError, gzip.BadGzipFile, OSError) as exc:
            raise SourceFileError(f"{name}: unreadable: {exc}") from None
        if plan is not None:
            # no quotes, no blank lines: every line after the header is one record (see _scan_csv)
            if not plan.records:
                refuse_empty(path, fmt, name, settings, delimiter=delimiter, encoding=encoding)
            return plan.records
    if fmt == "ndjson" and FAST_NDJSON and _is_utf8(encoding):
        from lockgate.formats_fast import count_ndjson

        _text_info(path, encoding, name)  # a UTF-16 look-alike fails as the reader would fail it
        try:
            fast = count_ndjson(path)
        except (EOFError, gzip.BadGzipFile, OSError, ValueError) as exc:
            if isinstance(exc, ValueError) and type(exc).__name__ != "ArrowInvalid":
                raise
            raise SourceFileError(f"{name}: unreadable: {exc}") from None
        if fast is not None:
            return fast
    total = 0
    # an empty column list still walks every record (and counts rejects) without building values
    for batch, rejects in read_batches(
        path, [], fmt=fmt, delimiter=delimiter, encoding=encoding, display_name=name, settings=settings
    ):
        total += batch.num_rows + len(rejects)
    return total
