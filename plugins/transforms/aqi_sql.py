"""The EPA AQI as DuckDB SQL functions, for SQL models (``models:`` in a YAML pipeline).

:func:`register` creates these macros on a DuckDB connection; every model's connection has them.
They are SQL macros (``CASE`` expressions generated from the one set of breakpoint tables in
:mod:`lockgate.transforms.aqi`), so DuckDB evaluates them vectorised, with no Python call per row,
and they give exactly what :func:`lockgate.transforms.aqi.sub_index` gives (same truncation, same
integer "round half up" of EPA Equation 1; ``tests/unit/transforms/test_aqi_sql.py`` checks every
breakpoint boundary of every pollutant and revision).

===========================================================  ===============================================
``aqi_sub_index(pollutant, concentration, revision)``        the sub-index (INTEGER), NULL where
                                                             ``sub_index`` gives None (missing, negative,
                                                             beyond the table, no row)
``aqi_sub_index_on(pollutant, concentration, day)``          the same with the pollutant's table in force on
                                                             ``day`` (:func:`~lockgate.transforms.aqi.table_in_force`)
``aqi_revision_on(day)``                                     the PM2.5 revision in force on ``day``: ``'1999'``,
                                                             ``'2012'`` or ``'2024'``
``aqi_truncate(pollutant, concentration)``                   the concentration truncated to the table's
                                                             precision (DOUBLE), as the EPA's step 1
``aqi_category(aqi)``                                        ``'Good'`` ... ``'Hazardous'``
===========================================================  ===============================================

Examples (DuckDB)::

    SELECT aqi_sub_index('pm25', 35.9, '2024');             -- 102
    SELECT aqi_sub_index_on('pm25', 54.4, DATE '2011-01-03'); -- 128 (1999 table)
    SELECT aqi_truncate('o3_8h', 0.0789);                    -- 0.078
    SELECT aqi_category(151);                                -- 'Unhealthy'
    SELECT station_id, max(aqi_sub_index('pm25', pm25, aqi_revision_on(day))) FROM daily GROUP BY 1;

An unknown pollutant or revision is an error naming it (not NULL): a typo must not read as "no
data". Pollutant names are those of :data:`lockgate.transforms.aqi.POLLUTANTS`.
"""

from __future__ import annotations

from typing import Any

from lockgate.transforms.aqi import (
    _CATEGORIES,
    _COMPILED,
    _COMPILED_TABLES,
    _DECIMALS,
    _EPSILON,
    PM25_REVISIONS,
    POLLUTANTS,
    REVISIONS,
    TABLES_IN_FORCE,
    _Compiled,
)

__all__ = ["FUNCTIONS", "macros", "register"]

#: the names :func:`register` defines (what a model's SQL may call besides DuckDB's own functions)
FUNCTIONS = ("aqi_sub_index", "aqi_sub_index_on", "aqi_revision_on", "aqi_truncate", "aqi_category")


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _scaled() -> str:
    """SQL of the truncated concentration in units of the table's last digit (a BIGINT), as the scalar
    path computes it: floor(C * 10**decimals + epsilon) in IEEE double."""
    scales = " ".join(f"WHEN {_quoted(p)} THEN {10 ** _DECIMALS[p]}.0" for p in POLLUTANTS)
    known = ", ".join(POLLUTANTS)
    scale = f"CASE p {scales} ELSE error('unknown AQI pollutant ' || p || '; expected one of ' || {_quoted(known)}) END"
    # NULL, NaN, infinities and negatives have no sub-index; the cap keeps a huge value from
    # overflowing the BIGINT cast (anything past the top row is NULL anyway)
    return (
        "CASE WHEN p IS NULL OR c IS NULL OR NOT isfinite(c::DOUBLE) OR c::DOUBLE < 0 THEN NULL "
        f"ELSE least(floor(c::DOUBLE * ({scale}) + {_EPSILON!r}), 1e15)::BIGINT END"
    )


def _table_case(revision: str, pollutant: str) -> str:
    """A CASE over one table's rows on the scaled value ``t``: EPA Equation 1 rounded half up in integers."""
    table = _COMPILED[revision][pollutant]
    # the revision path scales by the pollutant's digits: every table a revision selects has them
    assert table.scale == 10.0 ** _DECIMALS[pollutant], (revision, pollutant)
    return _rows_case(table)


def _rows_case(table: _Compiled) -> str:
    rows = []
    for c_low, c_high, i_low, i_high in zip(table.c_low, table.c_high, table.i_low, table.i_high, strict=True):
        span = c_high - c_low
        equation = f"{i_low} + (2 * {i_high - i_low} * (t - {c_low}) + {span}) // {2 * span}"
        rows.append(f"WHEN t BETWEEN {c_low} AND {c_high} THEN {equation}")
    return "CASE " + " ".join(rows) + " END"


def _sub_index_body() -> str:
    branches = []
    for revision in REVISIONS:
        for pollutant in POLLUTANTS:
            branches.append(
                f"WHEN r = {_quoted(revision)} AND p = {_quoted(pollutant)} THEN {_table_case(revision, pollutant)}"
            )
    revisions = ", ".join(REVISIONS)
    return (
        "CASE WHEN t IS NULL THEN NULL "
        + " ".join(branches)
        + f" ELSE error('unknown AQI revision ' || coalesce(r, 'NULL') || '; expected one of {revisions}') END"
    )


