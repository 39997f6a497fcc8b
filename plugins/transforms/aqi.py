"""US EPA Air Quality Index (AQI) sub-indices, categories and the daily AQI.

The AQI maps a pollutant concentration onto a 0-500 index through a
piecewise-linear breakpoint table (EPA's "Equation 1")::

    I = (I_high - I_low) / (C_high - C_low) * (C - C_low) + I_low

where ``C`` is the concentration *truncated* to the precision of the table and
``C_low..C_high`` / ``I_low..I_high`` are the breakpoints of the row that
contains it. The day's AQI is the highest sub-index; the pollutant that
produced it is the "dominant" (responsible) pollutant.

Sources of the breakpoint tables below
--------------------------------------
Each pollutant has the tables of its own revisions (:data:`TABLES_IN_FORCE`), keyed by the year
of the notice that set them:

* ``2024`` (every pollutant): US EPA, *Technical Assistance Document for the Reporting of Daily
  Air Quality - the Air Quality Index (AQI)*, EPA-454/B-24-002, May 2024, Table 6 "Breakpoints
  for the AQI". It follows the PM2.5 NAAQS reconsideration (89 FR 16202, 7 March 2024; effective
  6 May 2024), which lowered the PM2.5 "Good" top to 9.0 ug/m3, moved the 151-200 / 201-300 rows,
  and merged the 301-400 and 401-500 rows of every pollutant into one "Hazardous" 301-500 row.
* PM2.5 ``2012``: 40 CFR Part 58 Appendix G as amended for the 2012 PM2.5 NAAQS (78 FR 3086,
  15 January 2013), as EPA-454/B-18-007 (September 2018 TAD) Table 5 prints it.
* O3 8-hour ``2015``: the 2015 ozone NAAQS (80 FR 65292, published 26 October 2015, effective
  28 December 2015): 0.000-0.054 ppm Good ... 0.106-0.200 ppm Very Unhealthy (2018 TAD Table 5).
* SO2 ``2010`` (1-hour, ppb; 24-hour above AQI 200 per the TAD footnote): the 2010 SO2 NAAQS,
  75 FR 35520 (published 22 June 2010, effective 23 August 2010); NO2 ``2010`` (1-hour, ppb):
  the 2010 NO2 NAAQS, 75 FR 6474 (published 9 February 2010, effective 12 April 2010). Both as
  the 2018 TAD Table 5 prints them.
* O3 8-hour ``2008``: the 2008 ozone NAAQS (73 FR 16436, published 27 March 2008, effective
  27 May 2008) set AQI 100 at 0.075 ppm: 0.000-0.059, 0.060-0.075, 0.076-0.095, 0.096-0.115,
  0.116-0.374 ppm. The table is 40 CFR 58 Appendix G Table 2 of the 2008 CFR edition as
  reprinted in full by the correction at 74 FR 30469 (26 June 2009).
* ``1999`` (PM2.5, PM10, CO, O3 1-hour, SO2, NO2): the AQI rule, 64 FR 42530 (published
  4 August 1999, effective 4 October 1999); the rows as the same 74 FR 30469 reprint shows them
  (those columns were not changed by the 2008 ozone rule). SO2 was indexed on 24-hour ppm
  (0.000-0.034 ... 0.805-1.004 ppm, held here as the same values in ppb) and NO2 only from AQI
  201 (0.65-1.24 ppm and up, held in ppb and truncated to 10 ppb as two decimals of ppm are);
  below 0.65 ppm NO2 had no sub-index, so ``sub_index`` gives None there.

Not held: the 8-hour ozone table of the 1999 rule (before 27 May 2008) could not be checked
against a copy of the rule here, so it is not reproduced; dates before 27 May 2008 use the 2008
ozone table (the oldest held), as dates before a pollutant's oldest table always do.

Which table is in force on a date (:func:`table_in_force`, :func:`revision_in_force`)
------------------------------------------------------------------------------------
With an observation date (``on=``), each pollutant's table is the one in force that day
(:data:`TABLES_IN_FORCE`). The PM2.5 dates, which also name the revisions
(:data:`PM25_REVISIONS`, :func:`revision_in_force`):

* before 2012-12-14: ``"1999"``. The 1999 AQI rule is the oldest table held here, so earlier
  dates use it too.
* 2012-12-14 to 2024-05-05: ``"2012"``. The final rule (78 FR 3086, published 15 January 2013)
  was signed on 14 December 2012, the day the EPA began reporting PM2.5 with the new AQI table
  (AirNow and AQS daily AQI values change on that date); the notice's formal effective date for
  the rest of the rule is 18 March 2013. EPA AirData daily AQI values follow the reporting date,
  which is why 14 December 2012 is the boundary here.
* from 2024-05-06: ``"2024"``: the PM2.5 NAAQS reconsideration (89 FR 16202, published
  6 March 2024, effective 6 May 2024).

The other pollutants change on their notices' effective dates: O3 8-hour 2008-05-27 and
2015-12-28, NO2 2010-04-12, SO2 2010-08-23; every pollutant's hazardous rows merge on 2024-05-06.

An explicit ``revision=`` always wins over the date. It names a PM2.5 era and selects, for every
pollutant, the table in force on that era's last day (:func:`revision_tables`): ``"1999"`` is the
set of 13 December 2012 (PM2.5 1999, O3 8-hour 2008, SO2 and NO2 2010), ``"2012"`` that of
5 May 2024 (the 2018 TAD's Table 5), ``"2024"`` the 2024 TAD. Dates inside an era where another
pollutant changed (O3 before 2015-12-28 in the 2012 era, SO2/NO2 before 2010 in the 1999 era)
therefore differ between ``on=`` and ``revision=revision_in_force(on)``: ``on=`` is the one in
force that day.

Judgment calls:

* SO2 in the 2024 TAD: the merged hazardous row is 605-1004 ppb (the old
  605-804 / 805-1004 rows joined), 201-300 stays 305-604 ppb.
* PM2.5 2024 top row is 225.5-325.4 ug/m3 -> 301-500; anything above a
  table's top row is "beyond the AQI" and yields ``None`` rather than an
  extrapolated value.
* Averaging periods (24 h for PM, 8 h for O3 8h and CO, 1 h for O3 1h, SO2
  and NO2; 24 h SO2 above AQI 200 per the TAD footnote, and for the whole
  1999 SO2 table) are the caller's responsibility: this module converts
  whatever concentration it is given.
* Ozone: 8-hour values above the table's top (0.200 ppm; 0.374 ppm in the
  2008 table) have no row (EPA: use the 1-hour value); 1-hour values below 0.125 ppm have no row (1-hour ozone only
  defines AQI >= 101). Both return ``None``.

Import cost: this module is imported by operators at DAG parse time, so only
the standard library is imported at module level; numpy and pyarrow are
imported inside :func:`sub_index_array`.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Final, NamedTuple

if TYPE_CHECKING:  # pragma: no cover - typing only, keeps parse time cheap
    import pyarrow as pa

__all__ = [
    "PM25_REVISIONS",
    "POLLUTANTS",
    "REVISIONS",
    "TABLES_IN_FORCE",
    "category",
    "dominant",
    "revision_in_force",
    "revision_tables",
    "sub_index",
    "sub_index_array",
    "table_in_force",
]

# --------------------------------------------------------------------------
# Breakpoint tables: (C_low, C_high, I_low, I_high), concentrations in EPA
# units -- ug/m3 for pm25/pm10, ppm for o3_8h/o3_1h/co, ppb for so2/no2.
# This is the single place the numbers live; everything else is derived.
# --------------------------------------------------------------------------
_Row = tuple[float, float, int, int]
_Table = tuple[_Row, ...]

# Digits kept after the decimal point when truncating (EPA TAD, "truncate"
# step): the table's own precision, so every truncated value falls in a row.
_DECIMALS: Final[Mapping[str, int]] = {
    "pm25": 1,
    "pm10": 0,
    "o3_8h": 3,
    "o3_1h": 3,
    "co": 1,
    "so2": 0,
    "no2": 0,
}

_PM25_1999: Final[_Table] = (
    (0.0, 15.4, 0, 50),
    (15.5, 40.4, 51, 100),
    (40.5, 65.4, 101, 150),
    (65.5, 150.4, 151, 200),
    (150.5, 250.4, 201, 300),
    (250.5, 350.4, 301, 400),
    (350.5, 500.4, 401, 500),
)

_PM25_2012: Final[_Table] = (
    (0.0, 12.0, 0, 50),
    (12.1, 35.4, 51, 100),
    (35.5, 55.4, 101, 150),
    (55.5, 150.4, 151, 200),
    (150.5, 250.4, 201, 300),
    (250.5, 350.4, 301, 400),
    (350.5, 500.4, 401, 500),
)

# Non-PM2.5 pollutants with the hazardous band split into 301-400 / 401-500
# (2018 TAD Table 5); used by revisions "1999" and "2012".
_SPLIT_HAZARDOUS: Final[Mapping[str, _Table]] = {
    "pm10": (
        (0, 54, 0, 50),
        (55, 154, 51, 100),
        (155, 254, 101, 150),
        (255, 354, 151, 200),
        (355, 424, 201, 300),
        (425, 504, 301, 400),
        (505, 604, 401, 500),
    ),
    "o3_8h": (
        (0.000, 0.054, 0, 50),
        (0.055, 0.070, 51, 100),
        (0.071, 0.085, 101, 150),
        (0.086, 0.105, 151, 200),
        (0.106, 0.200, 201, 300),
        # > 0.200 ppm: no 8-hour row, EPA says use the 1-hour value.
    ),
    "o3_1h": (
        # < 0.125 ppm: no 1-hour row, 1-hour ozone starts at AQI 101.
        (0.125, 0.164, 101, 150),
        (0.165, 0.204, 151, 200),
        (0.205, 0.404, 201, 300),
        (0.405, 0.504, 301, 400),
        (0.505, 0.604, 401, 500),
    ),
    "co": (
        (0.0, 4.4, 0, 50),
        (4.5, 9.4, 51, 100),
        (9.5, 12.4, 101, 150),
        (12.5, 15.4, 151, 200),
        (15.5, 30.4, 201, 300),
        (30.5, 40.4, 301, 400),
        (40.5, 50.4, 401, 500),
    ),
    "so2": (
        (0, 35, 0, 50),
        (36, 75, 51, 100),
        (76, 185, 101, 150),
        (186, 304, 151, 200),
        (305, 604, 201, 300),
        (605, 804, 301, 400),
        (805, 1004, 401, 500),
    ),
    "no2": (
        (0, 53, 0, 50),
        (54, 100, 51, 100),
        (101, 360, 101, 150),
        (361, 649, 151, 200),
        (650, 1249, 201, 300),
        (1250, 1649, 301, 400),
        (1650, 2049, 401, 500),
    ),
}

# 2024 TAD Table 6, written out in full: PM2.5 is new, and every pollutant's
# hazardous band is a single 301-500 row.
_TAD_2024: Final[Mapping[str, _Table]] = {
    "pm25": (
        (0.0, 9.0, 0, 50),
        (9.1, 35.4, 51, 100),
        (35.5, 55.4, 101, 150),
        (55.5, 125.4, 151, 200),
        (125.5, 225.4, 201, 300),
        (225.5, 325.4, 301, 500),
    ),
    "pm10": (
        (0, 54, 0, 50),
        (55, 154, 51, 100),
        (155, 254, 101, 150),
        (255, 354, 151, 200),
        (355, 424, 201, 300),
        (425, 604, 301, 500),
    ),
    "o3_8h": (
        (0.000, 0.054, 0, 50),
        (0.055, 0.070, 51, 100),
        (0.071, 0.085, 101, 150),
        (0.086, 0.105, 151, 200),
        (0.106, 0.200, 201, 300),
    ),
    "o3_1h": (
        (0.125, 0.164, 101, 150),
        (0.165, 0.204, 151, 200),
        (0.205, 0.404, 201, 300),
        (0.405, 0.604, 301, 500),
    ),
    "co": (
        (0.0, 4.4, 0, 50),
        (4.5, 9.4, 51, 100),
        (9.5, 12.4, 101, 150),
        (12.5, 15.4, 151, 200),
        (15.5, 30.4, 201, 300),
        (30.5, 50.4, 301, 500),
    ),
    "so2": (
        (0, 35, 0, 50),
        (36, 75, 51, 100),
        (76, 185, 101, 150),
        (186, 304, 151, 200),
        (305, 604, 201, 300),
        (605, 1004, 301, 500),
    ),
    "no2": (
        (0, 53, 0, 50),
        (54, 100, 51, 100),
        (101, 360, 101, 150),
        (361, 649, 151, 200),
        (650, 1249, 201, 300),
        (1250, 2049, 301, 500),
    ),
}

# Tables of earlier eras, in today's units (ppb for SO2 and NO2, so one caller-side unit for every
# era). 40 CFR 58 Appendix G, Table 2 as it stood after the 2008 ozone revision (the 2008 CFR
# edition, reprinted in full by the correction at 74 FR 30469, 26 June 2009): 8-hour O3 on the
# 0.075 ppm standard, SO2 on 24-hour ppm, NO2 in ppm with no index below 201. The SO2 and NO2
# columns are the 1999 rule's (64 FR 42530), unchanged until 2010.
_O3_8H_2008: Final[_Table] = (
    (0.000, 0.059, 0, 50),
    (0.060, 0.075, 51, 100),
    (0.076, 0.095, 101, 150),
    (0.096, 0.115, 151, 200),
    (0.116, 0.374, 201, 300),
    # > 0.374 ppm: no 8-hour row, the 1-hour value decides (footnote 2 of the table)
)
# 0.000-0.034 ppm ... 0.805-1.004 ppm (24-hour): three decimals of ppm are whole ppb
_SO2_1999: Final[_Table] = (
    (0, 34, 0, 50),
    (35, 144, 51, 100),
    (145, 224, 101, 150),
    (225, 304, 151, 200),
    (305, 604, 201, 300),
    (605, 804, 301, 400),
    (805, 1004, 401, 500),
)
# 0.65-1.24 ppm -> 201-300, 1.25-1.64 -> 301-400, 1.65-2.04 -> 401-500 (1-hour); below 0.65 ppm
# NO2 has no sub-index ("NO2 has no short-term NAAQS and can generate an AQI only above 200").
# Two decimals of ppm are tens of ppb: this table truncates to 10 ppb (see _TABLE_DECIMALS).
_NO2_1999: Final[_Table] = (
    (650, 1240, 201, 300),
    (1250, 1640, 301, 400),
    (1650, 2040, 401, 500),
)

#: every table held: pollutant -> table key -> rows. A key names the notice that set the table.
_TABLES: Final[Mapping[str, Mapping[str, _Table]]] = {
    "pm25": {"1999": _PM25_1999, "2012": _PM25_2012, "2024": _TAD_2024["pm25"]},
    "pm10": {"1999": _SPLIT_HAZARDOUS["pm10"], "2024": _TAD_2024["pm10"]},
    "o3_8h": {"2008": _O3_8H_2008, "2015": _SPLIT_HAZARDOUS["o3_8h"], "2024": _TAD_2024["o3_8h"]},
    "o3_1h": {"1999": _SPLIT_HAZARDOUS["o3_1h"], "2024": _TAD_2024["o3_1h"]},
    "co": {"1999": _SPLIT_HAZARDOUS["co"], "2024": _TAD_2024["co"]},
    "so2": {"1999": _SO2_1999, "2010": _SPLIT_HAZARDOUS["so2"], "2024": _TAD_2024["so2"]},
    "no2": {"1999": _NO2_1999, "2010": _SPLIT_HAZARDOUS["no2"], "2024": _TAD_2024["no2"]},
}
#: truncation digits of a table that differ from its pollutant's (:data:`_DECIMALS`)
_TABLE_DECIMALS: Final[Mapping[tuple[str, str], int]] = {("no2", "1999"): -1}

_AQI_RULE: Final = date(1999, 10, 4)  # 64 FR 42530, effective 4 October 1999
_HAZARDOUS_MERGED: Final = date(2024, 5, 6)  # 89 FR 16202: every 301-400/401-500 pair merged
#: pollutant -> (first day in force, table key), oldest first; see "Which table is in force on a
#: date" in the module docstring for the notice behind each date
TABLES_IN_FORCE: Final[Mapping[str, tuple[tuple[date, str], ...]]] = {
    "pm25": ((_AQI_RULE, "1999"), (date(2012, 12, 14), "2012"), (_HAZARDOUS_MERGED, "2024")),
    "pm10": ((_AQI_RULE, "1999"), (_HAZARDOUS_MERGED, "2024")),
    "o3_8h": ((date(2008, 5, 27), "2008"), (date(2015, 12, 28), "2015"), (_HAZARDOUS_MERGED, "2024")),
    "o3_1h": ((_AQI_RULE, "1999"), (_HAZARDOUS_MERGED, "2024")),
    "co": ((_AQI_RULE, "1999"), (_HAZARDOUS_MERGED, "2024")),
    "so2": ((_AQI_RULE, "1999"), (date(2010, 8, 23), "2010"), (_HAZARDOUS_MERGED, "2024")),
    "no2": ((_AQI_RULE, "1999"), (date(2010, 4, 12), "2010"), (_HAZARDOUS_MERGED, "2024")),
}

#: Pollutant keys accepted by :func:`sub_index` / :func:`sub_index_array`.
POLLUTANTS: Final[tuple[str, ...]] = tuple(_DECIMALS)

#: PM2.5 (first day in force, revision), oldest first: see "Which revision is in force on a date"
#: in the module docstring for the Federal Register notices behind each date.
PM25_REVISIONS: Final[tuple[tuple[date, str], ...]] = TABLES_IN_FORCE["pm25"]
#: Breakpoint revisions accepted by the ``revision`` keyword (named by their PM2.5 table).
REVISIONS: Final[tuple[str, ...]] = tuple(key for _, key in PM25_REVISIONS)
#: the revision used when neither a revision nor a date is given (the one in force today)
CURRENT_REVISION: Final[str] = PM25_REVISIONS[-1][1]


def _day(on: date | str) -> date:
    return date.fromisoformat(on[:10]) if isinstance(on, str) else on


def _in_force(steps: tuple[tuple[date, str], ...], day: date) -> str:
    """The key of the last step starting on or before ``day`` (the oldest before the first)."""
    chosen = steps[0][1]
    for first_day, key in steps:
        if day >= first_day:
            chosen = key
    return chosen


def revision_in_force(on: date | str) -> str:
    """The PM2.5 breakpoint revision in force on an observation date (``date`` or ``YYYY-MM-DD``).

    Dates before the oldest revision held (the 1999 table) use that table. The other pollutants'
    tables changed on other dates: :func:`table_in_force` gives each one's.
    """
    return _in_force(PM25_REVISIONS, _day(on))


def table_in_force(pollutant: str, on: date | str) -> str:
    """The key of ``pollutant``'s breakpoint table in force on a date (see :data:`TABLES_IN_FORCE`).

    A date before the oldest table held for the pollutant uses that table.
    """
    try:
        steps = TABLES_IN_FORCE[pollutant]
    except (KeyError, TypeError):
        raise ValueError(f"unknown AQI pollutant {pollutant!r}; expected one of {', '.join(POLLUTANTS)}") from None
    return _in_force(steps, _day(on))


def revision_tables(revision: str) -> dict[str, str]:
    """The table of each pollutant an explicit ``revision`` selects: those in force on the last day
    of the revision's PM2.5 era (the day before the next revision; the current one: its first day).

    ``"1999"`` is therefore the set of late 2012 (O3 2008, SO2/NO2 2010), ``"2012"`` that of early
    2024 (O3 2015), ``"2024"`` the 2024 TAD.
    """
    firsts = [first for first, _ in PM25_REVISIONS]
    keys = [key for _, key in PM25_REVISIONS]
    if revision not in keys:
        raise ValueError(f"unknown AQI revision {revision!r}; expected one of {', '.join(REVISIONS)}")
    at = keys.index(revision)
    day = firsts[at + 1] - timedelta(days=1) if at + 1 < len(firsts) else firsts[at]
    return {pollutant: table_in_force(pollutant, day) for pollutant in POLLUTANTS}


# Truncation is floor(C * 10**decimals + _EPSILON). The epsilon (in units of
# the last kept digit) absorbs binary float artefacts -- 35.4 is stored as
# 35.39999999999999857891452847979962825775146484375, and values such as
# 0.29 * 100 == 28.999999999999996 -- without ever rounding a genuinely
# larger fractional part up: 35.45 still truncates to 35.4. The same
# expression, evaluated in IEEE double both by Python and numpy, gives the
# scalar and vectorised paths bit-identical results.
_EPSILON: Final[float] = 1e-6


class _Compiled(NamedTuple):
    """A breakpoint table scaled to integers in units of the last kept digit.

    Integer breakpoints make row lookup and the interpolation exact, so
    "round half up" really rounds halves up instead of depending on whether
    a quotient came out as x.4999999 or x.5000001.
    """

    scale: float
    c_low: tuple[int, ...]
    c_high: tuple[int, ...]
    i_low: tuple[int, ...]
    i_high: tuple[int, ...]


def _compile(key: str, pollutant: str, table: _Table) -> _Compiled:
    """Scale one table to integers and check it is internally consistent.

    The checks catch typos in the literal tables at import time (a row that
    does not start one unit after the previous one ends, or a breakpoint with
    more digits than the truncation keeps).
    """
    decimals = _TABLE_DECIMALS.get((pollutant, key), _DECIMALS[pollutant])
    scale = 10.0**decimals

    def scaled(value: float) -> int:
        as_int = round(value * scale)
        if abs(as_int - value * scale) > 1e-6:
            raise RuntimeError(f"AQI table {key}/{pollutant}: breakpoint {value!r} has more than {decimals} decimals")
        return as_int

    c_low = tuple(scaled(row[0]) for row in table)
    c_high = tuple(scaled(row[1]) for row in table)
    i_low = tuple(row[2] for row in table)
    i_high = tuple(row[3] for row in table)
    for k in range(len(table)):
        if not (c_high[k] > c_low[k] and i_high[k] > i_low[k]):
            raise RuntimeError(f"AQI table {key}/{pollutant}: empty row {table[k]!r}")
        if k and (c_low[k] != c_high[k - 1] + 1 or i_low[k] != i_high[k - 1] + 1):
            raise RuntimeError(f"AQI table {key}/{pollutant}: row {table[k]!r} does not follow {table[k - 1]!r}")
    return _Compiled(scale, c_low, c_high, i_low, i_high)


#: every table held, compiled: pollutant -> table key -> table
_COMPILED_TABLES: Final[Mapping[str, Mapping[str, _Compiled]]] = {
    p: {key: _compile(key, p, rows) for key, rows in tables.items()} for p, tables in _TABLES.items()
}
#: the tables an explicit revision selects (:func:`revision_tables`): revision -> pollutant -> table
_COMPILED: Final[Mapping[str, Mapping[str, _Compiled]]] = {
    revision: {p: _COMPILED_TABLES[p][key] for p, key in revision_tables(revision).items()} for revision in REVISIONS
}


def _lookup(pollutant: str, revision: str) -> _Compiled:
    """Return the compiled table, raising ``ValueError`` naming a bad key."""
    try:
        tables = _COMPILED[revision]
    except (KeyError, TypeError):
        raise ValueError(f"unknown AQI revision {revision!r}; expected one of {', '.join(REVISIONS)}") from None
    try:
        return tables[pollutant]
    except (KeyError, TypeError):
        raise ValueError(f"unknown AQI pollutant {pollutant!r}; expected one of {', '.join(POLLUTANTS)}") from None


def _resolve(pollutant: str, revision: str | None, on: date | str | None) -> _Compiled:
    """An explicit revision wins; else the pollutant's table in force on ``on``; else the current one."""
    if revision is not None:
        return _lookup(pollutant, revision)
    if on is not None:
        return _COMPILED_TABLES[pollutant][table_in_force(pollutant, on)]
    return _lookup(pollutant, CURRENT_REVISION)


