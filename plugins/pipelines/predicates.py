"""Routing predicates: the ``when:`` of a route rule, as plain data, evaluated in Python or SQL.

A predicate is a mapping whose entries must all hold (AND):

* ``<column>: <value>`` - the column equals the value;
* ``<column>: {<op>: <value>, ...}`` - every operator holds: ``eq``, ``ne``, ``lt``, ``le``, ``gt``,
  ``ge`` (a value), ``in`` / ``not_in`` (a list), ``is_null`` (``true``/``false``), ``matches`` (a
  regular expression searched in a string column);
* ``all: [<predicate>, ...]``, ``any: [<predicate>, ...]``, ``not: <predicate>`` - combinators.

Example (a sales feed's accounting rule)::

    when:
      record_type: {in: [sale, refund]}
      any:
        - currency: EUR
        - amount: {is_null: true}

Every comparison with a missing value (NULL) is false, except ``is_null``; ``not`` is then plain
boolean negation. :func:`evaluate` (one row, in Python) and :func:`to_sql` (DuckDB, whole tables)
follow exactly these rules, and the tests hold them to it. Values are converted to the column's
contract type (``"2026-01-02"`` to a date for a ``date`` column), so YAML literals mean what they
say. Nothing here imports Airflow or a data library.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from lockgate.sql import SQL_TYPES, ident

COMBINATORS = ("all", "any", "not")
COMPARISONS = ("eq", "ne", "lt", "le", "gt", "ge")
OPERATORS = (*COMPARISONS, "in", "not_in", "is_null", "matches")
_SQL_COMPARISON = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_ORDERED_TYPES = ("string", "integer", "double", "date", "timestamp")


class PredicateError(ValueError):
    """A predicate is malformed; ``path`` is where (``routes.0.rules.1.when.any.0.sku``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.problem = message


def coerce(value: Any, ctype: str, path: str = "value") -> Any:
    """A YAML literal as a value of contract type ``ctype``; :class:`PredicateError` if it is not one."""
    if ctype == "string":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise PredicateError(path, f"{value!r} is not a string")
        return str(value)
    if ctype == "integer":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
            raise PredicateError(path, f"{value!r} is not an integer")
        return int(value)
    if ctype == "double":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise PredicateError(path, f"{value!r} is not a finite number")
        return float(value)
    if ctype == "boolean":
        if not isinstance(value, bool):
            raise PredicateError(path, f"{value!r} is not true or false")
        return value
    if ctype == "date":
        try:
            return value if type(value) is date else date.fromisoformat(str(value))
        except ValueError:
            raise PredicateError(path, f"{value!r} is not a date (YYYY-MM-DD)") from None
    if ctype == "timestamp":
        try:
            parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        except ValueError:
            raise PredicateError(path, f"{value!r} is not a timestamp (ISO 8601)") from None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    raise PredicateError(path, f"unknown column type {ctype!r}")


def _conditions(spec: Any, path: str) -> dict[str, Any]:
    """A column's condition as an operator mapping (a bare value means ``eq``)."""
    if isinstance(spec, Mapping):
        if not spec:
            raise PredicateError(path, "an empty condition; use e.g. {eq: value}")
        unknown = sorted(set(spec) - set(OPERATORS))
        if unknown:
            raise PredicateError(path, f"unknown operator(s) {', '.join(unknown)}; known: {', '.join(OPERATORS)}")
        return dict(spec)
    return {"eq": spec}


def validate(predicate: Any, types: Mapping[str, str], path: str = "when") -> None:
    """Check a predicate against the columns it may use (name -> contract type).

    Raises :class:`PredicateError` naming the first problem's path: an unknown column or operator,
    a value of the wrong type, an ordering on a boolean, ``matches`` on a non-string or with a bad
    regular expression, an empty combinator.
    """
    if not isinstance(predicate, Mapping) or not predicate:
        raise PredicateError(path, "a predicate is a non-empty mapping of columns and all/any/not")
    for key, spec in predicate.items():
        where = f"{path}.{key}"
        if key in ("all", "any"):
            if not isinstance(spec, list) or not spec:
                raise PredicateError(where, f"{key} needs a non-empty list of predicates")
            for i, item in enumerate(spec):
                validate(item, types, f"{where}.{i}")
            continue
        if key == "not":
            validate(spec, types, where)
            continue
        if key not in types:
            raise PredicateError(where, f"unknown column {key!r}; columns: {', '.join(sorted(types))}")
        ctype = types[key]
        for op, value in _conditions(spec, where).items():
            at = f"{where}.{op}" if isinstance(spec, Mapping) else where
            if op == "is_null":
                if not isinstance(value, bool):
                    raise PredicateError(at, "is_null takes true or false")
            elif op in ("in", "not_in"):
                if not isinstance(value, list) or not value:
                    raise PredicateError(at, f"{op} takes a non-empty list")
                for i, item in enumerate(value):
                    coerce(item, ctype, f"{at}.{i}")
            elif op == "matches":
                if ctype != "string":
                    raise PredicateError(at, f"matches needs a string column; {key} is {ctype}")
                if not isinstance(value, str):
                    raise PredicateError(at, "matches takes a regular expression")
                try:
                    re.compile(value)
                except re.error as exc:
                    raise PredicateError(at, f"not a valid regular expression: {exc}") from None
            else:
                if op not in ("eq", "ne") and ctype not in _ORDERED_TYPES:
                    raise PredicateError(at, f"{op} needs an ordered column; {key} is {ctype}")
                coerce(value, ctype, at)


def columns(predicate: Mapping[str, Any]) -> set[str]:
    """The columns a (valid) predicate reads."""
    found: set[str] = set()
    for key, spec in predicate.items():
        if key in ("all", "any"):
            for item in spec:
                found |= columns(item)
        elif key == "not":
            found |= columns(spec)
        else:
            found.add(key)
    return found


_PY_COMPARISON: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: bool(a == b),
    "ne": lambda a, b: bool(a != b),
    "lt": lambda a, b: bool(a < b),
    "le": lambda a, b: bool(a <= b),
    "gt": lambda a, b: bool(a > b),
    "ge": lambda a, b: bool(a >= b),
}


