"""The AQI as DuckDB SQL (lockgate.transforms.aqi_sql) against the Python reference, and the
revision in force by date.

Every breakpoint boundary of every pollutant and revision (each row's low and high end, half a
unit and a unit past the high end, a float artefact just under it), plus edge values (NULL, NaN,
negative, beyond the table) go through one SQL query and must equal
:func:`lockgate.transforms.aqi.sub_index` value for value.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import duckdb
import pytest

from lockgate.transforms import aqi_sql
from lockgate.transforms.aqi import (
    _COMPILED,
    _COMPILED_TABLES,
    _DECIMALS,
    POLLUTANTS,
    REVISIONS,
    TABLES_IN_FORCE,
    category,
    revision_in_force,
    sub_index,
)


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    aqi_sql.register(connection)
    return connection


def boundary_values(revision: str, pollutant: str) -> list[float]:
    """Concentrations on and around every breakpoint of one table."""
    table = _COMPILED[revision][pollutant]
    unit = 10.0 ** -_DECIMALS[pollutant]
    values: list[float] = [0.0, -unit]
    for c_low, c_high in zip(table.c_low, table.c_high, strict=True):
        low, high = c_low * unit, c_high * unit
        values += [low, high, high + unit / 2, high + unit, high - unit / 2, high + 1e-12, (low + high) / 2]
    return values


CASES = [
    (revision, pollutant, value)
    for revision in REVISIONS
    for pollutant in POLLUTANTS
    for value in boundary_values(revision, pollutant)
]


def test_sub_index_equals_python_on_every_boundary(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "SELECT r, p, c, aqi_sub_index(p, c, r) FROM (SELECT unnest($1) AS r, unnest($2) AS p, unnest($3) AS c)",
        [[r for r, _, _ in CASES], [p for _, p, _ in CASES], [c for _, _, c in CASES]],
    ).fetchall()
    assert len(rows) == len(CASES) > 21 * 10
    mismatches = [
        (r, p, c, got, sub_index(p, c, revision=r)) for r, p, c, got in rows if got != sub_index(p, c, revision=r)
    ]
    assert mismatches == []
    # the boundaries really exercise every row: both ends of each row give its index bounds
    for revision in REVISIONS:
        for pollutant in POLLUTANTS:
            table = _COMPILED[revision][pollutant]
            got = {c: v for r, p, c, v in rows if (r, p) == (revision, pollutant)}
            unit = 10.0 ** -_DECIMALS[pollutant]
            assert [got[c * unit] for c in table.c_low] == list(table.i_low)
            assert [got[c * unit] for c in table.c_high] == list(table.i_high)


@pytest.mark.parametrize("value", [None, math.nan, math.inf, -0.1, 1e300])
def test_missing_and_impossible_values_are_null(con: duckdb.DuckDBPyConnection, value: float | None) -> None:
    for pollutant in POLLUTANTS:
        got = con.execute("SELECT aqi_sub_index($1, $2::DOUBLE, '2024')", [pollutant, value]).fetchone()
        assert got == (None,)
        assert sub_index(pollutant, value, revision="2024") is None


def test_unknown_pollutant_or_revision_is_an_error(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(duckdb.Error, match="unknown AQI pollutant pm2"):
        con.execute("SELECT aqi_sub_index('pm2', 1.0, '2024')").fetchall()
    with pytest.raises(duckdb.Error, match="unknown AQI revision 2023"):
        con.execute("SELECT aqi_sub_index('pm25', 1.0, '2023')").fetchall()


def test_category_and_truncate(con: duckdb.DuckDBPyConnection) -> None:
    values = list(range(520))
    got = con.execute("SELECT a, aqi_category(a) FROM unnest($1) AS t(a)", [values]).fetchall()
    assert dict(got) == {a: category(a) for a in values}
    assert con.execute("SELECT aqi_truncate('o3_8h', 0.0789), aqi_truncate('pm25', 35.45)").fetchone() == (0.078, 35.4)


def test_vectorised_over_a_column(con: duckdb.DuckDBPyConnection) -> None:
    """One query over many rows (no Python per row): equal to the Python path row by row."""
    rows = con.execute(
        "SELECT c, aqi_sub_index('pm25', c, '2012') FROM (SELECT (i * 0.037)::DOUBLE AS c FROM range(20000) t(i))"
    ).fetchall()
    assert all(v == sub_index("pm25", c, revision="2012") for c, v in rows)


# ------------------------------------------------------------------------------- revision by date

BOUNDARIES = [
    ("1998-01-01", "1999"),
    ("2011-01-03", "1999"),
    ("2012-12-13", "1999"),
    ("2012-12-14", "2012"),
    ("2013-03-18", "2012"),
    ("2024-05-05", "2012"),
    ("2024-05-06", "2024"),
    ("2026-01-02", "2024"),
]


@pytest.mark.parametrize(("day", "revision"), BOUNDARIES)
def test_revision_in_force_at_the_boundaries(con: duckdb.DuckDBPyConnection, day: str, revision: str) -> None:
    assert revision_in_force(day) == revision == revision_in_force(date.fromisoformat(day))
    assert con.execute("SELECT aqi_revision_on($1::DATE)", [day]).fetchone() == (revision,)


def test_the_date_picks_the_table_and_an_explicit_revision_wins(con: duckdb.DuckDBPyConnection) -> None:
    # 12.1 ug/m3 is the top of "Good" in 1999 (0-15.4) but the bottom of "Moderate" since 2012
    assert sub_index("pm25", 12.1, on="2012-12-13") == 39
    assert sub_index("pm25", 12.1, on="2012-12-14") == 51
    assert sub_index("pm25", 9.1, on="2024-05-05") == 38
    assert sub_index("pm25", 9.1, on="2024-05-06") == 51
    assert sub_index("pm25", 12.1, on="2011-01-03", revision="2024") == 57
    assert sub_index("pm25", 12.1) == 57  # neither given: the current table
    sql = "SELECT aqi_sub_index_on('pm25', 12.1, $1::DATE)"  # the PM2.5 table in force each day
    assert [con.execute(sql, [d]).fetchone()[0] for d in ("2012-12-13", "2012-12-14", "2024-05-06")] == [39, 51, 57]


def test_epa_worked_example_per_era() -> None:
    """Real EPA AirData values of 2021 are in test_aqi_epa_real.py; no earlier or later ones were
    found offline, so for the other eras the reference is the EPA's own published worked example
    ("Multiple pollutants": 8-hour O3 0.077 ppm, PM2.5 54.4 ug/m3, CO 8.4 ppm -> AQI 128, PM2.5
    responsible; EPA's AQI reporting guideline of the 1999 table) and the breakpoint tables of the
    later eras for the same PM2.5 value."""
    assert sub_index("pm25", 54.4, on="2011-01-03") == 128  # 1999 table: 40.5-65.4 -> 101-150
    assert sub_index("co", 8.4, on="2011-01-03") == 90
    assert sub_index("pm25", 54.4, on="2013-06-01") == 148  # 2012 table: 35.5-55.4 -> 101-150
    assert sub_index("pm25", 54.4, on="2024-06-01") == 148  # 2024: same row
    assert sub_index("pm25", 35.9, on="2024-06-01") == 102


def test_a_model_connection_pins_an_explicit_revision() -> None:
    """``aqi_revision`` on a model overrides the table in force on the date (every *_on function)."""
    from lockgate.operators.model import ModelOperator

    by_date = ModelOperator(task_id="m", dataset="x", sql="SELECT 1")._connect("2011-01-03")
    pinned = ModelOperator(task_id="m", dataset="x", sql="SELECT 1", aqi_revision="2024")._connect("2011-01-03")
    sql = "SELECT aqi_sub_index_on('pm25', 12.1, logical_date()), aqi_revision_on(logical_date()), logical_date()"
    assert by_date.execute(sql).fetchone() == (39, "1999", date(2011, 1, 3))
    assert pinned.execute(sql).fetchone() == (57, "2024", date(2011, 1, 3))


def test_a_pinned_revision_is_that_revisions_tables_even_in_its_own_era() -> None:
    """2014 is in the PM2.5 2012 era, but O3 8-hour then still had the 2008 table: by date it is the
    2008 table; a model pinned to '2012' gets the 2012 revision's set (O3 of 2015) on every date."""
    from lockgate.operators.model import ModelOperator

    sql = "SELECT aqi_sub_index_on('o3_8h', 0.065, logical_date()), aqi_sub_index('o3_8h', 0.065, '2012')"
    by_date = ModelOperator(task_id="m", dataset="x", sql="SELECT 1")._connect("2014-01-01")
    pinned = ModelOperator(task_id="m", dataset="x", sql="SELECT 1", aqi_revision="2012")._connect("2014-01-01")
    (on_date, revision_2012) = by_date.execute(sql).fetchone()
    assert on_date == sub_index("o3_8h", 0.065, on="2014-01-01")
    assert on_date != revision_2012  # the two tables differ for this value
    assert pinned.execute(sql).fetchone() == (revision_2012, revision_2012)


def _table_boundaries(pollutant: str, key: str) -> list[float]:
    table = _COMPILED_TABLES[pollutant][key]
    unit = 1.0 / table.scale
    values: list[float] = [0.0, -unit]
    for c_low, c_high in zip(table.c_low, table.c_high, strict=True):
        low, high = c_low * unit, c_high * unit
        values += [low, high, high + unit / 2, high + unit, high - unit / 2, high + 1e-12, (low + high) / 2]
    return values


def _era_days(pollutant: str) -> list[tuple[str, str]]:
    """(table key, day) for each table of a pollutant: its first day in force and the day before the next."""
    steps = TABLES_IN_FORCE[pollutant]
    days = []
    for i, (first, key) in enumerate(steps):
        days.append((key, first.isoformat()))
        if i + 1 < len(steps):
            days.append((key, (steps[i + 1][0] - timedelta(days=1)).isoformat()))
    return days


#: every table held, on its first day in force and on its last
ON_DATE_CASES = [
    (pollutant, day, value)
    for pollutant in POLLUTANTS
    for key, day in _era_days(pollutant)
    for value in _table_boundaries(pollutant, key)
]


def test_sub_index_on_a_date_equals_python_for_every_table_held(con: duckdb.DuckDBPyConnection) -> None:
    """Each pollutant's own table in force on the day (O3 2008/2015, SO2/NO2 1999/2010, ...), in SQL."""
    rows = con.execute(
        "SELECT p, d, c, aqi_sub_index_on(p, c, d::DATE) "
        "FROM (SELECT unnest($1) AS p, unnest($2) AS d, unnest($3) AS c)",
        [[p for p, _, _ in ON_DATE_CASES], [d for _, d, _ in ON_DATE_CASES], [c for _, _, c in ON_DATE_CASES]],
    ).fetchall()
    assert len(rows) == len(ON_DATE_CASES)
    assert [(p, d, c, got) for p, d, c, got in rows if got != sub_index(p, c, on=d)] == []
    held = {(p, key) for p in POLLUTANTS for key in _COMPILED_TABLES[p]}
    assert len(held) == 18
    assert {(p, k) for p in POLLUTANTS for _, k in TABLES_IN_FORCE[p]} == held


def test_sub_index_on_unknown_pollutant_or_no_date(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(duckdb.Error, match="unknown AQI pollutant pm2"):
        con.execute("SELECT aqi_sub_index_on('pm2', 1.0, DATE '2011-01-03')").fetchall()
    with pytest.raises(duckdb.Error, match="no AQI table for pm25 on NULL"):
        con.execute("SELECT aqi_sub_index_on('pm25', 1.0, NULL::DATE)").fetchall()
    assert con.execute("SELECT aqi_sub_index_on('pm25', NULL::DOUBLE, NULL::DATE)").fetchone() == (None,)
