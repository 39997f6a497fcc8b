"""The NDJSON fast path (DuckDB over blocks of lines) against the Python reader, on the same files.

Each case reads a file twice - with the fast path, and with ``formats.FAST_NDJSON`` off (the
Python reader, the reference) - and compares the rows, their ``_row`` numbers, the rejects and the
counts. A few tests also check that plain files really are read by DuckDB (few lines decoded by
Python), so the fast path cannot pass by falling back everywhere.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lockgate import formats, formats_fast
from lockgate.formats import ROW_COLUMN, ReadSettings, Reject, SourceFileError, count_records, read_batches

COLS = ["id", "name", "value"]
ANY = ReadSettings(allow_empty=True, max_undecodable_percent=50)


def zstd_compress(data: bytes) -> bytes:
    import pyarrow as pa

    return pa.compress(data, codec="zstd", asbytes=True)


def read_all(path: Path, columns: list[str], **kwargs: Any) -> tuple[list[dict[str, Any]], list[Reject]]:
    rows: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    for batch, batch_rejects in read_batches(path, columns, **kwargs):
        assert batch.schema.names == [*columns, ROW_COLUMN]
        assert batch.num_rows + len(batch_rejects) <= kwargs.get("batch_rows", formats.DEFAULT_BATCH_ROWS)
        rows += batch.to_pylist()
        rejects += batch_rejects
    assert [r[ROW_COLUMN] for r in rows] == sorted({r[ROW_COLUMN] for r in rows})  # in order, none twice
    return rows, sorted(rejects, key=lambda r: r.row)


def both_ways(
    path: Path, monkeypatch: pytest.MonkeyPatch, columns: list[str] = COLS, **kwargs: Any
) -> tuple[list[dict[str, Any]], list[Reject], int]:
    """Read with the fast path and with the Python reader; assert they agree and return the result."""
    count_kwargs = {k: v for k, v in kwargs.items() if k in ("encoding", "settings")}
    fast = read_all(path, columns, **kwargs)
    fast_count = count_records(path, **count_kwargs)
    with monkeypatch.context() as m:
        m.setattr(formats, "FAST_NDJSON", False)
        exact = read_all(path, columns, **kwargs)
        exact_count = count_records(path, **count_kwargs)
    assert fast == exact
    assert fast_count == exact_count == len(fast[0]) + len(fast[1])
    return fast[0], fast[1], fast_count


def decoded_by_python(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The line numbers the Python reader decodes from now on (the fast path's fallbacks)."""
    seen: list[int] = []
    original = formats._ndjson_record

    def spy(name: str, number: int, *args: Any) -> bool:
        seen.append(number)
        return original(name, number, *args)

    monkeypatch.setattr(formats, "_ndjson_record", spy)
    return seen


def lines(*records: str) -> bytes:
    return ("\n".join(records) + "\n").encode()


