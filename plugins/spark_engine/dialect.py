"""The gate's SQL, written once for DuckDB, as Spark SQL with the same answers.

The typing rules (:mod:`lockgate.coerce`), the row checks (:mod:`lockgate.row_checks`) and the
table checks (:mod:`lockgate.checks`) are built as DuckDB SQL. The Spark engine does not keep a
second copy of them: :func:`to_spark` parses each statement with sqlglot and rewrites, on the
syntax tree, the few constructs whose Spark spelling means something else, then prints it as
Spark SQL. The rewrites are semantic, not only syntactic (sqlglot's own DuckDB -> Spark output
parses, but differs in answers):

- ``regexp_full_match(x, p)``: ``x RLIKE '^(?:p)\\z'`` (Java's ``$`` would also match before a
  final line break; RE2's full match does not);
- ``format('..{}..', a)``: a concatenation (Spark's ``format_string`` takes ``%s``);
- ``strlen`` (bytes): ``octet_length``; ``isfinite``: not NaN and not infinite;
- ``TRY_CAST(.. AS BIGINT)``: Spark refuses ``+7`` and ``7.0`` which DuckDB reads (the typing's
  syntax check has already allowed only those forms), so the sign and the zero fraction go first;
- ``TRY_CAST(.. AS TIMESTAMPTZ)``: Spark reads ``+0530`` as no offset at all: a colon goes in;
- ``timezone(zone, ts)``: ``to_utc_timestamp`` for a wall time, ``from_utc_timestamp`` for an
  instant (DuckDB picks by the argument's type; here the typing's ``utc`` field is the instant);
- ``strftime``: a Java pattern with its literal letters quoted;
- ``try_strptime(x, fmt)`` (a declared ``format``): not Spark's ``to_timestamp``, whose Java parser
  differs (digit counts, names' case, offsets), but DuckDB's reading rebuilt (:func:`strptime`): a
  Java regex with possessive quantifiers takes what DuckDB's parser takes, and the parts are
  checked and put together with integer arithmetic (Feb 30, hour 24, second 60: NULL);
- ``regexp_replace(x, p, r, 'g')``: Spark's ``regexp_replace``, which replaces every match (without
  ``g`` DuckDB replaces the first only: refused);
- ``$n`` parameters: inlined as literals (Spark SQL binds none here).

What cannot be translated with the same answers raises :class:`Untranslatable` (``strptime``,
which errors where the typing asks ``try_strptime``; a ``try_strptime`` directive or format the
typing does not declare), so the Spark engine refuses a contract rather than answering
differently. The session must run in UTC (:data:`lockgate.spark_engine.connection.ENGINE_CONF`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

import sqlglot
from sqlglot import exp


class Untranslatable(ValueError):
    """DuckDB SQL the Spark engine cannot run with the same answers."""


#: strftime directives -> Java DateTimeFormatter letters (others refuse)
_JAVA_DATE = {"Y": "yyyy", "m": "MM", "d": "dd", "H": "HH", "M": "mm", "S": "ss", "f": "SSSSSS"}


#: translations kept per process, by statement and parameters: a gate run translates its contract's
#: typing and checks (seconds of sqlglot work), and the next run of that contract asks the same
_TRANSLATED: dict[tuple[str, tuple[tuple[type, str], ...]], str] = {}
#: statements kept (the oldest go first): a contract's typing is a few dozen
_TRANSLATED_MAX = 512


def to_spark(sql: str, params: Sequence[Any] = ()) -> str:
    """``sql`` (DuckDB) as Spark SQL with the same answers; ``params`` fill its ``$n`` placeholders."""
    # by type and repr: 1, 1.0 and True are other literals, and a list parameter is no dict key
    key = (sql, tuple((type(value), repr(value)) for value in params))
    found = _TRANSLATED.get(key)
    if found is None:
        found = _translated(sql, params)
        if len(_TRANSLATED) >= _TRANSLATED_MAX:
            del _TRANSLATED[next(iter(_TRANSLATED))]
        _TRANSLATED[key] = found
    return found


def _translated(sql: str, params: Sequence[Any]) -> str:
    # the tree is this function's own from the parse on: transformed and printed in place (sqlglot
    # copies the whole tree for each otherwise, a third of the translation's time)
    tree = sqlglot.parse_one(sql, read="duckdb")
    # parameters first: a rewrite may print a subtree (format's arguments) as text
    tree = tree.transform(
        lambda node: _literal(params[int(str(node.name)) - 1]) if isinstance(node, exp.Placeholder) else node,
        copy=False,
    )
    tree = _rewritten(tree, params)
    return tree.sql(dialect="spark", copy=False)


def _rewritten(tree: exp.Expression, params: Sequence[Any] = ()) -> exp.Expression:
    """``tree`` (rewritten in place) with every rewrite applied (see the module docstring)."""
    # a node a rewrite makes is not visited again, nor are the children it took over: one pass per
    # nesting of rewritten nodes, until nothing changes
    text = tree.sql(dialect="duckdb")
    for _ in range(8):
        changed = False

        def rewrite(node: exp.Expression) -> exp.Expression:
            nonlocal changed
            new = _rewrite(node, params)
            changed = changed or new is not node
            return new

        tree = tree.transform(rewrite, copy=False)
        if not changed:
            break  # no node replaced: the tree is as it was
        after = tree.sql(dialect="duckdb")
        if after == text:
            break
        text = after
    return tree


def expression(sql: str, params: Sequence[Any] = ()) -> str:
    """One DuckDB expression (a typed column, a problem) as a Spark SQL expression."""
    return to_spark(sql, params)


def _rewrite(node: exp.Expression, params: Sequence[Any]) -> exp.Expression:
    if isinstance(node, exp.Glob):
        return exp.RegexpLike(this=node.this, expression=exp.Literal.string(glob_regex(node.expression)))
    if isinstance(node, exp.RegexpFullMatch):
        return exp.RegexpLike(this=node.this, expression=_anchored(node.expression))
    if isinstance(node, exp.Format):
        return _concat_format(node)
    if isinstance(node, exp.TryCast):
        return _try_cast(node)
    if (
        type(node) is exp.Cast
        and node.to.this in (exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT)
        and not node.meta.get("lockgate")
    ):
        return _text(node.this)
    if isinstance(node, exp.Cast) and node.to.is_type("timestamptz") and isinstance(node.this, exp.Literal):
        return exp.cast(exp.Literal.string(_utc_literal(node.this.name)), "TIMESTAMP")
    if isinstance(node, exp.TimeToStr):
        return exp.Anonymous(this="DATE_FORMAT", expressions=[node.this, exp.Literal.string(_java(node))])
    if isinstance(node, exp.Bracket) and len(node.expressions) == 1 and isinstance(node.expressions[0], exp.Slice):
        return _slice(node)
    if isinstance(node, exp.ArrayAgg) and isinstance(node.this, exp.Order):
        return _ordered_list(node.this)
    if isinstance(node, exp.Typeof) and not node.meta.get("lockgate"):
        return _duckdb_typeof(node.this)
    if isinstance(node, exp.RegexpReplace) and node.args.get("single_replace"):
        return _replace_all(node)
    if isinstance(node, exp.Anonymous):
        return _function(node)
    return node


def _replace_all(node: exp.RegexpReplace) -> exp.Expression:
    """DuckDB's ``regexp_replace(x, p, r, 'g')`` (sqlglot marks DuckDB's as ``single_replace``):
    Spark's ``regexp_replace``, which replaces every match and takes no options. Without ``g``
    DuckDB replaces only the first match: refused."""
    options = node.args.get("modifiers")
    if not (isinstance(options, exp.Literal) and options.is_string and options.name == "g"):
        raise Untranslatable(
            f"{node.sql(dialect='duckdb')}: DuckDB's regexp_replace without the 'g' option replaces the first "
            "match only, Spark's every match"
        )
    return exp.RegexpReplace(this=node.this, expression=node.expression, replacement=node.args["replacement"])


#: Spark's typeof() names -> DuckDB's (the checks compare typeof() with DuckDB's names)
_TYPE_NAMES = {
    "string": "VARCHAR",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "double": "DOUBLE",
    "float": "FLOAT",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "timestamp_ntz": "TIMESTAMP",
}


def _duckdb_typeof(value: exp.Expression) -> exp.Expression:
    spark_name = exp.Typeof(this=value)
    spark_name.meta["lockgate"] = True
    case = exp.Case(this=spark_name)
    for spark_type, duckdb_type in _TYPE_NAMES.items():
        case = case.when(exp.Literal.string(spark_type), exp.Literal.string(duckdb_type))
    other = spark_name.copy()
    other.meta["lockgate"] = True
    return case.else_(exp.Upper(this=other))


def _slice(node: exp.Bracket) -> exp.Expression:
    """``list[a:b]`` (1-based, both ends included) as Spark's ``slice(list, a, length)``."""
    bounds = node.expressions[0]
    start, end = bounds.this, bounds.expression
    if not (isinstance(start, exp.Literal) and isinstance(end, exp.Literal)):
        raise Untranslatable(f"a list slice with computed bounds ({node.sql('duckdb')})")
    first, last = int(start.name), int(end.name)
    length = exp.Literal.number(max(0, last - first + 1))
    return exp.Anonymous(this="SLICE", expressions=[node.this, exp.Literal.number(first), length])


