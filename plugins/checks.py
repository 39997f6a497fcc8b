"""Great Expectations expectations, evaluated as DuckDB SQL.

The contract speaks GX (expectation names, arguments, ``mostly``, ``row_condition``) and the results
come back in GX's result format (``success``, ``element_count``, ``missing_count``,
``unexpected_count``, ``unexpected_percent``, ``partial_unexpected_list``, ``observed_value``) -
but the checks run as aggregates in one scan of a DuckDB relation instead of on a whole pandas
frame, so 10 million rows take about as long as the same checks written by hand in SQL, in
bounded memory.

Each translated check gives GX Core's answer on the same rows (GX on the pandas frame DuckDB makes
of the relation), or its configuration is refused before it runs (:func:`validate`, called by
contract validation, with the rules in :mod:`lockgate.check_rules`). A regex RE2 would read
differently from Python's ``re`` is not translated: :func:`supported` says no and the gate runs
that check on GX Core. ``tests/unit/test_checks_differential.py`` compares both engines on
generated data and arguments.

Expectations not translated here fall back to GX itself (see :func:`lockgate.gate.run_gx`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from lockgate.check_rules import (
    NUMERIC,
    TEMPORAL,
    ConditionError,
    Refusal,
    coerced_kwargs,
    parse_condition,
    re2_pattern,
    refusals,
    same_family,
)
from lockgate.contracts import Expectation
from lockgate.sql import ident

EXAMPLES = 5
_BIGINT = 2**63


class Params:
    """Collects bound parameters, handing out ``$n`` placeholders (values never enter SQL text)."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def row_condition_sql(
    condition: str, params: Params, columns: Sequence[str], kinds: Mapping[str, str] | None = None
) -> str:
    """SQL for a GX pandas ``row_condition`` of the simple forms ``col == "v"`` and ``col in ["a", "b"]``.

    Compares the way pandas does: a string never equals a number, ``True`` equals ``1``. With
    ``kinds`` (column -> kind, see :data:`lockgate.check_rules.KINDS`) the SQL is typed for the
    column; without, it asks DuckDB for the column's type (``typeof``). Values are bound.
    """
    try:
        parsed = parse_condition(condition, kinds)
    except ConditionError as exc:
        raise ValueError(str(exc)) from None
    if parsed.column not in columns:
        raise ValueError(f"row_condition {condition!r}: unknown column {parsed.column!r}")
    kind = kinds.get(parsed.column) if kinds is not None else None
    return membership_sql(ident(parsed.column), kind, list(parsed.values), params, single=parsed.operator == "==")


def membership_sql(col: str, kind: str | None, values: list[Any], params: Params, *, single: bool = False) -> str:
    """TRUE where the column's value equals one of ``values`` as pandas' ``==``/``isin`` would say.

    Values pandas never finds equal to the column's (a string for a number column, a number for a
    string column, ``None``, NaN) are left out rather than cast, unlike SQL's implicit casts.
    """
    texts = [v for v in values if same_family(v, "string")]
    numbers = [v for v in values if same_family(v, "integer")]
    if kind == "string":
        return _contains(col, texts, "VARCHAR", params, single)
    if kind in NUMERIC:
        return _numbers_sql(col, kind, numbers, params, single)
    # type unknown here (the gate's row-level checks): DuckDB picks the branch by the column's type
    text_sql = number_sql = "FALSE"
    if texts or not numbers:
        text_sql = _contains(f"CAST({col} AS VARCHAR)", texts, "VARCHAR", params, single)
    if numbers:
        number_sql = _contains(f"TRY_CAST({col} AS DOUBLE)", [float(v) for v in numbers], "DOUBLE", params, single)
    return f"(CASE WHEN typeof({col}) = 'VARCHAR' THEN {text_sql} ELSE {number_sql} END)"