CASES: dict[str, bytes] = {
    "plain": lines('{"id":1,"name":"a","value":2.5}', '{"id":2,"name":"b","value":3}'),
    "python_dumps_spacing": lines(*(json.dumps({"id": i, "name": f"n{i}", "value": i / 3}) for i in range(50))),
    "no_trailing_newline": b'{"id":1,"name":"a","value":2}\n{"id":2,"name":"b","value":3}',
    "crlf": b'{"id":1,"name":"a","value":2}\r\n{"id":2,"name":"b","value":3}\r\n',
    "lone_cr": b'{"id":1,"name":"a","value":2}\r{"id":2,"name":"b","value":3}\r',
    "crlf_and_lone_cr": b'{"id":1,"name":"a","value":2}\r\n{"id":2,"name":"b","value":3}\r{"id":3}\r\n',
    "crlf_blank_lines": b'\r\n{"id":1,"name":"a","value":2}\r\n\r\n  \r\n{"id":2,"name":"b","value":3}\r\n',
    "bom": b'\xef\xbb\xbf{"id":1,"name":"Zo\xc3\xab","value":2}\n{"id":2,"name":"b","value":3}\n',
    "blank_and_whitespace_lines": lines(
        '{"id":1,"name":"a","value":2}', "", "   ", '  {"id":2,"name":"b","value":3}  '
    ),
    "numbers": lines(
        *(
            f'{{"id":{i},"name":"n","value":{v}}}'
            for i, v in enumerate(
                [
                    "1.50",
                    "1e5",
                    "1E5",
                    "-0",
                    "-0.0",
                    "0.0001",
                    "1e-05",
                    "1e16",
                    "123456789012345678901234567890",
                    "-9223372036854775809",
                    "18446744073709551616",
                    "1.7976931348623157e308",
                    "1e400",
                    "-1e400",
                    "1e-400",
                    "123.456789012345678",
                    "5e-324",
                    "1" * 320 + ".5",
                    "NaN",
                    "Infinity",
                    "-Infinity",
                    "true",
                    "false",
                    "null",
                ],
                start=1,
            )
        )
    ),
    "lenient_literals_python_rejects": lines(
        '{"id":1,"name":"a","value":nan}',
        '{"id":2,"name":"a","value":1,"other":inf}',
        '{"id":3,"name":"a","value":1,}',
        '{"id":4,"name":"a","value":[1,2,]}',
        '{"id":5,"name":"a","value":1}',
        '{"id":6,"name":"a","value":-NaN}',
        '{"id":7,"name":"a","value":01}',
        '{"id":8,"name":"a","value":1} {"id":9}',
        '{"id":10,"name":"a" /* c */,"value":1}',
    ),
    "invalid_and_non_objects": lines(
        '{"id":1,"name":"a","value":2}',
        "not json",
        "[1, 2]",
        '"text"',
        "null",
        "42",
        '{"id":',
        '{"id":2,"name":"b","value":3}',
    ),
    "repeated_keys": lines(
        '{"id":1,"name":"a","value":2}',
        '{"id":2,"name":"a","name":"b","value":3}',
        '{"id":3,"name":"a","value":3,"unit":"x","unit":"y"}',
        '{"id":4,"name":"a","value":{"k":1,"k":2}}',
        '{"id":5,"name":"a","value":3,"extra":{"k":1,"k":2}}',
        '{"id":6,"name":"a","value":3}',
    ),
    "nested_values": lines(
        '{"id":1,"name":{"first":"a","last":"b"},"value":[1, 2.50, {"x": null}]}',
        '{"id":2,"name":"b","value":[]}',
        '{"id":3,"name":"b","value":{}}',
        '{"id":4,"name":"{not nested}","value":"[1]"}',
        '{"id":5,"name":"b","value":3,"extra":[1,2,3]}',
        '{"id":6,"name":"b","value":3,"extra":{"a":1}}',
    ),
    "unicode_and_escapes": lines(
        '{"id":1,"name":"caf\\u00e9 \\"q\\" \\\\ \\/ \\n\\t","value":"\\ud83d\\ude00"}',
        '{"id":2,"name":"é€😀","value":"a,b"}',
        '{"id":3,"name":"\\u0000nul","value":"x"}',
        '{"id":4,"name":"\\u2028\\u2029","value":"line\u2028sep"}',
        '{"id":5,"name":"\\ud800","value":1}',
        '{"id":6,"name":"\\udc00x","value":1}',
        '{"id":7,"name":"raw\ttab","value":1}',
        '{"id":8,"name":"nan","value":"Infinity and more"}',
        '{"\\u0069d":9,"name":"escaped key","value":1}',
    ),
    "missing_and_extra_keys": lines(
        '{"id":1,"name":"a","value":2}',
        '{"id":2,"value":3}',
        '{"id":3,"name":"c","value":4,"extra":"x"}',
        '{"ID":4,"name":"d","value":5}',
        "{}",
        '{"id":5,"name":null,"value":null}',
        '{"value":6,"name":"f","id":6}',
    ),
    "keys_differing_in_case": lines('{"id":1,"ID":2,"name":"a","value":3}', '{"id":2,"ID":3,"name":"b","value":4}'),
    "undecodable": (
        b'{"id":1,"name":"a","value":2}\n{"id":2,"name":"\xfcber","value":3}\n{"id":3,"name":"c","value":4}\n'
    )
    * 5,
    "single_quotes_and_junk": lines("{'id': 1}", "{}x", "{", "}", "{}", '{"id":1,"name":"a","value":2}'),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("compression", ["", ".gz", ".zst"])
def test_fast_path_agrees_with_python_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, compression: str
) -> None:
    data = CASES[case]
    packed = {"": data, ".gz": gzip.compress(data), ".zst": zstd_compress(data)}[compression]
    path = tmp_path / f"{case}.ndjson{compression}"
    path.write_bytes(packed)
    rows, rejects, count = both_ways(path, monkeypatch, settings=ANY)
    if case == "numbers":
        assert [r["value"] for r in rows][:11] == [
            "1.5",
            "100000.0",
            "100000.0",
            "0",
            "-0.0",
            "0.0001",
            "1e-05",
            "1e+16",
            "123456789012345678901234567890",
            "-9223372036854775809",
            "18446744073709551616",
        ]
        assert {r["id"]: r["value"] for r in rows}["13"] == "inf"
        assert {r["id"]: r["value"] for r in rows}["19"] == "nan"
    if case == "lenient_literals_python_rejects":
        assert [r["id"] for r in rows] == ["5"]
        assert [r.row for r in rejects] == [1, 2, 3, 4, 6, 7, 8, 9]
    if case == "repeated_keys":
        assert [r["id"] for r in rows] == ["1", "6"]
        assert [(r.row, r.column) for r in rejects] == [(2, "name"), (3, None), (4, None), (5, None)]
    if case == "nested_values":
        assert rows[0]["name"] == '{"first": "a", "last": "b"}'
        assert rows[0]["value"] == '[1, 2.5, {"x": null}]'
    if case == "blank_and_whitespace_lines":
        assert [(r["id"], r[ROW_COLUMN]) for r in rows] == [("1", 1), ("2", 4)]
        assert count == 2
    if case in ("crlf", "lone_cr", "plain", "no_trailing_newline"):
        assert [(r["id"], r[ROW_COLUMN]) for r in rows] == [("1", 1), ("2", 2)]
    if case == "undecodable":
        assert [r.row for r in rejects] == [2, 5, 8, 11, 14]
        assert "byte offset 46 (line 2, byte 17 of the line)" in rejects[0].reason