def _holds(op: str, expected: Any, actual: Any, ctype: str) -> bool:
    if op == "is_null":
        return (actual is None) is bool(expected)
    if actual is None:
        return False  # a comparison with a missing value is false (SQL's NULL, coalesced)
    if op == "matches":
        return re.search(expected, str(actual)) is not None
    if op in ("in", "not_in"):
        hit = any(actual == coerce(v, ctype) for v in expected)
        return hit if op == "in" else not hit
    if ctype == "timestamp" and isinstance(actual, datetime) and actual.tzinfo is None:
        actual = actual.replace(tzinfo=UTC)
    return _PY_COMPARISON[op](actual, coerce(expected, ctype))


def evaluate(predicate: Mapping[str, Any], row: Mapping[str, Any], types: Mapping[str, str]) -> bool:
    """Whether one row (column -> typed value, ``None`` for missing) satisfies a valid predicate."""
    for key, spec in predicate.items():
        if key == "all":
            ok = all(evaluate(p, row, types) for p in spec)
        elif key == "any":
            ok = any(evaluate(p, row, types) for p in spec)
        elif key == "not":
            ok = not evaluate(spec, row, types)
        else:
            ok = all(_holds(op, v, row.get(key), types[key]) for op, v in _conditions(spec, key).items())
        if not ok:
            return False
    return True


def to_sql(
    predicate: Mapping[str, Any], bind: Callable[[Any], str], types: Mapping[str, str], dialect: str = "duckdb"
) -> str:
    """A DuckDB boolean expression (never NULL) for a valid predicate.

    ``bind`` takes a value and returns its placeholder (e.g. :class:`lockgate.checks.Params`): values
    never enter the SQL text. Every leaf is ``coalesce(..., false)``, so NULLs compare false and
    ``NOT`` is plain negation, exactly as in :func:`evaluate`.
    """
    parts: list[str] = []
    for key, spec in predicate.items():
        if key in ("all", "any"):
            joiner = " AND " if key == "all" else " OR "
            parts.append("(" + joiner.join(to_sql(p, bind, types, dialect) for p in spec) + ")")
        elif key == "not":
            parts.append(f"(NOT {to_sql(spec, bind, types, dialect)})")
        else:
            parts.extend(_leaf_sql(key, op, v, bind, types[key], dialect) for op, v in _conditions(spec, key).items())
    return "(" + " AND ".join(parts) + ")" if len(parts) > 1 else parts[0]


def _leaf_sql(column: str, op: str, value: Any, bind: Callable[[Any], str], ctype: str, dialect: str) -> str:
    col = ident(column)
    sql_type = SQL_TYPES[dialect][ctype]
    if op == "is_null":
        return f"({col} IS NULL)" if value else f"({col} IS NOT NULL)"
    if op == "matches":
        return f"coalesce(regexp_matches({col}, {bind(value)}), false)"
    if op in ("in", "not_in"):
        items = ", ".join(f"CAST({bind(coerce(v, ctype))} AS {sql_type})" for v in value)
        test = f"{col} IN ({items})" if op == "in" else f"{col} NOT IN ({items})"
        return f"coalesce({col} IS NOT NULL AND {test}, false)"
    return f"coalesce({col} {_SQL_COMPARISON[op]} CAST({bind(coerce(value, ctype))} AS {sql_type}), false)"


def describe(predicate: Mapping[str, Any]) -> str:
    """A short human rendering for reports and quarantine reasons (``record_type in [sale, refund]``)."""
    parts: list[str] = []
    for key, spec in predicate.items():
        if key in ("all", "any"):
            parts.append("(" + f" {'and' if key == 'all' else 'or'} ".join(describe(p) for p in spec) + ")")
        elif key == "not":
            parts.append(f"not {describe(spec)}")
        else:
            for op, value in _conditions(spec, key).items():
                if op == "is_null":
                    parts.append(f"{key} is {'' if value else 'not '}null")
                elif op in ("in", "not_in"):
                    parts.append(f"{key} {op.replace('_', ' ')} [{', '.join(str(v) for v in value)}]")
                else:
                    symbol = {"matches": "~"}.get(op) or {"eq": "=", "ne": "!="}.get(op) or _SQL_COMPARISON[op]
                    parts.append(f"{key} {symbol} {value}")
    return " and ".join(parts)


def first_match(rules: Sequence[Mapping[str, Any]], row: Mapping[str, Any], types: Mapping[str, str]) -> int | None:
    """Index of the first rule whose ``when`` the row satisfies, or ``None`` (unrouted)."""
    for i, rule in enumerate(rules):
        if evaluate(rule["when"], row, types):
            return i
    return None
