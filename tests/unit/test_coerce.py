"""Strict, declared typing (``lockgate.coerce``), run through the real gate on tiny files.

Each table lists raw values a column type accepts (with the typed value staged) or rejects (with
the exact quarantine reason: the column, the value and what was expected). Every case goes through
``lockgate.gate.run_gate`` on an NDJSON file (JSON strings carry any character exactly), and every
run asserts the accounting: each input row is staged or quarantined, exactly once.

The generated cases compare the gate with Python's own readers (``float``, ``int``,
``date.fromisoformat``, ``datetime.strptime``, ``zoneinfo``): whatever the gate passes, the
reference reads to the same value. The warehouses' own parsers are the reference in
``tests/integration/test_type_ranges.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lockgate.coerce import (
    DOUBLE_MIN_NORMAL,
    DOUBLE_SYNTAX,
    EXPECTED,
    WHITESPACE,
    format_error,
    format_regex,
)
from lockgate.contracts import ContractError, parse_contract
from lockgate.formats import count_records
from lockgate.gate import RawFile, run_gate

DS = "2026-01-02"
UTC = dt.UTC
CHICAGO = "America/Chicago"
BIG = 2**63
GENERATED = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,  # seeded: a failure reproduces
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass
class Typed:
    """What the gate made of a list of raw values: staged values and quarantine rows, by position."""

    staged: dict[int, Any]
    quarantined: dict[int, tuple[str, str, str]]  # position -> (check, column, reason without "row n: ")
    report: dict[str, Any]


def gate_values(
    workdir: Path,
    spec: dict[str, Any],
    values: list[Any],
    *,
    source_timezone: str | None = None,
    event_time: bool = False,
) -> Typed:
    """Gate ``values`` as column ``v`` (``spec``) of an NDJSON file; asserts the accounting."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "values.ndjson"
    path.write_text("".join(json.dumps({"k": f"r{i}", "v": v}) + "\n" for i, v in enumerate(values)), "utf-8")
    contract = parse_contract(
        {
            "dataset": "values",
            "columns": {"k": {"type": "string", "nullable": False}, "v": spec},
            **({"event_time": "v"} if event_time else {}),
        },
        source="values.yaml",
    )
    rows = count_records(path, fmt="ndjson")
    raw = RawFile("raw/values.ndjson", path, "ndjson", rows, source_timezone=source_timezone)
    outcome = run_gate(contract, [raw], ds=DS, workdir=workdir / "gate")
    import pyarrow.parquet as pq

    staged = {int(r["k"][1:]): r["v"] for r in pq.read_table(outcome.staged_path).to_pylist()}
    quarantined = {}
    for r in pq.read_table(outcome.quarantine_path).to_pylist():
        prefix = f"row {r['source_row']}: "
        assert r["reason"].startswith(prefix)
        quarantined[r["source_row"] - 1] = (r["check_name"], r["column_name"], r["reason"][len(prefix) :])
    report = outcome.report
    assert report["rows_in"] == len(values)
    assert report["rows_in"] == report["rows_passed"] + report["rows_quarantined"] + report["duplicates_removed"]
    assert report["duplicates_removed"] == 0
    assert set(staged) | set(quarantined) == set(range(len(values)))
    assert not set(staged) & set(quarantined)
    return Typed(staged, quarantined, report)


def check_table(
    tmp_path: Path,
    spec: dict[str, Any],
    accepted: dict[str, Any],
    rejected: dict[str, tuple[str, str]],
    **kwargs: Any,
) -> Typed:
    """Run one gate over every accepted and rejected value; assert each one's outcome exactly."""
    values = [*accepted, *rejected]
    typed = gate_values(tmp_path, spec, values, **kwargs)
    for i, value in enumerate(values):
        if value in accepted:
            assert i in typed.staged, (value, typed.quarantined.get(i))
            got, want = typed.staged[i], accepted[value]
            assert got == want, (value, got, want)
            assert type(got) is type(want), (value, got, want)
            if isinstance(want, float):
                assert math.copysign(1, got) == math.copysign(1, want), value  # -0.0 stays -0.0
        else:
            check, reason = rejected[value]
            assert typed.quarantined.get(i) == (check, "v", f"column v: {reason}"), value
    return typed


