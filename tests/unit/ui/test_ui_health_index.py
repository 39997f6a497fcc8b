"""The Data health page's compact index (lockgate.health_index): the same page from one object per
dataset and year as from every report, and never a stale number when the index missed a write."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from lockgate import health_index
from lockgate.hooks.lake import LakeHook
from lockgate.ui import health as health_module
from lockgate.ui.app import health_as_dict
from lockgate.ui.health import lake_health
from tests.unit.ui.test_ui_health import check, report, summary

TODAY = date(2026, 1, 10)
DATES = ("2026-01-02", "2026-01-03", "2026-01-04")
RANGE = "expect_column_values_to_be_between(value)"


def _forget() -> None:
    """A fresh api-server: nothing parsed in memory."""
    health_module._CACHE._entries.clear()
    health_module._INDEXES._entries.clear()


def _write(lake: LakeHook, zone: str, group: str, ds: str, document: dict[str, Any], *, index: bool = True) -> None:
    name = "report.json" if zone == "quality" else "summary.json"
    written = lake.write_json(f"{zone}/{group}/ds={ds}/{name}", document)
    if index:
        health_index.record(lake, zone, group, ds, document, written)


def _lake() -> LakeHook:
    lake = LakeHook()
    for i, ds in enumerate(DATES):
        checks = [
            check(RANGE, "quarantine", True, unexpected_count=i, kwargs={"max": 5}),
            check("expect_column_max_to_be_between(value)", "warn", i != 1, observed_value=600 + i),
        ]
        gated = report("readings", ds, rows_in=100, quarantined=i + 1, checks=checks)
        gated["quarantine_by_check"] = {"not_null": 1, **({RANGE: i} if i else {})}
        gated["quarantine_examples"] = {"not_null": ["f.csv: row 3: column value: null"]}
        gated["column_metrics"] = {"value": {"nulls": 1}}
        _write(lake, "quality", "readings", ds, gated)
        _write(lake, "reports", "air_quality_daily", ds, summary(ds, {"readings": 99 - i}))
    return lake


def _page(lake: LakeHook) -> dict[str, Any]:
    _forget()
    found = health_as_dict(lake_health(lake, today=TODAY, start=date(2026, 1, 1), end=date(2026, 1, 5)))
    for item in found["datasets"]:
        item["days"] = [{k: v for k, v in d.items() if k != "checks"} | {"checks": d["checks"]} for d in item["days"]]
    return found


def test_the_page_from_the_index_is_the_page_from_the_documents(lockgate_home: Path) -> None:
    lake = _lake()
    from_index = _page(lake)
    for key in [o.key for o in lake.list("quality") + lake.list("reports") if "/_index/" in o.key]:
        os.remove(lake.uri(key))
    assert _page(lake) == from_index
    readings = from_index["datasets"][0]
    assert [d["state"] for d in readings["days"]] == ["loaded", "warned", "loaded"]
    assert [d["rows_loaded"] for d in readings["days"]] == [99, 98, 97]
    assert readings["days"][2]["checks"][0]["unexpected_count"] == 2


def test_the_first_request_reads_one_index_per_folder_and_year_not_the_documents(
    lockgate_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = _lake()
    read: list[str] = []
    original = LakeHook.read_json

    def counting(self: LakeHook, key: str) -> Any:
        read.append(key)
        return original(self, key)

    monkeypatch.setattr(LakeHook, "read_json", counting)
    page = _page(lake)
    assert sorted(read) == ["quality/readings/_index/2026.json", "reports/air_quality_daily/_index/2026.json"]
    # the checks are unpacked only when looked at, with their arguments (examples stay in the report)
    (day,) = [d for d in page["datasets"][0]["days"] if d["ds"] == "2026-01-03"]
    assert [(c["check"], c["outcome"], c["threshold"]) for c in day["checks"]][:2] == [
        ("expect_column_values_to_be_between(value)", "quarantined", "max=5"),
        ("expect_column_max_to_be_between(value)", "warned", ""),
    ]
    index = json.loads(Path(lake.uri("quality/readings/_index/2026.json")).read_text())
    assert "quarantine_examples" not in json.dumps(index)
    assert "column_metrics" not in json.dumps(index)


def test_a_document_the_index_missed_is_read_itself(lockgate_home: Path) -> None:
    """A rerun's report written without its index entry (a task killed between the two writes): the
    index's entry is for another version, so the page reads the report."""
    lake = _lake()
    rerun = report("readings", DATES[0], rows_in=100, quarantined=40)
    _write(lake, "quality", "readings", DATES[0], rerun, index=False)
    _write(lake, "reports", "air_quality_daily", "2026-01-05", summary("2026-01-05", {"readings": 7}), index=False)
    page = _page(lake)
    days = {d["ds"]: d for d in page["datasets"][0]["days"]}
    assert days[DATES[0]]["rows_quarantined"] == 40
    assert days[DATES[0]]["state"] == "quarantine-heavy"
    assert page["datasets"][0]["newest_loaded_ds"] == "2026-01-05"


