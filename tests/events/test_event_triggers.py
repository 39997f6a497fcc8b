"""The batching triggers against real queues: moto's SQS and the machine's Redis pub/sub."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest

from lockgate.triggers.queues import RedisBatchTrigger, SqsBatchTrigger
from tests.support.net import LOOPBACK
from tests.support.requires import unavailable


async def _events(trigger: Any, count: int = 1, timeout: float = 60) -> list[dict[str, Any]]:
    """The trigger's first ``count`` events; then nothing more comes (the queue is drained)."""
    stream = trigger.run()
    payloads = []
    try:
        for _ in range(count):
            payloads.append((await asyncio.wait_for(stream.__anext__(), timeout)).payload)
        # resuming the generator is what the triggerer does next: the SQS trigger deletes the batch then
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(stream.__anext__(), 3)
    finally:
        await stream.aclose()
    return payloads


def test_sqs_messages_come_as_one_batch_and_are_deleted_once_handed_over(aws_conn_id):
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
        assert sorted(json.loads(m["body"])["n"] for m in payload["messages"]) == list(range(13))
        assert time.monotonic() - started < 30
        left = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])
        assert left["Attributes"]["ApproximateNumberOfMessages"] == "0"
    finally:
        sqs.delete_queue(QueueUrl=queue)


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