def cannot(value: str, ctype: str, expected: str | None = None) -> tuple[str, str]:
    return "type", f"cannot read {value} as {ctype} (expected {expected or EXPECTED[ctype]})"


def out_of(value: str, what: str) -> tuple[str, str]:
    ranges = {
        "date": "the dates every warehouse stores (0001-01-01 to 9999-12-31)",
        "timestamp": "the timestamps every warehouse stores (0001-01-01 to 9999-12-31 UTC)",
        "integer": "the integer range -9223372036854775808 to 9223372036854775807 (BIGINT)",
        "double": "the double range (0, or a magnitude from 2.2250738585072014e-308 to 1.7976931348623157e308)",
    }
    return "range", f"{value} is outside {ranges[what]}"


MISSING = ("not_null", "missing value in a non-nullable column")
BLANK = ("not_null", "missing value in a non-nullable column (only whitespace)")


# ============================================================================ dates


def test_dates_without_a_format_are_iso_only(tmp_path: Path) -> None:
    day = dt.date
    check_table(
        tmp_path,
        {"type": "date"},
        accepted={
            "2011-01-03": day(2011, 1, 3),
            " 2011-01-05\t": day(2011, 1, 5),  # whitespace around a value is not part of it
            "\u00a02011-01-06\u3000": day(2011, 1, 6),
            "2024-02-29": day(2024, 2, 29),
            "0001-01-01": day(1, 1, 1),
            "9999-12-31": day(9999, 12, 31),
            "": None,  # nullable: empty is NULL
            "   ": None,
        },
        rejected={
            # DuckDB's TRY_CAST read these as 0001-05-11, 0011-01-05, 1970-01-01, infinity, year -2011
            "1/5/11": cannot("1/5/11", "date"),
            "11-01-05": cannot("11-01-05", "date"),
            "epoch": cannot("epoch", "date"),
            "infinity": cannot("infinity", "date"),
            "-infinity": cannot("-infinity", "date"),
            "-2011-01-05": cannot("-2011-01-05", "date"),
            "2011-1-3": cannot("2011-1-3", "date"),
            "20110103": cannot("20110103", "date"),
            "2026-02-30": cannot("2026-02-30", "date"),
            "2023-02-29": cannot("2023-02-29", "date"),
            "today": cannot("today", "date"),
            "2011-01-03T00:00": cannot("2011-01-03T00:00", "date"),
            "2011-01-03 (BC)": cannot("2011-01-03 (BC)", "date"),
            "10000-01-01": cannot("10000-01-01", "date"),
            "0000-01-01": out_of("0000-01-01", "date"),  # year 0: DuckDB has it, PostgreSQL does not
        },
    )


def test_a_non_nullable_date_reports_a_missing_value(tmp_path: Path) -> None:
    check_table(
        tmp_path,
        {"type": "date", "nullable": False},
        accepted={"2011-01-03": dt.date(2011, 1, 3)},
        rejected={"": MISSING, " \t ": BLANK, "x": cannot("x", "date")},
    )


def test_a_declared_date_format_reads_epa_dates_strictly(tmp_path: Path) -> None:
    day = dt.date
    check_table(
        tmp_path,
        {"type": "date", "format": "%m/%d/%y"},
        accepted={
            "1/3/11": day(2011, 1, 3),  # EPA AirData's dates
            "01/03/11": day(2011, 1, 3),
            "12/31/68": day(2068, 12, 31),  # %y: 00-68 -> 20xx
            "1/1/69": day(1969, 1, 1),  # 69-99 -> 19xx
            " 1/4/11 ": day(2011, 1, 4),
        },
        rejected={
            "1/3/2011": cannot("1/3/2011", "date", "format %m/%d/%y"),
            "1/3/11x": cannot("1/3/11x", "date", "format %m/%d/%y"),
            "13/3/11": cannot("13/3/11", "date", "format %m/%d/%y"),
            "2/30/11": cannot("2/30/11", "date", "format %m/%d/%y"),
            "1/3/ 11": cannot("1/3/ 11", "date", "format %m/%d/%y"),
            "1-3-11": cannot("1-3-11", "date", "format %m/%d/%y"),
            "2011-01-03": cannot("2011-01-03", "date", "format %m/%d/%y"),  # ISO is not implied
        },
    )


