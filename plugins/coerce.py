"""Typing raw strings to contract types, as DuckDB SQL: one typed expression and its problems per column.

The gate reads every source value as a string; this module decides what each contract type accepts
(documented, with examples, in ``include/contracts/README.md`` "What each type accepts"). Typing is
strict and declared: a value is accepted only in the syntax its type documents (ISO 8601 dates and
timestamps unless the column declares ``format``), and only within the range every supported
warehouse (PostgreSQL, Redshift, DuckDB) stores, so a value the gate passes loads everywhere.

A value that does not type is NULL in the typed row and gives the row a *problem*: a struct
``{check, column, reason}`` the gate collects per row and turns into a quarantine reason naming the
column, the value and what was expected. Checks: ``type`` (not in the accepted syntax), ``range``
(readable, but outside what every warehouse stores), ``finite`` (NaN or infinity), ``not_null``
(missing in a non-nullable column), ``nul`` (a string holding U+0000).

Most values arrive in one canonical form (``2026-01-02T03:00:00Z``, ``12.5``). For those a *fast
path* reads the value with one cast after a GLOB or one regex over the raw text, and the exact
typing runs only for the other values (:func:`_fast_path`); both give the same values and problems
(``tests/unit/test_coerce_fast_path.py`` compares them over generated hostile values).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lockgate.sql import ident, literal

if TYPE_CHECKING:
    from lockgate.contracts import Column

#: how much of a raw value a quarantine reason quotes (the whole record is kept next to it)
REASON_VALUE_CHARS = 200
#: the gate's column holding each row's source zone (``RawFile.source_timezone``; NULL: none declared)
SOURCE_TZ_COLUMN = "_tz"

#: what counts as whitespace around a value, and as a blank value: exactly Python's ``str.isspace()``
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)

# ------------------------------------------------------------------------------ accepted syntax
#: integer: optional sign, digits, and a fraction of zeros only ("7.0" from a float export is 7; "7.5" is not)
INTEGER_SYNTAX = r"[+-]?[0-9]+(\.0*)?"
#: double: optional sign, digits with an optional fraction (or a fraction alone), optional exponent
DOUBLE_SYNTAX = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?"
#: spellings of NaN and infinity (case-insensitive): read, then quarantined as not finite
NON_FINITE_SYNTAX = r"[+-]?(inf|infinity|nan)"
BOOLEAN_TRUE = ("true", "t", "1")
BOOLEAN_FALSE = ("false", "f", "0")
#: ISO 8601 as accepted without a declared format (hours 00-23, minutes and seconds 00-59; a
#: fraction finer than microseconds only when its extra digits are zeros, so nothing is truncated)
ISO_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
ISO_TIME = r"[Tt ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6}0*)?)?"
ISO_OFFSET = r"([Zz]|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)"

# ------------------------------------------------------------------------------ canonical forms
# The fast path (see _fast_path): a value whose whole raw text matches one of these is read by a
# single cast, and the exact typing above would give it the same value and no problem: each is a
# subset of its type's accepted syntax, without whitespace (so trimming changes nothing), without
# lower case (so upper()/lower() change nothing), and short enough that it cannot leave the range.
#: at most 18 digits: within BIGINT
FAST_INTEGER = r"[+-]?[0-9]{1,18}"
#: at most 15+15 digits and a 2-digit exponent: finite, and 0 or at least 1e-114 (a normal double)
FAST_DOUBLE = r"[+-]?[0-9]{1,15}(\.[0-9]{0,15})?([eE][+-]?[0-9]{1,2})?"
#: years 1000-2999: within the range in UTC whatever the offset
FAST_YEAR = "[12][0-9]{3}"
FAST_DATE = FAST_YEAR + "-[0-9]{2}-[0-9]{2}"
#: an ISO timestamp with an offset (a naive one depends on the zone: the exact path reads it)
FAST_TIMESTAMP = FAST_DATE + ISO_TIME.replace("[Tt ]", "[T ]") + ISO_OFFSET.replace("[Zz]", "Z")
#: a string value starting with one of these code points is not blank (printable ASCII, no space)
PLAIN_START = (33, 126)

# The commonest canonical values are told by a GLOB before the regex (see _canonical): DuckDB
# matches a GLOB of fixed characters and classes in ~1/3 of the regex's time. Each GLOB's strings
# are a subset of its type's canonical form above, or (plain digits) read alike by the exact typing.
_DIGIT = "[0-9]"
#: the dates of FAST_DATE exactly
GLOB_DATE = "[12]" + _DIGIT * 3 + "-" + _DIGIT * 2 + "-" + _DIGIT * 2
#: FAST_TIMESTAMP's values with seconds, no fraction and Z (hours 00-19, then 20-23: GLOB has no "|")
GLOB_TIMESTAMPS = tuple(f"{GLOB_DATE}T{hour}:[0-5]{_DIGIT}:[0-5]{_DIGIT}Z" for hour in (f"[01]{_DIGIT}", "2[0-3]"))
#: a value with a character other than a digit or a dot (GLOB has no "+": its negation is "only those")
GLOB_NOT_DIGITS_OR_DOT = "*[!0-9.]*"
#: plain digits and one dot of at most this many characters read as a finite double, 0 or at least
#: 1e-30 (a normal double): no range problem; a second dot or no digit does not cast
PLAIN_DOUBLE_CHARS = 31
#: plain digits of at most this many characters are within BIGINT
PLAIN_INTEGER_CHARS = 18

INTEGER_RANGE = (-(2**63), 2**63 - 1)  # BIGINT: the contract's integer in every dialect (lockgate.sql.SQL_TYPES)
DOUBLE_MAX = "1.7976931348623157e308"
#: the smallest normal double: a smaller non-zero magnitude is stored with lost digits (subnormal) or as 0.0
DOUBLE_MIN_NORMAL = "2.2250738585072014e-308"
REDSHIFT_VARCHAR_BYTES = 65535  # Redshift's longest VARCHAR; PostgreSQL and DuckDB store more
DATE_RANGE = ("0001-01-01", "9999-12-31")
TIMESTAMP_RANGE = ("0001-01-01 00:00:00+00", "9999-12-31 23:59:59.999999+00")

EXPECTED = {
    "integer": "a whole number like 42 or -7",
    "double": "a number like 1.5, -2 or 6.02e23",
    "boolean": "true, false, t, f, 1 or 0",
    "date": "YYYY-MM-DD",
    "timestamp": "ISO 8601 YYYY-MM-DD[THH:MM[:SS[.ffffff]][Z|±HH:MM]]",
}

# ------------------------------------------------------------------------------ declared formats
#: strptime directives a declared ``format`` may use -> the RE2 pattern a value must match there
#: (stricter than DuckDB's strptime, which takes "11" for %Y and skips extra spaces)
DATE_DIRECTIVES = {
    "Y": "[0-9]{4}",
    "y": "[0-9]{2}",
    "m": "[0-9]{1,2}",
    "d": "[0-9]{1,2}",
    "b": "[A-Za-z]{3}",
    "B": "[A-Za-z]{3,9}",
    "%": "%",
}
TIME_DIRECTIVES = {
    "H": "([01]?[0-9]|2[0-3])",
    "I": "(0?[1-9]|1[0-2])",
    "p": "[AaPp][Mm]",
    "M": "[0-5]?[0-9]",
    "S": "[0-5]?[0-9]",
    "f": "[0-9]{1,6}",
    "z": "([Zz]|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)",
}
_DIRECTIVE = re.compile(r"%(.?)", re.DOTALL)


def format_parts(fmt: str) -> list[tuple[bool, str]]:
    """A strptime format as ``(is_directive, text)`` parts: ``"%d/%m"`` -> ``[(T, "d"), (F, "/"), (T, "m")]``."""
    parts: list[tuple[bool, str]] = []
    at = 0
    for match in _DIRECTIVE.finditer(fmt):
        if match.start() > at:
            parts.append((False, fmt[at : match.start()]))
        parts.append((True, match.group(1)))
        at = match.end()
    if at < len(fmt):
        parts.append((False, fmt[at:]))
    return parts


def format_error(fmt: str, ctype: str) -> str | None:
    """Why ``fmt`` cannot be a declared format of a ``ctype`` column (None: it can).

    A format must name the year, month and day once each; a date's holds no time of day; ``%I``
    needs ``%p``; a literal ``Z`` would be read as local time (``%z`` accepts ``Z``).
    """
    allowed = DATE_DIRECTIVES | (TIME_DIRECTIVES if ctype == "timestamp" else {})
    directives = [text for is_directive, text in format_parts(fmt) if is_directive]
    for d in directives:
        if d not in allowed:
            where = "in a date format (declare the column a timestamp for a time of day)"
            if d in TIME_DIRECTIVES:
                return f"%{d} is not allowed {where}"
            supported = " ".join(f"%{k}" for k in allowed)
            return f"%{d} is not a supported directive" + (" (a lone % at the end)" if not d else f"; use {supported}")
    used = [d for d in directives if d != "%"]
    repeated = sorted({d for d in used if used.count(d) > 1})
    if repeated:
        return f"%{repeated[0]} appears twice"
    for needed, names in (("a year", "Yy"), ("a month", "mbB"), ("a day", "d")):
        if sum(d in names for d in used) != 1:
            return f"must name {needed} once ({' or '.join('%' + n for n in names)})"
    if ("I" in used) != ("p" in used):
        return "%I (12-hour clock) and %p (AM/PM) go together"
    if "H" in used and "I" in used:
        return "%H and %I both give the hour"
    if any(not is_directive and "Z" in text.upper() for is_directive, text in format_parts(fmt)):
        return "a literal Z would be read as local time; use %z, which accepts Z and +HH:MM"
    return None


def format_regex(fmt: str) -> str:
    """The RE2 pattern a whole value must match to be read with ``fmt`` (checked by :func:`format_error`)."""
    pattern = []
    for is_directive, text in format_parts(fmt):
        if is_directive:
            pattern.append((DATE_DIRECTIVES | TIME_DIRECTIVES)[text])
        else:
            pattern.extend(ch if ch.isascii() and ch.isalnum() else f"\\x{{{ord(ch):x}}}" for ch in text)
    return "".join(pattern)


def expected_text(column: Column) -> str:
    """What a ``column``'s values must look like, as a quarantine reason says it."""
    if column.formats:
        listed = ", ".join(column.formats)
        return f"format {listed}" if len(column.formats) == 1 else f"one of the formats {listed}"
    return EXPECTED[column.type]


