"""Row-level expectations (severity ``quarantine``) as per-row problem expressions in DuckDB SQL.

A failing row is moved to quarantine with a reason naming the column, the value and the expectation.
A row fails exactly when GX Core would count its value as unexpected (same coercion of the
arguments, pandas' comparisons, Python's regex semantics); a configuration GX refuses, or one
whose answer DuckDB cannot reproduce row by row (a regex RE2 reads differently), is refused when
the contract is validated (:func:`refusals`), since the gate cannot ask GX about single rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lockgate.check_rules import ROW_LEVEL_EXPECTATIONS, Refusal, coerced_kwargs, re2_pattern, row_level_refusals
from lockgate.checks import Params, membership_sql, row_condition_sql
from lockgate.coerce import problem, shown
from lockgate.contracts import Expectation
from lockgate.sql import ident, literal

__all__ = ["ROW_LEVEL_EXPECTATIONS", "refusals", "row_problem"]


def refusals(exp: Expectation) -> list[Refusal]:
    """Why a ``quarantine`` expectation cannot be checked row by row exactly as GX would ([] if it can)."""
    return row_level_refusals(exp.expectation, exp.kwargs)


def _missing(col: str) -> str:
    """Missing as GX sees it: NULL, or NaN in a floating-point column (whatever the column's type).

    The TRY_CAST binds for every type, and DuckDB folds ``typeof`` to a constant when it binds the
    query: for a double this is ``col IS NULL OR isnan(col)`` (the cast of a double to DOUBLE is
    none), for any other type ``col IS NULL``. A cast through VARCHAR, which the plan kept, turned
    every double into text and back (~0.3 s CPU per 1M rows per check).
    """
    nan = f"isnan(TRY_CAST({col} AS DOUBLE))"
    return f"({col} IS NULL OR (typeof({col}) IN ('DOUBLE', 'FLOAT') AND {nan}))"


def _number(col: str) -> str:
    # pandas compares booleans with numbers as 0/1; DuckDB would cast the number to a boolean
    return f"TRY_CAST({col} AS DOUBLE)"


def _text(col: str) -> str:
    """The column as pandas' ``astype(str)`` writes it (``True``, ``1``), for regexes."""
    return (
        f"CASE WHEN typeof({col}) = 'BOOLEAN' THEN (CASE WHEN TRY_CAST({col} AS BOOLEAN) THEN 'True' ELSE 'False' END) "
        f"ELSE CAST({col} AS VARCHAR) END"
    )


def _outside(value_sql: str, kw: Mapping[str, Any], params: Params) -> str:
    parts = []
    for key, strict, loose, strict_key in (
        ("min_value", "<=", "<", "strict_min"),
        ("max_value", ">=", ">", "strict_max"),
    ):
        bound = kw.get(key)
        if bound is not None:
            sql = _number(value_sql) if isinstance(bound, float) else value_sql
            parts.append(f"{sql} {strict if kw.get(strict_key) else loose} {params(bound)}")
    return " OR ".join(parts) or "FALSE"


def row_problem(
    exp: Expectation, params: Params, columns: Sequence[str], kinds: Mapping[str, str] | None = None
) -> str:
    """A problem expression for a row-level expectation with severity ``quarantine``.

    ``kinds`` (column -> kind) types the row condition's comparison; without it DuckDB picks it.
    """
    found = refusals(exp)
    if found:
        where = "severity" if found[0].argument == "severity" else f"kwargs.{found[0].argument}:"
        raise ValueError(f"{exp.label}: {where} {found[0].message}")
    column = exp.kwargs["column"]
    col = ident(column)
    written, kw = exp.kwargs, coerced_kwargs(exp.expectation, exp.kwargs)  # reasons show what was written
    name = exp.expectation
    kind = kinds.get(column) if kinds else None
    text = f"CAST({col} AS VARCHAR)"  # the value as the reason shows it, whatever the column's type
    if name == "expect_column_values_to_not_be_null":
        cond, reason = _missing(col), literal(f"column {column}: missing value ({name})")
    elif name == "expect_column_values_to_be_between":
        cond = _outside(col, kw, params)
        reason = (
            f"format({literal(f'column {column}: {{}} is not between {{}} and {{}} ({name})')}, "
            f"{col}, {params(str(written.get('min_value', '-inf')))}, {params(str(written.get('max_value', 'inf')))})"
        )
    elif name in ("expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set"):
        hit = membership_sql(col, kind, list(kw["value_set"]), params)
        cond = f"NOT {hit}" if name == "expect_column_values_to_be_in_set" else hit
        reason = f"format({literal(f'column {column}: {{}} fails {name}')}, {shown(text)})"
    elif name == "expect_column_values_to_match_regex":
        cond = f"NOT regexp_matches({_text(col)}, {params(re2_pattern(kw['regex']))})"
        reason = f"format({literal(f'column {column}: {{}} does not match the pattern ({name})')}, {shown(text)})"
    else:  # expect_column_value_lengths_to_be_between
        cond = _outside(f"length({col})", kw, params)  # GX's length bounds are whole numbers
        reason = f"format({literal(f'column {column}: length {{}} is out of range ({name})')}, length({col}))"
    if "not_be_null" not in name:
        cond = f"NOT {_missing(col)} AND ({cond})"
    if kw.get("row_condition"):
        cond = f"({row_condition_sql(kw['row_condition'], params, columns, kinds)}) AND ({cond})"
    return problem(exp.label, column, cond, reason)
