"""An event run's ingest on moto S3: exactly the objects its events name, each once per date, the
date's earlier files carried, a missing object logged with its message id; then the real gate reads
the whole date."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lockgate.config import include_dir
from lockgate.hooks.lake import LakeHook
from lockgate.operators.ingest import EventIngestOperator, ledger_key

SAMPLE = include_dir() / "samples" / "epa_pm25_aqi" / "airdata" / "daily_pm25_2026-01-02.csv"
DS = "2026-01-02"


def ingest(aws_conn_id: str, bucket: str, **kwargs: Any) -> EventIngestOperator:
    return EventIngestOperator(
        task_id="ingest_airdata_pm25",
        dataset="epa_pm25_daily",
        contract="epa_pm25_daily",
        source=f"s3://{bucket}/airdata/daily_pm25_{DS}*.csv",
        source_name="airdata_pm25",
        format="csv",
        source_aws_conn_id=aws_conn_id,
        **kwargs,
    )


def run(op: EventIngestOperator, run_id: str, objects: list[dict[str, Any]] | None) -> dict[str, Any]:
    conf = {} if objects is None else {"lockgate_events": {"airdata_pm25": objects}}
    context = {"ds": DS, "run_id": run_id, "dag": SimpleNamespace(dag_id="epa"), "ti": None}
    context["dag_run"] = SimpleNamespace(conf=conf)
    return op.execute(context)  # type: ignore[arg-type]


def put(aws_conn_id: str, bucket: str, key: str, body: bytes) -> dict[str, Any]:
    """Land an object; the event S3 would send for it (key, ETag)."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    client = S3Hook(aws_conn_id=aws_conn_id).get_conn()
    etag = client.put_object(Bucket=bucket, Key=key, Body=body)["ETag"].strip('"')
    return {"bucket": bucket, "key": key, "etag": etag, "message_id": f"msg-{key}-{etag[:6]}"}


def halves() -> tuple[bytes, bytes]:
    lines = SAMPLE.read_bytes().splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    middle = len(rows) // 2
    return header + b"".join(rows[:middle]), header + b"".join(rows[middle:])


def test_event_runs_land_each_object_once_and_carry_the_date(lockgate_home: Path, aws_conn_id, s3_bucket):
    first, second = halves()
    a = put(aws_conn_id, s3_bucket, f"airdata/daily_pm25_{DS}-a.csv", first)
    lake = LakeHook()

    one = run(ingest(aws_conn_id, s3_bucket), "event__1", [a])
    assert (one["files"], one["rows"]) == (1, first.count(b"\n") - 1)

    # the same message again (SQS at least once) and a second object: only the second is landed
    b = put(aws_conn_id, s3_bucket, f"airdata/daily_pm25_{DS}-b.csv", second)
    two = run(ingest(aws_conn_id, s3_bucket), "event__2", [a, b])
    assert two["files"] == 2
    assert two["rows"] == first.count(b"\n") + second.count(b"\n") - 2
    manifest = lake.read_json(two["manifest_key"])
    # a's file is the one run 1 landed (carried, not landed again); b's is in run 2's own folder
    assert [e["key"].split("/run=")[1].split("/")[0] for e in manifest["files"]] == ["event__1", "event__2"]
    assert manifest["carried"] == 1
    assert [d["message_id"] for d in manifest["events"]["duplicates"]] == [a["message_id"]]
    run_two = lake.list("raw/epa_pm25_daily/ds=2026-01-02/run=event__2/")
    landed_in_two = [o.key for o in run_two if o.key.endswith(".csv")]
    assert len(landed_in_two) == 1

    ledger = lake.read_json(ledger_key("epa_pm25_daily", DS, "airdata_pm25"))
    assert {k: v["etag"] for k, v in ledger.items()} == {a["key"]: a["etag"], b["key"]: b["etag"]}

    # the real gate reads the whole date from run 2's manifest: every row of both objects, once
    from lockgate.operators.quality import QualityGateOperator

    gate = QualityGateOperator(task_id="gate_epa_pm25_daily", dataset="epa_pm25_daily", contract="epa_pm25_daily")
    report = gate.execute({"ds": DS, "run_id": "event__2", "dag": SimpleNamespace(dag_id="epa"), "ti": None})  # type: ignore[arg-type]
    assert report["rows_in"] == two["rows"]


def test_a_missing_object_is_logged_with_its_message_id_or_fails_as_declared(
    lockgate_home: Path, aws_conn_id, s3_bucket
):
    from airflow.sdk.exceptions import AirflowFailException

    a = put(aws_conn_id, s3_bucket, f"airdata/daily_pm25_{DS}-a.csv", halves()[0])
    gone = {"bucket": s3_bucket, "key": f"airdata/daily_pm25_{DS}-gone.csv", "etag": "x", "message_id": "msg-gone"}
    result = run(ingest(aws_conn_id, s3_bucket), "event__1", [gone, a])
    assert result["files"] == 1
    manifest = LakeHook().read_json(result["manifest_key"])
    assert [m["message_id"] for m in manifest["events"]["missing"]] == ["msg-gone"]
    ledger = LakeHook().read_json(ledger_key("epa_pm25_daily", DS, "airdata_pm25"))
    assert list(ledger) == [a["key"]]  # the missing object is not recorded as ingested

    with pytest.raises(AirflowFailException, match=r"message msg-gone: .* does not exist"):
        run(ingest(aws_conn_id, s3_bucket, on_bad_event="fail"), "event__2", [gone])


def test_a_scheduled_run_resets_the_ledger_and_an_event_then_replaces_its_file(
    lockgate_home: Path, aws_conn_id, s3_bucket
):
    first, second = halves()
    a = put(aws_conn_id, s3_bucket, f"airdata/daily_pm25_{DS}-a.csv", first)
    scheduled = run(ingest(aws_conn_id, s3_bucket), "scheduled__1", None)
    assert scheduled["files"] == 1
    # the object is rewritten: its event lands the new version in place of the scheduled run's copy
    a2 = put(aws_conn_id, s3_bucket, a["key"], second)
    event = run(ingest(aws_conn_id, s3_bucket), "event__1", [a2])
    assert (event["files"], event["rows"]) == (1, second.count(b"\n") - 1)
