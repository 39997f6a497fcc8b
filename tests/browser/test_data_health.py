"""The web UI end to end, in headless Chromium: log in, trigger air_quality_daily, debug it on the Data health page.

Airflow is started as ``make airflow`` starts it (``lockgate airflow``, through
:func:`tests.support.airflow_stack.start_airflow`, with a test stack's loop intervals: api-server, scheduler
with the LocalExecutor, dag-processor and triggerer on the embedded defaults: SQLite metadata,
local lake, DuckDB warehouse) in a temporary LOCKGATE_HOME on a free 127.0.0.1 port, with the
scheduler on, as a user has it, and stopped the way a user stops it: SIGINT, as Ctrl-C sends.

Triggering from the UI with "Unpause" ticked (Airflow's default) also makes the scheduler create
the DAG's latest scheduled run, which would run first (``max_active_runs=1``): the test marks it
failed through the REST API (the UI's "Mark as failed"), as the README tells users who want just
their date, and its own run starts at once.

The alert connection ``lockgate_alerts`` is created through the REST API (so it lives in the
metadata database) and points at a local HTTP receiver: ``late_batch`` (the 2026-01-02 run is past
its deadline when it starts) must reach it through the real scheduler and triggerer, ``run_summary``
and ``dq_warning`` too, with links built from ``[api] base_url``.

The browser is Debian's ``chromium`` driven by its ``chromium-driver`` through Selenium. The page's
numbers are compared with what the run wrote to the lake and the warehouse. Screenshots and the
components' logs go to a pytest temporary folder (printed at the end of the module).

Last, the readings contract (a copy of include/ the components read) is fixed to accept the
sensors' out-of-range values, and the day's *Replay* button re-gates its quarantine through the
replay DAG, run by the scheduler: the rows are then loaded, once.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lockgate.ui import launcher
from tests.support.airflow_stack import RunningAirflow, start_airflow
from tests.support.airflow_stack import wait_for as _wait
from tests.support.http_recorder import RecordingHTTPServer
from tests.support.net import LOOPBACK, port_open

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

ARTIFACTS = Path(tempfile.gettempdir())  # replaced by the module's pytest tmp folder (the artifacts fixture)
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
DAG_ID = "air_quality_daily"
LOGICAL_DATE = "2026-01-02"
RUN_TIMEOUT = 600.0  # a loaded 2-core machine (the suite runs 2 workers)
#: what the scheduler needs to notice a missed deadline and the triggerer to run its callback
ALERT_TIMEOUT = 120.0
REPO_INCLUDE = Path(__file__).resolve().parents[2] / "include"
REPLAY_DAG_ID = "lockgate_quarantine_replay"
#: the readings contract's range checks, which quarantine the sample's sensor sentinels
RANGE_CHECKS = (
    'expect_column_values_to_be_between(value) where pollutant in ["pm25", "pm10", "so2", "no2"]',
    'expect_column_values_to_be_between(value) where pollutant in ["o3", "co"]',
)

# ------------------------------------------------------------------------------------- Airflow


def _save_logs(home: Path, output: Path) -> None:
    logs = ARTIFACTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    shutil.copy(output, logs / "lockgate-airflow.out")
    for log in (home / "airflow" / "logs" / "components").glob("*.log"):
        shutil.copy(log, logs / log.name)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Screenshots and component logs: a pytest temporary folder."""
    global ARTIFACTS
    ARTIFACTS = tmp_path_factory.mktemp("browser-artifacts")
    yield ARTIFACTS
    print(f"\nbrowser test artefacts: {ARTIFACTS}")


@pytest.fixture(scope="module")
def receiver() -> Iterator[RecordingHTTPServer]:
    """The HTTP endpoint the ``lockgate_alerts`` webhook connection points at."""
    with RecordingHTTPServer() as server:
        yield server


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[RunningAirflow]:
    """``lockgate airflow`` in a fresh LOCKGATE_HOME; stopped with SIGINT, which must stop everything."""
    root = tmp_path_factory.mktemp("browser")
    # the contracts from a copy of include/, which the replay test fixes as a person would
    include = root / "include"
    shutil.copytree(REPO_INCLUDE, include)
    running = start_airflow(root, {"LOCKGATE_INCLUDE_DIR": str(include)})
    # lockgate airflow -> airflow standalone -> its four components
    assert len(running.components) == 5, f"expected standalone and 4 components, got {running.components}"
    try:
        yield running
    finally:
        code = running.stop()  # what Ctrl-C does
        _save_logs(running.home, running.output)
    output = running.output.read_text()
    assert code == 0, f"lockgate airflow did not stop cleanly on Ctrl-C (exit {code}):\n{output}"
    assert "Airflow stopped." in output
    assert not running.leftovers(), "components still running after Ctrl-C"
    assert not port_open(LOOPBACK, int(running.base_url.rsplit(":", 1)[1])), "the api-server still listens after Ctrl-C"