def test_a_list_of_formats_takes_the_first_that_reads_the_value(tmp_path: Path) -> None:
    day = dt.date
    formats = "one of the formats %m/%d/%Y, %m/%d/%y, %Y-%m-%d, %d %b %Y"
    check_table(
        tmp_path,
        {"type": "date", "format": ["%m/%d/%Y", "%m/%d/%y", "%Y-%m-%d", "%d %b %Y"]},
        accepted={
            # %Y takes exactly 4 digits: "11" is not the year 11, so the second format reads it
            "1/3/11": day(2011, 1, 3),
            "1/3/2011": day(2011, 1, 3),
            "2011-01-04": day(2011, 1, 4),
            "5 JAN 2011": day(2011, 1, 5),
            "6 jan 2011": day(2011, 1, 6),
        },
        rejected={
            "1/3/011": cannot("1/3/011", "date", formats),
            "5 Janu 2011": cannot("5 Janu 2011", "date", formats),
            "0000-01-01": out_of("0000-01-01", "date"),
        },
    )


# ============================================================================ timestamps

ISO = EXPECTED["timestamp"]


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_timestamps_without_a_format_are_iso_8601(tmp_path: Path) -> None:
    check_table(
        tmp_path,
        {"type": "timestamp"},
        source_timezone=CHICAGO,
        accepted={
            # naive: local time in the source's zone (Chicago, UTC-6 in January)
            "2026-01-02 06:00:00": utc(2026, 1, 2, 12),
            "2026-01-02T06:00": utc(2026, 1, 2, 12),
            "2026-01-02t06:00:00.5": utc(2026, 1, 2, 12, 0, 0, 500000),
            "2026-01-02": utc(2026, 1, 2, 6),  # a bare date is local midnight
            # an offset or Z wins over the zone
            "2026-01-02T06:00:00Z": utc(2026, 1, 2, 6),
            "2026-01-02T06:00:00z": utc(2026, 1, 2, 6),
            "2026-01-02T06:00:00+05:30": utc(2026, 1, 2, 0, 30),
            "2026-01-02 06:00:00-0600": utc(2026, 1, 2, 12),
            "2026-01-02 06:00+01": utc(2026, 1, 2, 5),
            "2026-01-02T06:00:00.123456000Z": utc(2026, 1, 2, 6, 0, 0, 123456),  # zeros beyond micros: nothing lost
            # the hour repeated when clocks go back: standard time (the later instant), as PostgreSQL
            "2026-11-01 01:30:00": utc(2026, 11, 1, 7, 30),
            "0001-01-01T00:00:00Z": utc(1, 1, 1),
            "9999-12-31T23:59:59.999999Z": utc(9999, 12, 31, 23, 59, 59, 999999),
            "": None,
        },
        rejected={
            "1/18/11": cannot("1/18/11", "timestamp", ISO),
            "epoch": cannot("epoch", "timestamp", ISO),
            "infinity": cannot("infinity", "timestamp", ISO),
            "now": cannot("now", "timestamp", ISO),
            "-2011-01-05 00:00:00": cannot("-2011-01-05 00:00:00", "timestamp", ISO),
            "2026-01-02T06": cannot("2026-01-02T06", "timestamp", ISO),
            "2026-01-02 24:00:00": cannot("2026-01-02 24:00:00", "timestamp", ISO),
            "2026-01-02 23:59:60": cannot("2026-01-02 23:59:60", "timestamp", ISO),
            "2026-01-02T06:00:00.1234567Z": cannot("2026-01-02T06:00:00.1234567Z", "timestamp", ISO),
            "2026-01-02T06:00:00 UTC": cannot("2026-01-02T06:00:00 UTC", "timestamp", ISO),
            "2026-01-02Z": cannot("2026-01-02Z", "timestamp", ISO),
            "2026-01-02T06:00:00+24:00": cannot("2026-01-02T06:00:00+24:00", "timestamp", ISO),
            "2026-01-02  06:00": cannot("2026-01-02  06:00", "timestamp", ISO),
            # skipped when clocks went forward: never silently moved an hour
            "2026-03-08 02:30:00": ("type", f"2026-03-08 02:30:00 does not exist in {CHICAGO} (clocks went forward)"),
            "9999-12-31 23:00:00": out_of("9999-12-31 23:00:00", "timestamp"),  # 10000-01-01 05:00 UTC
            "0001-01-01T00:00:00+01:00": out_of("0001-01-01T00:00:00+01:00", "timestamp"),
            "0000-06-01T00:00:00Z": out_of("0000-06-01T00:00:00Z", "timestamp"),
        },
    )


