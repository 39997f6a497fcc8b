"""Event-driven ingestion's pure logic (lockgate.events) and the triggers' batching loop."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from lockgate.events import (
    BadEvent,
    KeyPattern,
    batch_complete,
    group_by_date,
    key_pattern,
    parse_batch,
    parse_message,
    plan_ledger,
    receive_timeout,
    route_objects,
    run_conf,
    run_id_for,
    run_logical_date,
    undispatched,
)
from lockgate.triggers.queues import collect_batch

ROOT = "s3://landing/airdata"
PATTERNS = [
    key_pattern("airdata_pm25", "daily_pm25_{{ ds }}.csv"),
    key_pattern("gateway", "gateway/*/readings.ndjson"),
]


def s3_event(key: str, etag: str = "abc", name: str = "ObjectCreated:Put", bucket: str = "landing") -> str:
    """The JSON body S3 sends to SQS for one object (the fields Lockgate reads, as AWS writes them)."""
    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "eventTime": "2026-01-05T10:11:12.000Z",
                    "eventName": name,
                    "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 10, "eTag": etag}},
                }
            ]
        }
    )


def test_an_s3_event_names_its_bucket_key_etag_and_message():
    objects, bad = parse_message("m-1", s3_event("airdata/daily_pm25_2026-01-02.csv", etag='"e1"'))
    assert bad == []
    assert [(o.message_id, o.bucket, o.key, o.etag, o.removed) for o in objects] == [
        ("m-1", "landing", "airdata/daily_pm25_2026-01-02.csv", "e1", False)
    ]


def test_keys_are_url_decoded_and_sns_wrapped_events_are_read():
    wrapped = json.dumps({"Type": "Notification", "Message": s3_event("airdata/a+b%3Dc.csv")})
    objects, bad = parse_message("m-2", wrapped)
    assert bad == []
    assert objects[0].key == "airdata/a b=c.csv"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json {", "the body is not JSON"),
        ("", "the body is empty"),
        (json.dumps({"hello": 1}), "not an S3 event notification"),
        (json.dumps({"Event": "s3:TestEvent"}), "s3:TestEvent"),
        (json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {}}]}), "names no s3.bucket.name"),
        (json.dumps({"Records": ["x"]}), "not a JSON object"),
        (s3_event("k", name="ObjectTagging:Put"), "neither ObjectCreated nor ObjectRemoved"),
        (s3_event("k", etag=""), "has no s3.object.eTag"),
    ],
)
def test_a_bad_message_is_reported_with_its_id_never_dropped(body, reason):
    objects, bad = parse_message("m-bad", body)
    assert objects == []
    assert len(bad) == 1
    assert bad[0].message_id == "m-bad"
    assert reason in bad[0].reason


def test_a_batch_keeps_the_good_messages_next_to_the_bad_ones():
    objects, bad = parse_batch(
        [{"id": "a", "body": s3_event("airdata/daily_pm25_2026-01-02.csv")}, {"id": "b", "body": "{"}, {"body": ""}]
    )
    assert [o.message_id for o in objects] == ["a"]
    assert [b.message_id for b in bad] == ["b", "<message 2 without id>"]


def test_objects_are_filed_under_their_file_and_the_date_of_their_key():
    objects, _ = parse_batch(
        [
            {"id": "1", "body": s3_event("airdata/daily_pm25_2026-01-02.csv")},
            {"id": "2", "body": s3_event("airdata/gateway/north/readings.ndjson")},  # no date: the event time
            {"id": "3", "body": s3_event("airdata/other.csv")},
            {"id": "4", "body": s3_event("elsewhere/daily_pm25_2026-01-02.csv")},
            {"id": "5", "body": s3_event("airdata/daily_pm25_2026-01-02.csv", bucket="other")},
            {"id": "6", "body": s3_event("airdata/daily_pm25_2026-13-40.csv")},
        ]
    )
    routed, bad = route_objects(objects, ROOT, PATTERNS)
    assert [(r.message_id, r.file, r.ds) for r in routed] == [
        ("1", "airdata_pm25", "2026-01-02"),
        ("2", "gateway", "2026-01-05"),
    ]
    assert [(b.message_id, b.reason.split(": ")[-1] if ": " in b.reason else b.reason) for b in bad] == [
        ("3", "s3://landing/airdata/other.csv matches no declared source file pattern"),
        ("4", "s3://landing/elsewhere/daily_pm25_2026-01-02.csv is outside the source root s3://landing/airdata"),
        ("5", "s3://other/airdata/daily_pm25_2026-01-02.csv is outside the source root s3://landing/airdata"),
        ("6", "no logical date in the key or the event time"),
    ]


def test_a_key_pattern_is_a_glob_with_the_date_in_it():
    pattern = KeyPattern.from_dict("f", key_pattern("f", "in/{{ ds }}/part-*.csv").as_dict())
    assert pattern.regex.match("in/2026-01-02/part-7.csv").group("ds") == "2026-01-02"
    assert pattern.regex.match("in/2026-01-02/sub/part-7.csv") is None  # * stays within one folder
    assert key_pattern("f", "x_{{ds}}_{{ ds }}.csv").regex.match("x_2026-01-02_2026-01-03.csv") is None


def test_a_burst_becomes_one_run_per_date_and_a_key_twice_in_a_batch_once():
    keys = [f"airdata/daily_pm25_2026-01-0{1 + i % 2}.csv" for i in range(6)]
    messages = [{"id": str(i), "body": s3_event(key, etag=f"e{i}")} for i, key in enumerate(keys)]
    objects, _ = parse_batch(messages)
    routed, _ = route_objects(objects, ROOT, PATTERNS)
    groups = group_by_date(routed)
    assert list(groups) == ["2026-01-01", "2026-01-02"]
    # the same key six times over two dates: the last event of each wins
    assert [(o.key, o.etag) for o in groups["2026-01-01"]] == [("airdata/daily_pm25_2026-01-01.csv", "e4")]
    assert [(o.key, o.etag) for o in groups["2026-01-02"]] == [("airdata/daily_pm25_2026-01-02.csv", "e5")]
    conf = run_conf(groups["2026-01-02"])
    assert conf["lockgate_events"]["airdata_pm25"][0]["message_id"] == "5"


def test_a_run_id_depends_on_the_objects_only():
    objects, _ = parse_batch([{"id": "x", "body": s3_event("airdata/daily_pm25_2026-01-02.csv")}])
    routed, _ = route_objects(objects, ROOT, PATTERNS)
    redelivered, _ = parse_batch([{"id": "y", "body": s3_event("airdata/daily_pm25_2026-01-02.csv")}])
    again, _ = route_objects(redelivered, ROOT, PATTERNS)
    assert run_id_for("d", "2026-01-02", routed) == run_id_for("d", "2026-01-02", again)
    assert run_id_for("d", "2026-01-02", routed).startswith("event__2026-01-02__")


def test_an_event_run_takes_an_instant_of_its_date_from_its_run_id():
    objects, _ = parse_batch([{"id": "x", "body": s3_event("airdata/daily_pm25_2026-01-02.csv")}])
    routed, _ = route_objects(objects, ROOT, PATTERNS)
    run_id = run_id_for("d", "2026-01-02", routed)
    logical = datetime.fromisoformat(run_logical_date("2026-01-02", run_id))
    assert logical.date().isoformat() == "2026-01-02"
    assert logical.utcoffset() == timedelta(0)
    assert logical > datetime(2026, 1, 2, tzinfo=UTC)  # never midnight: a scheduled run's logical date
    replaced, _ = parse_batch([{"id": "y", "body": s3_event("airdata/daily_pm25_2026-01-02.csv", "e2")}])
    other = run_id_for("d", "2026-01-02", route_objects(replaced, ROOT, PATTERNS)[0])
    assert run_logical_date("2026-01-02", other) != run_logical_date("2026-01-02", run_id)


def _asset_event(event_id: int, second: int, *consumed_by: tuple[str, str]) -> SimpleNamespace:
    """An asset event as the execution API returns it: id, timestamp, the runs that consumed it."""
    runs = [SimpleNamespace(dag_id=dag_id, run_id=run_id) for dag_id, run_id in consumed_by]
    return SimpleNamespace(id=event_id, timestamp=datetime(2026, 1, 2, 0, 0, second, tzinfo=UTC), created_dagruns=runs)


def test_a_dispatch_takes_its_events_and_every_event_no_dispatch_run_consumed():
    earlier = _asset_event(1, 1, ("d__events", "r1"))  # started an earlier dispatch run: that one took it
    mine = _asset_event(2, 2, ("d__events", "r2"))  # started this one
    stranded = _asset_event(3, 3)  # stored after this run's queue row but before the run: no run consumed it
    elsewhere = _asset_event(4, 4, ("other_dag", "x"))  # another DAG's run consumed it, no dispatch did
    waiting = _asset_event(6, 6)  # stored while this dispatch runs (max_active_runs=1 holds the next run)
    taken = _asset_event(5, 5)  # this dispatch took it at an earlier look
    found = undispatched([waiting, taken, earlier, stranded, elsewhere, mine], "d__events", "r2", seen={5})
    assert [e.id for e in found] == [2, 3, 4, 6]  # oldest first


def _obj(key: str, etag: str, removed: bool = False) -> dict[str, Any]:
    return {"bucket": "landing", "key": key, "etag": etag, "message_id": f"m-{key}-{etag}", "removed": removed}


def test_the_ledger_lands_new_objects_once_and_carries_the_rest():
    ledger = {"a.csv": {"etag": "1", "entry": {"key": "raw/a"}}, "b.csv": {"etag": "1", "entry": {"key": "raw/b"}}}
    plan = plan_ledger(ledger, [_obj("a.csv", "1"), _obj("b.csv", "2"), _obj("c.csv", "1"), _obj("c.csv", "1")])
    # same key + ETag as the ledger, or twice in this run: delivered more than once
    assert [d["key"] for d in plan.duplicates] == ["a.csv", "c.csv"]
    assert [o["key"] for o in plan.land] == ["b.csv", "c.csv"]  # b replaced, c new (landed once)
    assert [c["key"] for c in plan.carry] == ["a.csv"]
    assert plan.removed == []


def test_a_removal_drops_the_key_from_the_date():
    ledger = {"a.csv": {"etag": "1", "entry": {}}, "b.csv": {"etag": "1", "entry": {}}}
    plan = plan_ledger(ledger, [_obj("a.csv", "", removed=True), _obj("zzz.csv", "", removed=True)])
    assert plan.removed == ["a.csv"]
    assert plan.land == []
    assert [c["key"] for c in plan.carry] == ["b.csv"]


def test_a_scheduled_runs_ledger_entry_has_no_etag_so_an_event_lands_it_once_more():
    plan = plan_ledger({"a.csv": {"etag": "", "entry": {}}}, [_obj("a.csv", "9")])
    assert [o["key"] for o in plan.land] == ["a.csv"]
    assert plan.carry == []


@pytest.mark.parametrize(
    ("count", "first_at", "now", "done"),
    [(0, None, 100.0, False), (3, 0.0, 1.0, False), (5, 0.0, 1.0, True), (1, 0.0, 10.0, True), (1, 0.0, 9.9, False)],
)
def test_a_batch_is_complete_at_max_files_or_max_wait(count, first_at, now, done):
    assert batch_complete(count, first_at, now, max_files=5, max_wait=10) is done


def test_a_receive_blocks_for_the_idle_poll_or_what_is_left_of_the_wait():
    assert receive_timeout(0, None, 50.0, max_wait=10, idle_poll=20) == 20
    assert receive_timeout(2, 40.0, 47.0, max_wait=10, idle_poll=20) == 3
    assert receive_timeout(2, 40.0, 60.0, max_wait=10, idle_poll=20) == 0


class FakeQueue:
    """A queue the batching loop receives from, with a clock that advances by each receive's timeout."""

    def __init__(self, arrivals: list[tuple[float, str]]) -> None:
        self.arrivals = sorted(arrivals, key=lambda a: a[0])
        self.now = 0.0
        self.calls: list[tuple[float, int]] = []

    def clock(self) -> float:
        return self.now

    async def receive(self, timeout: float, at_most: int) -> list[dict[str, Any]]:
        self.calls.append((timeout, at_most))
        ready = [a for a in self.arrivals if a[0] <= self.now + timeout]
        if not ready:
            self.now += timeout
            return []
        self.now = max(self.now, ready[0][0])
        got = [a for a in self.arrivals if a[0] <= self.now][:at_most]
        for item in got:
            self.arrivals.remove(item)
        return [{"id": m, "body": "{}"} for _, m in got]


def test_a_burst_is_emitted_at_max_files():
    queue = FakeQueue([(5.0, f"m{i}") for i in range(25)])
    batch = asyncio.run(collect_batch(queue.receive, max_files=10, max_wait=30, idle_poll=20, clock=queue.clock))
    assert [m["id"] for m in batch] == [f"m{i}" for i in range(10)]
    assert queue.calls[0] == (20, 10)  # idle: a long poll for up to the whole batch


def test_a_trickle_is_emitted_max_wait_after_its_first_message():
    queue = FakeQueue([(1.0, "a"), (4.0, "b"), (30.0, "late")])
    batch = asyncio.run(collect_batch(queue.receive, max_files=10, max_wait=5, idle_poll=20, clock=queue.clock))
    assert [m["id"] for m in batch] == ["a", "b"]
    assert queue.now == pytest.approx(6.0)  # the first arrived at 1 s, the batch closed 5 s later
    assert queue.arrivals == [(30.0, "late")]  # left for the next batch


def test_bad_event_is_a_plain_record():
    assert BadEvent("m", "why") == BadEvent("m", "why")