def test_plain_files_are_read_by_duckdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.ndjson"
    path.write_bytes(lines(*(json.dumps({"id": i, "name": f"n{i}", "value": i * 0.1}) for i in range(1, 2001))))
    python = decoded_by_python(monkeypatch)
    rows, rejects = read_all(path, COLS)
    assert len(rows) == 2000
    assert rejects == []
    assert python == []  # DuckDB read every line (the template line is decoded apart)
    assert rows[2] == {"id": "3", "name": "n3", "value": "0.30000000000000004", ROW_COLUMN: 3}


def test_crlf_lines_are_read_by_duckdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "crlf.ndjson"
    path.write_bytes(b"".join(b'{"id":%d,"name":"n","value":1.50}\r\n' % i for i in range(1, 101)) + b"\r\n{}\r\n")
    python = decoded_by_python(monkeypatch)
    read_all(path, COLS)
    assert python == [101, 102]  # the blank line and "{}" (another key set); DuckDB read the rest
    rows, rejects, count = both_ways(path, monkeypatch)
    assert (len(rows), rejects, count) == (101, [], 101)
    assert rows[99] == {"id": "100", "name": "n", "value": "1.5", ROW_COLUMN: 100}
    assert rows[100] == {"id": None, "name": None, "value": None, ROW_COLUMN: 102}


