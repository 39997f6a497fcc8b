"""Deterministic sample data for the PolluTrack air-quality pipeline.

PolluTrack runs 50 monitoring stations in five regions. Readings arrive through
two very different channels, and this module fakes one day of both so the
pipeline (ingest -> quality gate -> partition -> load) can be developed and
tested end to end without real feeds:

* ``registry/stations.csv`` -- the station registry (identical every day).
* ``gateway/readings_<ds>.ndjson`` -- PolluTrack's own station gateways (regions
  north, east, west): one JSON object per line, ``observed_at`` in ISO 8601 with
  the *station's* local UTC offset, units ug/m3 / ppb / ppm.
* ``partner/readings_<ds>.csv`` -- a partner agency (regions south, central):
  ``observed_at`` is *naive* local time in :data:`PARTNER_TIMEZONE` whatever the
  station's own zone, and particulates in mg/m3, ozone in ppm, CO in ppb.

Each day covers the UTC hours 00..23 of ``ds``. Every station reports all six
pollutants every hour except for a few offline gaps. Every file also carries a
few deliberate defects per day (exact duplicate lines, missing values,
out-of-range values, malformed lines, and in the CSV non-numeric values), plus,
roughly one day in three, a genuine PM2.5 smoke event at one station.

Row classification
------------------
:class:`SourceStats` counts every data row in exactly one category, checked in
this order (the first that applies wins):

1. ``malformed`` -- NDJSON: the line is not a JSON object with exactly the
   expected keys; CSV: the row does not have exactly six fields.
2. ``duplicates`` -- the row is byte-for-byte identical to an *earlier*
   well-formed row of the same file.
3. ``non_numeric`` -- the value is present but not a number (CSV only).
4. ``missing_values`` -- the value is empty (CSV) or ``null`` (JSON).
5. ``out_of_range`` -- the value is ``< 0`` or ``>= 100000`` in the file's units.
6. ``clean_rows`` -- everything else.

``smoke_event_rows`` is a subset of ``clean_rows``: the clean PM2.5 rows of the
smoke event (500-700 ug/m3, far above the normal <= 45 ug/m3).

The categories never overlap by construction: only clean rows are duplicated,
each other defect replaces a different reading, and so ``rows`` is always the
expected readings (stations x 24 hours x 6 pollutants, minus offline gaps) plus
``duplicates``. Duplicates are exactly the deliberate copies -- even on the
autumn DST day, when the partner's naive timestamps repeat the 01:00 hour
(06:00 and 07:00 UTC), because defects avoid that repeated hour and a reading
that would coincidentally round to an identical line is nudged by one unit in
its last decimal. The counts are nevertheless taken by classifying the exact
text written, never from the plan.

Determinism
-----------
All randomness comes from :class:`random.Random` instances seeded from SHA-256
of a fixed string (the registry) or of ``"pollutrack:<ds>"`` (the day), never
from the global generator or the clock. Only IEEE-exact arithmetic is used on
random draws (no ``sin``/``exp``/``gauss``, whose last bit depends on the
platform's libm), so the output is byte-identical across runs and machines.

Only the standard library is imported: the module is imported by the CLI and
by Airflow operators, which must stay cheap to import.

Run as ``python -m lockgate.sample_data --ds 2026-01-02 --out DIR``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import datetime
import functools
import hashlib
import json
import os
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Final
from zoneinfo import ZoneInfo

__all__ = [
    "GATEWAY_REGIONS",
    "GATEWAY_UNITS",
    "MAX_VALID_VALUE",
    "MIN_VALID_VALUE",
    "PARTNER_REGIONS",
    "PARTNER_TIMEZONE",
    "PARTNER_UNITS",
    "POLLUTANTS",
    "READING_FIELDS",
    "REGIONS",
    "REGION_TIMEZONES",
    "REGISTRY_FIELDS",
    "STATION_COUNT",
    "TARGET_UNITS",
    "Gap",
    "SampleBatch",
    "SmokeEvent",
    "SourceStats",
    "Station",
    "generate",
    "main",
    "stations",
    "to_target_units",
]

# --------------------------------------------------------------------------
# Public constants
# --------------------------------------------------------------------------

STATION_COUNT: Final = 50
"""Number of stations in the registry (ids ``ST-001`` .. ``ST-050``)."""

REGIONS: Final[tuple[str, ...]] = ("north", "south", "east", "west", "central")
"""The five PolluTrack regions, ten stations each."""

GATEWAY_REGIONS: Final[tuple[str, ...]] = ("north", "east", "west")
"""Regions whose stations report through PolluTrack's own gateways (NDJSON)."""