# ------------------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[Any]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        message = f"{CHROMIUM} / {CHROMEDRIVER} missing: apt-get install -y chromium chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument("--window-size=1440,1000")
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _shot(driver: Any, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def _visible(driver: Any, css: str, timeout: float = 30.0) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))


def _clickable(driver: Any, css: str, timeout: float = 30.0) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(ec.element_to_be_clickable((By.CSS_SELECTOR, css)))


# ---------------------------------------------------------------------------------------- steps


def _log_in(driver: Any, airflow: RunningAirflow) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{airflow.base_url}/")
    _visible(driver, "input[name=username]").send_keys(launcher.ADMIN_USER)
    _visible(driver, "input[name=password]").send_keys(airflow.password)
    _shot(driver, "01-login")
    _clickable(driver, "button[type=submit]").click()
    WebDriverWait(driver, 30).until(lambda d: "/auth/login" not in d.current_url)
    _visible(driver, "a[href$='plugin/data-health']")  # the plugin's entry in the navigation bar
    _shot(driver, "02-home")


def _trigger_from_ui(driver: Any, airflow: RunningAirflow) -> None:
    from selenium.webdriver.common.keys import Keys

    driver.get(f"{airflow.base_url}/dags/{DAG_ID}")
    _clickable(driver, "[data-testid=trigger-dag-button]").click()
    _clickable(driver, "[role=dialog][data-state=open] [data-testid=datetime-input]").click()
    # the logical date picker: a date and a time field (YYYY/MM/DD, HH:mm), in the UI's time zone (UTC)
    day = _visible(driver, "input[placeholder='YYYY/MM/DD']")
    day.send_keys(Keys.CONTROL, "a")
    day.send_keys(LOGICAL_DATE.replace("-", "/"), Keys.ENTER)
    clock = _visible(driver, "input[placeholder='HH:mm']")
    clock.send_keys(Keys.CONTROL, "a")
    clock.send_keys("00:00", Keys.ENTER, Keys.ESCAPE)
    picked = _visible(driver, "[role=dialog][data-state=open] [data-testid=datetime-input]").text
    _shot(driver, "03-trigger-dialog")
    assert picked.startswith("Jan 02, 2026"), f"the dialog shows logical date {picked!r}"
    _clickable(driver, "[data-testid=trigger-dag-submit]").click()


def _runs(airflow: RunningAirflow, token: str) -> list[dict[str, Any]]:
    return list(airflow.api(f"/api/v2/dags/{DAG_ID}/dagRuns", token=token)["dag_runs"])


def _the_ui_run(airflow: RunningAirflow, token: str) -> dict[str, Any]:
    def run() -> dict[str, Any] | None:
        return next((r for r in _runs(airflow, token) if r["run_type"] == "manual"), None)

    return _wait("the run triggered from the UI appears", run, 60)


def _wait_for_success(airflow: RunningAirflow, token: str, run_id: str) -> dict[str, Any]:
    quoted = urllib.parse.quote(run_id, safe="")

    def finished() -> dict[str, Any] | None:
        run = airflow.api(f"/api/v2/dags/{DAG_ID}/dagRuns/{quoted}", token=token)
        return run if run["state"] in ("success", "failed") else None

    run = _wait(f"run {run_id} finishes", finished, RUN_TIMEOUT, interval=1.0)
    if run["state"] != "success":
        tis = airflow.api(f"/api/v2/dags/{DAG_ID}/dagRuns/{quoted}/taskInstances", token=token)
        states = {ti["task_id"]: ti["state"] for ti in tis["task_instances"]}
        pytest.fail(f"run {run_id} ended {run['state']}: {states}")
    return run


def _cell(frame: Any, dataset: str, field: str) -> Any:
    from selenium.webdriver.common.by import By

    return frame.find_element(By.CSS_SELECTOR, f"#overview td[data-dataset='{dataset}'][data-field='{field}']")


