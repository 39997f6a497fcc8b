"""The NDJSON and JSON array fast paths: DuckDB's JSON parser over blocks of records, exact or
handed to the Python reader.

:func:`lockgate.formats.read_batches` reads NDJSON here. The values, row numbers and rejects are
exactly those of the Python reader (``formats._ndjson_lines``), which stays the reference: every
line this module cannot vouch for is read by it.

A file is read in blocks of whole lines. In a block, each line is parsed by DuckDB
(``from_json_strict`` into a struct of the block's *template* keys - the keys of its first line
that Python decodes - every one as VARCHAR; DuckDB writes a JSON number into VARCHAR the way Python
``repr`` writes the decoded number: ``1.50`` -> ``1.5``, ``1e5`` -> ``100000.0``, ``-0`` -> ``0``).
DuckDB's parser is more lenient than Python's (trailing commas, ``nan``/``inf`` literals) and keeps
repeated keys, so a line is taken from DuckDB only when it provably means the same to both:

* it starts with ``{`` and ends with ``}`` (so it is not blank and needs no stripping);
* DuckDB parsed it and found every template key exactly once (``from_json_strict`` fails on a
  missing or repeated one), and the line has exactly ``len(template) - 1`` commas plus those inside
  its keys and string values: with every template key present that many commas leave no room for
  another key, a repeated one, a trailing comma, or an array or object with commas;
* no value of it starts like a nested value (``{``, ``[``), a NaN or infinity literal, or
  overflows Python's float (a long number or a three-digit exponent): Python writes those
  differently (``json.dumps``, ``nan``, ``inf``);
* no value of a read column is over ``max_field_bytes``.

Every other line (blank, invalid JSON, not an object, repeated keys, another key set, a lone
surrogate escape, ...) goes through the Python reader, numbered by its line. A block holding a
``\\r`` (Python also ends lines at a lone ``\\r``) is read by Python whole; a block that is not
valid UTF-8 hands the rest of the file to Python, which reports the undecodable bytes with their
byte offsets and applies ``max_undecodable_percent`` to the whole file.

A JSON array file (:func:`json_array_batches`) is cut into its elements by a byte scan, and the
elements of a buffer go through the same routine as the lines of a block (each "line" an element,
the commas between them blanked); its Python reader is ``formats._json_array_elements``, which
takes over for the rest of the file at the first element neither DuckDB nor Python's decoder can
vouch for on its own.
"""

from __future__ import annotations

import codecs
import collections
import functools
import io
import json
import threading
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import IO, Any

from lockgate import formats
from lockgate.formats import ROW_COLUMN, ReadSettings, Reject

#: bytes per block (cut at the last line end in it; a longer line makes its block longer)
BLOCK_BYTES = 8 << 20
#: threads reading blocks, blocks in flight (read or queued) at most, DuckDB threads of each reader
_WORKERS = 2
_AHEAD = 3
_DUCKDB_THREADS = 1
#: lines of a block not shaped like an object whose commas are counted one by one, at most
_FEW_OTHERS = 100
#: lines of a block tried, in order, as its template (a block starting with junk still goes fast)
_TEMPLATE_TRIES = 20
#: values DuckDB writes differently from Python: a nested one (compact JSON, Python's json.dumps
#: has spaces), a NaN or infinity literal (Python: nan, inf; DuckDB also takes nan, inf, -NaN...),
#: and, for a read column, a number overflowing a float (DuckDB keeps its text, Python writes inf):
#: a three-digit exponent or a very long number. Byte tests find the candidates (see _doubtful).
_ODD_READ = r"^(?:[\[{]|[-+]?(?i:nan|inf)|-?[0-9]+(?:\.[0-9]+)?[eE][-+]?[0-9]{3,}$|-?[0-9][0-9.eE+-]{299,}$)"
#: DuckDB's text of a value is at most this much longer than the value's JSON (a number: "1e15"
#: becomes "1000000000000000.0"; an escape only shortens), so short lines need no measuring
_LONGER_BY = 32