PARTNER_REGIONS: Final[tuple[str, ...]] = ("south", "central")
"""Regions whose stations report through the partner agency (CSV)."""

REGION_TIMEZONES: Final[dict[str, str]] = {
    "north": "America/Chicago",
    "south": "America/Chicago",
    "east": "America/New_York",
    "west": "America/Los_Angeles",
    # Deliberately not Chicago: the partner stamps these stations in Chicago
    # time anyway, so a pipeline that localises with the station's own zone
    # instead of PARTNER_TIMEZONE is off by an hour and tests can tell.
    "central": "America/Denver",
}
"""IANA time zone of the stations in each region."""

PARTNER_TIMEZONE: Final = "America/Chicago"
"""Zone of the partner's naive ``observed_at`` timestamps, for every station."""

POLLUTANTS: Final[tuple[str, ...]] = ("pm25", "pm10", "o3", "co", "so2", "no2")
"""Pollutant codes, in the order each station-hour reports them."""

TARGET_UNITS: Final[dict[str, str]] = {
    "pm25": "ug/m3",
    "pm10": "ug/m3",
    "o3": "ppm",
    "co": "ppm",
    "so2": "ppb",
    "no2": "ppb",
}
"""The pipeline's canonical unit per pollutant (what the warehouse stores)."""

GATEWAY_UNITS: Final[dict[str, str]] = {
    "pm25": "ug/m3",
    "pm10": "ug/m3",
    "o3": "ppb",
    "co": "ppm",
    "so2": "ppb",
    "no2": "ppb",
}
"""Units used by the station gateways (NDJSON)."""

PARTNER_UNITS: Final[dict[str, str]] = {
    "pm25": "mg/m3",
    "pm10": "mg/m3",
    "o3": "ppm",
    "co": "ppb",
    "so2": "ppb",
    "no2": "ppb",
}
"""Units used by the partner agency (CSV)."""

MIN_VALID_VALUE: Final = 0.0
"""Smallest in-range value (inclusive), in the file's own units."""

MAX_VALID_VALUE: Final = 100000.0
"""Values at or above this (in the file's own units) are out of range."""

REGISTRY_FIELDS: Final[tuple[str, ...]] = (
    "station_id",
    "name",
    "region",
    "latitude",
    "longitude",
    "timezone",
    "elevation_m",
    "commissioned_on",
)
"""Header of ``registry/stations.csv``."""

READING_FIELDS: Final[tuple[str, ...]] = (
    "station_id",
    "region",
    "observed_at",
    "pollutant",
    "value",
    "unit",
)
"""Keys of a gateway JSON object and header of the partner CSV, in order."""

# Multiply a value in (pollutant, unit) by this factor to get TARGET_UNITS.
_TO_TARGET: Final[dict[tuple[str, str], float]] = {
    ("pm25", "ug/m3"): 1.0,
    ("pm25", "mg/m3"): 1000.0,
    ("pm10", "ug/m3"): 1.0,
    ("pm10", "mg/m3"): 1000.0,
    ("o3", "ppm"): 1.0,
    ("o3", "ppb"): 0.001,
    ("co", "ppm"): 1.0,
    ("co", "ppb"): 0.001,
    ("so2", "ppb"): 1.0,
    ("no2", "ppb"): 1.0,
}

# Decimals written per (pollutant, unit): about 0.1 ug/m3 / 0.1 ppb / 1 ppb CO
# resolution whatever the unit, which is what real analysers report.
_DECIMALS: Final[dict[tuple[str, str], int]] = {
    ("pm25", "ug/m3"): 1,
    ("pm25", "mg/m3"): 4,
    ("pm10", "ug/m3"): 1,
    ("pm10", "mg/m3"): 4,
    ("o3", "ppm"): 4,
    ("o3", "ppb"): 1,
    ("co", "ppm"): 3,
    ("co", "ppb"): 1,
    ("so2", "ppb"): 1,
    ("no2", "ppb"): 1,
}


def to_target_units(pollutant: str, value: float, unit: str) -> float:
    """Convert ``value`` measured in ``unit`` to ``TARGET_UNITS[pollutant]``.

    Raises :class:`KeyError` for a (pollutant, unit) pair neither source uses.
    """
    return value * _TO_TARGET[(pollutant, unit)]


