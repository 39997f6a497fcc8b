"""Tests for ``lockgate.formats``: every reader yields strings plus ``_row``, and rejects with reasons.

Files are written byte-exactly to disk and read back through the public ``read_batches``; the
tests assert on the values, the row numbers and the rejects.
"""

from __future__ import annotations

import datetime
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from lockgate import formats
from lockgate.formats import (
    ROW_COLUMN,
    ReadSettings,
    Reject,
    SourceFileError,
    count_records,
    detect_format,
    read_batches,
)

COLS = ["id", "name", "value"]


def read_all(path: Path, columns: list[str] = COLS, **kwargs: Any) -> tuple[list[dict[str, Any]], list[Reject]]:
    rows: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    for batch, batch_rejects in read_batches(path, columns, **kwargs):
        assert batch.schema.names == [*columns, ROW_COLUMN]
        assert all(str(t) == "string" for t in batch.schema.types[:-1])
        assert str(batch.schema.types[-1]) == "int64"
        rows += batch.to_pylist()
        rejects += batch_rejects
    return rows, rejects


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------------------------- CSV


def test_csv_header_picks_contract_columns_in_contract_order(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "a.csv", b"value,extra,name,id\n1.5,x,alpha,7\n,y,,8\n")
    rows, rejects = read_all(path)
    assert rejects == []
    assert rows == [
        {"id": "7", "name": "alpha", "value": "1.5", ROW_COLUMN: 2},
        {"id": "8", "name": None, "value": None, ROW_COLUMN: 3},  # empty fields are missing values
    ]


def test_csv_quoted_fields_row_is_where_the_record_starts(tmp_path: Path) -> None:
    data = (
        b"id,name,value\n"
        b'1,"Smith, Jane",10\n'  # line 2: embedded delimiter
        b'2,"two\nline\nname",20\n'  # lines 3-5: embedded newlines
        b'3,"say ""hi""",30\n'  # line 6: escaped quotes
        b"4,plain,40\n"  # line 7
    )
    rows, rejects = read_all(write_bytes(tmp_path / "q.csv", data))
    assert rejects == []
    assert [(r["id"], r["name"], r[ROW_COLUMN]) for r in rows] == [
        ("1", "Smith, Jane", 2),
        ("2", "two\nline\nname", 3),
        ("3", 'say "hi"', 6),
        ("4", "plain", 7),
    ]


def test_csv_crlf_line_endings(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "crlf.csv", b'id,name,value\r\n1,"a\r\nb",2\r\n3,c,4\r\n')
    rows, _ = read_all(path)
    assert [(r["id"], r["name"], r["value"], r[ROW_COLUMN]) for r in rows] == [
        ("1", "a\r\nb", "2", 2),
        ("3", "c", "4", 4),
    ]


def test_csv_utf8_bom_is_stripped(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "bom.csv", "\ufeffid,name,value\n1,Zoë,2\n".encode())
    rows, _ = read_all(path)
    assert rows == [{"id": "1", "name": "Zoë", "value": "2", ROW_COLUMN: 2}]
    assert formats.source_columns(path) == ["id", "name", "value"]


def test_csv_latin1_with_encoding(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "l1.csv", "id,name,value\n1,Düsseldorf,3\n".encode("latin-1"))
    rows, _ = read_all(path, encoding="latin-1")
    assert rows[0]["name"] == "Düsseldorf"
    # the same bytes read as UTF-8: its only record is undecodable (more than 10%), so the file
    # fails naming itself, the byte and the encoding setting to use
    with pytest.raises(SourceFileError, match=r"l1\.csv: 1 of 1 records \(100\.0%\) are not valid utf-8 text") as info:
        read_all(path)
    assert r"\xfc at byte offset 17 (line 2, byte 4 of the line)" in str(info.value)
    assert "set `encoding:` on the source" in str(info.value)


def test_csv_gzip(tmp_path: Path) -> None:
    path = tmp_path / "g.csv.gz"
    path.write_bytes(gzip.compress(b"id,name,value\n1,a,2\n2,b,3\n"))
    assert detect_format(path) == "csv"
    rows, _ = read_all(path)
    assert [(r["id"], r[ROW_COLUMN]) for r in rows] == [("1", 2), ("2", 3)]
    assert count_records(path) == 2


