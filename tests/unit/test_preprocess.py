"""Tests for ``lockgate.transforms.preprocess``: unit maths in Python and in the gate's SQL.

The SQL from ``unit_conversion_sql`` is evaluated by a real in-memory DuckDB over a small table.
"""

from __future__ import annotations

from typing import Any

import pytest

from lockgate.transforms.preprocess import (
    UNIT_FACTORS,
    convert,
    normalise_unit,
    unit_conversion_sql,
    validate_preprocess,
)

TARGETS = {"pm25": "ug/m3", "pm10": "µg/m³", "o3": "ppm", "co": "ppm", "so2": "ppb", "no2": "ppb"}
CONFIG = {"value": "value", "unit": "unit", "by": "pollutant", "targets": TARGETS}


# ------------------------------------------------------------------------------------------ python


@pytest.mark.parametrize(
    ("unit", "canonical"),
    [
        ("ug/m3", "ug/m3"),
        ("µg/m3", "ug/m3"),  # micro sign U+00B5
        ("μg/m3", "ug/m3"),  # Greek mu U+03BC
        ("µg/m³", "ug/m3"),
        ("μg/m³", "ug/m3"),
        ("ug/m³", "ug/m3"),
        ("UG/M3", "ug/m3"),
        ("µG/M³", "ug/m3"),
        ("  mg/m³ ", "mg/m3"),
        ("MG/M3", "mg/m3"),
        ("PPB", "ppb"),
        ("ppm", "ppm"),
        ("furlongs", "furlongs"),
    ],
)
def test_normalise_unit(unit: str, canonical: str) -> None:
    assert normalise_unit(unit) == canonical


@pytest.mark.parametrize(
    ("value", "src", "dst", "expected"),
    [
        (0.0123, "mg/m3", "ug/m3", 12.3),
        (12.3, "µg/m³", "mg/m3", 0.0123),
        (450.0, "ppb", "ppm", 0.45),
        (0.045, "ppm", "ppb", 45.0),
        (7.5, "PPM", "ppm", 7.5),
        (-2.0, "ug/m3", "ug/m3", -2.0),
    ],
)
def test_convert(value: float, src: str, dst: str, expected: float) -> None:
    assert convert(value, src, dst) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("src", "dst"), [("ppm", "ug/m3"), ("ug/m3", "ppb"), ("furlongs", "ppm")])
def test_convert_unknown_pair_names_it(src: str, dst: str) -> None:
    with pytest.raises(KeyError, match=f"no conversion from {src!r} to {dst!r}"):
        convert(1.0, src, dst)


def test_factors_are_consistent() -> None:
    for (src, dst), factor in UNIT_FACTORS.items():
        assert UNIT_FACTORS[(dst, src)] * factor == pytest.approx(1.0)
        if src == dst:
            assert factor == 1.0


