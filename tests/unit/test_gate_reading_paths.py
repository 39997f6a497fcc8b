"""The gate's reading paths against each other, a 1M-row file with bad rows at known lines, and a
gate run in a memory limit far below its data (issue 15, "Gate at the floor").

The gate reads every file through one Arrow stream scanned once by DuckDB (``lockgate.gate_source``).
A CSV the byte scan accepts (UTF-8, no quote character, no blank line, short lines) is read by
Arrow's C++ reader (the fast path); anything else by the exact Python reader. Here each file is
gated twice - as shipped, and with the fast path switched off - and everything the gate produces
is compared: the staged rows with their origin (file, row), the quarantine rows with their reasons
and records, and the report's counts. JSON and NDJSON have one reader; they are compared with the
same records shipped as CSV (values, reasons and records equal; only the row numbering differs,
by the header line).
"""

from __future__ import annotations

import codecs
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from lockgate import formats
from lockgate.contracts import parse_contract
from lockgate.formats import count_records
from lockgate.gate import RawFile, run_gate

DS = "2026-01-02"
CONTRACT = parse_contract(
    {
        "dataset": "things",
        "primary_key": ["id"],
        "columns": {
            "id": {"type": "integer", "nullable": False},
            "name": {"type": "string"},
            "value": {"type": "double"},
            "at": {"type": "timestamp"},
        },
    }
)
HEADER = "id,name,value,at"
GOOD = [
    "1,alpha,1.5,2026-01-02T01:00:00Z",
    "2,Zoë,2,2026-01-02 02:00:00",
    "3,,-0.25,2026-01-02T03:00:00+01:00",
]
BAD = [
    "4,delta,abc,2026-01-02T04:00:00Z",  # value does not type
    "5,echo,1.0",  # ragged: a field short
    "6,foxtrot,2.0,2026-01-02T06:00:00Z,extra",  # ragged: a field too many
    ",golf,3.0,2026-01-02T07:00:00Z",  # id missing
    "8,hotel,4.0,yesterday",  # timestamp does not type
]


def zstd(data: bytes) -> bytes:
    import pyarrow as pa

    return pa.compress(data, codec="zstd", asbytes=True)


def lines(*extra: str) -> list[str]:
    return [HEADER, *GOOD, *BAD, "9,india,5,2026-01-02T09:00:00Z", *extra]


def csv_text(rows: list[str], newline: str = "\n") -> str:
    return newline.join(rows) + newline


#: name -> (file name, bytes, encoding); each is gated on both paths
CASES: dict[str, tuple[str, bytes, str]] = {
    "plain": ("f.csv", csv_text(lines()).encode(), "utf-8"),
    "gzip": ("f.csv.gz", gzip.compress(csv_text(lines()).encode(), mtime=0), "utf-8"),
    "zstd": ("f.csv.zst", zstd(csv_text(lines()).encode()), "utf-8"),
    "crlf": ("f.csv", csv_text(lines(), "\r\n").encode(), "utf-8"),
    "cr_only": ("f.csv", csv_text(lines(), "\r").encode(), "utf-8"),
    "no_final_newline": ("f.csv", csv_text(lines()).rstrip("\n").encode(), "utf-8"),
    "bom": ("f.csv", codecs.BOM_UTF8 + csv_text(lines()).encode(), "utf-8"),
    "quote_spanning_lines": (
        "f.csv",
        csv_text(
            lines('10,"two\nlines, one field",6,2026-01-02T10:00:00Z', "11,juliet,7,2026-01-02T11:00:00Z")
        ).encode(),
        "utf-8",
    ),
    "blank_lines": ("f.csv", csv_text(lines("", "12,kilo,8,2026-01-02T12:00:00Z", "")).encode(), "utf-8"),
    "latin1": ("f.csv", csv_text(lines("13,café,9,2026-01-02T13:00:00Z")).encode("latin-1"), "latin-1"),
    "utf16_bom": ("f.csv", csv_text(lines()).encode("utf-16"), "utf-16"),
    "undecodable_byte": (
        "f.csv",
        csv_text(lines()).encode() + b"14,bad\xff,10,2026-01-02T14:00:00Z\n",
        "utf-8",
    ),
}