def test_csv_corrupt_gzip_is_a_source_error(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "bad.csv.gz", b"this is not gzip at all")
    with pytest.raises(SourceFileError, match=r"bad\.csv\.gz: unreadable"):
        read_all(path)


def test_csv_ragged_rows_are_rejected_with_row_and_width(tmp_path: Path) -> None:
    data = b"id,name,value\n1,a,2\n2,b\n3,c,4,extra\n4,d,5\n"
    rows, rejects = read_all(write_bytes(tmp_path / "r.csv", data), display_name="raw/r.csv")
    assert [r[ROW_COLUMN] for r in rows] == [2, 5]
    assert rejects == [
        Reject("raw/r.csv", 3, "expected 3 fields, found 2", "2,b"),
        Reject("raw/r.csv", 4, "expected 3 fields, found 4", "3,c,4,extra"),
    ]


def test_csv_malformed_quoting_is_a_reject(tmp_path: Path) -> None:
    data = b'id,name,value\n1,"a"b,2\n3,c,4\n'
    rows, rejects = read_all(write_bytes(tmp_path / "m.csv", data))
    assert [r["id"] for r in rows] == ["3"]
    assert rows[0][ROW_COLUMN] == 3
    assert [(r.row, r.reason.startswith("malformed CSV:")) for r in rejects] == [(2, True)]


def test_csv_blank_lines_are_no_records_but_keep_numbering(tmp_path: Path) -> None:
    data = b"id,name,value\n\n1,a,2\n\n\n2,b,3\n\n"
    path = write_bytes(tmp_path / "b.csv", data)
    rows, rejects = read_all(path)
    assert rejects == []
    assert [(r["id"], r[ROW_COLUMN]) for r in rows] == [("1", 3), ("2", 6)]
    assert count_records(path) == 2


def test_csv_empty_file_and_header_only(tmp_path: Path) -> None:
    # an empty delivery is an error naming the file (a truncated export looks the same), unless the
    # source allows it; it used to be 0 rows, silently
    empty = write_bytes(tmp_path / "empty.csv", b"")
    header = write_bytes(tmp_path / "header.csv", b"id,name,value\n")
    for path, what in ((empty, r"is empty \(0 bytes\)"), (header, r"has a header \(id,name,value\) but no records")):
        with pytest.raises(SourceFileError, match=rf"^{path}: {what}.*allow_empty: true"):
            read_all(path)
        with pytest.raises(SourceFileError, match=rf"^{path}: {what}"):
            count_records(path)
        assert read_all(path, settings=ReadSettings(allow_empty=True)) == ([], [])
        assert count_records(path, settings=ReadSettings(allow_empty=True)) == 0


def test_csv_missing_contract_column_names_file_and_column(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "miss.csv", b"id,title\n1,a\n")
    with pytest.raises(SourceFileError) as info:
        read_all(path, display_name="raw/x/miss.csv")
    message = str(info.value)
    assert message.startswith("raw/x/miss.csv: row 1: missing column(s) name, value")
    assert "(header: id, title)" in message


def test_csv_semicolon_delimiter(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "semi.csv", b"id;name;value\n1;a,b;2,5\n2;c\n")
    rows, rejects = read_all(path, delimiter=";")
    assert rows == [{"id": "1", "name": "a,b", "value": "2,5", ROW_COLUMN: 2}]
    assert [(r.row, r.reason, r.raw) for r in rejects] == [(3, "expected 3 fields, found 2", "2;c")]
    assert count_records(path, delimiter=";") == 2


def test_csv_batches_split_rows_and_rejects(tmp_path: Path) -> None:
    lines = ["id,name,value"] + [f"{i},n{i},{i}" if i % 4 else f"{i},bad" for i in range(1, 12)]
    path = write_bytes(tmp_path / "many.csv", ("\n".join(lines) + "\n").encode())
    batches = list(read_batches(path, COLS, batch_rows=3))
    assert all(b.num_rows + len(r) <= 3 for b, r in batches)
    rows = [row for b, _ in batches for row in b.to_pylist()]
    rejects = [r for _, rs in batches for r in rs]
    assert [r["id"] for r in rows] == [str(i) for i in range(1, 12) if i % 4]
    assert [r[ROW_COLUMN] for r in rows] == [i + 1 for i in range(1, 12) if i % 4]
    assert [r.row for r in rejects] == [5, 9]
    assert count_records(path) == 11