class _Blocks:
    """A binary stream in blocks of whole lines; :meth:`rest` is everything not yet handed out."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.pending = b""

    def __iter__(self) -> Iterator[bytes]:
        while True:
            chunk = self.fh.read(BLOCK_BYTES)
            if not chunk:
                if self.pending:
                    block, self.pending = self.pending, b""
                    yield block
                return
            buf = self.pending + chunk if self.pending else chunk
            cut = buf.rfind(b"\n") + 1
            if not cut:
                self.pending = buf  # a line longer than a block so far
                continue
            self.pending = buf[cut:]
            yield buf[:cut]

    def rest(self, block: bytes) -> IO[bytes]:
        """``block`` and every byte after it, as one stream."""
        return io.BufferedReader(_Chain(block + self.pending, self.fh), BLOCK_BYTES)


class _Chain(io.RawIOBase):
    """Bytes already read, then the rest of the stream they came from."""

    def __init__(self, head: bytes, tail: IO[bytes]) -> None:
        self.head = memoryview(head)
        self.tail = tail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if len(self.head):
            n = min(len(buffer), len(self.head))
            buffer[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.tail.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _lone_cr(block: bytes) -> bool:
    """Whether a ``\\r`` ends a line on its own (Python also ends lines there; a ``\\r\\n`` line
    is a ``\\n`` line with a trailing ``\\r``, JSON whitespace to both parsers)."""
    return b"\r" in block and block.count(b"\r") != block.count(b"\r\n")


def _valid_utf8(block: bytes) -> bool:
    if block.isascii():
        return True
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def count_ndjson(path: Path) -> int | None:
    """Records of a UTF-8 NDJSON file (non-blank lines), or None when only the Python reader can tell.

    Without a ``\\r`` a line ends only at ``\\n``; a line starting with a printable ASCII character
    other than a space is not blank, whether it decodes or not (the gate reads it as a row or a
    reject). Undecodable bytes are counted by the Python reader (it may refuse the file).
    """
    import numpy as np

    total = 0
    first = True
    with formats._open_binary(path) as fh:
        for block in _Blocks(fh):
            skip = len(codecs.BOM_UTF8) if first and block.startswith(codecs.BOM_UTF8) else 0
            first = False
            if _lone_cr(block) or not _valid_utf8(block):
                return None
            arr = np.frombuffer(block, np.uint8)
            starts, ends = _lines_of(arr, skip)
            if not len(starts) or (ends <= starts).any():
                return None  # a blank line, or nothing at all
            heads = arr[starts]
            if ((heads < 0x21) | (heads > 0x7E)).any():
                return None  # a line starting with whitespace (maybe blank) or a non-ASCII character
            total += len(starts)
    return total or None


@functools.cache
def _byte_set(chars: str) -> Any:
    """A lookup table: which of the 256 byte values are among ``chars``."""
    import numpy as np

    table = np.zeros(256, bool)
    table[list(chars.encode())] = True
    return table


def _filled(array: Any) -> Any:
    """A boolean or int32 Arrow array as numpy, nulls as false or 0 (``fill_null(False)`` would need
    a scalar, and making one from Python imports pandas)."""
    import numpy as np

    n, at = len(array), array.offset
    validity, data = array.buffers()[:2]
    if array.type.id == 1:  # bool: one bit a value
        out = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")[at : at + n].astype(bool)
    else:
        out = np.frombuffer(data, np.int32)[at : at + n].copy()
    if array.null_count:
        valid = np.unpackbits(np.frombuffer(validity, np.uint8), bitorder="little")[at : at + n].astype(bool)
        out[~valid] = 0
    return out


def _doubtful(values: Any, *, read: bool) -> Any:
    """Which of a string array's values match :data:`_ODD_READ` (``read``) or its first part only.

    A regular expression over every value costs more than DuckDB's parse, so numpy looks at the
    values' bytes in the array's buffers: a value's first byte (a lookup table) picks the few that
    may be nested, NaN or infinity, decided by their next bytes; the expression runs only on
    numbers whose last three characters are digits.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = values.cast(pa.string())  # (a string view has another buffer layout)
    n = len(values)
    _, offsets, data = values.buffers()[:3]
    if not n or data is None or not data.size:
        return np.zeros(n, bool)
    width = np.int64 if pa.types.is_large_string(values.type) else np.int32
    offs = np.frombuffer(offsets, width)[values.offset : values.offset + n + 1].astype(np.int64)
    raw = np.frombuffer(data, np.uint8)
    starts, lengths = offs[:-1], np.diff(offs)

    def at(position: Any, present: Any) -> Any:
        return raw.take(position, mode="clip") * present

    digit = _byte_set("0123456789")
    first = at(starts, lengths > 0)
    odd = _byte_set("[{")[first]
    maybe = np.flatnonzero(_byte_set("+-nNiI")[first])  # a sign, "n" or "i": maybe NaN or infinity
    if len(maybe):
        odd[maybe] |= _nan_or_inf(raw, starts[maybe], lengths[maybe], first[maybe])
    if read:
        number = (lengths >= 300) | ((lengths >= 5) & digit[at(starts + lengths - 1, lengths > 0)])
        number &= _byte_set("-0123456789")[first] & ~odd
        which = np.flatnonzero(number)
        if len(which):  # (a shorter value has its last three characters)
            ends, long = starts[which] + lengths[which], lengths[which] >= 300
            for k in (2, 3):
                number[which] &= long | digit[raw.take(ends - k, mode="clip")]
            which = np.flatnonzero(number)
        if len(which) and (lengths[which] < 300).all() and not ((raw | 0x20) == ord("e")).any():
            which = which[:0]  # neither long nor with an exponent: the expression cannot match
        if len(which):
            matched = pc.match_substring_regex(values.take(formats._int64s(which)), _ODD_READ)
            odd[which] |= _filled(matched)
    return odd


def _nan_or_inf(raw: Any, starts: Any, lengths: Any, first: Any) -> Any:
    """Which values (their first bytes ``first``) start with NaN or infinity, signed or not, in any case."""
    import numpy as np

    signed = ((first == ord("-")) | (first == ord("+"))).astype(np.int64)
    left = lengths - signed
    lower = [raw.take(starts + signed + k, mode="clip") * (left > k) | 0x20 for k in range(3)]  # letters folded
    nan = (lower[0] == ord("n")) & (lower[1] == ord("a")) & (lower[2] == ord("n"))
    return nan | ((lower[0] == ord("i")) & (lower[1] == ord("n")) & (lower[2] == ord("f")))


