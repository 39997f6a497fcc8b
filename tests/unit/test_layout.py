"""Tests for ``lockgate.layout``: lake keys are safe, deterministic and per zone."""

from __future__ import annotations

import pytest

from lockgate.hooks.lake import LakePathError
from lockgate.layout import MANIFEST, ZONES, manifest_key, raw_prefix, run_segment, safe_key, zone_prefix


@pytest.mark.parametrize(
    ("parts", "key"),
    [
        (("raw", "readings", "ds=2026-01-02"), "raw/readings/ds=2026-01-02"),
        (("raw/readings/", "/ds=2026-01-02/", "a.csv"), "raw/readings/ds=2026-01-02/a.csv"),
        (("./raw", ".", "x"), "raw/x"),
        (("region=south west",), "region=south west"),
        (("a..b", "...", "x.."), "a..b/.../x.."),  # dots inside a name are fine; only ".." itself escapes
    ],
)
def test_safe_key_joins_clean_parts(parts: tuple[str, ...], key: str) -> None:
    assert safe_key(*parts) == key


@pytest.mark.parametrize(
    "parts",
    [
        ("raw", ".."),
        ("raw/../../etc", "passwd"),
        ("..",),
        ("raw", "a\\b"),
        ("raw", "..\\..\\windows"),
        ("raw", "a\x00b"),
        ("curated", "region=\x00"),
    ],
)
def test_safe_key_rejects_escapes(parts: tuple[str, ...]) -> None:
    with pytest.raises(LakePathError, match="unsafe lake key segment"):
        safe_key(*parts)


@pytest.mark.parametrize("parts", [(), ("",), ("/",), ("", "/", "."), ("./",)])
def test_safe_key_rejects_empty(parts: tuple[str, ...]) -> None:
    with pytest.raises(LakePathError, match="empty lake key"):
        safe_key(*parts)


def test_lake_path_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"unsafe lake key segment '\.\.'"):
        safe_key("..")


@pytest.mark.parametrize(
    ("run_id", "segment"),
    [
        ("manual__2026-01-02T00:00:00+00:00", "manual__2026-01-02T00_00_00_00_00"),
        ("scheduled__2026-01-02T00:00:00+00:00", "scheduled__2026-01-02T00_00_00_00_00"),
        ("backfill 1/2", "backfill_1_2"),
        ("../../etc", ".._.._etc"),
        ("a\\b\x00c", "a_b_c"),
        ("plain-run_1.2", "plain-run_1.2"),
    ],
)
def test_run_segment_sanitises(run_id: str, segment: str) -> None:
    assert run_segment(run_id) == segment
    assert "/" not in segment
    assert ":" not in segment
    assert "+" not in segment


def test_run_segment_is_deterministic_and_distinguishes_runs() -> None:
    a = run_segment("manual__2026-01-02T00:00:00+00:00")
    assert a == run_segment("manual__2026-01-02T00:00:00+00:00")
    assert a != run_segment("manual__2026-01-02T01:00:00+00:00")


@pytest.mark.parametrize("zone", ZONES)
def test_zone_prefix_every_zone(zone: str) -> None:
    assert zone_prefix(zone, "readings", "2026-01-02") == f"{zone}/readings/ds=2026-01-02"
    assert manifest_key(zone, "readings", "2026-01-02") == f"{zone}/readings/ds=2026-01-02/{MANIFEST}"


def test_zones() -> None:
    assert ZONES == ("raw", "staged", "quarantine", "quality", "curated", "reports")


@pytest.mark.parametrize("zone", ["bronze", "RAW", "", "raw/..", "../raw"])
def test_zone_prefix_rejects_unknown_zones(zone: str) -> None:
    with pytest.raises(ValueError, match=rf"unknown lake zone {zone!r}; expected one of raw, staged"):
        zone_prefix(zone, "readings", "2026-01-02")


def test_zone_prefix_rejects_an_escaping_dataset() -> None:
    with pytest.raises(LakePathError):
        zone_prefix("raw", "..", "2026-01-02")


def test_raw_prefix_is_one_folder_per_run() -> None:
    key = raw_prefix("readings", "2026-01-02", "manual__2026-01-02T00:00:00+00:00")
    assert key == "raw/readings/ds=2026-01-02/run=manual__2026-01-02T00_00_00_00_00"
    # a run id cannot climb out of its folder
    assert raw_prefix("readings", "2026-01-02", "../../x") == "raw/readings/ds=2026-01-02/run=.._.._x"