# ------------------------------------------------------------------------------ SQL building blocks
def shown(expr: str) -> str:
    """A value as a reason quotes it: a 20 MB field must not make a 20 MB reason."""
    return (
        f"CASE WHEN length({expr}) > {REASON_VALUE_CHARS} "
        f"THEN left({expr}, {REASON_VALUE_CHARS}) || format('... ({{}} chars)', length({expr})) ELSE {expr} END"
    )


class Problem(str):
    """SQL of a problem struct (a ``str``), with its bare ``condition`` alongside.

    The gate first asks whether a row has any problem, from the conditions alone, and builds the
    list of problem structs only for the rows that have one: most rows have none, and a list of
    (NULL) structs per row costs more than all the typing.
    """

    condition: str
    #: the struct itself (what the CASE gives when ``condition`` holds)
    struct: str

    def __new__(cls, condition: str, struct: str) -> Problem:
        made = super().__new__(cls, f"CASE WHEN {condition} THEN {struct} END")
        made.condition = condition
        made.struct = struct
        return made


def problem(check: str, column: str | None, condition: str, reason_sql: str) -> Problem:
    """A problem struct when ``condition`` holds (else NULL): the gate's unit of a quarantine reason."""
    col = literal(column) if column else "NULL::VARCHAR"
    return Problem(condition, f"{{'check': {literal(check)}, 'column': {col}, 'reason': {reason_sql}}}")


