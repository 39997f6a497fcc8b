"""``lockgate run`` / ``lockgate backfill`` on the embedded defaults, through real ``dag.test()`` runs
of a one-task DAG that fails on one date: progress per date, the summary table, the stop at the
first failure, and ``--keep-going``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lockgate.backfill import DateRun, backfill, daily_dates, summary_table
from lockgate.cli import main

DAG_FILE = """
import pendulum
from airflow.sdk import dag, task


@dag(dag_id="backfill_probe", schedule="@daily", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def backfill_probe():
    @task
    def step(ds=None):
        if ds == "2026-03-03":
            raise ValueError("the 3rd of March is broken")
        return ds

    step()


backfill_probe()
"""


@pytest.fixture
def dags_folder(tmp_path: Path, lockgate_home: Path, airflow_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DAGs folder with the probe DAG; the settings the CLI changes are put back afterwards."""
    import os

    for name in ("AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__LOGGING__LOGGING_LEVEL"):
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)
    import airflow.settings

    # the CLI points Airflow's (already imported) settings at the folder: put them back afterwards
    monkeypatch.setattr(airflow.settings, "DAGS_FOLDER", airflow.settings.DAGS_FOLDER)
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "backfill_probe.py").write_text(DAG_FILE, encoding="utf-8")
    return folder


def test_backfill_stops_at_the_first_failed_date(dags_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "backfill",
        "backfill_probe",
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-05",
        "--dags-folder",
        str(dags_folder),
    ]
    assert main(argv) == 1
    out = capsys.readouterr().out
    progress = re.findall(r"^\[(\d)/5\] (\S+): (\S+) in", out, flags=re.MULTILINE)
    assert progress == [("1", "2026-03-01", "success"), ("2", "2026-03-02", "success"), ("3", "2026-03-03", "failed")]
    assert "stopped at 2026-03-03: 2 later date(s) not run" in out
    table = out[out.index("backfill_probe: 5 date(s)") :]
    rows = re.findall(r"^(2026-03-0\d)\s+(\S+(?: run)?)", table, flags=re.MULTILINE)
    assert rows == [
        ("2026-03-01", "success"),
        ("2026-03-02", "success"),
        ("2026-03-03", "failed"),
        ("2026-03-04", "not run"),
        ("2026-03-05", "not run"),
    ]
    assert table.rstrip().endswith("failed: 1, not run: 2, success: 2")


def test_keep_going_runs_every_date_and_run_does_one(dags_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["backfill", "backfill_probe", "--from", "2026-03-03", "--to", "2026-03-04", "--keep-going"]
    assert main([*argv, "--dags-folder", str(dags_folder)]) == 1
    out = capsys.readouterr().out
    assert re.findall(r"^\[\d/2\] (\S+): (\S+) in", out, flags=re.MULTILINE) == [
        ("2026-03-03", "failed"),
        ("2026-03-04", "success"),
    ]
    assert main(["run", "backfill_probe", "--ds", "2026-03-04", "--dags-folder", str(dags_folder)]) == 0
    assert re.search(r"^\[1/1\] 2026-03-04: success in", capsys.readouterr().out, flags=re.MULTILINE)


def test_backfill_logic_without_airflow() -> None:
    assert daily_dates("2024-02-28", "2024-03-01") == ["2024-02-28", "2024-02-29", "2024-03-01"]
    with pytest.raises(ValueError, match="before"):
        daily_dates("2024-03-01", "2024-02-28")
    lines: list[str] = []

    def run(ds: str) -> str:
        if ds == "b":
            raise RuntimeError("no such date")
        return "success"

    runs = backfill(["a", "b", "c"], run, progress=lines.append)
    assert [(r.ds, r.state, r.error) for r in runs] == [
        ("a", "success", ""),
        ("b", "error", "RuntimeError: no such date"),
        ("c", "not run", ""),
    ]
    assert "error: 1, not run: 1, success: 1" in summary_table("x", runs)
    assert DateRun("a", "success").ok
