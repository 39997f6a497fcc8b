"""lockgate.ui.health: gate reports and run summaries aggregated into per-dataset health."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from lockgate.hooks.lake import LakeHook
from lockgate.ui.health import CheckOutcome, build_health, lake_health, read_lake_documents
from tests.support.s3 import lake_conn_env

TODAY = date(2026, 1, 5)


def check(name: str, severity: str = "fail", success: bool = True, **extra: Any) -> dict[str, Any]:
    return {"check": name, "severity": severity, "success": success, **extra}


def report(
    dataset: str,
    ds: str,
    *,
    rows_in: int = 100,
    passed: int | None = None,
    quarantined: int = 0,
    duplicates: int = 0,
    checks: list[dict[str, Any]] | None = None,
    failed: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "dataset": dataset,
        "ds": ds,
        "rows_in": rows_in,
        "rows_passed": rows_in - quarantined - duplicates if passed is None else passed,
        "rows_quarantined": quarantined,
        "duplicates_removed": duplicates,
        "checks": checks or [],
        "failed": failed or [],
        "warnings": [],
        "success": not failed,
    }


def summary(ds: str, loaded: dict[str, int], *, dag_id: str = "air_quality_daily") -> dict[str, Any]:
    return {
        "dag_id": dag_id,
        "run_id": f"manual__{ds}",
        "ds": ds,
        "datasets": [{"dataset": name, "rows_loaded": rows} for name, rows in loaded.items()],
    }


def test_rows_loaded_come_from_the_run_summary_and_rates_from_the_gate() -> None:
    health = build_health(
        [report("readings", "2026-01-04", rows_in=1000, quarantined=25, duplicates=5)],
        [summary("2026-01-04", {"readings": 970})],
        today=TODAY,
    )
    day = health.dataset("readings").days[0]
    assert (day.rows_in, day.rows_passed, day.rows_loaded) == (1000, 970, 970)
    assert day.quarantine_rate == pytest.approx(0.025)
    assert (day.dag_id, day.run_id) == ("air_quality_daily", "manual__2026-01-04")


def test_without_a_summary_the_load_is_unknown_and_the_dataset_not_fresh() -> None:
    health = build_health([report("readings", "2026-01-04")], [], today=TODAY)
    item = health.dataset("readings")
    assert item.days[0].rows_loaded is None
    assert item.newest_loaded_ds is None
    assert not item.fresh
    assert item.freshness == "nothing loaded"


def test_freshness_is_the_newest_loaded_date_against_today() -> None:
    reports = [report("readings", ds) for ds in ("2026-01-02", "2026-01-03", "2026-01-04")]
    # the 01-04 run stopped before loading: no summary, so 01-03 is the newest loaded date
    summaries = [summary(ds, {"readings": 100}) for ds in ("2026-01-02", "2026-01-03")]

    late = build_health(reports, summaries, today=TODAY).dataset("readings")
    assert (late.newest_loaded_ds, late.lag_days, late.fresh) == ("2026-01-03", 2, False)
    assert late.freshness == "2 days behind"

    on_time = build_health(reports, summaries, today=TODAY, max_lag_days=2).dataset("readings")
    assert on_time.fresh

    today = build_health(reports, summaries, today=date(2026, 1, 3)).dataset("readings")
    assert (today.lag_days, today.freshness, today.fresh) == (0, "up to date", True)


def test_a_zero_row_load_does_not_count_as_loaded() -> None:
    reports = [report("readings", "2026-01-03"), report("readings", "2026-01-04", rows_in=0)]
    summaries = [summary("2026-01-03", {"readings": 100}), summary("2026-01-04", {"readings": 0})]
    item = build_health(reports, summaries, today=TODAY).dataset("readings")
    assert item.newest_loaded_ds == "2026-01-03"
    assert item.days[-1].quarantine_rate == 0.0  # no division by zero on an empty day


def test_the_range_ends_on_the_newest_reported_date_and_is_sorted_oldest_first() -> None:
    reports = [report("readings", f"2026-01-0{d}") for d in (4, 1, 3, 2)]
    health = build_health(reports, [], today=TODAY, days=3)
    item = health.dataset("readings")
    assert (health.start, health.end) == ("2026-01-02", "2026-01-04")
    assert [d.ds for d in item.days] == ["2026-01-02", "2026-01-03", "2026-01-04"]
    assert item.latest is not None
    assert item.latest.ds == "2026-01-04"


def test_datasets_are_separate_and_sorted() -> None:
    health = build_health(
        [report("stations", "2026-01-04", rows_in=50), report("readings", "2026-01-04", rows_in=700)],
        [summary("2026-01-04", {"stations": 50, "readings": 690})],
        today=TODAY,
    )
    assert [d.dataset for d in health.datasets] == ["readings", "stations"]
    assert health.dataset("stations").days[0].rows_loaded == 50
    assert health.dataset("readings").days[0].rows_loaded == 690
    with pytest.raises(KeyError):
        health.dataset("nope")


def test_check_history_follows_each_check_across_dates() -> None:
    reports = [
        report("readings", "2026-01-03", checks=[check("unique(id)"), check("max(value)", "warn", False)]),
        report(
            "readings",
            "2026-01-04",
            checks=[check("unique(id)", success=False), check("max(value)", "warn"), check("fresh(ts)", "warn")],
            failed=["unique(id)"],
        ),
    ]
    item = build_health(reports, [], today=TODAY).dataset("readings")
    history = {h.check: dict(h.outcomes) for h in item.check_history}
    assert history == {
        "unique(id)": {"2026-01-03": "passed", "2026-01-04": "failed"},
        "max(value)": {"2026-01-03": "warned", "2026-01-04": "passed"},
        "fresh(ts)": {"2026-01-04": "passed"},  # a check added later: not run on 01-03
    }
    # the newest report's order
    assert [h.check for h in item.check_history] == ["unique(id)", "max(value)", "fresh(ts)"]
    latest = item.latest
    assert latest is not None
    assert latest.gate_failed
    assert [c.check for c in latest.failing_checks] == ["unique(id)"]


@pytest.mark.parametrize(
    ("severity", "success", "unexpected", "outcome"),
    [
        ("fail", True, 0, "passed"),
        ("fail", False, 3, "failed"),
        ("warn", False, None, "warned"),
        ("quarantine", True, 0, "passed"),
        ("quarantine", True, 2, "quarantined"),  # rows set aside: the gate did its job
        ("quarantine", False, 2, "quarantined"),
    ],
)
def test_check_outcome(severity: str, success: bool, unexpected: int | None, outcome: str) -> None:
    assert CheckOutcome("c", severity, success, unexpected).outcome == outcome


def test_reads_only_reports_and_summaries_from_a_real_lake(lockgate_home: Path) -> None:
    lake = LakeHook()
    for ds in ("2026-01-02", "2026-01-03", "2026-01-04"):
        lake.write_json(f"quality/readings/ds={ds}/report.json", report("readings", ds, rows_in=10, quarantined=1))
        lake.write_json(f"quality/readings/ds={ds}/validation.json", {"not": "a report"})
        lake.write_json(f"reports/air_quality_daily/ds={ds}/summary.json", summary(ds, {"readings": 9}))
    # a report without its own dataset/ds fields: the key says what it is
    lake.write_json("quality/stations/ds=2026-01-04/report.json", {"rows_in": 5, "rows_passed": 5, "checks": []})
    lake.write_json("raw/readings/ds=2026-01-04/run=x/readings.csv", {"ignored": True})

    reports, summaries = read_lake_documents(lake, days=2)
    assert sorted((r["dataset"], r["ds"]) for r in reports) == [
        ("readings", "2026-01-03"),
        ("readings", "2026-01-04"),
        ("stations", "2026-01-04"),
    ]
    assert sorted(s["ds"] for s in summaries) == ["2026-01-03", "2026-01-04"]

    health = lake_health(lake, today=TODAY, days=2)
    readings = health.dataset("readings")
    assert (health.start, health.end) == ("2026-01-03", "2026-01-04")
    assert [(d.ds, d.rows_loaded, d.rows_quarantined) for d in readings.days] == [
        ("2026-01-03", 9, 1),
        ("2026-01-04", 9, 1),
    ]
    assert readings.lag_days == 1
    assert readings.fresh
    assert health.dataset("stations").days[0].rows_in == 5


def test_an_empty_lake_has_no_datasets(lockgate_home: Path) -> None:
    assert lake_health(LakeHook(), today=TODAY).datasets == ()


@pytest.mark.integration
def test_reads_an_s3_lake(s3_bucket: str, aws_conn_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same documents on the S3 API (a moto server), under a prefix, read in parallel."""
    monkeypatch.setenv(*lake_conn_env(f"s3://{s3_bucket}/pollutrack", aws_conn_id))
    lake = LakeHook()
    assert lake.is_s3
    for ds in ("2026-01-03", "2026-01-04"):
        lake.write_json(f"quality/readings/ds={ds}/report.json", report("readings", ds, rows_in=20, quarantined=2))
        lake.write_json(f"reports/air_quality_daily/ds={ds}/summary.json", summary(ds, {"readings": 18}))

    readings = lake_health(lake, today=TODAY).dataset("readings")
    assert [(d.ds, d.rows_loaded, d.quarantine_rate) for d in readings.days] == [
        ("2026-01-03", 18, 0.1),
        ("2026-01-04", 18, 0.1),
    ]
    assert readings.newest_loaded_ds == "2026-01-04"


