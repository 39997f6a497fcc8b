"""Every case where lockgate.checks once differed from GX Core, as a named test with explicit data.

Each test states the expected numbers and also asks GX Core itself on the same frame (the pandas
frame DuckDB makes of the table, as the gate hands it to GX), so it holds Lockgate to GX, not to
a number someone wrote down once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from lockgate.checks import column_kinds, evaluate, supported, validate
from lockgate.contracts import ContractError, Expectation, load_contract, parse_contract
from tests.support.checks_differential import gx_runner

FIELDS = ("success", "element_count", "missing_count", "unexpected_count", "observed_value")


def _table(columns: str, rows: list[tuple[Any, ...]]) -> tuple[Any, Any]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE TABLE t ({columns})")
    for row in rows:
        con.execute(f"INSERT INTO t VALUES ({', '.join('?' for _ in row)})", list(row))
    return con, con.sql("SELECT * FROM t").df()


def _both(columns: str, rows: list[tuple[Any, ...]], cases: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Lockgate's results, after checking each field GX reports equals Lockgate's."""
    con, frame = _table(columns, rows)
    names = [c.split()[0] for c in columns.split(",")]
    ours = evaluate(con, "t", [Expectation(n, "fail", dict(kw)) for n, kw in cases], columns=names)
    theirs = gx_runner().run(frame, cases)
    for mine, verdict in zip(ours, theirs, strict=True):
        assert "result" in verdict, verdict
        for key in FIELDS:
            gx_value = verdict["result"].get(key)
            if gx_value is not None and key != "observed_value":
                assert mine[key] == gx_value, (mine["check"], key, mine[key], gx_value)
    return ours


def _gx_refuses(columns: str, rows: list[tuple[Any, ...]], name: str, kwargs: dict[str, Any]) -> bool:
    _con, frame = _table(columns, rows)
    return "refused" in gx_runner().run(frame, [(name, kwargs)])[0]


# ------------------------------------------------------------------ row_condition on uniqueness


def test_row_condition_on_uniqueness_checks_is_evaluated_with_the_other_checks() -> None:
    """Was: a DuckDB BinderException (unbound parameter) that took every check of the call down."""
    rows = [("a", 1), ("a", 1), ("a", 2), ("b", 1), (None, 1)]
    cases = [
        ("expect_column_values_to_be_unique", {"column": "s", "row_condition": "i == 1", "condition_parser": "pandas"}),
        ("expect_compound_columns_to_be_unique", {"column_list": ["s", "i"], "row_condition": 's == "a"'}),
        ("expect_column_values_to_not_be_null", {"column": "s"}),
    ]
    unique, compound, not_null = _both("s VARCHAR, i BIGINT", rows, cases)
    assert (unique["element_count"], unique["missing_count"], unique["unexpected_count"]) == (4, 1, 2)
    assert (compound["element_count"], compound["unexpected_count"]) == (3, 2)
    assert not_null["unexpected_count"] == 1


# ------------------------------------------------------------------ ignore_row_if


@pytest.mark.parametrize(
    ("ignore_row_if", "missing", "unexpected"),
    [("all_values_are_missing", 2, 4), ("any_value_is_missing", 4, 2), ("never", 0, 6), (None, 2, 4)],
)
def test_compound_uniqueness_honours_ignore_row_if(ignore_row_if: str | None, missing: int, unexpected: int) -> None:
    """Was: ignored (every row with all keys missing was left out, whatever the setting)."""
    rows = [("a", None), ("a", None), (None, None), (None, None), ("b", 1), ("b", 1), ("c", 2)]
    kwargs: dict[str, Any] = {"column_list": ["s", "i"]}
    if ignore_row_if:
        kwargs["ignore_row_if"] = ignore_row_if
    (result,) = _both("s VARCHAR, i BIGINT", rows, [("expect_compound_columns_to_be_unique", kwargs)])
    assert (result["element_count"], result["missing_count"], result["unexpected_count"]) == (7, missing, unexpected)