def _numbers_sql(col: str, kind: str, numbers: list[Any], params: Params, single: bool) -> str:
    ints = all(isinstance(v, int) and -_BIGINT <= v < _BIGINT for v in numbers)
    if kind == "integer" and ints:
        return _contains(col, [int(v) for v in numbers], "BIGINT", params, single)
    # pandas compares an integer column with 1.5, or a boolean with 1, as numbers
    return _contains(f"CAST({col} AS DOUBLE)", [float(v) for v in numbers], "DOUBLE", params, single)


def _contains(col: str, values: list[Any], sql_type: str, params: Params, single: bool) -> str:
    if single and len(values) == 1:
        return f"{col} = CAST({params(values[0])} AS {sql_type})"
    return f"coalesce(list_contains(CAST({params(values)} AS {sql_type}[]), {col}), FALSE)"


@dataclass(frozen=True)
class _MapCheck:
    """A column-map expectation: a per-value predicate that is TRUE for an *unexpected* value."""

    unexpected: Callable[[str, str, dict[str, Any], Params], str]
    ignores_nulls: bool = True


def _comparable(col: str, kind: str) -> str:
    """The column as GX compares it with a bound: booleans as numbers, dates as naive date-times."""
    if kind == "boolean":
        return f"CAST({col} AS DOUBLE)"
    if kind == "date":
        return f"CAST({col} AS TIMESTAMP)"
    return col


def _outside(value_sql: str, kw: dict[str, Any], p: Params) -> str:
    parts = []
    if kw.get("min_value") is not None:
        parts.append(f"{value_sql} {'<=' if kw.get('strict_min') else '<'} {p(kw['min_value'])}")
    if kw.get("max_value") is not None:
        parts.append(f"{value_sql} {'>=' if kw.get('strict_max') else '>'} {p(kw['max_value'])}")
    return " OR ".join(parts) or "FALSE"


def _text(col: str, kind: str) -> str:
    """The column as the text GX's regex checks see (pandas ``astype(str)``)."""
    if kind == "integer":
        return f"CAST({col} AS VARCHAR)"
    if kind == "boolean":
        return f"CASE WHEN {col} THEN 'True' ELSE 'False' END"
    return col


def _regex(col: str, kind: str, kw: dict[str, Any], p: Params) -> str:
    pattern = re2_pattern(kw["regex"])
    if pattern is None:
        raise ValueError(f"regex {kw['regex']!r}: RE2 cannot match it as Python's re does")
    return f"regexp_matches({_text(col, kind)}, {p(pattern)})"


MAP_CHECKS: dict[str, _MapCheck] = {
    "expect_column_values_to_not_be_null": _MapCheck(lambda c, k, kw, p: "FALSE", ignores_nulls=False),
    "expect_column_values_to_be_between": _MapCheck(lambda c, k, kw, p: _outside(_comparable(c, k), kw, p)),
    "expect_column_values_to_be_in_set": _MapCheck(
        lambda c, k, kw, p: f"NOT {membership_sql(c, k, list(kw['value_set']), p)}"
    ),
    "expect_column_values_to_not_be_in_set": _MapCheck(
        lambda c, k, kw, p: membership_sql(c, k, list(kw["value_set"]), p)
    ),
    "expect_column_values_to_match_regex": _MapCheck(lambda c, k, kw, p: f"NOT {_regex(c, k, kw, p)}"),
    "expect_column_values_to_not_match_regex": _MapCheck(_regex),
    "expect_column_value_lengths_to_be_between": _MapCheck(lambda c, k, kw, p: _outside(f"length({c})", kw, p)),
}
#: aggregates GX computes with pandas (NaN skipped); booleans count as 0/1 where pandas does
AGGREGATE_CHECKS: dict[str, str] = {
    "expect_column_max_to_be_between": "max({col})",
    "expect_column_min_to_be_between": "min({col})",
    "expect_column_mean_to_be_between": "avg(CAST({col} AS DOUBLE))",
    "expect_column_sum_to_be_between": "sum({num})",
    "expect_column_median_to_be_between": "median(CAST({col} AS DOUBLE))",
    "expect_column_unique_value_count_to_be_between": "count(DISTINCT {col})",
}
UNIQUENESS_CHECKS = ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")
TABLE_CHECKS = ("expect_table_row_count_to_be_between",)
#: GX expectations translated to SQL (proven equal to GX's results by tests/unit/test_checks*.py)
TRANSLATED = frozenset([*MAP_CHECKS, *AGGREGATE_CHECKS, *UNIQUENESS_CHECKS, *TABLE_CHECKS])
#: Lockgate's own expectations, named and reported the GX way; they need the run's context
#: (logical date, history of earlier runs), which GX Core has no notion of.
EXTENSIONS = frozenset(["expect_table_row_count_to_be_within_trailing_runs", "expect_column_newest_value_to_be_fresh"])
SUPPORTED = TRANSLATED | EXTENSIONS
REGEX_CHECKS = ("expect_column_values_to_match_regex", "expect_column_values_to_not_match_regex")


