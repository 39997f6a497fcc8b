"""Table-level checks and schema-drift policies of the quality gate."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from lockgate.contracts import parse_contract
from lockgate.formats import count_records
from lockgate.gate import QualityGateFailed, RawFile, SchemaDriftError, run_gate

DS = "2026-01-02"
BASE: dict[str, Any] = {
    "dataset": "meter",
    "columns": {
        "meter_id": {"type": "string", "nullable": False},
        "read_at": {"type": "timestamp", "nullable": False},
        "kwh": {"type": "double", "nullable": False},
        "note": {"type": "string"},
    },
    "event_time": "read_at",
}


def _csv(path: Path, header: str, rows: list[str]) -> RawFile:
    path.write_text("\n".join([header, *rows]) + "\n")
    return RawFile(path.name, path, "csv", count_records(path))


def _rows(n: int, last_hour: int = 23) -> list[str]:
    return [f"M{i:03d},2026-01-02T{min(i, last_hour):02d}:00:00Z,{i}.5,ok" for i in range(n)]


def _contract(*expectations: dict[str, Any], **extra: Any) -> Any:
    raw = copy.deepcopy(BASE)
    raw["expectations"] = list(expectations)
    raw.update(extra)
    return parse_contract(raw)


VOLUME = {
    "expectation": "expect_table_row_count_to_be_within_trailing_runs",
    "kwargs": {"runs": 3, "max_deviation": 0.5, "min_runs": 3},
    "severity": "fail",
}


def test_volume_anomaly_against_the_trailing_runs(tmp_path: Path) -> None:
    raw = _csv(tmp_path / "m.csv", "meter_id,read_at,kwh,note", _rows(10))
    contract = _contract(VOLUME)
    # 10 rows against trailing runs of ~10: fine
    outcome = run_gate(contract, [raw], ds=DS, workdir=tmp_path / "a", history=[50, 9, 10, 11])
    (check,) = outcome.report["checks"]
    assert check["success"] is True
    assert check["details"] == {"baseline": 10.0, "runs": 3, "deviation": 0.0}
    # 10 rows where the last three runs had 40: a 75 % drop fails the run
    with pytest.raises(QualityGateFailed, match="within_trailing_runs") as failure:
        run_gate(contract, [raw], ds=DS, workdir=tmp_path / "b", history=[40, 40, 40])
    (check,) = failure.value.report["checks"]
    assert (check["observed_value"], check["details"]["deviation"]) == (10, 0.75)
    # too little history to judge: passes and says so
    outcome = run_gate(contract, [raw], ds=DS, workdir=tmp_path / "c", history=[40])
    assert outcome.report["checks"][0]["details"] == {"baseline": None, "runs": 1}


def test_freshness_of_the_newest_event_time(tmp_path: Path) -> None:
    fresh = {
        "expectation": "expect_column_newest_value_to_be_fresh",
        "kwargs": {"column": "read_at", "max_age_hours": 3},
    }
    contract = _contract({**fresh, "severity": "warn"})
    up_to_date = _csv(tmp_path / "a.csv", "meter_id,read_at,kwh,note", _rows(24))  # newest 23:00, 1 h before the end
    outcome = run_gate(contract, [up_to_date], ds=DS, workdir=tmp_path / "a")
    assert outcome.report["checks"][0]["success"] is True
    assert outcome.report["checks"][0]["details"] == {"lag_hours": 1.0}
    stale = _csv(tmp_path / "b.csv", "meter_id,read_at,kwh,note", _rows(24, last_hour=12))  # newest 12:00
    outcome = run_gate(contract, [stale], ds=DS, workdir=tmp_path / "b")
    assert [w["check"] for w in outcome.warnings] == ["expect_column_newest_value_to_be_fresh(read_at)"]
    assert outcome.warnings[0]["observed_value"] == "2026-01-02T12:00:00+00:00"
    assert outcome.warnings[0]["details"] == {"lag_hours": 12.0}


def test_raw_drift_is_accepted_and_reported_by_default(tmp_path: Path) -> None:
    # a new column "extra", and the nullable "note" gone
    raw = _csv(tmp_path / "m.csv", "meter_id,read_at,kwh,extra", [r.replace(",ok", ",x") for r in _rows(5)])
    outcome = run_gate(_contract(), [raw], ds=DS, workdir=tmp_path / "a")
    assert outcome.report["schema_drift"] == [{"file": "m.csv", "added": ["extra"], "missing": ["note"]}]
    assert outcome.report["rows_passed"] == 5  # the missing nullable column is simply empty


def test_raw_drift_fails_when_the_policy_says_so(tmp_path: Path) -> None:
    raw = _csv(tmp_path / "m.csv", "meter_id,read_at,kwh,note,extra", [r + ",x" for r in _rows(5)])
    with pytest.raises(SchemaDriftError, match=r"m\.csv: schema drift \(added \['extra'\], missing \[\]\)"):
        run_gate(_contract(schema_drift={"raw": "fail"}), [raw], ds=DS, workdir=tmp_path / "a")


def test_a_missing_non_nullable_column_names_the_file_and_column(tmp_path: Path) -> None:
    from lockgate.formats import SourceFileError

    raw = _csv(tmp_path / "m.csv", "meter_id,read_at,note", ["M1,2026-01-02T00:00:00Z,ok"])
    with pytest.raises(SourceFileError, match=r"m\.csv: row 1: missing column\(s\) kwh"):
        run_gate(_contract(), [raw], ds=DS, workdir=tmp_path / "a")


def test_quarantine_with_mostly_fails_the_run_past_the_threshold(tmp_path: Path) -> None:
    rows = _rows(10)
    rows[3] = rows[3].replace(",3.5,", ",-3.5,")
    raw = _csv(tmp_path / "m.csv", "meter_id,read_at,kwh,note", rows)
    between = {"expectation": "expect_column_values_to_be_between", "severity": "quarantine"}
    # one bad row in ten quarantined; without mostly the run goes on
    outcome = run_gate(
        _contract({**between, "kwargs": {"column": "kwh", "min_value": 0}}), [raw], ds=DS, workdir=tmp_path / "a"
    )
    assert (outcome.report["rows_quarantined"], outcome.report["rows_passed"]) == (1, 9)
    # mostly 0.95 tolerates 5 %: 10 % bad means the source is broken, the run fails
    strict = _contract({**between, "kwargs": {"column": "kwh", "min_value": 0, "mostly": 0.95}})
    with pytest.raises(QualityGateFailed, match=r"\[quarantine\] expect_column_values_to_be_between\(kwh\)"):
        run_gate(strict, [raw], ds=DS, workdir=tmp_path / "b")
    lenient = _contract({**between, "kwargs": {"column": "kwh", "min_value": 0, "mostly": 0.9}})
    assert run_gate(lenient, [raw], ds=DS, workdir=tmp_path / "c").report["rows_quarantined"] == 1


def test_curated_schema_is_frozen_unless_the_contract_lets_it_evolve(
    lockgate_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PartitionOperator refuses to publish a changed schema next to the old one, by default."""
    import yaml

    from lockgate.operators.partition import PartitionOperator

    contracts = tmp_path / "include" / "contracts"
    contracts.mkdir(parents=True)
    real_include = Path(__file__).resolve().parents[2] / "include"
    (contracts / "contract.schema.json").write_text((real_include / "contracts" / "contract.schema.json").read_text())
    monkeypatch.setenv("LOCKGATE_INCLUDE_DIR", str(tmp_path / "include"))
    (contracts / "meter.yaml").write_text(yaml.safe_dump(BASE))

    def stage_and_partition(ds: str, schema_drift: dict[str, str] | None = None) -> None:
        spec = copy.deepcopy(BASE)
        if schema_drift:
            spec["schema_drift"] = schema_drift
        if ds != DS:  # the contract gained a column after the first day
            spec["columns"]["site"] = {"type": "string"}
        (contracts / "meter.yaml").write_text(yaml.safe_dump(spec))
        rows = [r.replace("2026-01-02", ds) for r in _rows(3)]
        header = "meter_id,read_at,kwh,note" + (",site" if ds != DS else "")
        rows = [r + ",s1" for r in rows] if ds != DS else rows
        raw = _csv(tmp_path / f"{ds}.csv", header, rows)
        from lockgate.contracts import load_contract
        from lockgate.hooks.lake import LakeHook

        outcome = run_gate(load_contract("meter"), [raw], ds=ds, workdir=tmp_path / f"gate-{ds}")
        LakeHook().put_file(outcome.staged_path, f"staged/meter/ds={ds}/part-0.parquet")
        op = PartitionOperator(task_id="partition", dataset="meter")
        op.execute({"ds": ds, "run_id": "manual__t", "dag": None})

    stage_and_partition(DS)
    with pytest.raises(AirflowFailException, match=r"frozen but the contract changed it: added \['site'\]"):
        stage_and_partition("2026-01-03")
    stage_and_partition("2026-01-03", {"curated": "evolve"})


def test_column_shorthands_allowed_and_unique_are_checks(tmp_path: Path) -> None:
    raw_spec = copy.deepcopy(BASE)
    raw_spec["columns"]["note"] = {"type": "string", "allowed": ["ok", "estimated"]}
    raw_spec["columns"]["meter_id"]["unique"] = True
    contract = parse_contract(raw_spec)
    rows = _rows(4)
    rows[2] = rows[2].replace(",ok", ",guessed")
    outcome = run_gate(
        contract, [_csv(tmp_path / "m.csv", "meter_id,read_at,kwh,note", rows)], ds=DS, workdir=tmp_path / "a"
    )
    assert outcome.report["quarantine_by_check"] == {"expect_column_values_to_be_in_set(note)": 1}
    assert outcome.report["rows_passed"] == 3
    duplicated = [*_rows(3), _rows(3)[0].replace(",0.5,", ",9.5,")]  # M000 twice, different readings
    with pytest.raises(QualityGateFailed, match=r"\[fail\] expect_column_values_to_be_unique\(meter_id\): 2 of 4"):
        run_gate(
            contract, [_csv(tmp_path / "d.csv", "meter_id,read_at,kwh,note", duplicated)], ds=DS, workdir=tmp_path / "b"
        )
