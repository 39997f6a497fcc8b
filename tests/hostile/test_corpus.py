"""The bad-input corpus: every hostile file goes through ingest -> gate -> partition -> load.

One function per case, named for what it breaks. Each writes the bytes of one source file, counts
the records in it independently of the product, and says how the run must end:

* ``clean`` - every row loads (the input is odd but valid);
* ``quarantined`` - the run succeeds and ``quarantined`` rows land in the lake's quarantine, each
  naming its file and row (and the column, where one column is at fault) with a reason;
* ``fails_at`` - a step fails with a message naming the file (and the row and column where they
  apply), and nothing is staged, curated or loaded.

For every case: rows in (the test's count) = rows loaded (queried from the warehouse) + rows
quarantined (read from the lake) + duplicates removed (the gate's report); no file exists outside
the lake root. A few cases also run against PostgreSQL.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.harness import (
    HEADER,
    Case,
    Outcome,
    assert_case,
    csv_text,
    good,
    ndjson,
    plain,
    records,
    row,
    run_case,
)
from tests.support.pg import airflow_conn_env
from tests.support.s3 import lake_conn_env

pytestmark = pytest.mark.integration

CASES: dict[str, Callable[[], Case]] = {}


def case(fn: Callable[[], Case]) -> Callable[[], Case]:
    CASES[fn.__name__] = fn
    return fn


# ----------------------------------------------------------------------------- CSV structure


@case
def ragged_row_with_too_many_fields() -> Case:
    return Case(
        "r.csv",
        csv_text(*good(3), [*row(4), "surplus"]).encode(),
        rows_in=4,
        quarantined=1,
        reason="expected 6 fields, found 7",
    )


@case
def ragged_row_with_too_few_fields() -> Case:
    return Case("r.csv", csv_text(*good(3), row(4)[:5]).encode(), 4, 1, "expected 6 fields, found 5")


@case
def unbalanced_quote_runs_to_the_end_of_the_file() -> Case:
    # the quote opened on line 4 is never closed: lines 4-6 are one record to the CSV grammar, so
    # the test counts 2 + 1 records, and the reason must say which lines were swallowed
    lines = csv_text(*good(2)) + 'ST-003,"2026-01-02T03:00:00Z,north,pm25,1.5,ug/m3\n' + plain(*good(2, 4))
    return Case("q.csv", lines.encode(), rows_in=3, quarantined=1, reason="lines 4 to 6")


@case
def text_after_a_closing_quote() -> Case:
    text = csv_text(*good(2)) + '"ST-003"x,2026-01-02T03:00:00Z,north,pm25,1.5,ug/m3\n' + plain(*good(1, 4))
    return Case("q.csv", text.encode(), 4, 1, "malformed CSV: ',' expected after '\"'")


@case
def quoted_fields_with_delimiters_and_newlines_load_verbatim() -> Case:
    text = csv_text(*good(1)) + '"ST-, ""2""\nnext",2026-01-02T02:00:00Z,north,pm25,2.5,ug/m3\n'

    def check(out: Outcome) -> None:
        assert 'ST-, "2"\nnext' in out.column("station_id")

    return Case("q.csv", text.encode(), 2, check=check)


# ---------------------------------------------------------------------------------- encodings


@case
def latin1_bytes_declared_utf8() -> Case:
    # 1 record of 4 is undecodable: more than max_undecodable_percent (10%), so the file is taken
    # for another encoding and fails naming the setting
    text = csv_text(*good(2), row(3, station_id="ST-Zürich"), *good(1, 4))
    return Case(
        "enc.csv",
        text.encode("latin-1"),
        4,
        fails_at="ingest",
        message=("1 of 4 records", "row 4", "not valid utf-8", "set `encoding:` on the source"),
    )


@case
def one_latin1_byte_among_many_utf8_rows() -> Case:
    # one undecodable record among 40 is quarantined with its byte offset; the other 39 load
    text = csv_text(*good(20), row(21, station_id="ST-Zürich"), *good(19, 22))
    data = text.encode("utf-8").replace("ü".encode(), "ü".encode("latin-1"))
    offset = data.index(b"\xfc")
    reason = f"undecodable byte(s) \\xfc at byte offset {offset} (line 22, byte 5 of the line)"
    return Case("enc.csv", data, 40, 1, reason)


@case
def one_latin1_byte_among_many_ndjson_records() -> Case:
    data = (
        ndjson(*records(*good(20))) + '{"station_id": "ST-Zürich"}\n'.encode("latin-1") + ndjson(*records(*good(9, 22)))
    )
    return Case("enc.ndjson", data, 30, 1, "not valid utf-8 text: undecodable byte(s) \\xfc at byte offset")


@case
def latin1_bytes_in_a_gzip_declared_utf8() -> Case:
    text = csv_text(*good(3), row(4, unit="µg/m³"))
    data = gzip.compress(text.encode("latin-1"))
    return Case("enc.csv.gz", data, 4, fails_at="ingest", message=("row 5", "not valid utf-8"))


@case
def utf8_byte_order_mark() -> Case:
    def check(out: Outcome) -> None:
        assert sorted(out.column("station_id")) == ["ST-001", "ST-002"]

    return Case("bom.csv", b"\xef\xbb\xbf" + csv_text(*good(2)).encode(), 2, check=check)


@case
def utf16_with_byte_order_mark_declared_utf16() -> Case:
    def check(out: Outcome) -> None:
        assert sorted(out.column("station_id")) == ["ST-001", "ST-Zürich"]

    text = csv_text(row(1), row(2, station_id="ST-Zürich"))
    return Case("u16.csv", text.encode("utf-16"), 2, ingest={"encoding": "utf-16"}, check=check)


@case
def utf16_with_byte_order_mark_declared_utf8() -> Case:
    text = csv_text(*good(2))
    return Case(
        "u16.csv", text.encode("utf-16"), 2, fails_at="ingest", message=("byte-order mark FF FE", "encoding: utf-16")
    )


# -------------------------------------------------------------------------------------- types


@case
def mixed_types_in_a_numeric_column() -> Case:
    bad = [row(3, value="abc"), row(4, value="1.5.5"), row(5, value="0x1F"), row(6, value="12 ug")]
    return Case("t.csv", csv_text(*good(2), *bad).encode(), 6, 4, "cannot read", column="value")


@case
def nan_value() -> Case:
    return Case("n.csv", csv_text(*good(2), row(3, value="NaN")).encode(), 3, 1, "is not a finite number", "value")


@case
def infinite_value() -> Case:
    return Case("n.csv", csv_text(*good(2), row(3, value="Inf")).encode(), 3, 1, "Inf is not a finite number", "value")


@case
def negative_infinity_value() -> Case:
    return Case(
        "n.csv", csv_text(row(1), row(2, value="-Infinity")).encode(), 2, 1, "-Infinity is not a finite number", "value"
    )


@case
def nan_and_infinity_as_json_numbers() -> Case:
    text = '{"station_id": "ST-001", "ts": "2026-01-02T01:00:00Z", "region": "north", "pollutant": "pm25", '
    lines = [
        text + '"value": NaN, "unit": "ug/m3"}',
        text.replace("01:00", "02:00") + '"value": -Infinity, "unit": "u"}',
    ]
    return Case("n.ndjson", ("\n".join(lines) + "\n").encode(), 2, 2, "is not a finite number", "value")


@case
def negative_concentration() -> Case:
    return Case("c.csv", csv_text(*good(2), row(3, value="-4.2")).encode(), 3, 1, "-4.2 is not between 0 and", "value")


@case
def absurd_concentration() -> Case:
    return Case("c.csv", csv_text(*good(2), row(3, value="1e12")).encode(), 3, 1, "is not between 0 and 10000", "value")


@case
def empty_value_in_a_key_column() -> Case:
    return Case(
        "k.csv",
        csv_text(*good(2), row(3, station_id="")).encode(),
        3,
        1,
        "missing value in a non-nullable",
        "station_id",
    )


# --------------------------------------------------------------------------------- timestamps


@case
def naive_timestamps_are_read_in_the_source_zone() -> Case:
    # 10:00 in Chicago is 16:00 UTC; 20:00 in Chicago is already the next UTC day
    rows = [row(1, ts="2026-01-02 10:00:00"), row(2, ts="2026-01-02 20:00:00")]

    def check(out: Outcome) -> None:
        assert out.column("ts") == [datetime(2026, 1, 2, 16, tzinfo=UTC)]

    return Case(
        "z.csv",
        csv_text(*rows).encode(),
        2,
        1,
        "2026-01-03T02:00:00Z is not on the logical date",
        "ts",
        ingest={"source_timezone": "America/Chicago"},
        check=check,
    )


@case
def naive_timestamps_without_a_source_zone_are_utc() -> Case:
    def check(out: Outcome) -> None:
        assert out.column("ts") == [datetime(2026, 1, 2, 10, tzinfo=UTC)]

    return Case("z.csv", csv_text(row(1, ts="2026-01-02 10:00:00")).encode(), 1, check=check)


@case
def timestamp_in_the_future() -> Case:
    return Case(
        "f.csv",
        csv_text(*good(2), row(3, ts="2031-06-01T00:00:00Z")).encode(),
        3,
        1,
        "is not on the logical date",
        "ts",
    )


@case
def timestamp_just_after_the_logical_day() -> Case:
    late = row(3, ts="2026-01-02T23:30:00-01:00")  # 00:30 UTC on the 3rd
    return Case("f.csv", csv_text(*good(2), late).encode(), 3, 1, "2026-01-03T00:30:00Z is not on the logical", "ts")


@case
def malformed_timestamps() -> Case:
    bad = [row(3, ts="2026-13-45T99:00:00Z"), row(4, ts="yesterday"), row(5, ts="1735776000")]
    return Case("f.csv", csv_text(*good(2), *bad).encode(), 5, 3, "as timestamp", "ts")


# ------------------------------------------------------------------------------------------ keys


@case
def exact_duplicate_rows() -> Case:
    return Case("d.csv", csv_text(*good(3), row(2), row(2)).encode(), 5, duplicates=2)


@case
def conflicting_duplicate_keys() -> Case:
    # same station, hour and pollutant with two values: which one is true cannot be decided here
    return Case(
        "d.csv",
        csv_text(*good(3), row(2, value="99.0")).encode(),
        4,
        fails_at="gate",
        message=("expect_compound_columns_to_be_unique", "station_id=ST-002", "d.csv row 3", "d.csv row 5"),
    )


# --------------------------------------------------------------------------------------- columns


@case
def missing_required_column() -> Case:
    header = tuple(c for c in HEADER if c != "value")
    rows = [[v for c, v in zip(HEADER, r, strict=True) if c != "value"] for r in good(2)]
    return Case("m.csv", csv_text(*rows, header=header).encode(), 2, fails_at="gate", message=("row 1", "value"))


@case
def renamed_column() -> Case:
    header = tuple("concentration" if c == "value" else c for c in HEADER)
    return Case("m.csv", csv_text(*good(2), header=header).encode(), 2, fails_at="gate", message=("row 1", "value"))


@case
def extra_column_is_ignored() -> Case:
    header = (*HEADER, "firmware")
    return Case("x.csv", csv_text(*[[*r, "v1.2"] for r in good(3)], header=header).encode(), 3)


@case
def reordered_columns_land_in_the_right_place() -> Case:
    header = tuple(reversed(HEADER))

    def check(out: Outcome) -> None:
        assert sorted(out.column("value")) == [11.5, 12.5]

    return Case("o.csv", csv_text(*[list(reversed(r)) for r in good(2)], header=header).encode(), 2, check=check)


@case
def duplicate_column_names_in_the_header() -> Case:
    # which of two `value` columns is meant cannot be told: the file fails naming the column (the
    # first used to be read silently and the second called "added")
    header = (*HEADER, "value")
    return Case(
        "x.csv",
        csv_text(*[[*r, "-1"] for r in good(2)], header=header).encode(),
        2,
        fails_at="ingest",
        message=("row 1", "column value is named 2 times in the header"),
    )


@case
def header_names_equal_ignoring_case_and_spaces() -> Case:
    header = (*HEADER, " VALUE ")
    return Case(
        "x.csv",
        csv_text(*[[*r, "-1"] for r in good(2)], header=header).encode(),
        2,
        fails_at="ingest",
        message=("column value is named 2 times", "' VALUE ' (field 7)"),
    )


@case
def duplicate_keys_in_a_json_object() -> Case:
    lines = ndjson(*records(*good(2))) + b'{"station_id": "ST-003", "station_id": "ST-004"}\n'
    return Case("j.ndjson", lines, 3, 1, "key 'station_id' is repeated in a JSON object", "station_id")


# ------------------------------------------------------------------------------ empty files


# a delivery with no records fails ingestion naming the file (a truncated export looks the same),
# unless the source declares allow_empty: then it is 0 rows

EMPTY = {"allow_empty": True}


@case
def header_only_csv() -> Case:
    return Case("e.csv", csv_text().encode(), 0, fails_at="ingest", message=("has a header", "but no records"))


@case
def header_only_csv_allowed_empty() -> Case:
    return Case("e.csv", csv_text().encode(), 0, ingest=EMPTY)


@case
def zero_byte_csv() -> Case:
    return Case("e.csv", b"", 0, fails_at="ingest", message=("is empty (0 bytes)", "allow_empty"))


@case
def zero_byte_csv_allowed_empty() -> Case:
    return Case("e.csv", b"", 0, ingest=EMPTY)


@case
def zero_byte_ndjson() -> Case:
    return Case("e.ndjson", b"", 0, fails_at="ingest", message=("is empty (0 bytes)",))


@case
def zero_byte_gzip_csv() -> Case:
    return Case("e.csv.gz", gzip.compress(b""), 0, fails_at="ingest", message=("is empty (0 bytes)",))


@case
def empty_json_array() -> Case:
    return Case("e.json", b"[ ]", 0, fails_at="ingest", message=("is an empty JSON array",))


@case
def empty_json_array_allowed_empty() -> Case:
    return Case("e.json", b"[ ]", 0, ingest=EMPTY)


@case
def blank_lines_only() -> Case:
    return Case("e.ndjson", b"\n\n   \n", 0, fails_at="ingest", message=("has no records",))


# ------------------------------------------------------------------------------- compression


@case
def truncated_gzip() -> Case:
    whole = gzip.compress(csv_text(*good(400)).encode())
    return Case("g.csv.gz", whole[: len(whole) // 2], 400, fails_at="ingest", message=("unreadable", "end-of-stream"))


@case
def gzip_name_on_plain_text() -> Case:
    return Case("g.csv.gz", csv_text(*good(2)).encode(), 2, fails_at="ingest", message=("unreadable",))


# -------------------------------------------------------------------------------------- JSON


@case
def invalid_json_array() -> Case:
    text = json.dumps(records(*good(2)))[:-1] + ', {"station_id": "ST-003", "ts": ]'
    return Case("j.json", text.encode(), 3, fails_at="ingest", message=("element 3", "invalid JSON"))


@case
def json_object_instead_of_an_array() -> Case:
    text = json.dumps(records(*good(1))[0])
    return Case("j.json", text.encode(), 1, fails_at="ingest", message=("row 1", "expected a JSON array"))


@case
def json_array_of_scalars_and_lists() -> Case:
    text = json.dumps([*records(*good(2)), 7, "ST-003", [1, 2]])
    return Case("j.json", text.encode(), 5, 3, "expected a JSON object, found")


@case
def ndjson_with_a_broken_line() -> Case:
    lines = ndjson(*records(*good(2))) + b'{"station_id": "ST-003", "ts": \n' + ndjson(*records(*good(1, 4)))
    return Case("j.ndjson", lines, 4, 1, "invalid JSON at column")


@case
def ndjson_values_of_the_wrong_json_type() -> Case:
    objs: list[dict[str, Any]] = records(*good(4))
    objs[0]["value"] = 12.5  # a JSON number is fine
    objs[1]["value"] = [1, 2]
    objs[2]["value"] = {"v": 1}
    objs[3]["value"] = True

    def check(out: Outcome) -> None:
        assert out.column("value") == [12.5]

    return Case("j.ndjson", ndjson(*objs), 4, 3, "cannot read", "value", check=check)


# ------------------------------------------------------------------------------ huge lines


HUGE = 20 * 1024 * 1024


@case
def one_huge_csv_field() -> Case:
    text = csv_text(*good(2), row(3, station_id="S" * HUGE), *good(1, 4)).encode()

    def check(out: Outcome) -> None:
        # the quarantined record keeps the first KB of the field and its length
        assert out.quarantine[0]["record"].startswith("S" * 1024 + f"... ({HUGE:,} bytes),")

    return Case("h.csv", text, 4, 1, f"a value of {HUGE:,} bytes is over the field limit", "station_id", check=check)


@case
def one_huge_ndjson_value() -> Case:
    objs = records(*good(2), row(3, value="9" * 10 + "x" * HUGE))
    return Case("h.ndjson", ndjson(*objs), 3, 1, "over the field limit of 1,048,576 bytes", "value")


@case
def a_huge_field_under_a_raised_field_limit_is_typed() -> Case:
    # max_field_bytes raised above the value: it is read, and the typing quarantines it instead
    objs = records(*good(2), row(3, value="9" * 10 + "x" * HUGE))
    return Case("h.ndjson", ndjson(*objs), 3, 1, "cannot read", "value", ingest={"max_field_bytes": 2 * HUGE})


# ---------------------------------------------------------------------------- partition values


def _round_trip(values: list[str]) -> Callable[[Outcome], None]:
    def check(out: Outcome) -> None:
        assert sorted(out.column("region")) == sorted(values)

    return check


def _regions(*values: str) -> Case:
    rows = [row(i, region=v) for i, v in enumerate(values, start=1)]
    return Case("p.csv", csv_text(*rows).encode(), len(rows), check=_round_trip(list(values)))


@case
def partition_value_with_dot_dot_slash() -> Case:
    return _regions("../../../../etc", "..", ".", "../x")


@case
def partition_value_with_slash_and_backslash() -> Case:
    return _regions("a/b", "/abs", "c\\d", "trailing/")


@case
def partition_value_with_equals_and_percent() -> Case:
    return _regions("k=v", "ds=2020-01-01", "%2F", "%2E%2E", "100%")


@case
def partition_value_with_unusual_unicode() -> Case:
    return _regions("\u202eevil", "😀", "e\u0301", "Ωmega", "\u200b")


@case
def partition_value_with_control_characters() -> Case:
    # tab, form feed and escape round-trip; a NUL is quarantined (PostgreSQL text cannot hold it)
    kept = ["tab\tx", "ff\x0cx", "esc\x1bx"]
    rows = [row(i, region=v) for i, v in enumerate([*kept, "nul\x00x"], start=1)]
    return Case("p.csv", csv_text(*rows).encode(), 4, 1, "contains a NUL character", "region", check=_round_trip(kept))


# ------------------------------------------------------------------------- SQL in the data


@case
def sql_in_station_ids_loads_verbatim() -> Case:
    ids = ["ST-001'; DROP TABLE hostile_readings; --", 'ST-"002"', "ST-003;", "Robert'); DROP TABLE x;--"]
    lines = [",".join(['"' + v.replace('"', '""') + '"', *row(i)[1:]]) for i, v in enumerate(ids, start=1)]
    text = ",".join(HEADER) + "\n" + "\n".join(lines) + "\n"
    return Case(
        "s.csv", text.encode(), 4, check=lambda out: _assert_equal(sorted(out.column("station_id")), sorted(ids))
    )


def _assert_equal(a: Any, b: Any) -> None:
    assert a == b


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_case_on_duckdb(name: str, lockgate_home: Path, tmp_path: Path) -> None:
    c = CASES[name]()
    out = run_case(c, tmp_path / "sources")
    assert_case(c, out, lockgate_home)


PG_CASES = (
    "exact_duplicate_rows",
    "sql_in_station_ids_loads_verbatim",
    "partition_value_with_dot_dot_slash",
    "partition_value_with_unusual_unicode",
    "partition_value_with_control_characters",
    "naive_timestamps_are_read_in_the_source_zone",
    "nan_value",
    "truncated_gzip",
)


@pytest.fixture
def postgres_warehouse(pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The warehouse connection points at a fresh PostgreSQL database for this test."""
    monkeypatch.setenv(*airflow_conn_env("lockgate_warehouse", pg_dsn))
    return pg_dsn