# ------------------------------------------------------------------------------------------ NDJSON


def test_ndjson_values_are_stringified(tmp_path: Path) -> None:
    lines = [
        {"id": 1, "name": "a", "value": 1.5},
        {"id": 2, "name": None, "value": True},
        {"id": 3, "name": "c", "value": False, "ignored": 1},
        {"id": 4, "value": 1e20},  # name missing
        {"id": 5, "name": {"nested": [1, 2]}, "value": -0.0},
        {"id": 12345678901234567890, "name": "ü", "value": 0.1},
    ]
    path = write_bytes(tmp_path / "n.ndjson", "".join(json.dumps(o) + "\n" for o in lines).encode())
    rows, rejects = read_all(path)
    assert rejects == []
    assert rows == [
        {"id": "1", "name": "a", "value": "1.5", ROW_COLUMN: 1},
        {"id": "2", "name": None, "value": "true", ROW_COLUMN: 2},
        {"id": "3", "name": "c", "value": "false", ROW_COLUMN: 3},
        {"id": "4", "name": None, "value": "1e+20", ROW_COLUMN: 4},
        {"id": "5", "name": '{"nested": [1, 2]}', "value": "-0.0", ROW_COLUMN: 5},
        {"id": "12345678901234567890", "name": "ü", "value": "0.1", ROW_COLUMN: 6},
    ]


def test_ndjson_invalid_and_non_object_lines_are_rejects_with_line_numbers(tmp_path: Path) -> None:
    data = (
        b'{"id": 1, "name": "a", "value": 2}\n'
        b"\n"  # blank: no record, line 2
        b"{'id': 2, 'name': None}\n"  # a Python repr: line 3
        b'{"id": 3, "name": "tru\n'  # truncated: line 4
        b"[1, 2]\n"  # not an object: line 5
        b'"just a string"\n'  # line 6
        b'  {"id": 7, "name": "g", "value": null}  \n'  # whitespace around: line 7
    )
    path = write_bytes(tmp_path / "bad.ndjson", data)
    rows, rejects = read_all(path, display_name="raw/bad.ndjson")
    assert [(r["id"], r["value"], r[ROW_COLUMN]) for r in rows] == [("1", "2", 1), ("7", None, 7)]
    assert [(r.file, r.row) for r in rejects] == [("raw/bad.ndjson", n) for n in (3, 4, 5, 6)]
    assert rejects[0].reason.startswith("invalid JSON at column 2:")
    assert rejects[0].raw == "{'id': 2, 'name': None}"
    assert rejects[1].reason.startswith("invalid JSON at column ")
    assert rejects[2].reason == "expected a JSON object, found list"
    assert rejects[2].raw == "[1, 2]"
    assert rejects[3].reason == "expected a JSON object, found str"
    assert count_records(path) == 6


def test_ndjson_jsonl_gzip(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"id": "a"}\n{"id": "b"}\n'))
    assert detect_format(path) == "ndjson"
    rows, _ = read_all(path, ["id"])
    assert rows == [{"id": "a", ROW_COLUMN: 1}, {"id": "b", ROW_COLUMN: 2}]


def test_reject_raw_text_is_truncated(tmp_path: Path) -> None:
    long_line = '{"id": "' + "x" * 2000
    path = write_bytes(tmp_path / "long.ndjson", (long_line + "\n").encode())
    _, rejects = read_all(path)
    assert rejects[0].raw == long_line[:500] + f"... ({len(long_line)} chars)"


# -------------------------------------------------------------------------------------- JSON array


def test_json_array_basic(tmp_path: Path) -> None:
    data = b' \n[ {"id": 1, "name": "a", "value": 2.5},\n  {"id": 2, "value": null} ,{"id":3}\n]\n'
    rows, rejects = read_all(write_bytes(tmp_path / "a.json", data))
    assert rejects == []
    assert rows == [
        {"id": "1", "name": "a", "value": "2.5", ROW_COLUMN: 1},
        {"id": "2", "name": None, "value": None, ROW_COLUMN: 2},
        {"id": "3", "name": None, "value": None, ROW_COLUMN: 3},
    ]