def any_problem(problems: Sequence[str]) -> str:
    """SQL: whether any of ``problems`` holds (from their bare conditions where known); FALSE for none."""
    conditions = [_condition(p) for p in problems]
    # a CASE condition, not coalesce(): DuckDB evaluates a WHEN with short-circuiting (a row whose
    # first conditions settle it skips the rest), but every argument of a function for every row
    return f"CASE WHEN {' OR '.join(conditions)} THEN true ELSE false END" if conditions else "false"


def trimmed(raw: str) -> str:
    """The value without surrounding whitespace (:data:`WHITESPACE`): what typed columns read."""
    # trim() with a set of characters is ~15x slower than these two lookups: only trim what needs it
    ws = literal(WHITESPACE)
    padded = f"contains({ws}, left({raw}, 1)) OR contains({ws}, right({raw}, 1))"
    return f"(CASE WHEN {padded} THEN trim({raw}, {ws}) ELSE {raw} END)"


def is_blank(raw: str) -> str:
    """SQL: the raw value is missing (NULL, empty or whitespace only)."""
    return f"({raw} IS NULL OR {trimmed(raw)} = '')"


def _reason(name: str, template: str, raw: str) -> str:
    """``column <name>: <template>`` with the quoted raw value in place of ``{}``."""
    # the first {} is the value; a declared format quoted after it may hold braces of its own: text
    parts = f"column {name}: {template}".split("{}", 1)
    escaped = "{}".join(part.replace("{", "{{").replace("}", "}}") for part in parts)
    return f"format({literal(escaped)}, {shown(raw)})"


