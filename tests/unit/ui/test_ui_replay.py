"""Quarantine replay without Airflow: which run a date is replayed from, when it is reloaded, and
what the page offers (the replay button, the grid's actions)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lockgate.hooks.lake import LakeHook
from lockgate.replay import ReplayError, _needs_reload, date_range, original_run, plan, replay_conf
from lockgate.ui.health import build_health
from lockgate.ui.render import partition_grid, render_day
from tests.unit.ui.test_ui_health import TODAY, report, summary

DS = "2026-01-02"


def _raw(lake: LakeHook, run_id: str, dataset: str = "readings") -> None:
    segment = run_id.replace(":", "_").replace("+", "_")
    lake.write_json(f"raw/{dataset}/ds={DS}/run={segment}/gateway/_manifest.json", {"run_id": run_id, "files": []})


def test_dates_are_checked_before_a_run_is_made() -> None:
    assert date_range("2026-01-30", "2026-02-02") == ["2026-01-30", "2026-01-31", "2026-02-01", "2026-02-02"]
    with pytest.raises(ReplayError, match="before start"):
        date_range("2026-01-03", "2026-01-02")
    with pytest.raises(ReplayError, match="YYYY-MM-DD"):
        replay_conf("readings", "02/01/2026")
    with pytest.raises(ReplayError, match="more than 366 days"):
        date_range("2024-01-01", "2026-01-01")
    assert replay_conf("readings", DS, dag_id=None, run_id="r") == {
        "dataset": "readings",
        "start": DS,
        "end": DS,
        "run_id": "r",
    }


def test_the_original_run_is_the_run_summary_s_then_the_only_one_else_it_must_be_named(lockgate_home: Path) -> None:
    lake = LakeHook()
    lake.write_json(f"quality/readings/ds={DS}/report.json", report("readings", DS, quarantined=3))
    _raw(lake, "scheduled__2026-01-02T00:00:00+00:00")
    # no summary: the only raw run, the pipeline unknown
    assert original_run(lake, "readings", DS, {}) == (None, "scheduled__2026-01-02T00:00:00+00:00")
    with pytest.raises(ReplayError, match="no run summary names the pipeline"):
        plan(lake, "readings", DS, DS)
    assert plan(lake, "readings", DS, DS, dag_id="air_quality_daily")[0].original_run_id.startswith("scheduled__")
    # a second run of the date: the summary says which run the date's data came from
    _raw(lake, f"manual__{DS}")
    with pytest.raises(ReplayError, match="several runs"):
        original_run(lake, "readings", DS, {})
    lake.write_json(f"reports/air_quality_daily/ds={DS}/summary.json", summary(DS, {"readings": 97}))
    (target,) = plan(lake, "readings", DS, "2026-01-04")
    assert (target.ds, target.dag_id, target.original_run_id, target.rows_quarantined) == (
        DS,
        "air_quality_daily",
        f"manual__{DS}",
        3,
    )
    # after a replay, the replay's own original run (its report says so) whatever the summary says
    replayed = {"replay": {"original_run_id": "scheduled__2026-01-02T00:00:00+00:00", "original_dag_id": "a"}}
    assert original_run(lake, "readings", DS, replayed) == ("a", "scheduled__2026-01-02T00:00:00+00:00")
    with pytest.raises(ReplayError, match="no raw input of run 'nope'"):
        original_run(lake, "readings", DS, {}, run_id="nope")


def test_a_date_is_reloaded_unless_its_staged_rows_are_published_and_loaded() -> None:
    load = SimpleNamespace(table="fact")
    loaded = {"fact": {"rows_loaded": 10}}
    assert not _needs_reload("a", "a", loaded, [load], 10)
    assert _needs_reload("b", "a", loaded, [load], 10)  # the rows changed
    # a retry after a try that re-gated (staged is new) and failed before its load: the audit says so
    assert _needs_reload("a", "a", loaded, [load], 12)
    assert _needs_reload("a", "a", {}, [load], 10)  # never loaded
    assert not _needs_reload("a", "a", {}, [], 10)  # nothing to load (an intermediate dataset)


def _day_page(quarantined: int, replay: dict[str, Any] | None = None) -> str:
    gated = report("readings", DS, quarantined=quarantined)
    if replay:
        gated["replay"] = replay
    health = build_health([gated], [summary(DS, {"readings": 100 - quarantined})], today=TODAY)
    day = health.dataset("readings").days[0]
    return render_day(
        "readings", day, ds=DS, check=None, samples=[], locations={}, rerun={"dag_id": "air_quality_daily"}
    )


def test_the_day_page_offers_the_replay_and_says_what_replayed_it() -> None:
    html = _day_page(3)
    assert '<form method="post" action="replay" id="replay">' in html
    assert '<input type="hidden" name="start" value="2026-01-02">' in html
    assert "Replay the 3 quarantined rows of 2026-01-02" in html
    assert 'id="replay"' not in _day_page(0)  # nothing quarantined, nothing to replay
    replayed = _day_page(
        1,
        {"dag_id": "lockgate_quarantine_replay", "run_id": "manual__r", "original_dag_id": "air_quality_daily"}
        | {"original_run_id": "manual__o", "outcome": "reloaded", "replayed_at": "t", "loads": []},
    )
    assert 'id="replayed" data-original-run="manual__o"' in replayed
    assert "../dags/lockgate_quarantine_replay/runs/manual__r" in replayed


def test_grid_cells_offer_open_rerun_and_replay() -> None:
    health = build_health([report("readings", DS, quarantined=3)], [summary(DS, {"readings": 97})], today=TODAY)
    html = partition_grid(health.dataset("readings"))
    assert '<form class="grid-action" id="grid-action-readings" method="post" action="rerun"' in html
    assert 'data-dag="air_quality_daily"' in html
    assert [v for v in ("open", "rerun", "replay") if f'name="mode" value="{v}"' in html] == ["open", "rerun", "replay"]
    assert '<form class="replay-range" method="post" action="replay"' in html
    # without a known pipeline there is nothing to re-run, the replay finds it itself
    orphan = build_health([report("orphan", DS, quarantined=3)], [], today=TODAY)
    assert 'value="rerun"' not in partition_grid(orphan.dataset("orphan"))
