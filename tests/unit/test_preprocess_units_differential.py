"""The unit conversion's SQL against its earlier spelling, on generated values (a differential test).

``unit_conversion_sql`` skips the normalisation of a unit already spelled canonically; the
reference here is the earlier spelling, which normalises every value (trim, ``lower`` and the six
alias ``replace`` calls in every WHEN). Both run in one DuckDB over the cross product of odd
units, pollutants with and without a target, and values including NULL, NaN and infinities.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from lockgate.sql import ident, literal
from lockgate.transforms.preprocess import _UNIT_ALIASES, UNIT_FACTORS, normalise_unit, unit_conversion_sql

TARGETS = {"pm25": "ug/m3", "pm10": "µg/m³", "o3": "ppm", "co": "PPM", "so2": "ppb", "no2": "ppb", "dust": "mg/m3"}
CONFIG = {"value": "Reading Value", "unit": "unit", "by": "pollutant", "targets": TARGETS}

#: every canonical unit and alias, near misses and substrings of them, in several cases and paddings
UNITS = [
    *sorted({u for pair in UNIT_FACTORS for u in pair}),
    *_UNIT_ALIASES,
    "UG/M3", "Ug/m3", "µG/M³", "\u039cG/M3", "MG/M³", "PPB", "Ppm", "pPm",
    " ug/m3", "ug/m3 ", "  ppm  ", "\tppb", "ppb\n", "ug/m3\u00a0", "ppm\x00",
    "xµg/m3", "µg/m3µg/m3", "ug/m33", "ug/m", "ppmppb", "mg/m³³", "µ", "³", "m³", "ugm3", "ppt", "furlongs",
    "", " ", None,
]  # fmt: skip
POLLUTANTS = [*TARGETS, "lead", "PM25", "", None]
VALUES = [0.0, -0.0, 1.0, -2.5, 0.0123, 35.5, 1e308, -1e-308, 5e-324, float("nan"), float("inf"), float("-inf"), None]


def reference_sql(config: Mapping[str, Any]) -> tuple[str, str, str]:
    """The earlier ``unit_conversion_sql``: every value normalised, in every WHEN of the factor CASE."""
    value, unit, by = ident(config["value"]), ident(config["unit"]), ident(config["by"])
    targets = {k: normalise_unit(v) for k, v in config["targets"].items()}
    canonical = f"lower(trim({unit}))"
    for alias, canon in _UNIT_ALIASES.items():
        canonical = f"replace({canonical}, {literal(alias.lower())}, {literal(canon)})"
    target_expr = (
        "CASE " + " ".join(f"WHEN {by} = {literal(k)} THEN {literal(t)}" for k, t in sorted(targets.items())) + " END"
    )
    factor_expr = (
        "CASE "
        + " ".join(
            f"WHEN {canonical} = {literal(src)} AND ({target_expr}) = {literal(dst)} THEN {factor!r}"
            for (src, dst), factor in sorted(UNIT_FACTORS.items())
        )
        + " END"
    )
    no_target = literal(f"column {config['unit']}: no target unit declared for {config['by']}={{}}")
    no_factor = literal(f"column {config['unit']}: cannot convert {{}} to {{}}")
    problem = (
        f"CASE WHEN {value} IS NOT NULL AND ({target_expr}) IS NULL THEN format({no_target}, {by}) "
        f"WHEN {value} IS NOT NULL AND ({factor_expr}) IS NULL "
        f"THEN format({no_factor}, {unit}, ({target_expr})) END"
    )
    return f"round({value} * ({factor_expr}), 9)", f"COALESCE(({target_expr}), {unit})", problem


@pytest.fixture(scope="module")
def con() -> Any:
    import duckdb

    con = duckdb.connect()
    con.execute('CREATE TABLE t (id INTEGER, pollutant VARCHAR, "Reading Value" DOUBLE, unit VARCHAR)')
    rows = [(i, p, v, u) for i, (p, v, u) in enumerate((p, v, u) for u in UNITS for p in POLLUTANTS for v in VALUES)]
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", rows)
    return con


def converted(con: Any, sql: tuple[str, str, str]) -> list[tuple[Any, ...]]:
    value, unit, problem = sql
    return con.execute(
        f"SELECT id, {value} AS v, isnan({value}) AS nan, {unit} AS u, {problem} AS p FROM t ORDER BY id"
    ).fetchall()


def test_same_values_units_and_problems_as_the_reference(con: Any) -> None:
    new, old = converted(con, unit_conversion_sql(CONFIG)), converted(con, reference_sql(CONFIG))
    assert len(new) == len(UNITS) * len(POLLUTANTS) * len(VALUES)
    # NaN != NaN in Python: compare the NaN flag and the value only where it is not NaN
    assert [(r[0], None if r[2] else r[1], *r[2:]) for r in new] == [
        (r[0], None if r[2] else r[1], *r[2:]) for r in old
    ]


def test_the_generated_rows_cover_every_outcome(con: Any) -> None:
    """Converted, rewritten, refused for the unit and for the pollutant, NaN and NULL values: all occur."""
    rows = converted(con, unit_conversion_sql(CONFIG))
    problems = {r[4].split(":")[1].split(" ")[1] if r[4] else None for r in rows}
    assert problems == {None, "no", "cannot"}
    assert any(r[2] for r in rows)  # NaN converted to NaN
    assert {r[1] for r in rows if r[4] is None and r[1] is not None} >= {12.3, 0.0355, 1e308 * 1000}
    # an alias spelled oddly is converted like its canonical unit
    canonical_rows = con.execute(
        f"SELECT {unit_conversion_sql(CONFIG)[0]} FROM t WHERE unit IN ('  ppm  ', 'MG/M³') AND pollutant = 'pm25' "
        'AND "Reading Value" = 0.0123 ORDER BY unit'
    ).fetchall()
    assert canonical_rows == [(None,), (12.3,)]


def test_each_key_and_unit_is_compared_once_per_expression() -> None:
    """The factor CASE names each ``by`` key once (it spelled the target CASE in each of its 8 WHENs),
    and a canonical unit's comparison comes before any normalisation of the unit."""
    value, unit, _ = unit_conversion_sql(CONFIG)
    for key in TARGETS:
        assert value.count(f"\"pollutant\" = '{key}'") == 1
        assert unit.count(f"\"pollutant\" = '{key}'") == 1
    assert value.index('"unit" = \'') < value.index("lower(trim(")