@dataclass
class Typing:
    """A column's typed expression and the problems typing it can give.

    ``layers`` are helper values computed once per row before the typed expression (a trimmed
    value, a parsed timestamp): each layer maps an alias to SQL that may use the layers before it.
    Without them a parsed value would be spelled, and evaluated, in every place that uses it
    (DuckDB does not share a subexpression between the branches of a CASE).
    """

    typed: str
    problems: list[str] = field(default_factory=list)
    layers: list[dict[str, str]] = field(default_factory=list)
    #: SQL of the typed value of a raw value already in its canonical form (see :func:`_fast_path`),
    #: NULL for any other value; None: the type has no fast path
    fast: str | None = None


def _helper(col: Column, what: str) -> str:
    """The alias of a helper value of a column (see :attr:`Typing.layers`)."""
    return f"__lockgate_{what}:{col.name}"


# ------------------------------------------------------------------------------ per type
def _canonical(raw: str, sql_type: str, globs: Sequence[str], regex: str | None = None) -> str:
    """SQL: the :attr:`Typing.fast` value of ``raw``: its cast when a GLOB condition, else ``regex``,
    says it is canonical (NULL for any other value, and for one the cast refuses)."""
    cast = f"TRY_CAST({raw} AS {sql_type})"
    # a CASE tries its conditions in turn for the rows still left: the regex only sees what no GLOB took
    tests = [*globs, *([f"regexp_full_match({raw}, {literal(regex)})"] if regex else [])]
    return "CASE " + " ".join(f"WHEN {test} THEN {cast}" for test in tests) + " END"


def _string(col: Column, raw: str) -> Typing:
    # PostgreSQL text cannot hold U+0000 (the load would fail on COPY), and in a partition value it
    # would reach a lake key: a NUL is corrupt input whatever the warehouse
    nul = problem(
        "nul", col.name, f"contains({raw}, chr(0))", literal(f"column {col.name}: contains a NUL character (U+0000)")
    )
    limit = REDSHIFT_VARCHAR_BYTES
    message = f"column {col.name}: a value of {{}} bytes is longer than the {limit} bytes Redshift stores: {{}}"
    too_long = problem(
        "range", col.name, f"strlen({raw}) > {limit}", f"format({literal(message)}, strlen({raw}), {shown(raw)})"
    )
    # kept as received (never trimmed); only the empty string is no value
    return Typing(f"NULLIF({raw}, '')", [nul, too_long])


def _integer(col: Column, raw: str) -> Typing:
    value, syntax, typed = (ident(_helper(col, w)) for w in ("value", "syntax", "typed"))
    layers = [
        {_helper(col, "value"): trimmed(raw)},
        {_helper(col, "syntax"): f"regexp_full_match({value}, {literal(INTEGER_SYNTAX)})"},
        # TRY_CAST is only asked for what the syntax allows; NULL then means beyond BIGINT
        {_helper(col, "typed"): f"CASE WHEN {syntax} THEN TRY_CAST({value} AS BIGINT) END"},
    ]
    low, high = INTEGER_RANGE
    plain = f"strlen({raw}) <= {PLAIN_INTEGER_CHARS} AND NOT ({raw} GLOB '*[!0-9]*')"
    fast = _canonical(raw, "BIGINT", [plain], FAST_INTEGER)
    return Typing(
        typed,
        [
            problem(
                "type",
                col.name,
                f"{value} <> '' AND NOT {syntax}",
                _reason(col.name, f"cannot read {{}} as integer (expected {EXPECTED['integer']})", raw),
            ),
            problem(
                "range",
                col.name,
                f"{syntax} AND ({typed}) IS NULL",
                _reason(col.name, f"{{}} is outside the integer range {low} to {high} (BIGINT)", raw),
            ),
        ],
        layers,
        fast,
    )