def _ordered_list(order: exp.Order) -> exp.Expression:
    """``list(struct_pack(k1 := k1, ...) ORDER BY k1, ...)`` as ``array_sort(collect_list(...))``.

    Spark's ``collect_list`` takes no ORDER BY; sorting the collected structs orders them by their
    fields in turn, which is the same order only when the fields are the ORDER BY's columns, in
    that order and ascending. Anything else is refused rather than given another order.
    """
    packed, keys = order.this, order.expressions
    fields = [f.expression for f in packed.expressions] if isinstance(packed, exp.Struct) else []
    same = len(fields) == len(keys) and all(
        not k.args.get("desc") and k.args.get("nulls_first") and k.this.sql("duckdb") == f.sql("duckdb")
        for k, f in zip(keys, fields, strict=True)
    )
    if not same:
        raise Untranslatable(f"an ordered list aggregate ({order.sql('duckdb')})")
    collected = exp.Anonymous(this="COLLECT_LIST", expressions=[packed])
    return exp.Anonymous(this="ARRAY_SORT", expressions=[collected])


def _literal(value: Any) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return exp.cast(exp.Literal.string(repr(value)), "DOUBLE")
        return exp.cast(exp.Literal.string(repr(value)), "DOUBLE")
    if isinstance(value, dt.datetime):
        return exp.cast(exp.Literal.string(value.isoformat()), "TIMESTAMP")
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, list | tuple):
        return exp.Array(expressions=[_literal(v) for v in value])
    raise Untranslatable(f"a parameter of type {type(value).__name__} ({value!r})")


