"""The typing's fast path against the exact typing, value for value (issue 15, "Gate at the floor").

``lockgate.coerce.typed_column_layers`` reads a value already in its canonical form with one cast
and asks the exact typing (trim, regex, cast, range, every problem's condition) only for the other
values; ``fast=False`` gives the exact typing alone, as it was before the fast path. Here both are
run by DuckDB over the same hostile values - whitespace of every kind, signs, exponents, each
type's range edges, NaN and infinities, leap days, ISO format edges, zones and offsets, NUL and
oversized strings, NULL - hand-written and generated (seeded mutations of canonical values), in
columns of every type, nullable or not, with and without a column zone, the source zone varying
by row. Every row must give the same typed value, the same problems in the same order with the
same reason text, and the gate's "any problem" condition must hold exactly for the rows with one.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from lockgate.coerce import (
    DOUBLE_MAX,
    DOUBLE_MIN_NORMAL,
    FAST_DATE,
    FAST_TIMESTAMP,
    GLOB_DATE,
    GLOB_TIMESTAMPS,
    WHITESPACE,
    any_problem,
    typed_column,
    typed_column_layers,
)
from lockgate.contracts import Column
from lockgate.sql import ident

ZONES = [None, "UTC", "America/Chicago", "Asia/Kolkata", "Pacific/Chatham"]
INTEGERS = [
    "0", "-0", "+0", "7", "007", "7.0", "7.000", "7.", "7.5", "-7", "+7", "++7", "-", "+", "1_000", "0x10",
    "1e3", "1E3", "\u0663", "\uff17", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
    "-9223372036854775809", "999999999999999999", "9999999999999999999", "-999999999999999999",
    "000000000000000000000000000001", "99999999999999999999999999", "12 34", "nan", "inf", "1,000",
    "9" * 18, "0" * 18, "0" * 19 + "7", "1.0.0",
]  # fmt: skip
DOUBLES = [
    "0", "-0", "+0", "0.0", "-0.0", ".5", "5.", "-.5", "+.5", "1e5", "1E5", "1e+5", "1e-5", "1e", "1e+",
    "e5", ".", "-", "1.5", "12.5", "1,5", "1.2.3", "1_000.5", "0x1p3", "nan", "NaN", "-nan", "+NaN",
    "inf", "-inf", "+Inf", "Infinity", "-INFINITY", "infinit", "1e308", "1.7976931348623157e308",
    "1.7976931348623159e308", "1.8e308", "-1.8e308", "1e309", "2.2250738585072014e-308",
    "2.2250738585072011e-308", "4.9e-324", "1e-400", "0e-999", "0.000e5", "-0.0e-400", "1e99", "1e100",
    "9e-99", "1e-99", "999999999999999.999999999999999e99", "9999999999999999.5", "0.1234567890123456",
    "123456789012345.123456789012345", "1" * 400, "0." + "0" * 320 + "1", "1.5 e3", "\u0661\u066b\u0665",
    # around the plain-digits GLOB's limits (31 characters, one dot)
    "9" * 31, "9" * 32, "0" * 31, "0." + "0" * 28 + "1", "0." + "0" * 29 + "1", "1..", "..5", "1.5.", "00.500",
]  # fmt: skip
BOOLEANS = ["true", "false", "t", "f", "1", "0", "TRUE", "True", "F", "yes", "no", "tru", "10", "-1", "1.0"]
DATES = [
    "2024-02-29", "2023-02-29", "2026-02-30", "2026-04-31", "2026-13-01", "2026-00-10", "2026-01-00",
    "0001-01-01", "0000-01-01", "9999-12-31", "10000-01-01", "1000-01-01", "0999-12-31", "2999-12-31",
    "3000-01-01", "1900-02-29", "2000-02-29", "2026-1-1", "20260102", "2026-01-02T00:00", "2026/01/02",
    "infinity", "-infinity", "epoch", "today", "-2011-01-05", "2011-01-05 (BC)", "2011-01-05 BC",
    "\u0662\u0660\u0662\u0666-\u0660\u0661-\u0660\u0662",
]  # fmt: skip
TIMESTAMPS = [
    "2026-01-02T03:00:00Z", "2026-01-02t03:00:00z", "2026-01-02 03:00:00Z", "2026-01-02T03:00Z",
    "2026-01-02T03Z", "2026-01-02T03:00:00+05:30", "2026-01-02T03:00:00+0530", "2026-01-02T03:00:00+05",
    "2026-01-02T03:00:00-23:59", "2026-01-02T03:00:00+24:00", "2026-01-02T03:00:00+05:60",
    "2026-01-02T03:00:00.1Z", "2026-01-02T03:00:00.123456Z", "2026-01-02T03:00:00.1234567Z",
    "2026-01-02T03:00:00.1234560Z", "2026-01-02T03:00:00.123456000000Z", "2026-01-02T03:00:00.Z",
    "2026-01-02T24:00:00Z", "2026-01-02T23:60:00Z", "2026-01-02T23:59:60Z", "2024-02-29T12:00:00Z",
    "2023-02-29T12:00:00Z", "0001-01-01T00:00:00Z", "0001-01-01T00:30:00+01:00", "0001-01-01T00:00:00-01:00",
    "9999-12-31T23:59:59Z", "9999-12-31T23:59:59.999999Z", "9999-12-31T23:00:00-05:00",
    "9999-12-31T23:00:00+05:00", "1000-01-01T00:00:00+23:59", "2999-12-31T23:59:59-23:59",
    "3000-01-01T00:00:00Z", "0999-12-31T23:59:59Z", "2026-01-02", "2026-01-02T03:00:00",
    "2026-01-02 03:00", "2026-03-08T02:30:00", "2026-03-08T02:30:00Z", "2026-11-01T01:30:00",
    "2026-01-02T3:00:00Z", "2026-01-02T03:0:00Z", "2026-01-02 T03:00:00Z", "2026-01-02T03:00:00 Z",
    "2026-01-02T03:00:00 +01:00", "2026-01-02T03:00:00UTC", "2026-01-02T03:00:00+01:00:00",
    "2026-01-02T03:00:00[Europe/Paris]", "epoch", "infinity", "2026-01-02T03:00:00ZZ",
    # around the GLOBs' hours (00-19, 20-23)
    "2026-01-02T19:59:59Z", "2026-01-02T20:00:00Z", "2026-01-02T23:59:59Z", "2026-01-02T29:00:00Z",
    "2026-01-02T20:60:00Z", "1999-12-31T23:59:59Z",
]  # fmt: skip
STRINGS = [
    "ST-001", "a", "Zoë", "ë", "😀", "中文", "\x00", "a\x00b", "x" * 65535, "x" * 65536, "ë" * 40000,
    "\x7f", "!", "~", " a", "a ", "\u00a0a", "a\u3000", "\u200b", "\ufeffa", "-", "''", "NULL",
]  # fmt: skip
TYPED = {"integer": INTEGERS, "double": DOUBLES, "boolean": BOOLEANS, "date": DATES, "timestamp": TIMESTAMPS}


def _mutations(value: str, rng: random.Random) -> Iterator[str]:
    """Hostile variants of ``value``: padded, cased, signed, digits changed, cut, doubled."""
    ws = WHITESPACE
    yield rng.choice(ws) + value
    yield value + rng.choice(ws)
    yield rng.choice(ws) * rng.randint(1, 3) + value + rng.choice(ws) * rng.randint(1, 3)
    yield value.lower()
    yield value.upper()
    yield rng.choice("+-") + value
    if value:
        at = rng.randrange(len(value))
        yield value[:at] + rng.choice("0123456789.eE+-: TZ,_x") + value[at + 1 :]
        yield value[:at] + value[at + 1 :]
        yield value[:at] + rng.choice(ws) + value[at:]
        yield value[:at]
        digits = [i for i, ch in enumerate(value) if ch.isdigit()]
        if digits:
            i = rng.choice(digits)
            yield value[:i] + rng.choice("09") + value[i + 1 :]
    yield value + value
    yield value + rng.choice(["0", "000", ".0", "e0", "e-9", "e99", "Z", "+01:00", ".000001", "1"])


def hostile(values: list[str], seed: int, per_value: int = 3) -> list[str | None]:
    """The hand-written values, each padded with every whitespace character, plus seeded mutations."""
    rng = random.Random(seed)
    out: list[str | None] = [None, "", " ", "\t \n", *WHITESPACE, *values]
    out += [ch + v for v in values[:8] for ch in WHITESPACE]
    for _ in range(per_value):
        for v in values:
            out += list(_mutations(v, rng))
    for _ in range(2):  # mutations of mutations
        out += [m for v in rng.sample(out[1:], min(len(out) - 1, 400)) for m in _mutations(v or "", rng)]
    return list(dict.fromkeys(out))  # unique, in order


def _select(columns: list[Column], *, fast: bool, old_any: bool = False) -> str:
    """The gate's typing projection (each helper layer a projection of its own) over table ``v``."""
    layers: list[list[str]] = []
    typed: list[str] = []
    problems: list[str] = []
    for col in columns:
        col_layers, expr, col_problems = typed_column_layers(col, fast=fast)
        for depth, layer in enumerate(col_layers):
            if depth == len(layers):
                layers.append([])
            layers[depth] += [f"{sql} AS {ident(alias)}" for alias, sql in layer.items()]
        typed.append(f"CAST({expr} AS VARCHAR) AS {ident(col.name)}")
        problems += col_problems
    ctes = "".join(
        f", _h{i} AS (SELECT *, {', '.join(layer)} FROM {'v0' if i == 0 else f'_h{i - 1}'})"
        for i, layer in enumerate(layers)
    )
    source = f"_h{len(layers) - 1}" if layers else "v0"
    conditions = " OR ".join(f"({p.condition})" for p in problems)  # type: ignore[attr-defined]
    anyp = f"coalesce({conditions}, false)" if old_any else any_problem(problems)
    return (
        f"WITH v0 AS (SELECT * FROM v){ctes} "
        f"SELECT i, {', '.join(typed)}, list_filter([{', '.join(problems)}], lambda p: p IS NOT NULL) AS problems, "
        f"{anyp} AS any_problem FROM {source} ORDER BY i"
    )


