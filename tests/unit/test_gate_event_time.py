"""The event-time rule on a timestamp column: a row is on the logical date when its instant's UTC
date is that date. The gate tests the instant against the day's bounds (cheaper than taking the
date of every row); the rows it quarantines are exactly those whose UTC date is another day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from lockgate.contracts import parse_contract
from lockgate.formats import count_records
from lockgate.gate import RawFile, run_gate

DS = "2026-01-02"
CONTRACT = parse_contract(
    {
        "dataset": "events",
        "columns": {"id": {"type": "integer", "nullable": False}, "at": {"type": "timestamp"}},
        "event_time": "at",
    }
)
#: instants around both edges of the day, with offsets that move them across an edge
VALUES = [
    "2026-01-01T23:59:59.999999Z",
    "2026-01-02T00:00:00Z",
    "2026-01-02T00:00:00.000001Z",
    "2026-01-02T12:00:00Z",
    "2026-01-02T23:59:59.999999Z",
    "2026-01-03T00:00:00Z",
    "2026-01-02T00:30:00+01:00",
    "2026-01-01T23:30:00-01:00",
    "2026-01-02T23:30:00-01:00",
    "2026-01-03T00:30:00+01:00",
    "1999-12-31T23:59:59Z",
    "2100-01-02T00:00:00Z",
    "",
]


def _utc_day(text: str) -> dt.date | None:
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC).date()


def test_the_rows_quarantined_by_the_event_time_rule_are_those_of_another_utc_date(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("id,at\n" + "".join(f"{i},{v}\n" for i, v in enumerate(VALUES)))
    raw = RawFile("raw/events.csv", path, "csv", count_records(path, fmt="csv"))
    outcome = run_gate(CONTRACT, [raw], ds=DS, workdir=tmp_path / "gate")
    import pyarrow.parquet as pq

    quarantined = pq.read_table(outcome.quarantine_path).to_pylist()
    flagged = {r["source_row"] - 2 for r in quarantined if r["check_name"] == "event_time"}
    expected = {i for i, v in enumerate(VALUES) if _utc_day(v) not in (None, dt.date(2026, 1, 2))}
    assert flagged == expected
    assert {v for i, v in enumerate(VALUES) if i not in expected} >= {"2026-01-02T00:00:00Z", ""}
    assert outcome.report["rows_passed"] == len(VALUES) - len(expected)