def sub_index(
    pollutant: str, concentration: float | None, *, revision: str | None = None, on: date | str | None = None
) -> int | None:
    """Return the EPA AQI sub-index of one pollutant concentration.

    Args:
        pollutant: one of ``"pm25"``, ``"pm10"``, ``"o3_8h"``, ``"o3_1h"``,
            ``"co"``, ``"so2"``, ``"no2"``.
        concentration: in EPA units -- ug/m3 (PM2.5, PM10), ppm (O3, CO),
            ppb (SO2, NO2) -- already averaged over the pollutant's period.
        revision: breakpoint revision, ``"1999"``, ``"2012"`` or ``"2024"``
            (see the module docstring for what each selects); wins over ``on``.
        on: the observation date: the pollutant's table in force that day
            (:func:`table_in_force`). Neither given: the current revision (``"2024"``).

    Returns:
        The sub-index (0-500), or ``None`` when the concentration is missing
        (``None``/NaN), negative, above the table's top row, or in no row
        (8-hour O3 above the table's top -- 0.200 ppm, 0.374 ppm in 2008 --,
        1-hour O3 below 0.125 ppm, NO2 below 0.65 ppm before 2010-04-12).

    Raises:
        ValueError: unknown pollutant or revision.
    """
    table = _resolve(pollutant, revision, on)
    if concentration is None:
        return None
    value = float(concentration)
    # NaN and +inf fail isfinite; +inf would also overflow math.floor.
    if not math.isfinite(value) or value < 0:
        return None
    truncated = math.floor(value * table.scale + _EPSILON)
    row = bisect_right(table.c_low, truncated) - 1
    if row < 0 or truncated > table.c_high[row]:
        return None
    return _interpolate(
        truncated,
        table.c_low[row],
        table.c_high[row],
        table.i_low[row],
        table.i_high[row],
    )


