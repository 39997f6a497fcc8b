"""The SQL check engine gives the same results as Great Expectations on the same data."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from lockgate.checks import TRANSLATED, evaluate
from lockgate.contracts import Expectation, load_contract, parse_contract
from lockgate.gate import run_gx

COMPARED = ("success", "element_count", "missing_count", "unexpected_count", "unexpected_percent", "observed_value")


def _frame(rows: int = 2_000, seed: int = 7) -> pd.DataFrame:
    """Messy data: nulls in every column, duplicates, out-of-range values, odd strings."""
    rng = np.random.default_rng(seed)
    value = rng.normal(40, 30, rows)
    value[rng.random(rows) < 0.05] = np.nan
    station = np.array([f"ST-{i:03d}" for i in rng.integers(1, 60, rows)], dtype=object)
    station[rng.random(rows) < 0.02] = "bad id"
    station[rng.random(rows) < 0.03] = None
    pollutant = rng.choice(
        np.array(["pm25", "pm10", "o3", "co", "xx"], dtype=object), rows, p=[0.3, 0.3, 0.2, 0.19, 0.01]
    )
    pollutant[rng.random(rows) < 0.01] = None
    hour = rng.integers(0, 24, rows).astype(float)
    hour[rng.random(rows) < 0.02] = np.nan
    return pd.DataFrame({"station_id": station, "pollutant": pollutant, "value": value, "hour": hour})


CONTRACT = parse_contract(
    {
        "dataset": "mixed",
        "columns": {
            "station_id": {"type": "string"},
            "pollutant": {"type": "string"},
            "value": {"type": "double"},
            "hour": {"type": "double"},
        },
    }
)

CASES: list[tuple[str, dict[str, Any]]] = [
    ("expect_column_values_to_not_be_null", {"column": "value"}),
    ("expect_column_values_to_not_be_null", {"column": "station_id", "mostly": 0.9}),
    ("expect_column_values_to_be_between", {"column": "value", "min_value": 0, "max_value": 100}),
    ("expect_column_values_to_be_between", {"column": "value", "min_value": 0, "max_value": 100, "mostly": 0.8}),
    ("expect_column_values_to_be_between", {"column": "value", "min_value": 0, "strict_min": True}),
    ("expect_column_values_to_be_between", {"column": "hour", "max_value": 23, "strict_max": True}),
    (
        "expect_column_values_to_be_between",
        {
            "column": "value",
            "min_value": 0,
            "max_value": 60,
            "row_condition": 'pollutant=="pm25"',
            "condition_parser": "pandas",
        },
    ),
    (
        "expect_column_values_to_be_between",
        {
            "column": "value",
            "min_value": 10,
            "row_condition": 'pollutant in ["o3", "co"]',
            "condition_parser": "pandas",
        },
    ),
    ("expect_column_values_to_be_in_set", {"column": "pollutant", "value_set": ["pm25", "pm10", "o3", "co"]}),
    (
        "expect_column_values_to_be_in_set",
        {"column": "pollutant", "value_set": ["pm25", "pm10", "o3", "co"], "mostly": 0.95},
    ),
    ("expect_column_values_to_not_be_in_set", {"column": "pollutant", "value_set": ["xx"]}),
    ("expect_column_values_to_match_regex", {"column": "station_id", "regex": "^ST-[0-9]{3}$"}),
    ("expect_column_values_to_not_match_regex", {"column": "station_id", "regex": " "}),
    ("expect_column_value_lengths_to_be_between", {"column": "station_id", "min_value": 6, "max_value": 6}),
    ("expect_column_values_to_be_unique", {"column": "station_id"}),
    ("expect_column_values_to_be_unique", {"column": "hour", "mostly": 0.0}),
    ("expect_compound_columns_to_be_unique", {"column_list": ["station_id", "pollutant", "hour"]}),
    ("expect_column_max_to_be_between", {"column": "value", "max_value": 500}),
    ("expect_column_min_to_be_between", {"column": "value", "min_value": 0}),
    ("expect_column_mean_to_be_between", {"column": "value", "min_value": 30, "max_value": 50}),
    ("expect_column_sum_to_be_between", {"column": "hour", "min_value": 0}),
    ("expect_column_median_to_be_between", {"column": "value", "min_value": 30, "max_value": 50}),
    ("expect_column_unique_value_count_to_be_between", {"column": "station_id", "min_value": 10, "max_value": 100}),
    ("expect_table_row_count_to_be_between", {"min_value": 1, "max_value": 1_000}),
    ("expect_table_row_count_to_be_between", {"min_value": 1}),
]


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def _compare(sql: list[dict[str, Any]], gx: list[dict[str, Any]]) -> list[str]:
    differences = []
    for ours, theirs in zip(sql, gx, strict=True):
        for key in COMPARED:
            if theirs.get(key) is None and key in ("missing_count", "observed_value"):
                continue  # GX leaves these out for some expectation types
            if not _close(ours.get(key), theirs.get(key)):
                differences.append(f"{ours['check']}: {key} sql={ours.get(key)!r} gx={theirs.get(key)!r}")
    return differences


def test_every_translated_expectation_is_exercised() -> None:
    assert {name for name, _ in CASES} == TRANSLATED


def test_sql_engine_equals_great_expectations_on_messy_data() -> None:
    frame = _frame()
    expectations = [Expectation(name, "fail", kwargs) for name, kwargs in CASES]
    con = duckdb.connect()
    con.register("t", frame)
    ours = evaluate(con, "t", expectations, columns=list(frame.columns))
    theirs = run_gx(CONTRACT, frame, expectations)
    assert _compare(ours, theirs) == []
    # the data really is messy: both engines see failures and passes
    assert {r["success"] for r in ours} == {True, False}


def test_sql_engine_equals_great_expectations_on_a_real_gated_day(tmp_path: Path) -> None:
    """The shipped readings contract on the staged rows of a real sample day."""
    from lockgate.formats import count_records
    from lockgate.gate import RawFile, run_gate
    from lockgate.sample_data import PARTNER_TIMEZONE, generate

    batch = generate("2026-01-02", tmp_path / "src")
    files = [
        RawFile("gateway.ndjson", batch.gateway_path, "ndjson", count_records(batch.gateway_path)),
        RawFile("partner.csv", batch.partner_path, "csv", count_records(batch.partner_path), PARTNER_TIMEZONE),
    ]
    preprocess = {
        "convert_units": {
            "value": "value",
            "unit": "unit",
            "by": "pollutant",
            "targets": {"pm25": "ug/m3", "pm10": "ug/m3", "o3": "ppm", "co": "ppm", "so2": "ppb", "no2": "ppb"},
        },
        "drop_exact_duplicates": True,
    }
    outcome = run_gate(
        load_contract("readings"), files, ds="2026-01-02", workdir=tmp_path / "gate", preprocess=preprocess
    )
    contract = load_contract("readings")
    checks = [e for e in contract.expectations_with("fail", "warn") if e.expectation in TRANSLATED]
    frame = duckdb.connect().sql(f"SELECT * EXCLUDE (ds) FROM read_parquet('{outcome.staged_path}')").df()
    con = duckdb.connect()
    con.register("staged", frame)
    ours = evaluate(con, "staged", checks, columns=contract.column_names)
    theirs = run_gx(contract, frame, checks)
    assert _compare(ours, theirs) == []
    assert [r["success"] for r in ours] == [True, True, True, True, False]  # the smoke-day warning


def test_unsupported_expectation_is_refused() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (a INTEGER)")
    with pytest.raises(ValueError, match="not evaluated in SQL"):
        evaluate(
            con,
            "t",
            [Expectation("expect_column_kl_divergence_to_be_less_than", "fail", {"column": "a"})],
            columns=["a"],
        )


def test_nan_counts_as_missing_like_in_gx() -> None:
    """Arrow/Parquet keep NaN apart from NULL; GX on pandas treats both as missing, and so must we."""
    import pyarrow as pa

    values = [1.0, float("nan"), None, 700.0, float("nan"), -2.0, 5.0, 5.0]
    table = pa.table({"value": pa.array(values, pa.float64()), "k": pa.array(list("abcdefgh"))})
    con = duckdb.connect()
    con.register("t", table)
    assert con.execute("SELECT count(*) FROM t WHERE isnan(value)").fetchone() == (2,)  # NaN survived
    cases = [
        ("expect_column_values_to_not_be_null", {"column": "value"}),
        ("expect_column_values_to_be_between", {"column": "value", "min_value": 0, "max_value": 100}),
        ("expect_column_values_to_be_unique", {"column": "value"}),
        ("expect_column_max_to_be_between", {"column": "value", "max_value": 1000}),
        ("expect_column_mean_to_be_between", {"column": "value", "min_value": 0}),
        ("expect_column_unique_value_count_to_be_between", {"column": "value", "min_value": 1}),
    ]
    expectations = [Expectation(name, "fail", kwargs) for name, kwargs in cases]
    ours = evaluate(con, "t", expectations, columns=["value", "k"])
    theirs = run_gx(CONTRACT_NAN, table.to_pandas(), expectations)
    assert _compare(ours, theirs) == []
    assert ours[0]["unexpected_count"] == 3  # two NaN and one NULL are all missing
    assert ours[3]["observed_value"] == 700.0  # not NaN


CONTRACT_NAN = parse_contract({"dataset": "nan", "columns": {"value": {"type": "double"}, "k": {"type": "string"}}})


def test_a_column_set_known_unique_gives_the_grouped_result_without_grouping() -> None:
    """The gate passes the columns its de-duplication test grouped (no repeated value): a uniqueness
    check over them or more columns gives what its own GROUP BY gives. A double column is never
    taken as known: the check groups NaN with NULL, a plain GROUP BY does not."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t AS SELECT * FROM (VALUES (1, 'a', 'NaN'::DOUBLE), (2, 'a', NULL), (3, NULL, 1.5), "
        "(4, NULL, 2.5)) AS v(id, name, score)"
    )
    cases = [
        ("expect_column_values_to_be_unique", {"column": "id"}),
        ("expect_compound_columns_to_be_unique", {"column_list": ["id", "name"]}),
        ("expect_compound_columns_to_be_unique", {"column_list": ["name", "id"], "row_condition": 'name=="a"'}),
    ]
    expectations = [Expectation(name, "fail", kwargs) for name, kwargs in cases]
    columns = ["id", "name", "score"]
    grouped = evaluate(con, "t", expectations, columns=columns)
    hinted = evaluate(con, "t", expectations, columns=columns, unique=[["id"]])
    assert hinted == grouped
    assert all(r["success"] and r["unexpected_count"] == 0 for r in hinted)
    # (name, score) repeats nothing to a GROUP BY ('a' with NaN, 'a' with NULL), but the check groups NaN as NULL
    pair = [Expectation("expect_compound_columns_to_be_unique", "fail", {"column_list": ["name", "score"]})]
    (found,) = evaluate(con, "t", pair, columns=columns, unique=[["name", "score"]])
    assert found == evaluate(con, "t", pair, columns=columns)[0]
    assert found["unexpected_count"] == 2


