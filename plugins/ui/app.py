"""The FastAPI app behind the "Data health" page, mounted by the api-server under ``/lockgate``.

Routes (relative to the mount):

* ``GET /data-health`` -- the page (HTML with inline SVG charts), shown in the UI in an iframe;
  ``?dataset=`` filters, ``?start=&end=`` (or ``?days=``) choose the date range;
* ``GET /data-health.json`` -- the same numbers as JSON, for scripts and dashboards;
* ``GET /section?dataset=&start=&end=`` -- one dataset's charts and check history, an HTML fragment
  the page fetches when a section is opened (a year of 50 datasets would be tens of megabytes);
* ``GET /day?dataset=&ds=[&check=]`` (and ``/day.json``) -- one dataset on
  one day: reasons, checks with arguments and observed values, up to 20 sample quarantined rows
  (PII masked), the files, a link to the Airflow run and a re-run button;
* ``POST /rerun`` (form ``dag_id``, ``ds``) -- clears the date's run (or triggers it when there is
  none) through Airflow's REST API *with the caller's own token*, so Airflow's permission checks
  decide, exactly as if the user had clicked "Clear" in the UI; the day page and every cell of a
  partition grid post it;
* ``POST /replay`` (form ``dataset``, ``start``, ``end``, ``dag_id``) -- triggers the quarantine
  replay DAG (``lockgate.replay``) with those params, the same way (the user's token);
* ``GET /catalog`` (and ``/catalog.json``) -- every dataset's contract, pipeline, tables and freshness;
* ``GET /lineage`` (and ``/lineage.json``) -- the graph of jobs and datasets from the OpenLineage
  file transport's events, column lineage on demand, each dataset's last quality status.

All need a logged-in user allowed to see the custom view "Data health" (the auth manager decides;
the simple auth manager lets viewers in). Plugin apps get no authentication from Airflow by
themselves, so the dependency below asks Airflow's own ``get_user`` (session cookie or bearer token).
This module is imported by the api-server only, on the first request.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.error
import urllib.request
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse

from lockgate.config import DEFAULT_LAKE_CONN_ID
from lockgate.hooks.lake import LakeHook
from lockgate.ui import drilldown
from lockgate.ui.health import (
    DEFAULT_DAYS,
    DataHealth,
    DayHealth,
    _day,
    _loads,
    lake_health,
    paused_gc,
    read_lake_documents,
)
from lockgate.ui.render import dataset_details, render_day, render_page

#: the resource name the auth manager is asked about (``is_authorized_custom_view``)
RESOURCE_NAME = "Data health"
_NO_CACHE = {"Cache-Control": "no-store"}


def day_as_dict(day: DayHealth) -> dict[str, Any]:
    """One day as JSON-ready data, with the derived numbers (rate, state, outcomes) spelled out."""
    entry = asdict(day)
    entry["quarantine_rate"] = day.quarantine_rate
    entry["state"] = day.state
    entry["checks"] = [
        {**{k: v for k, v in asdict(c).items() if k != "examples"}, "outcome": c.outcome, "threshold": c.threshold}
        for c in day.checks
    ]
    entry["failing_checks"] = [c.check for c in day.failing_checks]
    return entry


def health_as_dict(health: DataHealth) -> dict[str, Any]:
    """``health`` as JSON-ready data (check examples left out: they may hold personal data)."""
    datasets = []
    for item in health.datasets:
        days = [day_as_dict(d) for d in item.days]
        latest = item.latest
        datasets.append(
            {
                "dataset": item.dataset,
                "pipeline": item.dag_id,
                "schedule": item.schedule,
                "intermediate": item.intermediate,
                "freshness": item.freshness,
                "fresh": item.fresh,
                "lag_days": item.lag_days,
                "max_lag_days": item.max_lag_days,
                "newest_loaded_ds": item.newest_loaded_ds,
                "last_run_id": item.last_run_id,
                "last_loaded_at": item.last_loaded_at,
                "days": days,
                "latest": day_as_dict(latest) if latest else None,
                "calendar": [{"ds": ds, "state": state} for ds, state in item.calendar],
            }
        )
    return {"today": health.today, "start": health.start, "end": health.end, "datasets": datasets}


def _parse_date(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(status_code=422, detail=f"{name}: expected YYYY-MM-DD, got {value!r}") from None


def _user_token(request: Request) -> str | None:
    """The caller's Airflow token: the bearer header a script sends, else the UI's session cookie."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE_NAME_JWT_TOKEN)


