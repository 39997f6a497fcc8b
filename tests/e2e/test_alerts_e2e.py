"""Alerts and metrics of air_quality_daily end to end, through Airflow's own ``dag.test()``.

One module fixture runs the flagship DAG twice with every alert channel pointed at a real local
receiver -- the webhook and Slack at HTTP servers, email at an aiosmtpd server -- and StatsD at a
UDP listener, with known secrets in every connection:

* day 1 succeeds (with a data-quality warning);
* day 2 fails in the quality gate (the partner file lost its unit column), while the Slack
  webhook is unreachable (its token is in the URL the Slack SDK logs).

The tests then check what arrived: exactly one run summary per run with the pipeline's numbers,
the failure alerts, the metrics, the late-batch deadline, and that no secret is anywhere.
"""

from __future__ import annotations

import base64
import csv
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from lockgate.cli import run_dag
from lockgate.hooks.lake import LakeHook
from lockgate.sample_data import generate
from tests.support.http_recorder import RecordedRequest, RecordingHTTPServer
from tests.support.net import free_port
from tests.unit.notifiers.servers import ReceivedMail, SmtpRecorder, UdpRecorder

pytestmark = pytest.mark.integration

DAG_ID = "air_quality_daily"
DAY_1, DAY_2 = "2026-01-02", "2026-01-03"
BASE_URL = "https://airflow.pollutrack.example"

WEBHOOK_PASSWORD = "whk-pass-7Qe9!secret"
WEBHOOK_HEADER_TOKEN = "hdr-token-31f0c2aa"
SLACK_TOKEN = "slk-Xy7pQ2sEcReT9"  # the last part of the webhook URL, like Slack's
SMTP_PASSWORD = "smtp-pw-K3y!4lerts"
SECRETS = (WEBHOOK_PASSWORD, WEBHOOK_HEADER_TOKEN, SLACK_TOKEN, SMTP_PASSWORD)
SMTP_LOGIN = "lockgate-alerts"


@dataclass
class Run:
    state: str
    webhook: list[dict[str, Any]] = field(default_factory=list)
    slack: list[dict[str, Any]] = field(default_factory=list)
    mails: list[ReceivedMail] = field(default_factory=list)


@dataclass
class Runs:
    day_1: Run
    day_2: Run
    requests: list[RecordedRequest]  # everything the HTTP receivers got, both runs
    mails: list[ReceivedMail]
    smtp_logins: list[str]
    statsd: UdpRecorder
    logs: str  # every log record and everything written to stdout/stderr during the runs
    webhook: RecordingHTTPServer
    slack: RecordingHTTPServer
    smtp: SmtpRecorder
    home: Path
    tmp: Path


def expected_counts(ds: str, tmp: Path) -> dict[str, int]:
    """What the gate must find in the generated sample, from the generator's own counts."""
    batch = generate(ds, tmp / f"expected-{ds}")
    sources = (batch.gateway, batch.partner)
    return {
        "gateway_rows": batch.gateway.rows,
        "partner_rows": batch.partner.rows,
        "rows_in": sum(s.rows for s in sources),
        "rows_quarantined": sum(s.malformed + s.missing_values + s.out_of_range + s.non_numeric for s in sources),
        "duplicates_removed": sum(s.duplicates for s in sources),
        "rows_loaded": sum(s.clean_rows for s in sources),
        "stations": batch.station_count,
    }


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()} {json.dumps(record.__dict__, default=str)}")


def _broken_sources(ds: str, tmp: Path) -> Path:
    """Day 2's sample with the partner file's last column (unit) dropped: the gate fails."""
    sources = tmp / "broken-sources"
    generate(ds, sources)
    partner = sources / "partner" / f"readings_{ds}.csv"
    with partner.open(newline="") as fh:
        rows = [row[:-1] for row in csv.reader(fh)]
    with partner.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return sources


