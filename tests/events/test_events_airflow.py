"""Event-driven runs and quality-gated partitions through a real Airflow: scheduler, triggerer,
dag-processor and api-server (``lockgate airflow``, LocalExecutor, started by
:func:`tests.support.airflow_stack.start_airflow` as the browser test starts it),
moto for S3 and SQS, and the machine's Redis.

moto does not deliver S3 notifications to SQS by itself, so the test sends the JSON S3 would send
(``Records[].s3.object.key/eTag``, the ETag moto returned for the upload) to the queue, or publishes
it on the Redis channel.

One Airflow stack for the module, a copy of ``dags/`` with two event-driven pipelines:

* ``epa_events``: ``epa_pm25_aqi`` on an SQS queue (``max_wait: 5``, ``max_files: 20``), its daily
  files ``airdata/daily_pm25_<date>*.csv`` named by events; downstream, the sample
  ``epa_daily_aqi_report`` (``after: epa_county_daily_aqi``, one run per passed partition);
* ``epa_redis``: the same file kind on a Redis pub/sub channel, into its own dataset.

The scenario, in order: a burst of files for two dates (one of them broken) plus a duplicate and
two bad messages is one dispatch and one run per date; the good date's rows arrive once and its
report runs; the broken date fails its gate, emits no partition event and gets no report; a
redelivered message starts nothing; every message is deleted from the queue once its dispatch ran;
replacing the broken file starts a run that passes, and the report for that date (only) follows, as
the UI's partitioned-runs view shows. The Redis pipeline ingests what its channel names; its message
is published from the start, so its run overlaps the SQS scenario's (its own DAGs, dataset and table).
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.airflow_stack import RunningAirflow, start_airflow, wait_for
from tests.support.net import LOOPBACK
from tests.support.requires import unavailable
from tests.support.s3 import aws_conn_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "include" / "samples" / "epa_pm25_aqi" / "airdata"
CONN = "lockgate_events_aws"
REDIS_CONN = "lockgate_events_redis"
GOOD, BROKEN, REDIS_DAY, TRICKLE = "2026-01-02", "2026-01-03", "2026-01-04", "2026-01-06"
RUN_TIMEOUT = 420.0


def _redis_up() -> bool:
    import redis

    try:
        return bool(redis.Redis(host=LOOPBACK, port=6379, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def _pipelines(dags: Path, bucket: str, queue_url: str, channel: str) -> None:
    """dags/yaml_pipelines.py with the sample report and the two event-driven pipelines (nothing
    else: every DAG here is unpaused, and the others would run their schedules)."""
    (dags / "pipelines").mkdir(parents=True)
    shutil.copy(REPO / "dags" / "yaml_pipelines.py", dags)
    shutil.copy(REPO / "dags" / "pipelines" / "epa_daily_aqi_report.yaml", dags / "pipelines")
    raw = yaml.safe_load((REPO / "dags" / "pipelines" / "epa_pm25_aqi.yaml").read_text())
    raw |= {
        "dag_id": "epa_events",
        "schedule": None,
        "retries": 2,
        "retry_delay_minutes": 0.1,
        "connections": {"source_aws": CONN},
    }
    raw["sources"]["location"] = {"url": f"s3://{bucket}/landing"}
    raw["sources"]["files"][0]["path"] = "airdata/daily_pm25_{{ ds }}*.csv"
    raw["trigger"] = {"on": "s3_events", "queue": queue_url, "conn_id": CONN, "max_wait": 5, "max_files": 20}
    raw["trigger"]["poll_seconds"] = 2
    (dags / "pipelines" / "epa_events.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    redis_spec = {
        "dag_id": "epa_redis",
        "description": "PM2.5 daily files named by messages on a Redis channel.",
        "owners": ["air-quality-team"],
        "schedule": None,
        "start_date": "2011-01-01",
        "catchup": False,
        "retries": 2,
        "retry_delay_minutes": 0.1,
        "alerts": {"default": ["webhook:lockgate_alerts"]},
        "connections": {"source_aws": CONN},
        "trigger": {"on": "redis", "channel": channel, "conn_id": REDIS_CONN, "max_wait": 2, "poll_seconds": 1},
        "sources": {
            "location": {"url": f"s3://{bucket}/redis"},
            "files": [{"id": "pm25", "dataset": "epa_pm25_redis", "path": "daily_{{ ds }}*.csv", "format": "csv"}],
        },
        "datasets": {"epa_pm25_redis": {}},
        "loads": [{"dataset": "epa_pm25_redis", "table": "fact_epa_pm25_redis"}],
    }
    (dags / "pipelines" / "epa_redis.yaml").write_text(yaml.safe_dump(redis_spec, sort_keys=False))


def _include(include: Path) -> None:
    """A copy of include/ with the Redis pipeline's contract (epa_pm25_daily's columns under another name)."""
    shutil.copytree(REPO / "include", include)
    contract = yaml.safe_load((include / "contracts" / "epa_pm25_daily.yaml").read_text())
    contract["dataset"] = "epa_pm25_redis"
    (include / "contracts" / "epa_pm25_redis.yaml").write_text(yaml.safe_dump(contract, sort_keys=False))


class Stack:
    """The running Airflow, the bucket, the queue and what the test sends."""

    def __init__(self, airflow: RunningAirflow, bucket: str, queue_url: str, channel: str, url: str) -> None:
        import boto3

        self.airflow = airflow
        self.bucket = bucket
        self.queue_url = queue_url
        self.channel = channel
        self.s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
        self.sqs = boto3.client("sqs", endpoint_url=url, region_name="us-east-1")
        self.token = airflow.token()

    def put(self, key: str, body: bytes) -> dict[str, str]:
        etag = self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)["ETag"].strip('"')
        return {"key": key, "etag": etag}

    def event(self, obj: dict[str, str]) -> str:
        record = {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "eventTime": "2026-01-05T10:00:00.000Z",
            "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": self.bucket}, "object": {"key": obj["key"], "eTag": obj["etag"]}},
        }
        return json.dumps({"Records": [record]})

    def send(self, *bodies: str) -> list[str]:
        """Send each body to the queue; the message ids."""
        return [self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)["MessageId"] for body in bodies]

    def dispatch_of(self, message_id: str) -> dict[str, Any] | None:
        """The finished dispatch run whose triggering batch holds ``message_id`` (None while there is none)."""
        for run in self.runs("epa_events__events"):
            if run["state"] not in ("success", "failed"):
                continue
            quoted = urllib.parse.quote(run["dag_run_id"], safe="")
            path = f"/api/v2/dags/epa_events__events/dagRuns/{quoted}/upstreamAssetEvents"
            for event in self.airflow.api(path, token=self.token)["asset_events"]:
                messages = ((event.get("extra") or {}).get("payload") or {}).get("messages") or []
                if message_id in {m["id"] for m in messages}:
                    return dict(run)
        return None

    def stored(self, message_id: str) -> bool:
        """True once the watcher stored the batch holding ``message_id`` (an event of the pipeline's asset)."""
        path = "/api/v2/assets/events?order_by=-timestamp&limit=50&name_pattern=lockgate.events.epa_events"
        for event in self.airflow.api(path, token=self.token)["asset_events"]:
            messages = ((event.get("extra") or {}).get("payload") or {}).get("messages") or []
            if message_id in {m["id"] for m in messages}:
                return True
        return False

    def partitions(self, dag_id: str) -> list[tuple[str, str | None]]:
        """(partition key, run state) per partition of ``dag_id``, sorted: what the UI's partitioned
        runs view reads (``/ui/partitioned_dag_runs``, pending ones as ``pending``)."""
        found = self.airflow.api(f"/ui/partitioned_dag_runs?dag_id={dag_id}", token=self.token)
        return sorted((r["partition_key"], r["state"]) for r in found["partitioned_dag_runs"])

    def queue_counts(self) -> tuple[int, int]:
        """(visible, in flight) messages of the queue."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        found = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)["Attributes"]
        return int(found[names[0]]), int(found[names[1]])

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.airflow.api(f"/api/v2/dags/{dag_id}/dagRuns?limit=100", token=self.token)["dag_runs"])

    def finished(self, dag_id: str, count: int, timeout: float = RUN_TIMEOUT) -> list[dict[str, Any]]:
        """Wait until ``dag_id`` has at least ``count`` runs, all finished."""

        def done() -> list[dict[str, Any]] | None:
            runs = self.runs(dag_id)
            return runs if len(runs) >= count and all(r["state"] in ("success", "failed") for r in runs) else None

        return wait_for(f"{count} finished run(s) of {dag_id}", done, timeout, interval=1.0)

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        quoted = urllib.parse.quote(run_id, safe="")
        tis = self.airflow.api(f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances", token=self.token)
        return {ti["task_id"]: ti["state"] for ti in tis["task_instances"]}

    def quiesce(self, timeout: float = 60.0) -> None:
        """Pause the watchers' DAGs and wait until no task runs: a stop with a task running waits for
        it (the LocalExecutor's end), and a dispatch waits for the runs it started, which a stopping
        scheduler no longer schedules; the launcher then kills the stack after its 30 s grace."""
        from tests.support.net import request_json

        for dag_id in ("epa_events__events", "epa_redis__events"):
            url = f"{self.airflow.base_url}/api/v2/dags/{dag_id}"
            request_json(url, method="PATCH", token=self.token, body={"is_paused": True})

        def idle() -> bool:
            path = "/api/v2/dags/~/dagRuns/~/taskInstances?state=running&state=queued&limit=1"
            return self.airflow.api(path, token=self.token)["total_entries"] == 0

        try:
            wait_for("no task instance running", idle, timeout, interval=0.5)
        except TimeoutError as exc:  # the stop still ends it (after the grace): only slower
            print(f"\nevents test: {exc}")

    def warehouse(self, sql: str) -> list[tuple[Any, ...]]:
        import duckdb

        con = duckdb.connect(str(self.airflow.home / "warehouse.duckdb"), read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, moto_server: str) -> Iterator[Stack]:
    """``lockgate airflow`` on a copy of dags/ with the event pipelines; SIGINT stops it."""
    import boto3

    if not _redis_up():
        unavailable("no Redis at 127.0.0.1:6379", "apt-get install redis-server")
    root = tmp_path_factory.mktemp("events")
    bucket, channel = f"events-{uuid.uuid4().hex[:8]}", f"lockgate-events-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1").create_bucket(Bucket=bucket)
    queue_url = boto3.client("sqs", endpoint_url=moto_server, region_name="us-east-1").create_queue(
        QueueName=f"landing-{uuid.uuid4().hex[:8]}"
    )["QueueUrl"]
    _pipelines(root / "dags", bucket, queue_url, channel)
    _include(root / "include")
    env = aws_conn_env(moto_server, CONN) | {
        "LOCKGATE_INCLUDE_DIR": str(root / "include"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        # the watchers are registered for unpaused DAGs only; nothing here is scheduled by time
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        f"AIRFLOW_CONN_{REDIS_CONN.upper()}": json.dumps({"conn_type": "redis", "host": LOOPBACK, "port": 6379}),
    }
    running = start_airflow(root, env)
    try:
        yield (stack := Stack(running, bucket, queue_url, channel, moto_server))
        stack.quiesce()
    finally:
        running.stop()
        print(f"\nevents test: Airflow logs under {running.home / 'airflow' / 'logs'}")
    assert not running.leftovers(), "components still running after Ctrl-C"


def _csv(day: str, rows: list[str]) -> bytes:
    header = "date,site_id,poc,daily_mean_pm25,units,daily_obs_count,percent_complete\n"
    y, m, d = day.split("-")
    when = f"{int(m)}/{int(d)}/{y[2:]}"
    return (header + "".join(f"{when},{row}\n" for row in rows)).encode()


SAMPLE_ROWS = [line.split(",", 1)[1] for line in (SAMPLE / f"daily_pm25_{GOOD}.csv").read_text().splitlines()[1:]]
#: a file without the daily_mean_pm25 column: the gate fails the date
BROKEN_FILE = b"date,site_id,poc,units\n1/3/26,060370002,1,ug/m3 LC\n"


@pytest.fixture(scope="module")
def redis_message(stack: Stack) -> Iterator[dict[str, Any]]:
    """The Redis pipeline's file, published on its channel (in a thread) until the watcher hears it.

    Started before the burst: the Redis pipeline's run overlaps the SQS scenario's instead of following it.
    """
    import redis

    obj = stack.put(f"redis/daily_{REDIS_DAY}-a.csv", _csv(REDIS_DAY, SAMPLE_ROWS))
    client = redis.Redis(host=LOOPBACK, port=6379)
    stop = threading.Event()

    def publish() -> None:
        # pub/sub keeps nothing for a subscriber that is not there yet: publish until the watcher hears it
        # (each repeat is the same object and ETag: the ledger ingests it once)
        deadline = time.monotonic() + 180
        while not stop.is_set() and not stack.runs("epa_redis__events") and time.monotonic() < deadline:
            client.publish(stack.channel, stack.event(obj))
            stop.wait(2)

    publisher = threading.Thread(target=publish, name="redis-publisher", daemon=True)
    publisher.start()
    try:
        yield {"object": obj, "publisher": publisher}
    finally:
        stop.set()
        publisher.join(30)


@pytest.fixture(scope="module")
def burst(stack: Stack, redis_message: dict[str, Any]) -> dict[str, Any]:
    """A burst: 3 files of one date, 1 broken file of another, a duplicate and 2 bad messages."""
    stack.put("landing/airdata/sites.csv", (SAMPLE / "sites.csv").read_bytes())
    files = [
        stack.put(f"landing/airdata/daily_pm25_{GOOD}-{i}.csv", _csv(GOOD, rows))
        for i, rows in enumerate([SAMPLE_ROWS[:2], SAMPLE_ROWS[2:3], SAMPLE_ROWS[3:]])
    ]
    broken = stack.put(f"landing/airdata/daily_pm25_{BROKEN}.csv", BROKEN_FILE)
    outside = stack.put("landing/elsewhere/x.csv", b"a\n1\n")
    # SQS keeps the messages until the watcher, once registered, receives them: one batch (max_wait 5 s)
    stack.send(*(stack.event(f) for f in files), stack.event(broken), stack.event(files[0]))
    stack.send("this is not JSON", stack.event(outside))
    pipeline = stack.finished("epa_events", 2)
    return {"files": files, "broken": broken, "pipeline": pipeline}


def test_a_burst_is_one_dispatch_and_one_run_per_date(stack: Stack, burst: dict[str, Any]) -> None:
    dispatches = stack.finished("epa_events__events", 1)
    assert len(dispatches) == 1, [r["dag_run_id"] for r in dispatches]  # 7 messages, one batch
    assert dispatches[0]["state"] == "success"  # the bad messages are logged and skipped, not fatal
    by_date = {r["logical_date"][:10]: r for r in burst["pipeline"]}
    assert set(by_date) == {GOOD, BROKEN}
    objects = by_date[GOOD]["conf"]["lockgate_events"]["airdata_pm25"]
    assert sorted(o["key"] for o in objects) == sorted(f["key"] for f in burst["files"])  # the duplicate once
    assert by_date[GOOD]["state"] == "success", stack.task_states("epa_events", by_date[GOOD]["dag_run_id"])


def test_the_good_dates_rows_arrive_once_and_its_report_runs(stack: Stack, burst: dict[str, Any]) -> None:
    (count,) = stack.warehouse(f"SELECT count(*) FROM fact_epa_pm25_daily WHERE date = DATE '{GOOD}'")[0]
    assert count == len(SAMPLE_ROWS)
    reports = stack.finished("epa_daily_aqi_report", 1)
    assert [(r["partition_key"], r["state"]) for r in reports] == [(GOOD, "success")]
    rows = stack.warehouse("SELECT count(*) FROM rpt_epa_state_daily_aqi")
    assert rows[0][0] > 0


def test_a_failed_date_emits_no_partition_and_gets_no_report(stack: Stack, burst: dict[str, Any]) -> None:
    failed = next(r for r in burst["pipeline"] if r["logical_date"][:10] == BROKEN)
    assert failed["state"] == "failed"
    states = stack.task_states("epa_events", failed["dag_run_id"])
    assert states["gate_epa_pm25_daily"] == "failed"
    assert states["load_agg_epa_county_daily_aqi"] != "success"
    assert [r["partition_key"] for r in stack.runs("epa_daily_aqi_report")] == [GOOD]
    # nor a pending partition in the UI's partitioned-runs view: nothing arrived for the date
    assert [key for key, _ in stack.partitions("epa_daily_aqi_report")] == [GOOD]


def test_a_redelivered_message_starts_nothing(stack: Stack, burst: dict[str, Any]) -> None:
    (message_id,) = stack.send(stack.event(burst["files"][1]))
    # the dispatch that took it, finished: it found the object in the date's ledger
    dispatch = wait_for("the dispatch of the redelivered message", lambda: stack.dispatch_of(message_id), RUN_TIMEOUT)
    states = stack.task_states("epa_events__events", dispatch["dag_run_id"])
    assert dispatch["state"] == "success", states
    assert states == {"dispatch_events": "success"}
    assert len(stack.runs("epa_events")) == 2  # it started none
    (count,) = stack.warehouse(f"SELECT count(*) FROM fact_epa_pm25_daily WHERE date = DATE '{GOOD}'")[0]
    assert count == len(SAMPLE_ROWS)


def test_every_message_is_deleted_once_its_dispatch_ran(stack: Stack, burst: dict[str, Any]) -> None:
    # the burst's dispatch deleted its batch (bad messages too) after starting the runs: nothing left
    assert wait_for("an empty queue", lambda: stack.queue_counts() == (0, 0), 60)


def test_fixing_the_broken_date_reruns_it_and_its_report_follows(stack: Stack, burst: dict[str, Any]) -> None:
    fixed = stack.put(burst["broken"]["key"], _csv(BROKEN, SAMPLE_ROWS))  # same key, new ETag
    stack.send(stack.event(fixed))
    runs = stack.finished("epa_events", 3)
    first = {r["dag_run_id"] for r in burst["pipeline"]}
    (rerun,) = [r for r in runs if r["dag_run_id"] not in first]
    assert rerun["logical_date"][:10] == BROKEN
    assert rerun["state"] == "success", stack.task_states("epa_events", rerun["dag_run_id"])
    assert rerun["conf"]["lockgate_events"]["airdata_pm25"][0]["etag"] == fixed["etag"]
    reports = stack.finished("epa_daily_aqi_report", 2)
    assert sorted((r["partition_key"], r["state"]) for r in reports) == [(GOOD, "success"), (BROKEN, "success")]
    (count,) = stack.warehouse(f"SELECT count(*) FROM fact_epa_pm25_daily WHERE date = DATE '{BROKEN}'")[0]
    assert count == len(SAMPLE_ROWS)
    # the UI's partitioned-runs view: one run per partition that passed, each with its run
    assert stack.partitions("epa_daily_aqi_report") == [(GOOD, "success"), (BROKEN, "success")]


def test_files_landing_during_a_dispatch_are_loaded_without_a_later_message(
    stack: Stack, burst: dict[str, Any]
) -> None:
    """The case Airflow alone strands: while a dispatch runs, the next batch (b) queues the next dispatch
    run, and a batch stored after it (c) is not that run's (its events end at b's); nothing comes after."""
    key = f"landing/airdata/daily_pm25_{TRICKLE}"
    before = {r["dag_run_id"] for r in stack.runs("epa_events")}
    first = stack.put(f"{key}-a.csv", _csv(TRICKLE, SAMPLE_ROWS[:2]))
    stack.send(stack.event(first))

    def running() -> list[dict[str, Any]]:
        return [r for r in stack.runs("epa_events__events") if r["state"] == "running"]

    wait_for(
        "a dispatch of the first file",
        lambda: [r for r in stack.runs("epa_events") if r["dag_run_id"] not in before],
        RUN_TIMEOUT,
    )
    assert len(running()) == 1  # the dispatch runs on: it waits for the run it started
    later = [
        stack.put(f"{key}-{name}.csv", _csv(TRICKLE, rows))
        for name, rows in (("b", SAMPLE_ROWS[2:3]), ("c", SAMPLE_ROWS[3:]))
    ]
    (b_message,) = stack.send(stack.event(later[0]))
    # b's batch is stored (max_wait 5) before c's message is sent: c is a batch of its own
    wait_for("the batch of b's message", lambda: stack.stored(b_message), 60, interval=0.5)
    stack.send(stack.event(later[1]))

    keys = {first["key"], *(f["key"] for f in later)}

    def loaded() -> list[dict[str, Any]] | None:
        runs = [r for r in stack.runs("epa_events") if r["dag_run_id"] not in before]
        named = {o["key"] for r in runs for o in r["conf"]["lockgate_events"]["airdata_pm25"]}
        finished = all(r["state"] in ("success", "failed") for r in runs)
        return runs if finished and named == keys else None

    # no message after c's: its run comes all the same
    runs = wait_for(f"runs naming every file of {TRICKLE}", loaded, RUN_TIMEOUT)
    assert all(r["state"] == "success" for r in runs), [(r["dag_run_id"], r["state"]) for r in runs]
    # b and c came while the dispatch ran: it took them (Airflow's next dispatch run would have had b only)
    assert len(runs) in (2, 3), [r["conf"] for r in runs]
    assert wait_for("an empty queue", lambda: stack.queue_counts() == (0, 0), 60)
    (count,) = stack.warehouse(f"SELECT count(*) FROM fact_epa_pm25_daily WHERE date = DATE '{TRICKLE}'")[0]
    assert count == len(SAMPLE_ROWS)  # each row once


def test_redis_messages_start_runs_too(stack: Stack, redis_message: dict[str, Any]) -> None:
    redis_message["publisher"].join(200)  # it publishes until the watcher hears it (180 s at most)
    assert stack.runs("epa_redis__events"), "the Redis watcher heard nothing"
    runs = stack.finished("epa_redis", 1)
    assert runs[0]["state"] == "success", stack.task_states("epa_redis", runs[0]["dag_run_id"])
    (count,) = stack.warehouse(f"SELECT count(*) FROM fact_epa_pm25_redis WHERE date = DATE '{REDIS_DAY}'")[0]
    assert count == len(SAMPLE_ROWS)
