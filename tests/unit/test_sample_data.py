"""Tests for ``lockgate.sample_data``: the files are re-read independently.

Every count the generator reports is recomputed here from the bytes on disk
with nothing but ``csv``/``json`` and the classification rules of the module
docstring (malformed, then duplicate, then non-numeric, missing, out of range),
because the pipeline's end-to-end tests trust those counts blindly.
"""

from __future__ import annotations

import csv
import datetime
import json
import math
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lockgate import sample_data as sd

UTC = datetime.UTC
READING_KEYS = ["station_id", "region", "observed_at", "pollutant", "value", "unit"]
# DST transition days for all US zones in 2026, plus an ordinary winter day.
DATES = ["2026-01-02", "2026-03-08", "2026-11-01"]
# Anything at or above this (ug/m3) is smoke: normal PM2.5 stays <= 45.
SMOKE_THRESHOLD_UGM3 = 400.0


@dataclass
class Parsed:
    """An independent reading of one readings file."""

    counts: Counter[str] = field(default_factory=Counter)
    # Well-formed rows with a usable value: (station_id, region, observed_at,
    # pollutant, value, unit, is_clean).
    rows: list[tuple[str, str, str, str, float, str, bool]] = field(default_factory=list)
    # Timestamps of every well-formed row, defective value or not.
    observed: list[tuple[str, str]] = field(default_factory=list)


def _value_kind(value: float) -> str:
    if not math.isfinite(value) or value < 0 or value >= 100000:
        return "out_of_range"
    return "clean"


def parse_gateway(path: Path) -> Parsed:
    parsed = Parsed()
    seen: set[str] = set()
    with path.open(encoding="utf-8", newline="") as handle:
        for raw in handle:
            assert raw.endswith("\n")
            line = raw[:-1]
            parsed.counts["rows"] += 1
            try:
                obj = json.loads(line)
            except ValueError:
                parsed.counts["malformed"] += 1
                continue
            if not isinstance(obj, dict) or list(obj) != READING_KEYS:
                parsed.counts["malformed"] += 1
                continue
            parsed.observed.append((obj["station_id"], obj["observed_at"]))
            if line in seen:
                parsed.counts["duplicates"] += 1
                continue
            seen.add(line)
            value = obj["value"]
            if value is None:
                parsed.counts["missing_values"] += 1
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                parsed.counts["non_numeric"] += 1
                continue
            kind = _value_kind(float(value))
            parsed.counts[kind] += 1
            parsed.rows.append(
                (
                    obj["station_id"],
                    obj["region"],
                    obj["observed_at"],
                    obj["pollutant"],
                    float(value),
                    obj["unit"],
                    kind == "clean",
                )
            )
    return parsed


def parse_partner(path: Path) -> Parsed:
    parsed = Parsed()
    seen: set[tuple[str, ...]] = set()
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        assert next(reader) == READING_KEYS
        for fields in reader:
            parsed.counts["rows"] += 1
            if len(fields) != len(READING_KEYS):
                parsed.counts["malformed"] += 1
                continue
            station_id, region, observed_at, pollutant, text, unit = fields
            parsed.observed.append((station_id, observed_at))
            if tuple(fields) in seen:
                parsed.counts["duplicates"] += 1
                continue
            seen.add(tuple(fields))
            if text == "":
                parsed.counts["missing_values"] += 1
                continue
            try:
                value = float(text)
            except ValueError:
                parsed.counts["non_numeric"] += 1
                continue
            kind = _value_kind(value)
            parsed.counts[kind] += 1
            parsed.rows.append(
                (
                    station_id,
                    region,
                    observed_at,
                    pollutant,
                    value,
                    unit,
                    kind == "clean",
                )
            )
    return parsed


def _smoke_rows(parsed: Parsed) -> list[tuple[str, str, str, str, float, str, bool]]:
    return [
        row
        for row in parsed.rows
        if row[6] and row[3] == "pm25" and sd.to_target_units("pm25", row[4], row[5]) >= SMOKE_THRESHOLD_UGM3
    ]


