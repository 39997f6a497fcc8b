"""``trigger:`` and ``after:`` in pipeline specs: validated with file/line/field errors, built into DAGs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from lockgate.pipelines.factory import build_dags
from lockgate.pipelines.spec import PipelineSpecError, load_spec

REPO = Path(__file__).resolve().parents[2]
EPA = REPO / "dags" / "pipelines" / "epa_pm25_aqi.yaml"
REPORT = REPO / "dags" / "pipelines" / "epa_daily_aqi_report.yaml"
QUEUE = "http://127.0.0.1:5000/123456789012/landing-events"


def event_spec(**trigger: Any) -> dict[str, Any]:
    """epa_pm25_aqi, event-driven: the sample's daily file named by S3 events on SQS."""
    raw = yaml.safe_load(EPA.read_text())
    raw["sources"]["location"] = {"url": "s3://landing/airdata-root"}
    raw["trigger"] = {"on": "s3_events", "queue": QUEUE, "max_wait": 5, "max_files": 20, **trigger}
    return raw


def write(tmp_path: Path, raw: dict[str, Any], name: str = "pipeline.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def problems(path: Path) -> list[tuple[str, str]]:
    with pytest.raises(PipelineSpecError) as err:
        load_spec(path)
    assert all(line for _, _, line in err.value.problems), err.value  # every problem has its line
    return [(where, what) for where, what, _ in err.value.problems]


def test_an_event_pipeline_validates_with_its_trigger(tmp_path):
    spec = load_spec(write(tmp_path, event_spec()))
    assert spec.trigger is not None
    assert (spec.trigger.on, spec.trigger.queue, spec.trigger.conn_id) == ("s3_events", QUEUE, "aws_default")
    assert (spec.trigger.max_wait, spec.trigger.max_files, spec.trigger.on_bad_event) == (5.0, 20, "skip")


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda r: r["trigger"].pop("queue"), "trigger", "on: s3_events needs queue"),
        (lambda r: r["trigger"].update(channel="c"), "trigger.channel", "takes queue, not channel"),
        (lambda r: r["trigger"].update(on="redis"), "trigger.queue", "on: redis takes channel, not queue"),
        (lambda r: r.update(max_active_runs=3), "max_active_runs", "max_active_runs must be 1"),
        (lambda r: r["trigger"].update(max_files=0), "trigger.max_files", "less than the minimum"),
        (lambda r: r["trigger"].update(on_bad_event="ignore"), "trigger.on_bad_event", "is not one of"),
        (lambda r: r["sources"]["location"].update(url="/data/in"), "sources.location.url", "not s3://bucket/prefix"),
        (lambda r: r["sources"]["files"][0].update(fan_out=True), "sources.files.0", "do not apply"),
        (lambda r: r.update(after="epa_sites"), "after", "cannot both start runs"),
    ],
)
def test_a_broken_trigger_names_file_line_and_field(tmp_path, change, field, message):
    raw = event_spec()
    change(raw)
    found = problems(write(tmp_path, raw))
    assert any(where == field and message in what for where, what in found), found


def test_after_needs_a_null_schedule_and_another_pipelines_dataset(tmp_path):
    raw = yaml.safe_load(REPORT.read_text())
    raw["schedule"] = "@daily"
    raw["after"] = ["epa_county_daily_aqi", "epa_state_daily_aqi_report"]
    found = problems(write(tmp_path, raw))
    assert ("schedule", "a pipeline with after: runs per passed partition: schedule must be null") in found
    assert any(w == "after" and "it cannot wait for itself" in m for w, m in found), found


def test_an_event_pipeline_builds_a_dispatcher_with_a_watcher(tmp_path):
    write(tmp_path, event_spec())
    dags, errors = build_dags(tmp_path)
    assert errors == []
    by_id = {dag.dag_id: dag for dag in dags}
    assert set(by_id) == {"epa_pm25_aqi", "epa_pm25_aqi__events"}
    pipeline, dispatcher = by_id["epa_pm25_aqi"], by_id["epa_pm25_aqi__events"]
    assert pipeline.max_active_runs == 1
    assert type(pipeline.get_task("ingest_airdata_pm25")).__name__ == "EventIngestOperator"
    (asset,) = dispatcher.timetable.asset_condition.objects
    (watcher,) = asset.watchers
    classpath, kwargs = watcher.trigger.serialize()
    assert classpath == "lockgate.triggers.queues.SqsBatchTrigger"
    assert (kwargs["queue_url"], kwargs["max_files"], kwargs["max_wait"]) == (QUEUE, 20, 5.0)
    assert kwargs["visibility_timeout"] >= 300  # the batch stays hidden until its dispatch deletes it
    # one task: it starts the runs (several dates, no task start each) and deletes the SQS messages
    assert [t.task_id for t in dispatcher.tasks] == ["dispatch_events"]
    dispatch = dispatcher.get_task("dispatch_events")
    # it reads every event of its asset (not only those that started it), one dispatch at a time
    assert [a.name for a in dispatch.inlets] == [asset.name]
    assert dispatcher.max_active_runs == 1
    # the dispatch run has no logical date: nothing in its arguments may be a Jinja template
    kwargs = json.dumps(dispatcher.get_task("dispatch_events").op_kwargs)
    assert "{{" not in kwargs
    assert "{%" not in kwargs


def test_a_redis_pipeline_watches_its_channel(tmp_path):
    raw = event_spec()
    raw["trigger"] = {"on": "redis", "channel": "landing", "conn_id": "lockgate_redis", "max_wait": 2}
    write(tmp_path, raw)
    dags, errors = build_dags(tmp_path)
    assert errors == []
    dispatcher = next(d for d in dags if d.dag_id.endswith("__events"))
    (asset,) = dispatcher.timetable.asset_condition.objects
    classpath, kwargs = asset.watchers[0].trigger.serialize()
    assert classpath == "lockgate.triggers.queues.RedisBatchTrigger"
    assert (kwargs["channel"], kwargs["redis_conn_id"], kwargs["max_wait"]) == ("landing", "lockgate_redis", 2.0)
    assert [t.task_id for t in dispatcher.tasks] == ["dispatch_events"]


def test_the_report_runs_per_passed_partition_of_the_county_aqi():
    from airflow.sdk import PartitionedAssetTimetable

    dags, errors = build_dags(REPO / "dags" / "pipelines")
    assert errors == []
    report = next(d for d in dags if d.dag_id == "epa_daily_aqi_report")
    assert isinstance(report.timetable, PartitionedAssetTimetable)
    assert report.timetable.asset_condition.name == "lockgate.dataset.epa_county_daily_aqi"
    epa = next(d for d in dags if d.dag_id == "epa_pm25_aqi")
    outlets = {a.name for a in epa.get_task("load_agg_epa_county_daily_aqi").outlets}
    assert "lockgate.dataset.epa_county_daily_aqi" in outlets