# ------------------------------------------------------------- reasons, grid, freshness, latest run


def test_built_in_quarantine_checks_appear_with_their_counts_and_examples() -> None:
    """sales had 8 quarantined rows while every contract check was green: the reasons were the gate's own."""
    raw = report("sales", "2026-01-04", rows_in=100, quarantined=8, checks=[check("unique(id)")])
    raw["quarantine_by_check"] = {"not_null": 5, "type": 3}
    raw["quarantine_by_column"] = {"amount": 6, "store_id": 2}
    raw["quarantine_examples"] = {"type": ["pos_1.csv: row 4: column amount: 'x' is not a decimal"]}
    day = build_health([raw], [], today=TODAY).dataset("sales").days[0]
    by_name = {c.check: c for c in day.checks}
    assert by_name["not_null"].builtin
    assert by_name["not_null"].unexpected_count == 5
    assert by_name["type"].outcome == "quarantined"
    assert by_name["type"].examples == ("pos_1.csv: row 4: column amount: 'x' is not a decimal",)
    assert sum(c.unexpected_count or 0 for c in day.checks if c.builtin) == day.rows_quarantined
    assert dict(day.quarantine_by_column) == {"amount": 6, "store_id": 2}
    history = {h.check: h for h in build_health([raw], [], today=TODAY).dataset("sales").check_history}
    assert history["not_null"].builtin
    assert history["not_null"].outcomes == {"2026-01-04": "quarantined"}