def test_json_array_streams_across_tiny_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elements = [
        {"id": 1, "name": "a long name that spans several chunks", "value": 12345.678},
        {"id": 22, "name": "ünïcode ✓", "value": -0.000125},
        {"id": 333, "name": 'esc"aped\\ and \n newline', "value": 1e-7},
        {"id": 4444, "name": "", "value": 99999999999},
    ]
    text = json.dumps(elements, ensure_ascii=False, indent=1)
    path = write_bytes(tmp_path / "chunks.json", text.encode())
    expected = read_all(path)  # default 1 MiB chunk: the whole file at once
    monkeypatch.setattr(formats, "_JSON_CHUNK", 7)
    assert read_all(path) == expected
    assert [r["name"] for r in expected[0]] == [e["name"] for e in elements]
    assert [r["value"] for r in expected[0]] == ["12345.678", "-0.000125", "1e-07", "99999999999"]
    assert [r["id"] for r in expected[0]] == ["1", "22", "333", "4444"]


@pytest.mark.parametrize("pad", range(8))
def test_json_array_numbers_at_a_chunk_edge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pad: int) -> None:
    """Shift the data by ``pad`` so every split point of the numbers meets a 7-char chunk edge."""
    monkeypatch.setattr(formats, "_JSON_CHUNK", 7)
    text = "[" + " " * pad + '-12.5e+3 , {"id":1234567,"value":3.25e-2}, 98765, 4.5e1 ,{"id":-1.5}]'
    path = write_bytes(tmp_path / "edge.json", text.encode())
    rows, rejects = read_all(path)
    assert [(r["id"], r["value"], r[ROW_COLUMN]) for r in rows] == [("1234567", "0.0325", 2), ("-1.5", None, 5)]
    assert [(r.row, r.reason, r.raw) for r in rejects] == [
        (1, "expected a JSON object, found float", "-12.5e+3"),
        (3, "expected a JSON object, found int", "98765"),
        (4, "expected a JSON object, found float", "4.5e1"),
    ]
    assert count_records(path) == 5


def test_json_array_empty(tmp_path: Path) -> None:
    allowed = ReadSettings(allow_empty=True)
    for name, data, what in (
        ("e1.json", b"[]", "is an empty JSON array"),
        ("e2.json", b"  \n [ \n ] \n", "is an empty JSON array"),
        ("e3.json", b"", r"is empty \(0 bytes\)"),
    ):
        path = write_bytes(tmp_path / name, data)
        with pytest.raises(SourceFileError, match=rf"^{path}: {what}"):
            read_all(path)
        assert read_all(path, settings=allowed) == ([], [])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"id": 1}', r"row 1: expected a JSON array, found '\{'"),
        (b'"text"', r"row 1: expected a JSON array, found '\"'"),
        (b'[{"id": 1} {"id": 2}]', r"element 2: expected ',' or '\]' in the JSON array"),
        (b'[{"id": 1}, {"id": ]', r"element 2: invalid JSON: Expecting value"),
        (b'[{"id": 1},', r"element 2: invalid JSON"),
        (b'[{"id": 1}', r"element 2: expected ',' or '\]'"),
    ],
)
def test_json_not_an_array_or_broken_is_an_error(tmp_path: Path, data: bytes, message: str) -> None:
    path = write_bytes(tmp_path / "x.json", data)
    with pytest.raises(SourceFileError, match=rf"^raw/x\.json: {message}"):
        read_all(path, display_name="raw/x.json")


def test_json_array_element_not_an_object_is_a_reject(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "mixed.json", b'[{"id": 1}, [1, 2], null, "s", true, {"id": 6}]')
    rows, rejects = read_all(path, ["id"])
    assert rows == [{"id": "1", ROW_COLUMN: 1}, {"id": "6", ROW_COLUMN: 6}]
    assert [(r.row, r.reason, r.raw) for r in rejects] == [
        (2, "expected a JSON object, found list", "[1, 2]"),
        (3, "expected a JSON object, found NoneType", "null"),
        (4, "expected a JSON object, found str", '"s"'),
        (5, "expected a JSON object, found bool", "true"),
    ]
    assert count_records(path) == 6


