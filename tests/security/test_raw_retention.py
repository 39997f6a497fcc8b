"""Raw-zone retention: the lake_maintenance DAG deletes raw partitions older than the configured
number of days before the logical date, and nothing else (newer dates, other zones, undated keys)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from lockgate.cli import run_dag
from lockgate.hooks.lake import LakeHook
from lockgate.operators.maintenance import RawRetentionOperator, plan_retention

LOGICAL = date(2026, 3, 1)
RETENTION_DAYS = 7
#: age in days before the logical date -> kept? (cutoff = logical - 7 days; strictly older goes)
AGES = {-2: True, 0: True, 6: True, 7: True, 8: False, 30: False, 400: False}


def ds_of(age: int) -> str:
    return (LOGICAL - timedelta(days=age)).isoformat()


def seed(lake: LakeHook, tmp_path: Path) -> set[str]:
    """Objects at several ages in raw/ for two datasets, plus old data in other zones; returns all keys."""
    payload = tmp_path / "payload.csv"
    payload.write_text("a,b\n1,2\n")
    keys = set()
    for age in AGES:
        for dataset in ("readings", "stations"):
            for name in ("run=manual__1/readings.csv", "run=scheduled__2/readings.csv", "_manifest.json"):
                keys.add(f"raw/{dataset}/ds={ds_of(age)}/{name}")
        for zone in ("staged", "quarantine", "curated", "quality"):  # never raw: never deleted
            keys.add(f"{zone}/readings/ds={ds_of(age)}/part-0.parquet")
    keys.add("raw/readings/README.txt")  # not in a dated partition: left alone
    keys.add("raw/readings/ds=not-a-date/x.csv")
    for key in keys:
        lake.put_file(payload, key)
    return keys


def expected_after(keys: set[str]) -> set[str]:
    expired = {ds_of(age) for age, kept in AGES.items() if not kept}
    return {k for k in keys if not (k.startswith("raw/") and k.split("/")[2].removeprefix("ds=") in expired)}


def all_keys(lake: LakeHook) -> set[str]:
    return {o.key for zone in ("raw", "staged", "quarantine", "curated", "quality") for o in lake.list(zone)}


@pytest.fixture
def lake(any_lake: LakeHook) -> LakeHook:
    return any_lake


@pytest.mark.integration
def test_maintenance_dag_deletes_only_old_raw_partitions(
    lake: LakeHook, airflow_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = seed(lake, tmp_path)
    monkeypatch.setenv("AIRFLOW_VAR_LOCKGATE_RAW_RETENTION_DAYS", str(RETENTION_DAYS))
    assert run_dag("lake_maintenance", LOGICAL.isoformat()) == "success"
    assert all_keys(lake) == expected_after(keys)
    # the oldest kept partition is exactly the cutoff; a newer-than-logical date is never touched
    assert lake.exists(f"raw/readings/ds={ds_of(7)}/_manifest.json")
    assert lake.exists(f"raw/stations/ds={ds_of(-2)}/_manifest.json")
    assert not lake.list(f"raw/readings/ds={ds_of(8)}")
    # a rerun finds nothing more to delete
    assert run_dag("lake_maintenance", LOGICAL.isoformat()) == "success"
    assert all_keys(lake) == expected_after(keys)


def _ctx() -> Any:
    return {"ds": LOGICAL.isoformat(), "run_id": "manual__retention", "dag": SimpleNamespace(dag_id="lake_maintenance")}


def test_dry_run_deletes_nothing_and_reports_what_would_go(lake: LakeHook, tmp_path: Path) -> None:
    keys = seed(lake, tmp_path)
    op = RawRetentionOperator(task_id="raw_retention", retention_days="7", report_only="True")
    result = op.execute(_ctx())
    assert all_keys(lake) == keys
    assert result["dry_run"] is True
    assert result["deleted_objects"] == 0
    assert result["cutoff"] == "2026-02-22"
    assert result["partitions"] == [f"{d}/ds={ds_of(a)}" for d in ("readings", "stations") for a in (400, 30, 8)]

    result = RawRetentionOperator(task_id="raw_retention", retention_days=7, datasets=["stations"]).execute(_ctx())
    assert result["deleted_objects"] == 3 * 3  # three expired dates, three objects each, stations only
    assert all_keys(lake) == expected_after(keys) | {k for k in keys if "/readings/" in k}


@pytest.mark.parametrize("days", ["0", "-3", "seven", ""])
def test_retention_days_must_be_a_positive_whole_number(days: str, lockgate_home: Path) -> None:
    with pytest.raises(AirflowFailException, match="retention_days"):
        RawRetentionOperator(task_id="raw_retention", retention_days=days).execute(_ctx())


def test_plan_never_leaves_the_raw_zone() -> None:
    with pytest.raises(ValueError, match="not in the raw zone"):
        plan_retention(["curated/readings/ds=2020-01-01/x.parquet"], LOGICAL, 7)
    plan = plan_retention(
        ["raw/r/ds=2020-01-01/a", "raw/r/ds=2026-02-22/a", "raw/r/ds=2027-01-01/a", "raw/r/x"], LOGICAL, 7
    )
    assert plan.expired == {("r", "2020-01-01"): 1}
    assert plan.kept == {("r", "2026-02-22"), ("r", "2027-01-01")}
    assert plan.unrecognised == ["raw/r/x"]
