"""Webhook alerts for lockgate DAGs.

``WebhookNotifier`` is an Airflow 3 notifier (``airflow.sdk.BaseNotifier``): pass an instance as a
task/DAG callback (``on_failure_callback=WebhookNotifier()``), or call
:meth:`WebhookNotifier.notify_event` from an operator to report something that is not a state
change (for example a data-quality warning that does not fail the task).

Every alert is one JSON ``POST`` of the shared payload (:func:`lockgate.notifiers.payload.build_payload`)::

    {"event": "task_failure", "message": "...", "dag_id": "...", "task_id": "...", "run_id": "...",
     "logical_date": "2024-01-01T00:00:00+00:00" | null, "try_number": 1 | null,
     "url": "http://<api base_url>/dags/.../runs/.../tasks/..." | null, "details": {...}}

to the URL of the Airflow ``http`` connection ``webhook_conn_id`` (default ``lockgate_alerts``):
``schema`` is the URL scheme (``http``/``https``), ``host``/``port`` the server, the optional
``endpoint`` argument the path; the connection's ``extra`` holds extra HTTP headers (or requests
options such as ``verify``/``proxies``), ``login``/``password`` become HTTP basic auth.

Alerts never break a task: a missing connection, an unreachable server, a bad template or an HTTP
error are logged as one WARNING and swallowed; nothing here raises.  The connection's password and
extra values are used for the request only and are scrubbed (``***``) from the message, the details
and every log line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lockgate.config import DEFAULT_ALERTS_CONN_ID
from lockgate.notifiers.base import DEFAULT_EVENT, DEFAULT_MESSAGE, DeliveryProblem, LockgateNotifier

if TYPE_CHECKING:
    from airflow.sdk import Connection

DEFAULT_CONN_ID = DEFAULT_ALERTS_CONN_ID

__all__ = ["DEFAULT_CONN_ID", "DEFAULT_EVENT", "DEFAULT_MESSAGE", "WebhookNotifier"]


class WebhookNotifier(LockgateNotifier):
    """POST a JSON alert to the ``http`` connection ``webhook_conn_id``; never raises.

    :param webhook_conn_id: Airflow ``http`` connection of the alert receiver.
    :param message: Jinja template rendered with the callback context (``dag``, ``ti``, ``ds``,
        ``run_id``... as in any Airflow 3 task context).  If rendering fails (e.g. a DAG-level
        callback has no ``ti``) a plain ``dag_id.task_id event for run_id`` message is sent instead.
    :param event: event name (templated too), e.g. ``task_failure``, ``task_retry``, ``dq_warning``.
    :param endpoint: path appended to the connection's base URL (e.g. ``/hooks/lockgate``).
    :param details: static extra fields merged into the payload's ``details``.
    :param timeout: seconds per HTTP attempt (connect and read).
    :param retries: extra attempts after a 5xx answer, a connection error or a timeout.
    :param retry_delay: seconds before the first retry; doubled for each further retry.

    Transport: the http provider's ``HttpHook`` rather than hand-built ``requests`` calls, so the
    connection means exactly what it means for every other Airflow HTTP task -- base URL from
    schema/host/port, headers and requests options (``verify``, ``proxies``, ``cert``...) from the
    extra, basic auth from login/password -- and connection resolution goes through Airflow's
    secrets backends (env var ``AIRFLOW_CONN_LOCKGATE_ALERTS``, the API server in a worker...).
    ``check_response=False`` is passed so the hook neither raises on nor logs the response body;
    retries are done by the base class (a couple of quick attempts, not tenacity's minutes-long
    backoff), since an alert must not hold a failing task up for long.
    """

    channel = "webhook"
    # requests options in the extra that are not secrets (headers, proxies and cert paths may be)
    public_extra_keys = frozenset({"verify", "stream", "allow_redirects", "max_redirects", "trust_env", "timeout"})

    def __init__(
        self,
        *,
        webhook_conn_id: str = DEFAULT_CONN_ID,
        message: str = DEFAULT_MESSAGE,
        event: str = DEFAULT_EVENT,
        endpoint: str | None = None,
        details: Mapping[str, Any] | None = None,
        timeout: float = 10.0,
        retries: int = 2,
        retry_delay: float = 1.0,
    ) -> None:
        super().__init__(message=message, event=event, details=details, retries=retries, retry_delay=retry_delay)
        self.webhook_conn_id = webhook_conn_id
        self.endpoint = endpoint
        self.timeout = timeout

    @property
    def conn_id(self) -> str:
        return self.webhook_conn_id

    def deliver_once(self, payload: dict[str, Any], connection: Connection, secrets: Sequence[str]) -> str:
        import json

        from airflow.providers.http.hooks.http import HttpHook

        hook = HttpHook(method="POST", http_conn_id=self.webhook_conn_id)
        response = hook.run(
            endpoint=self.endpoint,
            data=json.dumps(payload, default=str),
            headers={"Content-Type": "application/json"},
            extra_options={"check_response": False, "timeout": self.timeout},
        )
        status = int(response.status_code)
        if status >= 400:
            raise DeliveryProblem(f"HTTP {status}", retryable=status >= 500)
        return f"HTTP {status}"