def _interpolate(c: int, c_low: int, c_high: int, i_low: int, i_high: int) -> int:
    """EPA Equation 1 on integer breakpoints, rounded half up, exactly.

    round_half_up(a / b) == floor((2a + b) / (2b)) for a >= 0, b > 0; doing it
    in integers avoids both float error and Python's banker's ``round``.
    """
    numerator = (i_high - i_low) * (c - c_low)
    denominator = c_high - c_low
    return i_low + (2 * numerator + denominator) // (2 * denominator)


def category(aqi: int) -> str:
    """Return the EPA category name for an AQI value.

    0-50 Good, 51-100 Moderate, 101-150 Unhealthy for Sensitive Groups,
    151-200 Unhealthy, 201-300 Very Unhealthy, 301 and above Hazardous
    (values above 500 are "beyond the AQI" but still hazardous).

    Raises:
        ValueError: for a negative AQI.
    """
    if aqi < 0:
        raise ValueError(f"AQI must be non-negative, got {aqi!r}")
    for upper, name in _CATEGORIES:
        if aqi <= upper:
            return name
    return "Hazardous"


# (highest AQI of the category, name); "Hazardous" is everything above 300.
_CATEGORIES: Final[tuple[tuple[int, str], ...]] = (
    (50, "Good"),
    (100, "Moderate"),
    (150, "Unhealthy for Sensitive Groups"),
    (200, "Unhealthy"),
    (300, "Very Unhealthy"),
)