def _connections(webhook: int, slack: int, smtp: int) -> dict[str, str]:
    return {
        "AIRFLOW_CONN_LOCKGATE_ALERTS": json.dumps(
            {
                "conn_type": "http",
                "host": "127.0.0.1",
                "port": webhook,
                "schema": "http",
                "login": "lockgate",
                "password": WEBHOOK_PASSWORD,
                "extra": {"X-Alert-Token": WEBHOOK_HEADER_TOKEN},
            }
        ),
        "AIRFLOW_CONN_LOCKGATE_SLACK": json.dumps(
            {
                "conn_type": "slackwebhook",
                "host": f"http://127.0.0.1:{slack}/services",
                "password": f"T0LOCK/B0GATE/{SLACK_TOKEN}",
            }
        ),
        "AIRFLOW_CONN_LOCKGATE_SMTP": json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": smtp,
                "login": SMTP_LOGIN,
                "password": SMTP_PASSWORD,
                "extra": {
                    "from_email": "lockgate@pollutrack.example",
                    "disable_ssl": True,
                    "disable_tls": True,
                    "timeout": 5,
                    "retry_limit": 0,
                },
            }
        ),
    }


@pytest.fixture(scope="module")
def runs(airflow_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    from airflow.sdk.observability import stats
    from airflow.sdk.observability.metrics import stats_utils

    tmp = tmp_path_factory.mktemp("alerts-e2e")
    home = tmp / "home"
    home.mkdir()
    capture = _Capture()
    root = logging.getLogger()
    try:
        with (
            RecordingHTTPServer() as webhook,
            RecordingHTTPServer() as slack,
            SmtpRecorder(users={SMTP_LOGIN: SMTP_PASSWORD}) as smtp,
            UdpRecorder() as statsd,
            pytest.MonkeyPatch.context() as mp,
            tempfile.TemporaryFile() as out,
        ):
            mp.setenv("LOCKGATE_HOME", str(home))
            mp.setenv("AIRFLOW__API__BASE_URL", BASE_URL)
            for name, value in _connections(webhook.port, slack.port, smtp.port).items():
                mp.setenv(name, value)
            mp.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
            mp.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
            mp.setenv("AIRFLOW__METRICS__STATSD_PORT", str(statsd.port))
            mp.setenv("AIRFLOW__METRICS__STATSD_PREFIX", "airflow")
            # what a worker does at start-up (task_runner.main): metrics from the [metrics] settings
            stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=False)

            # everything written to stdout/stderr (Airflow's structlog output included) and every log record
            saved = [os.dup(1), os.dup(2)]
            os.dup2(out.fileno(), 1)
            os.dup2(out.fileno(), 2)
            root.addHandler(capture)
            try:
                state_1 = run_dag(DAG_ID, DAY_1)
                day_1 = _split(state_1, webhook, slack, smtp)
                mark = (len(webhook.requests), len(slack.requests), len(smtp.messages))

                mp.setenv("AIRFLOW_VAR_POLLUTRACK_SOURCE_URL", str(_broken_sources(DAY_2, tmp)))
                mp.setenv(
                    "AIRFLOW_CONN_LOCKGATE_SLACK",
                    json.dumps(
                        {
                            "conn_type": "slackwebhook",
                            "host": f"http://127.0.0.1:{free_port()}/services",  # nobody listens there
                            "password": f"T0LOCK/B0GATE/{SLACK_TOKEN}",
                        }
                    ),
                )
                state_2 = run_dag(DAG_ID, DAY_2)
                day_2 = _split(state_2, webhook, slack, smtp, mark)
                mp.setenv(
                    "AIRFLOW_CONN_LOCKGATE_SLACK",
                    _connections(webhook.port, slack.port, smtp.port)["AIRFLOW_CONN_LOCKGATE_SLACK"],
                )
            finally:
                root.removeHandler(capture)
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                for fd in saved:
                    os.close(fd)
            out.seek(0)
            printed = out.read().decode("utf-8", "replace")
            statsd.wait_for(lambda: any(".load_agg_air_quality_daily." in line for line in statsd.lines))
            yield Runs(
                day_1=day_1,
                day_2=day_2,
                requests=list(webhook.requests) + list(slack.requests),
                mails=list(smtp.messages),
                smtp_logins=list(smtp.logins),
                statsd=statsd,
                logs=printed + "\n".join(capture.lines),
                webhook=webhook,
                slack=slack,
                smtp=smtp,
                home=home,
                tmp=tmp,
            )
    finally:
        # the receivers are stopped and the environment restored: Airflow's metrics as configured again
        stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=False)


def _split(
    state: str,
    webhook: RecordingHTTPServer,
    slack: RecordingHTTPServer,
    smtp: SmtpRecorder,
    mark: tuple[int, int, int] = (0, 0, 0),
) -> Run:
    return Run(
        state=state,
        webhook=[r.json() for r in webhook.requests[mark[0] :]],
        slack=[r.json() for r in slack.requests[mark[1] :]],
        mails=list(smtp.messages[mark[2] :]),
    )