def _anchored(pattern: exp.Expression) -> exp.Expression:
    if not isinstance(pattern, exp.Literal) or not pattern.is_string:
        raise Untranslatable(f"regexp_full_match with a computed pattern ({pattern.sql('duckdb')})")
    return exp.Literal.string(f"^(?:{pattern.name})\\z")


def glob_regex(pattern: exp.Expression) -> str:
    """A DuckDB GLOB pattern as a Java regex matching the whole value (``*``, ``?``, ``[..]``, ``[!..]``)."""
    if not isinstance(pattern, exp.Literal) or not pattern.is_string:
        raise Untranslatable(f"GLOB with a computed pattern ({pattern.sql('duckdb')})")
    text, out, i = pattern.name, [], 0
    while i < len(text):
        char = text[i]
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[" and "]" in text[i + 2 :]:
            end = text.index("]", i + 2)
            body = text[i + 1 : end]
            negated = body.startswith("!")
            body = body[1:] if negated else body
            escaped = "".join(f"\\{c}" if c in "\\[]^&" else c for c in body)
            out.append(f"[{'^' if negated else ''}{escaped}]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    # GLOB's * and ? take any character, a line break included
    return "(?s)^(?:" + "".join(out) + ")\\z"


def _concat_format(node: exp.Format) -> exp.Expression:
    template = node.this
    if not isinstance(template, exp.Literal) or not template.is_string:
        raise Untranslatable(f"format() with a computed template ({node.sql('duckdb')})")
    # DuckDB's format is fmt's: {{ and }} are braces, {} the next argument
    pieces = re.split(r"(\{\{|\}\}|\{\})", template.name)
    args = list(node.expressions)
    parts: list[exp.Expression] = []
    for piece in pieces:
        if piece == "{}":
            if not args:
                raise Untranslatable(f"format() with too few arguments ({node.sql('duckdb')})")
            parts.append(_text(args.pop(0)))
        elif piece:
            parts.append(exp.Literal.string(piece.replace("{{", "{").replace("}}", "}")))
    if args:
        raise Untranslatable(f"format() with unused arguments ({node.sql('duckdb')})")
    return exp.Concat(expressions=parts or [exp.Literal.string("")], safe=False, coalesce=False)


#: Spark SQL of a double as DuckDB's format('{}') writes it (Python's repr: the shortest digits,
#: positional from 1e-4 to 1e16, else d.ddde+XX) from Java's Double.toString (positional only from
#: 1e-3 to 1e7, else d.dddEX), which Spark's CAST gives: the same digits, placed otherwise
_DOUBLE_TEXT = """CASE WHEN NOT ({s} RLIKE 'E') THEN {s}
    WHEN {e} >= 16 OR {e} < -4 THEN concat({sign}, {lead}, CASE WHEN {frac} = '' THEN '' ELSE concat('.', {frac}) END,
        'e', CASE WHEN {e} < 0 THEN '-' ELSE '+' END, CASE WHEN abs({e}) < 10 THEN '0' ELSE '' END,
        CAST(abs({e}) AS STRING))
    WHEN {e} >= 0 AND length({digits}) <= {e} + 1 THEN concat({sign}, rpad({digits}, {e} + 1, '0'), '.0')
    WHEN {e} >= 0 THEN concat({sign}, substr({digits}, 1, {e} + 1), '.', substr({digits}, {e} + 2))
    ELSE concat({sign}, '0.', repeat('0', -{e} - 1), {digits})
END"""


def _double_text(s: str) -> str:
    """:data:`_DOUBLE_TEXT` over the Spark SQL ``s`` of Java's text of a double."""
    parts = {
        "sign": f"regexp_extract({s}, '^(-?)', 1)",
        "lead": f"regexp_extract({s}, '([0-9])[.]', 1)",
        "frac": f"regexp_replace(regexp_extract({s}, '[.]([0-9]*)E', 1), '0+$', '')",
        "e": f"CAST(regexp_extract({s}, 'E(-?[0-9]+)$', 1) AS INT)",
    }
    parts["digits"] = f"concat({parts['lead']}, {parts['frac']})"
    return _DOUBLE_TEXT.format(s=s, **parts)


def _text(value: exp.Expression) -> exp.Expression:
    """A ``format()`` argument as the text DuckDB puts in (a double as Python's repr writes it).

    The argument is bound once, as a lambda's variable (``transform(array(x), v -> ...)``): the
    double's text spells its value many times, and format arguments nest (a reason quotes a value
    shortened by another format), which would multiply the expression at each level.
    """
    text = exp.cast(value, "STRING")
    text.meta["lockgate"] = True
    if isinstance(value, exp.Literal | exp.Concat | exp.Length) or (
        isinstance(value, exp.Anonymous) and str(value.this).upper() in ("OCTET_LENGTH", "STRLEN")
    ):
        return text  # text or a whole number: Spark writes it as DuckDB does
    var = "__lockgate_v"
    body = sqlglot.parse_one(
        f"CASE WHEN typeof({var}) = 'double' THEN {_double_text(f'CAST({var} AS STRING)')} "
        # an instant as DuckDB writes a TIMESTAMPTZ in UTC: with its offset
        f"WHEN typeof({var}) = 'timestamp' THEN concat(CAST({var} AS STRING), '+00') "
        f"ELSE CAST({var} AS STRING) END",
        read="spark",
    )
    for node in body.find_all(exp.Typeof, exp.Cast):
        node.meta["lockgate"] = True
    lam = exp.Lambda(this=body, expressions=[exp.to_identifier(var)])
    mapped = exp.Anonymous(this="TRANSFORM", expressions=[exp.Array(expressions=[value]), lam])
    return exp.Anonymous(this="ELEMENT_AT", expressions=[mapped, exp.Literal.number(1)])


def _try_cast(node: exp.TryCast) -> exp.Expression:
    if node.meta.get("lockgate"):
        return node  # rewritten in an earlier pass
    value = node.this
    if node.to.is_type("bigint"):
        # DuckDB reads "+7" and "7.000"; Spark reads neither (the typing's syntax allows only those)
        value = exp.Anonymous(
            this="REGEXP_REPLACE", expressions=[value, exp.Literal.string("^[+]|[.]0*$"), exp.Literal.string("")]
        )
        made = exp.TryCast(this=value, to=node.to)
        made.meta["lockgate"] = True
        return made
    if node.to.is_type("timestamptz"):
        # Spark takes +05:30 and +05 but reads +0530 as nothing: the colon goes in
        value = exp.Anonymous(
            this="REGEXP_REPLACE",
            expressions=[value, exp.Literal.string("([+-][0-9]{2})([0-9]{2})$"), exp.Literal.string("$1:$2")],
        )
        return exp.TryCast(this=value, to=exp.DataType.build("TIMESTAMP"))
    return node


def _utc_literal(text: str) -> str:
    """``'0001-01-01 00:00:00+00'`` as Spark reads an instant: ``...Z``."""
    return re.sub(r"[+-]00(:?00)?$", "Z", text)


def _java(node: exp.TimeToStr) -> str:
    fmt = node.args["format"]
    if not isinstance(fmt, exp.Literal):
        raise Untranslatable(f"strftime with a computed format ({node.sql('duckdb')})")
    # sqlglot has already turned it into Java letters, which we do not trust: take DuckDB's back
    return _strftime_to_java(_duckdb_format(fmt.name))


def _duckdb_format(java_or_strftime: str) -> str:
    """The strftime pattern of a ``TimeToStr`` (sqlglot stores it in Java letters)."""
    mapping = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S", "SSSSSS": "%f"}
    out, i = "", 0
    while i < len(java_or_strftime):
        for java, directive in mapping.items():
            if java_or_strftime.startswith(java, i):
                out += directive
                i += len(java)
                break
        else:
            out += java_or_strftime[i]
            i += 1
    return out


def _strftime_to_java(fmt: str) -> str:
    out, i = "", 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            letters = _JAVA_DATE.get(fmt[i + 1])
            if letters is None:
                raise Untranslatable(f"strftime directive %{fmt[i + 1]}")
            out += letters
            i += 2
        else:
            char = fmt[i]
            out += f"'{char}'" if char.isalpha() else ("''" if char == "'" else char)
            i += 1
    return out


def _function(node: exp.Anonymous) -> exp.Expression:
    name = str(node.this).lower()
    args = list(node.expressions)
    if name == "strlen":
        return exp.Anonymous(this="OCTET_LENGTH", expressions=args)
    if name == "isfinite":
        (value,) = args
        infinite = exp.EQ(this=exp.Abs(this=value.copy()), expression=exp.cast(exp.Literal.string("inf"), "DOUBLE"))
        return exp.Not(
            this=exp.Paren(this=exp.Or(this=exp.Anonymous(this="ISNAN", expressions=[value]), expression=infinite))
        )
    if name == "timezone":
        zone, value = args
        instant = isinstance(value, exp.Dot | exp.StructExtract) or (
            isinstance(value, exp.Column) and value.name.endswith("utc")
        )
        if instant:
            local = exp.Anonymous(this="FROM_UTC_TIMESTAMP", expressions=[value, zone])
            return exp.cast(local, "TIMESTAMP_NTZ")
        return exp.Anonymous(this="TO_UTC_TIMESTAMP", expressions=[value, zone])
    if name == "try_strptime":
        value, fmt = args
        if not isinstance(fmt, exp.Literal) or not fmt.is_string:
            raise Untranslatable(f"try_strptime with a computed format ({node.sql('duckdb')})")
        return strptime(value, fmt.name)
    if name == "strptime":
        raise Untranslatable("strptime (an error on a value it cannot read; the typing asks try_strptime)")
    return node


# ------------------------------------------------------------------------------ try_strptime
# DuckDB's strptime reads a format left to right and never goes back: a literal character must be
# there as written (a run of white space in the format takes a run of white space), a numeric
# directive takes as many digits as there are up to its width (at least one, no sign, no space), a
# name takes the first of its list that the text starts with (any case); white space around the
# whole value is skipped. Java's regex does the same with possessive quantifiers and atomic groups;
# the parts it captures are then checked and put together as DuckDB does (a day the month does not
# have, hour 24, second 60: NULL). Measured on DuckDB 2.0 (tests/spark/test_spark_formats.py
# compares both over generated values of every directive).
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")  # fmt: skip
#: directive -> (Java regex of what it takes, with one group per part, part names)
STRPTIME_DIRECTIVES = {
    "%": ("%", ()),
    "Y": ("([0-9]{1,4}+)", ("year",)),
    "y": ("([0-9]{1,2}+)", ("year2",)),
    "m": ("([0-9]{1,2}+)", ("month",)),
    "d": ("([0-9]{1,2}+)", ("day",)),
    "b": ("((?i:(?>" + "|".join(m[:3] for m in _MONTHS) + ")))", ("abbr",)),
    "B": ("((?i:(?>" + "|".join(_MONTHS) + ")))", ("name",)),
    "H": ("([0-9]{1,2}+)", ("hour",)),
    "I": ("([0-9]{1,2}+)", ("hour12",)),
    "p": ("((?i:(?>am|pm)))", ("ampm",)),
    "M": ("([0-9]{1,2}+)", ("minute",)),
    "S": ("([0-9]{1,2}+)", ("second",)),
    "f": ("([0-9]{1,6}+)", ("fraction",)),
    "z": ("([+-])([0-9]{2})(?::?([0-9]{2}))?+", ("sign", "offset_h", "offset_m")),
}
_SPACE = "\\s"  # Java's \s: space, \t, \n, \x0B, \f, \r: DuckDB's white space


def strptime_regex(fmt: str) -> tuple[str, list[str]]:
    """The Java regex taking what DuckDB's ``strptime(_, fmt)`` takes, and the parts its groups hold."""
    from lockgate.coerce import format_error, format_parts

    unsupported = [text for is_directive, text in format_parts(fmt) if is_directive and text not in STRPTIME_DIRECTIVES]
    if unsupported:
        raise Untranslatable(f"try_strptime directive %{unsupported[0]} (in {fmt!r})")
    # a format the typing refuses (no day, a directive twice, %I without %p) is not translated:
    # DuckDB fills in or overrides parts there, which is not measured
    error = format_error(fmt, "timestamp")
    if error:
        raise Untranslatable(f"try_strptime format {fmt!r}: {error}")
    pattern, parts = [f"^{_SPACE}*+"], list[str]()
    for is_directive, text in format_parts(fmt):
        if is_directive:
            regex, names = STRPTIME_DIRECTIVES[text]
            pattern.append(regex)
            parts.extend(names)
        else:
            for run in re.findall(r"[ \t\n\x0b\x0c\r]+|[^ \t\n\x0b\x0c\r]", text):
                pattern.append(f"{_SPACE}++" if run[0].isspace() else _java_char(run))
    pattern.append(f"{_SPACE}*+\\z")
    return "".join(pattern), parts


def _java_char(char: str) -> str:
    return char if char.isascii() and char.isalnum() else f"\\x{{{ord(char):x}}}"


def strptime(value: exp.Expression, fmt: str) -> exp.Expression:
    """DuckDB's ``try_strptime(value, fmt)`` in Spark SQL: a TIMESTAMP (an instant with ``%z``), or NULL."""
    regex, names = strptime_regex(fmt)
    pattern = "'" + regex.replace("\\", "\\\\").replace("'", "\\'") + "'"
    # the parts, found by one regex run: "$1,$2,..." split (no part holds a comma; a part not there is '')
    group = {name: f"g[{i}]" for i, name in enumerate(names)}
    joined = ",".join(f"${i}" for i in range(1, len(names) + 1))
    number = {name: f"CAST({sql} AS BIGINT)" for name, sql in group.items()}
    months = "array(" + ", ".join(f"'{m}'" for m in _MONTHS) + ")"
    abbreviations = "array(" + ", ".join(f"'{m[:3]}'" for m in _MONTHS) + ")"
    if "year2" in number:
        year = f"{number['year2']} + CASE WHEN {number['year2']} < 69 THEN 2000 ELSE 1900 END"
    else:
        year = number["year"]
    if "name" in group:
        month = f"array_position({months}, lower({group['name']}))"
    elif "abbr" in group:
        month = f"array_position({abbreviations}, lower({group['abbr']}))"
    else:
        month = number["month"]
    hour = number.get("hour", "0")
    if "hour12" in number:
        hour = f"{number['hour12']} % 12 + CASE WHEN lower({group['ampm']}) = 'pm' THEN 12 ELSE 0 END"
    fraction = f"CAST(rpad({group['fraction']}, 6, '0') AS BIGINT)" if "fraction" in group else "0"
    offset = "0"
    if "sign" in group:
        minutes = f"coalesce(CAST(nullif({group['offset_m']}, '') AS BIGINT), 0)"
        offset = f"CASE WHEN {group['sign']} = '-' THEN -1 ELSE 1 END * ({number['offset_h']} * 60 + {minutes})"
    # [year, month, day, hour, minute, second, microsecond, offset in minutes, 12-hour clock's hour]
    fields = [year, month, number["day"], hour, number.get("minute", "0"), number.get("second", "0"), fraction,
              offset, number.get("hour12", "1")]  # fmt: skip
    body = f"""CASE WHEN __lockgate_s RLIKE {pattern} THEN element_at(transform(
        array(split(regexp_replace(__lockgate_s, {pattern}, '{joined}'), ',')),
        g -> element_at(transform(array(array({", ".join(fields)})), p -> CASE WHEN p[1] BETWEEN 1 AND 12
            AND p[2] BETWEEN 1 AND {_month_days("p[0]", "p[1]")}
            AND p[3] BETWEEN 0 AND 23 AND p[4] BETWEEN 0 AND 59 AND p[5] BETWEEN 0 AND 59 AND p[8] BETWEEN 1 AND 12
        THEN timestamp_micros(((unix_date(make_date(p[0], p[1], p[2])) * 24 + p[3]) * 60 + p[4] - p[7]) * 60000000
            + p[5] * 1000000 + p[6]) END), 1)), 1) END"""
    # Spark SQL as it is, not a syntax tree: nothing in it is DuckDB's to rewrite, and the tree of
    # ~300 nodes per read (the typing reads a value three times per format) would be copied and
    # printed on every pass of the rewrites
    tree = exp.Var(this=" ".join(body.split()))
    lam = exp.Lambda(this=tree, expressions=[exp.to_identifier("__lockgate_s")])
    mapped = exp.Anonymous(this="TRANSFORM", expressions=[exp.Array(expressions=[value]), lam])
    return exp.Anonymous(this="ELEMENT_AT", expressions=[mapped, exp.Literal.number(1)])


def _month_days(year: str, month: str) -> str:
    leap = f"({year} % 4 = 0 AND ({year} % 100 <> 0 OR {year} % 400 = 0))"
    february = f"CASE WHEN {leap} THEN 29 ELSE 28 END"
    return f"CASE WHEN {month} = 2 THEN {february} WHEN {month} IN (4, 6, 9, 11) THEN 30 ELSE 31 END"