def _comma_free(values: Any) -> bool:
    """Whether a string array's data holds no comma at all (a string view's short values are
    not in its data buffers: never comma-free to this test)."""
    import numpy as np
    import pyarrow as pa

    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return False
    data = values.buffers()[2]
    return data is None or not (np.frombuffer(data, np.uint8) == ord(",")).any()


def _commas_of(block: bytes, arr: Any, starts: Any, ends: Any, at: Any) -> int | None:
    """How many commas lines ``at`` of a block hold: the block's (numpy counts a byte faster than
    ``bytes.count``) less those of its other lines, when they are few (else None)."""
    import numpy as np

    total = int(np.count_nonzero(arr == ord(",")))
    if len(at) == len(starts):
        return total
    other = np.ones(len(starts), bool)
    other[at] = False
    others = np.flatnonzero(other)
    if len(others) > _FEW_OTHERS:
        return None
    return total - sum(block.count(b",", int(starts[i]), int(ends[i])) for i in others)


def _line_ends(block: bytes) -> int:
    """How many ``\n`` a block holds (numpy counts faster than ``bytes.count``, without the GIL)."""
    import numpy as np

    return int(np.count_nonzero(np.frombuffer(block, np.uint8) == ord("\n")))


def _lines_of(arr: Any, skip: int) -> tuple[Any, Any]:
    """(where each line of a block starts, where it ends: its ``\\n``, or the end of the file)."""
    import numpy as np

    ends = np.flatnonzero(arr == ord("\n"))
    if len(arr) and arr[-1] != ord("\n"):
        ends = np.append(ends, len(arr))
    starts = np.empty(len(ends), np.int64)
    if len(ends):
        starts[0] = skip
        starts[1:] = ends[:-1] + 1
    return starts, ends


def ndjson_batches(
    path: Path,
    columns: list[str],
    name: str,
    *,
    encoding: str,
    text: Any,
    settings: ReadSettings,
    batch_rows: int,
) -> Iterator[tuple[Any, list[Reject]]]:
    """``read_batches`` for a UTF-8 NDJSON file (see the module doc).

    Blocks are read on worker threads (:class:`_Workers`), a few ahead of the one whose batches
    are yielded, in file order; a block's first line number is known before it is read (the line
    ends of the blocks before it), except after a block holding a lone ``\\r``.
    """
    builder = formats._BatchBuilder(columns, batch_rows)
    line, offset, records = 1, 0, 0
    with _Workers(columns, name, settings, batch_rows) as workers, formats._open_binary(path) as fh:
        blocks = _Blocks(fh)
        for block in blocks:
            skip = len(codecs.BOM_UTF8) if not offset and block.startswith(codecs.BOM_UTF8) else 0
            if not _valid_utf8(block):
                yield from workers.drain(builder)
                # undecodable bytes: the Python reader takes the rest, numbering and offsets carried on
                rest = _exact_rest(blocks.rest(block), line, offset, columns, name, builder, text, encoding, settings)
                for batch, rejects in rest:
                    workers.records += batch.num_rows + len(rejects)
                    yield batch, rejects
                break
            exact = _lone_cr(block)
            yield from workers.submit(block, skip, line, exact, builder)
            if exact:  # its line count is the Python reader's (a lone "\r" ends a line too)
                line += yield from workers.drain(builder)
            else:
                line += _line_ends(block) + (not block.endswith(b"\n"))
            offset += len(block)
        yield from workers.drain(builder)
        records = workers.records
    formats._refuse_mostly_undecodable(builder, records, name, encoding, settings)