def _events(bodies: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [b for b in bodies if b["event"] == event]


def _slack(run: Run, title: str) -> list[str]:
    return [b["text"] for b in run.slack if b["text"].startswith(f"*{title}:")]


def _mails(run: Run, title: str) -> list[ReceivedMail]:
    return [m for m in run.mails if str(m.message["Subject"]).startswith(f"[lockgate] {title}:")]


def _run_url(run_id: str) -> str:
    return f"{BASE_URL}/dags/{DAG_ID}/runs/{quote(run_id)}"


# ------------------------------------------------------------------------------------- run summary


def test_a_successful_run_sends_one_summary_with_its_numbers(runs: Runs) -> None:
    run = runs.day_1
    assert run.state == "success"
    expected = expected_counts(DAY_1, runs.tmp)

    [summary] = _events(run.webhook, "run_summary")
    lake_summary = LakeHook().read_json(f"reports/{DAG_ID}/ds={DAY_1}/summary.json")
    assert summary["run_id"] == lake_summary["run_id"]
    assert summary["task_id"] is None
    assert summary["url"] == _run_url(summary["run_id"])
    details = summary["details"]
    assert details["state"] == "success"
    assert details["source"] == "summary.json"
    assert details["loaded"] == {
        "dim_station": expected["stations"],
        "fact_air_quality_hourly": expected["rows_loaded"],
        "agg_air_quality_daily": expected["stations"],
    }
    assert details["quarantined"] == {
        "stations": 0,
        "readings": expected["rows_quarantined"],
        "agg_air_quality_daily": 0,
    }
    assert details["totals"] == {
        "rows_loaded": expected["rows_loaded"] + 2 * expected["stations"],
        "rows_quarantined": expected["rows_quarantined"],
        "duplicates_removed": expected["duplicates_removed"],
    }
    assert details["failed_tasks"] == []
    assert details["not_run_tasks"] == []
    assert details["warnings"] == ["readings: expect_column_max_to_be_between(value)"]
    assert details["datasets"] == lake_summary["datasets"]
    message = summary["message"]
    assert message.startswith(f"{DAG_ID} ds={DAY_1} succeeded\n")
    assert f"fact_air_quality_hourly {expected['rows_loaded']:,}" in message
    assert f"Quarantined: {expected['rows_quarantined']:,} rows (readings {expected['rows_quarantined']:,})" in message
    assert "Failed: nothing" in message
    assert f"Run: {_run_url(summary['run_id'])}" in message

    # the same one message through Slack and email
    [text] = _slack(run, "Run summary")
    assert f"fact_air_quality_hourly {expected['rows_loaded']:,}" in text
    assert f"<{_run_url(summary['run_id'])}|Open in Airflow>" in text
    [mail] = _mails(run, "Run summary")
    assert mail.rcpt_tos == ["air-quality-team@pollutrack.example"]
    assert mail.message["X-Lockgate-Event"] == "run_summary"
    assert f"fact_air_quality_hourly {expected['rows_loaded']:,}" in mail.html
    assert f"href='{_run_url(summary['run_id'])}'" in mail.html

    # one summary, not one message per task: the only other alert of the day is the DQ warning
    assert sorted(b["event"] for b in run.webhook) == ["dq_warning", "run_summary"]
    assert len(run.slack) == len(run.mails) == 1


def test_a_failed_run_sends_one_summary_from_the_task_states(runs: Runs) -> None:
    run = runs.day_2
    assert run.state == "failed"
    [summary] = _events(run.webhook, "run_summary")
    details = summary["details"]
    assert details["state"] == "failed"
    assert details["reason"] == "task_failure"
    assert details["source"] == "task results"  # the run never reached its summary step
    assert details["failed_tasks"] == ["gate_readings"]
    assert details["not_run_tasks"] == [
        "compute_daily_aqi",
        "gate_daily_aqi",
        "load_agg_air_quality_daily",
        "load_fact_air_quality_hourly",
        "notify_unhealthy_stations",
        "partition_daily_aqi",
        "partition_readings",
        "summarize",
    ]
    # the stations branch had finished: its load is what this run loaded
    assert details["loaded"] == {"dim_station": 50}
    assert details["quarantined"] == {"gate_stations": 0}
    assert details["tasks"]["gate_readings"] == {"state": "failed"}
    assert details["tasks"]["load_dim_station"]["rows_out"] == 50
    message = summary["message"]
    assert message.startswith(f"{DAG_ID} ds={DAY_2} FAILED (task_failure)\n")
    assert "Loaded: 50 rows (dim_station 50)" in message
    assert "Failed: gate_readings" in message
    [mail] = _mails(run, "Run summary")
    assert "Failed: gate_readings" in mail.html


def test_a_task_failure_reaches_every_channel(runs: Runs) -> None:
    run = runs.day_2
    [failure] = _events(run.webhook, "task_failure")
    assert failure["task_id"] == "gate_readings"
    assert "missing column" in failure["details"]["exception"]
    assert failure["url"] == f"{_run_url(failure['run_id'])}/tasks/gate_readings"
    [mail] = _mails(run, "Task failed")
    assert mail.rcpt_tos == ["air-quality-oncall@pollutrack.example"]
    assert "missing column" in mail.html
    # Slack was unreachable on day 2: tried, logged, and the run went on to its summary
    assert run.slack == []
    assert "lockgate alert slack task_failure for air_quality_daily.gate_readings not delivered" in runs.logs


# --------------------------------------------------------------------------------------- secrets


def test_no_secret_in_any_message_or_log(runs: Runs) -> None:
    # the secrets were really used: basic auth and header to the webhook, token in the Slack URL, SMTP AUTH
    webhook_requests = [r for r in runs.requests if r.headers.get("Authorization")]
    assert webhook_requests
    assert all(
        base64.b64decode(r.headers["Authorization"].split()[1]).decode() == f"lockgate:{WEBHOOK_PASSWORD}"
        and r.headers["X-Alert-Token"] == WEBHOOK_HEADER_TOKEN
        for r in webhook_requests
    )
    slack_paths = {r.path for r in runs.requests if not r.headers.get("Authorization")}
    assert slack_paths == {f"/services/T0LOCK/B0GATE/{SLACK_TOKEN}"}
    assert runs.smtp_logins
    assert set(runs.smtp_logins) == {SMTP_LOGIN}
    assert len(runs.mails) == 3  # day 1: run summary; day 2: task failure, run summary

    # ...and appear in no message and no log line
    assert len(runs.requests) == 5  # day 1: DQ warning, summary (webhook), summary (Slack); day 2: failure, summary
    for secret in SECRETS:
        for request in runs.requests:
            assert secret not in request.body.decode(), f"secret in the body of {request.path}"
        for mail in runs.mails:
            assert secret not in mail.data.decode("utf-8", "replace"), "secret in an email"
        assert secret not in runs.logs, "secret in the logs"
    # the logs did cover the failed deliveries to the unreachable Slack webhook
    assert "not delivered to connection 'lockgate_slack' after 3 attempt(s): URLError" in runs.logs


# --------------------------------------------------------------------------------------- metrics


def test_task_metrics_reach_statsd_xcom_and_the_summary(runs: Runs) -> None:
    expected = expected_counts(DAY_1, runs.tmp)
    prefix = f"airflow.lockgate.{DAG_ID}."
    received = runs.statsd.metrics(prefix)

    def one(task: str, metric: str, kind: str) -> float:
        # day 1 and day 2 both ran the stations branch: take the first (day 1) value
        values = [v for v, k in received[f"{prefix}{task}.{metric}"] if k == kind]
        assert values, f"no {metric} for {task}"
        return values[0]

    raw = Path(runs.home) / "sources"
    gateway_bytes = (raw / "gateway" / f"readings_{DAY_1}.ndjson").stat().st_size
    assert one("ingest_gateway", "rows_in", "c") == expected["gateway_rows"]
    assert one("ingest_gateway", "bytes", "c") == gateway_bytes
    assert one("ingest_partner", "rows_out", "c") == expected["partner_rows"]
    assert one("gate_readings", "rows_in", "c") == expected["rows_in"]
    assert one("gate_readings", "rows_quarantined", "c") == expected["rows_quarantined"]
    assert one("gate_readings", "rows_out", "c") == (
        expected["rows_in"] - expected["rows_quarantined"] - expected["duplicates_removed"]
    )
    assert one("load_fact_air_quality_hourly", "rows_out", "c") == expected["rows_loaded"]
    assert one("load_dim_station", "rows_out", "c") == expected["stations"]
    duration_ms = one("gate_readings", "duration", "ms")
    assert 0 < duration_ms < 120_000
    rate = one("gate_readings", "rows_per_second", "g")
    assert rate == pytest.approx(one("gate_readings", "rows_out", "c") / (duration_ms / 1000), rel=0.05)

    # kept in XCom (the task's return value) and so in the run summary's details
    [summary] = _events(runs.day_1.webhook, "run_summary")
    gate = summary["details"]["tasks"]["gate_readings"]
    assert gate["state"] == "success"
    assert gate["rows_quarantined"] == expected["rows_quarantined"]
    assert gate["rows_out"] == one("gate_readings", "rows_out", "c")
    assert gate["duration_s"] == pytest.approx(duration_ms / 1000, abs=0.002)
    # a mapped task (one instance per source file; one file that day) is one entry, its instances summed
    ingest_gateway = summary["details"]["tasks"]["ingest_gateway"]
    assert (ingest_gateway["state"], ingest_gateway["mapped"]) == ("success", 1)
    assert ingest_gateway["bytes"] == gateway_bytes
    assert not [t for t in summary["details"]["tasks"] if t.startswith("ingest_gateway_")]


# ------------------------------------------------------------------------------------ late batch


def test_late_batch_deadline_is_declared_and_its_callback_alerts(runs: Runs) -> None:
    """Airflow created the run's deadline (logical date + 30 h) from the DAG's DeadlineAlert.

    Firing it needs the scheduler (it notices the missed deadline and queues the callback for the
    triggerer).  Here the same two steps run by hand: ``Deadline.handle_miss`` (Airflow's own code,
    which builds the callback's context) and Airflow's ``CallbackTrigger`` (what the triggerer
    runs).  tests/browser/test_data_health.py fires it through a real scheduler and triggerer.
    """
    import asyncio

    from airflow.models.dagrun import DagRun
    from airflow.models.deadline import Deadline
    from airflow.triggers.callback import CallbackTrigger
    from airflow.utils.session import create_session
    from sqlalchemy import select

    [summary] = _events(runs.day_1.webhook, "run_summary")
    run_id = summary["run_id"]
    before = len(runs.webhook.requests), len(runs.smtp.messages), len(runs.slack.requests)
    with create_session() as session:
        dag_run = session.scalars(select(DagRun).where(DagRun.dag_id == DAG_ID, DagRun.run_id == run_id)).one()
        [deadline] = session.scalars(select(Deadline).where(Deadline.dagrun_id == dag_run.id)).all()
        assert deadline.deadline_time == dag_run.logical_date + timedelta(hours=30)
        assert not deadline.missed  # the run finished after the deadline: the scheduler would fire it

        deadline.handle_miss(session)
        data = dict(deadline.callback.data)  # the triggerer gets the kwargs with their datetimes
        session.rollback()
    assert data["path"] == "lockgate.alerts.notify_late_batch_async"

    async def fire() -> list[dict[str, Any]]:
        return [event.payload async for event in CallbackTrigger(data["path"], dict(data["kwargs"])).run()]

    events = asyncio.run(fire())
    assert [e["state"] for e in events] == ["running", "success"], events
    assert events[-1]["body"] == 3  # webhook, slack and email accepted it

    [late] = [r.json() for r in runs.webhook.requests[before[0] :]]
    assert late["event"] == "late_batch"
    assert late["run_id"] == run_id
    assert late["message"] == (
        f"{DAG_ID}: the data for {DAY_1} was not loaded by 2026-01-03 06:00 UTC; run {run_id} succeeded, after the"
        " deadline."
    )
    assert late["details"]["deadline"].startswith("2026-01-03T06:00:00")
    assert late["url"] == _run_url(run_id)
    [mail] = runs.smtp.messages[before[1] :]
    assert str(mail.message["Subject"]) == f"[lockgate] Late batch: {DAG_ID} ({DAY_1})"
    [slack] = runs.slack.requests[before[2] :]
    assert slack.json()["text"].startswith(f"*Late batch: {DAG_ID} ({DAY_1})*")
    assert mail.rcpt_tos == ["air-quality-oncall@pollutrack.example"]