def test_a_broken_index_is_ignored_and_recording_never_fails(
    lockgate_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = _lake()
    Path(lake.uri("quality/readings/_index/2026.json")).write_text("{not json")
    assert [d["rows_quarantined"] for d in _page(lake)["datasets"][0]["days"]] == [1, 2, 3]
    # the next write replaces the broken index
    _write(lake, "quality", "readings", DATES[0], report("readings", DATES[0], quarantined=5))
    assert json.loads(Path(lake.uri("quality/readings/_index/2026.json")).read_text())["version"] == 2

    class Broken:
        is_s3 = False

        def read_json(self, key: str) -> Any:
            raise PermissionError("read-only lake")

    warnings: list[str] = []
    monkeypatch.setattr(health_index.log, "warning", lambda message, *args: warnings.append(message % args))
    health_index.record(Broken(), "quality", "readings", DATES[0], {}, None)  # type: ignore[arg-type]
    assert warnings == [
        "could not update the Data health index quality/readings/_index/2026.json (read-only lake): "
        "the page reads the document instead"
    ]


def test_rebuild_indexes_a_lake_written_before_the_index(lockgate_home: Path) -> None:
    lake = LakeHook()
    for ds in DATES:
        _write(lake, "quality", "readings", ds, report("readings", ds, quarantined=2), index=False)
        _write(lake, "reports", "air_quality_daily", ds, summary(ds, {"readings": 98}), index=False)
    assert health_index.rebuild(lake) == 6
    index = json.loads(Path(lake.uri("quality/readings/_index/2026.json")).read_text())
    assert sorted(index["entries"]) == list(DATES)
    assert _page(lake)["datasets"][0]["days"][0]["rows_loaded"] == 98


def test_a_replayed_day_shows_what_the_replay_loaded_not_the_older_summary(lockgate_home: Path) -> None:
    lake = _lake()
    replayed = report("readings", DATES[0], rows_in=100, quarantined=0)
    replayed["replay"] = {
        "dag_id": "lockgate_quarantine_replay",
        "run_id": "manual__replay",
        "original_dag_id": "air_quality_daily",
        "original_run_id": f"manual__{DATES[0]}",
        "outcome": "reloaded",
        "loads": [{"table": "fact", "rows_loaded": 100, "run_id": "manual__replay", "loaded_at": "2026-01-09T10:00"}],
    }
    _write(lake, "quality", "readings", DATES[0], replayed)
    day = _page(lake)["datasets"][0]["days"][0]
    assert (day["rows_loaded"], day["load_run_id"], day["loaded_at"]) == (100, "manual__replay", "2026-01-09T10:00")
    assert day["replay"]["original_run_id"] == f"manual__{DATES[0]}"
    assert day["run_id"] == f"manual__{DATES[0]}"  # the pipeline's run of the date, as before
