"""A task process's parse of the YAML pipelines builds only its DAG, and exactly the DAG the DAG
processor builds (``build_task_dags`` under Airflow's parsing context; the full build otherwise)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from lockgate.pipelines.factory import BROKEN_TAG, build_dags, build_task_dags

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
PIPELINES = DAGS / "pipelines"
PARSING_CONTEXT = "_AIRFLOW_PARSING_CONTEXT_DAG_ID"
QUEUE = "http://127.0.0.1:5000/123456789012/landing-events"


def shape(dag: Any) -> dict[str, Any]:
    """What a run of the DAG depends on: its tasks, their order and kind, the DAG's settings."""
    return {
        "tasks": {t.task_id: (type(t).__name__, sorted(t.upstream_task_ids)) for t in dag.tasks},
        "settings": (dag.schedule, dag.tags, dag.doc_md, dag.max_active_runs, dag.is_paused_upon_creation),
        "params": dict(dag.params),
    }


def parsed(folder: Path, dag_id: str | None) -> dict[str, Any]:
    """The DAGs Airflow's DagBag finds in ``folder`` when a task of ``dag_id`` parses it (None: the DAG processor)."""
    from airflow.dag_processing.dagbag import DagBag

    with pytest.MonkeyPatch.context() as env:
        # what the task runner sets (its own context manager leaves it set after a parse)
        env.delenv(PARSING_CONTEXT, raising=False)
        if dag_id is not None:
            env.setenv(PARSING_CONTEXT, dag_id)
        bag = DagBag(dag_folder=str(folder))
    assert bag.import_errors == {}
    return dict(bag.dags)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A DAGs folder: yaml_pipelines.py and a copy of the bundled specs."""
    dags = tmp_path / "dags"
    shutil.copytree(PIPELINES, dags / "pipelines")
    shutil.copy(DAGS / "yaml_pipelines.py", dags)
    return dags


def write(folder: Path, name: str, raw: dict[str, Any]) -> None:
    (folder / "pipelines" / name).write_text(yaml.safe_dump(raw, sort_keys=False))


def spec(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((PIPELINES / f"{name}.yaml").read_text()))


def test_a_task_builds_only_its_dag_and_the_same_dag(folder: Path) -> None:
    everything = parsed(folder, None)
    assert len(everything) >= 3
    for dag_id, dag in everything.items():
        only = parsed(folder, dag_id)
        assert list(only) == [dag_id]
        assert shape(only[dag_id]) == shape(dag)


def test_an_event_pipeline_task_and_its_dispatch_task(folder: Path) -> None:
    raw = spec("epa_pm25_aqi") | {"dag_id": "epa_events", "schedule": None}
    raw["sources"]["location"] = {"url": "s3://landing/airdata-root"}
    raw["trigger"] = {"on": "s3_events", "queue": QUEUE, "max_wait": 5, "max_files": 20}
    (folder / "pipelines" / "epa_pm25_aqi.yaml").unlink()  # its datasets and tables: epa_events takes them
    write(folder, "epa_events.yaml", raw)
    everything = parsed(folder, None)
    assert list(parsed(folder, "epa_events")) == ["epa_events"]
    # the dispatcher is built from its pipeline's DAG (Airflow registers both)
    only = parsed(folder, "epa_events__events")
    assert sorted(only) == ["epa_events", "epa_events__events"]
    for dag_id, dag in only.items():
        assert shape(dag) == shape(everything[dag_id])


def test_a_later_file_taking_the_table_does_not_matter_an_earlier_one_does(folder: Path) -> None:
    """The first file keeps a table: a later file claiming it is broken, the first one is not."""
    raw = spec("sales_distribution") | {"dag_id": "zz_sales_copy"}
    write(folder, "zz_sales_copy.yaml", raw)
    assert BROKEN_TAG in parsed(folder, None)["zz_sales_copy"].tags
    assert build_task_dags(folder / "pipelines", "sales_distribution") is not None  # files after it: not read
    # the stand-in is the full build's: its DAG id and error come from every file
    only = parsed(folder, "zz_sales_copy")
    assert BROKEN_TAG in only["zz_sales_copy"].tags
    assert build_task_dags(folder / "pipelines", "zz_sales_copy") is None
    assert "already loaded by sales_distribution" in only["zz_sales_copy"].doc_md


def test_an_earlier_broken_file_claims_nothing(folder: Path) -> None:
    raw = spec("sales_distribution") | {"dag_id": "a_sales_copy"}
    raw["loads"][0]["mode"] = "upsert"  # not valid: the file is broken and claims nothing
    write(folder, "a_sales_copy.yaml", raw)
    dags, errors = build_dags(folder / "pipelines")
    assert [Path(e.path).name for e in errors] == ["a_sales_copy.yaml"]
    # its YAML names sales_distribution's table: the full build decides, and sales_distribution builds
    assert build_task_dags(folder / "pipelines", "sales_distribution") is None
    only = parsed(folder, "sales_distribution")
    assert BROKEN_TAG not in only["sales_distribution"].tags
    assert shape(only["sales_distribution"]) == shape(next(d for d in dags if d.dag_id == "sales_distribution"))


def test_a_broken_pipeline_task_gets_the_full_builds_stand_in(folder: Path) -> None:
    raw = spec("sales_distribution")
    raw["schedule"] = "every day"  # valid to the schema; Airflow refuses it when the DAG is built
    write(folder, "sales_distribution.yaml", raw)
    assert build_task_dags(folder / "pipelines", "sales_distribution") is None
    stand_in = parsed(folder, "sales_distribution")["sales_distribution"]
    assert BROKEN_TAG in stand_in.tags
    assert stand_in.task_ids == ["invalid_spec"]
    assert "schedule: 'every day' is not a cron expression or preset" in stand_in.doc_md


def test_an_unknown_dag_id_is_the_full_build(folder: Path) -> None:
    assert build_task_dags(folder / "pipelines", "nope") is None
    assert set(parsed(folder, "nope")) == set(parsed(folder, None))