@pytest.mark.parametrize(
    ("column_zone", "source_zone", "expected"),
    [
        (None, None, utc(2026, 1, 2, 6)),  # neither: UTC
        (None, CHICAGO, utc(2026, 1, 2, 12)),  # the source's zone
        ("UTC", CHICAGO, utc(2026, 1, 2, 6)),  # the column's zone wins over the source's
        ("Asia/Kolkata", CHICAGO, utc(2026, 1, 2, 0, 30)),
    ],
)
def test_a_naive_timestamp_is_local_time_in_the_column_then_the_source_zone(
    tmp_path: Path, column_zone: str | None, source_zone: str | None, expected: dt.datetime
) -> None:
    spec = {"type": "timestamp", **({"timezone": column_zone} if column_zone else {})}
    typed = gate_values(
        tmp_path, spec, ["2026-01-02 06:00:00", "2026-01-02T06:00:00-03:00"], source_timezone=source_zone
    )
    assert typed.staged == {0: expected, 1: utc(2026, 1, 2, 9)}  # an explicit offset is that instant anywhere


def test_a_declared_timestamp_format_with_12_hour_clock_and_offsets(tmp_path: Path) -> None:
    formats = ["%m/%d/%y %I:%M %p %z", "%m/%d/%y %I:%M %p"]
    expected = "one of the formats %m/%d/%y %I:%M %p %z, %m/%d/%y %I:%M %p"
    check_table(
        tmp_path,
        {"type": "timestamp", "format": formats, "timezone": "America/New_York"},
        source_timezone=CHICAGO,
        accepted={
            "1/18/11 3:04 PM": utc(2011, 1, 18, 20, 4),  # New York (the column's zone), UTC-5
            "1/18/11 12:00 am": utc(2011, 1, 18, 5),
            "1/18/11 3:04 PM +01:00": utc(2011, 1, 18, 14, 4),
            "1/18/11 3:04 pm -0300": utc(2011, 1, 18, 18, 4),
            "1/18/11 3:04 PM Z": utc(2011, 1, 18, 15, 4),
        },
        rejected={
            "1/18/11 13:04 PM": cannot("1/18/11 13:04 PM", "timestamp", expected),
            "1/18/11 3:04": cannot("1/18/11 3:04", "timestamp", expected),
            "1/18/11 3:04 PM +99": cannot("1/18/11 3:04 PM +99", "timestamp", expected),
            "2011-01-18T15:04:00Z": cannot("2011-01-18T15:04:00Z", "timestamp", expected),
        },
    )


def test_a_bad_timestamp_under_event_time_is_blamed_on_its_format_not_the_date_window(tmp_path: Path) -> None:
    typed = gate_values(
        tmp_path,
        {"type": "timestamp", "nullable": False},
        ["1/18/11", "2026-01-02T10:00:00Z", "2026-01-05T10:00:00Z"],
        event_time=True,
    )
    assert typed.staged == {1: utc(2026, 1, 2, 10)}
    assert typed.quarantined == {
        0: ("type", "v", f"column v: cannot read 1/18/11 as timestamp (expected {ISO})"),
        2: ("event_time", "v", "column v: 2026-01-05T10:00:00Z is not on the logical date 2026-01-02"),
    }


# ============================================================================ numbers, booleans