def dominant(sub_indices: Mapping[str, int | None]) -> tuple[int, str] | None:
    """Return the day's AQI and the pollutant responsible for it.

    The AQI is the maximum of the sub-indices; ``None`` entries are ignored.
    When several pollutants share the maximum, the alphabetically first
    pollutant name wins, so the result never depends on mapping order.

    Returns:
        ``(aqi, pollutant)``, or ``None`` when the mapping is empty or every
        sub-index is ``None``.
    """
    present = [(value, name) for name, value in sub_indices.items() if value is not None]
    if not present:
        return None
    best = max(value for value, _ in present)
    return best, min(name for value, name in present if value == best)


def _as_arrow(values: Any, arrow_type: pa.DataType) -> pa.Array:
    """Coerce an array-like (pyarrow, pandas, numpy, list) to one arrow Array."""
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        # from_pandas=True: NaN in float input becomes null, like None.
        values = pa.array(values, from_pandas=True)
    # Casting (rather than passing type= to pa.array) also handles dictionary
    # / categorical pollutant columns and integer concentration columns.
    return values.cast(arrow_type)


def sub_index_array(
    pollutants: Any, concentrations: Any, *, revision: str | None = None, on: date | str | None = None
) -> pa.Array:
    """Vectorised :func:`sub_index` over two equal-length columns.

    Args:
        pollutants: pollutant name per element (pyarrow Array/ChunkedArray,
            pandas Series, numpy array or list; nulls allowed).
        concentrations: concentration per element, same kinds of input;
            nulls and NaN allowed.
        revision, on: as for :func:`sub_index` (one date for the whole array).

    Returns:
        A ``pyarrow.Array`` of int32, null wherever :func:`sub_index` would
        return ``None`` (including null pollutant names).

    Raises:
        ValueError: unknown revision, unknown pollutant name in the data, or
            inputs of different length.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if revision is not None and revision not in _COMPILED:
        _lookup(POLLUTANTS[0], revision)  # raises the standard ValueError
    names_arr = _as_arrow(pollutants, pa.string())
    conc_arr = _as_arrow(concentrations, pa.float64())
    if len(names_arr) != len(conc_arr):
        raise ValueError(f"pollutants and concentrations differ in length: {len(names_arr)} != {len(conc_arr)}")

    # Dictionary-encode so the work is one numpy pass per distinct pollutant,
    # not one Python call per element.
    encoded = names_arr.dictionary_encode()
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    names: list[str] = encoded.dictionary.to_pylist()
    tables = [_resolve(name, revision, on) for name in names]

    conc = pc.fill_null(conc_arr, math.nan).to_numpy(zero_copy_only=False)
    n = len(conc)
    out = np.zeros(n, dtype=np.int64)
    valid = np.zeros(n, dtype=bool)
    with np.errstate(invalid="ignore"):
        usable = np.isfinite(conc) & (conc >= 0)

    for code, table in enumerate(tables):
        where = np.flatnonzero((codes == code) & usable)
        if where.size == 0:
            continue
        c_low = np.asarray(table.c_low, dtype=np.int64)
        c_high = np.asarray(table.c_high, dtype=np.int64)
        i_low = np.asarray(table.i_low, dtype=np.int64)
        i_high = np.asarray(table.i_high, dtype=np.int64)

        # Same expression as the scalar path (see _EPSILON).
        truncated_f = np.floor(conc[where] * table.scale + _EPSILON)
        # Cap before the int cast: anything past the top row is invalid anyway,
        # and a huge float would overflow int64.
        truncated = np.minimum(truncated_f, float(c_high[-1] + 1)).astype(np.int64)

        row = np.searchsorted(c_low, truncated, side="right") - 1
        safe_row = np.maximum(row, 0)  # index-safe; masked out below
        in_row = (row >= 0) & (truncated <= c_high[safe_row])

        numerator = (i_high - i_low)[safe_row] * (truncated - c_low[safe_row])
        denominator = (c_high - c_low)[safe_row]
        aqi = i_low[safe_row] + (2 * numerator + denominator) // (2 * denominator)

        out[where[in_row]] = aqi[in_row]
        valid[where[in_row]] = True

    return pa.array(out.astype(np.int32), type=pa.int32(), mask=~valid)
