"""Lockgate as Airflow sees it: ``airflow providers list``, the ProvidersManager, the connection form API.

``airflow providers list`` runs as a user runs it (a subprocess). The connection forms come from the
endpoint the Admin -> Connections page reads, ``GET /ui/connections/hook_meta`` (airflow/api_fastapi/
core_api/routes/ui/connections.py), served by Airflow's FastAPI app in a subprocess of its own (the
app's auth manager and providers cache are process-wide). The two subprocesses run side by side.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from lockgate.provider_info import CONNECTION_TYPES, HOOKS

pytestmark = pytest.mark.integration

_HOOK_META = textwrap.dedent(
    """
    import json, sys
    from fastapi.testclient import TestClient
    from airflow.api_fastapi.app import create_app
    from airflow.providers_manager import ProvidersManager

    hooks = ProvidersManager().hooks
    known = {t: [h.hook_class_name, h.connection_id_attribute_name, h.package_name]
             for t in sys.argv[1:] if (h := hooks.get(t)) is not None}
    with TestClient(create_app("core")) as client:
        response = client.get("/ui/connections/hook_meta")
    print(json.dumps({"status": response.status_code, "meta": response.json(), "hooks": known}))
    """
)


def _json_tail(stdout: str) -> Any:
    """The JSON document a command printed last (Airflow may log lines before it)."""
    start = min(i for i in (stdout.find("["), stdout.find("{")) if i >= 0)
    return json.loads(stdout[start:])


@pytest.fixture(scope="module")
def airflow_answers(airflow_home: Path) -> dict[str, Any]:
    env = {
        **os.environ,
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
    }
    airflow = str(Path(sys.executable).with_name("airflow"))
    listing = subprocess.Popen(
        [airflow, "providers", "list", "--output", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    meta = subprocess.Popen(
        [sys.executable, "-c", _HOOK_META, *HOOKS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    listed, listing_err = listing.communicate(timeout=120)
    described, meta_err = meta.communicate(timeout=120)
    assert listing.returncode == 0, listing_err[-3000:]
    assert meta.returncode == 0, meta_err[-3000:]
    return {"providers": _json_tail(listed), "meta": json.loads(described.strip().splitlines()[-1])}


def test_airflow_providers_list_shows_lockgate(airflow_answers: dict[str, Any]) -> None:
    from importlib.metadata import version

    lockgate = [p for p in airflow_answers["providers"] if p["package_name"] == "lockgate"]
    assert len(lockgate) == 1
    assert lockgate[0]["version"] == version("lockgate")
    assert "quality gate" in lockgate[0]["description"]


def test_the_providers_manager_knows_the_connection_types(airflow_answers: dict[str, Any]) -> None:
    hooks = airflow_answers["meta"]["hooks"]
    assert hooks == {
        "lockgate_lake": ["lockgate.hooks.lake.LakeHook", "lake_conn_id", "lockgate"],
        "lockgate_warehouse": ["lockgate.hooks.warehouse.WarehouseHook", "warehouse_conn_id", "lockgate"],
        "lockgate_catalog": ["lockgate.hooks.iceberg.CatalogHook", "catalog_conn_id", "lockgate"],
    }


def test_the_connection_form_api_serves_each_types_fields(airflow_answers: dict[str, Any]) -> None:
    assert airflow_answers["meta"]["status"] == 200
    forms = {m["connection_type"]: m for m in airflow_answers["meta"]["meta"]}
    for config in CONNECTION_TYPES:
        form = forms[config["connection-type"]]
        assert form["hook_name"] == config["hook-name"]
        assert form["hook_class_name"] == config["hook-class-name"]
        fields = form["extra_fields"]
        assert set(fields) == set(config["conn-fields"])
        for name, field in config["conn-fields"].items():
            assert fields[name]["schema"]["title"] == field["label"]
            assert fields[name]["description"] == field["description"]
        hidden = {k for k, v in (form["standard_fields"] or {}).items() if v and v["hidden"]}
        expected = {"url_schema" if f == "schema" else f for f in config["ui-field-behaviour"]["hidden-fields"]}
        assert hidden == expected
    lake = forms["lockgate_lake"]["extra_fields"]
    assert lake["url"]["schema"]["title"] == "Lake URL"
    assert lake["url"]["schema"]["type"] == "string"  # no null: the form requires it
    assert lake["aws_conn_id"]["value"] == "aws_default"
    warehouse = forms["lockgate_warehouse"]
    assert warehouse["extra_fields"]["dialect"]["schema"]["enum"] == ["duckdb", "postgres", "redshift"]
    assert warehouse["standard_fields"]["url_schema"]["title"] == "Database"
    # a SQL catalog's URI carries the database password: the form masks it
    assert forms["lockgate_catalog"]["extra_fields"]["uri"]["schema"] == {
        "type": "string",
        "minLength": 1,
        "format": "password",
        "title": "Catalog URI",
    }
