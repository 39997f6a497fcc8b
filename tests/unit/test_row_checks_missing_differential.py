"""A row-level check's "missing" test against its earlier spelling, on generated values of every type.

``row_checks._missing`` reads a floating-point value's NaN with ``isnan(TRY_CAST(col AS DOUBLE))``;
the reference is the earlier spelling, which went through the value's text
(``TRY_CAST(CAST(col AS VARCHAR) AS DOUBLE)``). Both run in one DuckDB over random bit patterns
of doubles and floats (NaN payloads of both signs, infinities, subnormals, signed zeros), NULL, and
columns of the other contract types; then every row-level expectation is compared whole.
"""

from __future__ import annotations

from typing import Any

import pytest

from lockgate import row_checks
from lockgate.checks import Params
from lockgate.contracts import Expectation

ROWS = 20_000
COLUMNS = ["d", "f", "s", "i", "b", "day", "ts", "dec"]


def reference_missing(col: str) -> str:
    """The earlier ``_missing``: the NaN test went through the value's text."""
    nan = f"isnan(TRY_CAST(CAST({col} AS VARCHAR) AS DOUBLE))"
    return f"({col} IS NULL OR (typeof({col}) IN ('DOUBLE', 'FLOAT') AND {nan}))"


@pytest.fixture(scope="module")
def con() -> Any:
    import duckdb
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(20261207)
    bits = rng.integers(0, 2**64, ROWS, dtype=np.uint64, endpoint=False)
    # a quarter of the rows are NaNs (random payloads, both signs); then the special values
    bits[::4] |= np.uint64(0x7FF0000000000001)
    doubles = bits.view(np.float64).copy()
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 5e-324, -5e-324, 1.7976931348623157e308, 2.2e-308]
    doubles[1 : 1 + len(special)] = special
    floats = (bits >> np.uint64(32)).astype(np.uint32).view(np.float32).copy()
    floats[1 : 1 + len(special)] = np.array(special, dtype=np.float32)
    null = np.zeros(ROWS, dtype=bool)
    null[::7] = True
    texts = np.array(["nan", "NaN", "-nan", "inf", "", " 1.5", "x"], dtype=object)[np.arange(ROWS) % 7]
    table = pa.table(
        {
            "d": pa.array(doubles, mask=null),
            "f": pa.array(floats, mask=null),
            "s": pa.array(texts, pa.string(), mask=np.roll(null, 1)),
            "i": pa.array(bits.view(np.int64), mask=np.roll(null, 2)),
            "b": pa.array(bits % np.uint64(2) == 0, mask=np.roll(null, 3)),
        }
    )
    con = duckdb.connect()
    con.register("generated", table)
    con.execute(
        "CREATE TABLE t AS SELECT row_number() OVER () AS id, *, DATE '2020-02-29' + CAST(i % 1000 AS INTEGER) AS day, "
        "TIMESTAMPTZ '2020-01-01 00:00:00+00' + to_microseconds(i % 10000000000) AS ts, "
        "CAST(i % 100000 AS DECIMAL(18, 3)) / 7 AS dec FROM generated"
    )
    return con


@pytest.mark.parametrize("column", COLUMNS)
def test_missing_is_the_reference_on_every_row(con: Any, column: str) -> None:
    new, old = row_checks._missing(column), reference_missing(column)
    differs = f"({new}) IS DISTINCT FROM ({old})"
    query = f"SELECT count(*), count(*) FILTER (WHERE {new}), count(*) FILTER (WHERE {differs}) FROM t"
    counts = con.execute(query).fetchone()
    assert counts[0] == ROWS
    assert counts[2] == 0
    if column in ("d", "f"):
        # NULLs and NaNs (a quarter of the bit patterns, and the special NaNs) are missing
        assert ROWS // 7 + ROWS // 5 < counts[1] < ROWS // 7 + ROWS // 3
    elif column in ("s", "i", "b"):
        assert counts[1] == (ROWS + 6) // 7  # NULL only, not the text 'nan'


def test_a_double_s_nan_test_keeps_no_cast_through_text(con: Any) -> None:
    """What the change is for: the plan reads the double itself (and other types' NaN test is gone)."""

    def plan(column: str) -> str:
        rows = con.execute(f"EXPLAIN SELECT id FROM t WHERE {row_checks._missing(column)}").fetchall()
        return "\n".join(str(row[1]) for row in rows)

    assert "isnan(d)" in plan("d")
    assert "VARCHAR" not in plan("d")
    assert "isnan" not in plan("s")


EXPECTATIONS = [
    ("expect_column_values_to_not_be_null", {}),
    ("expect_column_values_to_be_between", {"min_value": 0, "max_value": 100}),
    ("expect_column_values_to_be_between", {"min_value": -1.5, "strict_min": True}),
    ("expect_column_values_to_be_in_set", {"value_set": [0, 1, 2.5]}),
    ("expect_column_values_to_not_be_in_set", {"value_set": [0]}),
    ("expect_column_values_to_match_regex", {"regex": "^[0-9]"}),
    ("expect_column_value_lengths_to_be_between", {"min_value": 2, "max_value": 5}),
]
#: (expectation, kwargs, column): each on the doubles, the floats, the texts and the integers (lengths: texts)
CASES = [(n, kw, c) for n, kw in EXPECTATIONS for c in ("d", "f", "s", "i") if "lengths" not in n or c == "s"]


@pytest.mark.parametrize(("name", "kwargs", "column"), CASES)
def test_row_problems_are_the_reference_s(
    con: Any, monkeypatch: pytest.MonkeyPatch, column: str, name: str, kwargs: dict[str, Any]
) -> None:
    """Every row-level expectation flags the same rows with the same reason as with the earlier test."""
    exp = Expectation(name, "quarantine", {"column": column, **kwargs})
    if row_checks.refusals(exp):
        pytest.fail(f"{name} is refused: {row_checks.refusals(exp)}")

    def problems() -> list[tuple[Any, ...]]:
        params = Params()
        sql = row_checks.row_problem(exp, params, ["id", *COLUMNS])
        return con.execute(f"SELECT id, {sql} FROM t WHERE ({sql}) IS NOT NULL ORDER BY id", params.values).fetchall()

    new = problems()
    monkeypatch.setattr(row_checks, "_missing", reference_missing)
    assert new == problems()
    if name.endswith("not_be_null") and column in ("d", "f"):
        assert len(new) > ROWS // 7