# --------------------------------------------------------------------------
# Station registry
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Station:
    """One monitoring station of the fixed registry."""

    station_id: str
    name: str
    region: str
    latitude: float
    longitude: float
    timezone: str
    elevation_m: int
    commissioned_on: datetime.date

    @property
    def source(self) -> str:
        """``"gateway"`` or ``"partner"``: the channel this station reports through."""
        return "gateway" if self.region in GATEWAY_REGIONS else "partner"

    def registry_row(self) -> list[str]:
        """The station as a ``registry/stations.csv`` row (REGISTRY_FIELDS order)."""
        return [
            self.station_id,
            self.name,
            self.region,
            f"{self.latitude:.4f}",
            f"{self.longitude:.4f}",
            self.timezone,
            str(self.elevation_m),
            self.commissioned_on.isoformat(),
        ]


# Rough bounding boxes (lat, lon) and elevation bands per region, so the
# coordinates agree with the region's time zone.
_REGION_GEO: Final[dict[str, tuple[tuple[float, float], tuple[float, float], tuple[int, int]]]] = {
    "north": ((43.5, 47.5), (-97.0, -88.5), (180, 480)),
    "south": ((29.0, 33.0), (-99.5, -90.0), (0, 250)),
    "east": ((38.5, 42.5), (-80.0, -72.5), (0, 420)),
    "west": ((33.5, 39.5), (-122.5, -117.0), (0, 1400)),
    "central": ((37.0, 41.0), (-108.5, -102.5), (1400, 2500)),
}

_NAME_FIRST: Final = (
    "Ash", "Birch", "Cedar", "Elm", "Maple", "Oak", "Pine", "Willow",
    "Aspen", "Spruce", "Hazel", "Juniper",
)  # fmt: skip
_NAME_SECOND: Final = (
    "Creek", "Ridge", "Hollow", "Falls", "Point", "Park", "Heights",
    "Landing", "Crossing", "Valley",
)  # fmt: skip


def _seed(text: str) -> int:
    """A 256-bit seed from ``text``; sha256 (unlike ``hash()``) is not salted per process."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest(), "big")


@dataclasses.dataclass(frozen=True)
class _Profile:
    """A station's typical levels in target units (its stable "character")."""

    pm25: float
    coarse: float
    o3_amp: float
    co: float
    so2: float
    no2: float