@dataclass(frozen=True)
class CheckContext:
    """What the context-dependent checks need to know about the run.

    :param ds: the logical date (``YYYY-MM-DD``); its day ends at the next midnight UTC.
    :param history: row counts of the trailing successful runs of the dataset, oldest first.
    """

    ds: str
    history: Sequence[int] = ()


def supported(expectation: Expectation) -> bool:
    """Whether Lockgate evaluates this expectation itself (the rest go to GX).

    A regex check whose pattern RE2 would read differently from Python's ``re`` goes to GX.
    """
    if expectation.expectation not in SUPPORTED:
        return False
    if expectation.expectation in REGEX_CHECKS:
        regex = expectation.kwargs.get("regex")
        return isinstance(regex, str) and re2_pattern(regex) is not None
    return True


def validate(expectation: Expectation, kinds: Mapping[str, str]) -> list[Refusal]:
    """Why GX (or Lockgate's translation) refuses this expectation on columns of ``kinds``; [] if valid.

    Cheap and GX-free: contract validation calls it for every expectation when DAGs are parsed.
    """
    return refusals(expectation.expectation, expectation.kwargs, kinds)


def refusal_message(expectation: Expectation, found: Sequence[Refusal]) -> str:
    """One line per refusal: ``<check>: kwargs.<argument>: <why>``."""
    return "\n".join(
        f"{expectation.label}: kwargs.{r.argument}: {r.message}"
        + ("" if r.by_gx else " (Lockgate cannot evaluate this as GX does)")
        for r in found
    )


def _kind(duckdb_type: str) -> str:
    kind = duckdb_type.upper()
    if kind in ("VARCHAR", "TEXT", "STRING"):
        return "string"
    if kind in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"):
        return "integer"
    if kind in ("DOUBLE", "FLOAT", "REAL") or kind.startswith("DECIMAL"):
        return "double"
    if kind == "BOOLEAN":
        return "boolean"
    if kind == "DATE":
        return "date"
    if kind in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        return "timestamp"
    if kind.startswith("TIMESTAMP"):
        return "naive_timestamp"
    return "other"


def column_kinds(con: Any, relation: str) -> dict[str, str]:
    """Each column's kind (see :data:`lockgate.check_rules.KINDS`) from DuckDB's types."""
    described = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    return {name: _kind(str(kind)) for name, kind, *_ in described}


def _in_range(value: Any, kw: dict[str, Any], temporal: bool = False) -> bool:
    """GX's comparison of an aggregate with its bounds (a date compares as a naive date-time).

    GX fails a missing aggregate - except pandas' NaT (no date-times), a datetime to GX, which
    passes when there is no bound to compare it with.
    """
    low, high = kw.get("min_value"), kw.get("max_value")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return temporal and low is None and high is None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
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


def _is_missing(name: str, kinds: Mapping[str, str]) -> str:
    return _missing(ident(name), kinds.get(name) == "double")


