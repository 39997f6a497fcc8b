"""Records, not files (issue 14): what one unreadable record, a wrong encoding, a repeated header
name, an oversized field or an empty file does - read by ``lockgate.formats`` and through the real
gate (``lockgate.gate.run_gate``: DuckDB, the quarantine Parquet file and the report).

Every gate case asserts the accounting: rows in (the count ingestion records) = rows passed +
quarantined + duplicates removed, and the staged and quarantined rows themselves.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest

from lockgate import formats
from lockgate.contracts import parse_contract
from lockgate.formats import (
    ROW_COLUMN,
    DuplicateColumnError,
    ReadSettings,
    Reject,
    SourceFileError,
    count_records,
    read_batches,
)
from lockgate.gate import RawFile, run_gate

DS = "2026-01-02"
COLS = ["id", "name", "value"]
CONTRACT = parse_contract(
    {
        "dataset": "things",
        "columns": {
            "id": {"type": "integer", "nullable": False},
            "name": {"type": "string"},
            "value": {"type": "double"},
        },
    }
)
ALLOW_EMPTY = ReadSettings(allow_empty=True)


def read_all(path: Path, columns: list[str] = COLS, **kwargs: Any) -> tuple[list[dict[str, Any]], list[Reject]]:
    rows: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    for batch, batch_rejects in read_batches(path, columns, **kwargs):
        rows += batch.to_pylist()
        rejects += batch_rejects
    return rows, rejects


def python_reader_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Switch the CSV fast path off: the exact Python reader reads every file."""
    monkeypatch.setattr(formats, "_scan_csv", lambda *a, **k: None)