def _double(col: Column, raw: str) -> Typing:
    value, syntax, parsed = (ident(_helper(col, w)) for w in ("value", "syntax", "parsed"))
    non_finite = f"regexp_full_match(lower({value}), {literal(NON_FINITE_SYNTAX)})"
    layers = [
        {_helper(col, "value"): trimmed(raw)},
        {_helper(col, "syntax"): f"regexp_full_match({value}, {literal(DOUBLE_SYNTAX)})"},
        {_helper(col, "parsed"): f"(CASE WHEN {syntax} THEN TRY_CAST({value} AS DOUBLE) END)"},
    ]
    # overflow reads as +-inf, underflow as 0.0 or a subnormal with lost digits: a non-zero digit
    # before the exponent must give at least the smallest normal double
    mantissa_non_zero = f"regexp_matches(regexp_extract({value}, '^[^eE]*'), '[1-9]')"
    in_range = (
        f"(CASE WHEN NOT isfinite({parsed}) THEN false WHEN abs({parsed}) >= {DOUBLE_MIN_NORMAL} THEN true "
        f"ELSE NOT {mantissa_non_zero} END)"
    )
    plain = f"strlen({raw}) <= {PLAIN_DOUBLE_CHARS} AND NOT ({raw} GLOB {literal(GLOB_NOT_DIGITS_OR_DOT)})"
    fast = _canonical(raw, "DOUBLE", [plain], FAST_DOUBLE)
    return Typing(
        f"CASE WHEN {in_range} THEN {parsed} END",
        [
            problem(
                "type",
                col.name,
                f"{value} <> '' AND NOT {syntax} AND NOT {non_finite}",
                _reason(col.name, f"cannot read {{}} as double (expected {EXPECTED['double']})", raw),
            ),
            problem("finite", col.name, non_finite, _reason(col.name, "{} is not a finite number", raw)),
            problem(
                "range",
                col.name,
                f"{syntax} AND NOT {in_range}",
                _reason(
                    col.name,
                    f"{{}} is outside the double range (0, or a magnitude from {DOUBLE_MIN_NORMAL} to {DOUBLE_MAX})",
                    raw,
                ),
            ),
        ],
        layers,
        fast,
    )


def _boolean(col: Column, raw: str) -> Typing:
    value = ident(_helper(col, "value"))
    words = ", ".join(literal(w) for w in BOOLEAN_TRUE)
    no_words = ", ".join(literal(w) for w in BOOLEAN_FALSE)
    typed = f"CASE WHEN {value} IN ({words}) THEN true WHEN {value} IN ({no_words}) THEN false END"
    return Typing(
        typed,
        [
            problem(
                "type",
                col.name,
                f"{value} <> '' AND ({typed}) IS NULL",
                _reason(col.name, f"cannot read {{}} as boolean (expected {EXPECTED['boolean']})", raw),
            )
        ],
        [{_helper(col, "value"): f"lower({trimmed(raw)})"}],
        f"CASE WHEN {raw} IN ({words}) THEN true WHEN {raw} IN ({no_words}) THEN false END",
    )


def _date(col: Column, raw: str) -> Typing:
    value, parsed = ident(_helper(col, "value")), ident(_helper(col, "parsed"))
    if col.formats:
        parsers = [
            f"CASE WHEN regexp_full_match({value}, {literal(format_regex(f))}) "
            f"THEN CAST(try_strptime({value}, {literal(f)}) AS DATE) END"
            for f in col.formats
        ]
    else:
        parsers = [f"CASE WHEN regexp_full_match({value}, {literal(ISO_DATE)}) THEN TRY_CAST({value} AS DATE) END"]
    layers = [
        {_helper(col, "value"): trimmed(raw)},
        {_helper(col, "parsed"): parsers[0] if len(parsers) == 1 else f"COALESCE({', '.join(parsers)})"},
    ]
    low, high = DATE_RANGE
    in_range = f"({parsed}) BETWEEN DATE '{low}' AND DATE '{high}'"
    fast = None
    if not col.formats:
        fast = _canonical(raw, "DATE", [f"{raw} GLOB {literal(GLOB_DATE)}"])
    return Typing(
        f"CASE WHEN {in_range} THEN {parsed} END",
        [
            problem(
                "type",
                col.name,
                f"{value} <> '' AND ({parsed}) IS NULL",
                _reason(col.name, f"cannot read {{}} as date (expected {expected_text(col)})", raw),
            ),
            problem(
                "range",
                col.name,
                f"NOT {in_range}",
                _reason(col.name, f"{{}} is outside the dates every warehouse stores ({low} to {high})", raw),
            ),
        ],
        layers,
        fast,
    )