def test_uniqueness_examples_are_the_smallest_repeated_keys_in_order() -> None:
    """A failed uniqueness check shows the same examples run after run: the repeated keys in order
    (nulls first), whatever order the rows or DuckDB's threads give them (unordered, three runs
    over this table gave three different lists)."""
    con = duckdb.connect()
    con.execute("SET threads = 2")
    # 5,000 keys each repeated, shuffled over 300,000 rows; every 7th row has a NULL name
    con.execute(
        "CREATE TABLE t AS SELECT 'k' || lpad((hash(i) % 5000)::VARCHAR, 4, '0') AS id, "
        "CASE WHEN i % 7 = 0 THEN NULL ELSE 'n' END AS name FROM range(300000) r(i) ORDER BY hash(i * 31)"
    )
    single = Expectation("expect_column_values_to_be_unique", "fail", {"column": "id"})
    pair = Expectation("expect_compound_columns_to_be_unique", "fail", {"column_list": ["name", "id"]})
    for _ in range(3):
        by_id, by_pair = evaluate(con, "t", [single, pair], columns=["id", "name"])
        assert by_id["examples"] == ["k0000", "k0001", "k0002", "k0003", "k0004"]
        assert by_pair["examples"] == [{"name": None, "id": f"k000{i}"} for i in range(5)]