@pytest.fixture(scope="module")
def batches(tmp_path_factory: pytest.TempPathFactory) -> dict[str, sd.SampleBatch]:
    return {ds: sd.generate(ds, tmp_path_factory.mktemp(f"sd-{ds}")) for ds in DATES}


@pytest.fixture(scope="module")
def parsed(batches: dict[str, sd.SampleBatch]) -> dict[tuple[str, str], Parsed]:
    result: dict[tuple[str, str], Parsed] = {}
    for ds, batch in batches.items():
        result[(ds, "gateway")] = parse_gateway(batch.gateway_path)
        result[(ds, "partner")] = parse_partner(batch.partner_path)
    return result


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


# ----------------------------------------------------------------------- determinism


def test_same_date_is_byte_identical(tmp_path: Path) -> None:
    first = sd.generate("2026-01-02", tmp_path / "a")
    second = sd.generate(datetime.date(2026, 1, 2), tmp_path / "b")
    a, b = _tree_bytes(tmp_path / "a"), _tree_bytes(tmp_path / "b")
    assert sorted(a) == [
        "gateway/readings_2026-01-02.ndjson",
        "partner/readings_2026-01-02.csv",
        "registry/stations.csv",
    ]
    assert a == b
    assert first.gateway.counts() == second.gateway.counts()
    assert first.partner.counts() == second.partner.counts()
    assert (first.smoke_event, first.gaps) == (second.smoke_event, second.gaps)


def test_regenerating_into_the_same_dir_is_stable(tmp_path: Path) -> None:
    sd.generate("2026-01-02", tmp_path)
    before = _tree_bytes(tmp_path)
    sd.generate("2026-01-02", tmp_path)
    # Same bytes, and no temp files left behind by the atomic writes.
    assert _tree_bytes(tmp_path) == before


def test_different_date_differs(tmp_path: Path) -> None:
    one = sd.generate("2026-01-02", tmp_path / "a")
    two = sd.generate("2026-01-03", tmp_path / "b")
    # The registry is date-independent; the readings are not.
    assert one.registry_path.read_bytes() == two.registry_path.read_bytes()
    assert one.gateway_path.read_bytes() != two.gateway_path.read_bytes()
    assert one.partner_path.read_bytes() != two.partner_path.read_bytes()