# ----------------------------------------------------------------------------------------- tests


def _events(receiver: RecordingHTTPServer, event: str, run_id: str) -> list[dict[str, Any]]:
    bodies = [r.json() for r in list(receiver.requests) if r.method == "POST"]
    return [b for b in bodies if b.get("event") == event and b.get("run_id") == run_id]


def _patch(url: str, token: str, body: dict[str, Any]) -> None:
    """PATCH as the user; SQLite's one writer may keep the api-server busy while tasks run: a long wait, a retry."""

    request = urllib.request.Request(  # noqa: S310 -- 127.0.0.1 only
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="PATCH",
    )
    for attempt in range(3):
        try:
            with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 -- 127.0.0.1 only
                response.read()
                return
        except TimeoutError:
            if attempt == 2:
                raise


def _alert_connection(airflow: RunningAirflow, token: str, receiver: RecordingHTTPServer) -> None:
    """``lockgate_alerts`` in the metadata database, as Admin -> Connections would store it."""
    body = {"connection_id": "lockgate_alerts", "conn_type": "http", "host": LOOPBACK, "port": receiver.port}
    airflow.api("/api/v2/connections", token=token, body=body | {"schema": "http"})


def _warehouse(home: Path, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    import duckdb

    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def _quarantine_counts(lake: Path, dataset: str, ds: str, column: str) -> dict[str, int]:
    import duckdb

    path = lake / "quarantine" / dataset / f"ds={ds}" / "quarantine.parquet"
    con = duckdb.connect()
    try:
        rows = con.execute(f"SELECT {column}, count(*) FROM read_parquet(?) GROUP BY 1", [str(path)]).fetchall()
    finally:
        con.close()
    return {("(record)" if key is None else str(key)): int(n) for key, n in rows}


@pytest.fixture(scope="module")
def runs(airflow: RunningAirflow, browser: Any, receiver: RecordingHTTPServer) -> dict[str, Any]:
    """Log in, trigger 2026-01-02 from the UI (unpausing the DAG), skip the scheduled run, wait for ours."""
    token = airflow.token()

    def parsed() -> bool:
        try:
            return bool(airflow.api(f"/api/v2/dags/{DAG_ID}", token=token)["dag_id"])
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise
            return False

    _wait("the DAG is parsed", parsed, 120)
    _alert_connection(airflow, token, receiver)
    _log_in(browser, airflow)
    _trigger_from_ui(browser, airflow)
    ui_run = _the_ui_run(airflow, token)
    assert ui_run["triggered_by"] == "ui", ui_run
    assert ui_run["logical_date"][:10] == LOGICAL_DATE
    # the first unpause made the scheduler create the latest scheduled run too, which would run
    # first (max_active_runs=1); to run just the chosen date, mark it failed, as the README says
    scheduled = _wait(
        "the scheduled run the unpause creates",
        lambda: next((r for r in _runs(airflow, token) if r["run_type"] == "scheduled"), None),
        60,
    )
    quoted = urllib.parse.quote(scheduled["dag_run_id"], safe="")
    _patch(f"{airflow.base_url}/api/v2/dags/{DAG_ID}/dagRuns/{quoted}", token, {"state": "failed"})
    done = _wait_for_success(airflow, token, ui_run["dag_run_id"])
    return {"token": token, "ui": done, "scheduled": scheduled}


def test_alerts_reach_a_metadata_db_connection_with_links_from_the_base_url(
    airflow: RunningAirflow, runs: dict[str, Any], receiver: RecordingHTTPServer
) -> None:
    run_id = runs["ui"]["dag_run_id"]
    # the run started after its deadline (logical date + 30 h): the scheduler fires late_batch,
    # the triggerer runs the callback, which reads lockgate_alerts from the metadata database
    late = _wait("late_batch reaches the receiver", lambda: _events(receiver, "late_batch", run_id), ALERT_TIMEOUT)
    assert late[0]["message"].startswith(
        f"{DAG_ID}: the data for {LOGICAL_DATE} was not loaded by 2026-01-03 06:00 UTC"
    )
    run_url = f"{airflow.base_url}/dags/{DAG_ID}/runs/{urllib.parse.quote(run_id)}"
    assert late[0]["url"] == run_url  # [api] base_url, as make airflow sets it from its port
    [summary] = _wait("run_summary arrives", lambda: _events(receiver, "run_summary", run_id), ALERT_TIMEOUT)
    assert summary["url"] == run_url
    assert summary["details"]["state"] == "success"
    assert _events(receiver, "dq_warning", run_id), "the 2026-01-02 smoke event warns"
    # the run-summary callback (in the dag-processor) asked only for XComs that exist
    logs = airflow.home / "airflow" / "logs"
    noisy = [p for p in logs.rglob("*") if p.is_file() and "XCom not found" in p.read_text(errors="replace")]
    assert noisy == [], noisy


def test_the_page_shows_the_run_with_its_reasons_and_matches_lake_and_warehouse(
    airflow: RunningAirflow, browser: Any, runs: dict[str, Any]
) -> None:
    from selenium.webdriver.common.by import By

    token, ds = runs["token"], LOGICAL_DATE
    lake = airflow.home / "lake"
    summary = json.loads((lake / "reports" / DAG_ID / f"ds={ds}" / "summary.json").read_text())
    reports = {
        d["dataset"]: json.loads((lake / "quality" / d["dataset"] / f"ds={ds}" / "report.json").read_text())
        for d in summary["datasets"]
    }
    readings = reports["readings"]
    assert readings["quarantine_by_check"], "the 2026-01-02 sample quarantines readings"

    # the page, through the UI's navigation: an iframe at /plugin/data-health. The UI run finished
    # last, so it is every dataset's latest run although its date is eleven months older
    browser.get(f"{airflow.base_url}/{launcher.DATA_HEALTH_ROUTE}")  # where the nav bar's entry leads
    try:
        frame = _visible(browser, "iframe[title='Data health']", timeout=90)
    except Exception:
        _shot(browser, "05-data-health-not-shown")
        raise
    browser.switch_to.frame(frame)
    try:
        _visible(browser, "#overview")
        for entry in summary["datasets"]:
            name = entry["dataset"]
            assert _cell(browser, name, "latest_ds").get_attribute("data-value") == ds
            assert _cell(browser, name, "last_run_id").get_attribute("data-value") == runs["ui"]["dag_run_id"]
            assert _cell(browser, name, "pipeline").get_attribute("data-value") == DAG_ID
            for field in ("rows_in", "rows_loaded", "rows_quarantined", "duplicates_removed"):
                shown = _cell(browser, name, field)
                assert int(shown.get_attribute("data-value")) == entry[field], (name, field)
                assert shown.text == f"{entry[field]:,}", (name, field, shown.text)
        # every reason is on the page, the gate's built-in ones included
        reasons = _cell(browser, "readings", "quarantine_by_check").get_attribute("textContent")
        for check in readings["quarantine_by_check"]:
            assert check in reasons, (check, reasons)
        shown_checks = {
            row.get_attribute("data-check")
            for row in browser.find_elements(By.CSS_SELECTOR, "tr[data-dataset='readings'][data-check]")
        }
        assert set(readings["quarantine_by_check"]) <= shown_checks
        warned = browser.find_element(
            By.CSS_SELECTOR,
            f"tr[data-dataset='readings'][data-check='expect_column_max_to_be_between(value)'] a.cell[data-ds='{ds}']",
        )
        assert warned.get_attribute("data-outcome") == "warned"
        assert browser.execute_script(
            "return document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1"
        )
    finally:
        browser.switch_to.default_content()
    _shot(browser, "05-data-health-in-the-ui")

    # the JSON endpoint, number by number against the lake (reports, quarantine files) and the warehouse
    health = airflow.api(f"/lockgate/data-health.json?start={ds}&end={ds}", token=token)
    by_name = {d["dataset"]: d for d in health["datasets"]}
    for entry in summary["datasets"]:
        name, report = entry["dataset"], reports[entry["dataset"]]
        [day] = by_name[name]["days"]
        for field in ("rows_in", "rows_passed", "rows_quarantined", "duplicates_removed"):
            assert day[field] == report[field], (name, field)
        assert day["quarantine_by_check"] == report["quarantine_by_check"]
        assert day["quarantine_by_column"] == report["quarantine_by_column"]
        if report["rows_quarantined"]:
            assert day["quarantine_by_check"] == _quarantine_counts(lake, name, ds, "check_name")
            assert sum(day["quarantine_by_check"].values()) == report["rows_quarantined"]
        [(audit_rows, audit_run)] = _warehouse(
            airflow.home,
            "SELECT rows_loaded, run_id FROM lockgate_load_audit WHERE table_name = ? AND partition_ds = ?",
            [entry["table"], ds],
        )
        assert day["rows_loaded"] == audit_rows == entry["rows_loaded"], name
        assert day["load_run_id"] == audit_run == runs["ui"]["dag_run_id"]
        if name != "stations":  # dim_station is scd2: its rows are versions, not one date's rows
            [(in_table,)] = _warehouse(airflow.home, f"SELECT count(*) FROM {entry['table']} WHERE ds = ?", [ds])
            assert in_table == day["rows_loaded"], name
        assert day["rows_in"] == day["rows_passed"] + day["rows_quarantined"] + day["duplicates_removed"]
    with pytest.raises(urllib.error.HTTPError) as refused:
        airflow.api("/lockgate/data-health.json")
    assert refused.value.code == 401


def test_drill_into_a_quarantined_day_see_missing_days_and_the_catalog(
    airflow: RunningAirflow, browser: Any, runs: dict[str, Any]
) -> None:
    from selenium.webdriver.common.by import By

    ds, today = LOGICAL_DATE, datetime.now(UTC).date()
    lake = airflow.home / "lake"
    readings = json.loads((lake / "quality" / "readings" / f"ds={ds}" / "report.json").read_text())

    # the calendar from New Year to today: the run's day, then every scheduled day since missing
    # (a daily pipeline; due 30 h after its date), the year shown
    browser.get(f"{airflow.base_url}/lockgate/data-health?dataset=readings&start=2026-01-01&end={today}")
    grid = _visible(browser, "details#ds-readings .calendar")
    cells = {
        c.get_attribute("data-ds"): c.get_attribute("data-state") for c in grid.find_elements(By.CSS_SELECTOR, "a.cell")
    }
    assert len(cells) == (today - date(2026, 1, 1)).days + 1
    assert cells[ds] in ("warned", "quarantine-heavy")  # the smoke event's warning
    assert cells["2026-01-01"] == "none"  # before the first run
    assert cells["2026-01-03"] == "missing"
    assert cells[(today - timedelta(days=3)).isoformat()] == "missing"
    assert "Jan 2026" in grid.text
    _shot(browser, "06-partition-grid")

    # drill down: the day's cell, then the reasons, the checks and sample rows
    grid.find_element(By.CSS_SELECTOR, f"a.cell[data-ds='{ds}']").click()
    _visible(browser, "#by-check")
    by_check = {
        row.get_attribute("data-key"): int(row.find_element(By.CSS_SELECTOR, "td.num").get_attribute("data-value"))
        for row in browser.find_elements(By.CSS_SELECTOR, "#by-check tbody tr")
    }
    assert by_check == readings["quarantine_by_check"]
    samples = browser.find_elements(By.CSS_SELECTOR, "#samples tr.sample")
    assert len(samples) == min(20, readings["rows_quarantined"])
    assert all(re.search(r"\w", s.find_elements(By.TAG_NAME, "td")[4].text) for s in samples)  # every row has a reason
    assert (
        browser.find_element(By.ID, "run-link")
        .get_attribute("href")
        .endswith(f"/dags/{DAG_ID}/runs/{urllib.parse.quote(runs['ui']['dag_run_id'], safe='')}")
    )
    assert (
        str(lake / "quarantine" / "readings" / f"ds={ds}" / "quarantine.parquet")
        in browser.find_element(By.ID, "locations").text
    )
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1440, min(int(height) + 120, 6000))
    _shot(browser, "07-day-drill-down")
    browser.set_window_size(1440, 1000)

    # one check of the day: its threshold and only its rows
    check = "not_null"
    browser.get(f"{airflow.base_url}/lockgate/day?dataset=readings&ds={ds}&check={check}")
    rows = browser.find_elements(By.CSS_SELECTOR, "#samples tr.sample")
    assert {r.get_attribute("data-check") for r in rows} == {check}
    assert len(rows) == min(20, readings["quarantine_by_check"][check])

    # Airflow's dark theme (the UI keeps the choice in localStorage "theme"): the page follows it
    browser.execute_script("localStorage.setItem('theme', 'dark')")
    browser.get(f"{airflow.base_url}/lockgate/data-health")
    _visible(browser, "#overview")
    assert browser.execute_script("return document.documentElement.classList.contains('dark')")
    assert browser.execute_script("return getComputedStyle(document.body).backgroundColor") == "rgb(26, 32, 44)"
    _shot(browser, "07b-dark-theme")
    browser.execute_script("localStorage.removeItem('theme')")

    # the catalog: searchable by column
    browser.get(f"{airflow.base_url}/lockgate/catalog?q=latitude")
    found = {
        e.get_attribute("data-dataset"): {
            c.get_attribute("data-column") for c in e.find_elements(By.CSS_SELECTOR, "tr")
        }
        for e in browser.find_elements(By.CSS_SELECTOR, "details.dataset")
    }
    assert "stations" in found
    assert all("latitude" in columns for columns in found.values()), found
    _shot(browser, "08-catalog")


