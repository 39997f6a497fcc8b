"""The batching triggers against real queues: moto's SQS and the machine's Redis pub/sub."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from lockgate.triggers.queues import (
    RedisBatchTrigger,
    SqsBatchTrigger,
    acknowledge_sqs_batches,
    delete_messages,
    sqs_batches,
)
from tests.support.net import LOOPBACK
from tests.support.requires import unavailable

LOG = logging.getLogger(__name__)


async def _events(trigger: Any, count: int = 1, timeout: float = 60) -> list[dict[str, Any]]:
    """The trigger's first ``count`` events; then nothing more comes (the queue is drained)."""
    stream = trigger.run()
    payloads = []
    try:
        for _ in range(count):
            payloads.append((await asyncio.wait_for(stream.__anext__(), timeout)).payload)
        # resuming the generator is what the triggerer does next (before it has stored the event)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(stream.__anext__(), 3)
    finally:
        await stream.aclose()
    return payloads


def _counts(sqs: Any, queue: str) -> tuple[int, int]:
    """(visible, in flight) messages of the queue."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    found = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=names)["Attributes"]
    return int(found[names[0]]), int(found[names[1]])


def test_sqs_messages_come_as_one_batch_and_stay_until_the_dispatch_deletes_them(aws_conn_id):
    from airflow.providers.amazon.aws.hooks.sqs import SqsHook

    sqs = SqsHook(aws_conn_id=aws_conn_id).get_conn()
    queue = sqs.create_queue(QueueName=f"t-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    try:
        for i in range(13):  # more than one receive (10 at most) returns
            sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"n": i}))
        trigger = SqsBatchTrigger(queue_url=queue, aws_conn_id=aws_conn_id, max_files=50, max_wait=2, idle_poll=1)
        started = time.monotonic()
        (payload,) = asyncio.run(_events(trigger))
        assert payload["source"] == "sqs"
        assert (payload["queue"], payload["aws_conn_id"]) == (queue, aws_conn_id)
        assert sorted(json.loads(m["body"])["n"] for m in payload["messages"]) == list(range(13))
        assert time.monotonic() - started < 30
        # handed over is not stored: every message is still in the queue, hidden
        assert _counts(sqs, queue) == (0, 13)
        # what the dispatch does with the stored payload once its runs are started
        event = SimpleNamespace(extra={"payload": payload})
        ((where, _),) = sqs_batches({"asset": [event]}).items()
        assert where == (queue, aws_conn_id, None)
        assert acknowledge_sqs_batches([event]) == 13
        assert _counts(sqs, queue) == (0, 0)
    finally:
        sqs.delete_queue(QueueUrl=queue)


#: a triggerer: runs the trigger, prints each event's payload (queued for the supervisor to store) and
#: resumes the generator at once, as the trigger runner does; the test kills it before any store
_TRIGGERER = """
import asyncio, json, sys
from lockgate.triggers.queues import SqsBatchTrigger

async def main():
    trigger = SqsBatchTrigger(queue_url=sys.argv[1], aws_conn_id=sys.argv[2], max_files=10, max_wait=1,
                              idle_poll=1, visibility_timeout=int(sys.argv[3]))
    async for event in trigger.run():
        print("PAYLOAD", json.dumps(event.payload), flush=True)

