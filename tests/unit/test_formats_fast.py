"""The CSV fast path (Arrow) against the Python ``csv`` reader, compression, and header variants.

The fast path must be indistinguishable from the Python reader: the same values, the same ``_row``
numbers, the same rejects, the same counts. Each case reads a file twice - once as shipped, once
with the fast path switched off - and compares everything.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lockgate import formats
from lockgate.formats import ROW_COLUMN, Reject, SourceFileError, count_records, detect_format, read_batches

COLS = ["id", "name", "value"]


def zstd_compress(data: bytes) -> bytes:
    import pyarrow as pa

    return pa.compress(data, codec="zstd", asbytes=True)


def read_all(path: Path, columns: list[str] = COLS, **kwargs: Any) -> tuple[list[dict[str, Any]], list[Reject]]:
    rows: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    for batch, batch_rejects in read_batches(path, columns, **kwargs):
        assert batch.schema.names == [*columns, ROW_COLUMN]
        assert batch.num_rows + len(batch_rejects) <= kwargs.get("batch_rows", formats.DEFAULT_BATCH_ROWS)
        rows += batch.to_pylist()
        rejects += batch_rejects
    return rows, sorted(rejects, key=lambda r: r.row)


def both_ways(
    path: Path, monkeypatch: pytest.MonkeyPatch, columns: list[str] = COLS, **kwargs: Any
) -> tuple[list[dict[str, Any]], list[Reject], int]:
    """Read with the fast path and with the Python reader; assert they agree and return the result."""
    fast = read_all(path, columns, **kwargs)
    count_kwargs = {k: v for k, v in kwargs.items() if k in ("delimiter", "encoding", "settings")}
    fast_count = count_records(path, **count_kwargs)
    with monkeypatch.context() as m:
        m.setattr(formats, "_scan_csv", lambda *a, **k: None)
        slow = read_all(path, columns, **kwargs)
        slow_count = count_records(path, **count_kwargs)
    assert fast == slow
    assert fast_count == slow_count == len(fast[0]) + len(fast[1])
    return fast[0], fast[1], fast_count


FAST_CASES = {
    "plain": b"id,name,value\n1,a,2\n2,b,3\n",
    "no_trailing_newline": b"id,name,value\n1,a,2\n2,b,3",
    "crlf": b"id,name,value\r\n1,a,2\r\n2,b,3\r\n",
    "cr_only": b"id,name,value\r1,a,2\r2,b,3\r",
    "bom": b"\xef\xbb\xbfid,name,value\n1,Zo\xc3\xab,2\n",
    "ragged": b"id,name,value\n1,a,2\n2,b\n3,c,4,extra\n4,d,5\n,,\n5,,\n",
    "empty_fields": b"id,name,value\n,,\n1,,\n",
    "header_only": b"id,name,value\n",
    "empty": b"",
    "reordered_extra": b"value,extra,name,id\n2,x,a,1\n3,y,b,2\n",
    "nul_byte": b"id,name,value\n1,a\x00b,2\n2,b,3\n",
    # quoting: the fast path takes quotes closed on their own line, the rest falls back
    "quoted": b'id,name,value\n1,"a, b",2\n2,"say ""hi""",3\n3,"",""\n"4","d","5"\n5,"""",""""""\n',
    "quoted_ragged": b'id,name,value\n1,"a,b"\n2,"x","y","z",w\n3,c,4\n4,"""q"\n',
    "quoted_header": b'"id","name","value","x,y"\n1,a,2,3\n',
    "cr_after_lf_is_a_blank_line": b"id,name,value\n1,a,2\n\r2,b,3\n",
    "quoted_crlf": b'id,name,value\r\n1,"a,b",2\r\n2,"c",3\r\n',
    "quoted_bom": b'\xef\xbb\xbf"id",name,value\n1,"a",2\n',
    "quote_inside_unquoted": b'id,name,value\n1,a"b,2\n2,b,3\n',
    "quoted_spanning_lines": b'id,name,value\n1,"a\nb",2\n3,c,4\n',
    "quoted_spanning_cr": b'id,name,value\r\n1,"a\rb",2\r\n3,c,4\r\n',
    "text_after_closing_quote": b'id,name,value\n1,"a"b,2\n2,c,3\n',
    "space_before_quote": b'id,name,value\n1, "a",2\n',
    "unclosed_quote": b'id,name,value\n1,"a,2\n2,b,3\n',
}