@functools.cache
def _registry() -> tuple[tuple[Station, ...], dict[str, _Profile]]:
    # Seeded by a constant, not by the date: the registry and each station's
    # character are the same every day; only the weather changes.
    rng = random.Random(_seed("pollutrack:registry"))
    regions = [region for region in REGIONS for _ in range(STATION_COUNT // len(REGIONS))]
    # Shuffle so station ids do not reveal the region (or the source).
    rng.shuffle(regions)
    names = rng.sample([f"{a} {b}" for a in _NAME_FIRST for b in _NAME_SECOND], STATION_COUNT)
    first_day = datetime.date(2012, 1, 1).toordinal()
    last_day = datetime.date(2023, 12, 31).toordinal()
    result: list[Station] = []
    profiles: dict[str, _Profile] = {}
    for number, (region, name) in enumerate(zip(regions, names, strict=True), start=1):
        (lat_lo, lat_hi), (lon_lo, lon_hi), (elev_lo, elev_hi) = _REGION_GEO[region]
        station = Station(
            station_id=f"ST-{number:03d}",
            name=f"{name} Station",
            region=region,
            latitude=round(rng.uniform(lat_lo, lat_hi), 4),
            longitude=round(rng.uniform(lon_lo, lon_hi), 4),
            timezone=REGION_TIMEZONES[region],
            elevation_m=rng.randint(elev_lo, elev_hi),
            commissioned_on=datetime.date.fromordinal(rng.randint(first_day, last_day)),
        )
        result.append(station)
        profiles[station.station_id] = _Profile(
            pm25=rng.uniform(5.0, 16.0),
            coarse=rng.uniform(4.0, 15.0),
            o3_amp=rng.uniform(0.035, 0.048),
            co=rng.uniform(0.35, 1.1),
            so2=rng.uniform(2.0, 9.0),
            no2=rng.uniform(10.0, 32.0),
        )
    return tuple(result), profiles


def stations() -> list[Station]:
    """The fixed registry of :data:`STATION_COUNT` stations, ordered by id."""
    return list(_registry()[0])


# --------------------------------------------------------------------------
# Result types
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SourceStats:
    """Exact row counts of one readings file (see the module docstring).

    ``rows`` excludes the CSV header and equals ``clean_rows + duplicates +
    missing_values + out_of_range + malformed + non_numeric``;
    ``smoke_event_rows`` is a subset of ``clean_rows``.
    """

    source: str
    path: Path
    rows: int
    duplicates: int
    missing_values: int
    out_of_range: int
    malformed: int
    non_numeric: int
    smoke_event_rows: int
    clean_rows: int

    def counts(self) -> dict[str, int]:
        """The counts only, keyed by field name (handy for logs and XCom)."""
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.name not in ("source", "path")
        }


@dataclasses.dataclass(frozen=True)
class Gap:
    """A station that was offline: no rows at all for ``hours`` UTC hours."""

    station_id: str
    first_hour: int
    hours: int

    def covers(self, station_id: str, hour: int) -> bool:
        """Whether ``station_id`` is offline during UTC ``hour``."""
        return station_id == self.station_id and self.first_hour <= hour < self.first_hour + self.hours


@dataclasses.dataclass(frozen=True)
class SmokeEvent:
    """A wildfire-smoke episode: PM2.5 of 500-700 ug/m3 at one station."""

    station_id: str
    source: str
    first_hour: int
    hours: int


@dataclasses.dataclass(frozen=True)
class SampleBatch:
    """What :func:`generate` wrote for one day, with exact per-source counts."""

    ds: datetime.date
    registry_path: Path
    station_count: int
    gateway: SourceStats
    partner: SourceStats
    smoke_event: SmokeEvent | None
    gaps: tuple[Gap, ...]

    @property
    def gateway_path(self) -> Path:
        """The gateway NDJSON file."""
        return self.gateway.path

    @property
    def partner_path(self) -> Path:
        """The partner CSV file."""
        return self.partner.path

    @property
    def paths(self) -> tuple[Path, Path, Path]:
        """All files written: registry, gateway, partner."""
        return (self.registry_path, self.gateway.path, self.partner.path)

    @property
    def sources(self) -> dict[str, SourceStats]:
        """The per-source stats keyed by source name."""
        return {"gateway": self.gateway, "partner": self.partner}


# --------------------------------------------------------------------------
# Readings: values
# --------------------------------------------------------------------------

# Diurnal shapes by *local* hour, as literal tables rather than sin()/exp():
# see "Determinism" in the module docstring.
_PM_PROFILE: Final = (
    0.95, 0.90, 0.85, 0.80, 0.80, 0.85, 1.00, 1.20, 1.30, 1.20, 1.05, 0.95,
    0.90, 0.85, 0.85, 0.90, 1.00, 1.10, 1.25, 1.35, 1.30, 1.20, 1.10, 1.00,
)  # fmt: skip
# Photochemical ozone: lowest before dawn, peaks mid-afternoon.
_O3_PROFILE: Final = (
    0.35, 0.32, 0.30, 0.28, 0.27, 0.28, 0.32, 0.40, 0.50, 0.62, 0.74, 0.85,
    0.93, 0.98, 1.00, 0.98, 0.90, 0.78, 0.64, 0.52, 0.45, 0.41, 0.38, 0.36,
)  # fmt: skip
# Combustion gases (CO, NO2) follow the morning and evening rush hours.
_TRAFFIC_PROFILE: Final = (
    0.55, 0.50, 0.45, 0.45, 0.50, 0.65, 0.90, 1.25, 1.35, 1.15, 0.95, 0.85,
    0.80, 0.80, 0.85, 0.95, 1.10, 1.30, 1.35, 1.15, 0.95, 0.80, 0.70, 0.60,
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class _Weather:
    """Day-wide multipliers shared by all stations (a stagnant day is dirty everywhere)."""

    pm: float
    o3: float
    combustion: float
    so2: float


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def _hour_values(
    profile: _Profile,
    local_hour: int,
    weather: _Weather,
    rng: random.Random,
    smoke_pm25: float | None,
) -> dict[str, float]:
    """The six readings of one station-hour, in target units."""
    u = rng.uniform
    # Always draw the same number of values, smoke or not, so a smoke event
    # does not shift every later value of the day.
    pm25 = _clamp(profile.pm25 * _PM_PROFILE[local_hour] * weather.pm * u(0.8, 1.2), 2.5, 45.0)
    pm10 = _clamp(pm25 * u(1.2, 1.6) + profile.coarse * u(0.7, 1.3), 8.0, 90.0)
    o3 = _clamp(
        0.010 + profile.o3_amp * _O3_PROFILE[local_hour] * weather.o3 * u(0.9, 1.1),
        0.010,
        0.070,
    )
    traffic = _TRAFFIC_PROFILE[local_hour] * weather.combustion
    co = _clamp(profile.co * traffic * u(0.85, 1.15), 0.15, 2.2)
    so2 = _clamp(profile.so2 * weather.so2 * u(0.6, 1.5), 0.5, 25.0)
    no2 = _clamp(profile.no2 * traffic * u(0.85, 1.15), 2.0, 70.0)
    return {
        # PM10 is left at its normal level during smoke on purpose: the brief
        # for the quality gate only expects the PM2.5 spike.
        "pm25": pm25 if smoke_pm25 is None else smoke_pm25,
        "pm10": pm10,
        "o3": o3,
        "co": co,
        "so2": so2,
        "no2": no2,
    }


# --------------------------------------------------------------------------
# Readings: the day's plan (gaps, smoke, defects)
# --------------------------------------------------------------------------

_CLEAN: Final = "clean"
_DUPLICATE: Final = "duplicate"
_MISSING: Final = "missing"
_OUT_OF_RANGE: Final = "out_of_range"
_MALFORMED: Final = "malformed"
_NON_NUMERIC: Final = "non_numeric"

# Strings that are not numbers for float(), pandas or DuckDB. Avoids "NaN",
# "N/A", "NULL", "#N/A" and friends, which readers silently turn into nulls.
_NON_NUMERIC_TOKENS: Final = ("abc", "ERR", "CALIB", "offline")


@dataclasses.dataclass(frozen=True)
class _Slot:
    """One expected reading: station-hour plus pollutant, in file order."""

    station: Station
    pollutant: str
    observed_at: str  # as written in this source's file
    smoke: bool  # the PM2.5 reading of the smoke episode
    # Same (station, observed_at, pollutant) as an earlier slot: only the
    # partner's naive timestamps in the repeated DST hour.
    repeat: bool


@dataclasses.dataclass
class _DefectPlan:
    """Which slots of one file get which defect, fixed before writing starts."""

    # slot index -> defect kind replacing its reading
    victims: dict[int, str]
    # slot index -> earlier slots whose (clean) line is written again after it
    copy_after: dict[int, list[int]]
    # slots whose line must be remembered for a later copy
    originals: frozenset[int]


def _plan_defects(rng: random.Random, slots: Sequence[_Slot], partner: bool) -> _DefectPlan:
    counts = {
        _MISSING: rng.randint(2, 6),
        _OUT_OF_RANGE: rng.randint(1, 3),
        _MALFORMED: rng.randint(1, 3),
        # The gateways serialise numbers natively; only the CSV can carry text.
        _NON_NUMERIC: rng.randint(1, 3) if partner else 0,
    }
    n_duplicates = rng.randint(2, 5)
    # Smoke readings stay untouched so smoke_event_rows is the whole episode;
    # the repeated DST hour stays clean so a defect there (say two missing
    # values) cannot turn into an accidental duplicate.
    eligible = [index for index, slot in enumerate(slots) if not (slot.smoke or slot.repeat)]
    chosen = rng.sample(eligible, sum(counts.values()) + n_duplicates)
    victims: dict[int, str] = {}
    kinds = [kind for kind, count in counts.items() for _ in range(count)]
    for index, kind in zip(chosen, kinds, strict=False):
        victims[index] = kind
    # The remaining chosen slots are clean and get repeated: immediately
    # (a gateway retry) or up to a few hours later (a replayed buffer).
    copy_after: dict[int, list[int]] = {}
    originals = chosen[len(kinds) :]
    for index in sorted(originals):
        delay = 0 if rng.random() < 0.5 else rng.randint(1, 600)
        target = min(len(slots) - 1, index + delay)
        copy_after.setdefault(target, []).append(index)
    return _DefectPlan(victims=victims, copy_after=copy_after, originals=frozenset(originals))


def _plan_day(rng: random.Random, registry: Sequence[Station]) -> tuple[SmokeEvent | None, tuple[Gap, ...], _Weather]:
    smoke: SmokeEvent | None = None
    if rng.random() < 1 / 3:
        station = rng.choice(registry)
        hours = rng.randint(3, 6)
        smoke = SmokeEvent(
            station_id=station.station_id,
            source=station.source,
            first_hour=rng.randint(0, 24 - hours),
            hours=hours,
        )
    gaps: list[Gap] = []
    for source in ("gateway", "partner"):
        # Never take the smoke station offline: the event must show.
        candidates = [s for s in registry if s.source == source and (smoke is None or s.station_id != smoke.station_id)]
        for station in rng.sample(candidates, rng.randint(1, 2)):
            hours = rng.randint(2, 4)
            gaps.append(Gap(station.station_id, rng.randint(0, 24 - hours), hours))
    weather = _Weather(
        pm=rng.uniform(0.7, 1.3),
        o3=rng.uniform(0.8, 1.15),
        combustion=rng.uniform(0.8, 1.2),
        so2=rng.uniform(0.8, 1.2),
    )
    return smoke, tuple(sorted(gaps, key=lambda g: g.station_id)), weather


# --------------------------------------------------------------------------
# Readings: rendering and counting
# --------------------------------------------------------------------------


class _Tally:
    """Counts written rows by classifying exactly what was written."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys((_CLEAN, _DUPLICATE, _MISSING, _OUT_OF_RANGE, _MALFORMED, _NON_NUMERIC), 0)
        self.smoke_rows = 0
        self._seen: set[str] = set()

    def has(self, text: str) -> bool:
        """Whether ``text`` was already written as a well-formed row."""
        return text in self._seen

    def add(self, text: str, kind: str, smoke: bool) -> None:
        """Record one written row; ``kind`` is what the generator meant it to be."""
        # Same precedence as the module docstring: malformed, then duplicate,
        # then the value checks. Keying on the written text means even an
        # accidental repeat would be counted as a duplicate (the writer nudges
        # those away, so in practice duplicates are the deliberate copies).
        if kind != _MALFORMED:
            if text in self._seen:
                kind = _DUPLICATE
            self._seen.add(text)
        self.counts[kind] += 1
        if smoke and kind == _CLEAN:
            self.smoke_rows += 1

    def stats(self, source: str, path: Path) -> SourceStats:
        return SourceStats(
            source=source,
            path=path,
            rows=sum(self.counts.values()),
            duplicates=self.counts[_DUPLICATE],
            missing_values=self.counts[_MISSING],
            out_of_range=self.counts[_OUT_OF_RANGE],
            malformed=self.counts[_MALFORMED],
            non_numeric=self.counts[_NON_NUMERIC],
            smoke_event_rows=self.smoke_rows,
            clean_rows=self.counts[_CLEAN],
        )


def _bad_value(rng: random.Random, decimals: int) -> float:
    """An out-of-range value: a negative reading or a sensor error sentinel."""
    choice = rng.randrange(4)
    if choice == 0:
        return -round(rng.uniform(0.5, 50.0), decimals)  # drifted zero
    if choice == 1:
        return rng.choice((-999.0, -9999.0))  # "no data" sentinels
    if choice == 2:
        return 999999.0  # saturated analyser
    return round(rng.uniform(100000.0, 250000.0), decimals)


def _gateway_line(slot: _Slot, value: float, kind: str, rng: random.Random) -> str:
    unit = GATEWAY_UNITS[slot.pollutant]
    decimals = _DECIMALS[(slot.pollutant, unit)]
    rendered: float | None = round(value, decimals)
    if kind == _MISSING:
        rendered = None
    elif kind == _OUT_OF_RANGE:
        rendered = _bad_value(rng, decimals)
    record = {
        "station_id": slot.station.station_id,
        "region": slot.station.region,
        "observed_at": slot.observed_at,
        "pollutant": slot.pollutant,
        "value": rendered,
        "unit": unit,
    }
    if kind != _MALFORMED:
        return json.dumps(record, separators=(",", ":"))
    if rng.random() < 0.5:
        # A Python repr leaked from a debug path: single quotes, None.
        return repr(record)
    # A truncated write: any strict prefix of an object is invalid JSON. Keep
    # at least the station id so the bad line is traceable, as in real life.
    line = json.dumps(record, separators=(",", ":"))
    return line[: rng.randint(len(line) // 3, len(line) - 2)]


def _partner_fields(slot: _Slot, value: float, kind: str, rng: random.Random) -> list[str]:
    unit = PARTNER_UNITS[slot.pollutant]
    decimals = _DECIMALS[(slot.pollutant, unit)]
    text = f"{value:.{decimals}f}"
    if kind == _MISSING:
        text = ""
    elif kind == _OUT_OF_RANGE:
        text = f"{_bad_value(rng, decimals):.{decimals}f}"
    elif kind == _NON_NUMERIC:
        text = rng.choice(_NON_NUMERIC_TOKENS)
    head = [
        slot.station.station_id,
        slot.station.region,
        slot.observed_at,
        slot.pollutant,
    ]
    if kind != _MALFORMED:
        return [*head, text, unit]
    if rng.random() < 0.5:
        # A decimal comma from a mis-set locale, written unquoted so the value
        # splits into two fields. Passed as two fields on purpose: one field
        # containing a comma would be quoted by csv and stay six fields.
        whole, fraction = text.split(".")
        return [*head, whole, fraction, unit]
    return [*head, text, unit, ""]  # a trailing delimiter


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------


@contextlib.contextmanager
def _atomic_writer(path: Path) -> Iterator[IO[str]]:
    """Open ``path`` for text writing; it appears only once complete.

    A sensor or ingest task polling the folder must never pick up a
    half-written file, so write a sibling temp file and rename it into place.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        # newline="" so neither csv nor the platform rewrites "\n": the bytes
        # must be identical on every machine.
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_registry(path: Path, registry: Sequence[Station]) -> None:
    with _atomic_writer(path) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(REGISTRY_FIELDS)
        for station in registry:
            writer.writerow(station.registry_row())


def _plan_slots(
    source: str, day: datetime.date, registry: Sequence[Station], gaps: Sequence[Gap], smoke: SmokeEvent | None
) -> tuple[list[tuple[Station, int, str, bool]], list[_Slot]]:
    """One source's station-hours (station, local hour, ``observed_at`` as written, smoky) and their
    reading slots, one per pollutant, in file order; a slot whose key came before is a ``repeat``."""
    partner = source == "partner"
    partner_zone = ZoneInfo(PARTNER_TIMEZONE)
    station_hours: list[tuple[Station, int, str, bool]] = []
    slots: list[_Slot] = []
    seen_keys: set[tuple[str, str, str]] = set()
    for hour in range(24):
        moment = datetime.datetime(day.year, day.month, day.day, hour, tzinfo=datetime.UTC)
        for station in registry:
            if station.source != source or any(gap.covers(station.station_id, hour) for gap in gaps):
                continue
            local = moment.astimezone(ZoneInfo(station.timezone))
            if partner:
                # The agency's convention: naive wall-clock time in its own
                # zone, whatever zone the station is in.
                observed_at = moment.astimezone(partner_zone).strftime("%Y-%m-%d %H:%M:%S")
            else:
                observed_at = local.isoformat()
            smoky = (
                smoke is not None
                and station.station_id == smoke.station_id
                and smoke.first_hour <= hour < smoke.first_hour + smoke.hours
            )
            station_hours.append((station, local.hour, observed_at, smoky))
            for pollutant in POLLUTANTS:
                key = (station.station_id, observed_at, pollutant)
                slots.append(
                    _Slot(
                        station=station,
                        pollutant=pollutant,
                        observed_at=observed_at,
                        smoke=smoky and pollutant == "pm25",
                        repeat=key in seen_keys,
                    )
                )
                seen_keys.add(key)
    return station_hours, slots


def _write_readings(
    path: Path,
    source: str,
    day: datetime.date,
    registry: Sequence[Station],
    gaps: Sequence[Gap],
    smoke: SmokeEvent | None,
    weather: _Weather,
    rng: random.Random,
) -> SourceStats:
    """Stream one source's readings file, line by line, and count what it wrote."""
    partner = source == "partner"
    units = PARTNER_UNITS if partner else GATEWAY_UNITS
    profiles = _registry()[1]
    # Plan the slots first -- keys only, a few thousand small objects -- so
    # defects can be placed before streaming; the file is never held in memory.
    station_hours, slots = _plan_slots(source, day, registry, gaps, smoke)

    # Independent streams: values do not move when the defect plan changes.
    value_rng = random.Random(rng.getrandbits(64))
    defect_rng = random.Random(rng.getrandbits(64))
    smoke_rng = random.Random(rng.getrandbits(64))
    plan = _plan_defects(defect_rng, slots, partner)

    tally = _Tally()
    remembered: dict[int, str] = {}
    with _atomic_writer(path) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        if partner:
            writer.writerow(READING_FIELDS)

        def render(slot: _Slot, value: float, kind: str) -> tuple[str, list[str]]:
            """The row as tally text plus, for the CSV, its fields."""
            if partner:
                fields = _partner_fields(slot, value, kind, defect_rng)
                # Key the tally on the joined fields so "duplicate" means
                # byte-equal (no field of a well-formed row needs quoting).
                return ",".join(fields), fields
            return _gateway_line(slot, value, kind, defect_rng), []

        def write(text: str, fields: list[str]) -> None:
            if partner:
                writer.writerow(fields)
            else:
                handle.write(text + "\n")

        index = 0
        for station, local_hour, _observed_at, smoky in station_hours:
            smoke_pm25 = smoke_rng.uniform(500.0, 700.0) if smoky else None
            values = _hour_values(profiles[station.station_id], local_hour, weather, value_rng, smoke_pm25)
            for pollutant in POLLUTANTS:
                slot = slots[index]
                unit = units[pollutant]
                # Convert target units to this source's units before rounding.
                value = values[pollutant] / _TO_TARGET[(pollutant, unit)]
                kind = plan.victims.get(index, _CLEAN)
                text, fields = render(slot, value, kind)
                if kind == _CLEAN:
                    step = 10.0 ** -_DECIMALS[(pollutant, unit)]
                    # Only a repeated DST-hour reading can match an earlier
                    # line; nudge it so duplicates stay the deliberate ones.
                    # (Clean rendering draws no randomness, so this is safe.)
                    while tally.has(text):
                        value += step
                        text, fields = render(slot, value, kind)
                write(text, fields)
                tally.add(text, kind, slot.smoke)
                if index in plan.originals:
                    remembered[index] = text
                for original in plan.copy_after.get(index, ()):
                    copy = remembered[original]
                    write(copy, copy.split(","))
                    tally.add(copy, _CLEAN, False)
                index += 1
    return tally.stats(source, path)


def _parse_ds(ds: str | datetime.date) -> datetime.date:
    if isinstance(ds, datetime.datetime):
        return ds.date()
    if isinstance(ds, datetime.date):
        return ds
    try:
        day = datetime.date.fromisoformat(ds)
    except ValueError:
        raise ValueError(f"ds must be a date as YYYY-MM-DD, got {ds!r}") from None
    if day.isoformat() != ds:  # fromisoformat also takes "20260102" etc.
        raise ValueError(f"ds must be a date as YYYY-MM-DD, got {ds!r}")
    return day


def generate(ds: str | datetime.date, out_dir: Path) -> SampleBatch:
    """Write the registry and one day of gateway and partner readings.

    ``ds`` is the logical date (``YYYY-MM-DD`` or a :class:`datetime.date`);
    readings cover its UTC hours 00..23. Files land in ``out_dir/registry``,
    ``out_dir/gateway`` and ``out_dir/partner`` and are replaced atomically.
    The same ``ds`` always produces byte-identical files.
    """
    day = _parse_ds(ds)
    out_dir = Path(out_dir)
    registry = stations()
    rng = random.Random(_seed(f"pollutrack:{day.isoformat()}"))
    smoke, gaps, weather = _plan_day(rng, registry)

    registry_path = out_dir / "registry" / "stations.csv"
    _write_registry(registry_path, registry)
    per_source: dict[str, SourceStats] = {}
    for source, folder, suffix in (
        ("gateway", "gateway", "ndjson"),
        ("partner", "partner", "csv"),
    ):
        path = out_dir / folder / f"readings_{day.isoformat()}.{suffix}"
        source_rng = random.Random(rng.getrandbits(64))
        per_source[source] = _write_readings(path, source, day, registry, gaps, smoke, weather, source_rng)
    return SampleBatch(
        ds=day,
        registry_path=registry_path,
        station_count=len(registry),
        gateway=per_source["gateway"],
        partner=per_source["partner"],
        smoke_event=smoke,
        gaps=gaps,
    )


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lockgate.sample_data --ds YYYY-MM-DD --out DIR``.

    Writes the day's files and prints their paths and counts; ``--json``
    prints the same as one JSON object instead.
    """
    parser = argparse.ArgumentParser(
        prog="python -m lockgate.sample_data",
        description="Write one day of deterministic PolluTrack sample data.",
    )
    parser.add_argument("--ds", required=True, help="logical date, YYYY-MM-DD")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--json", action="store_true", help="print a JSON summary")
    args = parser.parse_args(argv)
    try:
        batch = generate(args.ds, args.out)
    except ValueError as exc:
        parser.error(str(exc))
    if args.json:
        summary = {
            "ds": batch.ds.isoformat(),
            "registry": {
                "path": str(batch.registry_path),
                "stations": batch.station_count,
            },
            **{name: {"path": str(stats.path), **stats.counts()} for name, stats in batch.sources.items()},
            "smoke_event": dataclasses.asdict(batch.smoke_event) if batch.smoke_event else None,
            "gaps": [dataclasses.asdict(gap) for gap in batch.gaps],
        }
        print(json.dumps(summary, indent=2))
        return 0
    print(f"ds        {batch.ds.isoformat()}")
    print(f"registry  {batch.registry_path}  stations={batch.station_count}")
    for name, stats in batch.sources.items():
        counts = " ".join(f"{key}={value}" for key, value in stats.counts().items())
        print(f"{name:<9} {stats.path}  {counts}")
    smoke = batch.smoke_event
    if smoke is None:
        print("smoke     none")
    else:
        print(
            f"smoke     {smoke.station_id} ({smoke.source}) "
            f"UTC hours {smoke.first_hour:02d}..{smoke.first_hour + smoke.hours - 1:02d}"
        )
    for gap in batch.gaps:
        print(f"offline   {gap.station_id} UTC hours {gap.first_hour:02d}..{gap.first_hour + gap.hours - 1:02d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
