"""The dispatcher DAG of an event-driven pipeline (``trigger:``): ``<dag_id>__events``.

Its schedule is an asset with an ``AssetWatcher`` on the declared queue (:mod:`lockgate.triggers.queues`:
a batch of messages per asset event). Its one task, ``dispatch_events`` (:func:`dispatch_events`),
takes the batches, files their objects under their source file and logical date
(:mod:`lockgate.events`) and starts one run of the pipeline per date with the date's objects in
``conf``. The pipeline's runs then ingest, gate, publish and load each date as usual, one at a time
(``max_active_runs: 1``), scheduled runs of the same date included.

A dispatch runs while its runs do, and one dispatch at a time (``max_active_runs=1``): the batches
landing meanwhile are not queued as runs behind the running one, each naming a few files; the
dispatch holds their objects and, once the pipeline has no run left, starts one run per date for
all of them (what the date's ledger lacks). So a trickle into one date is a run per *pipeline run's
duration*, and a file waits for at most the run in progress and its own.

It takes every event its asset got that no dispatch run consumed (:func:`lockgate.events.undispatched`),
not only those that started it: Airflow gives an asset-triggered run the events up to its queue row's
creation, so an event stored between that row and the run would otherwise wait for another message
(at the end of a trickle: for ever). The next dispatch run consumes the events this one took; the
date's ledger (object key + ETag) and the run ids (derived from the objects) make that a no-op.

On SQS, the dispatch deletes a batch's messages (:func:`lockgate.triggers.queues.acknowledge_sqs_batches`)
once the runs of its objects are started (or none was needed): only then are they stored (the
asset events) and their runs started. A dispatch that fails deletes nothing more: SQS delivers the
messages again after their visibility timeout (give the queue a redrive policy, so a message that
keeps failing goes to a dead-letter queue).

Why a second DAG: the run's logical date is what every step partitions by, and an asset-triggered
run has none of its own (and Airflow keeps one run per DAG and logical date): the dispatcher gives
each date's event run a logical date within that date.

Parse time: ``airflow.sdk`` and the trigger classes only (no boto3, redis: imported in ``run()``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import DAG

    from lockgate.pipelines.spec import PipelineSpec

DISPATCH_TASK = "dispatch_events"
SUFFIX = "__events"
#: seconds between two looks of a dispatch at its asset's new events and the pipeline's runs
#: (an execution API call each); a file's latency includes up to one of them
POLL_SECONDS = 1.0
#: a dispatch takes new events for this long at most, then ends once it started what it holds (the
#: next dispatch run goes on with the events that came since)
MAX_DISPATCH_SECONDS = 600.0
#: a dispatch whose runs are done waits this long for the next event before it ends (a file then
#: needs no new dispatch run and task start)
LINGER_SECONDS = 10.0
#: how long before its first event a dispatch looks for events no dispatch run consumed
LOOKBACK = timedelta(minutes=15)
#: each look reaches back this far before the previous one: an event's timestamp precedes its commit
OVERLAP = timedelta(seconds=60)
ACTIVE = ["queued", "running"]


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


class EventDispatch:
    """What one dispatch took: the events (by id), the objects waiting for the pipeline to be free,
    the events whose SQS messages are deleted once those objects' runs exist, the runs it started."""

    def __init__(
        self, dag_id: str, root: str, files: list[dict[str, Any]], on_bad_event: str, lake_conn_id: str, log: Any
    ) -> None:
        from lockgate.events import KeyPattern, key_pattern

        self.dag_id, self.root, self.files = dag_id, root, files
        self.on_bad_event, self.lake_conn_id, self.log = on_bad_event, lake_conn_id, log
        self.patterns = [
            KeyPattern.from_dict(f["id"], f) if "regex" in f else key_pattern(f["id"], f["path"]) for f in files
        ]
        self.seen: set[int] = set()
        self.pending: list[Any] = []
        self.unacked: list[Any] = []
        self.started: list[str] = []

    def take(self, events: list[Any]) -> int:
        """File the objects of the ``events`` not taken yet as pending; log every bad message (with
        ``on_bad_event: fail``, fail the dispatch, starting nothing for them); how many were new."""
        from airflow.sdk.exceptions import AirflowFailException

        from lockgate.events import parse_batch, route_objects

        new = sorted((e for e in events if e.id not in self.seen), key=lambda e: (e.timestamp, e.id))
        if not new:
            return 0
        messages = [m for e in new for m in ((e.extra or {}).get("payload") or {}).get("messages") or []]
        objects, bad = parse_batch(messages)
        routed, unrouted = route_objects(objects, self.root, self.patterns)
        bad += unrouted
        for problem in bad:
            self.log.warning("bad event: message %s: %s", problem.message_id, problem.reason)
        if bad and self.on_bad_event == "fail":
            first = bad[0]
            raise AirflowFailException(
                f"{len(bad)} bad event(s) (on_bad_event: fail), first: message {first.message_id}: {first.reason}"
            )
        self.log.info(
            "%d new batch(es): %d message(s), %d object(s), %d bad", len(new), len(messages), len(routed), len(bad)
        )
        self.seen.update(e.id for e in new)
        self.pending += routed
        self.unacked += new
        return len(new)

    def start(self) -> None:
        """One pipeline run per date for the pending objects its ledger lacks; then delete the SQS
        messages of every event taken so far (their runs exist, or none was needed)."""
        from lockgate.events import group_by_date
        from lockgate.triggers.queues import acknowledge_sqs_batches

        groups = _drop_ingested(group_by_date(self.pending), self.files, self.lake_conn_id, self.log)
        for ds, objects in groups.items():
            self.started.append(trigger_event_run(self.dag_id, ds, objects, self.log))
        self.pending = []
        acknowledge_sqs_batches(self.unacked)
        self.unacked = []