@pytest.mark.parametrize("case", sorted(FAST_CASES))
@pytest.mark.parametrize("compression", ["", ".gz", ".zst"])
def test_fast_path_agrees_with_python_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, compression: str
) -> None:
    data = FAST_CASES[case]
    packed = {"": data, ".gz": gzip.compress(data), ".zst": zstd_compress(data)}[compression]
    path = tmp_path / f"{case}.csv{compression}"
    path.write_bytes(packed)
    if case in ("empty", "header_only"):
        # no records: an error naming the file on both paths, unless the source allows empty files
        for scan in (formats._scan_csv, lambda *a, **k: None):
            with monkeypatch.context() as m:
                m.setattr(formats, "_scan_csv", scan)
                with pytest.raises(SourceFileError, match=f"^{path}: .*no records"):
                    read_all(path)
                with pytest.raises(SourceFileError, match=f"^{path}: .*no records"):
                    count_records(path)
        rows, rejects, count = both_ways(path, monkeypatch, settings=formats.ReadSettings(allow_empty=True))
        assert (rows, rejects, count) == ([], [], 0)
        return
    rows, rejects, count = both_ways(path, monkeypatch)
    if case == "ragged":
        assert [(r["id"], r[ROW_COLUMN]) for r in rows] == [("1", 2), ("4", 5), (None, 6), ("5", 7)]
        assert [(r.row, r.reason, r.raw) for r in rejects] == [
            (3, "expected 3 fields, found 2", "2,b"),
            (4, "expected 3 fields, found 4", "3,c,4,extra"),
        ]
        assert count == 6
    if case in ("plain", "crlf", "cr_only", "no_trailing_newline"):
        assert rows == [
            {"id": "1", "name": "a", "value": "2", ROW_COLUMN: 2},
            {"id": "2", "name": "b", "value": "3", ROW_COLUMN: 3},
        ]
    if case == "quoted":
        assert [(r["name"], r["value"]) for r in rows] == [
            ("a, b", "2"),
            ('say "hi"', "3"),
            (None, None),
            ("d", "5"),
            ('"', '""'),
        ]
    if case == "quoted_ragged":
        assert [(r.row, r.raw) for r in rejects] == [(2, "1,a,b"), (3, "2,x,y,z,w"), (5, '4,"q')]
    if case == "reordered_extra":
        assert [(r["id"], r["name"], r["value"]) for r in rows] == [("1", "a", "2"), ("2", "b", "3")]


def test_fast_path_is_taken_only_when_exact(tmp_path: Path) -> None:
    def plan(data: bytes, **kwargs: Any) -> Any:
        path = tmp_path / "f.csv"
        path.write_bytes(data)
        return formats._scan_csv(path, kwargs.get("delimiter", ","), kwargs.get("encoding", "utf-8"))

    assert plan(b"id,name\n1,a\n2,b\n") == formats._FastCsv(["id", "name"], 2)
    assert plan(b'id,name\n1,"a, b"\n') == formats._FastCsv(["id", "name"], 1, quoted=True)
    assert plan(b'"id","name"\n1,"say ""hi"""\n') == formats._FastCsv(["id", "name"], 1, quoted=True)
    assert plan(b'id,name\n1,"a\nb"\n') is None  # a quoted field over two lines: the Python reader
    assert plan(b'id,name\n1,a"b\n') is None  # a quote inside an unquoted field: the Python reader
    assert plan(b'id,name\n1,"a"b\n') is None  # text after a closing quote: the Python reader
    assert plan(b"id,name\n\n1,a\n") is None  # a blank line shifts numbering: the Python reader
    assert plan(b"id,name\n1,\xfc\n") is None  # not UTF-8: the Python reader names the error
    assert plan(b"id,name\n1,a\n", encoding="latin-1") is None
    assert plan(b"id,name\n1,a\x00b\n") is None  # a NUL byte: the Python reader rejects the record
    assert plan(b"id;name\n1;a\n", delimiter=";") == formats._FastCsv(["id", "name"], 1)


def test_fast_path_numbers_rows_across_many_batches_with_rejects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = ["id,name,value"] + [f"{i},n{i},{i}" if i % 97 else f"{i},bad" for i in range(1, 20_001)]
    path = tmp_path / "many.csv"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(formats, "_SCAN_CHUNK", 4096)  # \r\n and edges across scan chunks
    rows, rejects, count = both_ways(path, monkeypatch, batch_rows=1000)
    assert count == 20_000
    assert [r.row for r in rejects] == [i + 1 for i in range(97, 20_001, 97)]
    assert rows[-1] == {"id": "20000", "name": "n20000", "value": "20000", ROW_COLUMN: 20_001}