@dataclass
class _Plan:
    """One check's part of the shared scan: named SELECT expressions and their parameters."""

    exp: Expectation
    kw: dict[str, Any]
    selects: dict[str, str]
    params: Params


def _plan(exp: Expectation, kinds: Mapping[str, str], params: Params) -> _Plan:
    kw = coerced_kwargs(exp.expectation, exp.kwargs) if exp.expectation in TRANSLATED else dict(exp.kwargs)
    condition = _condition(kw, params, kinds)
    selects: dict[str, str] = {}
    name = exp.expectation
    if name in MAP_CHECKS:
        check = MAP_CHECKS[name]
        col, kind = ident(kw["column"]), kinds[kw["column"]]
        missing = _is_missing(kw["column"], kinds)
        bad = check.unexpected(col, kind, kw, params) if check.ignores_nulls else missing
        null_guard = f"NOT {missing} AND " if check.ignores_nulls else ""
        selects["element"] = f"count(*) FILTER (WHERE {condition})"
        selects["missing"] = f"count(*) FILTER (WHERE ({condition}) AND {missing})"
        selects["unexpected"] = f"count(*) FILTER (WHERE ({condition}) AND {null_guard}({bad}))"
    elif name in AGGREGATE_CHECKS:
        col, kind = ident(kw["column"]), kinds[kw["column"]]
        num = f"CAST({col} AS BIGINT)" if kind == "boolean" else col
        # pandas skips NaN in aggregates (DuckDB's max of a NaN would be NaN)
        observed = AGGREGATE_CHECKS[name].format(col=col, num=num)
        observed += f" FILTER (WHERE ({condition}) AND NOT {_is_missing(kw['column'], kinds)})"
        # pandas: the sum of no values is 0
        selects["observed"] = f"coalesce({observed}, 0)" if name == "expect_column_sum_to_be_between" else observed
    elif name in TABLE_CHECKS or name == "expect_table_row_count_to_be_within_trailing_runs":
        selects["observed"] = f"count(*) FILTER (WHERE {condition})"
    elif name == "expect_column_newest_value_to_be_fresh":
        selects["observed"] = f"max({ident(kw['column'])}) FILTER (WHERE {condition})"
    elif name in UNIQUENESS_CHECKS:
        ignore = _ignored(name, kw, kinds)
        selects["element"] = f"count(*) FILTER (WHERE {condition})"
        selects["missing"] = f"count(*) FILTER (WHERE ({condition}) AND ({ignore}))"
    return _Plan(exp, kw, selects, params)


def _condition(kw: Mapping[str, Any], params: Params, kinds: Mapping[str, str]) -> str:
    if not kw.get("row_condition"):
        return "TRUE"
    return row_condition_sql(kw["row_condition"], params, list(kinds), kinds)


def _ignored(name: str, kw: Mapping[str, Any], kinds: Mapping[str, str]) -> str:
    """Rows GX leaves out of a uniqueness check (and counts as missing)."""
    if name == "expect_column_values_to_be_unique":
        return _is_missing(kw["column"], kinds)
    missing = [_is_missing(k, kinds) for k in kw["column_list"]]
    rule = kw.get("ignore_row_if", "all_values_are_missing")
    if rule == "never":
        return "FALSE"
    return (" OR " if rule == "any_value_is_missing" else " AND ").join(missing)


def _refuse(exp: Expectation, kinds: Mapping[str, str]) -> None:
    found = validate(exp, kinds)
    if found:
        raise ValueError(refusal_message(exp, found))
    if not supported(exp):
        raise ValueError(f"{exp.label}: not evaluated in SQL; use Great Expectations")


