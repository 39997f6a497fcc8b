"""Which alerts go where, declared per pipeline.

A pipeline declares one mapping, event -> targets, with an optional ``default`` for the events it
does not name::

    ALERTS = {
        "default": ["webhook:lockgate_alerts"],
        "task_failure": ["webhook:lockgate_alerts", "slack:lockgate_slack", "email:oncall@example.com"],
        "run_summary": ["slack:lockgate_slack", "email:team@example.com"],
        "task_retry": [],                                  # explicitly: no alert
    }

Targets: ``webhook:<http conn id>`` (:class:`~lockgate.notifiers.webhook.WebhookNotifier`),
``slack:<slackwebhook conn id>`` (:class:`~lockgate.notifiers.slack.SlackNotifier`),
``email:<address>[,<address>...]`` (:class:`~lockgate.notifiers.email.EmailNotifier` over the SMTP
connection ``lockgate_smtp``); a bare ``webhook``/``slack`` means the default connection.
Events: see :data:`lockgate.notifiers.events.EVENTS`.  A mistake in the mapping (unknown event or
target kind) raises ``ValueError`` when the DAG is parsed -- an import error in the UI rather than
alerts silently going nowhere; sending itself never raises.

:func:`notifiers_for` gives what to attach for one event::

    default_args = {"on_failure_callback": notifiers_for(ALERTS, "task_failure"),
                    "on_retry_callback": notifiers_for(ALERTS, "task_retry")}
    DAG(..., on_success_callback=notifiers_for(ALERTS, "run_summary"),
             on_failure_callback=notifiers_for(ALERTS, "run_summary"),
             deadline=late_batch_deadline(ALERTS))
    QualityGateOperator(..., warning_notifiers=notifiers_for(ALERTS, "dq_warning"))
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from lockgate.config import DEFAULT_ALERTS_CONN_ID
from lockgate.notifiers.base import DEFAULT_MESSAGE, LockgateNotifier
from lockgate.notifiers.email import DEFAULT_SMTP_CONN_ID, EmailNotifier
from lockgate.notifiers.events import EVENTS, LATE_BATCH, RUN_SUMMARY, TASK_RETRY
from lockgate.notifiers.slack import DEFAULT_SLACK_CONN_ID, SlackNotifier
from lockgate.notifiers.summary import RunSummaryNotifier
from lockgate.notifiers.webhook import WebhookNotifier

if TYPE_CHECKING:
    from airflow.sdk import BaseNotifier
    from airflow.sdk.definitions.deadline import DeadlineAlert

log = logging.getLogger(__name__)

DEFAULT_KEY = "default"
TARGET_KINDS = ("webhook", "slack", "email")
#: data of a daily logical date is due by 06:00 UTC the next day
DEFAULT_LATE_BATCH_AFTER = timedelta(hours=30)

RETRY_MESSAGE = (
    "{{ dag.dag_id }}.{{ ti.task_id }} failed on try {{ ti.try_number }} and will be retried"
    " for {{ ds | default(run_id) }}"
)
#: Jinja message templates for the events that arrive as task callbacks (the others bring their own)
MESSAGES = {TASK_RETRY: RETRY_MESSAGE}


def parse_target(target: str) -> tuple[str, str]:
    """``"slack:lockgate_slack"`` -> ``("slack", "lockgate_slack")``; raises ``ValueError`` on a bad target."""
    kind, _, value = str(target).strip().partition(":")
    kind, value = kind.strip().lower(), value.strip()
    if kind not in TARGET_KINDS:
        raise ValueError(f"alert target {target!r}: expected one of {', '.join(k + ':...' for k in TARGET_KINDS)}")
    if not value:
        if kind == "email":
            raise ValueError(f"alert target {target!r}: an email target needs an address (email:<address>)")
        value = DEFAULT_ALERTS_CONN_ID if kind == "webhook" else DEFAULT_SLACK_CONN_ID
    return kind, value


def targets_for(alerts: Mapping[str, Sequence[str]] | None, event: str) -> list[str]:
    """The targets declared for ``event`` (else for ``default``), validated, without duplicates."""
    if event not in EVENTS:
        raise ValueError(f"unknown alert event {event!r}; expected one of {', '.join(EVENTS)}")
    alerts = alerts or {}
    unknown = sorted(set(alerts) - set(EVENTS) - {DEFAULT_KEY})
    if unknown:
        raise ValueError(f"unknown alert event(s) {', '.join(map(repr, unknown))}; expected {', '.join(EVENTS)}")
    declared = alerts.get(event, alerts.get(DEFAULT_KEY, ()))
    if isinstance(declared, str):
        declared = [declared]
    targets: list[str] = []
    for target in declared:
        kind, value = parse_target(target)
        if f"{kind}:{value}" not in targets:
            targets.append(f"{kind}:{value}")
    return targets


def channel_notifier(target: str, event: str) -> LockgateNotifier:
    """The notifier of one target for one event."""
    kind, value = parse_target(target)
    message = MESSAGES.get(event, DEFAULT_MESSAGE)
    if kind == "webhook":
        return WebhookNotifier(webhook_conn_id=value, event=event, message=message)
    if kind == "slack":
        return SlackNotifier(slack_webhook_conn_id=value, event=event, message=message)
    addresses = [a.strip() for a in value.split(",") if a.strip()]
    return EmailNotifier(to=addresses, smtp_conn_id=DEFAULT_SMTP_CONN_ID, event=event, message=message)


def notifiers_for(alerts: Mapping[str, Sequence[str]], event: str) -> list[BaseNotifier]:
    """What to attach for ``event`` according to the pipeline's ``alerts`` mapping.

    * ``task_failure``/``task_retry``: one notifier per target, for ``on_failure_callback`` /
      ``on_retry_callback`` (task level, e.g. in ``default_args``);
    * ``dq_warning``/``schema_drift``/``late_batch``: one notifier per target; operators call their
      ``notify_event(context, event=..., message=..., details=...)``;
    * ``run_summary``: one :class:`~lockgate.notifiers.summary.RunSummaryNotifier` fanning out to
      the targets, for the DAG's ``on_success_callback`` and ``on_failure_callback``.

    An event without targets gives ``[]``.  Raises ``ValueError`` for an unknown event or target.
    """
    channels = [channel_notifier(target, event) for target in targets_for(alerts, event)]
    if event == RUN_SUMMARY:
        return [RunSummaryNotifier(notifiers=channels)] if channels else []
    return list(channels)


# ------------------------------------------------------------------------------------ late batch


def late_batch_deadline(
    alerts: Mapping[str, Sequence[str]],
    *,
    after: timedelta = DEFAULT_LATE_BATCH_AFTER,
) -> DeadlineAlert | None:
    """An Airflow ``DeadlineAlert``: the run's data must be loaded ``after`` its logical date.

    ``DeadlineReference.DAGRUN_LOGICAL_DATE`` + ``after`` (default 30 h: 06:00 UTC the day after a
    daily logical date).  When the run has not finished by then, the scheduler hands
    :func:`notify_late_batch_async` to the triggerer (an ``AsyncCallback``), which sends
    ``late_batch`` to the pipeline's targets.  ``None`` when no target wants ``late_batch``.

    Why the triggerer and not the executor (a ``SyncCallback``): Airflow 3.3 gives an executor
    callback only a ``workload`` token, and the Execution API answers its connection requests
    with 403 "Token type not allowed for endpoint" -- a target whose connection lives in the
    metadata database (Admin -> Connections, the REST API) would never be reached, while Airflow
    logs "Callback executed successfully" (apache/airflow#66608 was reverted for that reason;
    #71192 adds a callback token). The triggerer asks its in-process Execution API, which serves
    connections from every source: environment variables, secrets backends and the metadata DB.
    """
    targets = targets_for(alerts, LATE_BATCH)
    if not targets:
        return None
    # the defining modules: airflow.sdk re-exports them at runtime, but its type stub does not
    from airflow.sdk.definitions.callback import AsyncCallback
    from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

    from lockgate.notifiers.deadline import work_around_dag_test_deadline_bug

    work_around_dag_test_deadline_bug()
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=after,
        callback=AsyncCallback(notify_late_batch_async, kwargs={"targets": list(targets)}),
        name=LATE_BATCH,
    )


async def notify_late_batch_async(context: Mapping[str, Any] | None = None, *, targets: Sequence[str] = ()) -> int:
    """The ``DeadlineAlert`` callback, run by the triggerer: :func:`notify_late_batch` in a thread.

    Airflow imports this by its path and awaits it with the deadline's ``kwargs`` plus ``context``
    (see :mod:`lockgate.notifiers.deadline`).  The notifiers are synchronous (HTTP, SMTP): a
    thread keeps the triggerer's event loop free for the other triggers, and the Task SDK's calls
    from a thread (connection look-ups) reach the triggerer's supervisor as usual.  Never raises.
    """
    import asyncio

    return await asyncio.to_thread(notify_late_batch, context, targets=targets)


def notify_late_batch(context: Mapping[str, Any] | None = None, *, targets: Sequence[str] = ()) -> int:
    """Send ``late_batch`` for a missed deadline to ``targets``; returns how many accepted it.  Never raises."""
    from lockgate.notifiers.deadline import late_batch_alert
    from lockgate.notifiers.payload import scrub, short

    try:
        message, details, send_context = late_batch_alert(context)
        delivered = 0
        for target in targets:
            notifier = channel_notifier(target, LATE_BATCH)
            delivered += bool(notifier.notify_event(send_context, event=LATE_BATCH, message=message, details=details))
        return delivered
    except Exception as exc:  # noqa: BLE001 - alerts never raise
        log.warning("lockgate late_batch alert not sent (%s: %s)", type(exc).__name__, short(scrub(str(exc))))
        return 0
