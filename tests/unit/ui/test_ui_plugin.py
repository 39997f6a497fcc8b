"""lockgate.ui.plugin: the plugin as Airflow 3.3 itself loads it, and its app's access control."""

from __future__ import annotations

from importlib.metadata import entry_points

from fastapi.testclient import TestClient

from lockgate.ui.plugin import DataHealthApp, LockgatePlugin


def test_registered_through_the_airflow_plugins_entry_point() -> None:
    found = {ep.name: ep.value for ep in entry_points(group="airflow.plugins")}
    assert found["lockgate"] == "lockgate.ui.plugin:LockgatePlugin"


def test_airflow_loads_the_plugin_with_its_app_and_nav_entry() -> None:
    from airflow import plugins_manager

    info = {p["name"]: p for p in plugins_manager.get_plugin_info(["fastapi_apps", "external_views"])}
    plugin = info["lockgate"]
    assert [(a["url_prefix"], a["app"]) for a in plugin["fastapi_apps"]] == [
        ("/lockgate", "lockgate.ui.plugin.DataHealthApp")
    ]
    (view,) = plugin["external_views"]
    assert view["name"] == "Data health"
    assert view["url_route"] == "data-health"  # rendered inside the UI at /plugin/data-health
    assert view["href"] == "lockgate/data-health"  # relative to the UI's base URL: the app's page
    assert view["destination"] == "nav"
    # the only complaint allowed: this repository's own lockgate.egg-info, on sys.path in the test
    # session, shows the same distribution a second time (lockgate airflow runs Airflow elsewhere)
    problems = {k: v for k, v in plugins_manager.get_import_errors().items() if "lockgate" in k + v}
    assert all(v == "Plugin 'lockgate' already registered, skipping" for v in problems.values()), problems


def test_the_app_mount_does_not_clash_with_airflow_routes() -> None:
    from airflow.api_fastapi.app import RESERVED_URL_PREFIXES

    (app,) = LockgatePlugin.fastapi_apps
    assert not any(app["url_prefix"].startswith(prefix) for prefix in RESERVED_URL_PREFIXES)


def test_the_page_and_its_json_need_a_logged_in_user() -> None:
    client = TestClient(DataHealthApp())  # the object the api-server mounts
    for path in (
        "/data-health",
        "/data-health.json",
        "/day?dataset=readings&ds=2026-01-02",
        "/day.json?dataset=readings&ds=2026-01-02",
        "/section?dataset=readings",
        "/catalog",
        "/catalog.json",
        "/lineage",
        "/lineage.json",
    ):
        response = client.get(path)
        assert response.status_code == 401, path
    assert client.post("/rerun", data={"dag_id": "d", "ds": "2026-01-02"}).status_code == 401