def test_only_the_doubtful_lines_fall_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = [json.dumps({"id": i, "name": "a", "value": i}) for i in range(1, 101)]
    good[9] = '{"id":10,"name":"a","value":nan}'
    good[49] = "oops"
    good[79] = '{"id":80,"name":"a,b","value":80,"x":1}'  # another key: Python
    path = tmp_path / "d.ndjson"
    path.write_bytes(lines(*good))
    python = decoded_by_python(monkeypatch)
    rows, rejects = read_all(path, COLS)
    assert python == [10, 50, 80]
    assert [r.row for r in rejects] == [10, 50]
    by_row = {r[ROW_COLUMN]: r for r in rows}
    assert len(by_row) == 98
    assert by_row[79] == {"id": "79", "name": "a", "value": "79", ROW_COLUMN: 79}
    assert by_row[80] == {"id": "80", "name": "a,b", "value": "80", ROW_COLUMN: 80}


def test_commas_inside_strings_are_counted_from_the_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records = [json.dumps({"id": i, "name": "Paris, France", "value": i}) for i in range(1, 51)]
    records[4] = '{"id":5,"name":"a, b","value":5,"x":nan}'  # one comma short of an extra key: Python
    records[5] = '{"id":6,"name":"a,,b","value":6,}'  # a trailing comma: Python
    records[6] = '{"id":7,"name":"a,b","value":7,"a,b":1}'  # another key: Python
    path = tmp_path / "c.ndjson"
    path.write_bytes(lines(*records))
    python = decoded_by_python(monkeypatch)
    read_all(path, COLS)
    assert python == [5, 6, 7]
    rows, rejects, _ = both_ways(path, monkeypatch)
    assert [r.row for r in rejects] == [5, 6]
    assert rows[0]["name"] == "Paris, France"
    # a comma escaped as \u002c is in the value but not in the line: only the strict count is trusted
    path.write_bytes(lines('{"id":1,"name":"a\\u002cb","value":1,"x":nan}', '{"id":2,"name":"c,d","value":2}'))
    python.clear()
    read_all(path, COLS)
    assert python == [1, 2]
    rows, rejects, _ = both_ways(path, monkeypatch)
    assert ([r.row for r in rejects], rows[0]["name"]) == ([1], "c,d")


