"""The FastAPI app behind the "Data health" page, mounted by the api-server under ``/lockgate``.

Routes (relative to the mount):

* ``GET /data-health`` -- the page (HTML with inline SVG charts), shown in the UI in an iframe;
* ``GET /data-health.json`` -- the same numbers as JSON, for scripts and dashboards.

Both need a logged-in user allowed to see the custom view "Data health" (the auth manager decides;
the simple auth manager lets viewers in). Plugin apps get no authentication from Airflow by
themselves, so the dependency below asks Airflow's own ``get_user`` (session cookie or bearer token).
This module is imported by the api-server only, on the first request.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import Depends, FastAPI, HTTPException, Query, status
from fastapi.responses import HTMLResponse

from lockgate.config import DEFAULT_LAKE_CONN_ID
from lockgate.hooks.lake import LakeHook
from lockgate.ui.health import DEFAULT_DAYS, DataHealth, lake_health
from lockgate.ui.render import render_page

#: the resource name the auth manager is asked about (``is_authorized_custom_view``)
RESOURCE_NAME = "Data health"


def health_as_dict(health: DataHealth) -> dict[str, Any]:
    """``health`` as JSON-ready data, with the derived numbers (rates, freshness, latest run) spelled out."""
    datasets = []
    for item in health.datasets:
        entry = asdict(item)
        entry["freshness"] = item.freshness
        for day, raw in zip(item.days, entry["days"], strict=True):
            raw["quarantine_rate"] = day.quarantine_rate
            raw["failing_checks"] = [asdict(c) for c in day.failing_checks]
        entry["latest"] = entry["days"][-1] if entry["days"] else None
        datasets.append(entry)
    return {"today": health.today, "max_lag_days": health.max_lag_days, "datasets": datasets}


def create_app(lake_conn_id: str | None = None) -> FastAPI:
    """The app; ``lake_conn_id`` overrides the lake connection (default ``lockgate_lake``)."""
    conn_id = lake_conn_id or DEFAULT_LAKE_CONN_ID

    def authorized(user: GetUserDep) -> None:
        if not get_auth_manager().is_authorized_custom_view(method="GET", resource_name=RESOURCE_NAME, user=user):
            raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Forbidden")

    def current_health(days: int) -> tuple[DataHealth, str]:
        # a fresh hook per request: the connection may change while the api-server runs
        lake = LakeHook(lake_conn_id=conn_id)
        return lake_health(lake, today=datetime.now(UTC).date(), days=days), lake.url

    app = FastAPI(
        title="Lockgate data health",
        description="Per dataset: rows loaded, quarantine rate, data-quality checks and freshness, from the lake.",
        dependencies=[Depends(authorized)],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    # sync handlers: FastAPI runs them in its thread pool, so lake reads never block the event loop
    @app.get("/data-health", response_class=HTMLResponse)
    def data_health_page(days: int = Query(DEFAULT_DAYS, ge=1, le=366)) -> HTMLResponse:
        health, lake_url = current_health(days)
        return HTMLResponse(render_page(health, lake_url=lake_url), headers={"Cache-Control": "no-store"})

    @app.get("/data-health.json")
    def data_health_json(days: int = Query(DEFAULT_DAYS, ge=1, le=366)) -> dict[str, Any]:
        health, lake_url = current_health(days)
        return {"lake": lake_url, **health_as_dict(health)}

    return app