def _on_date_body() -> str:
    """``_aqi_on_date(p, c, k, d)``: the sub-index by the pollutant's table ``k`` (its own truncation digits)."""
    branches = []
    for pollutant in POLLUTANTS:
        for key, table in _COMPILED_TABLES[pollutant].items():
            scaled = f"least(floor(c::DOUBLE * {table.scale!r} + {_EPSILON!r}), 1e15)::BIGINT"
            branches.append(
                f"WHEN p = {_quoted(pollutant)} AND k = {_quoted(key)} "
                f"THEN list_transform([{scaled}], lambda t: {_rows_case(table)})[1]"
            )
    known = ", ".join(POLLUTANTS)
    listed = ", ".join(_quoted(p) for p in POLLUTANTS)
    return (
        "CASE WHEN p IS NULL OR c IS NULL OR NOT isfinite(c::DOUBLE) OR c::DOUBLE < 0 THEN NULL "
        + " ".join(branches)
        + f" WHEN p NOT IN ({listed}) THEN error('unknown AQI pollutant ' || p || '; expected one of ' || "
        f"{_quoted(known)}) ELSE error('no AQI table for ' || p || ' on ' || coalesce(CAST(d AS VARCHAR), 'NULL')) END"
    )


def _table_on() -> str:
    """``_aqi_table_on(p, d)``: the key of the pollutant's table in force on ``d`` (NULL for a NULL day)."""
    per_pollutant = []
    for pollutant in POLLUTANTS:
        steps = TABLES_IN_FORCE[pollutant]
        since = " ".join(
            f"WHEN d::DATE >= DATE '{first.isoformat()}' THEN {_quoted(key)}" for first, key in reversed(steps)
        )
        per_pollutant.append(f"WHEN {_quoted(pollutant)} THEN CASE {since} ELSE {_quoted(steps[0][1])} END")
    known = ", ".join(POLLUTANTS)
    return (
        f"CASE WHEN d IS NULL THEN NULL ELSE CASE p {' '.join(per_pollutant)} "
        f"ELSE error('unknown AQI pollutant ' || p || '; expected one of ' || {_quoted(known)}) END END"
    )


def _revision_on() -> str:
    branches = " ".join(
        f"WHEN d::DATE >= DATE '{first.isoformat()}' THEN {_quoted(rev)}" for first, rev in reversed(PM25_REVISIONS)
    )
    return f"CASE WHEN d IS NULL THEN NULL {branches} ELSE {_quoted(PM25_REVISIONS[0][1])} END"


def _category() -> str:
    branches = " ".join(f"WHEN a <= {upper} THEN {_quoted(name)}" for upper, name in _CATEGORIES)
    return (
        "CASE WHEN a IS NULL THEN NULL WHEN a < 0 THEN error('AQI must be non-negative, got ' || a) "
        f"{branches} ELSE 'Hazardous' END"
    )


def macros() -> list[str]:
    """The ``CREATE OR REPLACE MACRO`` statements, in dependency order."""
    scaled = _scaled()
    decimals = " ".join(f"WHEN {_quoted(p)} THEN {10 ** _DECIMALS[p]}.0" for p in POLLUTANTS)
    return [
        f"CREATE OR REPLACE MACRO _aqi_scaled(p, c) AS ({scaled})",
        f"CREATE OR REPLACE MACRO _aqi_index(p, t, r) AS ({_sub_index_body()})",
        # the lambda binds the truncated value once: a macro argument is substituted textually,
        # and the index's CASE names it in every row of every table
        "CREATE OR REPLACE MACRO aqi_sub_index(p, c, r) AS "
        "(list_transform([_aqi_scaled(p, c)], lambda t: _aqi_index(p, t, r))[1])::INTEGER",
        f"CREATE OR REPLACE MACRO aqi_revision_on(d) AS ({_revision_on()})",
        f"CREATE OR REPLACE MACRO _aqi_table_on(p, d) AS ({_table_on()})",
        f"CREATE OR REPLACE MACRO _aqi_on_date(p, c, k, d) AS ({_on_date_body()})",
        # no revision pinned: a model that pins one replaces this macro (lockgate.operators.model)
        "CREATE OR REPLACE MACRO _aqi_pinned_revision() AS (NULL::VARCHAR)",
        # each pollutant's table in force on the day; a pinned revision selects that revision's tables
        "CREATE OR REPLACE MACRO aqi_sub_index_on(p, c, d) AS (CASE "
        "WHEN _aqi_pinned_revision() IS NOT NULL THEN aqi_sub_index(p, c, _aqi_pinned_revision()) "
        "ELSE _aqi_on_date(p, c, _aqi_table_on(p, d), d) END)::INTEGER",
        f"CREATE OR REPLACE MACRO aqi_truncate(p, c) AS (_aqi_scaled(p, c) / (CASE p {decimals} END))",
        f"CREATE OR REPLACE MACRO aqi_category(a) AS ({_category()})",
    ]


def register(con: Any) -> None:
    """Define the AQI functions on a DuckDB connection (idempotent)."""
    for statement in macros():
        con.execute(statement)
