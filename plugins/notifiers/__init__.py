"""Alert notifiers for lockgate DAGs (Airflow 3 ``airflow.sdk.BaseNotifier`` subclasses)."""

from __future__ import annotations

from lockgate.notifiers.webhook import DEFAULT_CONN_ID, DEFAULT_MESSAGE, WebhookNotifier

__all__ = ["DEFAULT_CONN_ID", "DEFAULT_MESSAGE", "WebhookNotifier"]