def _table(con: Any, columns: dict[str, list[str | None]], zones: list[str | None]) -> int:
    """Table ``v``: column ``i`` (row), ``_tz`` (the source zone, varying by row) and the raw values."""
    n = max(len(v) for v in columns.values())
    rows = {name: (values * (n // len(values) + 1))[:n] for name, values in columns.items()}
    data = {"i": list(range(n)), "_tz": [zones[i % len(zones)] for i in range(n)], **rows}
    con.register(
        "v_arrow", pa.table({k: pa.array(v, pa.int64() if k == "i" else pa.string()) for k, v in data.items()})
    )
    con.execute("CREATE OR REPLACE TABLE v AS SELECT * FROM v_arrow")
    con.unregister("v_arrow")
    return n


def _compare(con: Any, columns: list[Column]) -> int:
    exact = con.execute(_select(columns, fast=False, old_any=True)).fetchall()
    fast = con.execute(_select(columns, fast=True)).fetchall()
    assert len(exact) == len(fast)
    raws = {r[0]: r[1:] for r in con.execute("SELECT * EXCLUDE (_tz) FROM v ORDER BY i").fetchall()}
    for e, f in zip(exact, fast, strict=True):
        assert f == e, (raws[e[0]], e, f)
        assert e[-1] == (len(e[-2]) > 0)  # "any problem" holds exactly for a row with a problem
    return sum(1 for e in exact if e[-2])


def _columns(ctype: str, **kw: Any) -> list[Column]:
    return [Column("v", ctype, nullable=True, **kw), Column("w", ctype, nullable=False, **kw)]


@pytest.fixture
def con() -> Iterator[Any]:
    connection = duckdb.connect()
    connection.execute("SET TimeZone='UTC'")
    yield connection
    connection.close()


@pytest.mark.parametrize("ctype", sorted(TYPED))
def test_the_fast_path_types_every_hostile_value_as_the_exact_typing_does(con: Any, ctype: str) -> None:
    values = hostile(TYPED[ctype], seed=15)
    n = _table(con, {"v": values, "w": values}, ZONES)
    problems = _compare(con, _columns(ctype))
    # the values exercise both paths: some type, some give problems
    assert 0 < problems < n


@pytest.mark.parametrize(
    ("ctype", "spec"),
    [
        ("timestamp", {"timezone": "America/Chicago"}),
        ("timestamp", {"formats": ("%Y-%m-%dT%H:%M:%S%z", "%d/%m/%Y %H:%M")}),
        ("date", {"formats": ("%d/%m/%Y",)}),
    ],
)
def test_declared_zones_and_formats_type_as_the_exact_typing_does(con: Any, ctype: str, spec: dict[str, Any]) -> None:
    extra = ["02/01/2026", "29/02/2024", "29/02/2023", "02/01/2026 03:00", "2/1/2026 3:00"]
    values = hostile(TYPED[ctype] + extra, seed=16)
    _table(con, {"v": values, "w": values}, ZONES)
    _compare(con, _columns(ctype, **spec))


def test_strings_keep_their_exact_problems(con: Any) -> None:
    values = hostile(STRINGS, seed=17, per_value=1)
    _table(con, {"v": values, "w": values}, ZONES)
    assert _compare(con, _columns("string")) > 0


def test_a_row_of_every_type_at_once(con: Any) -> None:
    """The gate types every column in the same projections: the layers of one must not disturb another's."""
    columns = {ctype: hostile(values, seed=18, per_value=1) for ctype, values in TYPED.items()}
    columns["string"] = hostile(STRINGS, seed=19, per_value=1)
    _table(con, columns, ZONES)
    contract_columns = [Column(name, name, nullable=i % 2 == 0) for i, name in enumerate(columns)]
    assert _compare(con, contract_columns) > 0


@pytest.mark.parametrize("ctype", sorted(TYPED))
def test_the_self_contained_expressions_agree_with_the_layers(con: Any, ctype: str) -> None:
    """``typed_column`` spells the helper values out; its fast path gives what the layers give."""
    values = hostile(TYPED[ctype], seed=20, per_value=1)
    _table(con, {"v": values}, ZONES)
    col = Column("v", ctype, nullable=False)
    expr, problems = typed_column(col)
    inline = con.execute(
        f"SELECT i, CAST({expr} AS VARCHAR), list_filter([{', '.join(problems)}], lambda p: p IS NOT NULL) "
        "FROM v ORDER BY i"
    ).fetchall()
    layered = [row[:3] for row in con.execute(_select([col], fast=True)).fetchall()]
    assert inline == layered


def test_the_fast_path_reads_the_range_edges_it_claims() -> None:
    """The canonical forms' comments promise finite, in-range values: the bounds they rely on."""
    assert float("9" * 15 + "." + "9" * 15 + "e99") < float(DOUBLE_MAX)
    assert float("0." + "0" * 14 + "1e-99") > float(DOUBLE_MIN_NORMAL)
    assert 10**18 - 1 < 2**63 - 1


def test_the_globs_take_only_canonical_values() -> None:
    """Every timestamp or date a GLOB of the fast path takes is in its type's canonical form (the
    regex the GLOB stands in front of), over every hour, minute and second and odd characters."""
    import fnmatch
    import re

    times = [f"{h:02}:{m:02}:{s:02}" for h in range(30) for m in (0, 5, 59, 60) for s in (0, 59, 60, 99)]
    stamps = [
        f"{d}T{t}{z}" for d in ("2026-01-02", "1000-13-40", "3000-01-01", "0999-01-01") for t in times for z in "Zz"
    ]
    stamps += ["2026-01-02T03:00:00+Z", "+026-01-02T03:00:00Z", " 2026-01-02T03:00:00Z", "2026-01-02T 3:00:00Z"]
    taken = [v for v in stamps if any(fnmatch.fnmatchcase(v, g) for g in GLOB_TIMESTAMPS)]
    assert taken
    assert all(re.fullmatch(FAST_TIMESTAMP, v) for v in taken)
    # and the GLOBs take every such value the regex takes (hours 20-23 included)
    assert [v for v in stamps if re.fullmatch(FAST_TIMESTAMP, v)] == taken
    dates = ["2026-01-02", "1000-13-40", "3000-01-01", "0999-01-01", "2026-1-02", "+026-01-02", "2026-01-0x"]
    assert [d for d in dates if fnmatch.fnmatchcase(d, GLOB_DATE)] == [d for d in dates if re.fullmatch(FAST_DATE, d)]


@pytest.mark.parametrize("ctype", sorted(TYPED))
def test_a_canonical_value_skips_every_exact_layer_and_problem(ctype: str) -> None:
    """Every exact helper layer and every problem is one CASE on the fast value being NULL: a vector
    of canonical values evaluates none of them (a later layer over the first one's NULLs still ran
    its regexes and built its structs for every row; a problem was a CASE around a CASE)."""
    col = Column("v", ctype, nullable=False)
    layers, _, problems = typed_column_layers(col)
    fast = ident(f"__lockgate_fast:{col.name}")
    assert list(layers[0]) == [f"__lockgate_fast:{col.name}"]
    for layer in layers[1:]:
        assert all(sql.startswith(f"(CASE WHEN {fast} IS NULL THEN ") for sql in layer.values())
    for p in problems:
        assert p.startswith(f"CASE WHEN ({fast} IS NULL AND ")
