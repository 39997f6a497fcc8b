"""Quarantine replay end to end: a contract fix, then ``lockgate replay`` through Airflow's ``dag.test()``.

A date of air_quality_daily runs with the shipped contract (its out-of-range readings are
quarantined by the two range checks); the readings contract is then fixed to accept those values
and the date's quarantine is replayed from its raw input with ``lockgate replay``. The formerly
quarantined rows are loaded exactly once, the malformed / missing / non-numeric rows stay
quarantined with fresh reasons, the load audit names the replay run and the replay audit the
original run, the replay's OpenLineage event carries the ``lockgate_replay`` run facet (valid
against the 2-0-2 spec). A second replay changes nothing.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from lockgate.cli import main as lockgate
from lockgate.config import include_dir
from lockgate.hooks.lake import LakeHook
from lockgate.hooks.warehouse import WarehouseHook
from lockgate.replay import FACET_NAME, REPLAY_AUDIT_TABLE, REPLAY_DAG_ID
from lockgate.sample_data import generate
from tests.support import pipeline
from tests.support.openlineage import validate_event

pytestmark = pytest.mark.integration

DS = "2026-01-02"
RUN_ID = f"scheduled__{DS}T00:00:00+00:00"
RANGE_CHECKS = {
    'expect_column_values_to_be_between(value) where pollutant in ["pm25", "pm10", "so2", "no2"]',
    'expect_column_values_to_be_between(value) where pollutant in ["o3", "co"]',
}
KEY = "station_id, observed_at, pollutant"


def fixed_contracts(tmp_path: Path) -> Path:
    """A copy of include/ whose readings contract accepts any value (the sensors' sentinels are data)."""
    copy = tmp_path / "include"
    shutil.copytree(include_dir(), copy)
    contract = copy / "contracts" / "readings.yaml"
    text = contract.read_text(encoding="utf-8")
    fixed = text.replace("min_value: 0, max_value: 10000,", "min_value: -1.0e+12, max_value: 1.0e+12,").replace(
        "min_value: 0, max_value: 50,", "min_value: -1.0e+12, max_value: 1.0e+12,"
    )
    assert fixed.count("1.0e+12") == 4, "the readings contract's range checks moved"
    contract.write_text(fixed, encoding="utf-8")
    return copy


def fact(warehouse: WarehouseHook, sql: str) -> list[tuple[Any, ...]]:
    return warehouse.query(sql.format(t=warehouse.table("fact_air_quality_hourly")), [date.fromisoformat(DS)])


def quarantine(lake: LakeHook, tmp_path: Path) -> Any:
    import pyarrow.parquet as pq

    key = f"quarantine/readings/ds={DS}/quarantine.parquet"
    return pq.read_table(lake.local_copy(key, tmp_path / f"q-{len(list(tmp_path.iterdir()))}")).to_pylist()


def replay_events(lineage_file: Path) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in lineage_file.read_text().splitlines() if line.strip()]
    return [e for e in events if e["job"]["name"] == f"{REPLAY_DAG_ID}.replay" and e["eventType"] == "COMPLETE"]


