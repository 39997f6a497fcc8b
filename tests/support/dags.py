"""Test DAG folders that Airflow's ``DagBag`` and ``dag.test()`` read: YAML pipelines, or any DAG file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

#: the one Python file of a folder of YAML pipelines (Airflow's safe mode only parses files naming
#: airflow and DAG)
YAML_DAG_FILE = """\
# the YAML pipelines of this folder (Airflow's safe mode only parses files naming airflow and DAG)
from pathlib import Path
from typing import Any
from lockgate.pipelines.factory import register_pipelines

register_pipelines(Path(__file__).with_name("pipelines"), globals())
"""
#: the top of a test pipeline spec, up to its sources' location; ``str.format`` fills ``{dag_id}`` and
#: ``{src}`` (the sources folder), so the rest of a spec appended to it escapes braces the same way
SPEC_HEADER = """\
dag_id: {dag_id}
description: |
  ### {dag_id} - a test pipeline
owners: [test-team]
schedule: "@daily"
start_date: 2026-01-01
catchup: false
retries: 2
alerts: {{default: ["webhook:lockgate_test_alerts"]}}
sources:
  location: {{url: "{src}"}}
"""


def use_dags_folder(dags: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``dags`` the DAGs folder: ``dag.test()`` serializes DAGs from the "dags-folder" bundle,
    which reads ``settings.DAGS_FOLDER`` (set from the config at import)."""
    from airflow import settings

    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(dags))
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(dags))


def write_yaml_pipeline(dags: Path, dag_id: str, spec: str) -> Path:
    """``dags/pipelines/<dag_id>.yaml`` holding ``spec``, with the DAG file that registers it; its path."""
    (dags / "pipelines").mkdir(parents=True, exist_ok=True)
    path = dags / "pipelines" / f"{dag_id}.yaml"
    path.write_text(spec)
    (dags / "yaml_pipelines.py").write_text(YAML_DAG_FILE)
    return path


def load_bundled_dag_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, prefix: str) -> Any:
    """The module of a DAG file written from ``source`` (``DAG_ID`` replaced by a fresh id starting
    with ``prefix``) in a DAG bundle of its own: ``dag.test()`` runs only DAGs a bundle holds."""
    import importlib.util
    import json
    import uuid

    dag_id = f"{prefix}_{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "dags"
    folder.mkdir()
    path = folder / f"{dag_id}.py"
    path.write_text(source.replace("DAG_ID", dag_id))
    local = "airflow.dag_processing.bundles.local.LocalDagBundle"
    bundles = [
        {"name": f"{dag_id}_bundle", "classpath": local, "kwargs": {"path": str(folder)}},
        {"name": "dags-folder", "classpath": local, "kwargs": {}},
    ]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))
    spec = importlib.util.spec_from_file_location(dag_id, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