def _timestamp_parsers(col: Column, value: str, zone: str) -> str:
    """SQL of ``{utc, local}`` from the first of the column's readers that reads ``value`` (else NULL)."""
    # (pattern, SQL reading the matching value, whether it carries its own offset)
    readers: list[tuple[str, str, bool]]
    if col.formats:
        readers = []
        for f in col.formats:
            aware = "%z" in f
            # DuckDB's %z takes +HH[:MM] but not Z ('g': every Z, as the Spark engine's regexp_replace does;
            # a value the format's pattern takes has one at most)
            text = f"regexp_replace({value}, '[Zz]', '+00:00', 'g')" if aware else value
            readers.append((format_regex(f), f"try_strptime({text}, {literal(f)})", aware))
    else:
        readers = [
            (ISO_DATE + ISO_TIME + ISO_OFFSET, f"TRY_CAST(upper({value}) AS TIMESTAMPTZ)", True),
            (f"{ISO_DATE}({ISO_TIME})?", f"TRY_CAST(upper({value}) AS TIMESTAMP)", False),
        ]
    parsers = []
    for pattern, read, aware in readers:
        pair = (
            f"{{'utc': {read}, 'local': NULL::TIMESTAMP}}"
            if aware
            else f"{{'utc': timezone({zone}, {read}), 'local': {read}}}"
        )
        parsers.append(
            f"CASE WHEN regexp_full_match({value}, {literal(pattern)}) AND ({read}) IS NOT NULL THEN {pair} END"
        )
    return parsers[0] if len(parsers) == 1 else f"COALESCE({', '.join(parsers)})"


def _timestamp(col: Column, raw: str) -> Typing:
    """A timestamp: ``{utc, local}`` from the first parser that reads the value, then checked.

    Naive values are local time in the column's ``timezone``, else the source's, else UTC. A naive
    value that does not exist there (skipped when clocks go forward) is quarantined, not shifted.
    """
    value, parsed = ident(_helper(col, "value")), ident(_helper(col, "parsed"))
    zone = literal(col.timezone) if col.timezone else f"COALESCE({ident(SOURCE_TZ_COLUMN)}, 'UTC')"
    layers = [
        {_helper(col, "value"): trimmed(raw)},
        {_helper(col, "parsed"): _timestamp_parsers(col, value, zone)},
    ]
    utc, local = f"struct_extract({parsed}, 'utc')", f"struct_extract({parsed}, 'local')"
    low, high = TIMESTAMP_RANGE
    in_range = f"({utc} BETWEEN TIMESTAMPTZ '{low}' AND TIMESTAMPTZ '{high}')"
    gap = f"({local} IS NOT NULL AND timezone({zone}, {utc}) <> {local})"
    fast = None
    if not col.formats:
        canonical = " OR ".join(f"{raw} GLOB {literal(g)}" for g in GLOB_TIMESTAMPS)
        fast = _canonical(raw, "TIMESTAMPTZ", [canonical], FAST_TIMESTAMP)
    skipped = f"column {col.name}: {{}} does not exist in {{}} (clocks went forward)"
    zone_reason = f"format({literal(skipped)}, {shown(raw)}, {zone})"
    return Typing(
        f"CASE WHEN {in_range} AND NOT {gap} THEN {utc} END",
        [
            problem(
                "type",
                col.name,
                f"{value} <> '' AND ({parsed}) IS NULL",
                _reason(col.name, f"cannot read {{}} as timestamp (expected {expected_text(col)})", raw),
            ),
            problem("type", col.name, gap, zone_reason),
            problem(
                "range",
                col.name,
                f"NOT {in_range}",
                _reason(
                    col.name, "{} is outside the timestamps every warehouse stores (0001-01-01 to 9999-12-31 UTC)", raw
                ),
            ),
        ],
        layers,
        fast,
    )


_TYPERS = {
    "string": _string,
    "integer": _integer,
    "double": _double,
    "boolean": _boolean,
    "date": _date,
    "timestamp": _timestamp,
}