def test_replay_loads_fixed_rows_once(
    lockgate_home: Path, airflow_home: Path, lineage_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = tmp_path / "sources"
    batch = generate(DS, sources)
    out_of_range = sum(s.out_of_range for s in (batch.gateway, batch.partner))
    assert out_of_range > 0, "the sample date has out-of-range readings to replay"
    pipeline.run_chain(str(sources), DS, RUN_ID)
    lake, warehouse = LakeHook(), WarehouseHook()
    before = lake.read_json(f"quality/readings/ds={DS}/report.json")
    by_range = sum(n for check, n in before["quarantine_by_check"].items() if check in RANGE_CHECKS)
    assert by_range == out_of_range, before["quarantine_by_check"]
    ((loaded_before,),) = fact(warehouse, "SELECT count(*) FROM {t} WHERE ds = $1")
    assert loaded_before == before["rows_passed"]
    still_bad_before = [r for r in quarantine(lake, tmp_path) if r["check_name"] not in RANGE_CHECKS]

    monkeypatch.setenv("LOCKGATE_INCLUDE_DIR", str(fixed_contracts(tmp_path)))
    assert lockgate(["replay", "--dataset", "readings", "--from", DS, "--to", DS]) == 0

    after = lake.read_json(f"quality/readings/ds={DS}/report.json")
    assert after["rows_quarantined"] == before["rows_quarantined"] - out_of_range
    assert after["rows_passed"] == before["rows_passed"] + out_of_range
    assert not set(after["quarantine_by_check"]) & RANGE_CHECKS
    # the rows the fix admits are in the warehouse, once each; nothing else changed
    ((loaded,),) = fact(warehouse, "SELECT count(*) FROM {t} WHERE ds = $1")
    assert loaded == loaded_before + out_of_range
    ((repeated,),) = fact(warehouse, f"SELECT count(*) - count(DISTINCT ({KEY})) FROM {{t}} WHERE ds = $1")
    assert repeated == 0
    ((sentinels,),) = fact(warehouse, "SELECT count(*) FROM {t} WHERE ds = $1 AND (value < 0 OR value >= 100000)")
    assert sentinels > 0
    # the rows still bad stay quarantined, with today's reasons
    still_bad = quarantine(lake, tmp_path)
    assert len(still_bad) == after["rows_quarantined"]
    assert {(r["source_file"], r["source_row"]) for r in still_bad} == {
        (r["source_file"], r["source_row"]) for r in still_bad_before
    }
    assert all(r["reason"] for r in still_bad)

    # the load audit names the replay run, the replay audit links it to the original run
    ((dag_id, replay_run),) = warehouse.query(
        f"SELECT dag_id, run_id FROM {warehouse.table('lockgate_load_audit')} "
        "WHERE table_name = 'fact_air_quality_hourly' AND partition_ds = $1",
        [date.fromisoformat(DS)],
    )
    assert dag_id == REPLAY_DAG_ID
    audit = warehouse.query(
        f"SELECT r.original_dag_id, r.original_run_id, r.outcome, r.rows_quarantined_before, "
        f"r.rows_quarantined_after, r.rows_loaded FROM {warehouse.table(REPLAY_AUDIT_TABLE)} r "
        f"JOIN {warehouse.table('lockgate_load_audit')} l ON l.table_name = r.table_name "
        "AND l.partition_ds = r.partition_ds AND l.run_id = r.replay_run_id"
    )
    assert audit == [
        (
            "air_quality_daily",
            RUN_ID,
            "reloaded",
            before["rows_quarantined"],
            after["rows_quarantined"],
            loaded,
        )
    ]
    assert after["replay"]["original_run_id"] == RUN_ID
    assert after["replay"]["run_id"] == replay_run
    # lineage: the replay task's event names the original run, and is valid
    (event,) = replay_events(lineage_file)
    assert validate_event(event) == []
    facet = event["run"]["facets"][FACET_NAME]
    assert facet["replays"] == [
        {
            "ds": DS,
            "originalJob": {"namespace": os.environ["AIRFLOW__OPENLINEAGE__NAMESPACE"], "name": "air_quality_daily"},
            "originalRunId": RUN_ID,
            "outcome": "reloaded",
        }
    ]
    outputs = {o["name"].rsplit(".", 1)[-1] for o in event["outputs"]}
    assert "fact_air_quality_hourly" in outputs

    # replayed again: the same rows, nothing republished or reloaded
    fingerprint = fact(warehouse, f"SELECT count(*), sum(hash({KEY}, value)) FROM {{t}} WHERE ds = $1")
    assert lockgate(["replay", "--dataset", "readings", "--from", DS]) == 0
    assert fact(warehouse, f"SELECT count(*), sum(hash({KEY}, value)) FROM {{t}} WHERE ds = $1") == fingerprint
    again = lake.read_json(f"quality/readings/ds={DS}/report.json")
    assert (again["replay"]["outcome"], again["replay"]["original_run_id"]) == ("unchanged", RUN_ID)
    outcomes = warehouse.query(
        f"SELECT outcome, original_run_id FROM {warehouse.table(REPLAY_AUDIT_TABLE)} ORDER BY replayed_at"
    )
    assert outcomes == [("reloaded", RUN_ID), ("unchanged", RUN_ID)]


def test_replay_refuses_a_range_without_raw_input(lockgate_home: Path) -> None:
    """A quarantined date whose raw input is gone (retention) fails the replay naming the folder."""
    lake = LakeHook()
    lake.write_json(f"quality/readings/ds={DS}/report.json", {"dataset": "readings", "ds": DS, "rows_quarantined": 3})
    from lockgate.replay import ReplayError, plan

    with pytest.raises(ReplayError, match=r"no raw input under .*raw/readings/ds=2026-01-02"):
        plan(lake, "readings", DS, DS)
    assert plan(lake, "readings", "2026-01-03", "2026-01-05") == []