def _airflow_api(base: str, token: str, method: str, path: str, body: Any = None) -> Any:
    """One call to Airflow's public REST API as the caller; HTTP errors are raised as HTTPException."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - the api-server's own address
        f"{base}/api/v2{path}",
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            return json.load(response)
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", "replace")[:500]
        raise HTTPException(status_code=error.code, detail=f"Airflow refused {method} {path}: {detail}") from None


def rerun_date(base: str, token: str, dag_id: str, ds: str) -> str:
    """Clear the run of ``dag_id`` for logical date ``ds`` (all its tasks), or trigger one; its run id."""
    day = date.fromisoformat(ds)
    low = datetime.combine(day, datetime.min.time(), UTC)
    query = (
        f"?logical_date_gte={quote(low.isoformat())}"
        f"&logical_date_lt={quote((low + timedelta(days=1)).isoformat())}&order_by=-logical_date&limit=1"
    )
    runs = _airflow_api(base, token, "GET", f"/dags/{quote(dag_id, safe='')}/dagRuns{query}")["dag_runs"]
    if runs:
        run_id = str(runs[0]["dag_run_id"])
        body = {"dry_run": False, "dag_run_id": run_id, "only_failed": False, "reset_dag_runs": True}
        _airflow_api(base, token, "POST", f"/dags/{quote(dag_id, safe='')}/clearTaskInstances", body)
        return run_id
    body = {"logical_date": low.isoformat(), "conf": {}, "note": "re-run from the Data health page"}
    return str(_airflow_api(base, token, "POST", f"/dags/{quote(dag_id, safe='')}/dagRuns", body)["dag_run_id"])


def trigger_replay(base: str, token: str, conf: dict[str, Any]) -> str:
    """Trigger the quarantine replay DAG with ``conf`` as the caller; the new run's id."""
    from lockgate.replay import REPLAY_DAG_ID

    body = {"logical_date": None, "conf": conf, "note": "quarantine replay from the Data health page"}
    return str(_airflow_api(base, token, "POST", f"/dags/{quote(REPLAY_DAG_ID, safe='')}/dagRuns", body)["dag_run_id"])


class LakeViews:
    """What the routes show, read from the lake of one connection (a fresh hook per request: the
    connection may change while the api-server runs)."""

    def __init__(self, conn_id: str) -> None:
        self.conn_id = conn_id

    def lake(self) -> LakeHook:
        return LakeHook(lake_conn_id=self.conn_id)

    def health(self, days: int, start: str | None, end: str | None) -> tuple[DataHealth, str]:
        lake = self.lake()
        today = datetime.now(UTC).date()
        first, last = _parse_date(start, "start"), _parse_date(end, "end")
        if first and last and first > last:
            raise HTTPException(status_code=422, detail="start is after end")
        if first and last and (last - first).days > 731:
            raise HTTPException(status_code=422, detail="at most two years at a time")
        health = lake_health(lake, today=today, days=days, start=first, end=last)
        return health, lake.url

    def day(self, dataset: str, ds: str, check: str | None) -> dict[str, Any]:
        lake = self.lake()
        _parse_date(ds, "ds")
        report = drilldown.read_report(lake, dataset, ds)
        _, summaries = read_lake_documents(
            lake, start=date.fromisoformat(ds), end=date.fromisoformat(ds), reports=False
        )
        loaded, pipelines = _loads(summaries)
        contract = drilldown.contract_for(report, dataset)
        protect = drilldown.PiiProtector(contract)
        day = _day(report, loaded.get((dataset, ds))) if report else None
        if day is not None:
            day = dataclasses.replace(day, checks=tuple(_protected(c, protect) for c in day.checks))
        facts = pipelines.get(dataset) or {}
        return {
            "dataset": dataset,
            "ds": ds,
            "check": check,
            "day": day,
            "samples": drilldown.quarantine_samples(lake, dataset, ds, check=check, contract=contract),
            "locations": drilldown.locations(lake, dataset, ds),
            "dag_id": facts.get("dag_id") or (day.dag_id if day else None),
        }

    def catalog(self) -> list[dict[str, Any]]:
        from lockgate.ui.catalog import build_catalog

        health, _ = self.health(DEFAULT_DAYS, None, None)
        _, summaries = read_lake_documents(self.lake(), reports=False)
        return build_catalog(health, summaries)

    def lineage(self) -> tuple[Any, list[Any]]:
        from lockgate.ui import lineage_view

        health, _ = self.health(DEFAULT_DAYS, None, None)
        statuses = {item.dataset: item.latest.state for item in health.datasets if item.latest}
        files = lineage_view.events_files()
        return lineage_view.build_graph(lineage_view.read_events(files), statuses), files


