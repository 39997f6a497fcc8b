"""What GX Core accepts in an expectation's arguments, checked without importing GX.

Contract validation (``lockgate.contracts``) runs when the factory parses DAG files, where GX may
not be imported. So the rules GX applies to a translated expectation are written out here as plain
functions, derived from GX Core 1.x (its pydantic fields, its root validators, the errors its
pandas metrics raise) and proven equal to GX's own refusals by ``tests/unit/test_checks_differential.py``:

* the argument names and their coercions (GX's pydantic v1 fields: ``"2"`` becomes ``2.0``,
  ``"2020-01-01"`` a date, ``1.9`` a length of ``1``, ``"yes"`` ``True``);
* the refusals GX makes when it instantiates the expectation (``mostly`` outside [0, 1], both
  bounds missing, an unknown argument or ``condition_parser``, ...);
* the errors GX raises when it validates: a bound of a type the column's values cannot be
  compared with, ``min_value > max_value`` for column values, an invalid regex, a parser other
  than ``pandas``.

Some configurations GX answers are refused too, because Lockgate's SQL cannot give GX's answer
(a ``row_condition`` comparing a column with a value of another kind, a set or a regex on a
date or timestamp column, ...). Those refusals say so (:attr:`Refusal.by_gx` is false). Regexes
Python's ``re`` and RE2 read differently are not refused: :func:`re2_pattern` returns ``None``
and the check runs on GX Core (row-level quarantine checks, which cannot, refuse them).
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

#: GX reads a data frame; these are the kinds of column Lockgate tells apart (contract types, plus
#: ``naive_timestamp`` for a DuckDB TIMESTAMP without time zone; the gate's timestamps are aware)
KINDS = ("string", "integer", "double", "boolean", "date", "timestamp", "naive_timestamp")
NUMERIC = ("integer", "double", "boolean")  # pandas compares these with each other (True == 1)
TEMPORAL = ("date", "timestamp", "naive_timestamp")

_BETWEEN = ("min_value", "max_value", "strict_min", "strict_max")
_COLUMN = ("column", "row_condition", "condition_parser")
#: the arguments each translated expectation takes (its GX fields, less GX's bookkeeping ones)
ARGUMENTS: dict[str, tuple[str, ...]] = {
    "expect_column_values_to_not_be_null": (*_COLUMN, "mostly"),
    "expect_column_values_to_be_between": (*_COLUMN, "mostly", *_BETWEEN),
    "expect_column_values_to_be_in_set": (*_COLUMN, "mostly", "value_set"),
    "expect_column_values_to_not_be_in_set": (*_COLUMN, "mostly", "value_set"),
    "expect_column_values_to_match_regex": (*_COLUMN, "mostly", "regex"),
    "expect_column_values_to_not_match_regex": (*_COLUMN, "mostly", "regex"),
    "expect_column_value_lengths_to_be_between": (*_COLUMN, "mostly", *_BETWEEN),
    "expect_column_max_to_be_between": (*_COLUMN, *_BETWEEN),
    "expect_column_min_to_be_between": (*_COLUMN, *_BETWEEN),
    "expect_column_mean_to_be_between": (*_COLUMN, *_BETWEEN),
    "expect_column_sum_to_be_between": (*_COLUMN, *_BETWEEN),
    "expect_column_median_to_be_between": (*_COLUMN, *_BETWEEN),
    "expect_column_unique_value_count_to_be_between": (*_COLUMN, *_BETWEEN),
    "expect_column_values_to_be_unique": (*_COLUMN, "mostly"),
    "expect_compound_columns_to_be_unique": (
        "column_list",
        "row_condition",
        "condition_parser",
        "mostly",
        "ignore_row_if",
    ),
    "expect_table_row_count_to_be_between": ("row_condition", "condition_parser", *_BETWEEN),
}
#: fields every GX expectation has; GX accepts them, Lockgate sets them itself (or has no use for them)
GX_BOOKKEEPING = (
    "id", "meta", "notes", "result_format", "description", "catch_exceptions",
    "rendered_content", "severity", "windows", "batch_id",
)  # fmt: skip
CONDITION_PARSERS = ("great_expectations", "great_expectations__experimental__", "pandas", "spark")
IGNORE_ROW_IF = ("all_values_are_missing", "any_value_is_missing", "never")
#: the type of each bound, as GX declares it (pydantic coerces to the first type that accepts it)
_FLOAT_OR_DATE = "float|date|datetime"
BOUND_TYPES = {
    "expect_column_value_lengths_to_be_between": "int",
    "expect_column_unique_value_count_to_be_between": "int",
    "expect_table_row_count_to_be_between": "int|datetime",
}
AGGREGATES = (
    "expect_column_max_to_be_between",
    "expect_column_min_to_be_between",
    "expect_column_mean_to_be_between",
    "expect_column_sum_to_be_between",
    "expect_column_median_to_be_between",
)


#: row-level expectations the gate can evaluate per row (for severity ``quarantine``)
ROW_LEVEL_EXPECTATIONS = (
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_not_be_in_set",
    "expect_column_values_to_match_regex",
    "expect_column_value_lengths_to_be_between",
)


@dataclass(frozen=True)
class Refusal:
    """Why an expectation's arguments are refused.

    :param argument: the argument at fault (``kwargs.<argument>`` in the contract)
    :param message: what is wrong, and what to write instead where that helps
    :param by_gx: GX Core refuses it too (false: GX answers, but Lockgate cannot give GX's answer)
    """

    argument: str
    message: str
    by_gx: bool = True


class Invalid(ValueError):
    """A value GX's field would not accept."""


@cache
def _field(spec: str) -> Any:
    """A pydantic v1 model with one field typed as GX types it, in GX's model config."""
    from typing import Optional, Union

    from pydantic.v1 import BaseConfig, BaseModel, confloat, create_model

    class Config(BaseConfig):  # GX's Expectation.Config: smart_union keeps a datetime a datetime
        smart_union = True
        arbitrary_types_allowed = True

    types = {  # GX's field types (less its suite-parameter dicts, see coerce())
        "float|date|datetime": Optional[Union[float, date, datetime]],  # noqa: UP045,UP007
        "int": Optional[int],  # noqa: UP045
        "int|datetime": Optional[Union[int, datetime]],  # noqa: UP045,UP007
        "bool": bool,
        "mostly": confloat(ge=0.0, le=1.0),
        "str": str,
        "list": list,
    }
    model: type[BaseModel] = create_model("GxField", __config__=Config, value=(types[spec], ...))
    return model


def coerce(value: Any, spec: str) -> Any:
    """``value`` as GX's pydantic field of type ``spec`` makes it (raises :class:`Invalid`)."""
    from pydantic.v1 import ValidationError

    if isinstance(value, dict):
        # GX reads a dict as a suite parameter ({"$PARAMETER": ...}); Lockgate has none
        raise Invalid("a mapping is a GX suite parameter, which Lockgate does not support")
    try:
        return _field(spec)(value=value).value
    except ValidationError as exc:
        raise Invalid("; ".join(str(e["msg"]) for e in exc.errors())) from None


def coerced_kwargs(name: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments as GX holds them after its pydantic coercion (call on validated kwargs)."""
    out = dict(kwargs)
    bound = BOUND_TYPES.get(name, _FLOAT_OR_DATE)
    for key in ("min_value", "max_value"):
        if key in out:
            out[key] = coerce(out[key], bound)
    for key in ("strict_min", "strict_max"):
        out[key] = coerce(out.get(key, False), "bool")
    out["mostly"] = coerce(out.get("mostly", 1.0), "mostly")
    if "regex" in out:
        out["regex"] = coerce(out["regex"], "str")
    if "value_set" in out:
        out["value_set"] = coerce(out["value_set"], "list")
    return out


def refusals(name: str, kwargs: Mapping[str, Any], kinds: Mapping[str, str]) -> list[Refusal]:
    """Every reason to refuse a translated expectation with these arguments on columns of ``kinds``.

    ``kinds`` maps each column name to one of :data:`KINDS`.
    """
    if name not in ARGUMENTS:
        return []
    found = _argument_refusals(name, kwargs)
    if found:
        return found  # the values are not GX's types: nothing more can be judged
    kw = coerced_kwargs(name, kwargs)
    found += _condition_refusals(kw, kinds)
    column = kw.get("column")
    kind = kinds.get(column) if isinstance(column, str) else None
    if name == "expect_compound_columns_to_be_unique":
        found += _compound_refusals(kw)
    elif name == "expect_table_row_count_to_be_between":
        found += _row_count_refusals(kw)
    elif kind is None:
        pass  # an unknown column is the contract's own error
    elif kind not in KINDS:
        if name not in ("expect_column_values_to_not_be_null", "expect_column_values_to_be_unique"):
            found.append(Refusal("column", f"{column!r} is of a type Lockgate has no translation for", False))
    elif name == "expect_column_values_to_be_between":
        found += _values_between_refusals(kw, kind)
    elif name in AGGREGATES:
        found += _aggregate_refusals(name, kw, kind)
    elif name in ("expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set"):
        if kind in TEMPORAL:
            found.append(
                Refusal("value_set", f"a value set on a {_kind(kind)} column: compare with min/max bounds", False)
            )
    elif name in ("expect_column_values_to_match_regex", "expect_column_values_to_not_match_regex"):
        found += _regex_refusals(kw, kind)
    elif name == "expect_column_value_lengths_to_be_between" and kind != "string":
        found.append(Refusal("column", f"value lengths of a {_kind(kind)} column (only strings have a length)", False))
    return found


def row_level_refusals(name: str, kwargs: Mapping[str, Any]) -> list[Refusal]:
    """Why an expectation cannot run row by row (severity ``quarantine``) exactly as GX would."""
    if name not in ROW_LEVEL_EXPECTATIONS:
        listed = ", ".join(ROW_LEVEL_EXPECTATIONS)
        return [Refusal("severity", f"'quarantine' needs a row-level expectation ({listed})", by_gx=False)]
    regex = kwargs.get("regex")
    if name == "expect_column_values_to_match_regex" and isinstance(regex, str) and re2_pattern(regex) is None:
        message = (
            f"{regex!r}: DuckDB's RE2 cannot match this regex as Python's re does (lookaround, "
            "backreferences, \\b, \\w, \\s, flags or $ before the end); row-level checks cannot run on GX"
        )
        return [Refusal("regex", message, by_gx=False)]
    return []


def contract_refusals(expectations: Sequence[Any], types: Mapping[str, str], source: str) -> list[str]:
    """One line per refused argument of a contract's expectations (file, check, argument, why).

    ``expectations`` are :class:`lockgate.contracts.Expectation`; ``types`` the contract's column
    types (a contract ``timestamp`` is time-zone aware in the gate).
    """
    lines = []
    for exp in expectations:
        found = refusals(exp.expectation, exp.kwargs, types)
        if exp.severity == "quarantine" and not found:
            found = row_level_refusals(exp.expectation, exp.kwargs)
        for r in found:
            if r.argument == "severity":
                lines.append(f"{source}: {exp.label}: severity {r.message}")
                continue
            why = r.message if r.by_gx else f"{r.message} (GX answers this, but Lockgate cannot give GX's answer)"
            lines.append(f"{source}: {exp.label}: kwargs.{r.argument}: {why}")
    return lines


def _kind(kind: str) -> str:
    return "timestamp (without time zone)" if kind == "naive_timestamp" else kind


def _argument_refusals(name: str, kwargs: Mapping[str, Any]) -> list[Refusal]:
    """GX's refusals when it instantiates the expectation: names, types and its root validators."""
    found = []
    allowed = ARGUMENTS[name]
    for key in kwargs:
        if key not in allowed:
            lockgate_only = key in GX_BOOKKEEPING
            found.append(
                Refusal(key, f"not an argument of {name} (it takes {', '.join(allowed)})", by_gx=not lockgate_only)
            )
    bound = BOUND_TYPES.get(name, _FLOAT_OR_DATE)
    specs = {"min_value": bound, "max_value": bound, "strict_min": "bool", "strict_max": "bool"}
    specs |= {"mostly": "mostly", "regex": "str", "value_set": "list"}
    for key, spec in specs.items():
        if key not in kwargs:
            continue
        if kwargs[key] is None and key in ("mostly", "strict_min", "strict_max", "regex", "value_set"):
            found.append(Refusal(key, "must not be null"))
            continue
        try:
            coerce(kwargs[key], spec)
        except Invalid as exc:
            found.append(Refusal(key, f"{kwargs[key]!r}: {exc}"))
    if (
        "row_condition" in kwargs
        and kwargs["row_condition"] is not None
        and not isinstance(kwargs["row_condition"], str)
    ):
        found.append(Refusal("row_condition", "must be a string in pandas query syntax", by_gx=False))
    parser = kwargs.get("condition_parser")
    if parser is not None and parser not in CONDITION_PARSERS:
        found.append(Refusal("condition_parser", f"{parser!r}: use 'pandas' (GX knows {', '.join(CONDITION_PARSERS)})"))
    if name == "expect_compound_columns_to_be_unique":
        columns = kwargs.get("column_list")
        if not isinstance(columns, (list, tuple)) or len(columns) < 2:
            found.append(Refusal("column_list", "must contain at least two columns"))
        if "ignore_row_if" in kwargs and kwargs["ignore_row_if"] not in IGNORE_ROW_IF:
            found.append(Refusal("ignore_row_if", f"{kwargs['ignore_row_if']!r}: one of {', '.join(IGNORE_ROW_IF)}"))
    if found:
        return found
    both_missing = kwargs.get("min_value") is None and kwargs.get("max_value") is None
    if both_missing and name in ("expect_column_values_to_be_between", "expect_column_value_lengths_to_be_between"):
        found.append(Refusal("min_value", "min_value and max_value cannot both be None"))
    if name == "expect_table_row_count_to_be_between":
        low, high = coerce(kwargs.get("min_value"), bound), coerce(kwargs.get("max_value"), bound)
        if low is not None and high is not None and _greater(low, high):
            found.append(Refusal("min_value", f"min_value ({low}) must be less than or equal to max_value ({high})"))
    return found


def _greater(low: Any, high: Any) -> bool:
    """``low > high`` as Python says it; values Python cannot order count as refused too."""
    try:
        return bool(low > high)
    except TypeError:
        return True


def _condition_refusals(kw: Mapping[str, Any], kinds: Mapping[str, str]) -> list[Refusal]:
    condition = kw.get("row_condition")
    if not condition:
        return []
    parser = kw.get("condition_parser")
    if parser not in (None, "pandas"):
        return [Refusal("condition_parser", f"{parser!r}: GX reads a data frame's row_condition with 'pandas' only")]
    try:
        parse_condition(condition, kinds)
    except ConditionError as exc:
        return [Refusal("row_condition", str(exc), exc.by_gx)]
    return []


def _compound_refusals(kw: Mapping[str, Any]) -> list[Refusal]:
    return []  # GX's refusals of compound uniqueness are all made at instantiation


def _row_count_refusals(kw: Mapping[str, Any]) -> list[Refusal]:
    # GX compares the row count (an int) with the bounds: a datetime bound raises
    return [
        Refusal(key, f"{kw[key]!r}: a row count is compared with whole numbers")
        for key in ("min_value", "max_value")
        if isinstance(kw.get(key), datetime)
    ]


def _bound_problem(bound: Any, kind: str) -> str | None:
    """Why GX cannot compare a column value (or aggregate) of ``kind`` with ``bound``, if it cannot."""
    if bound is None:
        return None
    if kind == "string":
        return "a string column's values cannot be compared with a number or a date"
    if kind in NUMERIC:
        return None if isinstance(bound, float) else f"a {kind} column is compared with numbers"
    # date columns become pandas datetime64 (naive Timestamps); timestamps are aware
    if not isinstance(bound, datetime):
        return f"a {_kind(kind)} column is compared with date-times: write {_example(kind)}"
    aware = bound.tzinfo is not None
    if aware != (kind == "timestamp"):
        offset = "without" if aware else "with"
        return f"a {_kind(kind)} column is compared with date-times {offset} an offset: write {_example(kind)}"
    return None


def _example(kind: str) -> str:
    return "'2024-01-31T00:00:00+00:00'" if kind == "timestamp" else "'2024-01-31T00:00:00'"


def _values_between_refusals(kw: Mapping[str, Any], kind: str) -> list[Refusal]:
    low, high = kw.get("min_value"), kw.get("max_value")
    if low is not None and high is not None and _greater(low, high):
        return [Refusal("min_value", "min_value cannot be greater than max_value")]
    return [
        Refusal(key, f"{kw[key]!r}: {problem}")
        for key in ("min_value", "max_value")
        if (problem := _bound_problem(kw.get(key), kind))
    ]


def _aggregate_refusals(name: str, kw: Mapping[str, Any], kind: str) -> list[Refusal]:
    extremes = ("expect_column_max_to_be_between", "expect_column_min_to_be_between")
    if name not in extremes and (kind in TEMPORAL or kind == "string"):
        what = name.removeprefix("expect_column_").removesuffix("_to_be_between")
        return [Refusal("column", f"the {what} of a {_kind(kind)} column", by_gx=False)]
    return [
        Refusal(key, f"{kw[key]!r}: {problem}")
        for key in ("min_value", "max_value")
        if (problem := _bound_problem(kw.get(key), kind))
    ]


def _regex_refusals(kw: Mapping[str, Any], kind: str) -> list[Refusal]:
    # GX matches with pandas' str.contains, which (pandas 3, Arrow strings) runs RE2 and falls back
    # to Python's re only for what RE2 lacks or reads differently. A pattern Python's re cannot
    # read, or one RE2 cannot compile and pandas would still give it (possessive or atomic groups,
    # repeats over 1000, (?x)...), has no certain answer: GX raises or answers depending on the data
    problem = regex_problem(kw["regex"])
    if problem:
        return [Refusal("regex", f"{kw['regex']!r}: {problem}", by_gx=False)]
    if kind not in ("string", "integer", "boolean"):
        return [Refusal("regex", f"a regex on a {_kind(kind)} column (GX matches its text form)", by_gx=False)]
    return []


# ---------------------------------------------------------------------------------------------
# row_condition: GX's pandas parser, for the forms `column == value` and `column in [values]`


class ConditionError(ValueError):
    """A row_condition Lockgate cannot evaluate exactly as pandas does."""

    def __init__(self, message: str, by_gx: bool = False) -> None:
        super().__init__(message)
        self.by_gx = by_gx


@dataclass(frozen=True)
class Condition:
    """A parsed ``row_condition``: the rows whose ``column`` equals one of ``values``.

    ``values`` keeps only the literals pandas can find equal to the column's values: strings for
    a string column, numbers (``True`` is 1) for a numeric or boolean one; the others never match.
    """

    column: str
    operator: str
    values: tuple[Any, ...]
    literal: Any


_ROW_CONDITION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)(?:\s*(==)|\s+(in)\b)\s*(.+?)\s*$")


def parse_condition(condition: str, kinds: Mapping[str, str] | None = None) -> Condition:
    """Parse a GX pandas ``row_condition`` of the forms ``col == "v"`` and ``col in ["a", "b"]``.

    With ``kinds`` (column name -> kind), a comparison pandas would answer differently from SQL
    (a date column, say) is refused.
    """
    match = _ROW_CONDITION.match(condition)
    if not match:
        raise ConditionError(f"row_condition {condition!r}: use `column == value` or `column in [values]`")
    column, equals, is_in, raw_value = match.groups()
    operator = equals or is_in
    if kinds is not None and column not in kinds:
        raise ConditionError(f"row_condition {condition!r}: unknown column {column!r}", by_gx=True)
    try:
        value = ast.literal_eval(raw_value)
    except (ValueError, SyntaxError):
        raise ConditionError(f"row_condition {condition!r}: {raw_value!r} is not a literal") from None
    scalar = (str, int, float, bool)
    if operator == "==":
        if not isinstance(value, scalar):
            raise ConditionError(f"row_condition {condition!r}: `==` needs a single string or number")
        values: tuple[Any, ...] = (value,)
    elif not isinstance(value, (list, tuple)) or not all(isinstance(v, scalar) for v in value):
        raise ConditionError(f"row_condition {condition!r}: `in` needs a list of strings or numbers")
    else:
        values = tuple(value)
    kind = kinds.get(column) if kinds is not None else None
    if kind in TEMPORAL:
        raise ConditionError(
            f"row_condition {condition!r}: compares the {_kind(kind)} column {column!r} (pandas parses the text)"
        )
    if any(isinstance(v, float) and not math.isfinite(v) for v in values):
        raise ConditionError(f"row_condition {condition!r}: compares with a number that is not finite")
    return Condition(column, operator, values, value)


def same_family(value: Any, kind: str | None) -> bool:
    """Whether pandas can find ``value`` equal to a value of a column of ``kind`` (None: unknown)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False  # a missing value is never one of a check's values
    if kind == "string":
        return isinstance(value, str)
    if kind in NUMERIC:
        return isinstance(value, (int, float)) and not isinstance(value, str)
    return True


# ---------------------------------------------------------------------------------------------
# regexes: GX matches with Python's re.search; DuckDB runs RE2. Translate what reads the same.

_RE2_LACKS = ("POSSESSIVE_REPEAT", "ATOMIC_GROUP", "GROUPREF_EXISTS")
_FLAGS_RE2_READS = re.IGNORECASE | re.MULTILINE | re.DOTALL | re.UNICODE


def regex_problem(regex: str) -> str | None:
    """Why a regex has no certain GX answer (None: GX answers it, with Python's re semantics)."""
    try:
        import re._parser as sre_parse  # Python 3.11+

        parsed = sre_parse.parse(regex)
    except re.error as exc:
        return f"not a valid regular expression: {exc}"
    except RecursionError:
        return "nested too deeply"
    from re import _constants as c  # type: ignore[attr-defined]  # Python's own regex parser

    if parsed.state.flags & ~_FLAGS_RE2_READS:
        return "uses a flag RE2 lacks (x, a or L): pandas would give it to RE2, which refuses it"
    for op, av in _walk(list(parsed)):
        if str(op) in _RE2_LACKS:
            return f"uses {str(op).lower().replace('_', ' ')}, which RE2 lacks: pandas would give it to RE2"
        if op in (c.MAX_REPEAT, c.MIN_REPEAT) and max(av[0], 0 if av[1] is c.MAXREPEAT else av[1]) > _MAX_RE2_REPEAT:
            return f"repeats more than {_MAX_RE2_REPEAT} times, which RE2 refuses"
        if op is c.SUBPATTERN and av[1] & ~_FLAGS_RE2_READS:
            return "uses a flag RE2 lacks (x, a or L): pandas would give it to RE2, which refuses it"
    return None


def _walk(items: list[Any]) -> Any:
    """Every (op, argument) node of a parsed regex, nested ones included."""
    from re import _constants as c  # type: ignore[attr-defined]

    for op, av in items:
        yield op, av
        if op is c.SUBPATTERN:
            yield from _walk(list(av[3]))
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            yield from _walk(list(av[2]))
        elif op is c.BRANCH:
            for alternative in av[1]:
                yield from _walk(list(alternative))
        elif op in (c.ASSERT, c.ASSERT_NOT):
            yield from _walk(list(av[1]))
        elif op is c.ATOMIC_GROUP:
            yield from _walk(list(av))
        elif op is c.GROUPREF_EXISTS:
            yield from _walk(list(av[1]))
            if av[2] is not None:
                yield from _walk(list(av[2]))


_MAX_RE2_REPEAT = 1000


def re2_pattern(regex: str) -> str | None:
    """An RE2 pattern that finds a match in exactly the strings ``re.search(regex, s)`` does.

    ``None`` when the regex uses what RE2 lacks or reads differently (lookaround, backreferences,
    ``\\b``, ``\\w``, ``\\s``, flags, possessive and atomic groups, ``$`` not at the end, ...).
    ``\\d`` is any Unicode decimal digit in Python: ``\\p{Nd}``; ``$`` at the end also matches
    before a final newline: ``\\n?\\z``; ``.`` is any character but a newline.
    """
    try:
        import re._parser as sre_parse  # Python 3.11+

        parsed = sre_parse.parse(regex)
    except (re.error, ImportError, RecursionError):
        return None
    if parsed.state.flags & ~re.UNICODE:
        return None
    try:
        return _sequence(list(parsed), tail=True)
    except _Untranslatable:
        return None


class _Untranslatable(Exception):
    pass


def _char(code: int) -> str:
    return f"\\x{{{code:x}}}"


def _sequence(items: list[Any], tail: bool) -> str:
    return "".join(_node(op, av, tail and i == len(items) - 1) for i, (op, av) in enumerate(items))


def _node(op: Any, av: Any, tail: bool) -> str:
    from re import _constants as c  # type: ignore[attr-defined]  # Python's own regex parser

    if op is c.LITERAL:
        return _char(av)
    if op is c.NOT_LITERAL:
        return f"[^{_char(av)}]"
    if op is c.ANY:
        return "[^\\n]"
    if op is c.IN:
        return _char_class(av)
    if op in (c.MAX_REPEAT, c.MIN_REPEAT):
        low, high, item = av
        if low > _MAX_RE2_REPEAT or (high is not c.MAXREPEAT and high > _MAX_RE2_REPEAT):
            raise _Untranslatable
        top = "" if high is c.MAXREPEAT else str(high)
        lazy = "?" if op is c.MIN_REPEAT else ""
        return f"(?:{_sequence(list(item), tail=False)}){{{low},{top}}}{lazy}"
    if op is c.SUBPATTERN:
        _group, add_flags, del_flags, item = av
        if add_flags or del_flags:
            raise _Untranslatable
        return f"(?:{_sequence(list(item), tail)})"
    if op is c.BRANCH:
        return "(?:" + "|".join(_sequence(list(alt), tail) for alt in av[1]) + ")"
    if op is c.AT:
        if av in (c.AT_BEGINNING, c.AT_BEGINNING_STRING):
            return "^"
        if av is c.AT_END_STRING:
            return "\\z"
        if av is c.AT_END and tail:
            return "\\n?\\z"  # Python's $ also matches before a final newline
    raise _Untranslatable


def _char_class(items: list[Any]) -> str:
    from re import _constants as c  # type: ignore[attr-defined]  # Python's own regex parser

    parts = []
    negate = ""
    for op, av in items:
        if op is c.NEGATE:
            negate = "^"
        elif op is c.LITERAL:
            parts.append(_char(av))
        elif op is c.RANGE:
            parts.append(f"{_char(av[0])}-{_char(av[1])}")
        elif op is c.CATEGORY and av is c.CATEGORY_DIGIT:
            parts.append("\\p{Nd}")
        elif op is c.CATEGORY and av is c.CATEGORY_NOT_DIGIT:
            parts.append("\\P{Nd}")
        else:
            raise _Untranslatable
    if not parts:
        raise _Untranslatable
    return f"[{negate}{''.join(parts)}]"


def is_iso_bound(value: Any) -> bool:
    """Whether ``value`` is a date or date-time (GX's coercion of an ISO string bound)."""
    return isinstance(value, (date, datetime))