def test_compound_uniqueness_counts_nan_and_null_alike() -> None:
    """pandas holds a NULL double as NaN: (x, NULL) and (x, NaN) are duplicates to GX."""
    rows = [("x", None), ("x", float("nan")), ("y", 1.0)]
    kwargs = {"column_list": ["s", "d"], "ignore_row_if": "never"}
    (result,) = _both("s VARCHAR, d DOUBLE", rows, [("expect_compound_columns_to_be_unique", kwargs)])
    assert result["unexpected_count"] == 2


# ------------------------------------------------------------------ row_condition semantics


@pytest.mark.parametrize(
    ("condition", "selected"),
    [
        ("code == 1", 0),  # pandas: the string "1" is not the number 1 (DuckDB cast and matched "01" and "1")
        ('code == "1"', 1),
        ("code in [1, '01']", 1),
        ('n == "1"', 0),
        ("n == 1.0", 2),
        ("flag == 1", 2),  # True == 1 in pandas
        ("flag == 2", 0),  # DuckDB would cast 2 to TRUE
        ("ratio == 1", 1),
    ],
)
def test_row_condition_compares_values_as_pandas_does(condition: str, selected: int) -> None:
    rows = [("1", 1, True, 1.0), ("01", 1, True, 2.0), (" 1", 2, False, float("nan")), (None, None, None, None)]
    kwargs = {"column": "code", "row_condition": condition, "condition_parser": "pandas"}
    (result,) = _both(
        "code VARCHAR, n BIGINT, flag BOOLEAN, ratio DOUBLE", rows, [("expect_column_values_to_not_be_null", kwargs)]
    )
    assert result["element_count"] == selected


def test_a_row_condition_on_a_date_column_is_refused() -> None:
    """pandas parses the text of a date comparison; Lockgate refuses rather than guess."""
    found = validate(
        Expectation(
            "expect_column_values_to_not_be_null", "fail", {"column": "n", "row_condition": 'day == "2020-01-01"'}
        ),
        {"n": "integer", "day": "date"},
    )
    assert [(r.argument, r.by_gx) for r in found] == [("row_condition", False)]


# ------------------------------------------------------------------ ISO bounds on dates and timestamps


def test_iso_string_bounds_on_timestamps_compare_like_gx() -> None:
    """Was: TypeError comparing a datetime with a str (naive and aware)."""
    rows = [(datetime(2020, 1, 1, 10, tzinfo=UTC), datetime(2020, 1, 1, 10)), (datetime(2021, 1, 1, tzinfo=UTC), None)]
    cases = [
        ("expect_column_max_to_be_between", {"column": "tz", "min_value": "2020-06-01T00:00:00+00:00"}),
        ("expect_column_max_to_be_between", {"column": "tz", "max_value": "2020-06-01 12:00:00+02:00"}),
        ("expect_column_min_to_be_between", {"column": "ts", "min_value": "2020-01-01T10:00:00", "strict_min": True}),
        ("expect_column_values_to_be_between", {"column": "tz", "min_value": "2020-06-01T00:00:00Z"}),
    ]
    results = _both("tz TIMESTAMPTZ, ts TIMESTAMP", rows, cases)
    assert [r["success"] for r in results] == [True, False, False, False]
    assert results[0]["observed_value"] == datetime(2021, 1, 1, tzinfo=UTC)
    assert results[3]["unexpected_count"] == 1


@pytest.mark.parametrize(
    ("column", "bound"),
    [("tz", "2020-06-01"), ("tz", "2020-06-01T00:00:00"), ("ts", "2020-06-01T00:00:00+00:00"), ("dt", "2020-06-01")],
)
def test_a_bound_gx_cannot_compare_with_the_column_is_refused(column: str, bound: str) -> None:
    """A date-only bound on a timestamp, naive against aware: GX raises a TypeError; Lockgate refuses first."""
    columns = "tz TIMESTAMPTZ, ts TIMESTAMP, dt DATE"
    rows = [(datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 1), datetime(2020, 1, 1).date())]
    kwargs = {"column": column, "min_value": bound}
    con, _frame = _table(columns, rows)
    found = validate(Expectation("expect_column_max_to_be_between", "fail", kwargs), column_kinds(con, "t"))
    assert [r.argument for r in found] == ["min_value"]
    assert "write '2024-01-31T00:00:00" in found[0].message
    assert _gx_refuses(columns, rows, "expect_column_max_to_be_between", kwargs)