def test_integers(tmp_path: Path) -> None:
    check_table(
        tmp_path,
        {"type": "integer"},
        accepted={
            "42": 42,
            "-7": -7,
            "+3": 3,
            "007": 7,
            "7.0": 7,  # a whole number from a float export
            "8.": 8,
            " 9 ": 9,
            str(BIG - 1): BIG - 1,
            str(-BIG): -BIG,
            "": None,
        },
        rejected={
            "7.5": cannot("7.5", "integer"),  # never rounded
            "1_000": cannot("1_000", "integer"),
            "1,000": cannot("1,000", "integer"),
            "1e3": cannot("1e3", "integer"),
            "0x10": cannot("0x10", "integer"),
            "\u0661\u0662": cannot("\u0661\u0662", "integer"),  # Arabic-Indic digits
            "- 1": cannot("- 1", "integer"),
            "true": cannot("true", "integer"),
            str(BIG): out_of(str(BIG), "integer"),
            str(-BIG - 1): out_of(str(-BIG - 1), "integer"),
            "99999999999999999999": out_of("99999999999999999999", "integer"),
        },
    )


def test_doubles(tmp_path: Path) -> None:
    check_table(
        tmp_path,
        {"type": "double"},
        accepted={
            "1.5": 1.5,
            "-2": -2.0,
            "1.": 1.0,
            ".5": 0.5,
            "+.5e+3": 500.0,
            "6.02E23": 6.02e23,
            "-0": -0.0,
            "0e-999": 0.0,  # zero is zero, whatever its exponent
            "1.7976931348623157e308": 1.7976931348623157e308,
            DOUBLE_MIN_NORMAL: float(DOUBLE_MIN_NORMAL),
            " 3.25\n": 3.25,
            "": None,
        },
        rejected={
            "1_000": cannot("1_000", "double"),  # DuckDB read it as 1000.0
            "1,5": cannot("1,5", "double"),
            "0x10": cannot("0x10", "double"),
            "1e": cannot("1e", "double"),
            "abc": cannot("abc", "double"),
            "NaN": ("finite", "NaN is not a finite number"),
            "inf": ("finite", "inf is not a finite number"),
            "-Infinity": ("finite", "-Infinity is not a finite number"),
            "1e-400": out_of("1e-400", "double"),  # DuckDB read it as 0.0
            "1e-310": out_of("1e-310", "double"),  # a subnormal: digits lost
            "1e400": out_of("1e400", "double"),  # infinity
            "-1.8e308": out_of("-1.8e308", "double"),
        },
    )


def test_booleans(tmp_path: Path) -> None:
    expected = EXPECTED["boolean"]
    check_table(
        tmp_path,
        {"type": "boolean"},
        accepted={"true": True, "FALSE": False, "t": True, "F": False, "1": True, "0": False, " True ": True, "": None},
        rejected={v: cannot(v, "boolean", expected) for v in ("yes", "no", "y", "n", "on", "off", "2", "tru", "1.0")},
    )


# ============================================================================ strings


def test_a_whitespace_only_string_is_missing_in_a_non_nullable_column(tmp_path: Path) -> None:
    long_text = "é" * 32768  # 65,536 UTF-8 bytes: one more than Redshift's VARCHAR(65535) holds
    check_table(
        tmp_path,
        {"type": "string", "nullable": False},
        accepted={"x": "x", " x ": " x ", "\u00e9" * 32767 + "e": "\u00e9" * 32767 + "e"},
        rejected={
            "": MISSING,
            "  ": BLANK,  # passed before: a blank name is no name
            "\t\n": BLANK,
            "\u00a0\u3000": BLANK,
            "a\x00b": ("nul", "contains a NUL character (U+0000)"),
            long_text: (
                "range",
                "a value of 65536 bytes is longer than the 65535 bytes Redshift stores: "
                + long_text[:200]
                + "... (32768 chars)",
            ),
        },
    )


def test_a_nullable_string_keeps_whitespace_as_received(tmp_path: Path) -> None:
    typed = gate_values(tmp_path, {"type": "string"}, ["  ", "\t", "", None, " a "])
    assert typed.staged == {0: "  ", 1: "\t", 2: None, 3: None, 4: " a "}


def test_whitespace_is_exactly_what_python_calls_whitespace() -> None:
    assert sorted(WHITESPACE) == sorted(ch for ch in map(chr, range(0x110000)) if ch.isspace())


# ============================================================================ the contract


def column(spec: dict[str, Any]) -> Any:
    return parse_contract({"dataset": "d", "columns": {"c": spec}}, source="d.yaml").column("c")