def test_module_import_is_stdlib_only() -> None:
    code = (
        "import sys, lockgate.sample_data\n"
        "heavy = {'airflow', 'pandas', 'numpy', 'pyarrow', 'duckdb', 'great_expectations'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"


# -------------------------------------------------------------------------- registry


def test_registry_has_50_unique_stations_in_5_regions(
    batches: dict[str, sd.SampleBatch],
) -> None:
    registry = sd.stations()
    assert len(registry) == sd.STATION_COUNT == 50
    assert [s.station_id for s in registry] == [f"ST-{n:03d}" for n in range(1, 51)]
    assert len({s.name for s in registry}) == 50
    assert Counter(s.region for s in registry) == dict.fromkeys(sd.REGIONS, 10)
    assert len(sd.REGIONS) == 5
    assert set(sd.GATEWAY_REGIONS) | set(sd.PARTNER_REGIONS) == set(sd.REGIONS)
    assert not set(sd.GATEWAY_REGIONS) & set(sd.PARTNER_REGIONS)
    zones = {s.timezone for s in registry}
    assert {
        "America/New_York",
        "America/Chicago",
        "America/Denver",
        "America/Los_Angeles",
    } <= zones
    for station in registry:
        ZoneInfo(station.timezone)  # a real IANA zone
        assert station.timezone == sd.REGION_TIMEZONES[station.region]
        assert station.commissioned_on < datetime.date(2024, 1, 1)
        assert 24.0 < station.latitude < 50.0
        assert -125.0 < station.longitude < -66.0
    assert sd.stations() == registry  # fixed, not date-seeded

    with batches["2026-01-02"].registry_path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(sd.REGISTRY_FIELDS)
    assert len(rows) == 50
    for row, station in zip(rows, registry, strict=True):
        assert row["station_id"] == station.station_id
        assert row["name"] == station.name
        assert row["region"] == station.region
        assert float(row["latitude"]) == station.latitude
        assert float(row["longitude"]) == station.longitude
        assert row["timezone"] == station.timezone
        assert int(row["elevation_m"]) == station.elevation_m
        assert datetime.date.fromisoformat(row["commissioned_on"]) == station.commissioned_on


# ---------------------------------------------------------------------------- counts


@pytest.mark.parametrize("ds", DATES)
@pytest.mark.parametrize("source", ["gateway", "partner"])
def test_independent_parse_reproduces_every_count(
    batches: dict[str, sd.SampleBatch],
    parsed: dict[tuple[str, str], Parsed],
    ds: str,
    source: str,
) -> None:
    stats = batches[ds].sources[source]
    got = parsed[(ds, source)]
    assert stats.counts() == {
        "rows": got.counts["rows"],
        "duplicates": got.counts["duplicates"],
        "missing_values": got.counts["missing_values"],
        "out_of_range": got.counts["out_of_range"],
        "malformed": got.counts["malformed"],
        "non_numeric": got.counts["non_numeric"],
        "smoke_event_rows": len(_smoke_rows(got)),
        "clean_rows": got.counts["clean"],
    }
    assert stats.rows == (
        stats.clean_rows
        + stats.duplicates
        + stats.missing_values
        + stats.out_of_range
        + stats.malformed
        + stats.non_numeric
    )
    # At least one deliberate defect of every kind the source can carry.
    assert stats.duplicates >= 1
    assert stats.missing_values >= 1
    assert stats.out_of_range >= 1
    assert stats.malformed >= 1
    if source == "partner":
        assert stats.non_numeric >= 1
    else:
        assert stats.non_numeric == 0


@pytest.mark.parametrize("ds", DATES)
def test_every_ndjson_line_parses_or_is_counted_malformed(batches: dict[str, sd.SampleBatch], ds: str) -> None:
    lines = batches[ds].gateway_path.read_text(encoding="utf-8").splitlines()
    unparseable = 0
    for line in lines:
        try:
            obj = json.loads(line)
        except ValueError:
            unparseable += 1
            continue
        assert list(obj) == READING_KEYS
    assert len(lines) == batches[ds].gateway.rows
    assert unparseable == batches[ds].gateway.malformed >= 1


@pytest.mark.parametrize("ds", DATES)
def test_partner_malformed_rows_are_ragged(batches: dict[str, sd.SampleBatch], ds: str) -> None:
    with batches[ds].partner_path.open(encoding="utf-8", newline="") as handle:
        widths = Counter(len(fields) for fields in csv.reader(handle))
    assert set(widths) <= {6, 7}  # one extra field, never fewer
    assert widths[7] == batches[ds].partner.malformed


@pytest.mark.parametrize("ds", DATES)
@pytest.mark.parametrize("source", ["gateway", "partner"])
def test_every_station_hour_is_present_except_gaps(batches: dict[str, sd.SampleBatch], ds: str, source: str) -> None:
    batch = batches[ds]
    members = [s.station_id for s in sd.stations() if s.source == source]
    offline_hours = sum(gap.hours for gap in batch.gaps if gap.station_id in members)
    assert offline_hours >= 2
    # Defects replace readings; only duplicates add lines.
    stats = batch.sources[source]
    assert stats.rows == (len(members) * 24 - offline_hours) * 6 + stats.duplicates


# ------------------------------------------------------------------------ timestamps


@pytest.mark.parametrize("ds", DATES)
def test_gateway_timestamps_are_station_local_and_on_ds(parsed: dict[tuple[str, str], Parsed], ds: str) -> None:
    day = datetime.date.fromisoformat(ds)
    zones = {s.station_id: ZoneInfo(s.timezone) for s in sd.stations()}
    utc_hours: dict[str, set[int]] = {}
    observed = parsed[(ds, "gateway")].observed
    assert observed
    for station_id, observed_at in observed:
        local = datetime.datetime.fromisoformat(observed_at)
        assert local.tzinfo is not None
        instant = local.astimezone(UTC)
        assert instant.date() == day
        assert (instant.minute, instant.second) == (0, 0)
        # The offset is the station's own zone's offset at that instant (DST).
        assert local.utcoffset() == instant.astimezone(zones[station_id]).utcoffset()
        utc_hours.setdefault(station_id, set()).add(instant.hour)
    assert set().union(*utc_hours.values()) == set(range(24))


@pytest.mark.parametrize("ds", DATES)
def test_partner_timestamps_are_naive_chicago_and_on_ds(parsed: dict[tuple[str, str], Parsed], ds: str) -> None:
    day = datetime.date.fromisoformat(ds)
    chicago = ZoneInfo(sd.PARTNER_TIMEZONE)
    observed = parsed[(ds, "partner")].observed
    assert observed
    for _station_id, observed_at in observed:
        naive = datetime.datetime.strptime(observed_at, "%Y-%m-%d %H:%M:%S")
        # fold=0 (the earlier reading) for the repeated hour in November; both
        # interpretations fall on ds anyway.
        for fold in (0, 1):
            instant = naive.replace(tzinfo=chicago, fold=fold).astimezone(UTC)
            assert instant.date() == day


def test_partner_uses_chicago_time_even_for_denver_stations(
    parsed: dict[tuple[str, str], Parsed],
) -> None:
    denver = {s.station_id for s in sd.stations() if s.timezone == "America/Denver"}
    assert denver
    assert all(s.source == "partner" for s in sd.stations() if s.station_id in denver)
    stamps = {at for sid, at in parsed[("2026-01-02", "partner")].observed if sid in denver}
    # UTC midnight is 18:00 in Chicago (CST) the day before, 17:00 in Denver.
    assert "2026-01-01 18:00:00" in stamps
    assert "2026-01-01 17:00:00" not in stamps


def test_partner_repeats_the_ambiguous_hour_on_fall_back_day(
    parsed: dict[tuple[str, str], Parsed],
) -> None:
    # 06:00 and 07:00 UTC are both 01:00 naive Chicago time on 2026-11-01: a
    # real hazard of the partner's convention, written in UTC order so a
    # loader can tell the two apart by position.
    per_station = Counter(sid for sid, at in parsed[("2026-11-01", "partner")].observed if at == "2026-11-01 01:00:00")
    assert per_station
    assert max(per_station.values()) >= 12  # two hours x six pollutants


# ----------------------------------------------------------------------------- units


@pytest.mark.parametrize("ds", DATES)
def test_units_per_source(parsed: dict[tuple[str, str], Parsed], ds: str) -> None:
    expected = {
        "gateway": {
            "pm25": "ug/m3",
            "pm10": "ug/m3",
            "o3": "ppb",
            "co": "ppm",
            "so2": "ppb",
            "no2": "ppb",
        },
        "partner": {
            "pm25": "mg/m3",
            "pm10": "mg/m3",
            "o3": "ppm",
            "co": "ppb",
            "so2": "ppb",
            "no2": "ppb",
        },
    }
    assert expected["gateway"] == sd.GATEWAY_UNITS
    assert expected["partner"] == sd.PARTNER_UNITS
    for source, units in expected.items():
        rows = parsed[(ds, source)].rows
        assert {row[3] for row in rows} == set(sd.POLLUTANTS)
        for _sid, region, _at, pollutant, _value, unit, _clean in rows:
            assert unit == units[pollutant]
            regions = sd.GATEWAY_REGIONS if source == "gateway" else sd.PARTNER_REGIONS
            assert region in regions


@pytest.mark.parametrize("ds", DATES)
@pytest.mark.parametrize("source", ["gateway", "partner"])
def test_clean_values_are_realistic_in_target_units(
    parsed: dict[tuple[str, str], Parsed], ds: str, source: str
) -> None:
    bounds = {
        "pm25": (2.0, 50.0),
        "pm10": (8.0, 90.0),
        "o3": (0.010, 0.070),
        "co": (0.1, 2.5),
        "so2": (0.5, 25.0),
        "no2": (2.0, 70.0),
    }
    smoke = set(_smoke_rows(parsed[(ds, source)]))
    for row in parsed[(ds, source)].rows:
        if not row[6] or row in smoke:
            continue
        value = sd.to_target_units(row[3], row[4], row[5])
        low, high = bounds[row[3]]
        assert low - 1e-9 <= value <= high + 1e-9, row


def test_ozone_peaks_in_the_afternoon(parsed: dict[tuple[str, str], Parsed]) -> None:
    by_hour: dict[int, list[float]] = {}
    for _sid, _region, at, pollutant, value, unit, clean in parsed[("2026-01-02", "gateway")].rows:
        if clean and pollutant == "o3":
            local_hour = datetime.datetime.fromisoformat(at).hour
            by_hour.setdefault(local_hour, []).append(sd.to_target_units("o3", value, unit))
    mean = {hour: sum(v) / len(v) for hour, v in by_hour.items()}
    assert max(mean, key=mean.__getitem__) in range(12, 18)
    assert mean[15] > 1.8 * mean[4]


# ----------------------------------------------------------------------------- smoke


def test_smoke_event_on_some_but_not_all_days(tmp_path: Path) -> None:
    start = datetime.date(2026, 1, 1)
    smoky_days = 0
    for offset in range(30):
        day = start + datetime.timedelta(days=offset)
        batch = sd.generate(day, tmp_path / day.isoformat())
        found = _smoke_rows(parse_gateway(batch.gateway_path)) + _smoke_rows(parse_partner(batch.partner_path))
        total = batch.gateway.smoke_event_rows + batch.partner.smoke_event_rows
        assert len(found) == total
        if batch.smoke_event is None:
            assert total == 0
            continue
        smoky_days += 1
        event = batch.smoke_event
        assert 3 <= total == event.hours <= 6
        assert {row[0] for row in found} == {event.station_id}
        for row in found:
            assert 500.0 <= sd.to_target_units("pm25", row[4], row[5]) <= 700.0
    assert 0 < smoky_days < 30


# ----------------------------------------------------------------------- API and CLI


def test_bad_ds_is_rejected(tmp_path: Path) -> None:
    for bad in ("2026-13-01", "02/01/2026", "20260102"):
        with pytest.raises(ValueError, match="YYYY-MM-DD"):
            sd.generate(bad, tmp_path)


def test_cli_prints_paths_and_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert sd.main(["--ds", "2026-01-02", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    batch = sd.generate("2026-01-02", tmp_path / "again")
    for path in ("registry/stations.csv", "gateway/readings_2026-01-02.ndjson"):
        assert str(tmp_path / path) in out
    assert f"clean_rows={batch.partner.clean_rows}" in out

    assert sd.main(["--ds", "2026-01-02", "--out", str(tmp_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["gateway"]["rows"] == batch.gateway.rows
    assert summary["partner"]["path"] == str(tmp_path / "partner/readings_2026-01-02.csv")


def test_cli_runs_as_module(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "lockgate.sample_data",
            "--ds",
            "2026-01-02",
            "--out",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    assert "partner" in out.stdout
    assert (tmp_path / "partner" / "readings_2026-01-02.csv").is_file()
