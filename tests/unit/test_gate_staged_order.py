"""The staged file's order and the gate's DuckDB connection (issue 15, "Gate at the floor").

Staged rows are in the order they were read: the files in the order of their keys, each file's
rows in order, with or without a primary key (no sort: DuckDB keeps the insertion order). A row's
origin is unique, so the order is fully determined and a rerun writes the same bytes, whatever
order the files are listed in (the replay and the three-run test compare staged files by sha256). The gate's
DuckDB is the partition step's bounded connection: a memory limit, a spill folder in the work folder
and the task's CPUs as threads.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from lockgate import gate
from lockgate.contracts import parse_contract
from lockgate.formats import count_records
from lockgate.gate import RawFile, run_gate

DS = "2026-01-02"
CONTRACT = parse_contract(
    {
        "dataset": "things",
        "primary_key": ["id"],
        "columns": {"id": {"type": "integer", "nullable": False}, "name": {"type": "string"}},
    }
)
NO_KEY = parse_contract(
    {"dataset": "things", "columns": {"id": {"type": "integer"}, "name": {"type": "string"}}},
)


def _raw(tmp_path: Path, name: str, lines: list[str]) -> RawFile:
    path = tmp_path / name
    path.write_text("id,name\n" + "".join(f"{line}\n" for line in lines))
    return RawFile(f"raw/{name}", path, "csv", count_records(path, fmt="csv"))


def _staged(outcome: gate.GateOutcome) -> list[tuple[Any, ...]]:
    import pyarrow.parquet as pq

    rows = pq.read_table(outcome.staged_path, columns=["id", "name", "_source_file", "_source_row"]).to_pylist()
    return [(r["id"], r["name"], r["_source_file"], r["_source_row"]) for r in rows]


READ_ORDER = [(7, "g", "raw/a.csv", 2), (3, "c", "raw/a.csv", 3), (5, "e", "raw/a.csv", 4)]
READ_ORDER += [(9, "i", "raw/b.csv", 2), (8, "h", "raw/b.csv", 4)]


@pytest.mark.parametrize("contract", [CONTRACT, NO_KEY], ids=["key", "no_key"])
def test_staged_rows_are_in_reading_order_and_a_rerun_writes_the_same_bytes(tmp_path: Path, contract: Any) -> None:
    # keys out of order within and across files, a bad row between
    files = [
        _raw(tmp_path, "b.csv", ["9,i", "x,bad", "8,h"]),
        _raw(tmp_path, "a.csv", ["7,g", "3,c", "5,e"]),
    ]
    first = run_gate(contract, files, ds=DS, workdir=tmp_path / "one")
    assert _staged(first) == READ_ORDER
    assert first.report["rows_quarantined"] == 1
    # the report lists the files as they were given, though a.csv was read first
    assert [f["key"] for f in first.report["files"]] == ["raw/b.csv", "raw/a.csv"]
    again = run_gate(contract, list(reversed(files)), ds=DS, workdir=tmp_path / "two")
    digest = [hashlib.sha256(o.staged_path.read_bytes()).hexdigest() for o in (first, again)]
    assert digest[0] == digest[1]


def test_exact_duplicates_removed_keep_the_first_read_and_the_order(tmp_path: Path) -> None:
    """The de-duplication window runs (a key repeats); the staged order is still file then row."""
    files = [_raw(tmp_path, "a.csv", ["2,b", "1,a", "2,b", "1,a"])]
    outcome = run_gate(NO_KEY, files, ds=DS, workdir=tmp_path / "g", preprocess={"drop_exact_duplicates": True})
    assert _staged(outcome) == [(2, "b", "raw/a.csv", 2), (1, "a", "raw/a.csv", 3)]
    assert outcome.report["duplicates_removed"] == 2


def test_the_gate_runs_on_the_partition_steps_bounded_connection(tmp_path: Path, monkeypatch: Any) -> None:
    """Memory limit (the gate's default unless given), spill folder in the work folder, the task's
    CPUs; the staged file's writer (a connection of its own) has one thread and its own spill folder."""
    from lockgate import duckdb_session

    seen: list[dict[str, Any]] = []
    original = duckdb_session.bounded_duckdb

    def recorded(work: Path, memory_limit: str, database: Path | None = None, threads: int | None = None) -> Any:
        con = original(work, memory_limit, database, threads)
        names = ("memory_limit", "threads", "temp_directory", "TimeZone")
        seen.append({n: con.execute(f"SELECT current_setting('{n}')").fetchall()[0][0] for n in names})
        (seen[-1]["database"],) = con.execute("SELECT path FROM duckdb_databases() WHERE NOT internal").fetchall()[0]
        return con

    monkeypatch.setattr(duckdb_session, "bounded_duckdb", recorded)
    files = [_raw(tmp_path, "a.csv", ["1,a", "2,b"])]
    run_gate(CONTRACT, files, ds=DS, workdir=tmp_path / "default")
    run_gate(CONTRACT, files, ds=DS, workdir=tmp_path / "small", memory_limit="64MB")
    gates, writers = seen[0::2], seen[1::2]
    assert len(gates) == len(writers) == 2
    for opened in (gates, writers):
        assert [s["memory_limit"] for s in opened] == ["244.1 MiB", "61.0 MiB"]  # DuckDB's reading of 256MB, 64MB
        assert {s["TimeZone"] for s in opened} == {"UTC"}
    assert [s["temp_directory"] for s in gates] == [str(tmp_path / n / "spill") for n in ("default", "small")]
    assert gates[1]["threads"] == min(duckdb_session.task_threads(), 3)
    assert gates[0]["threads"] == min(duckdb_session.task_threads(), 15)  # 256MB / 16 MiB per thread
    # the staged file is written by one thread (the same row groups every run), spilling apart
    assert [s["threads"] for s in writers] == [1, 1]
    writer_spill = [str(tmp_path / n / "gate" / "staged-writer" / "spill") for n in ("default", "small")]
    assert [s["temp_directory"] for s in writers] == [w.replace("/gate/", "/") for w in writer_spill]
    # the rows with a problem are kept in a scratch database file of the work folder (compressed,
    # not spilled in full), thrown away after the run; the writer holds no table
    assert [s["database"] for s in gates] == [str(tmp_path / n / "gate.duckdb") for n in ("default", "small")]
    assert [s["database"] for s in writers] == [None, None]
    assert not list(tmp_path.glob("*/gate.duckdb*"))


def test_files_that_allow_long_values_get_the_memory_to_type_them(tmp_path: Path) -> None:
    """A raised ``max_field_bytes`` raises the gate's memory (a 20 MiB value allocated 128 MiB at once)."""
    import dataclasses

    from lockgate.duckdb_session import size_bytes
    from lockgate.formats import ReadSettings

    usual = _raw(tmp_path, "a.csv", ["1,a"])
    assert gate.gate_memory_limit([usual]) == gate.MEMORY_LIMIT
    wide = dataclasses.replace(usual, key="raw/b.csv", read=ReadSettings(max_field_bytes=40 * 2**20))
    assert size_bytes(gate.gate_memory_limit([usual, wide])) == gate.FIELD_MEMORY * 40 * 2**20
    # as the hostile corpus's huge field: read (under the raised limit), then typed and quarantined
    wide = dataclasses.replace(wide, local_path=tmp_path / "b.csv")
    wide.local_path.write_text("id,name\n" + "9" * 10 + "x" * (20 * 2**20) + ",b\n")
    outcome = run_gate(CONTRACT, [usual, wide], ds=DS, workdir=tmp_path / "gate")
    assert (outcome.report["rows_passed"], outcome.report["rows_quarantined"]) == (1, 1)
    assert outcome.report["quarantine_by_column"] == {"id": 1}


def test_flagged_rows_are_typed_again_with_their_problems_and_a_disagreement_is_an_accounting_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scan only flags a bad row; the flagged rows are typed again with their reasons and raw
    records. Were the second typing to find no problem in a
    flagged row, the row would be neither staged nor quarantined: the gate fails loudly instead."""
    import pyarrow.parquet as pq

    lines = ["1,a", "x,bad", "3,c", ",missing", "5,e"]
    outcome = run_gate(CONTRACT, [_raw(tmp_path, "a.csv", lines)], ds=DS, workdir=tmp_path / "w1")
    quarantined = pq.read_table(outcome.quarantine_path).to_pylist()
    assert [(r["source_row"], r["column_name"], r["check_name"]) for r in quarantined] == [
        (3, "id", "type"),
        (5, "id", "not_null"),
    ]
    assert [r["record"] for r in quarantined] == ['{"id":"x","name":"bad"}', '{"id":null,"name":"missing"}']
    reason = "row 3: column id: cannot read x as integer (expected a whole number like 42 or -7)"
    assert quarantined[0]["reason"] == reason
    assert [row[0] for row in _staged(outcome)] == [1, 3, 5]

    def never(flags_only: bool) -> str:
        return "CASE WHEN NOT _outside AND (_p1 OR _pe OR _p2 OR _p3) THEN true END" if flags_only else "NULL"

    monkeypatch.setattr(gate, "_problems_sql", never)
    with pytest.raises(gate.AccountingError, match="2 rows flagged with a problem, but typed again 2 rows of which 0"):
        run_gate(CONTRACT, [_raw(tmp_path, "b.csv", lines)], ds=DS, workdir=tmp_path / "w2")


def test_a_row_typed_again_keeps_its_file_s_time_zone(tmp_path: Path) -> None:
    """A naive time is read in its file's zone on the second typing too: 20:00 in Chicago is the next
    UTC day, off the logical date (typed again in UTC it would pass, and the gate would fail)."""
    import pyarrow.parquet as pq

    contract = parse_contract(
        {
            "dataset": "sensor",
            "event_time": "at",
            "columns": {"id": {"type": "string"}, "at": {"type": "timestamp"}},
        }
    )
    path = tmp_path / "sensor.csv"
    path.write_text("id,at\na,2026-01-02 10:00:00\nb,2026-01-02 20:00:00\n")
    raw = RawFile("raw/sensor.csv", path, "csv", 2, source_timezone="America/Chicago")
    outcome = run_gate(contract, [raw], ds=DS, workdir=tmp_path / "g")
    quarantined = pq.read_table(outcome.quarantine_path).to_pylist()
    assert [(r["source_row"], r["check_name"]) for r in quarantined] == [(3, "event_time")]
    assert "2026-01-03T02:00:00Z" in quarantined[0]["reason"]
    assert [r["id"] for r in pq.read_table(outcome.staged_path).to_pylist()] == ["a"]