@pytest.mark.parametrize(
    ("data", "kwargs"),
    [
        (b"id;name;value\n1;a,b;2,5\n2;c\n", {"delimiter": ";"}),
        (b"id\tname\tvalue\n1\ta b\t2\n2\tc\n", {"delimiter": "\t"}),
    ],
)
def test_delimiters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes, kwargs: dict[str, Any]) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(data)
    rows, rejects, _ = both_ways(path, monkeypatch, **kwargs)
    assert [(r["id"], r["value"], r[ROW_COLUMN]) for r in rows] == [("1", "2,5" if ";" in str(kwargs) else "2", 2)]
    assert [(r.row, r.reason) for r in rejects] == [(3, "expected 3 fields, found 2")]


def test_quoted_fields_with_delimiter_newline_and_quotes_take_the_python_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "q.csv.zst"
    path.write_bytes(zstd_compress(b'id,name,value\n1,"a, b",2\n2,"two\nlines",3\n3,"say ""hi""",4\n'))
    rows, rejects, count = both_ways(path, monkeypatch)
    assert rejects == []
    assert [(r["name"], r[ROW_COLUMN]) for r in rows] == [("a, b", 2), ("two\nlines", 3), ('say "hi"', 5)]
    assert count == 3


def test_header_matches_ignoring_case_and_whitespace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "h.csv"
    path.write_bytes(b" Value ,NAME,Id \n2,a,1\n")
    rows, _, _ = both_ways(path, monkeypatch)
    assert rows == [{"id": "1", "name": "a", "value": "2", ROW_COLUMN: 2}]
    assert formats.match_columns(["ID ", "x"], ["id", "X"]) == [0, 1]
    # two names feeding one column are an error naming it (an exact name used to win silently)
    with pytest.raises(
        formats.DuplicateColumnError,
        match=r"column id is named 2 times in the header: 'ID' \(field 1\) and 'id' \(field 2\)",
    ):
        formats.match_columns(["ID", "id", "x"], ["id", "X"])
    assert formats.column_drift([" Value ", "NAME", "Id ", "extra"], COLS) == (["extra"], [])
    assert formats.column_drift(["id"], COLS) == ([], ["name", "value"])


def test_latin1_with_bom_less_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "l1.csv.gz"
    path.write_bytes(gzip.compress("id,name,value\n1,Düsseldorf,3\n".encode("latin-1")))
    rows, _, _ = both_ways(path, monkeypatch, encoding="latin-1")
    assert rows[0]["name"] == "Düsseldorf"


@pytest.mark.parametrize("name", ["a.csv.zst", "a.ndjson.zstd", "a.json.zst", "a.parquet.zst", "a.parquet.gz"])
def test_detect_format_sees_through_compression(name: str) -> None:
    assert detect_format(name) == name.split(".")[1]
    assert formats.compression_of(name) in ("zstd", "gzip")


def test_corrupt_zstd_is_a_source_error_naming_the_file(tmp_path: Path) -> None:
    for name in ("bad.csv.zst", "bad.ndjson.zst", "bad.parquet.zst"):
        path = tmp_path / name
        path.write_bytes(b"\x28\xb5\x2f\xfd this is not a zstd frame")
        with pytest.raises(SourceFileError, match=rf"{name.replace('.', '[.]')}: unreadable"):
            read_all(path, ["id"])


_FIELD = st.text(alphabet='ab ,"\n\r;', max_size=6)


@st.composite
def _csv_files(draw: st.DrawFn) -> bytes:
    import csv
    import io

    rows = draw(st.lists(st.lists(_FIELD, min_size=2, max_size=4), min_size=1, max_size=12))
    out = io.StringIO(newline="")
    writer = csv.writer(out, quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])), lineterminator="\n")
    writer.writerow(["id", "name", "value"])
    for row in rows:
        if draw(st.integers(0, 4)) == 0:
            out.write(",".join(row) + draw(st.sampled_from(["\n", "\r\n"])))  # unquoted: maybe malformed
        else:
            writer.writerow(row)
    return out.getvalue().encode()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_csv_files(), chunk=st.sampled_from([16, 4096]))
def test_differential_generated_quoting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes, chunk: int
) -> None:
    """Generated CSVs (quoted by csv.writer, or fields joined raw): fast and Python readers agree."""
    path = tmp_path / "g.csv"
    path.write_bytes(data)
    with monkeypatch.context() as m:
        m.setattr(formats, "_SCAN_CHUNK", chunk)
        try:
            both_ways(path, m, settings=formats.ReadSettings(allow_empty=True))
        except SourceFileError as exc:
            m.setattr(formats, "_scan_csv", lambda *a, **k: None)
            with pytest.raises(SourceFileError, match=re.escape(str(exc)[:60])):
                read_all(path, settings=formats.ReadSettings(allow_empty=True))
