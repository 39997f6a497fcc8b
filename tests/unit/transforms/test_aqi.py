"""Tests for lockgate.transforms.aqi (US EPA AQI).

The breakpoint tables below are typed out independently from the EPA
documents (2024 TAD EPA-454/B-24-002 Table 6; 2018 TAD EPA-454/B-18-007
Table 5; 40 CFR 58 App. G 1999) rather than imported from the module, so a
typo in the module's tables fails these tests.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lockgate.transforms.aqi import category, dominant, sub_index, sub_index_array

# (C_low, C_high, I_low, I_high) -- written out literally, do not derive.
Rows = list[tuple[float, float, int, int]]

SPLIT_OTHER: dict[str, Rows] = {
    "pm10": [
        (0, 54, 0, 50),
        (55, 154, 51, 100),
        (155, 254, 101, 150),
        (255, 354, 151, 200),
        (355, 424, 201, 300),
        (425, 504, 301, 400),
        (505, 604, 401, 500),
    ],
    "o3_8h": [
        (0.000, 0.054, 0, 50),
        (0.055, 0.070, 51, 100),
        (0.071, 0.085, 101, 150),
        (0.086, 0.105, 151, 200),
        (0.106, 0.200, 201, 300),
    ],
    "o3_1h": [
        (0.125, 0.164, 101, 150),
        (0.165, 0.204, 151, 200),
        (0.205, 0.404, 201, 300),
        (0.405, 0.504, 301, 400),
        (0.505, 0.604, 401, 500),
    ],
    "co": [
        (0.0, 4.4, 0, 50),
        (4.5, 9.4, 51, 100),
        (9.5, 12.4, 101, 150),
        (12.5, 15.4, 151, 200),
        (15.5, 30.4, 201, 300),
        (30.5, 40.4, 301, 400),
        (40.5, 50.4, 401, 500),
    ],
    "so2": [
        (0, 35, 0, 50),
        (36, 75, 51, 100),
        (76, 185, 101, 150),
        (186, 304, 151, 200),
        (305, 604, 201, 300),
        (605, 804, 301, 400),
        (805, 1004, 401, 500),
    ],
    "no2": [
        (0, 53, 0, 50),
        (54, 100, 51, 100),
        (101, 360, 101, 150),
        (361, 649, 151, 200),
        (650, 1249, 201, 300),
        (1250, 1649, 301, 400),
        (1650, 2049, 401, 500),
    ],
}

# 40 CFR 58 App. G Table 2, 2008 edition as reprinted at 74 FR 30469 (26 June 2009): 8-hour O3
# after the 2008 ozone rule, SO2 (24-hour ppm, here in ppb) and NO2 (ppm, here in ppb) of 1999.
O3_8H_2008: Rows = [
    (0.000, 0.059, 0, 50),
    (0.060, 0.075, 51, 100),
    (0.076, 0.095, 101, 150),
    (0.096, 0.115, 151, 200),
    (0.116, 0.374, 201, 300),
]
SO2_1999_PPB: Rows = [
    (0, 34, 0, 50),
    (35, 144, 51, 100),
    (145, 224, 101, 150),
    (225, 304, 151, 200),
    (305, 604, 201, 300),
    (605, 804, 301, 400),
    (805, 1004, 401, 500),
]
NO2_1999_PPB: Rows = [  # 0.65-1.24 ppm and up: truncated to 0.01 ppm = 10 ppb
    (650, 1240, 201, 300),
    (1250, 1640, 301, 400),
    (1650, 2040, 401, 500),
]

EXPECTED_TABLES: dict[str, dict[str, Rows]] = {
    # an explicit revision: every pollutant's table in force on the revision's last day
    # ("1999": 2012-12-13, when O3 had the 2008 table and SO2/NO2 those of 2010)
    "1999": {
        "pm25": [
            (0.0, 15.4, 0, 50),
            (15.5, 40.4, 51, 100),
            (40.5, 65.4, 101, 150),
            (65.5, 150.4, 151, 200),
            (150.5, 250.4, 201, 300),
            (250.5, 350.4, 301, 400),
            (350.5, 500.4, 401, 500),
        ],
        **SPLIT_OTHER,
        "o3_8h": O3_8H_2008,
    },
    "2012": {
        "pm25": [
            (0.0, 12.0, 0, 50),
            (12.1, 35.4, 51, 100),
            (35.5, 55.4, 101, 150),
            (55.5, 150.4, 151, 200),
            (150.5, 250.4, 201, 300),
            (250.5, 350.4, 301, 400),
            (350.5, 500.4, 401, 500),
        ],
        **SPLIT_OTHER,
    },
    "2024": {
        "pm25": [
            (0.0, 9.0, 0, 50),
            (9.1, 35.4, 51, 100),
            (35.5, 55.4, 101, 150),
            (55.5, 125.4, 151, 200),
            (125.5, 225.4, 201, 300),
            (225.5, 325.4, 301, 500),
        ],
        "pm10": [
            (0, 54, 0, 50),
            (55, 154, 51, 100),
            (155, 254, 101, 150),
            (255, 354, 151, 200),
            (355, 424, 201, 300),
            (425, 604, 301, 500),
        ],
        "o3_8h": [
            (0.000, 0.054, 0, 50),
            (0.055, 0.070, 51, 100),
            (0.071, 0.085, 101, 150),
            (0.086, 0.105, 151, 200),
            (0.106, 0.200, 201, 300),
        ],
        "o3_1h": [
            (0.125, 0.164, 101, 150),
            (0.165, 0.204, 151, 200),
            (0.205, 0.404, 201, 300),
            (0.405, 0.604, 301, 500),
        ],
        "co": [
            (0.0, 4.4, 0, 50),
            (4.5, 9.4, 51, 100),
            (9.5, 12.4, 101, 150),
            (12.5, 15.4, 151, 200),
            (15.5, 30.4, 201, 300),
            (30.5, 50.4, 301, 500),
        ],
        "so2": [
            (0, 35, 0, 50),
            (36, 75, 51, 100),
            (76, 185, 101, 150),
            (186, 304, 151, 200),
            (305, 604, 201, 300),
            (605, 1004, 301, 500),
        ],
        "no2": [
            (0, 53, 0, 50),
            (54, 100, 51, 100),
            (101, 360, 101, 150),
            (361, 649, 151, 200),
            (650, 1249, 201, 300),
            (1250, 2049, 301, 500),
        ],
    },
}

# One unit of the last digit kept by EPA truncation, per pollutant.
UNIT: dict[str, float] = {
    "pm25": 0.1,
    "pm10": 1,
    "o3_8h": 0.001,
    "o3_1h": 0.001,
    "co": 0.1,
    "so2": 1,
    "no2": 1,
}
POLLUTANTS = sorted(UNIT)
REVISIONS = ["1999", "2012", "2024"]


def _boundary_cases() -> list[tuple[str, str, float, int]]:
    cases = []
    for revision, tables in EXPECTED_TABLES.items():
        for pollutant, rows in tables.items():
            for c_low, c_high, i_low, i_high in rows:
                cases.append((revision, pollutant, c_low, i_low))
                cases.append((revision, pollutant, c_high, i_high))
    return cases


BOUNDARY_CASES = _boundary_cases()


def test_boundary_table_is_complete() -> None:
    # 3 revisions x 7 pollutants, every row contributes two cases.
    assert {(r, p) for r, p, _, _ in BOUNDARY_CASES} == {(r, p) for r in REVISIONS for p in POLLUTANTS}
    assert len(BOUNDARY_CASES) == 2 * (2 * (7 + 7 + 5 + 5 + 7 + 7 + 7) + (6 + 6 + 5 + 4 + 6 + 6 + 6))


@pytest.mark.parametrize(("revision", "pollutant", "concentration", "expected"), BOUNDARY_CASES)
def test_breakpoint_boundaries(revision: str, pollutant: str, concentration: float, expected: int) -> None:
    assert sub_index(pollutant, concentration, revision=revision) == expected


@pytest.mark.parametrize(("revision", "pollutant"), [(r, p) for r in REVISIONS for p in POLLUTANTS])
def test_above_table_top_is_none(revision: str, pollutant: str) -> None:
    top = EXPECTED_TABLES[revision][pollutant][-1][1]
    assert sub_index(pollutant, top, revision=revision) is not None
    # One truncation unit above the top row is "beyond the AQI".
    assert sub_index(pollutant, top + UNIT[pollutant], revision=revision) is None
    assert sub_index(pollutant, top * 10, revision=revision) is None
    assert sub_index(pollutant, math.inf, revision=revision) is None


@pytest.mark.parametrize(
    ("pollutant", "concentration", "same_as"),
    [
        ("pm25", 35.45, 35.4),  # -> 100, not 35.5 -> 101
        ("pm25", 9.09, 9.0),  # 2024: 50, not 51
        ("pm25", 12.05, 12.0),
        ("pm10", 54.9, 54),  # -> 50
        ("pm10", 154.999, 154),
        ("o3_8h", 0.0709, 0.070),  # -> 100
        ("o3_8h", 0.0549999, 0.054),
        ("o3_1h", 0.1649, 0.164),
        ("co", 4.45, 4.4),  # -> 50
        ("co", 9.49, 9.4),
        ("so2", 35.9, 35),
        ("no2", 53.99, 53),
    ],
)
def test_truncation_not_rounding(pollutant: str, concentration: float, same_as: float) -> None:
    for revision in REVISIONS:
        expected = sub_index(pollutant, same_as, revision=revision)
        assert sub_index(pollutant, concentration, revision=revision) == expected


def test_truncation_examples_values() -> None:
    assert sub_index("pm25", 35.45) == 100
    assert sub_index("pm25", 35.4) == 100
    assert sub_index("pm10", 54.9) == 50
    assert sub_index("o3_8h", 0.0709) == 100
    assert sub_index("co", 4.45) == 50


def test_float_artefacts_do_not_drop_a_digit() -> None:
    # Values computed upstream land a hair below the decimal they represent;
    # a naive floor(x * 10**d) would drop a whole truncation unit.
    assert 0.29 - 0.22 == 0.06999999999999998  # naive: 0.069 -> 99
    assert sub_index("o3_8h", 0.29 - 0.22) == 100
    assert 0.21 / 3 == 0.06999999999999999
    assert sub_index("o3_8h", 0.21 / 3) == 100
    assert 0.3 * 3 == 0.8999999999999999  # naive: 0.8 ppm CO
    assert sub_index("co", 0.3 * 3) == sub_index("co", 0.9) == 10  # 50/4.4*0.9 = 10.2
    assert sub_index("pm25", 35.39999999999999) == 100  # mean-of-readings artefact
    # ...and the other direction must not push a value into the next row.
    assert sum([11.8, 11.8, 11.8]) == 35.400000000000006
    assert sub_index("pm25", sum([11.8, 11.8, 11.8])) == 100


@pytest.mark.parametrize(
    ("pollutant", "concentration", "revision", "expected"),
    [
        # pm25 2024 row 9.1-35.4 -> 51-100: 49/26.3*(20.0-9.1)+51 = 71.31 -> 71
        ("pm25", 20.0, "2024", 71),
        # pm25 2012 row 12.1-35.4 -> 51-100: 49/23.3*(20.0-12.1)+51 = 67.61 -> 68
        ("pm25", 20.0, "2012", 68),
        # pm25 1999 row 15.5-40.4 -> 51-100: 49/24.9*(20.0-15.5)+51 = 59.86 -> 60
        ("pm25", 20.0, "1999", 60),
        # pm25 2024 row 225.5-325.4 -> 301-500: 199/99.9*74.5+301 = 449.40 -> 449
        ("pm25", 300.0, "2024", 449),
        # pm25 2012 row 250.5-350.4 -> 301-400: 99/99.9*49.5+301 = 350.05 -> 350
        ("pm25", 300.0, "2012", 350),
        # pm10 row 55-154 -> 51-100: 49/99*45+51 = 73.27 -> 73
        ("pm10", 100, "2024", 73),
        # pm10 2024 row 425-604 -> 301-500: 199/179*75+301 = 384.38 -> 384
        ("pm10", 500, "2024", 384),
        # pm10 2012 row 425-504 -> 301-400: 99/79*75+301 = 394.99 -> 395
        ("pm10", 500, "2012", 395),
        # o3_8h row 0.071-0.085 -> 101-150: 49/0.014*0.009+101 = 132.5 -> 133
        # (exact half: round half up, banker's rounding would give 132)
        ("o3_8h", 0.080, "2024", 133),
        # co row 0.0-4.4 -> 0-50: 50/4.4*1.1 = 12.5 -> 13 (exact half again)
        ("co", 1.1, "2024", 13),
        # co row 9.5-12.4 -> 101-150: 49/2.9*0.5+101 = 109.45 -> 109
        ("co", 10.0, "2024", 109),
        # o3_1h 2024 row 0.205-0.404 -> 201-300: 99/0.199*0.095+201 = 248.26 -> 248
        ("o3_1h", 0.300, "2024", 248),
        # o3_1h 2024 row 0.405-0.604 -> 301-500: 199/0.199*0.095+301 = 396.0 -> 396
        ("o3_1h", 0.500, "2024", 396),
        # o3_1h 2012 row 0.405-0.504 -> 301-400: 99/0.099*0.095+301 = 396.0 -> 396
        ("o3_1h", 0.500, "2012", 396),
        # so2 row 76-185 -> 101-150: 49/109*24+101 = 111.79 -> 112
        ("so2", 100, "2024", 112),
        # so2 2024 row 605-1004 -> 301-500: 199/399*195+301 = 398.26 -> 398
        ("so2", 800, "2024", 398),
        # so2 2012 row 605-804 -> 301-400: 99/199*195+301 = 398.01 -> 398
        ("so2", 800, "2012", 398),
        # no2 row 101-360 -> 101-150: 49/259*99+101 = 119.73 -> 120
        ("no2", 200, "2024", 120),
        # no2 2024 row 1250-2049 -> 301-500: 199/799*400+301 = 400.62 -> 401
        ("no2", 1650, "2024", 401),
    ],
)
def test_interpolated_mid_row(pollutant: str, concentration: float, revision: str, expected: int) -> None:
    assert sub_index(pollutant, concentration, revision=revision) == expected


@pytest.mark.parametrize("revision", REVISIONS)
@pytest.mark.parametrize("pollutant", POLLUTANTS)
@pytest.mark.parametrize("concentration", [None, math.nan, -0.001, -1, -math.inf])
def test_missing_or_negative_is_none(pollutant: str, concentration: float | None, revision: str) -> None:
    assert sub_index(pollutant, concentration, revision=revision) is None


def test_ozone_gaps_are_none() -> None:
    for revision in REVISIONS:
        # 8-hour O3 stops at the table's top (0.200 ppm; 0.374 ppm in the 2008 table): above it
        # EPA says use the 1-hour value.
        top = EXPECTED_TABLES[revision]["o3_8h"][-1][1]
        assert sub_index("o3_8h", top, revision=revision) == 300
        assert sub_index("o3_8h", top + 0.001, revision=revision) is None
        assert sub_index("o3_8h", 0.45, revision=revision) is None
        # 1-hour O3 is only defined from 0.125 ppm (AQI 101).
        assert sub_index("o3_1h", 0.0, revision=revision) is None
        assert sub_index("o3_1h", 0.124, revision=revision) is None
        assert sub_index("o3_1h", 0.1249, revision=revision) is None
        assert sub_index("o3_1h", 0.125, revision=revision) == 101


def test_zero_is_good() -> None:
    for pollutant in ["pm25", "pm10", "o3_8h", "co", "so2", "no2"]:
        assert sub_index(pollutant, 0) == 0
        assert sub_index(pollutant, -0.0) == 0


def test_unknown_pollutant_or_revision() -> None:
    with pytest.raises(ValueError, match=r"'pm2\.5'"):
        sub_index("pm2.5", 10.0)
    with pytest.raises(ValueError, match="'2013'"):
        sub_index("pm25", 10.0, revision="2013")
    # Validation happens before the None short-circuit.
    with pytest.raises(ValueError, match="'o3'"):
        sub_index("o3", None)


@pytest.mark.parametrize(
    ("aqi", "name"),
    [
        (0, "Good"),
        (50, "Good"),
        (51, "Moderate"),
        (100, "Moderate"),
        (101, "Unhealthy for Sensitive Groups"),
        (150, "Unhealthy for Sensitive Groups"),
        (151, "Unhealthy"),
        (200, "Unhealthy"),
        (201, "Very Unhealthy"),
        (300, "Very Unhealthy"),
        (301, "Hazardous"),
        (500, "Hazardous"),
        (501, "Hazardous"),
    ],
)
def test_category(aqi: int, name: str) -> None:
    assert category(aqi) == name


def test_category_negative() -> None:
    with pytest.raises(ValueError, match="-1"):
        category(-1)


def test_dominant() -> None:
    assert dominant({"pm25": 71, "o3_8h": 133, "co": None}) == (133, "o3_8h")
    assert dominant({"pm25": None, "co": None}) is None
    assert dominant({}) is None
    # Ties: alphabetically first pollutant name, whatever the mapping order.
    assert dominant({"pm25": 100, "o3_8h": 100, "no2": 40}) == (100, "o3_8h")
    assert dominant({"o3_8h": 100, "pm25": 100}) == (100, "o3_8h")
    assert dominant({"so2": 0, "co": 0}) == (0, "co")


# ---------------------------------------------------------------- vectorised


def _scalar_reference(
    pollutants: list[str | None], concentrations: list[float | None], revision: str
) -> list[int | None]:
    return [
        None if p is None else sub_index(p, c, revision=revision)
        for p, c in zip(pollutants, concentrations, strict=True)
    ]


def _random_inputs(seed: int, n: int) -> tuple[list[str | None], list[float | None]]:
    rng = np.random.default_rng(seed)
    tops = {
        "pm25": 500.4,
        "pm10": 604,
        "o3_8h": 0.2,
        "o3_1h": 0.604,
        "co": 50.4,
        "so2": 1004,
        "no2": 2049,
    }
    names: list[str | None] = []
    values: list[float | None] = []
    for _ in range(n):
        pollutant = POLLUTANTS[rng.integers(len(POLLUTANTS))]
        top = tops[pollutant]
        kind = rng.integers(8)
        value: float | None
        if kind == 0:
            value = None
        elif kind == 1:
            value = math.nan
        elif kind == 2:
            value = float(-rng.uniform(0, top))
        elif kind == 3:
            value = float(rng.uniform(top, 3 * top))
        elif kind == 4:
            # Decimal values at table precision, the float-artefact hot spot.
            unit = UNIT[pollutant]
            value = round(int(rng.integers(0, round(top / unit) + 2)) * unit, 3)
        else:
            value = float(rng.uniform(0, 1.1 * top))
        names.append(None if rng.integers(50) == 0 else pollutant)
        values.append(value)
    return names, values


@pytest.mark.parametrize("revision", REVISIONS)
def test_sub_index_array_matches_scalar_random(revision: str) -> None:
    names, values = _random_inputs(seed=int(revision), n=4000)
    result = sub_index_array(names, values, revision=revision)
    assert result.type == pa.int32()
    assert isinstance(result, pa.Array)
    assert result.to_pylist() == _scalar_reference(names, values, revision)
    assert result.null_count > 0  # the random set really exercises nulls


@pytest.mark.parametrize("revision", REVISIONS)
def test_sub_index_array_matches_scalar_at_boundaries(revision: str) -> None:
    names: list[str | None] = []
    values: list[float | None] = []
    for pollutant, rows in EXPECTED_TABLES[revision].items():
        unit = UNIT[pollutant]
        for c_low, c_high, _, _ in rows:
            for c in (c_low, c_high):
                for v in (
                    c,
                    c - unit,
                    c + unit,
                    c + unit / 2,
                    c - 1e-12,
                    c + 1e-12,
                    c * (1 + 1e-15),
                ):
                    names.append(pollutant)
                    values.append(v)
    result = sub_index_array(names, values, revision=revision)
    assert result.to_pylist() == _scalar_reference(names, values, revision)
    # And the boundaries themselves hit the EPA index values.
    expected_ends = [
        i
        for rows in EXPECTED_TABLES[revision].values()
        for c_low, c_high, i_low, i_high in rows
        for i in (i_low, i_high)
    ]
    assert result.to_pylist()[::7] == expected_ends


def test_sub_index_array_input_kinds() -> None:
    names = ["pm25", "co", None, "o3_1h", "pm10"]
    values = [35.45, 4.45, 3.0, 0.1, None]
    expected = [100, 50, None, None, None]
    assert sub_index_array(names, values).to_pylist() == expected
    assert (
        sub_index_array(np.array(names, dtype=object), np.array([35.45, 4.45, 3.0, 0.1, np.nan])).to_pylist()
        == expected
    )
    assert sub_index_array(pd.Series(names), pd.Series(values, dtype="float64")).to_pylist() == expected
    assert sub_index_array(pd.Series(names, dtype="category"), pd.Series(values)).to_pylist() == expected
    chunked_names = pa.chunked_array([names[:2], names[2:]], type=pa.string())
    chunked_values = pa.chunked_array([values[:3], values[3:]], type=pa.float64())
    assert sub_index_array(chunked_names, chunked_values).to_pylist() == expected
    assert sub_index_array(pa.array(names).dictionary_encode(), pa.array(values)).to_pylist() == expected
    # Integer concentrations are fine too.
    assert sub_index_array(["pm10", "no2"], np.array([54, 2049])).to_pylist() == [
        50,
        500,
    ]
    assert sub_index_array([], []).to_pylist() == []


def test_sub_index_array_errors() -> None:
    with pytest.raises(ValueError, match=r"'pm2\.5'"):
        sub_index_array(["pm25", "pm2.5"], [1.0, 2.0])
    with pytest.raises(ValueError, match="'2013'"):
        sub_index_array(["pm25"], [1.0], revision="2013")
    with pytest.raises(ValueError, match="length"):
        sub_index_array(["pm25", "co"], [1.0])


def test_module_import_is_stdlib_only() -> None:
    # Operators import this at DAG parse time: no numpy/pyarrow/pandas there.
    code = (
        "import sys, lockgate.transforms.aqi; "
        "heavy = [m for m in ('numpy', 'pyarrow', 'pandas') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------- each pollutant's table by date

#: (pollutant, a date in the era, the table in force then), typed out from the notices
HISTORICAL: list[tuple[str, str, Rows]] = [
    ("o3_8h", "2008-05-27", O3_8H_2008),
    ("o3_8h", "2015-12-27", O3_8H_2008),
    ("o3_8h", "2015-12-28", SPLIT_OTHER["o3_8h"]),
    ("so2", "2010-08-22", SO2_1999_PPB),
    ("so2", "2010-08-23", SPLIT_OTHER["so2"]),
    ("no2", "2010-04-11", NO2_1999_PPB),
    ("no2", "2010-04-12", SPLIT_OTHER["no2"]),
    ("pm25", "2012-12-13", EXPECTED_TABLES["1999"]["pm25"]),
    ("co", "2024-05-05", SPLIT_OTHER["co"]),
    ("co", "2024-05-06", EXPECTED_TABLES["2024"]["co"]),
]


@pytest.mark.parametrize(("pollutant", "day", "rows"), HISTORICAL)
def test_the_table_in_force_on_the_date_gives_its_boundaries(pollutant: str, day: str, rows: Rows) -> None:
    for c_low, c_high, i_low, i_high in rows:
        assert sub_index(pollutant, c_low, on=day) == i_low, (c_low, day)
        assert sub_index(pollutant, c_high, on=day) == i_high, (c_high, day)
    assert sub_index(pollutant, rows[-1][1] * 2, on=day) is None


def test_table_keys_in_force_at_each_boundary() -> None:
    from lockgate.transforms.aqi import revision_tables, table_in_force

    assert [table_in_force("o3_8h", d) for d in ("2001-01-01", "2008-05-26", "2008-05-27", "2015-12-28")] == [
        "2008",  # the 1999 ozone table is not held: the oldest one held stands in
        "2008",
        "2008",
        "2015",
    ]
    assert [table_in_force("so2", d) for d in ("2010-08-22", "2010-08-23", "2024-05-06")] == ["1999", "2010", "2024"]
    assert [table_in_force("no2", d) for d in ("2010-04-11", "2010-04-12", "2024-05-06")] == ["1999", "2010", "2024"]
    assert revision_tables("1999") == {
        "pm25": "1999",
        "pm10": "1999",
        "o3_8h": "2008",
        "o3_1h": "1999",
        "co": "1999",
        "so2": "2010",
        "no2": "2010",
    }
    assert revision_tables("2012")["o3_8h"] == "2015"
    assert set(revision_tables("2024").values()) == {"2024"}
    with pytest.raises(ValueError, match="unknown AQI pollutant 'pm2'"):
        table_in_force("pm2", "2011-01-01")


def test_2011_by_date_equals_the_1999_revision() -> None:
    """After 2010-08-23 and before 2012-12-14 every pollutant's table is the "1999" revision's."""
    for pollutant, rows in EXPECTED_TABLES["1999"].items():
        for c_low, c_high, _, _ in rows:
            for c in (c_low, c_high, (c_low + c_high) / 2):
                assert sub_index(pollutant, c, on="2011-01-03") == sub_index(pollutant, c, revision="1999")


def test_no2_before_2010_has_no_index_below_0_65_ppm() -> None:
    assert sub_index("no2", 649, on="2009-07-01") is None
    assert sub_index("no2", 649, on="2010-04-12") == 200
    # 0.80 ppm: 99 / (1.24 - 0.65) * (0.80 - 0.65) + 201 = 226.2 -> 226; 809 ppb truncates to 0.80 ppm
    assert sub_index("no2", 809, on="2009-07-01") == 226
    assert sub_index("no2", 2049, on="2009-07-01") == 500  # 2.049 ppm truncates to 2.04, the top
    assert sub_index("no2", 2050, on="2009-07-01") is None


def test_sub_index_array_by_date_matches_scalar() -> None:
    names, values = _random_inputs(seed=7, n=3000)
    for day in ("2009-07-01", "2011-01-03", "2014-06-01", "2020-01-01"):
        expected = [None if n is None else sub_index(n, v, on=day) for n, v in zip(names, values, strict=True)]
        assert sub_index_array(names, values, on=day).to_pylist() == expected