def test_many_blocks_with_rejects_crlf_and_undecodable_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small blocks: numbering across blocks, a block with \\r read by Python whole, a block that is
    not UTF-8 handing the rest of the file over (byte offsets counted from the file's start)."""
    records = []
    for i in range(1, 3001):
        if i % 97 == 0:
            records.append(b'{"id":%d,"name":"bad",}' % i)
        elif i % 501 == 0:
            records.append(b"")
        elif i == 1500:
            records.append(b'{"id":1500,"name":"cr","value":1}\r')
        else:
            records.append(b'{"id":%d,"name":"n","value":%d.5}' % (i, i))
    records[2500] = b'{"id":2501,"name":"\xff","value":1}'
    path = tmp_path / "many.ndjson.gz"
    path.write_bytes(gzip.compress(b"\n".join(records) + b"\n"))
    monkeypatch.setattr(formats_fast, "BLOCK_BYTES", 1000)
    rows, rejects, count = both_ways(path, monkeypatch, batch_rows=700)
    assert count == 3000 - 5  # five blank lines
    assert [r.row for r in rejects if "undecodable" in r.reason] == [2501]
    assert rows[-1] == {"id": "3000", "name": "n", "value": "3000.5", ROW_COLUMN: 3000}


def test_oversized_field_and_a_line_longer_than_a_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = "x" * 5000
    path = tmp_path / "o.ndjson"
    path.write_bytes(
        lines(
            '{"id":1,"name":"a","value":1}',
            json.dumps({"id": 2, "name": big, "value": 2}),
            json.dumps({"id": 3, "name": "c", "value": 3, "other": big}),
            '{"id":4,"name":"d","value":4}',
        )
    )
    monkeypatch.setattr(formats_fast, "BLOCK_BYTES", 1024)
    rows, rejects, _ = both_ways(path, monkeypatch, settings=ReadSettings(max_field_bytes=4096))
    assert [r["id"] for r in rows] == ["1", "3", "4"]
    assert [(r.row, r.column) for r in rejects] == [(2, "name")]


def test_missing_wanted_column_is_null_and_empty_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.ndjson"
    path.write_bytes(lines('{"id":1,"name":"a"}', '{"id":2,"name":"b"}'))
    rows, _, _ = both_ways(path, monkeypatch)
    assert [r["value"] for r in rows] == [None, None]
    for data in (b"", b"\n\n  \n", b"\xef\xbb\xbf"):
        empty = tmp_path / "e.ndjson"
        empty.write_bytes(data)
        assert both_ways(empty, monkeypatch, settings=ANY) == ([], [], 0)
        with pytest.raises(SourceFileError, match=r"e\.ndjson: "):
            count_records(empty)


def test_mostly_undecodable_file_fails_on_both_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "latin.ndjson"
    path.write_bytes(
        lines('{"id":1,"name":"a","value":1}') + '{"id":2,"name":"Zürich","value":2}\n'.encode("latin-1") * 3
    )
    for fast in (True, False):
        monkeypatch.setattr(formats, "FAST_NDJSON", fast)
        with pytest.raises(SourceFileError, match=r"3 of 4 records .* are not valid utf-8"):
            read_all(path, COLS)


# ------------------------------------------------------------------------------------ differential

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.text(alphabet=',a"\\ :{}[]\u002c', max_size=6),  # commas, quotes, escapes, brackets in strings
    st.sampled_from(["nan", "Infinity", "1.50", "{x}", "[", "a,b", "-inf", "1e400"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=5,
)
_records = st.dictionaries(st.sampled_from(["id", "name", "value", "other", "ID", "a,b"]), _values, max_size=5)
_raw_numbers = st.sampled_from(["1.50", "1E5", "-0", "1e-400", "2e308", "0.1e1", "12345678901234567890123", "-0.0e0"])


@st.composite
def _lines(draw: st.DrawFn) -> bytes:
    record = draw(_records)
    text = json.dumps(
        record, ensure_ascii=draw(st.booleans()), separators=draw(st.sampled_from([(",", ":"), (", ", ": ")]))
    )
    if record and draw(st.integers(0, 5)) == 0:
        key = draw(st.sampled_from(sorted(record)))
        mutation = draw(
            st.sampled_from(
                [
                    "repeat",
                    "trailing_comma",
                    "nan",
                    "raw_number",
                    "blank",
                    "spaces",
                    "junk",
                    "lenient_inf",
                    "cr",
                    "lone_cr",
                ]
            )
        )
        body = text[1:-1]
        text = {
            "repeat": "{" + body + ", " + json.dumps(key) + ": 1}",
            "trailing_comma": "{" + body + ",}",
            "nan": "{" + body + ', "value": NaN}',
            "raw_number": "{" + json.dumps(key) + ": " + draw(_raw_numbers) + "}",
            "blank": "",
            "spaces": "  " + text + "\t",
            "junk": text[: draw(st.integers(0, len(text)))],
            "lenient_inf": "{" + body + ', "other": -inf}',
            "cr": text + "\r",
            "lone_cr": text + "\r" + text,
        }[mutation]
    return text.encode("utf-8", "surrogatepass")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_lines(), min_size=1, max_size=40), st.sampled_from([64, 256, 8 << 20]))
def test_differential_generated_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, records: list[bytes], block: int
) -> None:
    path = tmp_path / "h.ndjson"
    path.write_bytes(b"\n".join(records) + b"\n")
    with monkeypatch.context() as m:
        m.setattr(formats_fast, "BLOCK_BYTES", block)
        try:
            both_ways(path, m, settings=ReadSettings(allow_empty=True, max_undecodable_percent=100))
        except SourceFileError as exc:  # pragma: no cover - must fail alike on both paths
            m.setattr(formats, "FAST_NDJSON", False)
            with pytest.raises(SourceFileError, match=str(exc)[:40].replace("(", r"\(")):
                read_all(path, COLS, settings=ReadSettings(allow_empty=True, max_undecodable_percent=100))


_odd_texts = st.one_of(
    st.text(max_size=12),
    st.from_regex(r"[-+]?(?i:nan|inf|infinity)x?", fullmatch=True),
    st.from_regex(r"-?[0-9]{1,4}(\.[0-9]{1,4})?([eE][-+]?[0-9]{1,5})?", fullmatch=True),
    st.sampled_from(["", "[", "{}", "-", "+n", "1" * 300 + ".5", "1" * 299, "e123", "1e12", "1e123"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), _odd_texts), max_size=30), st.integers(0, 3), st.booleans())
