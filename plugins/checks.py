"""Great Expectations expectations, evaluated as DuckDB SQL.

The contract speaks GX (expectation names, arguments, ``mostly``, ``row_condition``) and the results
come back in GX's result format (``success``, ``element_count``, ``missing_count``,
``unexpected_count``, ``unexpected_percent``, ``partial_unexpected_list``, ``observed_value``) -
but the checks run as aggregates in one scan of a DuckDB relation instead of on a whole pandas
frame, so 10 million rows take about as long as the same checks written by hand in SQL, in
bounded memory. ``tests/unit/test_checks.py`` proves the results equal GX's own on the same data.

Expectations not translated here fall back to GX itself (see :func:`lockgate.gate.run_gx`).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lockgate.contracts import Expectation
from lockgate.sql import ident

EXAMPLES = 5


class Params:
    """Collects bound parameters, handing out ``$n`` placeholders (values never enter SQL text)."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


_ROW_CONDITION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)(?:\s*(==)|\s+(in)\b)\s*(.+?)\s*$")


def row_condition_sql(condition: str, params: Params, columns: Sequence[str]) -> str:
    """SQL for a GX pandas ``row_condition`` of the simple forms ``col == "v"`` and ``col in ["a", "b"]``.

    Row-level checks run in SQL; the condition's values are bound as parameters.
    """
    match = _ROW_CONDITION.match(condition)
    if not match:
        raise ValueError(f"row_condition {condition!r}: use `column == value` or `column in [values]`")
    column, equals, is_in, raw_value = match.groups()
    operator = equals or is_in
    if column not in columns:
        raise ValueError(f"row_condition {condition!r}: unknown column {column!r}")
    try:
        value = ast.literal_eval(raw_value)
    except (ValueError, SyntaxError):
        raise ValueError(f"row_condition {condition!r}: {raw_value!r} is not a literal") from None
    scalar = (str, int, float, bool)
    if operator == "==":
        if not isinstance(value, scalar):
            raise ValueError(f"row_condition {condition!r}: `==` needs a single string or number")
        return f"{ident(column)} = {params(value)}"
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, scalar) for v in value):
        raise ValueError(f"row_condition {condition!r}: `in` needs a list of strings or numbers")
    return f"list_contains({params(list(value))}, {ident(column)})"


@dataclass(frozen=True)
class _MapCheck:
    """A column-map expectation: a per-value predicate that is TRUE for an *unexpected* value."""

    unexpected: Callable[[str, dict[str, Any], Params], str]
    ignores_nulls: bool = True


def _between(col: str, kw: dict[str, Any], p: Params) -> str:
    parts = []
    if kw.get("min_value") is not None:
        parts.append(f"{col} {'<=' if kw.get('strict_min') else '<'} {p(kw['min_value'])}")
    if kw.get("max_value") is not None:
        parts.append(f"{col} {'>=' if kw.get('strict_max') else '>'} {p(kw['max_value'])}")
    return " OR ".join(parts) or "FALSE"


def _lengths(col: str, kw: dict[str, Any], p: Params) -> str:
    return _between(f"length({col})", kw, p)