def evaluate(
    con: Any,
    relation: str,
    expectations: Sequence[Expectation],
    *,
    columns: Sequence[str],
    examples: int = EXAMPLES,
    context: CheckContext | None = None,
    unique: Sequence[Collection[str]] = (),
) -> list[dict[str, Any]]:
    """Evaluate expectations over ``relation`` (a table or view name) on a DuckDB connection.

    Column-map, aggregate and row-count checks share one scan; each uniqueness check adds one
    GROUP BY, unless ``unique`` names a set of its columns the caller knows to have no repeated
    value in ``relation`` (the gate's de-duplication test grouped the same rows by them already).
    Returns one GX-shaped result dict per expectation, in the given order. A check GX would refuse
    on these columns raises :class:`ValueError` naming it before anything runs; so does one whose
    SQL fails (the error is pinned on that check, not on the scan).
    """
    all_kinds = column_kinds(con, relation)
    kinds = {c: all_kinds.get(c, "other") for c in columns}
    for exp in expectations:
        _refuse(exp, kinds)
        if exp.expectation in EXTENSIONS and context is None:
            raise ValueError(f"{exp.label}: needs the run's context (logical date, history)")

    params = Params()
    plans = [_plan(exp, kinds, params) for exp in expectations]
    selects = ["count(*)"] + [sql for plan in plans for sql in plan.selects.values()]
    try:
        # fetchall: a result left open (fetchone) blocks the connection's next statement
        (row,) = con.execute(f"SELECT {', '.join(selects)} FROM {relation}", params.values).fetchall()
    except Exception as exc:  # duckdb.Error: find the check it belongs to
        _blame(con, relation, expectations, kinds, exc)
        raise
    values: list[dict[str, Any]] = []
    at = 1
    for plan in plans:
        values.append({key: row[at + i] for i, key in enumerate(plan.selects)})
        at += len(plan.selects)

    results = []
    for plan, got in zip(plans, values, strict=True):
        exp = plan.exp
        try:
            results.append(_result_of(con, relation, plan, got, kinds, examples, context, unique))
        except Exception as exc:  # whatever fails, the message must name the check
            raise ValueError(f"{exp.label}: could not be evaluated: {exc}") from exc
    return results


def _blame(
    con: Any, relation: str, expectations: Sequence[Expectation], kinds: Mapping[str, str], exc: Exception
) -> None:
    """Re-run each check alone to name the one whose SQL fails (the shared scan failed)."""
    try:
        con.execute(f"SELECT count(*) FROM {relation}").fetchall()
    except Exception as unreadable:  # noqa: BLE001  (no check is to blame: the rows cannot be read)
        raise ValueError(f"{relation}: cannot be read: {unreadable}") from exc
    for exp in expectations:
        params = Params()
        plan = _plan(exp, kinds, params)
        if not plan.selects:
            continue
        try:
            con.execute(f"SELECT {', '.join(plan.selects.values())} FROM {relation}", params.values).fetchall()
        except Exception as own:  # noqa: BLE001  (duckdb.Error or a bad parameter: name the check)
            raise ValueError(f"{exp.label}: could not be evaluated: {own}") from exc


def _result_of(
    con: Any,
    relation: str,
    plan: _Plan,
    got: dict[str, Any],
    kinds: Mapping[str, str],
    examples: int,
    context: CheckContext | None,
    unique: Sequence[Collection[str]] = (),
) -> dict[str, Any]:
    exp = plan.exp
    if exp.expectation in UNIQUENESS_CHECKS:
        return _uniqueness(con, relation, plan, got, kinds, examples, unique)
    if exp.expectation in EXTENSIONS:
        assert context is not None  # checked before the scan
        return _extension(exp, got["observed"], context)
    if "observed" in got:
        observed = _scalar(got["observed"])
        temporal = kinds.get(plan.kw.get("column", "")) in TEMPORAL and exp.expectation in AGGREGATE_CHECKS
        return _result(exp, _in_range(observed, plan.kw, temporal), {"observed_value": observed})
    return _map_result(con, relation, plan, got, kinds, examples)


def _mostly_success(base: int, unexpected: int, mostly: float) -> bool:
    """GX: an empty domain passes; otherwise the share of expected values must reach ``mostly``."""
    return base == 0 or (base - unexpected) / base >= mostly