def test_check_threshold_leaves_out_what_is_checked() -> None:
    outcome = CheckOutcome(
        "max(value)", "warn", False, kwargs={"column": "value", "min_value": 0, "max_value": 500, "mostly": 0.99}
    )
    assert outcome.threshold == "min_value=0, max_value=500, mostly=0.99"


def daily(ds: str, loaded: dict[str, int], **extra: Any) -> dict[str, Any]:
    facts = {"schedule": "@daily", "late_batch_after_hours": 30, "gated": sorted(loaded), "intermediate": []}
    return {**summary(ds, loaded), "pipeline": {**facts, **extra}}


def test_the_grid_is_a_calendar_with_missing_days_and_states() -> None:
    """An 11-month gap is 11 months of cells, not four neighbours; a scheduled day without a run is missing."""
    reports = [
        report("readings", "2025-02-01"),
        report("readings", "2026-01-01", quarantined=10),  # 10% quarantined
        report("readings", "2026-01-03", checks=[check("max(value)", "warn", False)]),
        report("readings", "2026-01-04", failed=["unique(id)"]),
        report("readings", "2026-01-05"),  # gated, no summary: not loaded
    ]
    summaries = [daily(ds, {"readings": 100}) for ds in ("2025-02-01", "2026-01-01", "2026-01-03")]
    health = build_health(reports, summaries, today=date(2026, 1, 5), start=date(2025, 1, 30))
    cells = dict(health.dataset("readings").calendar)
    assert len(cells) == (date(2026, 1, 5) - date(2025, 1, 30)).days + 1
    assert cells["2025-01-31"] == "none"  # before the dataset's first run
    assert cells["2025-02-01"] == "loaded"
    assert cells["2025-07-15"] == "missing"  # inside the gap
    assert cells["2026-01-01"] == "quarantine-heavy"
    assert cells["2026-01-02"] == "missing"
    assert cells["2026-01-03"] == "warned"
    assert cells["2026-01-04"] == "failed"
    assert cells["2026-01-05"] == "late"


def test_without_a_schedule_no_day_is_called_missing() -> None:
    reports = [report("readings", "2026-01-01"), report("readings", "2026-01-04")]
    cells = dict(build_health(reports, [], today=TODAY).dataset("readings").calendar)
    assert cells["2026-01-02"] == "none"


