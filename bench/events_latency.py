"""Object-in-S3 to rows-in-the-warehouse latency of an event-driven pipeline (issue 19: <= 60 s).

    python -m bench.events_latency [--files 100] [--every 2.0] [--max-wait 5] [--poll 2]
                                   [--airflow-defaults] [--breakdown]

Starts a moto server (S3 + SQS) and ``lockgate airflow`` (api-server, scheduler with the
LocalExecutor, dag-processor, triggerer on the embedded defaults; the test stack's loop intervals,
:data:`tests.support.airflow_stack.FAST_LOOP_ENV`, unless ``--airflow-defaults``) on a DAGs folder holding one
event-driven pipeline: ``epa_pm25_daily`` files named by S3 event notifications on an SQS queue
(moto does not deliver S3 notifications itself: the bench sends the JSON S3 would send). It lands
``--files`` small files of one date, one every ``--every`` seconds, and for each file takes

    latency = end of the run's load task (its rows committed) - the moment the file landed

from the Airflow REST API (each run's ``conf`` names its objects). Prints one JSON line: p50, p95,
max, runs and dispatches (how the files were batched), the load average; with ``--breakdown``, the
same percentiles per stage (batching + triggerer, the dispatch taking the event and holding it while
the pipeline's run in progress works, scheduler -> run start, the run) and each task's median
duration. Not part of ``make test``: it takes ``files x every`` seconds plus start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
CONN = "lockgate_bench_aws"
DAY = "2026-01-02"
DAG_ID = "epa_bench_events"


def _spec(bucket: str, queue_url: str, max_wait: float, poll: float) -> dict[str, Any]:
    return {
        "dag_id": DAG_ID,
        "description": "Latency bench: PM2.5 files named by S3 events on SQS.",
        "owners": ["bench"],
        "schedule": None,
        "start_date": "2011-01-01",
        "catchup": False,
        "retries": 2,
        "retry_delay_minutes": 0.1,
        "summary": False,
        "alerts": {"default": ["webhook:lockgate_alerts"]},
        "connections": {"source_aws": CONN},
        "trigger": {"on": "s3_events", "queue": queue_url, "conn_id": CONN, "max_wait": max_wait, "poll_seconds": poll},
        "sources": {
            "location": {"url": f"s3://{bucket}/landing"},
            "files": [{"id": "pm25", "dataset": "epa_pm25_daily", "path": "daily_pm25_{{ ds }}*.csv", "format": "csv"}],
        },
        "datasets": {"epa_pm25_daily": {}},
        "loads": [{"dataset": "epa_pm25_daily", "table": "fact_epa_pm25_daily"}],
    }


def _file(i: int) -> bytes:
    """Three rows of its own site (the contract's key is site + instrument within a date)."""
    header = "date,site_id,poc,daily_mean_pm25,units,daily_obs_count,percent_complete\n"
    return (header + "".join(f"1/2/26,{i:09d},{poc},{5 + poc}.5,ug/m3 LC,1,100.0\n" for poc in (1, 2, 3))).encode()


def _event(bucket: str, key: str, etag: str) -> str:
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "eventTime": datetime.now().astimezone().isoformat(),
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "eTag": etag}},
    }
    return json.dumps({"Records": [record]})


class Api:
    """The api-server's REST API as the admin user."""

    def __init__(self, base_url: str, password: str) -> None:
        from lockgate.ui import launcher
        from tests.support.net import request_json

        self.base_url, self._request = base_url, request_json
        self.token = request_json(
            f"{base_url}/auth/token", method="POST", body={"username": launcher.ADMIN_USER, "password": password}
        )[1]["access_token"]

    def get(self, path: str) -> Any:
        return self._request(f"{self.base_url}{path}", token=self.token)[1]


