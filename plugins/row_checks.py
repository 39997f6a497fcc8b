"""Row-level expectations (severity ``quarantine``) as per-row problem expressions in DuckDB SQL.

A failing row is moved to quarantine with a reason naming the column, the value and the expectation.
"""

from __future__ import annotations

from collections.abc import Sequence

from lockgate.checks import Params, row_condition_sql
from lockgate.coerce import problem, shown
from lockgate.contracts import Expectation
from lockgate.sql import ident, literal

#: row-level expectations the gate can evaluate per row (for severity ``quarantine``)
ROW_LEVEL_EXPECTATIONS = (
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_not_be_in_set",
    "expect_column_values_to_match_regex",
    "expect_column_value_lengths_to_be_between",
)


# `in` must be a word of its own: in `kind != "y"` it is not the operator after the column `k`
def row_problem(exp: Expectation, params: Params, columns: Sequence[str]) -> str:
    """A problem expression for a row-level expectation with severity ``quarantine``."""
    if exp.expectation not in ROW_LEVEL_EXPECTATIONS:
        raise ValueError(
            f"{exp.label}: severity 'quarantine' needs a row-level expectation ({', '.join(ROW_LEVEL_EXPECTATIONS)})"
        )
    column = exp.kwargs["column"]
    col = ident(column)
    kw = exp.kwargs
    name = exp.expectation
    if name == "expect_column_values_to_not_be_null":
        cond, reason = f"{col} IS NULL", literal(f"column {column}: missing value ({name})")
    elif name == "expect_column_values_to_be_between":
        parts = []
        if kw.get("min_value") is not None:
            parts.append(f"{col} {'<=' if kw.get('strict_min') else '<'} {params(kw['min_value'])}")
        if kw.get("max_value") is not None:
            parts.append(f"{col} {'>=' if kw.get('strict_max') else '>'} {params(kw['max_value'])}")
        cond = " OR ".join(parts) or "FALSE"
        reason = (
            f"format({literal(f'column {column}: {{}} is not between {{}} and {{}} ({name})')}, "
            f"{col}, {params(str(kw.get('min_value', '-inf')))}, {params(str(kw.get('max_value', 'inf')))})"
        )
    elif name in ("expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set"):
        hit = f"list_contains({params(list(kw['value_set']))}, {col})"
        cond = f"NOT {hit}" if name.endswith("_be_in_set") and "_not_" not in name else hit
        reason = f"format({literal(f'column {column}: {{}} fails {name}')}, {shown(col)})"
    elif name == "expect_column_values_to_match_regex":
        cond = f"NOT regexp_matches({col}, {params(kw['regex'])})"
        reason = f"format({literal(f'column {column}: {{}} does not match the pattern ({name})')}, {shown(col)})"
    else:  # expect_column_value_lengths_to_be_between
        parts = []
        if kw.get("min_value") is not None:
            parts.append(f"length({col}) < {params(kw['min_value'])}")
        if kw.get("max_value") is not None:
            parts.append(f"length({col}) > {params(kw['max_value'])}")
        cond = " OR ".join(parts) or "FALSE"
        reason = f"format({literal(f'column {column}: length {{}} is out of range ({name})')}, length({col}))"
    if "not_be_null" not in name:
        cond = f"{col} IS NOT NULL AND ({cond})"
    if kw.get("row_condition"):
        cond = f"({row_condition_sql(kw['row_condition'], params, columns)}) AND ({cond})"
    return problem(exp.label, column, cond, reason)