def test_a_datetime_bound_stays_a_datetime_as_in_gx() -> None:
    """GX's pydantic smart union keeps a datetime a datetime (a plain union made it a date)."""
    rows = [(datetime(2020, 6, 1).date(),)]
    kwargs = {"column": "dt", "min_value": "2020-06-01T00:00:00", "max_value": datetime(2020, 6, 1)}
    (result,) = _both("dt DATE", rows, [("expect_column_max_to_be_between", kwargs)])
    assert result["success"] is True


def test_min_and_max_of_no_timestamps_pass_without_bounds_like_gx() -> None:
    """pandas' max of no date-times is NaT, which GX treats as a datetime: no bound, success."""
    results = _both(
        "tz TIMESTAMPTZ, d DOUBLE",
        [(None, None)],
        [
            ("expect_column_min_to_be_between", {"column": "tz"}),
            ("expect_column_max_to_be_between", {"column": "d"}),
        ],
    )
    assert [r["success"] for r in results] == [True, False]


# ------------------------------------------------------------------ aggregates and value sets


def test_mean_and_median_of_a_boolean_column() -> None:
    """Was: avg(BOOLEAN) raised; median gave False. GX: 0.5 and 0.5."""
    rows = [(True,), (False,), (None,)]
    cases = [
        ("expect_column_mean_to_be_between", {"column": "b", "min_value": 0.5}),
        ("expect_column_median_to_be_between", {"column": "b", "max_value": 0.4}),
        ("expect_column_sum_to_be_between", {"column": "b", "min_value": 1, "max_value": 1}),
    ]
    mean, median, total = _both("b BOOLEAN", rows, cases)
    assert (mean["observed_value"], mean["success"]) == (0.5, True)
    assert (median["observed_value"], median["success"]) == (0.5, False)
    assert (total["observed_value"], total["success"]) == (1, True)


def test_the_sum_of_no_values_is_zero_like_pandas() -> None:
    (result,) = _both("n BIGINT", [(None,)], [("expect_column_sum_to_be_between", {"column": "n", "max_value": 0})])
    assert (result["observed_value"], result["success"]) == (0, True)


def test_a_value_set_of_another_type_is_answered_like_gx() -> None:
    """Was: a DuckDB binder error (list_contains of VARCHAR[] and BIGINT). pandas: "1" is not 1."""
    cases = [
        ("expect_column_values_to_be_in_set", {"column": "n", "value_set": ["1", 3]}),
        ("expect_column_values_to_be_in_set", {"column": "s", "value_set": [1, "01"]}),
        ("expect_column_values_to_not_be_in_set", {"column": "flag", "value_set": [1]}),
        ("expect_column_values_to_be_in_set", {"column": "n", "value_set": [1.0, None, float("nan")]}),
    ]
    rows = [(1, "1", True), (3, "01", False), (None, None, None)]
    results = _both("n BIGINT, s VARCHAR, flag BOOLEAN", rows, cases)
    assert [r["unexpected_count"] for r in results] == [1, 1, 1, 1]


def test_value_lengths_bounds_are_whole_numbers_like_gx() -> None:
    """GX's length bounds are ints: 1.9 is 1 (pydantic truncates), so "a" is long enough."""
    (result,) = _both(
        "s VARCHAR",
        [("a",), ("abc",)],
        [("expect_column_value_lengths_to_be_between", {"column": "s", "min_value": 1.9})],
    )
    assert result["unexpected_count"] == 0


# ------------------------------------------------------------------ regexes


def test_regexes_match_as_python_re_search_does() -> None:
    """Was: RE2 semantics ($ not before a final newline, ASCII-only \\d, no regex on integers)."""
    rows = [("abc\n", 1, True), ("abc", 12, False), ("٣", None, None), ("x", 21, True)]
    cases = [
        ("expect_column_values_to_match_regex", {"column": "s", "regex": "^abc$"}),
        ("expect_column_values_to_match_regex", {"column": "s", "regex": r"^\d$"}),
        ("expect_column_values_to_match_regex", {"column": "n", "regex": "^1"}),
        ("expect_column_values_to_not_match_regex", {"column": "flag", "regex": "^True$"}),
        ("expect_column_values_to_match_regex", {"column": "s", "regex": "^[^b]+$"}),
    ]
    results = _both("s VARCHAR, n BIGINT, flag BOOLEAN", rows, cases)
    assert [r["unexpected_count"] for r in results] == [2, 3, 1, 2, 2]