def _drop_ingested(
    groups: dict[str, list[Any]], files: list[dict[str, Any]], lake_conn_id: str, log: Any
) -> dict[str, list[Any]]:
    """Objects whose key + ETag their date's ledger already has (SQS delivers at least once) start no run.

    The event run's ingest checks again (a run started for the same objects a moment ago may not have
    written the ledger yet): this only spares a run that would land nothing.
    """
    from lockgate.hooks.lake import LakeHook
    from lockgate.operators.ingest import ledger_key

    lake = LakeHook(lake_conn_id)
    datasets = {f["id"]: f["dataset"] for f in files}
    kept: dict[str, list[Any]] = {}
    for ds, objects in groups.items():
        ledgers: dict[str, Any] = {}
        for obj in objects:
            if obj.file not in ledgers:
                key = ledger_key(datasets[obj.file], ds, obj.file)
                ledgers[obj.file] = lake.read_json(key) if lake.exists(key) else {}
            known = ledgers[obj.file].get(obj.key)
            if not obj.removed and known is not None and known.get("etag") == obj.etag:
                log.info(
                    "message %s: %s (ETag %s) is already ingested for %s: no run", obj.message_id, obj.uri, obj.etag, ds
                )
                continue
            kept.setdefault(ds, []).append(obj)
    return kept


def trigger_event_run(dag_id: str, ds: str, objects: list[Any], log: Any) -> str:
    """Start the pipeline's run of ``ds`` for ``objects`` (its id derives from them: a dispatch that
    starts the same objects again finds that run); its run id.

    Through the execution API as ``TriggerDagRunOperator`` does, but several runs from one task: a
    task per run would cost a task start each on the latency path."""
    from airflow.sdk.exceptions import AirflowException, ErrorType
    from airflow.sdk.execution_time.comms import ErrorResponse, TriggerDagRun
    from airflow.sdk.execution_time.task_runner import SUPERVISOR_COMMS

    from lockgate.events import run_conf, run_id_for, run_logical_date

    run_id = run_id_for(dag_id, ds, objects)
    logical = datetime.fromisoformat(run_logical_date(ds, run_id))
    message = TriggerDagRun(dag_id=dag_id, run_id=run_id, logical_date=logical, conf=run_conf(objects))
    response = SUPERVISOR_COMMS.send(message)
    if isinstance(response, ErrorResponse):
        if response.error != ErrorType.DAGRUN_ALREADY_EXISTS:
            raise AirflowException(f"{dag_id}: could not start {run_id}: {response.error} {response.detail}")
        log.info("%s: run %s (%d object(s) of %s) exists already", dag_id, run_id, len(objects), ds)
    else:
        log.info("%s: started run %s for %d object(s) of %s", dag_id, run_id, len(objects), ds)
    return run_id


