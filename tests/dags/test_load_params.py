"""Every DAG that loads a warehouse table lets a person allow a shrinking delivery in the trigger form."""

from __future__ import annotations

from pathlib import Path

import pytest

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_every_loading_dag_declares_allow_shrink_off_by_default(dag_bag) -> None:
    from lockgate.operators.load import WarehouseLoadOperator

    loading = {
        dag_id for dag_id, dag in dag_bag.dags.items() if any(isinstance(t, WarehouseLoadOperator) for t in dag.tasks)
    }
    # the flagship and the YAML factory's DAGs (sales_distribution is one)
    assert {"air_quality_daily", "sales_distribution"} <= loading
    for dag_id in sorted(loading):
        param = dag_bag.dags[dag_id].params.get_param("allow_shrink")
        assert (dag_id, param.value, param.schema["type"]) == (dag_id, False, "boolean")
        assert "min_replace_share" in param.description