def create_app(lake_conn_id: str | None = None) -> FastAPI:
    """The app; ``lake_conn_id`` overrides the lake connection (default ``lockgate_lake``)."""

    def authorized(user: GetUserDep) -> None:
        if not get_auth_manager().is_authorized_custom_view(method="GET", resource_name=RESOURCE_NAME, user=user):
            raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Forbidden")

    app = FastAPI(
        title="Lockgate data health",
        description="Per dataset: rows loaded, quarantine reasons, data-quality checks, partitions and freshness.",
        dependencies=[Depends(authorized)],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    views = LakeViews(lake_conn_id or DEFAULT_LAKE_CONN_ID)
    _health_routes(app, views)
    _action_routes(app)
    _lineage_and_catalog_routes(app, views)
    return app


def _health_routes(app: FastAPI, views: LakeViews) -> None:
    """The page, its sections, the day drill-down and their JSON."""

    # sync handlers: FastAPI runs them in its thread pool, so lake reads never block the event loop
    @app.get("/data-health", response_class=HTMLResponse)
    def data_health_page(
        days: int = Query(DEFAULT_DAYS, ge=1, le=731),
        start: str | None = None,
        end: str | None = None,
        dataset: str = "",
    ) -> HTMLResponse:
        with paused_gc():  # the page's thousands of objects (see paused_gc)
            health, lake_url = views.health(days, start, end)
            html = render_page(health, lake_url=lake_url, dataset_filter=dataset)
        return HTMLResponse(html, headers=_NO_CACHE)

    @app.get("/section", response_class=HTMLResponse)
    def section(
        dataset: str, days: int = Query(DEFAULT_DAYS, ge=1, le=731), start: str | None = None, end: str | None = None
    ) -> HTMLResponse:
        """One dataset's charts and check history (an HTML fragment the page loads when a section opens)."""
        health, _ = views.health(days, start, end)
        try:
            item = health.dataset(dataset)
        except KeyError:
            raise HTTPException(status_code=404, detail=f"no dataset {dataset!r} in the range") from None
        return HTMLResponse(dataset_details(item), headers=_NO_CACHE)

    @app.get("/data-health.json")
    def data_health_json(
        days: int = Query(DEFAULT_DAYS, ge=1, le=731), start: str | None = None, end: str | None = None
    ) -> dict[str, Any]:
        health, lake_url = views.health(days, start, end)
        return {"lake": lake_url, **health_as_dict(health)}

    @app.get("/day", response_class=HTMLResponse)
    def day_page(dataset: str, ds: str, check: str | None = None) -> HTMLResponse:
        found = views.day(dataset, ds, check)
        rerun = {"dag_id": found["dag_id"]} if found["dag_id"] else None
        html = render_day(
            dataset,
            found["day"],
            ds=ds,
            check=check,
            samples=found["samples"],
            locations=found["locations"],
            rerun=rerun,
        )
        return HTMLResponse(html, headers=_NO_CACHE)

    @app.get("/day.json")
    def day_json(dataset: str, ds: str, check: str | None = None) -> dict[str, Any]:
        found = views.day(dataset, ds, check)
        day = found.pop("day")
        if day is not None:
            found["day"] = day_as_dict(day)
            found["day"]["checks"] = [
                {**entry, "examples": list(c.examples)}
                for entry, c in zip(found["day"]["checks"], day.checks, strict=True)
            ]
        else:
            found["day"] = None
        return found


def _action_routes(app: FastAPI) -> None:
    """Re-run and replay: forwarded to Airflow's REST API with the caller's token (Airflow decides)."""

    @app.post("/rerun")
    def rerun(request: Request, dag_id: str = Form(...), ds: str = Form(...)) -> RedirectResponse:
        _parse_date(ds, "ds")
        token = _user_token(request)
        if not token:
            raise HTTPException(status_code=status.HTTP_401_UNAUTHORIZED, detail="Not logged in")
        base = f"{request.url.scheme}://{request.url.netloc}"
        run_id = rerun_date(base, token, dag_id, ds)
        return RedirectResponse(
            f"{base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}", status_code=status.HTTP_303_SEE_OTHER
        )

    @app.post("/replay")
    def replay(
        request: Request,
        dataset: str = Form(...),
        start: str = Form(...),
        end: str | None = Form(None),
        dag_id: str | None = Form(None),
    ) -> RedirectResponse:
        """Trigger ``lockgate_quarantine_replay`` for the dataset and dates, as the caller (Airflow decides)."""
        from lockgate.replay import REPLAY_DAG_ID, ReplayError, replay_conf

        token = _user_token(request)
        if not token:
            raise HTTPException(status_code=status.HTTP_401_UNAUTHORIZED, detail="Not logged in")
        try:
            conf = replay_conf(dataset, start, end or None, dag_id=dag_id or None)
        except ReplayError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        base = f"{request.url.scheme}://{request.url.netloc}"
        run_id = trigger_replay(base, token, conf)
        return RedirectResponse(
            f"{base}/dags/{REPLAY_DAG_ID}/runs/{quote(run_id, safe='')}", status_code=status.HTTP_303_SEE_OTHER
        )


def _lineage_and_catalog_routes(app: FastAPI, views: LakeViews) -> None:
    """The lineage graph and the dataset catalog, as pages and JSON."""

    @app.get("/lineage", response_class=HTMLResponse)
    def lineage_page() -> HTMLResponse:
        from lockgate.ui.lineage_view import render_lineage

        nodes, files = views.lineage()
        return HTMLResponse(render_lineage(nodes, files=files), headers=_NO_CACHE)

    @app.get("/lineage.json")
    def lineage_json() -> dict[str, Any]:
        from lockgate.ui.lineage_view import graph_as_dict

        nodes, files = views.lineage()
        return {"files": [str(f) for f in files], **graph_as_dict(nodes)}

    @app.get("/catalog", response_class=HTMLResponse)
    def catalog_page(q: str = "") -> HTMLResponse:
        from lockgate.ui.catalog import render_catalog

        return HTMLResponse(render_catalog(views.catalog(), query=q), headers=_NO_CACHE)

    @app.get("/catalog.json")
    def catalog_json(q: str = "") -> dict[str, Any]:
        from lockgate.ui.catalog import search

        return {"datasets": search(views.catalog(), q)}


def _protected(check: Any, protect: drilldown.PiiProtector) -> Any:
    """A check whose examples no longer show personal data."""
    column = check.kwargs.get("column") if check.kwargs else None
    if column in protect.modes:
        examples = tuple(str(protect.value(column, e)) for e in check.examples)
    else:
        examples = tuple(protect.text(str(e)) for e in check.examples)
    return dataclasses.replace(check, examples=examples)
