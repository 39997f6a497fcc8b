"""The web UI end to end, in headless Chromium: log in, trigger air_quality_daily, read the Data health page.

Airflow is started exactly as ``make airflow`` starts it (``lockgate airflow``: api-server, scheduler
with the LocalExecutor, dag-processor and triggerer on the embedded defaults: SQLite metadata,
local lake, DuckDB warehouse) in a temporary LOCKGATE_HOME on a free 127.0.0.1 port, and stopped
the way a user stops it: SIGINT, as Ctrl-C sends. The only difference from ``make airflow`` is
``[scheduler] use_job_schedule = False``: unpausing the DAG must not start a scheduled run for
today next to the one the test triggers.

The browser is Debian's ``chromium`` driven by its ``chromium-driver`` through Selenium. The page's
numbers are compared with what the run wrote to the lake (``summary.json``, the gate reports).
Screenshots go to ``tests/artifacts/browser/``; the components' logs are copied there too.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from lockgate.ui import launcher
from tests.support.net import LOOPBACK, free_port, port_open, request_json

pytestmark = [pytest.mark.integration, pytest.mark.timeout(480)]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts" / "browser"
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
START_TIMEOUT = 180.0
RUN_TIMEOUT = 360.0

T = TypeVar("T")


# ------------------------------------------------------------------------------------- Airflow


@dataclass
class RunningAirflow:
    base_url: str
    home: Path
    password: str
    process: subprocess.Popen[bytes]
    output: Path

    def api(self, path: str, *, token: str | None = None, body: dict[str, Any] | None = None) -> Any:
        """JSON from the api-server (``path`` below the root), as ``token``'s user when given."""
        method = "GET" if body is None else "POST"
        return request_json(f"{self.base_url}{path}", method=method, token=token, body=body)[1]

    def token(self) -> str:
        answer = self.api("/auth/token", body={"username": launcher.ADMIN_USER, "password": self.password})
        return str(answer["access_token"])


def _wait(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 1.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what}: not within {timeout:.0f}s")


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purposes
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[-1].startswith("Z"))