@pytest.mark.parametrize("regex", ["(?=a)", r"(a)\1", r"\bx", r"\w+", r"\s", "(?i)abc", "a$b", "(?s).", "(?<!a)b"])
def test_a_regex_re2_reads_differently_runs_on_gx(regex: str) -> None:
    """Lookaround raised in DuckDB; \\w, \\s, \\b and flags differ in RE2: such checks go to GX Core."""
    exp = Expectation("expect_column_values_to_match_regex", "fail", {"column": "s", "regex": regex})
    assert validate(exp, {"s": "string"}) == []
    assert not supported(exp)
    con, _frame = _table("s VARCHAR", [("abc",)])
    with pytest.raises(ValueError, match="not evaluated in SQL; use Great Expectations"):
        evaluate(con, "t", [exp], columns=["s"])


def test_a_regex_check_routed_to_gx_runs_in_the_gate(tmp_path: Path) -> None:
    """The gate sends the lookahead check to GX Core and reports GX's result."""
    from lockgate.gate import RawFile, run_gate

    contract = parse_contract(
        {
            "dataset": "codes",
            "columns": {"code": {"type": "string"}},
            "expectations": [
                {
                    "expectation": "expect_column_values_to_match_regex",
                    "kwargs": {"column": "code", "regex": "^(?=A)[A-Z]+$"},
                    "severity": "warn",
                }
            ],
        }
    )
    path = tmp_path / "codes.csv"
    path.write_text("code\nAB\nBA\nab\n", encoding="utf-8")
    outcome = run_gate(contract, [RawFile("codes.csv", path, "csv", 3)], ds="2026-01-02", workdir=tmp_path / "g")
    (check,) = outcome.report["checks"]
    assert check["engine"] == "great_expectations"
    assert (check["element_count"], check["unexpected_count"]) == (3, 2)  # BA and ab


def test_a_quarantine_regex_re2_cannot_run_is_refused_in_the_contract(tmp_path: Path) -> None:
    path = tmp_path / "codes.yaml"
    path.write_text(
        "dataset: codes\ncolumns: {code: {type: string}}\nexpectations:\n"
        "  - expectation: expect_column_values_to_match_regex\n"
        "    kwargs: {column: code, regex: '^(?!X)'}\n    severity: quarantine\n",
        encoding="utf-8",
    )
    with pytest.raises(ContractError) as info:
        load_contract(path)
    message = str(info.value)
    assert f"{path}: expect_column_values_to_match_regex(code): kwargs.regex: '^(?!X)'" in message
    assert "row-level checks cannot run on GX" in message


# ------------------------------------------------------------------ configurations GX refuses


REFUSED = [
    ("expect_column_values_to_be_between", {"column": "n", "min_value": 5, "max_value": 1}, "min_value"),
    ("expect_column_values_to_be_between", {"column": "n"}, "min_value"),
    ("expect_column_values_to_be_between", {"column": "n", "min_value": 1, "mostly": 1.5}, "mostly"),
    ("expect_column_values_to_not_be_null", {"column": "n", "mostly": -0.1}, "mostly"),
    ("expect_column_values_to_not_be_null", {"column": "n", "mostly": None}, "mostly"),
    (
        "expect_column_values_to_be_between",
        {"column": "n", "min_value": 1, "row_condition": 'code == "a"', "condition_parser": "sql"},
        "condition_parser",
    ),
    (
        "expect_column_values_to_be_between",
        {"column": "n", "min_value": 1, "row_condition": 'code == "a"', "condition_parser": "great_expectations"},
        "condition_parser",
    ),
    ("expect_column_values_to_not_be_null", {"column": "n", "row_condition": "zz == 1"}, "row_condition"),
    ("expect_column_value_lengths_to_be_between", {"column": "code"}, "min_value"),
    ("expect_table_row_count_to_be_between", {"min_value": 5, "max_value": 1}, "min_value"),
    ("expect_column_max_to_be_between", {"column": "n", "min_value": 1, "mostly": 0.5}, "mostly"),
    ("expect_column_values_to_be_between", {"column": "n", "min_value": "abc"}, "min_value"),
    ("expect_column_values_to_be_between", {"column": "code", "min_value": 1}, "min_value"),
    ("expect_column_values_to_be_in_set", {"column": "code", "value_set": "abc"}, "value_set"),
    ("expect_column_values_to_match_regex", {"column": "code", "regex": "("}, "regex"),
    ("expect_compound_columns_to_be_unique", {"column_list": ["code"]}, "column_list"),
    (
        "expect_compound_columns_to_be_unique",
        {"column_list": ["code", "n"], "ignore_row_if": "either_value_is_missing"},
        "ignore_row_if",
    ),
    ("expect_column_values_to_be_unique", {"column": "n", "ignore_row_if": "never"}, "ignore_row_if"),
    ("expect_column_values_to_not_be_null", {"column": "n", "bogus": 1}, "bogus"),
]