def _post_form(airflow: RunningAirflow, path: str, form: dict[str, str], token: str | None) -> tuple[int, str]:
    """(status, Location) of a form POST to the api-server, redirects not followed."""
    import http.client

    connection = http.client.HTTPConnection(LOOPBACK, int(airflow.base_url.rsplit(":", 1)[1]), timeout=60)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request("POST", path, body=urllib.parse.urlencode(form), headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("Location") or ""
    finally:
        connection.close()


def test_rerun_goes_through_the_rest_api_as_the_user(airflow: RunningAirflow, runs: dict[str, Any]) -> None:
    """The page's re-run button: a date without a run is triggered, one with a run is cleared; as the caller.

    On ``lake_maintenance`` (paused: nothing actually runs) so the test stays fast.
    """
    token, day = runs["token"], "2026-01-10"
    status, location = _post_form(airflow, "/lockgate/rerun", {"dag_id": "lake_maintenance", "ds": day}, token)
    assert status == 303, (status, location)
    made = [
        r
        for r in airflow.api("/api/v2/dags/lake_maintenance/dagRuns", token=token)["dag_runs"]
        if r["logical_date"][:10] == day
    ]
    assert len(made) == 1
    assert (
        location
        == f"{airflow.base_url}/dags/lake_maintenance/runs/{urllib.parse.quote(made[0]['dag_run_id'], safe='')}"
    )
    # again: the run exists now, so it is cleared (no second run)
    status, again = _post_form(airflow, "/lockgate/rerun", {"dag_id": "lake_maintenance", "ds": day}, token)
    assert (status, again) == (303, location)
    runs_now = airflow.api("/api/v2/dags/lake_maintenance/dagRuns", token=token)["dag_runs"]
    assert len([r for r in runs_now if r["logical_date"][:10] == day]) == 1
    # without a login nothing happens (401); a token Airflow does not accept is refused (403)
    assert _post_form(airflow, "/lockgate/rerun", {"dag_id": "lake_maintenance", "ds": day}, None)[0] == 401
    assert _post_form(airflow, "/lockgate/rerun", {"dag_id": "lake_maintenance", "ds": day}, "not-a-token")[0] == 403
    runs_now = airflow.api("/api/v2/dags/lake_maintenance/dagRuns", token=token)["dag_runs"]
    assert len([r for r in runs_now if r["logical_date"][:10] == day]) == 1


def test_the_lineage_graph_shows_the_run(airflow: RunningAirflow, browser: Any, runs: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{airflow.base_url}/lockgate/lineage")
    graph = _visible(browser, "#lineage-graph svg")
    labels = {
        g.get_attribute("data-label"): g.get_attribute("data-status")
        for g in graph.find_elements(By.CSS_SELECTOR, "g.node")
    }
    assert "air_quality_daily.gate_readings" in labels
    assert labels["curated/readings"] == "warned"  # its last quality status
    assert "warehouse.main.fact_air_quality_hourly" in labels
    browser.find_element(By.CSS_SELECTOR, "details[data-dataset='raw/agg_air_quality_daily'] summary").click()
    assert (
        "curated/readings.value"
        in browser.find_element(By.CSS_SELECTOR, "details[data-dataset='raw/agg_air_quality_daily'] table").text
    )
    _shot(browser, "09-lineage")


def _fix_readings_contract(include: Path) -> None:
    """Accept any value (the sensors' sentinels are data now): what a person's contract fix does."""
    contract = include / "contracts" / "readings.yaml"
    text = contract.read_text(encoding="utf-8")
    fixed = text.replace("min_value: 0, max_value: 10000,", "min_value: -1.0e+12, max_value: 1.0e+12,").replace(
        "min_value: 0, max_value: 50,", "min_value: -1.0e+12, max_value: 1.0e+12,"
    )
    assert fixed.count("1.0e+12") == 4, "the readings contract's range checks moved"
    contract.write_text(fixed, encoding="utf-8")


def _replay_run(airflow: RunningAirflow, token: str) -> dict[str, Any]:
    """The replay DAG's run (triggered from the page), once it finished successfully."""

    def finished() -> dict[str, Any] | None:
        found = airflow.api(f"/api/v2/dags/{REPLAY_DAG_ID}/dagRuns", token=token)["dag_runs"]
        return next((r for r in found if r["state"] in ("success", "failed")), None)

    run = _wait("the replay run finishes", finished, RUN_TIMEOUT, interval=1.0)
    assert run["state"] == "success", run
    return run


def test_replay_a_quarantined_day_from_the_page_after_a_contract_fix(
    airflow: RunningAirflow, browser: Any, runs: dict[str, Any]
) -> None:
    from selenium.webdriver.common.by import By

    token, ds, lake = runs["token"], LOGICAL_DATE, airflow.home / "lake"
    report = json.loads((lake / "quality" / "readings" / f"ds={ds}" / "report.json").read_text())
    fixed = sum(report["quarantine_by_check"].get(check, 0) for check in RANGE_CHECKS)
    assert fixed > 0, report["quarantine_by_check"]
    count = "SELECT count(*) FROM fact_air_quality_hourly WHERE ds = ?"
    ((loaded_before,),) = _warehouse(airflow.home, count, [ds])

    # a grid cell offers "clear and re-run" for its date: it asks first (dismissed here: the rerun
    # itself is the /rerun route's test)
    browser.get(f"{airflow.base_url}/lockgate/data-health?dataset=readings&start=2026-01-01&end={ds}")
    actions = _visible(browser, "form#grid-action-readings")
    assert actions.get_attribute("data-dag") == DAG_ID
    actions.find_element(By.CSS_SELECTOR, "input[name=mode][value=rerun]").click()
    browser.find_element(By.CSS_SELECTOR, f"details#ds-readings .calendar a.cell[data-ds='{ds}']").click()
    alert = browser.switch_to.alert
    assert alert.text == f"Clear and re-run {ds} in {DAG_ID}?"
    alert.dismiss()
    assert browser.current_url.endswith(f"end={ds}")  # still the page: nothing was posted
    _shot(browser, "10-grid-actions")

    # the contract is fixed; the day's Replay button triggers the replay DAG as the logged-in user
    _fix_readings_contract(airflow.home.parent / "include")  # the copy the components read
    browser.get(f"{airflow.base_url}/lockgate/day?dataset=readings&ds={ds}")
    _clickable(browser, "form#replay button").click()
    run = _replay_run(airflow, token)
    assert run["conf"]["dataset"] == "readings"
    assert (run["conf"]["start"], run["conf"]["end"]) == (ds, ds)

    # the rows the fix admits are loaded, once; the rest stay quarantined
    ((loaded,),) = _warehouse(airflow.home, count, [ds])
    assert loaded == loaded_before + fixed
    key = "station_id, observed_at, pollutant"
    ((repeated,),) = _warehouse(
        airflow.home, f"SELECT count(*) - count(DISTINCT ({key})) FROM fact_air_quality_hourly WHERE ds = ?", [ds]
    )
    assert repeated == 0
    after = json.loads((lake / "quality" / "readings" / f"ds={ds}" / "report.json").read_text())
    assert after["rows_quarantined"] == report["rows_quarantined"] - fixed
    assert _quarantine_counts(lake, "readings", ds, "check_name") == after["quarantine_by_check"]
    # linked to the original run: the replay audit, the report
    assert _warehouse(
        airflow.home,
        "SELECT original_run_id, outcome FROM lockgate_replay_audit WHERE partition_ds = ?",
        [ds],
    ) == [(runs["ui"]["dag_run_id"], "reloaded")]
    assert after["replay"]["original_run_id"] == runs["ui"]["dag_run_id"]

    # the day page shows it: rows loaded, who replayed it from which run
    browser.get(f"{airflow.base_url}/lockgate/day?dataset=readings&ds={ds}")
    shown = _visible(browser, "#counts td[data-field='rows_loaded']")
    assert int(shown.get_attribute("data-value")) == loaded
    replayed = browser.find_element(By.ID, "replayed")
    assert replayed.get_attribute("data-original-run") == runs["ui"]["dag_run_id"]
    _shot(browser, "11-replayed-day")