def test_validate_preprocess_defaults() -> None:
    assert validate_preprocess(None) == {"drop_exact_duplicates": False}
    assert validate_preprocess({}) == {"drop_exact_duplicates": False}
    config = {"convert_units": CONFIG, "drop_exact_duplicates": True}
    assert validate_preprocess(config) == config
    assert "drop_exact_duplicates" not in CONFIG  # the caller's mapping is not modified


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"dedupe": True},
            r"^preprocess: unknown step\(s\) dedupe; known: convert_units, drop_exact_duplicates, "
            r"deduplicate, missing, scale, enrich$",
        ),
        ({"convert_units": {"unit": "u", "by": "b", "targets": {}}}, r"^preprocess\.convert_units: missing 'value'$"),
        ({"convert_units": {"value": "v", "by": "b", "targets": {}}}, r"^preprocess\.convert_units: missing 'unit'$"),
        ({"convert_units": {"value": "v", "unit": "u", "targets": {}}}, r"^preprocess\.convert_units: missing 'by'$"),
        ({"convert_units": {"value": "v", "unit": "u", "by": "b"}}, r"^preprocess\.convert_units: missing 'targets'$"),
        (
            {"convert_units": {**CONFIG, "targets": {"pm25": "ug/m3", "co": "grains"}}},
            r"^preprocess\.convert_units\.targets\.co: unknown unit 'grains'$",
        ),
    ],
)
def test_validate_preprocess_errors_name_the_key(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_preprocess(config)


# --------------------------------------------------------------------------------------------- SQL


def run_conversion(rows: list[tuple[Any, ...]], config: dict[str, Any] = CONFIG) -> list[tuple[Any, ...]]:
    """(id, pollutant, value, unit) rows -> (id, value, unit, problem) through the generated SQL."""
    import duckdb

    value_sql, unit_sql, problem_sql = unit_conversion_sql(config)
    con = duckdb.connect()
    con.execute(
        f'CREATE TABLE t (id INTEGER, {config["by"]} VARCHAR, "{config["value"]}" DOUBLE, "{config["unit"]}" VARCHAR)'
    )
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", rows)
    return con.execute(f"SELECT id, {value_sql}, {unit_sql}, {problem_sql} FROM t ORDER BY id").fetchall()


def test_sql_converts_values_and_rewrites_units_to_the_target() -> None:
    rows = [
        (1, "pm25", 0.0123, "mg/m3"),
        (2, "pm25", 12.3, "ug/m3"),
        (3, "pm10", 0.0205, "MG/M³"),
        (4, "o3", 35.5, "ppb"),
        (5, "co", 450.0, "ppb"),
        (6, "co", 0.45, "ppm"),
        (7, "so2", 0.002, "ppm"),
        (8, "no2", 14.0, " PPB "),
        (9, "pm25", 8.2, "µg/m³"),
        (10, "pm10", 8.2, "μg/m3"),
        (11, "pm10", 3.0, "μg/m³"),
    ]
    assert run_conversion(rows) == [
        (1, 12.3, "ug/m3", None),  # exactly 12.3, not 12.299999999999999
        (2, 12.3, "ug/m3", None),
        (3, 20.5, "ug/m3", None),
        (4, 0.0355, "ppm", None),
        (5, 0.45, "ppm", None),
        (6, 0.45, "ppm", None),
        (7, 2.0, "ppb", None),
        (8, 14.0, "ppb", None),
        (9, 8.2, "ug/m3", None),
        (10, 8.2, "ug/m3", None),
        (11, 3.0, "ug/m3", None),
    ]


def test_sql_float_noise_is_rounded_exactly() -> None:
    rows = [(1, "pm25", 0.0123, "mg/m3"), (2, "pm25", 0.0041, "mg/m3"), (3, "pm10", 0.0082, "mg/m3")]
    rows += [(4, "o3", 35.5, "ppb"), (5, "co", 0.9, "ppb")]
    # the noise a plain multiplication leaves, which the SQL must remove
    assert [0.0041 * 1000, 0.0082 * 1000, 35.5 * 0.001, 0.9 * 0.001] != [4.1, 8.2, 0.0355, 0.0009]
    assert run_conversion(rows) == [
        (1, 12.3, "ug/m3", None),
        (2, 4.1, "ug/m3", None),
        (3, 8.2, "ug/m3", None),
        (4, 0.0355, "ppm", None),
        (5, 0.0009, "ppm", None),
    ]


def test_sql_unknown_unit_is_a_problem_naming_it() -> None:
    rows = [
        (1, "pm25", 5.0, "furlongs"),
        (2, "co", 1.0, "ug/m3"),  # a known unit of the wrong dimension
        (3, "lead", 1.0, "ug/m3"),  # a pollutant without a target
        (4, "pm25", None, "furlongs"),  # no value: nothing to convert
        (5, "pm25", 1.0, "mg/m3"),
    ]
    result = run_conversion(rows)
    assert [(r[0], r[3]) for r in result] == [
        (1, "column unit: cannot convert furlongs to ug/m3"),
        (2, "column unit: cannot convert ug/m3 to ppm"),
        (3, "column unit: no target unit declared for pollutant=lead"),
        (4, None),
        (5, None),
    ]
    # an unconvertible value is not silently kept or converted: it is NULL next to its problem
    assert result[0][1] is None
    assert result[2][1] is None
    assert result[2][2] == "ug/m3"  # no target: the unit is left as it was
    assert result[4][1:3] == (1000.0, "ug/m3")


def test_sql_quotes_configured_column_names() -> None:
    config = {"value": "Reading Value", "unit": "Unit", "by": "kind", "targets": {"dust": "ug/m3"}}
    result = run_conversion([(1, "dust", 0.5, "mg/m3"), (2, "dust", 1.0, "ppm")], config)
    assert result == [
        (1, 500.0, "ug/m3", None),
        (2, None, "ug/m3", "column Unit: cannot convert ppm to ug/m3"),
    ]