# ----------------------------------------------------------------------------------------- Parquet


def write_parquet(path: Path, row_group_size: int = 3) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    utc = datetime.UTC
    table = pa.table(
        {
            "id": pa.array([1, 2, 3, 4, 5, 6, 7], pa.int64()),
            "name": pa.array(["a", None, "c", "d", "e", "f", "g"], pa.string()),
            "value": pa.array([1.5, 2.0, None, -0.25, 1e20, 0.1, 3.0], pa.float64()),
            "ok": pa.array([True, False, None, True, True, False, True]),
            "day": pa.array([datetime.date(2026, 1, 2)] * 7, pa.date32()),
            "at_utc": pa.array(
                [datetime.datetime(2026, 1, 2, h, 30, 15, 250000 if h == 1 else 0, tzinfo=utc) for h in range(7)],
                pa.timestamp("us", tz="UTC"),
            ),
            "at_chicago": pa.array(
                [datetime.datetime(2026, 1, 2, h, tzinfo=utc) for h in range(7)],
                pa.timestamp("ms", tz="America/Chicago"),
            ),
            "naive": pa.array([datetime.datetime(2026, 1, 2, 5, 6, 7)] * 7, pa.timestamp("s")),
        }
    )
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def test_parquet_typed_columns_come_back_as_strings(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "t.parquet")
    columns = ["id", "name", "value", "ok", "day", "at_utc", "at_chicago", "naive"]
    rows, rejects = read_all(path, columns)
    assert rejects == []
    assert rows[0] == {
        "id": "1",
        "name": "a",
        "value": "1.5",
        "ok": "true",
        "day": "2026-01-02",
        "at_utc": "2026-01-02T00:30:15.000000+0000",
        "at_chicago": "2026-01-01T18:00:00.000-0600",
        "naive": "2026-01-02 05:06:07.000",  # Parquet keeps seconds as milliseconds
        ROW_COLUMN: 1,
    }
    assert rows[1]["at_utc"] == "2026-01-02T01:30:15.250000+0000"
    assert rows[1]["name"] is None
    assert rows[2]["value"] is None
    assert rows[2]["ok"] is None
    assert rows[4]["value"] == "1e+20"


def test_parquet_tz_aware_strings_mean_the_same_instant(tmp_path: Path) -> None:
    """What the reader writes must be readable by the gate's engine as the original instant."""
    import duckdb

    path = write_parquet(tmp_path / "t.parquet")
    rows, _ = read_all(path, ["at_utc", "at_chicago"])
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    for hour, row in enumerate(rows):
        utc, chicago = con.execute(
            "SELECT CAST($1 AS TIMESTAMPTZ), CAST($2 AS TIMESTAMPTZ)", [row["at_utc"], row["at_chicago"]]
        ).fetchone()
        micros = 250000 if hour == 1 else 0
        assert utc == datetime.datetime(2026, 1, 2, hour, 30, 15, micros, tzinfo=datetime.UTC)
        assert chicago == datetime.datetime(2026, 1, 2, hour, tzinfo=datetime.UTC)


@pytest.mark.parametrize("batch_rows", [1, 2, 3, 5, 100])
def test_parquet_row_numbers_continue_across_batches(tmp_path: Path, batch_rows: int) -> None:
    path = write_parquet(tmp_path / "b.parquet", row_group_size=3)
    batches = list(read_batches(path, ["id"], batch_rows=batch_rows))
    assert all(b.num_rows <= batch_rows for b, _ in batches)
    rows = [row for b, _ in batches for row in b.to_pylist()]
    assert [(r["id"], r[ROW_COLUMN]) for r in rows] == [(str(i), i) for i in range(1, 8)]


def test_parquet_missing_column_and_unreadable_file(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "m.parquet")
    with pytest.raises(SourceFileError, match=r"^lake/m\.parquet: missing column\(s\) colour \(columns: id, name"):
        read_all(path, ["id", "colour"], display_name="lake/m.parquet")
    junk = write_bytes(tmp_path / "junk.parquet", b"PAR1 not really")
    with pytest.raises(SourceFileError, match=r"junk\.parquet: not a readable Parquet file"):
        read_all(junk, ["id"])