def _map_result(
    con: Any,
    relation: str,
    plan: _Plan,
    got: dict[str, Any],
    kinds: Mapping[str, str],
    examples: int,
) -> dict[str, Any]:
    exp, kw = plan.exp, plan.kw
    element, missing, unexpected = got["element"], got["missing"], got["unexpected"]
    check = MAP_CHECKS[exp.expectation]
    # GX: not_null counts over every row; the other map checks over the non-null rows only
    base = element - missing if check.ignores_nulls else element
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
        col, kind = ident(kw["column"]), kinds[kw["column"]]
        condition = _condition(kw, params, kinds)
        missing_sql = _is_missing(kw["column"], kinds)
        null_guard = f"NOT {missing_sql} AND " if check.ignores_nulls else ""
        bad = check.unexpected(col, kind, kw, params) if check.ignores_nulls else missing_sql
        found = con.execute(
            f"SELECT {col} FROM {relation} WHERE ({condition}) AND {null_guard}({bad}) LIMIT {int(examples)}",
            params.values,
        ).fetchall()
        result["partial_unexpected_list"] = [_scalar(v) for (v,) in found]
    return _result(exp, _mostly_success(base, unexpected, float(kw["mostly"])), result)


def _group_key(name: str, kinds: Mapping[str, str]) -> str:
    # pandas holds NULL and NaN alike as NaN, and finds two NaN duplicates of each other
    col = ident(name)
    return f"CASE WHEN isnan({col}) THEN NULL ELSE {col} END" if kinds.get(name) == "double" else col


def _known_unique(keys: Sequence[str], kinds: Mapping[str, str], unique: Sequence[Collection[str]]) -> bool:
    """Whether the rows are known to repeat no value of ``keys``: a known unique set is part of them.

    A subset of the rows (``row_condition``, ignored rows) repeats none either. Not for a double
    column in the known set: the check groups NaN with NULL (:func:`_group_key`), the caller did not.
    """
    return any(known and set(known) <= set(keys) and all(kinds.get(c) != "double" for c in known) for known in unique)


def _uniqueness(
    con: Any,
    relation: str,
    plan: _Plan,
    got: dict[str, Any],
    kinds: Mapping[str, str],
    examples: int,
    unique: Sequence[Collection[str]] = (),
) -> dict[str, Any]:
    exp, kw = plan.exp, plan.kw
    keys = [kw["column"]] if exp.expectation == "expect_column_values_to_be_unique" else list(kw["column_list"])
    if _known_unique(keys, kinds, unique):
        unexpected, sample = 0, []
    else:
        params = Params()
        condition = _condition(kw, params, kinds)
        ignore = _ignored(exp.expectation, kw, kinds)
        grouped = ", ".join(f"{_group_key(k, kinds)} AS {ident(k)}" for k in keys)
        packed = ", ".join(f"{ident(k)} := {ident(k)}" for k in keys)
        # ordered (nulls first, as Spark sorts a struct's fields): the same repeated keys are shown
        # run after run, by every engine
        order = ", ".join(f"{ident(k)} NULLS FIRST" for k in keys)
        ((unexpected, sample),) = con.execute(
            f"""
            SELECT coalesce(sum(n), 0), list(struct_pack({packed}) ORDER BY {order})[1:{int(examples)}]
            FROM (
                SELECT {grouped}, count(*) AS n FROM {relation}
                WHERE ({condition}) AND NOT ({ignore}) GROUP BY ALL HAVING count(*) > 1
            )
            """,
            params.values,
        ).fetchall()
    element, missing = got["element"], got["missing"]
    base = element - missing
    examples_out = [s[keys[0]] if len(keys) == 1 else dict(s) for s in (sample or [])]
    result = {
        "element_count": element,
        "missing_count": missing,
        "unexpected_count": int(unexpected),
        "unexpected_percent": 100.0 * unexpected / base if base else 0.0,
        "partial_unexpected_list": examples_out,
    }
    return _result(exp, _mostly_success(base, int(unexpected), float(kw["mostly"])), result)


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