def gate(tmp_path: Path, path: Path, fmt: str, encoding: str = "utf-8") -> dict[str, Any]:
    """Gate one file as ingestion would count it; everything the gate produced, for comparison."""
    import pyarrow.parquet as pq

    rows = count_records(path, fmt=fmt, encoding=encoding, display_name=f"raw/{path.name}")
    raw = RawFile(f"raw/{path.name}", path, fmt, rows, encoding=encoding)
    outcome = run_gate(CONTRACT, [raw], ds=DS, workdir=tmp_path)
    report = outcome.report
    assert report["rows_in"] == rows == report["rows_passed"] + report["rows_quarantined"]
    return {
        "staged": pq.read_table(outcome.staged_path).to_pylist(),
        "quarantine": pq.read_table(outcome.quarantine_path).to_pylist(),
        "counts": {k: report[k] for k in ("rows_in", "rows_passed", "rows_quarantined", "quarantine_by_check")},
        "metrics": report["column_metrics"],
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_and_exact_csv_paths_gate_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    name, data, encoding = CASES[case]
    path = tmp_path / name
    path.write_bytes(data)
    fast = gate(tmp_path / "fast", path, "csv", encoding)
    with monkeypatch.context() as m:
        m.setattr(formats, "_scan_csv", lambda *a, **k: None)  # the exact (Python) reader for every file
        exact = gate(tmp_path / "exact", path, "csv", encoding)
    assert fast == exact
    # and what both produced is right: the good rows staged at their lines, the bad ones quarantined at theirs
    staged = {r["id"]: r["_source_row"] for r in fast["staged"]}
    assert {1: 2, 2: 3, 3: 4, 9: 10}.items() <= staged.items()
    quarantined = {r["source_row"]: r["reason"] for r in fast["quarantine"]}
    assert (
        quarantined[5] == "row 5: column value: cannot read abc as double (expected a number like 1.5, -2 or 6.02e23)"
    )
    assert quarantined[6] == "row 6: expected 4 fields, found 3"
    assert quarantined[7] == "row 7: expected 4 fields, found 5"
    assert "column id: missing value" in quarantined[8]
    assert "yesterday" in quarantined[9]
    if case == "quote_spanning_lines":
        # the quoted field spans lines 11-12: the next record is on line 13
        assert (staged[10], staged[11]) == (11, 13)
    if case == "blank_lines":
        assert staged[12] == 12  # the blank line 11 is no record, but it counts as a line
    if case == "undecodable_byte":
        assert "undecodable byte(s) \\xff" in quarantined[11]


def json_records(rows: list[str]) -> list[dict[str, Any]]:
    """The CSV lines as JSON objects (ragged lines keep what they have; empty fields are absent)."""
    names = HEADER.split(",")
    records = []
    for line in rows[1:]:
        fields = line.split(",")
        if len(fields) != len(names):
            continue  # a JSON object cannot be ragged
        records.append({k: v for k, v in zip(names, fields, strict=True) if v != ""})
    return records


@pytest.mark.parametrize("fmt", ["ndjson", "json"])
def test_json_formats_gate_like_the_same_records_as_csv(tmp_path: Path, fmt: str) -> None:
    rows = [r for r in lines() if len(r.split(",")) in (1, 4)]  # no ragged lines: JSON has none
    records = json_records(rows)
    csv_path = tmp_path / "f.csv"
    csv_path.write_text(csv_text(rows))
    path = tmp_path / f"f.{fmt}"
    if fmt == "ndjson":
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    else:
        path.write_text(json.dumps(records))
    from_csv = gate(tmp_path / "csv", csv_path, "csv")
    from_json = gate(tmp_path / fmt, path, fmt)

    def without_origin(result: dict[str, Any]) -> dict[str, Any]:
        staged = [{k: v for k, v in r.items() if not k.startswith("_source")} for r in result["staged"]]
        reasons = [(r["check_name"], r["reason"].split(": ", 1)[1]) for r in result["quarantine"]]
        return {"staged": staged, "reasons": reasons, "counts": result["counts"], "metrics": result["metrics"]}

    assert without_origin(from_json) == without_origin(from_csv)
    # a CSV record is on line n + 1 (the header is line 1); a JSON record is line/element n
    assert [r["_source_row"] - 1 for r in from_csv["staged"]] == [r["_source_row"] for r in from_json["staged"]]


def test_a_million_rows_with_bad_rows_at_known_lines(tmp_path: Path) -> None:
    """1M rows through the gate (fast path): each bad row is quarantined naming its own line."""
    n = 1_000_000
    bad_lines = {1_002: "abc", 250_000: "", 777_777: "nan", 1_000_001: "1e999"}  # line -> bad value
    ragged = 500_001
    path = tmp_path / "big.csv"
    with open(path, "w") as fh:
        fh.write(HEADER + "\n")
        for line in range(2, n + 2):
            value = bad_lines.get(line, f"{line % 97}.5")
            if line == ragged:
                fh.write(f"{line},r\n")
            else:
                fh.write(f"{line},n{line % 13},{value},2026-01-02T{line % 24:02d}:00:00Z\n")
    assert formats._scan_csv(path, ",", "utf-8") is not None  # the fast path reads it
    rows = count_records(path, fmt="csv")
    outcome = run_gate(CONTRACT, [RawFile("raw/big.csv", path, "csv", rows)], ds=DS, workdir=tmp_path / "gate")
    import pyarrow.parquet as pq

    report = outcome.report
    assert (report["rows_in"], report["rows_passed"], report["rows_quarantined"]) == (n, n - 4, 4)
    quarantined = {r["source_row"]: r["reason"] for r in pq.read_table(outcome.quarantine_path).to_pylist()}
    assert quarantined == {
        1_002: "row 1002: column value: cannot read abc as double (expected a number like 1.5, -2 or 6.02e23)",
        500_001: "row 500001: expected 4 fields, found 2",
        777_777: "row 777777: column value: nan is not a finite number",
        1_000_001: "row 1000001: column value: 1e999 is outside the double range (0, or a magnitude from "
        "2.2250738585072014e-308 to 1.7976931348623157e308)",
    }
    # line 250000's empty value is allowed (value is nullable): staged with its line, as null
    staged = pq.read_table(outcome.staged_path, columns=["id", "value", "_source_row"]).to_pylist()
    assert len(staged) == n - 4
    by_id = {r["id"]: r for r in staged[::1000] + [s for s in staged if s["id"] == 250_000]}
    assert by_id[250_000] == {"id": 250_000, "value": None, "_source_row": 250_000}
    assert all(r["_source_row"] == r["id"] for r in by_id.values())


def test_the_gate_runs_in_a_memory_limit_far_below_its_data(tmp_path: Path) -> None:
    """2M rows (~90 MB of CSV, more as DuckDB values) gated with DuckDB limited to 48 MB: it spills
    to the work folder and every row is accounted for."""
    n = 2_000_000
    path = tmp_path / "big.csv"
    with open(path, "w") as fh:
        fh.write(HEADER + "\n")
        chunk = []
        for i in range(1, n + 1):
            chunk.append(f"{i},name-{i % 1000},{i % 1000}.25,2026-01-02T{i % 24:02d}:{i % 60:02d}:00Z\n")
            if len(chunk) == 100_000:
                fh.write("".join(chunk))
                chunk = []
        fh.write("".join(chunk))
    assert path.stat().st_size > 80_000_000
    raw = RawFile("raw/big.csv", path, "csv", n)
    outcome = run_gate(CONTRACT, [raw], ds=DS, workdir=tmp_path / "gate", memory_limit="48MB")
    assert (outcome.report["rows_in"], outcome.report["rows_passed"]) == (n, n)
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(outcome.staged_path).metadata
    assert meta.num_rows == n
    first = pq.read_table(outcome.staged_path, columns=["id", "_source_row"]).slice(0, 3).to_pylist()
    assert first == [{"id": 1, "_source_row": 2}, {"id": 2, "_source_row": 3}, {"id": 3, "_source_row": 4}]
