"""Batching queue triggers for ``AssetWatcher``: S3 event notifications on SQS, or messages on a Redis
pub/sub channel, become one trigger event per small batch.

Airflow turns each ``TriggerEvent`` of a watcher into one asset event (its ``payload`` in the event's
``extra``), and the asset-scheduled dispatcher DAG gets a run for the events since its last run.
Batching here is what keeps a burst of files from becoming a run per file: a batch is emitted when it
holds ``max_files`` messages or ``max_wait`` seconds after its first message arrived
(:func:`lockgate.events.batch_complete`). The amazon provider's ``SqsSensorTrigger`` cannot do that
(it emits whatever one receive returns and then stops), nor can the redis provider's
``AwaitMessageTrigger`` (one message, and not an event trigger), hence these.

Payload: ``{"source": "sqs"|"redis", "queue": ..., "messages": [{"id": ..., "body": ...}]}``. The
bodies are passed on unparsed: the dispatcher parses them and logs every bad one with its id.

SQS messages are deleted only once their batch is stored: the trigger receives them with a visibility
timeout and puts each one's receipt handle in the payload; the triggerer stores the payload as an asset
event in the metadata database, and the dispatch that takes that event deletes them once it started
their runs (:func:`acknowledge_sqs_batches`). Deleting after the ``yield`` instead would
lose a batch whose triggerer dies before storing it (the generator resumes as soon as the event is
queued in the trigger runner, not once it is committed). A batch not acknowledged within the
visibility timeout is received again (at least once; the date's ledger makes it a no-op).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from lockgate.events import batch_complete, receive_timeout

#: SQS returns at most 10 messages per receive and long-polls at most 20 s
SQS_MAX_PER_RECEIVE = 10
SQS_MAX_LONG_POLL = 20
#: seconds a received message stays hidden: covers max_wait, the triggerer storing the batch and the
#: dispatcher run starting and deleting it; a batch nobody stored comes back after it
SQS_VISIBILITY_TIMEOUT = 300

Receive = Callable[[float, int], Awaitable[list[dict[str, Any]]]]


async def collect_batch(
    receive: Receive,
    *,
    max_files: int,
    max_wait: float,
    idle_poll: float,
    clock: Callable[[], float] = time.monotonic,
) -> list[dict[str, Any]]:
    """Receive until a batch is complete; ``receive(timeout, at_most)`` returns ``[{"id", "body", ...}]``.

    Blocks (polling every ``idle_poll`` s) while the queue is empty; once a message arrives, waits at most
    ``max_wait`` more seconds for the batch to fill to ``max_files``.
    """
    held: list[dict[str, Any]] = []
    first_at: float | None = None
    while not batch_complete(len(held), first_at, clock(), max_files, max_wait):
        timeout = receive_timeout(len(held), first_at, clock(), max_wait, idle_poll)
        got = await receive(timeout, max_files - len(held))
        if got and first_at is None:
            first_at = clock()
        held.extend(got)
    return held


class SqsBatchTrigger(BaseEventTrigger):
    """Batches of messages from an SQS queue (S3 event notifications), with their receipt handles: the
    dispatcher run deletes them once the batch is stored (:func:`acknowledge_sqs_batches`).

    :param queue_url: the queue URL.
    :param aws_conn_id: the AWS connection (its ``endpoint_url`` extra points at moto/LocalStack in tests).
    :param max_files: emit when this many messages are held.
    :param max_wait: or this many seconds after the first one arrived.
    :param idle_poll: long-poll seconds of a receive while nothing is held (at most 20).
    :param region_name: the queue's region, when the connection has none.
    :param visibility_timeout: seconds a received message stays hidden before SQS delivers it again
        (unless the dispatcher deleted it): more than ``max_wait`` plus the time a dispatch takes to start.
    """

    def __init__(
        self,
        queue_url: str,
        aws_conn_id: str | None = "aws_default",
        max_files: int = 100,
        max_wait: float = 10.0,
        idle_poll: float = 10.0,
        region_name: str | None = None,
        visibility_timeout: int = SQS_VISIBILITY_TIMEOUT,
    ) -> None:
        super().__init__()
        self.queue_url = queue_url
        self.aws_conn_id = aws_conn_id
        self.max_files = max_files
        self.max_wait = max_wait
        self.idle_poll = idle_poll
        self.region_name = region_name
        self.visibility_timeout = visibility_timeout

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "queue_url": self.queue_url,
                "aws_conn_id": self.aws_conn_id,
                "max_files": self.max_files,
                "max_wait": self.max_wait,
                "idle_poll": self.idle_poll,
                "region_name": self.region_name,
                "visibility_timeout": self.visibility_timeout,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow.providers.amazon.aws.hooks.sqs import SqsHook

        # boto3 in a worker thread: the provider's async client needs aiobotocore, which Lockgate does
        # not install; a long poll then blocks a thread of the triggerer's pool, not its event loop
        client = await asyncio.to_thread(
            lambda: SqsHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name).get_conn()
        )

        async def receive(timeout: float, at_most: int) -> list[dict[str, Any]]:
            response = await asyncio.to_thread(
                client.receive_message,
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=max(1, min(SQS_MAX_PER_RECEIVE, at_most)),
                WaitTimeSeconds=int(min(SQS_MAX_LONG_POLL, max(0, round(timeout)))),
                VisibilityTimeout=self.visibility_timeout,
            )
            return [
                {"id": m["MessageId"], "body": m.get("Body"), "receipt": m["ReceiptHandle"]}
                for m in response.get("Messages", [])
            ]

        while True:
            batch = await collect_batch(
                receive, max_files=self.max_files, max_wait=self.max_wait, idle_poll=self.idle_poll
            )
            self.log.info("%s: a batch of %d message(s)", self.queue_url, len(batch))
            # not deleted here: the generator resumes before the triggerer has stored the event
            yield TriggerEvent(
                {
                    "source": "sqs",
                    "queue": self.queue_url,
                    "aws_conn_id": self.aws_conn_id,
                    "region_name": self.region_name,
                    "messages": [{"id": m["id"], "body": m["body"], "receipt": m["receipt"]} for m in batch],
                }
            )


def delete_messages(client: Any, queue_url: str, messages: list[dict[str, Any]], log: Any) -> int:
    """Delete ``messages`` (``{"id", "receipt"}``) from the queue, 10 per request; how many were deleted.

    A failed delete is logged with the message id: the message comes back after its visibility
    timeout, and the date's ledger makes its second ingest a no-op.
    """
    deleted = 0
    for start in range(0, len(messages), SQS_MAX_PER_RECEIVE):
        chunk = messages[start : start + SQS_MAX_PER_RECEIVE]
        entries = [{"Id": str(i), "ReceiptHandle": m["receipt"]} for i, m in enumerate(chunk)]
        response = client.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        deleted += len(response.get("Successful", []))
        for failed in response.get("Failed", []):
            log.warning("%s: could not delete message %s: %s", queue_url, chunk[int(failed["Id"])]["id"], failed)
    return deleted


def sqs_batches(asset_events: Any) -> dict[tuple[str, str | None, str | None], list[dict[str, Any]]]:
    """The SQS messages with receipt handles of a run's triggering asset events, per (queue, connection,
    region): what :class:`SqsBatchTrigger` received and nobody has deleted yet."""
    batches: dict[tuple[str, str | None, str | None], list[dict[str, Any]]] = {}
    for events in asset_events.values():
        for event in events:
            payload = (event.extra or {}).get("payload") or {}
            if payload.get("source") != "sqs":
                continue
            where = (str(payload["queue"]), payload.get("aws_conn_id"), payload.get("region_name"))
            batches.setdefault(where, []).extend(m for m in payload.get("messages") or [] if m.get("receipt"))
    return batches


def acknowledge_sqs_batches(asset_events: Iterable[Any]) -> int:
    """Delete the SQS messages of a dispatch's ``asset_events`` (batches of :class:`SqsBatchTrigger`).

    The dispatch calls it once the events are stored (it read them) and the pipeline runs they name
    are started (or none was needed); how many messages were deleted."""
    import logging

    log = logging.getLogger("lockgate.events")
    deleted = 0
    for (queue, conn_id, region), messages in sqs_batches({"events": list(asset_events)}).items():
        if not messages:
            continue
        from airflow.providers.amazon.aws.hooks.sqs import SqsHook  # SQS only: a Redis dispatch never needs it

        client = SqsHook(aws_conn_id=conn_id, region_name=region).get_conn()
        done = delete_messages(client, queue, messages, log)
        log.info("%s: %d of %d message(s) deleted", queue, done, len(messages))
        deleted += done
    return deleted


class RedisBatchTrigger(BaseEventTrigger):
    """Batches of messages published on a Redis pub/sub channel.

    Pub/sub keeps nothing: a message published while no triggerer listens is lost (Redis's own
    semantics); the scheduled run of the date, if declared, ingests what events missed.

    :param channel: the channel to subscribe to.
    :param redis_conn_id: the redis connection (host, port, password, extra ``db``).
    :param max_files: emit when this many messages are held.
    :param max_wait: or this many seconds after the first one arrived.
    :param idle_poll: seconds a receive blocks while nothing is held.
    """

    def __init__(
        self,
        channel: str,
        redis_conn_id: str = "redis_default",
        max_files: int = 100,
        max_wait: float = 10.0,
        idle_poll: float = 5.0,
    ) -> None:
        super().__init__()
        self.channel = channel
        self.redis_conn_id = redis_conn_id
        self.max_files = max_files
        self.max_wait = max_wait
        self.idle_poll = idle_poll

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "channel": self.channel,
                "redis_conn_id": self.redis_conn_id,
                "max_files": self.max_files,
                "max_wait": self.max_wait,
                "idle_poll": self.idle_poll,
            },
        )

    async def _client(self) -> Any:
        import redis.asyncio as aioredis
        from airflow.sdk.bases.hook import BaseHook

        conn = await BaseHook.aget_connection(self.redis_conn_id)
        extra = conn.extra_dejson
        return aioredis.Redis(
            host=conn.host or "127.0.0.1",
            port=int(conn.port or 6379),
            db=int(extra.get("db", 0)),
            password=conn.password or None,
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        client = await self._client()
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self.channel)
        counter = 0

        async def receive(timeout: float, at_most: int) -> list[dict[str, Any]]:
            nonlocal counter
            got: list[dict[str, Any]] = []
            deadline = time.monotonic() + timeout
            while len(got) < at_most:
                left = deadline - time.monotonic()
                message = await pubsub.get_message(timeout=max(0.0, left))
                if message is None:
                    if left <= 0:
                        break
                    await asyncio.sleep(0)
                    continue
                data = message["data"]
                body = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
                counter += 1
                # pub/sub messages have no id: the channel, a counter and the body's digest name it in logs
                digest = hashlib.sha256(body.encode()).hexdigest()[:12]
                got.append({"id": f"redis:{self.channel}:{counter}:{digest}", "body": body})
                if time.monotonic() >= deadline:
                    break
            return got

        try:
            while True:
                batch = await collect_batch(
                    receive, max_files=self.max_files, max_wait=self.max_wait, idle_poll=self.idle_poll
                )
                self.log.info("%s: a batch of %d message(s)", self.channel, len(batch))
                yield TriggerEvent({"source": "redis", "queue": self.channel, "messages": batch})
        finally:
            await pubsub.aclose()
            await client.aclose()