def test_byte_tests_for_doubtful_values_match_the_regular_expression(
    texts: list[str | None], offset: int, read: bool
) -> None:
    """formats_fast._doubtful decides with numpy what the regular expression says (on a sliced array too)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pa.array(["pad"] * offset + texts, pa.string()).slice(offset)
    pattern = formats_fast._ODD_READ if read else formats_fast._ODD_READ.split("|-?[0-9]+")[0] + ")"
    expected = [bool(m) for m in pc.match_substring_regex(values, pattern).fill_null(False).to_pylist()]
    assert formats_fast._doubtful(values, read=read).tolist() == expected


def _batches(path: Path, **kwargs: Any) -> list[tuple[list[dict[str, Any]], list[Reject]]]:
    return [(batch.to_pylist(), rejects) for batch, rejects in read_batches(path, COLS, **kwargs)]


@pytest.mark.parametrize("bad_at", [None, 1700])
def test_blocks_read_ahead_on_workers_as_one_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad_at: int | None
) -> None:
    """Blocks read on worker threads, several in flight: the same batches, in the same order, as
    one block at a time, and as the Python reader; with slow lines in every block (some at a
    block's edge), lone-\\r blocks (their line count is Python's: a lone \\r ends a line), and a
    block that is not UTF-8 in the middle (the rest of the file read by Python, nothing after it
    read twice)."""
    records = []
    for i in range(1, 4001):
        if i % 61 == 0:
            records.append(b'{"id":%d,"name":"dup","name":"x","value":1}' % i)
        elif i % 89 == 0:
            records.append(b'{"id":%d,"name":"nest","value":[1,2]}' % i)
        elif i % 700 == 0:
            records.append(b'{"id":%d,"name":"cr","value":1}\r{"id":0,"name":"two","value":2}' % i)
        elif i % 333 == 0:
            records.append(b"  ")
        else:
            records.append(b'{"id":%d,"name":"n%d","value":%d.25}' % (i, i, i))
    if bad_at is not None:
        records[bad_at] = b'{"id":1701,"name":"\xfe","value":1}'
    path = tmp_path / "ahead.ndjson"
    path.write_bytes(b"\n".join(records) + b"\n")
    monkeypatch.setattr(formats_fast, "BLOCK_BYTES", 1500)
    settings = ANY
    ahead = _batches(path, batch_rows=300, settings=settings)
    with monkeypatch.context() as m:
        m.setattr(formats_fast, "_AHEAD", 1)
        assert _batches(path, batch_rows=300, settings=settings) == ahead
    rows, rejects, _ = both_ways(path, monkeypatch, batch_rows=300, settings=settings)
    assert [r for batch, _ in ahead for r in batch] == rows
    assert sorted((r for _, rej in ahead for r in rej), key=lambda r: r.row) == rejects
    assert any(r["name"] == "two" for r in rows)
    undecodable = [r.row for r in rejects if "undecodable" in r.reason]
    assert undecodable == ([] if bad_at is None else [1703])  # (two lone \r before it)


def test_lines_not_shaped_like_an_object_leave_the_comma_count_to_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A block's commas less those of its lines not shaped like an object (a truncated line, with
    commas) vouch for the other lines only when they add up: a trailing comma still falls back."""
    path = tmp_path / "c.ndjson"
    python = decoded_by_python(monkeypatch)
    for last, slow in (('{"id":3,"name":"c","value":1}', [2, 4]), ('{"id":3,"name":"c","value":1,}', [2, 3, 4])):
        path.write_bytes(lines('{"id":1,"name":"a","value":1}', '{"id":2,"name":"x,y",', last, "[1,2,3]"))
        python.clear()
        read_all(path, COLS)
        assert python == slow
        rows, rejects, _ = both_ways(path, monkeypatch)
        assert ([r[ROW_COLUMN] for r in rows], [r.row for r in rejects]) == (sorted({1, 3} - set(slow)), slow)