def test_the_contract_keeps_formats_and_timezone() -> None:
    assert column({"type": "date", "format": "%m/%d/%y"}).formats == ("%m/%d/%y",)
    col = column({"type": "timestamp", "format": ["%Y%m%d %H%M", "%m/%d/%y"], "timezone": "Europe/Paris"})
    assert (col.formats, col.timezone) == (("%Y%m%d %H%M", "%m/%d/%y"), "Europe/Paris")
    assert (column({"type": "timestamp"}).formats, column({"type": "timestamp"}).timezone) == ((), None)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"type": "integer", "format": "%d"},
            "d.yaml: columns.c.format: only date and timestamp columns take a format (this one is integer)",
        ),
        (
            {"type": "date", "format": "%m/%d/%Y %H"},
            "d.yaml: columns.c.format: '%m/%d/%Y %H': %H is not allowed in a date format "
            "(declare the column a timestamp for a time of day)",
        ),
        ({"type": "date", "format": "%m/%d"}, "d.yaml: columns.c.format: '%m/%d': must name a year once (%Y or %y)"),
        ({"type": "date", "format": "%Y/%m/%d/%y"}, "d.yaml: columns.c.format: '%Y/%m/%d/%y': must name a year once"),
        ({"type": "date", "format": "%Y-%m-%m"}, "d.yaml: columns.c.format: '%Y-%m-%m': %m appears twice"),
        ({"type": "date", "format": "%Y-%j"}, "d.yaml: columns.c.format: '%Y-%j': %j is not a supported directive"),
        ({"type": "date", "format": "%Y-%m-%d%"}, "d.yaml: columns.c.format: '%Y-%m-%d%': % is not a supported"),
        ({"type": "timestamp", "format": "%Y-%m-%d %I:%M"}, "%I (12-hour clock) and %p (AM/PM) go together"),
        ({"type": "timestamp", "format": "%Y-%m-%dT%H:%M:%SZ"}, "a literal Z would be read as local time"),
        (
            {"type": "date", "timezone": "UTC"},
            "d.yaml: columns.c.timezone: only timestamp columns take a timezone (this one is date)",
        ),
        (
            {"type": "timestamp", "timezone": "America/Chikago"},
            "d.yaml: columns.c.timezone: 'America/Chikago' is not an IANA time zone name",
        ),
        ({"type": "date", "format": []}, "columns.c.format"),  # the schema: one format at least
    ],
)
def test_the_contract_refuses_a_bad_format_or_timezone_naming_file_and_column(
    spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(ContractError, match=re.escape(message)):
        column(spec)


def test_a_format_becomes_an_anchored_pattern_of_its_directives() -> None:
    assert format_regex("%m/%d/%y") == "[0-9]{1,2}\\x{2f}[0-9]{1,2}\\x{2f}[0-9]{2}"
    assert format_error("%d.%m.%Y", "date") is None


# ============================================================================ generated cases
# Whatever the gate passes, Python's own reader of that syntax reads to the same value.

NUMBER_TEXT = st.text(alphabet="0123456789+-.eE_ x,", max_size=12)


@GENERATED
@given(
    floats=st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=20),
    texts=st.lists(NUMBER_TEXT),
)
def test_generated_doubles_equal_pythons_reading(tmp_path: Path, floats: list[float], texts: list[str]) -> None:
    values = [repr(f) for f in floats] + texts
    typed = gate_values(tmp_path, {"type": "double"}, values)
    for i, value in enumerate(values):
        stripped = value.strip(WHITESPACE)
        if i < len(floats):
            f = floats[i]
            # every finite double round-trips, except the subnormals (digits already lost)
            assert (i in typed.staged) is (f == 0 or abs(f) >= float(DOUBLE_MIN_NORMAL)), value
        if i in typed.staged and stripped:
            assert re.fullmatch(DOUBLE_SYNTAX, stripped), value
            assert typed.staged[i] == float(stripped), value
        elif i in typed.staged:
            assert typed.staged[i] is None, value  # empty or whitespace only: NULL
        elif stripped:
            assert typed.quarantined[i][0] in ("type", "range", "finite"), value