@pytest.mark.parametrize(("name", "kwargs", "argument"), REFUSED, ids=[f"{n}-{a}" for n, _, a in REFUSED])
def test_a_configuration_gx_refuses_is_refused_when_the_contract_is_read(
    tmp_path: Path, name: str, kwargs: dict[str, Any], argument: str
) -> None:
    """Was: evaluated (min > max, mostly 1.5, an unknown parser, no bounds...) as if valid."""
    assert _gx_refuses("n BIGINT, code VARCHAR", [(1, "a")], name, kwargs)
    raw = {
        "dataset": "widgets",
        "columns": {"n": {"type": "integer"}, "code": {"type": "string"}},
        "expectations": [{"expectation": name, "kwargs": kwargs, "severity": "fail"}],
    }
    with pytest.raises(ContractError) as info:
        parse_contract(raw, source="widgets.yaml")
    label = Expectation(name, "fail", kwargs).label
    assert f"widgets.yaml: {label}: kwargs.{argument}: " in str(info.value)


def test_gx_accepts_what_lockgate_accepts_in_the_shipped_contracts() -> None:
    """The shipped contracts stay valid (and their row conditions compare like with like)."""
    for name in ("readings", "sales", "sales_accounting", "sales_supply_chain", "stations", "agg_air_quality_daily"):
        contract = load_contract(name)
        kinds = {c.name: c.type for c in contract.columns}
        assert all(validate(e, kinds) == [] for e in contract.expectations), name


# ------------------------------------------------------------------ one check's error


def test_a_check_whose_sql_fails_is_named_and_the_others_are_not_blamed() -> None:
    """A failing expression is pinned on its check (was: one DuckDB error for the whole call)."""
    con = duckdb.connect()
    con.execute("CREATE TABLE base AS SELECT * FROM (VALUES ('1'), ('x')) v(s)")
    # n fails only when a check reads it (a view's cast runs on the rows)
    con.execute("CREATE VIEW t AS SELECT s, CAST(s AS INTEGER) AS n FROM base")
    checks = [
        Expectation("expect_column_values_to_not_be_null", "fail", {"column": "s"}),
        Expectation("expect_column_max_to_be_between", "fail", {"column": "n", "max_value": 5}),
    ]
    with pytest.raises(ValueError, match=r"^expect_column_max_to_be_between\(n\): could not be evaluated: .*'x'"):
        evaluate(con, "t", checks, columns=["s", "n"])
    assert [r["success"] for r in evaluate(con, "t", checks[:1], columns=["s", "n"])] == [True]


def test_a_column_of_a_type_without_translation_is_refused() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT INTERVAL 1 DAY AS span")
    exp = Expectation("expect_column_values_to_be_in_set", "fail", {"column": "span", "value_set": [1]})
    with pytest.raises(ValueError, match=r"kwargs.column: 'span' is of a type Lockgate has no translation for"):
        evaluate(con, "t", [exp], columns=["span"])


