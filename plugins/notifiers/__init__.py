"""Alert notifiers for lockgate DAGs (Airflow 3 ``airflow.sdk.BaseNotifier`` subclasses).

Three channels -- :class:`WebhookNotifier` (JSON POST), :class:`SlackNotifier` (incoming webhook),
:class:`EmailNotifier` (SMTP) -- share one event vocabulary (:mod:`~lockgate.notifiers.events`), one
payload (:mod:`~lockgate.notifiers.payload`) and one base (:mod:`~lockgate.notifiers.base`).
:class:`RunSummaryNotifier` sends one summary per DAG run through them.  Which event goes where is
declared per pipeline with :func:`lockgate.alerts.notifiers_for`.
"""

from __future__ import annotations

from lockgate.notifiers.base import DEFAULT_MESSAGE, LockgateNotifier
from lockgate.notifiers.email import EmailNotifier
from lockgate.notifiers.events import EVENTS
from lockgate.notifiers.slack import SlackNotifier
from lockgate.notifiers.summary import RunSummaryNotifier
from lockgate.notifiers.webhook import DEFAULT_CONN_ID, WebhookNotifier

__all__ = [
    "DEFAULT_CONN_ID",
    "DEFAULT_MESSAGE",
    "EVENTS",
    "EmailNotifier",
    "LockgateNotifier",
    "RunSummaryNotifier",
    "SlackNotifier",
    "WebhookNotifier",
]