# ------------------------------------------------------------------------------------ shared bits


def test_count_records_equals_rows_plus_rejects_for_each_format(tmp_path: Path) -> None:
    csv_path = write_bytes(tmp_path / "c.csv", b"id,name,value\n1,a,2\n2,b\n\n3,c,4\n4,d,5,6\n")
    ndjson_path = write_bytes(tmp_path / "n.ndjson", b'{"id":1}\nnope\n\n[1]\n{"id":2}\n')
    json_path = write_bytes(tmp_path / "j.json", b'[{"id":1}, 2, {"id":3}, "x"]')
    parquet_path = write_parquet(tmp_path / "p.parquet")
    expected = {csv_path: (2, 2), ndjson_path: (2, 2), json_path: (2, 2), parquet_path: (7, 0)}
    for path, (n_rows, n_rejects) in expected.items():
        rows, rejects = read_all(path, ["id"])
        assert (len(rows), len(rejects)) == (n_rows, n_rejects), path
        assert count_records(path) == n_rows + n_rejects, path


def test_ndjson_count_without_decoding_equals_what_the_reader_reads(tmp_path: Path) -> None:
    """count_records does not decode NDJSON records: every kind of line the reader rejects or reads
    must still count as exactly one record (and a blank one as none)."""
    lines = [
        b'{"id": 1, "name": "a"}',
        b'{"id": 2, "id": 3}',  # a repeated key: rejected
        b'{"id": "\\ud800"}',  # a lone surrogate's escape: rejected
        b'{"id": "' + b"x" * 300 + b'"}',  # over max_field_bytes below: rejected
        b"\xff\xfe not utf-8",  # undecodable: rejected
        b"   \t ",  # blank: no record
        "\u3000\u2003".encode(),  # Unicode spaces only: blank too (str.strip)
        b'{"id": 4}\r',  # CRLF
        b"[1, 2]",  # not an object: rejected
        b'{"id": 5',  # invalid JSON: rejected
        b'  {"id": 6}  ',
    ]
    path = write_bytes(tmp_path / "n.ndjson", b"\n".join(lines) + b"\n\n")
    settings = ReadSettings(max_field_bytes=200, max_undecodable_percent=50)
    rows, rejects = read_all(path, ["id", "name"], settings=settings)
    assert (len(rows), len(rejects)) == (3, 6)
    assert count_records(path, settings=settings) == 9
    # and a file that is mostly undecodable is refused by the count as by the reader
    bad = write_bytes(tmp_path / "bad.ndjson", b"\xff\n\xfe\n" + b'{"id": 1}\n')
    with pytest.raises(SourceFileError, match=r"2 of 3 records .* are not valid utf-8"):
        count_records(bad)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.csv", "csv"),
        ("A.CSV", "csv"),
        ("a.csv.gz", "csv"),
        ("dir.json/a.ndjson", "ndjson"),
        ("a.jsonl", "ndjson"),
        ("a.jsonl.gz", "ndjson"),
        ("a.json", "json"),
        ("a.json.gz", "json"),
        ("a.parquet", "parquet"),
        ("s3://bucket/raw/ds=2026-01-02/readings.ndjson", "ndjson"),
    ],
)
def test_detect_format(name: str, fmt: str) -> None:
    assert detect_format(name) == fmt


@pytest.mark.parametrize("name", ["a.txt", "a.gz", "csv", "a.csv.bak", "a.xlsx"])
def test_detect_format_unknown(name: str) -> None:
    with pytest.raises(SourceFileError, match="cannot tell the format from the file name"):
        detect_format(name)


def test_explicit_format_overrides_the_name(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "data.txt", b'{"id": 9}\n')
    rows, _ = read_all(path, ["id"], fmt="ndjson")
    assert rows == [{"id": "9", ROW_COLUMN: 1}]
    with pytest.raises(SourceFileError, match="unknown format 'xml'"):
        read_all(path, ["id"], fmt="xml")
