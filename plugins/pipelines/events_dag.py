"""The dispatcher DAG of an event-driven pipeline (``trigger:``): ``<dag_id>__events``.

Its schedule is an asset with an ``AssetWatcher`` on the declared queue (:mod:`lockgate.triggers.queues`:
a batch of messages per asset event). Each of its runs (``dispatch_events``,
:func:`lockgate.pipelines.runtime.dispatch_events`) reads the batches that started it, and starts one
run of the pipeline per logical date (``start_runs``, a mapped ``TriggerDagRunOperator``) with the
date's objects in ``conf``. The pipeline's runs then ingest, gate, publish and load each date as
usual, one at a time (``max_active_runs: 1``), scheduled runs of the same date included.

On SQS, ``ack_messages`` then deletes the batch's messages (:func:`lockgate.triggers.queues.acknowledge_sqs_batches`):
only now are they stored (the asset events) and their runs started. A dispatch that fails deletes
nothing: SQS delivers the messages again after their visibility timeout (give the queue a redrive
policy, so a message that keeps failing goes to a dead-letter queue).

Why a second DAG: the run's logical date is what every step partitions by, and an asset-triggered
run has none of its own (and Airflow keeps one run per DAG and logical date): the dispatcher gives
each date's event run a logical date within that date.

Parse time: ``airflow.sdk`` and the trigger classes only (no boto3, redis: imported in ``run()``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import DAG

    from lockgate.pipelines.spec import PipelineSpec

DISPATCH_TASK = "dispatch_events"
ACK_TASK = "ack_messages"
SUFFIX = "__events"


def events_asset_name(dag_id: str) -> str:
    """The asset the pipeline's watcher emits to (one per pipeline)."""
    return f"lockgate.events.{dag_id}"


def watcher_trigger(spec: PipelineSpec) -> Any:
    """The batching trigger of the spec's ``trigger:``."""
    from lockgate.triggers.queues import SQS_VISIBILITY_TIMEOUT, RedisBatchTrigger, SqsBatchTrigger

    trigger = spec.trigger
    assert trigger is not None
    if trigger.on == "s3_events":
        return SqsBatchTrigger(
            queue_url=trigger.queue,
            aws_conn_id=trigger.conn_id,
            max_files=trigger.max_files,
            max_wait=trigger.max_wait,
            idle_poll=trigger.poll_seconds,
            # hidden long enough for the batch to be stored and its dispatch to delete it
            visibility_timeout=max(SQS_VISIBILITY_TIMEOUT, int(trigger.max_wait) + 60),
        )
    return RedisBatchTrigger(
        channel=trigger.queue,
        redis_conn_id=trigger.conn_id,
        max_files=trigger.max_files,
        max_wait=trigger.max_wait,
        idle_poll=trigger.poll_seconds,
    )


def build_dispatcher(spec: PipelineSpec) -> DAG:
    """``<dag_id>__events``: watcher-scheduled, starts the pipeline's event runs (see the module doc)."""
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
    from airflow.sdk import DAG, Asset, AssetWatcher, task

    from lockgate.alerts import notifiers_for
    from lockgate.events import key_pattern
    from lockgate.pipelines.runtime import dispatch_events

    trigger = spec.trigger
    assert trigger is not None
    asset = Asset(
        name=events_asset_name(spec.dag_id),
        watchers=[AssetWatcher(name=f"{spec.dag_id}_queue", trigger=watcher_trigger(spec))],
    )
    where = f"{trigger.on} {trigger.queue}"
    with DAG(
        dag_id=f"{spec.dag_id}{SUFFIX}",
        description=f"Starts {spec.dag_id}'s event runs from {where}"[:200],
        doc_md=__doc__,
        schedule=[asset],
        start_date=datetime.fromisoformat(spec.start_date).replace(tzinfo=UTC),
        catchup=False,
        tags=sorted({"lockgate", "yaml-pipeline", "events", *spec.tags}),
        default_args={
            "owner": ",".join(spec.owners),
            "retries": spec.retries,
            "retry_delay": timedelta(minutes=spec.retry_delay_minutes),
            "on_failure_callback": notifiers_for(spec.alerts, "task_failure"),
        },
    ) as dag:
        # each path as its regex: a path's {{ ds }} is not for Airflow to render (the run has no date)
        files = [{"id": f.id, "dataset": f.dataset, **key_pattern(f.id, f.path).as_dict()} for f in spec.files]
        runs: Any = task(task_id=DISPATCH_TASK)(dispatch_events)(
            dag_id=spec.dag_id,
            location=spec.location,
            files=files,
            on_bad_event=trigger.on_bad_event,
            lake_conn_id=spec.lake_conn_id,
        )
        started = TriggerDagRunOperator.partial(
            task_id="start_runs",
            trigger_dag_id=spec.dag_id,
            # a retried dispatch finds the runs it started (their ids derive from the objects)
            skip_when_already_exists=True,
            wait_for_completion=False,
            map_index_template="{{ task.trigger_run_id }}",
        ).expand_kwargs(runs)
        if trigger.on == "s3_events":
            from lockgate.triggers.queues import acknowledge_sqs_batches

            # after the runs exist (none to start: skipped, still deleted); not after a failed dispatch
            started >> task(task_id=ACK_TASK, trigger_rule="none_failed")(acknowledge_sqs_batches)()
    return dag