class _Workers:
    """Blocks of an NDJSON file read on :data:`_WORKERS` threads, each with its own
    :class:`_BlockReader` (DuckDB connection, key check); at most :data:`_AHEAD` blocks in
    flight, their batches handed back in the order the blocks were submitted."""

    def __init__(self, columns: list[str], name: str, settings: ReadSettings, batch_rows: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.columns, self.name, self.settings, self.batch_rows = columns, name, settings, batch_rows
        self.pool = ThreadPoolExecutor(_WORKERS, thread_name_prefix="lockgate-ndjson")
        self.local = threading.local()
        self.connections: list[Any] = []
        self.pending: collections.deque[Any] = collections.deque()
        #: records handed back
        self.records = 0

    def __enter__(self) -> _Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        for con in self.connections:
            con.close()

    def submit(
        self, block: bytes, skip: int, line: int, exact: bool, builder: Any
    ) -> Generator[tuple[Any, list[Reject]], None, None]:
        """Queue a block (first line number ``line``), handing back the oldest ones beyond the lookahead."""
        while len(self.pending) >= _AHEAD:
            yield from self._take(builder)
        self.pending.append(self.pool.submit(self._read, block, skip, line, exact))

    def drain(self, builder: Any) -> Generator[tuple[Any, list[Reject]], None, int]:
        """Hand back every queued block; returns the line count of the last one (0 for none)."""
        lines = 0
        while self.pending:
            lines = yield from self._take(builder)
        return lines

    def _take(self, builder: Any) -> Generator[tuple[Any, list[Reject]], None, int]:
        """The oldest block's batches; its undecodable count (none: it is UTF-8) carried to ``builder``."""
        batch, rejects, lines, own = self.pending.popleft().result()
        builder.undecodable += own.undecodable
        builder.first_undecodable = builder.first_undecodable or own.first_undecodable
        self.records += batch.num_rows + len(rejects)
        yield from _split(batch, rejects, self.columns, self.batch_rows)
        return int(lines)

    def _read(self, block: bytes, skip: int, line: int, exact: bool) -> tuple[Any, list[Reject], int, Any]:
        reader = getattr(self.local, "reader", None)
        if reader is None:
            import duckdb

            con = duckdb.connect(config={"threads": _DUCKDB_THREADS})
            self.connections.append(con)
            reader = self.local.reader = _BlockReader(self.columns, self.name, self.settings, con)
        builder = formats._BatchBuilder(self.columns, self.batch_rows)
        if exact:
            return (*reader.exact(block[skip:].decode("utf-8"), line, builder), builder)
        return (*reader.fast(block, skip, line, builder), builder)


def _split(
    batch: Any, rejects: list[Reject], columns: list[str], batch_rows: int
) -> Iterator[tuple[Any, list[Reject]]]:
    """A block's rows and rejects in pieces of at most ``batch_rows`` records."""
    for start in range(0, batch.num_rows, batch_rows):
        yield batch.slice(start, batch_rows), []
    if rejects:
        empty = batch.slice(0, 0)
        for start in range(0, len(rejects), batch_rows):
            yield empty, rejects[start : start + batch_rows]


def _exact_rest(
    stream: IO[bytes],
    line: int,
    offset: int,
    columns: list[str],
    name: str,
    builder: Any,
    text: Any,
    encoding: str,
    settings: ReadSettings,
) -> Iterator[tuple[Any, list[Reject]]]:
    """The Python reader from line ``line`` (at byte ``offset``) to the end of the file."""
    # at the file's start the decoder strips a byte-order mark, as the Python reader's does
    fh = io.TextIOWrapper(
        stream, encoding="utf-8-sig" if not offset else "utf-8", errors=formats._UNDECODABLE, newline=""
    )
    lines = formats._Lines(fh, text, number=line - 1, offset=offset or None)
    for _ in formats._ndjson_lines(lines, columns, name, builder, encoding=encoding, settings=settings):
        if builder.full():
            yield builder.flush()
    batch, rejects = builder.flush()
    if batch.num_rows or rejects:
        yield batch, rejects


class _BlockReader:
    """Reads one block of lines: DuckDB for the lines it provably reads as Python does, Python for the rest."""

    def __init__(
        self, columns: list[str], name: str, settings: ReadSettings, con: Any, encoding: str = "utf-8"
    ) -> None:
        self.columns = columns
        self.name = name
        self.encoding = encoding  # as the source declares it, for the reason of an undecodable record
        self.settings = settings
        self.con = con
        self.keys = formats._KeyCheck()
        self.decoder = json.JSONDecoder(object_pairs_hook=self.keys)

    def exact(self, block: str, line: int, builder: Any) -> tuple[Any, list[Reject], int]:
        """A block read by the Python reader (lines end at ``\\n``, ``\\r\\n`` or ``\\r``)."""
        lines = formats._Lines(io.StringIO(block, newline=""), formats._Text("utf-8", "utf-8", True, 0, False))
        lines.number = line - 1
        for _ in formats._ndjson_lines(
            lines, self.columns, self.name, builder, encoding="utf-8", settings=self.settings
        ):
            pass
        batch, rejects = builder.flush()
        return batch, rejects, lines.number - line + 1

    def fast(self, block: bytes, skip: int, line: int, builder: Any) -> tuple[Any, list[Reject], int]:
        """A block of ``\\n``- or ``\\r\\n``-ended UTF-8 lines (the first ``skip`` bytes are a byte-order mark)."""
        import numpy as np

        arr = np.frombuffer(block, np.uint8)
        starts, ends = _lines_of(arr, skip)
        n = len(starts)
        # each line's last byte before its line end (before the "\r" of a "\r\n")
        last = ends - 1 - (arr[np.maximum(ends - 1, 0)] == ord("\r"))
        shaped = last - starts >= 1  # at least "{}"
        shaped[shaped] = (arr[starts[shaped]] == ord("{")) & (arr[last[shaped]] == ord("}"))
        good = self._duckdb_lines(block, arr, starts, ends, shaped)
        if good is None:
            return self.exact(block[skip:].decode("utf-8"), line, builder)

        def slow(i: int) -> bool:
            text = block[starts[i] : ends[i]].decode("utf-8")
            record = formats._ndjson_record
            record(self.name, line + i, text, self.columns, builder, self.keys, self.decoder, self.settings)
            return True

        batch, rejects, _ = self.merge(good, line, builder, slow)
        return batch, rejects, n

    def merge(
        self, good: tuple[Any, list[Any]], number: int, builder: Any, slow: Callable[[int], bool]
    ) -> tuple[Any, list[Reject], int]:
        """The block's records in order: DuckDB's values for the records ``good`` says it read
        (record ``i`` is number ``number + i``), ``slow(i)`` for each other one (it adds the record
        to the builder). A ``slow`` answering False stops the block there: (rows, rejects, records
        before it)."""
        import numpy as np
        import pyarrow as pa

        ok, values = good
        stop = len(ok)
        for i in np.flatnonzero(~ok):
            if not slow(int(i)):
                stop = int(i)
                break
        taken = np.flatnonzero(ok[:stop])
        if values and len(values[0]) > len(taken):
            values = [v.slice(0, len(taken)) for v in values]
        rows = formats._int64s(taken + number)
        fast = pa.RecordBatch.from_arrays([*values, rows], names=[*self.columns, ROW_COLUMN])
        if len(taken) == stop:
            return fast, [], stop  # (and no flush: pa.array on the builder's lists would import pandas)
        slow_rows, rejects = builder.flush()
        if not slow_rows.num_rows:
            return fast, rejects, stop
        both = pa.Table.from_batches([fast, slow_rows]).combine_chunks()
        both = both.take(pa.compute.sort_indices(both[ROW_COLUMN])).combine_chunks()
        return both.to_batches()[0] if both.num_rows else fast.slice(0, 0), rejects, stop

    def _template(self, block: bytes, starts: Any, ends: Any, shaped: Any) -> list[str] | None:
        """The keys of the block's first line Python decodes to an object without repeated keys."""
        import numpy as np

        for i in np.flatnonzero(shaped)[:_TEMPLATE_TRIES]:
            self.keys.repeated.clear()
            try:
                obj = self.decoder.decode(block[starts[i] : ends[i]].decode("utf-8"))
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict) and obj and not self.keys.repeated:
                return list(obj)
        return None

    def _duckdb_lines(
        self, block: bytes, arr: Any, starts: Any, ends: Any, shaped: Any
    ) -> tuple[Any, list[Any]] | None:
        """(which lines DuckDB read exactly, the read columns' values of those lines), or None when
        DuckDB cannot read the block (no line to take the template from, or keys its struct refuses)."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        template = self._template(block, starts, ends, shaped)
        if template is None:
            return None
        # only lines shaped like an object go to DuckDB: a line that fails inside try() makes
        # DuckDB evaluate its whole vector again row by row
        at = np.flatnonzero(shaped)
        struct = self._parse(block, starts, at, template)
        if struct is None:
            return None
        good = _filled(struct.is_valid())
        fields = {key: pc.struct_field(struct, [i]) for i, key in enumerate(template)}
        width = len(template) - 1
        if not (good.all() and _commas_of(block, arr, starts, ends, at) == width * len(at)):
            good &= self._commas_add_up(block, arr, ends, at, template, fields)
        measure = int((ends - starts).max()) + _LONGER_BY > self.settings.max_field_bytes
        for key, values in fields.items():
            # only a read value is written out: a number overflowing a float matters only there
            good &= ~_doubtful(values, read=key in self.columns)
            if key in self.columns and measure:
                good &= ~(_filled(pc.binary_length(values)) > self.settings.max_field_bytes)
        count = int(good.sum())
        if count < len(good):
            keep = pa.Array.from_buffers(
                pa.bool_(), len(good), [None, pa.py_buffer(np.packbits(good, bitorder="little"))]
            )
            fields = {key: pc.filter(values, keep) for key, values in fields.items() if key in self.columns}
        values = [
            (fields[c] if fields[c].type == pa.string() else fields[c].cast(pa.string()))
            if c in fields
            else pa.nulls(count, pa.string())
            for c in self.columns
        ]
        ok = np.zeros(len(starts), bool)
        ok[at] = good
        return ok, values

    def _commas_add_up(
        self, block: bytes, arr: Any, ends: Any, at: Any, template: list[str], fields: dict[str, Any]
    ) -> Any:
        """Per line ``at``: its commas are exactly those between its keys (one fewer than the
        template's keys) and those inside its keys and string values.

        A line DuckDB parsed holds every template key once, so with that many commas it has no
        other key (where a repeated key or a NaN literal could hide), no trailing comma and nothing
        nested with commas. A comma inside a string is itself in DuckDB's value, unless written
        ``\\u002c``: a block with that escape counts only the commas between keys.
        """
        import numpy as np
        import pyarrow.compute as pc

        # commas before each line's end, less those before the line before's (each line a search)
        commas = np.diff(np.searchsorted(np.flatnonzero(arr == ord(",")), ends), prepend=0)[at]
        expected = len(template) - 1
        if (commas == expected).all() or b"\\u002c" in block or b"\\u002C" in block:
            return commas == expected
        expected += sum(key.count(",") for key in template)
        for values in fields.values():
            if _comma_free(values):
                continue
            expected = expected + _filled(pc.count_substring(values, ","))
        return commas == expected

    def _parse(self, block: bytes, starts: Any, at: Any, template: list[str]) -> Any:
        """DuckDB's struct of the template keys for lines ``at`` of the block (null where a line
        fails), or None when DuckDB refuses the struct itself."""
        import duckdb
        import numpy as np
        import pyarrow as pa

        offsets = np.append(starts, len(block))  # each line with its "\n" (JSON whitespace)
        lines = pa.LargeStringArray.from_buffers(len(starts), pa.py_buffer(offsets), pa.py_buffer(block))
        if len(at) < len(starts):
            lines = lines.take(formats._int64s(at))
        self.con.register("lockgate_lines", pa.Table.from_arrays([lines], names=["l"]))
        try:
            # without try() first: cheaper when every line parses (the usual block), the same values;
            # any failure (DuckDB's message quoting a line cut inside a character fails to decode
            # too) leaves it to try()
            result = self.con.sql(self._query(template, fails=False)).to_arrow_table()
        except Exception:  # noqa: BLE001
            try:
                result = self.con.sql(self._query(template, fails=True)).to_arrow_table()
            except duckdb.Error:
                return None  # e.g. two keys differing only in case: one struct field name to DuckDB
        finally:
            self.con.unregister("lockgate_lines")
        if result.num_rows != len(at):  # pragma: no cover - DuckDB returns one row per line
            return None
        return result.column("s").combine_chunks()

    def _query(self, template: list[str], *, fails: bool) -> str:
        """SQL: each line parsed into a struct of the template keys (``fails``: NULL where that
        fails, else the statement fails)."""
        from lockgate.sql import literal

        structure = literal(json.dumps(dict.fromkeys(template, "VARCHAR")))
        parsed = f"from_json_strict(l, {structure})"
        return f"SELECT {f'try({parsed})' if fails else parsed} AS s FROM lockgate_lines"


# ----------------------------------------------------------------------------------- JSON arrays


def _escaped(arr: Any, quotes: Any) -> Any:
    """Which of the quotes are escaped: preceded by an odd run of backslashes (``\\"`` is
    escaped, ``\\\\"`` is not)."""
    import numpy as np

    slashes = np.flatnonzero(arr == ord("\\"))
    out = np.zeros(len(quotes), bool)
    after = np.flatnonzero((quotes > 0) & (arr[np.maximum(quotes - 1, 0)] == ord("\\")))
    if not len(after):
        return out
    first = np.ones(len(slashes), bool)
    first[1:] = np.diff(slashes) != 1  # where each run of backslashes starts
    run_start = np.maximum.accumulate(np.where(first, np.arange(len(slashes)), 0))
    at = np.searchsorted(slashes, quotes[after] - 1)
    out[after] = (at - run_start[at] + 1) % 2 == 1
    return out


def _array_structure(arr: Any, buf: bytes) -> tuple[Any, int]:
    """(the array's separators: commas outside strings at depth 1, its closing ``]`` or -1) in a
    buffer that starts inside the array, outside any string. Only a guess where the JSON is not
    valid: every element between them is checked on its own (see :func:`json_array_batches`)."""
    import numpy as np

    quotes = np.flatnonzero(arr == ord('"'))
    if b'\\"' in buf:
        quotes = quotes[~_escaped(arr, quotes)]
    marks = np.flatnonzero(
        (arr == ord(",")) | (arr == ord("[")) | (arr == ord("]")) | (arr == ord("{")) | (arr == ord("}"))
    )
    if len(quotes):
        marks = marks[np.searchsorted(quotes, marks) % 2 == 0]  # an odd number of quotes before: in a string
    kind = arr[marks]
    delta = (kind == ord("[")).astype(np.int64) + (kind == ord("{")) - (kind == ord("]")) - (kind == ord("}"))
    depth = 1 + np.cumsum(delta)  # after each mark
    out = np.flatnonzero(depth <= 0)
    stop = int(out[0]) if len(out) else len(marks)
    commas = marks[:stop][(kind[:stop] == ord(",")) & (depth[:stop] == 1)]
    return commas, int(marks[stop]) if len(out) else -1


def _stripped(arr: Any, starts: Any, ends: Any) -> tuple[Any, Any]:
    """Pieces ``[starts, ends)`` without the JSON whitespace around them (an empty one: start == end)."""
    import numpy as np

    space = np.zeros(256, bool)
    space[[ord(" "), ord("\t"), ord("\r"), ord("\n")]] = True
    starts, ends = starts.copy(), ends.copy()
    for _ in range(64):
        move = starts < ends
        move[move] = space[arr[starts[move]]]
        if not move.any():
            break
        starts += move
    else:
        for i in np.flatnonzero(starts < ends):
            starts[i] = ends[i] - len(bytes(arr[starts[i] : ends[i]]).lstrip(b" \t\r\n"))
    for _ in range(64):
        move = ends > starts
        move[move] = space[arr[ends[move] - 1]]
        if not move.any():
            break
        ends -= move
    else:
        for i in np.flatnonzero(ends > starts):
            ends[i] = starts[i] + len(bytes(arr[starts[i] : ends[i]]).rstrip(b" \t\r\n"))
    return starts, ends


class _Elements:
    """A JSON array's bytes in buffers of whole elements.

    Each buffer starts right after an element (or right after the ``[``) - where the Python reader
    can take over - and is cut right after its last complete element. The byte offset in the file
    of the next buffer is :attr:`offset`.
    """

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.pending = b""
        self.offset = 0
        self.eof = False
        #: where the Python reader takes over: (elements before, buffer, position in it); the
        #: elements before None: from the file's start
        self.handover: tuple[int | None, bytes, int] | None = None

    def opening(self) -> bool:
        """Read past the array's ``[`` (after a byte-order mark and whitespace); False when the
        file does not start so (the Python reader then reads it, or reports it)."""
        head = self.fh.read(BLOCK_BYTES)
        body = head.removeprefix(codecs.BOM_UTF8).lstrip(b" \t\r\n")
        if not body.startswith(b"["):
            self.pending = head
            self.hand_over(None, b"", 0)
            return False
        self.offset = len(head) - len(body) + 1
        self.pending = body[1:]
        return True

    def read(self) -> bytes | None:
        """The next buffer: the pending bytes and at least a block more (None at the end of the file)."""
        chunk = self.fh.read(max(BLOCK_BYTES, len(self.pending)))  # a long element: read in doubling steps
        if not chunk and not self.pending:
            return None
        buf, self.pending = self.pending + chunk, b""
        self.eof = not chunk
        return buf

    def keep(self, buf: bytes, cut: int) -> None:
        """Hold ``buf[cut:]`` back for the next buffer."""
        self.pending = buf[cut:]
        self.offset += cut

    def hand_over(self, after: int | None, buf: bytes, at: int) -> None:
        """The Python reader goes on from ``buf[at]``, right after element ``after``."""
        self.handover = (after, buf, at)

    def rest(self, buf: bytes, at: int) -> IO[bytes]:
        """``buf`` from ``at`` and every byte after it, as one stream."""
        return io.BufferedReader(_Chain(buf[at:] + self.pending, self.fh), BLOCK_BYTES)


def json_array_batches(
    path: Path,
    columns: list[str],
    name: str,
    *,
    encoding: str,
    text: Any,
    settings: ReadSettings,
    batch_rows: int,
) -> Iterator[tuple[Any, list[Reject]]]:
    """``read_batches`` for a UTF-8 JSON array file, exactly as ``formats._json_array_elements``.

    The array is cut into its elements by a byte scan (commas and brackets outside strings). The
    scan is only a guess where the JSON is not valid, so nothing rests on it: an element is taken
    only when it is, on its own, one whole JSON value - for DuckDB as a line of NDJSON is (see the
    module doc), else for Python's ``raw_decode`` - and between elements there is only JSON
    whitespace and one comma: exactly how the Python reader walks the array. At the first element
    neither can vouch for (an empty one, a value followed by more text, invalid JSON, bytes that
    are not UTF-8, no closing ``]``) the Python reader takes over from right after the element
    before it, with its number and byte offset, and reads (or refuses) the rest of the file.
    """
    import duckdb

    builder = formats._BatchBuilder(columns, batch_rows)
    records = 0
    with duckdb.connect() as con, formats._open_binary(path) as fh:
        elements = _Elements(fh)
        if elements.opening():
            reader = _BlockReader(columns, name, settings, con, encoding)
            for batch, rejects in _array_parts(elements, reader, builder):
                records += batch.num_rows + len(rejects)
                yield from _split(batch, rejects, columns, batch_rows)
        if elements.handover is not None:
            after, buf, at = elements.handover
            fh_text = io.TextIOWrapper(
                elements.rest(buf, at),
                encoding="utf-8-sig" if after is None else "utf-8",
                errors=formats._UNDECODABLE,
                newline="",
            )
            offset = elements.offset + at
            rest = _exact_array(fh_text, columns, name, builder, encoding, text, settings, after, offset)
            for batch, rejects in rest:
                records += batch.num_rows + len(rejects)
                yield batch, rejects
    formats._refuse_mostly_undecodable(builder, records, name, encoding, settings)


def _array_parts(elements: _Elements, reader: _BlockReader, builder: Any) -> Iterator[tuple[Any, list[Reject]]]:
    """The array's elements, buffer by buffer, until its ``]`` or ``elements.handover`` is set."""
    import numpy as np

    done = 0  # elements read
    while True:
        buf = elements.read()
        if buf is None:
            elements.hand_over(done, b"", 0)  # no closing "]": the Python reader reports it
            return
        arr = np.frombuffer(buf, np.uint8)
        starts, ends, commas, closed, bad = _pieces(arr, buf, lead=done > 0)
        n = len(starts) if bad is None else bad
        if not n and bad is None and not closed:
            if elements.eof:
                elements.hand_over(done, buf, 0)
                return
            elements.keep(buf, 0)  # no whole element yet: read on
            continue
        if n:
            stop = yield from _read_buffer(elements, reader, buf, arr, starts[:n], ends[:n], commas, done, builder)
            if stop < n:
                elements.hand_over(done + stop, buf, int(ends[stop - 1]) if stop else 0)
                return
            done += n
        if bad is not None:
            elements.hand_over(done, buf, int(ends[n - 1]) if n else 0)
            return
        if closed:
            return
        elements.keep(buf, int(ends[n - 1]))


def _read_buffer(
    elements: _Elements,
    reader: _BlockReader,
    buf: bytes,
    arr: Any,
    starts: Any,
    ends: Any,
    commas: Any,
    done: int,
    builder: Any,
) -> Generator[tuple[Any, list[Reject]], None, int]:
    """A buffer's elements (``done`` before them), in runs of valid UTF-8 between the elements
    holding undecodable bytes (each rejected as the Python reader rejects it). Returns how many
    were read: fewer than all when the Python reader must take over at the next one."""
    import numpy as np

    bad = np.unique(np.searchsorted(ends, _undecodable_at(buf, int(ends[-1])), side="right"))
    first = 0
    for last in [*bad.tolist(), len(starts)]:
        if last > first:
            part = starts[first:last], ends[first:last]
            batch, rejects, stop = _read_elements(reader, arr, *part, commas, done + first + 1, builder)
            yield batch, rejects
            if stop < last - first:
                return first + stop
        if last == len(starts):
            break
        if not _undecodable_element(
            elements, reader, buf, int(starts[last]), int(ends[last]), done + last + 1, builder
        ):
            return last
        first = last + 1
    if builder.rejects:  # an element with undecodable bytes last
        yield builder.flush()
    return len(starts)


def _undecodable_at(buf: bytes, end: int) -> list[int]:
    """Where each run of bytes that are not UTF-8 starts in ``buf[:end]``, in one pass."""
    view = memoryview(buf)[:end]
    if buf.isascii():
        return []
    found: list[int] = []
    at = 0
    while True:
        try:
            codecs.utf_8_decode(view[at:], "strict", True)
        except UnicodeDecodeError as exc:
            found.append(at + exc.start)
            at += exc.end
        else:
            return found


def _undecodable_element(
    elements: _Elements, reader: _BlockReader, buf: bytes, start: int, end: int, number: int, builder: Any
) -> bool:
    """Reject the element ``buf[start:end]`` holding undecodable bytes, as the Python reader does
    (its reason gives the bytes and their offset in the file); False when the element is not one
    whole JSON value to Python (the bytes are not in a string): the Python reader reports it."""
    import json

    text = buf[start:end].decode("utf-8", formats._UNDECODABLE)
    reader.keys.repeated.clear()
    try:
        _, stop = reader.decoder.raw_decode(text)
    except json.JSONDecodeError:
        return False
    found = formats._MARKS.search(text)
    if stop != len(text) or found is None:
        return False
    at = elements.offset + start + len(text[: found.start()].encode("utf-8", formats._UNDECODABLE))
    bad = formats._BadBytes(formats._unmark(found.group()), at)
    raw = formats._truncate(formats._shown(text))
    builder.reject_undecodable(Reject(reader.name, number, bad.reason(reader.encoding), raw))
    return True


def _pieces(arr: Any, buf: bytes, *, lead: bool) -> tuple[Any, Any, Any, bool, int | None]:
    """(where each whole element of the buffer starts, where it ends, the separators, whether the
    array's ``]`` is in the buffer, the first element the Python reader must see or None).

    ``lead``: the buffer starts right after an element, so a separator comes before the next one
    (else right after the ``[``).
    """
    import numpy as np

    commas, close = _array_structure(arr, buf)
    bounds = commas if close < 0 else np.append(commas, close)
    none = np.zeros(0, np.int64)
    if not len(bounds):
        return none, none, commas, False, None  # no element ends in the buffer
    if lead:
        if buf[: bounds[0]].strip(b" \t\r\n"):
            return none, none, commas, False, 0  # not a comma after the element: the Python reader
        starts, ends = bounds[:-1] + 1, bounds[1:]
    else:
        starts, ends = np.append(0, bounds[:-1] + 1), bounds
    starts, ends = _stripped(arr, starts.astype(np.int64), ends.astype(np.int64))
    empty = np.flatnonzero(starts >= ends)
    if not lead and close >= 0 and len(bounds) == 1 and len(empty):
        return none, none, commas, True, None  # "[ ]"
    return starts, ends, commas, close >= 0, int(empty[0]) if len(empty) else None


def _read_elements(
    reader: _BlockReader, arr: Any, starts: Any, ends: Any, commas: Any, number: int, builder: Any
) -> tuple[Any, list[Reject], int]:
    """Elements ``[starts, ends)`` of a buffer (numbered from ``number``): DuckDB reads them as
    lines of NDJSON, each separator blanked; Python those it cannot vouch for."""
    import json

    import numpy as np
    import pyarrow as pa

    base, cut = int(starts[0]), int(ends[-1])
    blank = arr[base:cut].copy()
    blank[commas[(commas >= base) & (commas < cut)] - base] = ord(" ")  # each element a "line" to DuckDB
    block = blank.tobytes()
    starts, ends = starts - base, ends - base
    shaped = ends - starts >= 2
    shaped[shaped] = (blank[starts[shaped]] == ord("{")) & (blank[ends[shaped] - 1] == ord("}"))
    good = reader._duckdb_lines(block, blank, starts, ends, shaped)
    if good is None:
        good = np.zeros(len(starts), bool), [pa.nulls(0, pa.string()) for _ in reader.columns]

    def slow(i: int) -> bool:
        text = block[starts[i] : ends[i]].decode("utf-8")
        reader.keys.repeated.clear()
        try:
            obj, end = reader.decoder.raw_decode(text)
        except json.JSONDecodeError:
            return False
        if end != len(text):
            return False
        formats._json_record(reader.name, number + i, text, obj, reader.columns, builder, reader.keys, reader.settings)
        return True

    return reader.merge(good, number, builder, slow)


def _exact_array(
    fh: IO[str],
    columns: list[str],
    name: str,
    builder: Any,
    encoding: str,
    text: Any,
    settings: ReadSettings,
    after: int | None,
    offset: int,
) -> Iterator[tuple[Any, list[Reject]]]:
    """The Python reader from right after element ``after`` (at byte ``offset``) to the end of the array."""
    for _ in formats._json_array_elements(
        fh, columns, name, builder, encoding=encoding, text=text, settings=settings, after=after, offset=offset
    ):
        if builder.full():
            yield builder.flush()
    batch, rejects = builder.flush()
    if batch.num_rows or rejects:
        yield batch, rejects