# ------------------------------------------------------------------ row-level (quarantine) checks


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("expect_column_values_to_match_regex", {"column": "code", "regex": r"^ST-\d{3}$"}),
        ("expect_column_values_to_match_regex", {"column": "n", "regex": "^1"}),
        ("expect_column_values_to_match_regex", {"column": "flag", "regex": "^True$"}),
        ("expect_column_values_to_be_in_set", {"column": "code", "value_set": ["ST-001", 1]}),
        ("expect_column_values_to_be_in_set", {"column": "flag", "value_set": [1]}),
        ("expect_column_values_to_not_be_in_set", {"column": "n", "value_set": ["1", 12.0]}),
        ("expect_column_values_to_be_between", {"column": "flag", "min_value": 0.5}),
        ("expect_column_values_to_be_between", {"column": "n", "max_value": "5"}),
        ("expect_column_value_lengths_to_be_between", {"column": "code", "min_value": 6.9, "strict_min": True}),
        ("expect_column_values_to_not_be_null", {"column": "code", "row_condition": "n == 1"}),
        ("expect_column_values_to_not_be_null", {"column": "code", "row_condition": "code == 1"}),
        ("expect_column_values_to_be_between", {"column": "n", "min_value": 2, "row_condition": "flag in [1]"}),
        ("expect_column_values_to_be_between", {"column": "n", "min_value": 2, "row_condition": "flag == 2"}),
    ],
)
def test_a_row_is_quarantined_exactly_when_gx_counts_its_value_unexpected(name: str, kwargs: dict[str, Any]) -> None:
    """Row-level checks share the translation: RE2 as Python's re, pandas' comparisons, GX's coercions."""
    from lockgate.checks import Params
    from lockgate.row_checks import row_problem

    columns = "code VARCHAR, n BIGINT, flag BOOLEAN"
    rows = [("ST-001", 1, True), ("ST-001\n", 12, False), ("ST-٠٠٢", 3, None), ("X", None, True), (None, 1, False)]
    con, frame = _table(columns, rows)
    params = Params()
    expression = row_problem(Expectation(name, "quarantine", kwargs), params, ["code", "n", "flag"])
    flagged = con.execute(f"SELECT count(*) FROM t WHERE ({expression}) IS NOT NULL", params.values).fetchall()
    (verdict,) = gx_runner().run(frame, [(name, kwargs)])
    assert flagged == [(verdict["result"]["unexpected_count"],)]


@pytest.mark.parametrize("regex", [".$^*", "a*+", "(?>a)", "a{1001}", "(?x)a b", "(a)(?(1)b|c)"])
def test_a_regex_gx_answers_only_sometimes_is_refused(regex: str) -> None:
    """GX's pandas runs RE2 and falls back to Python's re for some features only: '.$^*' (RE2 reads it,
    Python does not) was refused as GX-invalid although GX answered; 'a*+' (Python reads it, RE2
    does not) would have gone to GX, which raised."""
    found = validate(
        Expectation("expect_column_values_to_match_regex", "fail", {"column": "s", "regex": regex}), {"s": "string"}
    )
    assert [(r.argument, r.by_gx) for r in found] == [("regex", False)]


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("expect_column_values_to_be_in_set", {"column": "d", "value_set": [False]}),
        ("expect_column_values_to_not_be_null", {"column": "d"}),
        ("expect_column_values_to_be_between", {"column": "d", "max_value": 0}),
    ],
)
def test_a_row_level_check_treats_nan_as_missing_like_gx(name: str, kwargs: dict[str, Any]) -> None:
    """Was: a NaN was 'not in the set' (flagged) while GX counts it missing (the differential found it)."""
    from lockgate.checks import Params
    from lockgate.row_checks import row_problem

    con, frame = _table("d DOUBLE", [(0.0,), (float("nan"),), (None,), (2.0,)])
    params = Params()
    expression = row_problem(Expectation(name, "quarantine", kwargs), params, ["d"])
    flagged = con.execute(f"SELECT count(*) FROM t WHERE ({expression}) IS NOT NULL", params.values).fetchall()
    (verdict,) = gx_runner().run(frame, [(name, kwargs)])
    assert flagged == [(verdict["result"]["unexpected_count"],)]


def test_a_null_condition_parser_is_accepted_like_gx() -> None:
    """GX accepts condition_parser: null (the differential's pool lacked it at first)."""
    kwargs = {"column": "n", "row_condition": "n == 1", "condition_parser": None}
    (result,) = _both("n BIGINT", [(1,), (2,)], [("expect_column_values_to_not_be_null", kwargs)])
    assert result["element_count"] == 1
