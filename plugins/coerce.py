"""Typing raw strings to contract types, as DuckDB SQL: one typed expression and its problems per column.

The gate reads every source value as a string; this module decides what each contract type accepts
(see ``include/contracts/README.md``). A value that does not type gives the row a *problem*: a
struct ``{check, column, reason}`` the gate collects per row and turns into a quarantine reason
naming the column and the value.
"""

from __future__ import annotations

from lockgate.sql import SQL_TYPES, ident, literal

#: how much of a raw value a quarantine reason quotes (the whole record is kept next to it)
REASON_VALUE_CHARS = 200


def shown(expr: str) -> str:
    """A value as a reason quotes it: a 20 MB field must not make a 20 MB reason."""
    return (
        f"CASE WHEN length({expr}) > {REASON_VALUE_CHARS} "
        f"THEN left({expr}, {REASON_VALUE_CHARS}) || format('... ({{}} chars)', length({expr})) ELSE {expr} END"
    )


def problem(check: str, column: str | None, condition: str, reason_sql: str) -> str:
    col = literal(column) if column else "NULL::VARCHAR"
    return f"CASE WHEN {condition} THEN {{'check': {literal(check)}, 'column': {col}, 'reason': {reason_sql}}} END"


def typed_column(name: str, ctype: str) -> tuple[str, list[str]]:
    """(typed expression, problem expressions) for one raw string column."""
    raw = ident(name)
    present = f"({raw} IS NOT NULL AND trim({raw}) <> '')"
    sql_type = SQL_TYPES["duckdb"][ctype]
    if ctype == "string":
        typed = f"NULLIF({raw}, '')"
    elif ctype == "timestamp":
        # an explicit offset or Z after a time of day wins; a naive value (or a bare date, whose
        # "-02" is the day, not an offset) is local time in the source's zone
        offset = r"[0-9]:[0-9]{2}(:[0-9]{2}([.,][0-9]*)?)?\s*(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)$"
        typed = (
            f"CASE WHEN NOT {present} THEN NULL "
            f"WHEN regexp_matches(trim({raw}), {literal(offset)}) "
            f"THEN TRY_CAST(trim({raw}) AS TIMESTAMPTZ) "
            f"ELSE timezone(COALESCE(_tz, 'UTC'), TRY_CAST(trim({raw}) AS TIMESTAMP)) END"
        )
    elif ctype == "integer":
        # TRY_CAST('1.5' AS BIGINT) rounds to 2: only whole numbers ("7", "-7", "7.0") are integers
        typed = (
            f"CASE WHEN regexp_full_match(trim({raw}), '[+-]?[0-9]+(\\.0*)?') "
            f"THEN TRY_CAST(trim({raw}) AS {sql_type}) END"
        )
    else:
        typed = f"TRY_CAST(NULLIF(trim({raw}), '') AS {sql_type})"
    problems = [
        problem(
            "type",
            name,
            f"{present} AND ({typed}) IS NULL",
            f"format({literal(f'column {name}: cannot read {{}} as {ctype}')}, {shown(raw)})",
        )
    ]
    if ctype == "double":
        problems.append(
            problem(
                "finite",
                name,
                f"({typed}) IS NOT NULL AND NOT isfinite({typed})",
                f"format({literal(f'column {name}: {{}} is not a finite number')}, {shown(raw)})",
            )
        )
    if ctype == "string":
        # PostgreSQL text cannot hold U+0000 (the load would fail on COPY), and in a partition
        # value it would reach a lake key: a NUL is corrupt input whatever the warehouse
        problems.append(
            problem(
                "nul",
                name,
                f"contains({raw}, chr(0))",
                literal(f"column {name}: contains a NUL character (U+0000)"),
            )
        )
    return typed, problems
