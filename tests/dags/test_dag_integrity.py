"""Every DAG in dags/ imports cleanly, follows the house rules, and stays cheap to parse."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p for p in DAGS_DIR.glob("*.py") if not p.name.startswith("_"))
# pyiceberg too: the curated zone's catalog is opened in execute(), never at parse time (sqlglot is
# imported at parse time on purpose: a YAML model's SQL is checked when its DAG is built)
HEAVY_MODULES = (
    "pandas",
    "pyarrow",
    "duckdb",
    "boto3",
    "great_expectations",
    "numpy",
    "adbc_driver_postgresql",
    "pyiceberg",
    "pyspark",
)
#: lockgate modules that exist to hold a heavy import, only ever imported from inside a task (the
#: pyiceberg FileIO over the lake hook; the data-health web app, FastAPI, in the API server): not probed
HEAVY_BY_DESIGN = ("lockgate.hooks.iceberg_io", "lockgate.ui.app")


@pytest.fixture(scope="module")
def dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_dags_folder_is_not_empty() -> None:
    assert DAG_FILES, f"no DAG files in {DAGS_DIR}"


def test_no_import_errors(dag_bag) -> None:
    assert dag_bag.import_errors == {}
    assert "air_quality_daily" in dag_bag.dag_ids


def test_every_dag_follows_the_house_rules(dag_bag) -> None:
    problems = []
    for dag_id, dag in dag_bag.dags.items():
        if not dag.tags:
            problems.append(f"{dag_id}: no tags")
        if not dag.doc_md:
            problems.append(f"{dag_id}: no doc_md")
        if dag.catchup is None:
            problems.append(f"{dag_id}: catchup not explicit")
        for task in dag.tasks:
            if not task.owner or task.owner == "airflow":
                problems.append(f"{dag_id}.{task.task_id}: no owner")
            if task.retries < 2:
                problems.append(f"{dag_id}.{task.task_id}: retries {task.retries} < 2")
            if not task.on_failure_callback:
                problems.append(f"{dag_id}.{task.task_id}: no failure callback")
    assert problems == []


def test_air_quality_daily_shape(dag_bag) -> None:
    dag = dag_bag.dags["air_quality_daily"]
    assert dag.schedule == "@daily"
    ids = set(dag.task_ids)
    for step in (
        "ingest_gateway",
        "ingest_partner",
        "gate_readings",
        "partition_readings",
        "load_fact_air_quality_hourly",
    ):
        assert step in ids
    # ingest -> gate -> partition -> load, in that order
    assert dag.get_task("gate_readings").upstream_task_ids == {"ingest_gateway", "ingest_partner"}
    assert dag.get_task("partition_readings").upstream_task_ids == {"gate_readings"}
    assert dag.get_task("load_fact_air_quality_hourly").upstream_task_ids == {"partition_readings"}
    outlets = {a.name for t in dag.tasks for a in t.outlets}
    assert {
        "lockgate.warehouse.dim_station",
        "lockgate.warehouse.fact_air_quality_hourly",
        "lockgate.warehouse.agg_air_quality_daily",
        # the datasets' assets too, so a YAML pipeline can run `after:` the flagship's datasets
        "lockgate.dataset.stations",
        "lockgate.dataset.readings",
        "lockgate.dataset.agg_air_quality_daily",
    } <= outlets


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_imports_no_heavy_module(dag_file: Path) -> None:
    """Parse time is sacred: importing a DAG file must not import the data libraries."""
    probe = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('dag_under_test', {str(dag_file)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        f"print(json.dumps(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == [], f"{dag_file.name} imports {loaded} at parse time"


def test_lockgate_modules_import_no_heavy_module() -> None:
    """A task's start-up (the DAG file, its operators, hooks, notifiers, sources) imports no data
    library: each is imported inside the function that needs it, when a task runs it."""
    probe = (
        "import importlib, json, pkgutil, sys\n"
        "import lockgate\n"
        f"heavy, skip = {HEAVY_MODULES!r}, {HEAVY_BY_DESIGN!r}\n"
        "found = {}\n"
        "for info in sorted(pkgutil.walk_packages(lockgate.__path__, 'lockgate.'), key=lambda i: i.name):\n"
        "    if info.name in skip:\n"
        "        continue\n"
        "    before = {m for m in heavy if m in sys.modules}\n"
        "    importlib.import_module(info.name)\n"
        "    new = sorted({m for m in heavy if m in sys.modules} - before)\n"
        "    if new:\n"
        "        found[info.name] = new\n"
        "print(json.dumps(found))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found == {}, f"imported at module level (move the import into the function using it): {found}"