@pytest.mark.parametrize("name", PG_CASES)
def test_hostile_case_on_postgres(name: str, lockgate_home: Path, tmp_path: Path, postgres_warehouse: str) -> None:
    c = CASES[name]()
    out = run_case(c, tmp_path / "sources")
    assert_case(c, out, lockgate_home)


def test_the_corpus_covers_the_issue() -> None:
    assert len(CASES) >= 30


S3_CASES = (
    "partition_value_with_dot_dot_slash",
    "partition_value_with_slash_and_backslash",
    "partition_value_with_equals_and_percent",
    "partition_value_with_unusual_unicode",
    "sql_in_station_ids_loads_verbatim",
    "mixed_types_in_a_numeric_column",
)


@pytest.mark.parametrize("name", S3_CASES)
def test_hostile_case_on_an_s3_lake(
    name: str, lockgate_home: Path, tmp_path: Path, s3_bucket: str, aws_conn_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same cases with the lake in a bucket below a prefix: no key is written outside it."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    monkeypatch.setenv(*lake_conn_env(f"s3://{s3_bucket}/lake-root", aws_conn_id))
    c = CASES[name]()
    out = run_case(c, tmp_path / "sources")
    assert_case(c, out, lockgate_home)
    keys = S3Hook(aws_conn_id=aws_conn_id).list_keys(bucket_name=s3_bucket)
    assert any(k.startswith("lake-root/curated/") for k in keys)
    for key in keys:
        assert key.startswith("lake-root/"), key
        assert not {"", ".", ".."} & set(key.split("/")), key