def typed_column(column: Column, *, required: bool | None = None) -> tuple[str, list[str]]:
    """(typed expression, problem expressions) for one raw string column of the gate's input.

    ``required`` (default: the column is not nullable) adds the ``not_null`` problem for a missing
    value: NULL, empty, or whitespace only (for a string column too: ``"  "`` is no name). A nullable
    string column keeps a whitespace-only value as received. The expressions are self-contained
    (helper values spelled out); :func:`typed_column_layers` gives them with the helpers apart.
    """
    layers, typed, problems = typed_column_layers(column, required=required)
    for layer in reversed(layers):
        for alias, sql in layer.items():
            typed = typed.replace(ident(alias), f"({sql})")
            problems = [p.replace(ident(alias), f"({sql})") for p in problems]
    return typed, problems


def typed_column_layers(
    column: Column, *, required: bool | None = None, fast: bool = True
) -> tuple[list[dict[str, str]], str, list[str]]:
    """(helper layers, typed expression, problem expressions) for one raw string column.

    The expressions use the helpers' aliases (:attr:`Typing.layers`): the gate computes each layer
    in a projection of its own before typing, so a value is trimmed and parsed once per row.
    ``fast=False`` gives the exact typing alone, without the fast path (:func:`_fast_path`): the
    reference the fast path is tested against.
    """
    raw = ident(column.name)
    typing = _TYPERS[column.type](column, raw)
    problems = list(typing.problems)
    if (not column.nullable) if required is None else required:
        plain = f"column {column.name}: missing value in a non-nullable column"
        blank = literal(plain + " (only whitespace)")
        reason = f"CASE WHEN {raw} IS NULL OR {raw} = '' THEN {literal(plain)} ELSE {blank} END"
        condition = is_blank(raw)
        if fast and typing.fast is None:
            # a value starting with a printable ASCII character other than space is not blank: one
            # code point read instead of trimming (a fast path, below, gates the whole condition)
            low, high = PLAIN_START
            condition = f"(CASE WHEN ascii({raw}) BETWEEN {low} AND {high} THEN false ELSE {condition} END)"
        problems.append(problem("not_null", column.name, condition, reason))
    if fast and typing.fast is not None:
        return _fast_path(column, typing.fast, typing, problems)
    return typing.layers, typing.typed, problems


def _fast_path(
    column: Column, fast_sql: str, typing: Typing, problems: list[str]
) -> tuple[list[dict[str, str]], str, list[str]]:
    """The exact typing behind a fast path: one cast for a canonical value, the exact SQL for the rest.

    Most values arrive in one canonical form (``2026-01-02T03:00:00Z``, ``12.5``); for those the
    exact typing (trim, regex, cast, range, and each problem's condition) gives the value
    ``fast_sql`` (:attr:`Typing.fast`) reads and no problem. So the fast value comes first, in a
    layer of its own, and everything exact is asked only where it is NULL: the first exact layer,
    the typed value and every problem (a CASE evaluates its branches only for the rows that take
    them). The results are the exact typing's, row for row (``tests/unit/test_coerce_fast_path.py``).
    """
    name = _helper(column, "fast")
    fast = ident(name)
    # every exact layer, not only the first: a layer over NULLs still runs its regexes and builds its
    # structs for every row, where a CASE whose condition no row of a vector meets does nothing
    gated_layers = [
        {alias: f"(CASE WHEN {fast} IS NULL THEN {sql} END)" for alias, sql in layer.items()} for layer in typing.layers
    ]
    layers = [{name: fast_sql}, *(layer for layer in gated_layers if layer)]
    typed = f"CASE WHEN {fast} IS NOT NULL THEN {fast} ELSE {typing.typed} END"
    # one CASE per problem (not a CASE around the problem's own): a vector with a bad row builds
    # each problem of the row's list for it, and each CASE is work of its own per vector
    gated: list[str] = [
        Problem(f"({fast} IS NULL AND {_condition(p)})", p.struct)
        if isinstance(p, Problem)
        else Problem(f"({fast} IS NULL AND {_condition(p)})", f"({p})")
        for p in problems
    ]
    return layers, typed, gated


def _condition(p: str) -> str:
    """A problem's bare condition, parenthesised (a problem without one holds when it is not NULL)."""
    return f"({p.condition})" if isinstance(p, Problem) else f"(({p}) IS NOT NULL)"