MAP_CHECKS: dict[str, _MapCheck] = {
    "expect_column_values_to_not_be_null": _MapCheck(lambda c, kw, p: f"{c} IS NULL", ignores_nulls=False),
    "expect_column_values_to_be_between": _MapCheck(_between),
    "expect_column_values_to_be_in_set": _MapCheck(
        lambda c, kw, p: f"NOT list_contains({p(list(kw['value_set']))}, {c})"
    ),
    "expect_column_values_to_not_be_in_set": _MapCheck(
        lambda c, kw, p: f"list_contains({p(list(kw['value_set']))}, {c})"
    ),
    "expect_column_values_to_match_regex": _MapCheck(lambda c, kw, p: f"NOT regexp_matches({c}, {p(kw['regex'])})"),
    "expect_column_values_to_not_match_regex": _MapCheck(lambda c, kw, p: f"regexp_matches({c}, {p(kw['regex'])})"),
    "expect_column_value_lengths_to_be_between": _MapCheck(_lengths),
}
AGGREGATE_CHECKS: dict[str, str] = {
    "expect_column_max_to_be_between": "max({col})",
    "expect_column_min_to_be_between": "min({col})",
    "expect_column_mean_to_be_between": "avg({col})",
    "expect_column_sum_to_be_between": "sum({col})",
    "expect_column_median_to_be_between": "median({col})",
    "expect_column_unique_value_count_to_be_between": "count(DISTINCT {col})",
}
UNIQUENESS_CHECKS = ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")
TABLE_CHECKS = ("expect_table_row_count_to_be_between",)
#: GX expectations translated to SQL (proven equal to GX's results by tests/unit/test_checks.py)
TRANSLATED = frozenset([*MAP_CHECKS, *AGGREGATE_CHECKS, *UNIQUENESS_CHECKS, *TABLE_CHECKS])
#: Lockgate's own expectations, named and reported the GX way; they need the run's context
#: (logical date, history of earlier runs), which GX Core has no notion of.
EXTENSIONS = frozenset(["expect_table_row_count_to_be_within_trailing_runs", "expect_column_newest_value_to_be_fresh"])
SUPPORTED = TRANSLATED | EXTENSIONS


@dataclass(frozen=True)
class CheckContext:
    """What the context-dependent checks need to know about the run.

    :param ds: the logical date (``YYYY-MM-DD``); its day ends at the next midnight UTC.
    :param history: row counts of the trailing successful runs of the dataset, oldest first.
    """

    ds: str
    history: Sequence[int] = ()


def supported(expectation: Expectation) -> bool:
    """Whether Lockgate evaluates this expectation itself (the rest go to GX)."""
    return expectation.expectation in SUPPORTED


def _in_range(value: Any, kw: dict[str, Any]) -> bool:
    if value is None:
        return False
    low, high = kw.get("min_value"), kw.get("max_value")
    if low is not None and (value <= low if kw.get("strict_min") else value < low):
        return False
    return not (high is not None and (value >= high if kw.get("strict_max") else value > high))