def _check_triggering(found: list[Any], triggering: list[Any], run_id: str) -> None:
    """Fail (and retry) a dispatch whose first look misses an event that started it: never drop one."""
    from airflow.sdk.exceptions import AirflowException

    mine = sum(1 for e in found if any(r.run_id == run_id for r in e.created_dagruns or []))
    if mine < len(triggering):
        raise AirflowException(f"{run_id}: the asset's events hold {mine} of the {len(triggering)} that started it")


def dispatch_events(
    dag_id: str,
    location: Mapping[str, Any],
    files: list[dict[str, Any]],
    on_bad_event: str = "skip",
    lake_conn_id: str = "lockgate_lake",
    poll: float = POLL_SECONDS,
    max_seconds: float = MAX_DISPATCH_SECONDS,
    linger: float = LINGER_SECONDS,
) -> dict[str, Any]:
    """Task ``dispatch_events`` of ``<dag_id>__events`` (see the module doc): takes the events that
    started it and every event no dispatch run consumed, starts a run per date whenever the pipeline
    has none queued or running, and ends once its runs are done and ``linger`` s passed without a new
    event (taking events for ``max_seconds`` at most). Returns how many events it took and its runs."""
    import logging
    import time

    from airflow.sdk import get_current_context

    from lockgate.events import undispatched
    from lockgate.pipelines.runtime import resolve_source_root

    log = logging.getLogger("lockgate.events")
    context: Any = get_current_context()
    ti, dispatcher_id = context["ti"], f"{dag_id}{SUFFIX}"
    dispatch = EventDispatch(dag_id, resolve_source_root(dag_id, location), files, on_bad_event, lake_conn_id, log)
    triggering = [e for events in context["triggering_asset_events"].values() for e in events]
    # the first look reaches back before the events that started the run: it takes them too (with their ids)
    since = min((e.timestamp for e in triggering), default=datetime.now(UTC)) - LOOKBACK
    run_id = context["run_id"]
    began, quiet_since = time.monotonic(), time.monotonic()
    while True:
        taking = time.monotonic() - began < max_seconds
        if taking:
            looked = datetime.now(UTC)
            events = context["inlet_events"][0].after(since.isoformat())
            found = undispatched(events, dispatcher_id, run_id, dispatch.seen)
            if not dispatch.seen:
                _check_triggering(found, triggering, run_id)
            since = looked - OVERLAP
            if dispatch.take(found):
                quiet_since = time.monotonic()
        if dispatch.pending and ti.get_dr_count(dag_id=dag_id, states=ACTIVE):
            time.sleep(poll)  # the pipeline's run works: the next one takes what comes meanwhile
            continue
        if dispatch.pending or dispatch.unacked:
            dispatch.start()
        if dispatch.started and ti.get_dr_count(dag_id=dag_id, run_ids=dispatch.started, states=ACTIVE):
            quiet_since = time.monotonic()
        elif not taking or time.monotonic() - quiet_since >= linger:
            break
        time.sleep(poll)
    log.info("took %d batch(es), started %d run(s): %s", len(dispatch.seen), len(dispatch.started), dispatch.started)
    return {"batches": len(dispatch.seen), "runs": dispatch.started}


def build_dispatcher(spec: PipelineSpec) -> DAG:
    """``<dag_id>__events``: watcher-scheduled, starts the pipeline's event runs (see the module doc)."""
    from airflow.sdk import DAG, Asset, AssetWatcher, task

    from lockgate.alerts import notifiers_for
    from lockgate.events import key_pattern

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
        # one dispatch at a time: the events landing meanwhile wait for it (see the module doc)
        max_active_runs=1,
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
        # the asset as its inlet: the dispatch reads the asset's events, not only those that started it
        task(task_id=DISPATCH_TASK, inlets=[asset])(dispatch_events)(
            dag_id=spec.dag_id,
            location=spec.location,
            files=files,
            on_bad_event=trigger.on_bad_event,
            lake_conn_id=spec.lake_conn_id,
        )
    return dag