def _ts(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


def _task_instances(api: Api, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
    quoted = urllib.parse.quote(run_id, safe="")
    tis = api.get(f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances?limit=100")["task_instances"]
    return {ti["task_id"] if ti.get("map_index", -1) < 0 else f"{ti['task_id']}[{ti['map_index']}]": ti for ti in tis}


def _latencies(api: Api, landed: dict[str, float]) -> tuple[list[float], int]:
    """Per file: its run's load end - its landing time; and the number of runs."""
    runs = api.get(f"/api/v2/dags/{DAG_ID}/dagRuns?limit=1000")["dag_runs"]
    found: list[float] = []
    for run in runs:
        if run["state"] != "success":
            continue
        quoted = urllib.parse.quote(run["dag_run_id"], safe="")
        ti = api.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{quoted}/taskInstances/load_fact_epa_pm25_daily")
        loaded = datetime.fromisoformat(ti["end_date"]).timestamp()
        for obj in (run.get("conf") or {}).get("lockgate_events", {}).get("pm25", []):
            if obj["key"] in landed:
                found.append(loaded - landed[obj["key"]])
    return found, len(runs)


def _percentiles(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)
    if not ordered:
        return {"p50": None, "p95": None, "max": None}
    return {
        "p50": round(statistics.median(ordered), 1),
        "p95": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 1),
        "max": round(ordered[-1], 1),
    }


def _event_times(api: Api, landed: dict[str, float]) -> dict[str, float]:
    """When each landed file's batch was stored as an asset event of the watcher's asset."""
    name = f"lockgate.events.{DAG_ID}"
    events = api.get(f"/api/v2/assets/events?name_pattern={name}&limit=1000")["asset_events"]
    stored: dict[str, float] = {}
    for event in events:
        for message in ((event.get("extra") or {}).get("payload") or {}).get("messages") or []:
            for key in landed:
                if f'"{key}"' in str(message.get("body")):
                    stored.setdefault(key, _ts(event["timestamp"]) or 0.0)
    return stored


def _breakdown(api: Api, landed: dict[str, float]) -> dict[str, Any]:
    """Where each file's latency goes, from the REST API: landing -> asset event stored (batching and
    the triggerer) -> pipeline run queued (the dispatch taking the event, and holding it while the
    pipeline's run in progress works) -> pipeline run started (scheduler, executor) -> load end (the
    run's tasks). Plus the median duration of each pipeline task and the gaps between tasks (task
    start-up)."""
    stages: dict[str, list[float]] = {k: [] for k in ("batch", "to_run", "queued", "run")}
    event_at = _event_times(api, landed)
    durations: dict[str, list[float]] = {}
    gaps: list[float] = []
    for run in api.get(f"/api/v2/dags/{DAG_ID}/dagRuns?limit=1000")["dag_runs"]:
        if run["state"] != "success":
            continue
        tis = _task_instances(api, DAG_ID, run["dag_run_id"])
        ends = sorted((_ts(ti["end_date"]) or 0.0) for ti in tis.values() if ti.get("end_date"))
        for task_id, ti in tis.items():
            if ti.get("duration") is not None:
                durations.setdefault(task_id, []).append(float(ti["duration"]))
            start = _ts(ti.get("start_date"))
            before = [e for e in ends if start is not None and e <= start]
            if before:
                gaps.append(start - before[-1])  # type: ignore[operator]
        loaded = _ts(tis["load_fact_epa_pm25_daily"]["end_date"]) or 0.0
        queued, started = _ts(run.get("queued_at")) or 0.0, _ts(run.get("start_date")) or 0.0
        for obj in (run.get("conf") or {}).get("lockgate_events", {}).get("pm25", []):
            key = obj["key"]
            if key in landed and key in event_at:
                stages["batch"].append(event_at[key] - landed[key])
                stages["to_run"].append(queued - event_at[key])
                stages["queued"].append(started - queued)
                stages["run"].append(loaded - started)
    return {
        "stages_s": {name: _percentiles(values) for name, values in stages.items()},
        "task_s": {task: _percentiles(values)["p50"] for task, values in sorted(durations.items())},
        "gap_between_tasks_s": _percentiles(gaps),
    }


def _stack(root: Path, endpoint: str, fast: bool) -> Any:
    from tests.support.airflow_stack import start_airflow
    from tests.support.s3 import FAKE_AWS_ENV, aws_conn_env

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= FAKE_AWS_ENV | aws_conn_env(endpoint, CONN)
    env |= {"AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"), "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False"}
    return start_airflow(root, env, fast=fast)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--every", type=float, default=2.0, help="seconds between two files")
    parser.add_argument("--max-wait", type=float, default=5.0, help="the trigger's max_wait")
    parser.add_argument("--poll", type=float, default=2.0, help="the trigger's poll_seconds")
    parser.add_argument(
        "--airflow-defaults", action="store_true", help="Airflow's own loop intervals, not the test stack's"
    )
    parser.add_argument("--breakdown", action="store_true", help="also where the time goes, per stage and task")
    parser.add_argument("--keep-logs", type=Path, help="copy Airflow's logs here before removing the stack")
    args = parser.parse_args()

    import boto3
    from moto.server import ThreadedMotoServer

    from tests.support.net import LOOPBACK, free_port
    from tests.support.s3 import FAKE_AWS_ENV

    os.environ.update(FAKE_AWS_ENV)
    moto_port = free_port()
    moto = ThreadedMotoServer(ip_address=LOOPBACK, port=moto_port)
    moto.start()
    endpoint = f"http://{LOOPBACK}:{moto_port}"
    root = Path(tempfile.mkdtemp(prefix="lockgate-events-bench-"))
    airflow = None
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        queue_url = sqs.create_queue(QueueName="landing")["QueueUrl"]
        (root / "dags" / "pipelines").mkdir(parents=True)
        shutil.copy(REPO / "dags" / "yaml_pipelines.py", root / "dags")
        spec = _spec(bucket, queue_url, args.max_wait, args.poll)
        (root / "dags" / "pipelines" / f"{DAG_ID}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
        airflow = _stack(root, endpoint, fast=not args.airflow_defaults)
        api = Api(airflow.base_url, airflow.password)
        landed: dict[str, float] = {}
        for i in range(args.files):
            key = f"landing/daily_pm25_{DAY}-{i:04d}.csv"
            etag = s3.put_object(Bucket=bucket, Key=key, Body=_file(i))["ETag"].strip('"')
            landed[key] = time.time()
            sqs.send_message(QueueUrl=queue_url, MessageBody=_event(bucket, key, etag))
            time.sleep(args.every)
        deadline = time.monotonic() + 600
        latencies, runs = _latencies(api, landed)
        while len(latencies) < args.files and time.monotonic() < deadline:
            time.sleep(5)
            latencies, runs = _latencies(api, landed)
        dispatches = len(api.get(f"/api/v2/dags/{DAG_ID}__events/dagRuns?limit=1000")["dag_runs"])
        latencies.sort()
        result: dict[str, Any] = {
            "files": args.files,
            "every_s": args.every,
            "max_wait_s": args.max_wait,
            "poll_s": args.poll,
            "loop_intervals": "airflow" if args.airflow_defaults else "test stack",
            "measured": len(latencies),
            "p50_s": round(statistics.median(latencies), 1) if latencies else None,
            "p95_s": round(latencies[max(0, int(len(latencies) * 0.95) - 1)], 1) if latencies else None,
            "max_s": round(latencies[-1], 1) if latencies else None,
            "pipeline_runs": runs,
            "dispatches": dispatches,
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
        if args.breakdown:
            result["breakdown"] = _breakdown(api, landed)
        print(json.dumps(result))
        return 0 if len(latencies) == args.files and result["p95_s"] is not None and result["p95_s"] <= 60 else 1
    finally:
        if airflow is not None:
            airflow.stop(grace=60)
            if args.keep_logs:
                shutil.copytree(airflow.home / "airflow" / "logs", args.keep_logs, dirs_exist_ok=True)
        moto.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