def _save_logs(home: Path, output: Path) -> None:
    logs = ARTIFACTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    shutil.copy(output, logs / "lockgate-airflow.out")
    for log in (home / "airflow" / "logs" / "components").glob("*.log"):
        shutil.copy(log, logs / log.name)


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAirflow]:
    """``lockgate airflow`` in a fresh LOCKGATE_HOME; stopped with SIGINT, which must stop everything."""
    root = tmp_path_factory.mktemp("browser")
    home = root / "lockgate"
    password = launcher.ensure_admin_password(launcher.passwords_file(home / "airflow"))
    port = free_port()
    # nothing of the test session's own Airflow settings: the command sets up its embedded defaults
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LOCKGATE_"))}
    env |= {"LOCKGATE_HOME": str(home), "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"}
    output = root / "lockgate-airflow.out"
    with open(output, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "lockgate.cli", "airflow", "--port", str(port)],
            env=env,
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = RunningAirflow(f"http://{LOOPBACK}:{port}", home, password, process, output)
    components: list[int] = []
    try:

        def started() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"lockgate airflow exited with {process.returncode}:\n{output.read_text()}")
            return "Airflow is up." in output.read_text()

        _wait("lockgate airflow prints its banner", started, START_TIMEOUT)
        components = _children(process.pid)
        assert len(components) == 4, f"expected 4 components, got {components}"
        yield running
    finally:
        components = components or _children(process.pid)
        process.send_signal(signal.SIGINT)  # what Ctrl-C does
        try:
            code: int | None = process.wait(timeout=launcher.STOP_GRACE_SECONDS + 30)
        except subprocess.TimeoutExpired:
            code = None
            for pid in [*components, process.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
        _save_logs(home, output)
    assert code == 0, f"lockgate airflow did not stop cleanly on Ctrl-C (exit {code}):\n{output.read_text()}"
    assert "Airflow stopped." in output.read_text()
    assert not [pid for pid in components if _alive(pid)], "components still running after Ctrl-C"
    assert not port_open(LOOPBACK, port), "the api-server still listens after Ctrl-C"


# ------------------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
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
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
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


def _the_ui_run(airflow: RunningAirflow, token: str) -> dict[str, Any]:
    def run() -> dict[str, Any] | None:
        runs = airflow.api(f"/api/v2/dags/{DAG_ID}/dagRuns", token=token)["dag_runs"]
        return runs[0] if runs else None

    found = _wait("the run triggered from the UI appears", run, 60)
    return found


def _wait_for_success(airflow: RunningAirflow, token: str, run_id: str) -> dict[str, Any]:
    quoted = urllib.parse.quote(run_id, safe="")

    def finished() -> dict[str, Any] | None:
        run = airflow.api(f"/api/v2/dags/{DAG_ID}/dagRuns/{quoted}", token=token)
        return run if run["state"] in ("success", "failed") else None

    run = _wait(f"run {run_id} finishes", finished, RUN_TIMEOUT, interval=2.0)
    if run["state"] != "success":
        tis = airflow.api(f"/api/v2/dags/{DAG_ID}/dagRuns/{quoted}/taskInstances", token=token)
        states = {ti["task_id"]: ti["state"] for ti in tis["task_instances"]}
        pytest.fail(f"run {run_id} ended {run['state']}: {states}")
    return run


def _cell(frame: Any, dataset: str, field: str) -> Any:
    from selenium.webdriver.common.by import By

    return frame.find_element(By.CSS_SELECTOR, f"#overview td[data-dataset='{dataset}'][data-field='{field}']")


# ----------------------------------------------------------------------------------------- test


def test_trigger_from_the_ui_and_see_the_run_on_the_data_health_page(airflow: RunningAirflow, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    token = airflow.token()

    def parsed() -> bool:
        try:
            return bool(airflow.api(f"/api/v2/dags/{DAG_ID}", token=token)["dag_id"])
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise
            return False

    _wait("the DAG is parsed", parsed, 120)

    _log_in(browser, airflow)
    _trigger_from_ui(browser, airflow)

    run = _the_ui_run(airflow, token)
    assert run["triggered_by"] == "ui", run
    ds = run["logical_date"][:10]
    assert ds == LOGICAL_DATE, f"the run's logical date is {run['logical_date']}"
    run = _wait_for_success(airflow, token, run["dag_run_id"])

    browser.get(f"{airflow.base_url}/dags/{DAG_ID}/runs/{urllib.parse.quote(run['dag_run_id'], safe='')}")
    time.sleep(2)  # let the grid draw its states
    _shot(browser, "04-run-succeeded")

    # what the run wrote to the lake: the truth the page must show
    lake = airflow.home / "lake"
    summary = json.loads((lake / "reports" / DAG_ID / f"ds={ds}" / "summary.json").read_text())
    reports = {
        d["dataset"]: json.loads((lake / "quality" / d["dataset"] / f"ds={ds}" / "report.json").read_text())
        for d in summary["datasets"]
    }
    failing = {(name, c["check"]) for name, r in reports.items() for c in r["checks"] if not c["success"]}
    assert failing, "the sample for 2026-01-02 has a smoke event: at least the readings' max-value warning fails"

    # the page, through the UI's navigation: an iframe at /plugin/data-health
    _clickable(browser, "a[href$='plugin/data-health']").click()
    frame = _visible(browser, "iframe[title='Data health']")
    browser.switch_to.frame(frame)
    try:
        _visible(browser, "#overview")
        for entry in summary["datasets"]:
            name = entry["dataset"]
            assert _cell(browser, name, "latest_ds").get_attribute("data-value") == ds
            for field in ("rows_in", "rows_loaded", "rows_quarantined", "duplicates_removed"):
                shown = _cell(browser, name, field)
                assert int(shown.get_attribute("data-value")) == entry[field], (name, field)
                assert shown.text == f"{entry[field]:,}", (name, field, shown.text)
            rate = float(_cell(browser, name, "quarantine_rate").get_attribute("data-value"))
            assert rate == pytest.approx(entry["rows_quarantined"] / entry["rows_in"], abs=1e-6)
            assert _cell(browser, name, "newest_loaded_ds").get_attribute("data-value") == ds
            lag = (datetime.now(UTC).date() - date.fromisoformat(ds)).days
            badge = browser.find_element(By.CSS_SELECTOR, f"#overview [data-dataset='{name}'][data-field='freshness']")
            assert int(badge.get_attribute("data-value")) == lag
        readings = next(d for d in summary["datasets"] if d["dataset"] == "readings")
        assert _cell(browser, "readings", "rows_loaded").text == f"{readings['rows_loaded']:,}"

        listed = {
            (row.get_attribute("data-dataset"), row.get_attribute("data-check"))
            for row in browser.find_elements(By.CSS_SELECTOR, "#failing-checks tbody tr")
        }
        assert listed == failing
        warned = browser.find_element(
            By.CSS_SELECTOR,
            f"tr[data-dataset='readings'][data-check='expect_column_max_to_be_between(value)'] i.cell[data-ds='{ds}']",
        )
        assert warned.get_attribute("data-outcome") == "warned"
        assert len(browser.find_elements(By.CSS_SELECTOR, "section.dataset svg")) == 2 * len(summary["datasets"])
        # readable in the UI's frame: nothing wider than the frame
        assert browser.execute_script(
            "return document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1"
        )
    finally:
        browser.switch_to.default_content()
    _shot(browser, "05-data-health-in-the-ui")

    # the page on its own, full height, for the artefacts
    browser.get(f"{airflow.base_url}/lockgate/data-health")
    _visible(browser, "#overview")
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1440, min(int(height) + 120, 6000))
    _shot(browser, "06-data-health-page")
    browser.set_window_size(1440, 1000)

    # the same numbers as JSON, for the logged-in user only
    health = airflow.api("/lockgate/data-health.json", token=token)
    loaded = {d["dataset"]: d["latest"]["rows_loaded"] for d in health["datasets"]}
    assert loaded == {d["dataset"]: d["rows_loaded"] for d in summary["datasets"]}
    with pytest.raises(urllib.error.HTTPError) as refused:
        airflow.api("/lockgate/data-health.json")
    assert refused.value.code == 401