def _scalar(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return float(value) if type(value).__name__ == "Decimal" else value


def _missing(column_sql: str, is_float: bool) -> str:
    """A missing value the way GX on pandas sees it: NULL, and NaN in floating-point columns."""
    return f"({column_sql} IS NULL OR isnan({column_sql}))" if is_float else f"{column_sql} IS NULL"


def _float_columns(con: Any, relation: str) -> set[str]:
    described = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    return {name for name, kind, *_ in described if str(kind).upper() in ("DOUBLE", "FLOAT", "REAL")}


def evaluate(
    con: Any,
    relation: str,
    expectations: Sequence[Expectation],
    *,
    columns: Sequence[str],
    examples: int = EXAMPLES,
    context: CheckContext | None = None,
) -> list[dict[str, Any]]:
    """Evaluate expectations over ``relation`` (a table or view name) on a DuckDB connection.

    Column-map, aggregate and row-count checks share one scan; each uniqueness check adds one
    GROUP BY. Returns one GX-shaped result dict per expectation, in the given order.
    """
    for exp in expectations:
        if not supported(exp):
            raise ValueError(f"{exp.label}: not evaluated in SQL; use Great Expectations")

    floats = _float_columns(con, relation)
    params = Params()
    selects: list[str] = ["count(*)"]
    slots: list[dict[str, int]] = []
    for exp in expectations:
        kw = exp.kwargs
        condition = row_condition_sql(kw["row_condition"], params, columns) if kw.get("row_condition") else "TRUE"
        slot: dict[str, int] = {}
        if exp.expectation in MAP_CHECKS:
            check = MAP_CHECKS[exp.expectation]
            col = ident(kw["column"])
            missing = _missing(col, kw["column"] in floats)
            bad = missing if not check.ignores_nulls else check.unexpected(col, kw, params)
            slot["element"] = len(selects)
            selects.append(f"count(*) FILTER (WHERE {condition})")
            slot["missing"] = len(selects)
            selects.append(f"count(*) FILTER (WHERE ({condition}) AND {missing})")
            slot["unexpected"] = len(selects)
            null_guard = f"NOT {missing} AND " if check.ignores_nulls else ""
            selects.append(f"count(*) FILTER (WHERE ({condition}) AND {null_guard}({bad}))")
        elif exp.expectation in AGGREGATE_CHECKS:
            slot["observed"] = len(selects)
            col = ident(kw["column"])
            aggregate = AGGREGATE_CHECKS[exp.expectation].format(col=col)
            # pandas skips NaN in aggregates (DuckDB's max of a NaN would be NaN)
            selects.append(f"{aggregate} FILTER (WHERE ({condition}) AND NOT {_missing(col, kw['column'] in floats)})")
        elif exp.expectation in TABLE_CHECKS or exp.expectation == "expect_table_row_count_to_be_within_trailing_runs":
            slot["observed"] = len(selects)
            selects.append(f"count(*) FILTER (WHERE {condition})")
        elif exp.expectation == "expect_column_newest_value_to_be_fresh":
            slot["observed"] = len(selects)
            selects.append(f"max({ident(kw['column'])}) FILTER (WHERE {condition})")
        slots.append(slot)

    row = con.execute(f"SELECT {', '.join(selects)} FROM {relation}", params.values).fetchone()
    results = []
    for exp, slot in zip(expectations, slots, strict=True):
        if exp.expectation in UNIQUENESS_CHECKS:
            results.append(_uniqueness(con, relation, exp, examples, floats))
        elif exp.expectation in EXTENSIONS:
            if context is None:
                raise ValueError(f"{exp.label}: needs the run's context (logical date, history)")
            results.append(_extension(exp, row[slot["observed"]], context))
        elif "observed" in slot:
            observed = _scalar(row[slot["observed"]])
            results.append(_result(exp, _in_range(observed, exp.kwargs), {"observed_value": observed}))
        else:
            results.append(_map_result(con, relation, exp, columns, row, slot, examples, floats))
    return results


def _map_result(
    con: Any,
    relation: str,
    exp: Expectation,
    columns: Sequence[str],
    row: Any,
    slot: dict[str, int],
    examples: int,
    floats: set[str],
) -> dict[str, Any]:
    element, missing, unexpected = row[slot["element"]], row[slot["missing"]], row[slot["unexpected"]]
    check = MAP_CHECKS[exp.expectation]
    # GX: not_null counts over every row; the other map checks over the non-null rows only
    base = element - missing if check.ignores_nulls else element
    mostly = float(exp.kwargs.get("mostly", 1.0))
    success = base == 0 or (base - unexpected) / base >= mostly
    result: dict[str, Any] = {
        "element_count": element,
        "unexpected_count": unexpected,
        "unexpected_percent": 100.0 * unexpected / base if base else 0.0,
        "partial_unexpected_list": [],
    }
    if check.ignores_nulls:
        result["missing_count"] = missing
    if unexpected and examples:
        params = Params()
        col = ident(exp.kwargs["column"])
        kw = exp.kwargs
        condition = row_condition_sql(kw["row_condition"], params, columns) if kw.get("row_condition") else "TRUE"
        missing_sql = _missing(col, kw["column"] in floats)
        null_guard = f"NOT {missing_sql} AND " if check.ignores_nulls else ""
        bad = check.unexpected(col, kw, params) if check.ignores_nulls else missing_sql
        found = con.execute(
            f"SELECT {col} FROM {relation} WHERE ({condition}) AND {null_guard}({bad}) LIMIT {int(examples)}",
            params.values,
        ).fetchall()
        result["partial_unexpected_list"] = [_scalar(v) for (v,) in found]
    return _result(exp, success, result)


def _uniqueness(con: Any, relation: str, exp: Expectation, examples: int, floats: set[str]) -> dict[str, Any]:
    kw = exp.kwargs
    keys = [kw["column"]] if exp.expectation == "expect_column_values_to_be_unique" else list(kw["column_list"])
    key_sql = ", ".join(ident(k) for k in keys)
    # GX ignores a row with a missing value (single column) or with every key value missing
    # (compound keys, GX's default ignore_row_if)
    ignore = " AND ".join(_missing(ident(k), k in floats) for k in keys)
    element, missing = con.execute(f"SELECT count(*), count(*) FILTER (WHERE {ignore}) FROM {relation}").fetchone()
    packed = ", ".join(f"{ident(k)} := {ident(k)}" for k in keys)
    unexpected, sample = con.execute(
        f"""
        SELECT coalesce(sum(n), 0), list(struct_pack({packed}))[1:{int(examples)}]
        FROM (SELECT {key_sql}, count(*) AS n FROM {relation} WHERE NOT ({ignore}) GROUP BY ALL HAVING count(*) > 1)
        """
    ).fetchone()
    base = element - missing
    mostly = float(kw.get("mostly", 1.0))
    success = base == 0 or (base - unexpected) / base >= mostly
    examples_out = [s[keys[0]] if len(keys) == 1 else dict(s) for s in (sample or [])]
    result = {
        "element_count": element,
        "missing_count": missing,
        "unexpected_count": int(unexpected),
        "unexpected_percent": 100.0 * unexpected / base if base else 0.0,
        "partial_unexpected_list": examples_out,
    }
    return _result(exp, success, result)


def _extension(exp: Expectation, observed: Any, context: CheckContext) -> dict[str, Any]:
    """Volume against the trailing runs, and freshness of the newest event time."""
    kw = exp.kwargs
    if exp.expectation == "expect_table_row_count_to_be_within_trailing_runs":
        runs = int(kw.get("runs", 7))
        trailing = list(context.history)[-runs:]
        if len(trailing) < int(kw.get("min_runs", 3)):
            # too little history to judge: pass, and say why
            return _result(
                exp, True, {"observed_value": observed, "details": {"baseline": None, "runs": len(trailing)}}
            )
        baseline = sum(trailing) / len(trailing)
        deviation = abs(observed - baseline) / baseline if baseline else float(observed > 0)
        success = deviation <= float(kw.get("max_deviation", 0.5))
        details = {"baseline": baseline, "runs": len(trailing), "deviation": round(deviation, 4)}
        return _result(exp, success, {"observed_value": observed, "details": details})
    # expect_column_newest_value_to_be_fresh: newest event within max_age_hours of the day's end
    day_end = datetime.fromisoformat(context.ds).replace(tzinfo=UTC) + timedelta(days=1)
    if observed is None:
        return _result(exp, False, {"observed_value": None, "details": {"lag_hours": None}})
    newest = observed if observed.tzinfo else observed.replace(tzinfo=UTC)
    lag_hours = (day_end - newest).total_seconds() / 3600
    success = lag_hours <= float(kw["max_age_hours"])
    return _result(exp, success, {"observed_value": newest.isoformat(), "details": {"lag_hours": round(lag_hours, 2)}})


def _result(exp: Expectation, success: bool, result: dict[str, Any]) -> dict[str, Any]:
    return {
        "check": exp.label,
        "expectation": exp.expectation,
        "kwargs": dict(exp.kwargs),
        "severity": exp.severity,
        "success": bool(success),
        "observed_value": result.get("observed_value"),
        "element_count": result.get("element_count"),
        "missing_count": result.get("missing_count"),
        "unexpected_count": result.get("unexpected_count"),
        "unexpected_percent": result.get("unexpected_percent"),
        "examples": result.get("partial_unexpected_list", []),
        "details": result.get("details"),
        "engine": "duckdb",
    }