asyncio.run(main())
"""


def test_a_batch_whose_triggerer_dies_before_storing_it_is_delivered_again(aws_conn_id):
    from airflow.providers.amazon.aws.hooks.sqs import SqsHook

    sqs = SqsHook(aws_conn_id=aws_conn_id).get_conn()
    queue = sqs.create_queue(QueueName=f"t-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    hidden = 4
    try:
        sent = sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"n": 1}))["MessageId"]
        triggerer = subprocess.Popen(
            [sys.executable, "-c", _TRIGGERER, queue, aws_conn_id, str(hidden)],
            stdout=subprocess.PIPE,
            env=dict(os.environ),
            start_new_session=True,
        )
        try:
            assert triggerer.stdout is not None
            # Airflow's logging writes to stdout too
            line = next(line for line in triggerer.stdout if line.startswith(b"PAYLOAD "))
            first = json.loads(line[len(b"PAYLOAD ") :])
            # the trigger runs on past its yield (receiving again) while the event waits to be stored
            time.sleep(2)
        finally:
            os.killpg(triggerer.pid, signal.SIGKILL)
            triggerer.wait(timeout=30)
        assert [m["id"] for m in first["messages"]] == [sent]
        assert _counts(sqs, queue) == (0, 1)  # not deleted: only hidden
        # the next triggerer gets it again once the visibility timeout is over
        trigger = SqsBatchTrigger(
            queue_url=queue, aws_conn_id=aws_conn_id, max_files=10, max_wait=1, idle_poll=hidden + 2
        )
        (again,) = asyncio.run(_events(trigger))
        assert [m["id"] for m in again["messages"]] == [sent]
        assert again["messages"][0]["body"] == first["messages"][0]["body"]
        # stored this time: its dispatch deletes it, and it is gone for good
        assert delete_messages(sqs, queue, again["messages"], LOG) == 1
        assert _counts(sqs, queue) == (0, 0)
    finally:
        sqs.delete_queue(QueueUrl=queue)


def test_the_dispatch_deletes_only_sqs_messages_with_receipts():
    sqs = {"source": "sqs", "queue": "q", "aws_conn_id": "c", "messages": [{"id": "1", "body": "b", "receipt": "r"}]}
    redis = {"source": "redis", "queue": "ch", "messages": [{"id": "redis:ch:1", "body": "b"}]}
    events = {"a": [SimpleNamespace(extra={"payload": sqs}), SimpleNamespace(extra={"payload": redis})]}
    assert sqs_batches(events) == {("q", "c", None): sqs["messages"]}
    assert sqs_batches({"a": [SimpleNamespace(extra={})]}) == {}


def test_a_burst_stops_at_max_files(aws_conn_id):
    from airflow.providers.amazon.aws.hooks.sqs import SqsHook

    sqs = SqsHook(aws_conn_id=aws_conn_id).get_conn()
    queue = sqs.create_queue(QueueName=f"t-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    try:
        for i in range(25):
            sqs.send_message(QueueUrl=queue, MessageBody=str(i))
        trigger = SqsBatchTrigger(queue_url=queue, aws_conn_id=aws_conn_id, max_files=10, max_wait=2, idle_poll=1)
        payloads = asyncio.run(_events(trigger, 3))
        assert [len(p["messages"]) for p in payloads] == [10, 10, 5]
        assert sorted(int(m["body"]) for p in payloads for m in p["messages"]) == list(range(25))
    finally:
        sqs.delete_queue(QueueUrl=queue)


def test_redis_messages_come_as_one_batch(monkeypatch):
    import redis

    client = redis.Redis(host=LOOPBACK, port=6379, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        unavailable("no Redis at 127.0.0.1:6379", "apt-get install redis-server")
    monkeypatch.setenv(
        "AIRFLOW_CONN_LOCKGATE_T_REDIS", json.dumps({"conn_type": "redis", "host": LOOPBACK, "port": 6379})
    )
    channel = f"lockgate-t-{uuid.uuid4().hex[:8]}"
    trigger = RedisBatchTrigger(
        channel=channel, redis_conn_id="lockgate_t_redis", max_files=50, max_wait=1.5, idle_poll=0.5
    )

    async def scenario() -> dict[str, Any]:
        async def publish() -> None:
            # pub/sub keeps nothing for late subscribers: publish once the trigger listens
            while not client.pubsub_numsub(channel)[0][1]:
                await asyncio.sleep(0.1)
            for i in range(5):
                client.publish(channel, json.dumps({"n": i}))

        publisher = asyncio.create_task(publish())
        stream = trigger.run()
        try:
            event = await asyncio.wait_for(stream.__anext__(), 30)
        finally:
            await stream.aclose()
            await publisher
        return event.payload

    payload = asyncio.run(scenario())
    assert [json.loads(m["body"])["n"] for m in payload["messages"]] == [0, 1, 2, 3, 4]
    assert all(m["id"].startswith(f"redis:{channel}:") for m in payload["messages"])