def test_freshness_threshold_comes_from_the_schedule_and_deadline() -> None:
    reports = [report("readings", "2026-01-03")]
    # daily, due 30 h after the logical date: the day before yesterday is still fresh
    item = build_health(reports, [daily("2026-01-03", {"readings": 100})], today=TODAY).dataset("readings")
    assert (item.lag_days, item.max_lag_days, item.fresh) == (2, 2, True)
    weekly = build_health(
        reports,
        [daily("2026-01-03", {"readings": 100}, schedule="0 6 * * 1", late_batch_after_hours=None)],
        today=TODAY,
    ).dataset("readings")
    assert weekly.max_lag_days == 7
    assert item.schedule == "@daily"
    assert item.dag_id == "air_quality_daily"


def test_an_intermediate_dataset_is_labelled_and_fresh_by_its_gate() -> None:
    reports = [report("sales", "2026-01-04"), report("sales_accounting", "2026-01-04")]
    summaries = [
        daily("2026-01-04", {"sales_accounting": 90}, gated=["sales", "sales_accounting"], intermediate=["sales"])
    ]
    health = build_health(reports, summaries, today=TODAY)
    sales = health.dataset("sales")
    assert sales.intermediate
    assert sales.freshness == "1 day behind"
    assert sales.fresh
    assert sales.days[0].rows_loaded is None
    assert sales.days[0].state == "loaded"
    assert not health.dataset("sales_accounting").intermediate


def test_the_latest_run_is_the_summary_written_last_not_the_newest_date() -> None:
    """A rerun of an older date, with a warning, is what people want to see first."""
    reports = [
        report("readings", "2026-01-02", checks=[check("max(value)", "warn", False)]),
        report("readings", "2026-01-04"),
    ]
    summaries = [
        {**daily("2026-01-02", {"readings": 100}), "written_at": "2026-01-05T09:00:00+00:00", "run_id": "rerun"},
        {**daily("2026-01-04", {"readings": 100}), "written_at": "2026-01-05T01:00:00+00:00"},
    ]
    summaries[0]["datasets"][0] |= {"load_run_id": "rerun", "loaded_at": "2026-01-05T08:59:00+00:00"}
    item = build_health(reports, summaries, today=TODAY).dataset("readings")
    assert item.latest is not None
    assert item.latest.ds == "2026-01-02"
    assert item.last_run_id == "rerun"
    assert item.last_loaded_at == "2026-01-05T08:59:00+00:00"
    assert item.newest_loaded_ds == "2026-01-04"


def test_the_document_cache_sees_a_rewritten_report(lockgate_home: Path) -> None:
    lake = LakeHook()
    lake.write_json("quality/readings/ds=2026-01-04/report.json", report("readings", "2026-01-04", quarantined=1))
    assert lake_health(lake, today=TODAY).dataset("readings").days[0].rows_quarantined == 1
    lake.write_json("quality/readings/ds=2026-01-04/report.json", report("readings", "2026-01-04", quarantined=2))
    assert lake_health(lake, today=TODAY).dataset("readings").days[0].rows_quarantined == 2


def test_the_latest_run_outside_the_range_is_still_the_overview_s_latest(lockgate_home: Path) -> None:
    lake = LakeHook()
    old = report("readings", "2025-11-02", checks=[check("max(value)", "warn", False)])
    lake.write_json("quality/readings/ds=2025-11-02/report.json", old)
    rerun = {**daily("2025-11-02", {"readings": 100}), "written_at": "2026-01-05T09:00:00+00:00", "run_id": "rerun"}
    lake.write_json("reports/air_quality_daily/ds=2025-11-02/summary.json", rerun)
    lake.write_json("quality/readings/ds=2026-01-04/report.json", report("readings", "2026-01-04"))
    lake.write_json(
        "reports/air_quality_daily/ds=2026-01-04/summary.json",
        {**daily("2026-01-04", {"readings": 100}), "written_at": "2026-01-05T01:00:00+00:00"},
    )
    item = lake_health(lake, today=TODAY, days=7).dataset("readings")
    assert [d.ds for d in item.days] == ["2026-01-04"]
    assert item.latest is not None
    assert (item.latest.ds, item.latest.run_id, item.latest.state) == ("2025-11-02", "rerun", "warned")