def gate(
    tmp_path: Path, path: Path, fmt: str, settings: ReadSettings = formats.DEFAULT_SETTINGS, encoding: str = "utf-8"
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Count the file as ingestion does, gate it, check the accounting; (report, staged, quarantined)."""
    import pyarrow.parquet as pq

    rows = count_records(path, fmt=fmt, encoding=encoding, settings=settings, display_name=f"raw/{path.name}")
    raw = RawFile(f"raw/{path.name}", path, fmt, rows, encoding=encoding, read=settings)
    outcome = run_gate(CONTRACT, [raw], ds=DS, workdir=tmp_path / "gate")
    report = outcome.report
    staged = pq.read_table(outcome.staged_path).to_pylist() if outcome.staged_path.exists() else []
    quarantined = pq.read_table(outcome.quarantine_path).to_pylist() if outcome.quarantine_path.exists() else []
    assert report["rows_in"] == rows
    assert rows == report["rows_passed"] + report["rows_quarantined"] + report["duplicates_removed"]
    assert (len(staged), len(quarantined)) == (report["rows_passed"], report["rows_quarantined"])
    return report, staged, quarantined


def csv_bytes(n: int, name: Any = lambda i: f"name-{i}") -> bytes:
    return ("id,name,value\n" + "".join(f"{i},{name(i)},{i}.5\n" for i in range(1, n + 1))).encode()


# ------------------------------------------------------------------------------ undecodable bytes


def test_one_bad_byte_in_10000_csv_rows_quarantines_that_row_only(tmp_path: Path) -> None:
    data = csv_bytes(10_000).replace(b"\n5000,name-5000,", b"\n5000,caf\xe9,")
    offset = data.index(b"\xe9")
    path = tmp_path / "big.csv"
    path.write_bytes(data)
    report, staged, quarantined = gate(tmp_path, path, "csv")
    assert (report["rows_in"], report["rows_passed"], report["rows_quarantined"]) == (10_000, 9_999, 1)
    [q] = quarantined
    # row 5000 is on line 5001; "5000,caf" is 8 bytes, so the bad byte is the 9th of its line
    assert (q["source_file"], q["source_row"], q["column_name"]) == ("raw/big.csv", 5001, None)
    assert q["reason"] == (
        f"row 5001: not valid utf-8 text: undecodable byte(s) \\xe9 at byte offset {offset} "
        "(line 5001, byte 9 of the line)"
    )
    assert q["record"] == "5000,caf\\xe9,5000.5"
    assert sorted(r["id"] for r in staged) == [i for i in range(1, 10_001) if i != 5000]
    assert {(r["id"], r["name"], r["value"]) for r in staged if r["id"] in (4999, 5001)} == {
        (4999, "name-4999", 4999.5),
        (5001, "name-5001", 5001.5),
    }


def test_one_bad_byte_in_10000_ndjson_records_quarantines_that_record_only(tmp_path: Path) -> None:
    lines = [json.dumps({"id": i, "name": f"name-{i}", "value": i + 0.5}).encode() for i in range(1, 10_001)]
    lines[6999] = b'{"id": 7000, "name": "Z\xfcrich", "value": 1}'
    data = b"\n".join(lines) + b"\n"
    offset = data.index(b"\xfc")
    path = tmp_path / "big.ndjson"
    path.write_bytes(data)
    report, staged, quarantined = gate(tmp_path, path, "ndjson")
    assert (report["rows_in"], report["rows_passed"], report["rows_quarantined"]) == (10_000, 9_999, 1)
    [q] = quarantined
    assert (q["source_row"], q["column_name"]) == (7000, None)
    in_line = offset - data.index(b'{"id": 7000') + 1
    assert f"undecodable byte(s) \\xfc at byte offset {offset} (line 7000, byte {in_line} of the line)" in q["reason"]
    assert "not valid utf-8 text" in q["reason"]
    assert "Z\\xfcrich" in q["record"]
    assert sorted(r["id"] for r in staged) == [i for i in range(1, 10_001) if i != 7000]


@pytest.mark.parametrize("fmt", ["ndjson", "json"])
def test_a_lone_surrogate_escape_quarantines_its_record_naming_the_column(tmp_path: Path, fmt: str) -> None:
    # valid JSON text whose string decodes to a lone surrogate: no UTF-8 writer can store it (it used
    # to fail the whole gate with a UnicodeEncodeError naming no file or row)
    records = ['{"id": 1, "name": "ok", "value": 1}', '{"id": 2, "name": "bad \\ud800 here", "value": 2}']
    records.append('{"id": 3, "name": "pair \\ud83d\\ude00 is fine", "value": 3}')
    text = "\n".join(records) + "\n" if fmt == "ndjson" else "[" + ",\n".join(records) + "]"
    path = tmp_path / f"s.{fmt}"
    path.write_text(text, encoding="utf-8")
    report, staged, quarantined = gate(tmp_path, path, fmt)
    assert (report["rows_in"], report["rows_passed"], report["rows_quarantined"]) == (3, 2, 1)
    [q] = quarantined
    assert (q["source_row"], q["column_name"]) == (2, "name")
    assert "column name: the escape of a lone UTF-16 surrogate" in q["reason"]
    assert "\\ud800" in q["record"]
    assert sorted((r["id"], r["name"]) for r in staged) == [(1, "ok"), (3, "pair \U0001f600 is fine")]


def test_bad_bytes_in_a_json_array_element_and_a_gzip_csv(tmp_path: Path) -> None:
    elements = [json.dumps({"id": i, "name": f"n{i}", "value": i}).encode() for i in range(1, 21)]
    elements[4] = b'{"id": 5, "name": "\xff\xfe", "value": 5}'
    data = b"[" + b",\n".join(elements) + b"]"
    path = tmp_path / "a.json"
    path.write_bytes(data)
    rows, rejects = read_all(path)
    assert len(rows) == 19
    [r] = rejects
    assert (r.row, r.column) == (5, None)
    offset = data.index(b"\xff")
    assert r.reason == f"not valid utf-8 text: undecodable byte(s) \\xff\\xfe at byte offset {offset}"

    packed = tmp_path / "g.csv.gz"
    plain = csv_bytes(30).replace(b"\n7,name-7,", b"\n7,\xc3(,")  # \xc3 starts a 2-byte sequence
    packed.write_bytes(gzip.compress(plain))
    rows, rejects = read_all(packed)
    # the offset is in the decompressed text, as the reader sees it
    offset = plain.index(b"\xc3")
    assert [(r.row, r.reason) for r in rejects] == [
        (8, f"not valid utf-8 text: undecodable byte(s) \\xc3 at byte offset {offset} (line 8, byte 3 of the line)")
    ]
    assert len(rows) == 29


def test_a_bad_byte_inside_a_quoted_multiline_field_names_the_line_it_is_on(tmp_path: Path) -> None:
    data = b'id,name,value\n1,a,1\n2,"two\nlines \xe9",2\n3,c,3\n'
    path = tmp_path / "q.csv"
    path.write_bytes(data)
    rows, rejects = read_all(path, settings=ReadSettings(max_undecodable_percent=50))
    assert [r["id"] for r in rows] == ["1", "3"]
    [r] = rejects
    # the record starts on line 3; the bad byte is on line 4, byte 7
    offset = data.index(b"\xe9")
    assert (r.row, r.reason) == (
        3,
        f"not valid utf-8 text: undecodable byte(s) \\xe9 at byte offset {offset} (line 4, byte 7 of the line)",
    )


def test_a_bad_byte_in_a_utf16_file_is_measured_in_utf16_bytes(tmp_path: Path) -> None:
    body = "id,name,value\n" + "".join(f"{i},n{i},{i}\n" for i in range(1, 21))
    encoded = body.encode("utf-16-le")
    cut = encoded.index("3,n3".encode("utf-16-le")) + 4  # after "3,"
    data = b"\xff\xfe" + encoded[:cut] + b"\x00\xdc" + encoded[cut:]  # a lone low surrogate
    path = tmp_path / "w.csv"
    path.write_bytes(data)
    rows, rejects = read_all(path, encoding="utf-16")
    assert len(rows) == 19
    [r] = rejects
    assert (r.row, r.reason) == (
        4,
        f"not valid utf-16 text: undecodable byte(s) \\x00\\xdc at byte offset {cut + 2} (line 4, byte 5 of the line)",
    )


def test_a_mostly_undecodable_file_fails_naming_the_file_and_the_encoding_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "id,name,value\n" + "".join(f"{i},{'Zoë' if i % 4 == 0 else 'Ann'},{i}\n" for i in range(1, 21))
    path = tmp_path / "l1.csv"
    path.write_bytes(text.encode("latin-1"))
    message = (
        r"^raw/l1\.csv: 5 of 20 records \(25\.0%\) are not valid utf-8 text, more than "
        r"max_undecodable_percent \(10%\); the first: row 5: .*set `encoding:` on the source"
    )
    with pytest.raises(SourceFileError, match=message):
        count_records(path, display_name="raw/l1.csv")  # at ingestion
    raw = RawFile("raw/l1.csv", path, "csv", 20)
    with pytest.raises(SourceFileError, match=message):
        run_gate(CONTRACT, [raw], ds=DS, workdir=tmp_path / "g2")  # in the gate
    # the setting moves the threshold: at 30% the 5 records are quarantined and 15 pass
    report, staged, quarantined = gate(tmp_path, path, "csv", settings=ReadSettings(max_undecodable_percent=30))
    assert (report["rows_passed"], [q["source_row"] for q in quarantined]) == (15, [5, 9, 13, 17, 21])
    # and the right encoding reads every record
    report, staged, _ = gate(tmp_path, path, "csv", encoding="latin-1")
    assert sorted(r["name"] for r in staged) == ["Ann"] * 15 + ["Zoë"] * 5
    with monkeypatch.context() as m:
        python_reader_only(m)
        with pytest.raises(SourceFileError, match=message):
            count_records(path, display_name="raw/l1.csv")


def test_an_undecodable_header_fails_suggesting_the_encoding(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_bytes("id,näme,value\n1,a,2\n".encode("latin-1"))
    with pytest.raises(
        SourceFileError, match=r"h\.csv: row 1: the header is not valid utf-8 text.*byte offset 4.*`encoding:`"
    ):
        read_all(path)


def test_a_utf16_file_read_as_utf8_fails_suggesting_utf16(tmp_path: Path) -> None:
    text = "id,name,value\n1,Zoë,2\n2,b,3\n"
    for name, data, setting in (
        ("bom.csv", text.encode("utf-16"), "`encoding: utf-16`"),
        ("bom_be.ndjson", b"\xfe\xff" + '{"id": 1}\n'.encode("utf-16-be"), "`encoding: utf-16`"),
        ("le.csv", text.encode("utf-16-le"), "`encoding: utf-16-le`"),
        ("be.csv", text.encode("utf-16-be"), "`encoding: utf-16-be`"),
    ):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(SourceFileError, match=rf"^{path}: .*set {setting}"):
            count_records(path)
        with pytest.raises(SourceFileError, match=rf"^{path}: .*set {setting}"):
            read_all(path)
    # declared, it reads
    rows, rejects = read_all(tmp_path / "bom.csv", encoding="utf-16")
    assert ([r["name"] for r in rows], rejects) == (["Zoë", "b"], [])
    rows, _ = read_all(tmp_path / "le.csv", encoding="utf-16-le")
    assert [r["name"] for r in rows] == ["Zoë", "b"]


def test_an_unknown_encoding_names_the_file_and_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "x.ndjson"
    path.write_bytes(b'{"id": 1}\n')
    with pytest.raises(SourceFileError, match=r"x\.ndjson: unknown encoding 'klingon'"):
        read_all(path, encoding="klingon")


# ------------------------------------------------------------------------------- duplicate names


@pytest.mark.parametrize(
    ("header", "names"),
    [
        ("id,name,value,name", "'name' (field 2) and 'name' (field 4)"),
        ("id,name,value, NAME ", "'name' (field 2) and ' NAME ' (field 4)"),
        ("Name,id,value,name", "'Name' (field 1) and 'name' (field 4)"),
    ],
)
def test_duplicate_header_names_fail_naming_the_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, header: str, names: str
) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(f"{header}\n1,a,2,b\n".encode())
    message = rf"^raw/d\.csv: row 1: column name is named 2 times in the header: {re.escape(names)}; rename or drop"
    with pytest.raises(SourceFileError, match=message):
        read_all(path, display_name="raw/d.csv")  # fast path
    with pytest.raises(SourceFileError, match=message):
        run_gate(CONTRACT, [RawFile("raw/d.csv", path, "csv", 1)], ds=DS, workdir=tmp_path / "g")
    with monkeypatch.context() as m:
        python_reader_only(m)
        with pytest.raises(SourceFileError, match=message):
            read_all(path, display_name="raw/d.csv")
    with pytest.raises(DuplicateColumnError, match="column name is named 2 times"):
        formats.column_drift(header.split(","), COLS)  # what ingestion's drift check calls


def test_repeated_names_of_columns_the_contract_does_not_read_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(b"id,name,value,,\n1,a,2,,\n")  # two empty names (trailing delimiters)
    rows, rejects = read_all(path)
    assert (rows, rejects) == ([{"id": "1", "name": "a", "value": "2", ROW_COLUMN: 2}], [])
    assert formats.column_drift(["id", "name", "value", "", ""], COLS) == (["", ""], [])


def test_a_json_object_with_a_repeated_key_is_quarantined_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "k.ndjson"
    path.write_bytes(
        b'{"id": 1, "name": "a", "value": 1}\n'
        b'{"id": 2, "name": "first", "name": "second", "value": 2}\n'
        b'{"id": 3, "name": "c", "value": {"unit": "g", "unit": "kg"}}\n'
        b'{"id": 4, "name": "d", "value": 4}\n'
    )
    _, staged, quarantined = gate(tmp_path, path, "ndjson")
    assert sorted(r["id"] for r in staged) == [1, 4]
    assert [(q["source_row"], q["column_name"], q["reason"]) for q in quarantined] == [
        (2, "name", "row 2: column name: key 'name' is repeated in a JSON object: which value is meant cannot be told"),
        (3, None, "row 3: key 'unit' is repeated in a JSON object: which value is meant cannot be told"),
    ]
    array = tmp_path / "k.json"
    array.write_bytes(b'[{"id": 1, "id": 1}, {"id": 2}]')
    rows, rejects = read_all(array)
    assert ([r["id"] for r in rows], [(r.row, r.column) for r in rejects]) == (["2"], [(1, "id")])


# ---------------------------------------------------------------------------------- field limit

MB50 = 50 * 1024 * 1024


def test_a_50_mb_field_is_quarantined_keeping_its_first_kb_and_length(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    path.write_bytes(csv_bytes(5, name=lambda i: "N" * MB50 if i == 3 else f"name-{i}"))
    _, staged, quarantined = gate(tmp_path, path, "csv")
    assert sorted(r["id"] for r in staged) == [1, 2, 4, 5]
    [q] = quarantined
    assert (q["source_row"], q["column_name"]) == (4, "name")
    assert q["reason"] == (
        "row 4: column name: a value of 52,428,800 bytes is over the field limit of 1,048,576 bytes "
        "(max_field_bytes); the record keeps its first 1,024 bytes"
    )
    assert q["record"] == "3," + "N" * 1024 + "... (52,428,800 bytes),3.5"


def test_max_field_bytes_moves_the_limit_the_same_on_both_csv_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(csv_bytes(6, name=lambda i: "é" * 1000 if i == 2 else "x" * 150 if i == 5 else "ok"))
    small = ReadSettings(max_field_bytes=100)
    fast = read_all(path, settings=small)
    with monkeypatch.context() as m:
        python_reader_only(m)
        assert read_all(path, settings=small) == fast
    rows, rejects = fast
    assert [r["id"] for r in rows] == ["1", "3", "4", "6"]
    assert [(r.row, r.column, r.reason.split(";")[0]) for r in rejects] == [
        (3, "name", "column name: a value of 2,000 bytes is over the field limit of 100 bytes (max_field_bytes)"),
        (6, "name", "column name: a value of 150 bytes is over the field limit of 100 bytes (max_field_bytes)"),
    ]
    # the first KB is cut on a character boundary: 512 two-byte characters
    assert rejects[0].raw == "2," + "é" * 512 + "... (2,000 bytes),2.5"
    assert rejects[1].raw == "5," + "x" * 150 + ",5.5"  # under a KB: kept whole
    # the default limit (1 MiB) reads them all, on the fast path, as the Python reader does
    assert formats._scan_csv(path, ",", "utf-8") is not None
    rows, rejects = read_all(path)
    assert (len(rows), rejects) == (6, [])
    with monkeypatch.context() as m:
        python_reader_only(m)
        assert read_all(path) == (rows, rejects)
    # and the gate reads with the settings ingestion recorded
    report, _, quarantined = gate(tmp_path, path, "csv", settings=small)
    assert (report["rows_passed"], [q["source_row"] for q in quarantined]) == (4, [3, 6])


def test_the_field_limit_applies_to_json_values(tmp_path: Path) -> None:
    path = tmp_path / "v.ndjson"
    lines = [{"id": 1, "name": "a" * 300, "value": 1}, {"id": 2, "name": "b", "value": 2, "note": "z" * 300}]
    path.write_bytes(b"".join(json.dumps(o).encode() + b"\n" for o in lines))
    rows, rejects = read_all(path, settings=ReadSettings(max_field_bytes=200))
    # a key the contract does not read is not limited
    assert [r["id"] for r in rows] == ["2"]
    [r] = rejects
    assert (r.row, r.column) == (1, "name")
    assert json.loads(r.raw) == {"id": "1", "name": "a" * 300, "value": "1"}  # 300 bytes: under a KB


def test_read_settings_are_validated_and_round_trip_through_the_manifest() -> None:
    settings = ReadSettings(max_field_bytes=4096, max_undecodable_percent=2.5, allow_empty=True)
    assert ReadSettings.from_manifest(settings.manifest()) == settings
    assert ReadSettings.from_manifest({"delimiter": ","}) == ReadSettings()  # a manifest from before
    with pytest.raises(ValueError, match="max_field_bytes must be at least 1"):
        ReadSettings(max_field_bytes=0)
    with pytest.raises(ValueError, match="max_undecodable_percent must be between 0 and 100"):
        ReadSettings(max_undecodable_percent=120)


# ------------------------------------------------------------------------------- empty files


@pytest.mark.parametrize(
    ("name", "data", "what"),
    [
        ("zero.csv", b"", r"is empty \(0 bytes\): no header, no records"),
        ("zero.csv.gz", gzip.compress(b"", mtime=0), r"is empty \(0 bytes\)"),
        ("header.csv", b"id,name,value\n", r"has a header \(id,name,value\) but no records"),
        ("header_crlf.csv", b"id,name,value\r\n\r\n", r"has a header \(id,name,value\) but no records"),
        ("blank.csv", b"\n\n", "has no header and no records"),
        ("zero.ndjson", b"", r"is empty \(0 bytes\)"),
        ("blank.ndjson", b"\n  \n", r"has no records \(blank lines only\)"),
        ("empty.json", b" [ ] ", "is an empty JSON array"),
    ],
)
def test_an_empty_file_is_an_error_at_ingestion_and_in_the_gate_unless_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, data: bytes, what: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    fmt = formats.detect_format(path)
    message = rf"^raw/{name}: {what}.*set allow_empty: true on it"
    with pytest.raises(SourceFileError, match=message):
        count_records(path, display_name=f"raw/{name}")
    with pytest.raises(SourceFileError, match=message):
        # a manifest that says 0 rows does not make the gate accept it: the gate reads the file
        run_gate(CONTRACT, [RawFile(f"raw/{name}", path, fmt, 0)], ds=DS, workdir=tmp_path / "g")
    with monkeypatch.context() as m:
        python_reader_only(m)
        with pytest.raises(SourceFileError, match=message):
            count_records(path, display_name=f"raw/{name}")
    report, staged, quarantined = gate(tmp_path, path, fmt, settings=ALLOW_EMPTY)
    assert (report["rows_in"], staged, quarantined) == (0, [], [])


def test_an_empty_parquet_file_is_an_error_unless_allowed(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "e.parquet"
    pq.write_table(pa.table({c: pa.array([], pa.string()) for c in COLS}), path)
    with pytest.raises(SourceFileError, match=r"e\.parquet: has no rows"):
        count_records(path)
    with pytest.raises(SourceFileError, match=r"e\.parquet: has no rows"):
        read_all(path)
    assert count_records(path, settings=ALLOW_EMPTY) == 0
    assert read_all(path, settings=ALLOW_EMPTY) == ([], [])


def test_a_blank_header_line_before_records_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_bytes(b'\n"id",name,value\n1,a,2\n')
    with pytest.raises(SourceFileError, match=r"b\.csv: row 1: the header line is blank"):
        read_all(path)