@GENERATED
@given(
    numbers=st.lists(st.integers(min_value=-(2**70), max_value=2**70), min_size=1, max_size=20),
    texts=st.lists(NUMBER_TEXT),
)
def test_generated_integers_equal_pythons_reading(tmp_path: Path, numbers: list[int], texts: list[str]) -> None:
    values = [str(n) for n in numbers] + texts
    typed = gate_values(tmp_path, {"type": "integer"}, values)
    for i, value in enumerate(values):
        if i < len(numbers):
            assert (i in typed.staged) is (-BIG <= numbers[i] < BIG), value
        if i in typed.staged and typed.staged[i] is not None:
            whole = re.sub(r"\.0*$", "", value.strip())
            assert "_" not in whole, value  # Python's int() reads 1_000; the gate must not
            assert typed.staged[i] == int(whole), value


DATE_TEXT = st.text(alphabet="0123456789-/T :", max_size=12)


@GENERATED
@given(days=st.lists(st.dates(), min_size=1, max_size=20), texts=st.lists(DATE_TEXT))
def test_generated_dates_equal_pythons_reading(tmp_path: Path, days: list[dt.date], texts: list[str]) -> None:
    values = [d.isoformat() for d in days] + texts
    typed = gate_values(tmp_path, {"type": "date"}, values)
    for i, value in enumerate(values):
        if i < len(days):
            assert typed.staged.get(i) == days[i], value
        if typed.staged.get(i) is not None:
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()), value
            assert typed.staged[i] == dt.date.fromisoformat(value.strip()), value


FORMATS = ["%m/%d/%y", "%d.%m.%Y", "%Y%m%d", "%d %b %Y", "%B %d, %Y"]


@GENERATED
@given(
    fmt=st.sampled_from(FORMATS),
    days=st.lists(st.dates(min_value=dt.date(1969, 1, 1), max_value=dt.date(2068, 12, 31)), min_size=1, max_size=20),
    texts=st.lists(st.text(alphabet=string.digits + "/. ,JanuryDecmb", max_size=12)),
)
def test_generated_formatted_dates_equal_strptime(
    tmp_path: Path, fmt: str, days: list[dt.date], texts: list[str]
) -> None:
    values = [d.strftime(fmt) for d in days] + texts
    typed = gate_values(tmp_path, {"type": "date", "format": fmt}, values)
    for i, value in enumerate(values):
        if i < len(days):
            assert typed.staged.get(i) == days[i], value  # what strftime writes, the format reads back
        if typed.staged.get(i) is not None:
            assert typed.staged[i] == dt.datetime.strptime(value.strip(), fmt).date(), value


@st.composite
def iso_timestamps(draw: st.DrawFn) -> str:
    moment = draw(st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)))
    spec = draw(st.sampled_from(["minutes", "seconds", "milliseconds", "microseconds"]))
    text = moment.isoformat(sep=draw(st.sampled_from("T ")), timespec=spec)
    return text + draw(st.sampled_from(["", "", "Z", "+05:30", "-0600", "+01"]))


@GENERATED
@given(stamps=st.lists(iso_timestamps(), min_size=1, max_size=25))
def test_generated_timestamps_equal_zoneinfo(tmp_path: Path, stamps: list[str]) -> None:
    zone = ZoneInfo(CHICAGO)
    typed = gate_values(tmp_path, {"type": "timestamp"}, stamps, source_timezone=CHICAGO)
    for i, value in enumerate(stamps):
        moment = dt.datetime.fromisoformat(value)
        if moment.tzinfo is None:
            # both readings of a local time; a gap gives two instants that map back to other wall times
            early, late = (moment.replace(tzinfo=zone, fold=f).astimezone(UTC) for f in (0, 1))
            exists = early.astimezone(zone).replace(tzinfo=None) == moment
            expected = max(early, late) if exists else None  # repeated hour: standard time, the later
        else:
            expected = moment.astimezone(UTC)
        if expected is None:
            assert typed.quarantined[i][2].endswith("does not exist in America/Chicago (clocks went forward)")
        else:
            assert typed.staged.get(i) == expected, value


def test_a_format_with_braces_and_quotes_is_quoted_as_written(tmp_path: Path) -> None:
    fmt = "{%Y}'%m'%d"
    check_table(
        tmp_path,
        {"type": "date", "format": fmt},
        accepted={"{2011}'01'03": dt.date(2011, 1, 3)},
        rejected={"2011-01-03": cannot("2011-01-03", "date", f"format {fmt}")},
    )
