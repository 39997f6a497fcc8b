"""The factory: one DAG per spec, the house rules built in, and a broken spec that hides nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from lockgate.pipelines.factory import BROKEN_TAG
from lockgate.pipelines.spec import load_spec, spec_files

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
SALES = DAGS / "pipelines" / "sales_distribution.yaml"


@pytest.fixture(scope="module")
def dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_every_spec_becomes_a_dag_and_none_is_broken(dag_bag) -> None:
    assert dag_bag.import_errors == {}
    specs = [load_spec(p) for p in spec_files(DAGS / "pipelines")]
    assert {s.dag_id for s in specs} <= set(dag_bag.dag_ids)
    broken = [d for d, dag in dag_bag.dags.items() if BROKEN_TAG in dag.tags]
    assert broken == []


def test_generated_dags_follow_the_house_rules(dag_bag) -> None:
    for spec in (load_spec(p) for p in spec_files(DAGS / "pipelines")):
        dag = dag_bag.dags[spec.dag_id]
        assert {"lockgate", "yaml-pipeline"} <= set(dag.tags)
        assert "dags/pipelines/" in (dag.doc_md or "")
        assert dag.catchup is spec.catchup
        assert dag.on_success_callback  # the run summary
        assert dag.on_failure_callback
        for task in dag.tasks:
            assert task.owner == ",".join(spec.owners)
            assert task.retries >= 2
            assert task.on_failure_callback, task.task_id


def test_sales_distribution_shape(dag_bag) -> None:
    dag = dag_bag.dags["sales_distribution"]
    upstream = {t.task_id: t.upstream_task_ids for t in dag.tasks}
    assert upstream == {
        "prepare_sources": set(),
        "list_pos_files": {"prepare_sources"},
        "ingest_pos": {"list_pos_files"},
        "gate_sales": {"ingest_pos"},
        "route_sales": {"gate_sales"},
        "gate_sales_accounting": {"route_sales"},
        "gate_sales_supply_chain": {"route_sales"},
        "partition_sales_accounting": {"gate_sales_accounting"},
        "partition_sales_supply_chain": {"gate_sales_supply_chain"},
        "load_fact_sales_ledger": {"partition_sales_accounting"},
        "load_fact_inventory_movements": {"partition_sales_supply_chain"},
        "drop_ledger_for_partner": {"load_fact_sales_ledger"},
        "upsert_movements_to_pos": {"load_fact_inventory_movements"},
        "summarize": {
            "load_fact_sales_ledger",
            "load_fact_inventory_movements",
            "drop_ledger_for_partner",
            "upsert_movements_to_pos",
        },
    }
    assert type(dag.get_task("ingest_pos")).__name__ == "MappedOperator"  # one task per file
    route = dag.get_task("route_sales")
    assert [r["target"] for r in route.rules] == ["sales_accounting", "sales_supply_chain"]
    assert route.max_unrouted_percent == 2
    assert dag.get_task("load_fact_inventory_movements").mode == "merge"
    assert dag.get_task("load_fact_sales_ledger").mode == "replace_partition"
    outlets = {a.name for t in dag.tasks for a in t.outlets}
    # each load emits its table's asset and its dataset's (partition_key = the date; `after:` waits for it)
    assert outlets == {
        "lockgate.warehouse.fact_sales_ledger",
        "lockgate.warehouse.fact_inventory_movements",
        "lockgate.dataset.sales_accounting",
        "lockgate.dataset.sales_supply_chain",
    }
    assert dag.get_task("gate_sales_accounting").warning_notifiers  # dq_warning from `default`
    drop, upsert = dag.get_task("drop_ledger_for_partner"), dag.get_task("upsert_movements_to_pos")
    assert (drop.kind, drop.options) == ("partner_drop", {"format": "parquet", "prefix": "ledger"})
    assert (upsert.kind, upsert.options) == ("table", {"table": "inventory_movements"})
    assert dag.schedule == "@daily"


def test_no_dataset_is_written_by_two_dags(dag_bag) -> None:
    """Lake zones are per dataset: two DAGs writing one dataset would overwrite each other's days."""
    writers: dict[str, set[str]] = {}
    for dag_id, dag in dag_bag.dags.items():
        for task in dag.tasks:
            kind = type(task).__name__
            dataset = getattr(task, "dataset", None) or getattr(task, "partial_kwargs", {}).get("dataset")
            if dataset and kind in ("IngestOperator", "QualityGateOperator", "MappedOperator", "DailyAqiOperator"):
                writers.setdefault(dataset, set()).add(dag_id)
    assert {d: w for d, w in writers.items() if len(w) > 1} == {}


# ------------------------------------------------------------------------------ broken isolation


@pytest.fixture
def dags_with_broken_specs(tmp_path: Path) -> Path:
    """A DAGs folder with the good sales spec and two broken ones beside it."""
    folder = tmp_path / "dags"
    (folder / "pipelines").mkdir(parents=True)
    shutil.copy(DAGS / "yaml_pipelines.py", folder / "yaml_pipelines.py")
    shutil.copy(SALES, folder / "pipelines" / "sales_distribution.yaml")
    raw = yaml.safe_load(SALES.read_text())
    raw["dag_id"] = "returns_distribution"
    raw["loads"][0]["mode"] = "upsert"
    (folder / "pipelines" / "returns.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    text = SALES.read_text().replace("dag_id: sales_distribution", "dag_id: hourly_sales")
    text = text.replace('schedule: "@daily"', 'schedule: "every day"')
    (folder / "pipelines" / "hourly.yaml").write_text(text)
    return folder


def test_a_broken_spec_never_hides_the_others(dags_with_broken_specs: Path, dag_bag) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(dags_with_broken_specs))
    # no import error: Airflow would mark every DAG of yaml_pipelines.py stale for one
    assert bag.import_errors == {}
    good = bag.dags["sales_distribution"]
    assert BROKEN_TAG not in good.tags
    assert set(good.task_ids) == set(dag_bag.dags["sales_distribution"].task_ids)

    returns = bag.dags["returns_distribution"]
    assert BROKEN_TAG in returns.tags
    assert returns.schedule is None
    assert returns.is_paused_upon_creation is True
    assert returns.task_ids == ["invalid_spec"]
    assert "returns.yaml:" in returns.doc_md
    assert "loads.0.mode: 'upsert' is not one of" in returns.doc_md
    # the schedule is only checked by Airflow when the DAG is validated: the factory does it first
    hourly = bag.dags["hourly_sales"]
    assert BROKEN_TAG in hourly.tags
    assert "hourly.yaml:" in hourly.doc_md
    assert "schedule: 'every day' is not a cron expression or preset" in hourly.doc_md
    # and the error is surfaced in the parse logs / warnings too
    warnings = " ".join(" ".join(w) for w in bag.captured_warnings.values())
    assert "returns.yaml" in warnings
    assert "hourly.yaml" in warnings


def test_the_stand_in_fails_with_the_error(dags_with_broken_specs: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.exceptions import AirflowFailException

    bag = DagBag(dag_folder=str(dags_with_broken_specs))
    stand_in = bag.dags["returns_distribution"].get_task("invalid_spec")
    with pytest.raises(AirflowFailException, match=r"returns\.yaml:\d+: loads\.0\.mode: 'upsert' is not one of"):
        stand_in.python_callable()
