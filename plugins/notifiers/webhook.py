"""Webhook alerts for lockgate DAGs.

``WebhookNotifier`` is an Airflow 3 notifier (``airflow.sdk.BaseNotifier``): pass an instance as a
task/DAG callback (``on_failure_callback=WebhookNotifier()``), or call
:meth:`WebhookNotifier.notify_event` from an operator to report something that is not a state
change (for example a data-quality warning that does not fail the task).

Every alert is one JSON ``POST``::

    {"event": "task_failure", "message": "...", "dag_id": "...", "task_id": "...", "run_id": "...",
     "logical_date": "2024-01-01T00:00:00+00:00" | null, "try_number": 1 | null, "details": {...}}

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

import copy
import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

if TYPE_CHECKING:
    from airflow.sdk import Connection
    from airflow.sdk.definitions.context import Context

log = logging.getLogger(__name__)

DEFAULT_CONN_ID = "lockgate_alerts"
#: Airflow 3 context names: ``dag``, ``ti`` (``RuntimeTaskInstance``), ``run_id`` always; ``ds`` only
#: when the run has a logical date (manual runs may not), hence ``default(run_id)``.  ``ti.state``
#: is a ``TaskInstanceState`` str-enum whose ``str()`` is ``TaskInstanceState.FAILED`` on Python
#: 3.11, hence ``.value``.  ``default`` works with the DAG's ``StrictUndefined`` too.
DEFAULT_MESSAGE = (
    "{{ dag.dag_id }}.{{ ti.task_id }} {{ ti.state.value | default(ti.state) }} for {{ ds | default(run_id) }}"
)
DEFAULT_EVENT = "task_failure"

# Shorter secret values are not scrubbed (they would mangle ordinary words).
_MIN_SECRET_LENGTH = 4
_MAX_EXCEPTION_CHARS = 1000


class WebhookNotifier(BaseNotifier):
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
    retries are done here (a couple of quick attempts, not tenacity's minutes-long backoff), since an
    alert must not hold a failing task up for long.

    Rendering happens on a copy of the notifier, so one instance can be shared between tasks (e.g.
    in ``default_args``) without the first rendered message sticking.
    """

    template_fields: Sequence[str] = ("message", "event")

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
        super().__init__()
        self.webhook_conn_id = webhook_conn_id
        self.message = message
        self.event = event
        self.endpoint = endpoint
        self.details: dict[str, Any] = dict(details or {})
        self.timeout = timeout
        self.retries = max(0, int(retries))
        self.retry_delay = max(0.0, float(retry_delay))

    # ------------------------------------------------------------------------------ entry points

    def __call__(self, *args: Any) -> None:
        """Airflow calls this with the callback context; render on a copy, send, never raise."""
        try:
            notifier = copy.copy(self)
            notifier.details = dict(self.details)
            BaseNotifier.__call__(notifier, *args)
        except Exception as exc:  # noqa: BLE001 - alerts must never fail the task
            log.warning(
                "lockgate alert %r not sent (%s: %s)",
                self.event,
                type(exc).__name__,
                _short(str(exc)),
            )

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        try:
            super().render_template_fields(context, jinja_env)
        except Exception as exc:  # noqa: BLE001 - never raise from an alert
            log.warning(
                "lockgate alert template could not be rendered (%s: %s); sending a plain message",
                type(exc).__name__,
                _short(str(exc)),
            )
            if not isinstance(self.event, str) or "{{" in self.event:
                self.event = DEFAULT_EVENT
            self.message = _fallback_message(self.event, _context_fields(context))

    def notify(self, context: Context) -> None:
        """Send the (already rendered) ``message``/``event`` for ``context``; never raises."""
        try:
            details = dict(self.details)
            exception = context.get("exception") if hasattr(context, "get") else None
            if exception is not None and "exception" not in details:
                text = exception if isinstance(exception, str) else f"{type(exception).__name__}: {exception}"
                details["exception"] = text[:_MAX_EXCEPTION_CHARS]
            self._send(
                context,
                event=str(self.event),
                message=str(self.message),
                details=details,
            )
        except Exception as exc:  # noqa: BLE001 - never raise from an alert
            log.warning(
                "lockgate alert %r not sent (%s: %s)",
                self.event,
                type(exc).__name__,
                _short(str(exc)),
            )

    def notify_event(
        self,
        context: Context | Mapping[str, Any],
        *,
        event: str,
        message: str,
        details: Mapping[str, Any] | None = None,
    ) -> bool:
        """Send an ad-hoc alert (e.g. ``event="dq_warning"``) from inside a running task.

        ``message`` is sent as given (it is *not* a Jinja template -- build it with an f-string);
        ``details`` (JSON-able; other values are sent as ``str()``) is merged over the notifier's
        static ``details``.  The notifier itself is not modified.  Returns ``True`` if the receiver
        accepted the alert (2xx/3xx), ``False`` otherwise; never raises.
        """
        try:
            merged = {**self.details, **dict(details or {})}
            return self._send(context, event=str(event), message=str(message), details=merged)
        except Exception as exc:  # noqa: BLE001 - never raise from an alert
            log.warning(
                "lockgate alert %r not sent (%s: %s)",
                event,
                type(exc).__name__,
                _short(str(exc)),
            )
            return False

    # ---------------------------------------------------------------------------------- sending

    def _send(self, context: Any, *, event: str, message: str, details: dict[str, Any]) -> bool:
        from airflow.providers.http.hooks.http import HttpHook
        from airflow.sdk.exceptions import AirflowNotFoundException

        hook = HttpHook(method="POST", http_conn_id=self.webhook_conn_id)
        try:
            connection = hook.get_connection(self.webhook_conn_id)
        except AirflowNotFoundException:
            log.warning(
                "lockgate alert not sent: connection %r is not defined; event=%s message=%s",
                self.webhook_conn_id,
                event,
                _short(message),
            )
            return False

        secrets = list(_connection_secrets(connection))
        fields = _context_fields(context)
        payload = {
            "event": _scrub(event, secrets),
            "message": _scrub(message, secrets),
            **fields,
            "details": _scrub(_jsonable(details), secrets),
        }
        body = json.dumps(payload, default=str)
        where = ".".join(str(part) for part in (fields["dag_id"], fields["task_id"]) if part)
        label = f"{payload['event']} for {where}" if where else str(payload["event"])

        attempts = 1 + self.retries
        for attempt in range(1, attempts + 1):
            problem: str
            try:
                response = hook.run(
                    endpoint=self.endpoint,
                    data=body,
                    headers={"Content-Type": "application/json"},
                    extra_options={"check_response": False, "timeout": self.timeout},
                )
            except Exception as exc:  # noqa: BLE001 - refused, timeout, bad URL...
                problem = _scrub(f"{type(exc).__name__}: {_short(str(exc))}", secrets)
                retryable = _is_transient(exc)
            else:
                status = int(response.status_code)
                if status < 400:
                    log.info("lockgate alert %s delivered (HTTP %s)", label, status)
                    return True
                problem = f"HTTP {status}"
                retryable = status >= 500
            if retryable and attempt < attempts:
                delay = self.retry_delay * (2 ** (attempt - 1))
                log.info(
                    "lockgate alert %s: %s, retrying in %.1fs (%d/%d)",
                    label,
                    problem,
                    delay,
                    attempt,
                    attempts,
                )
                time.sleep(delay)
                continue
            log.warning(
                "lockgate alert %s not delivered to connection %r after %d attempt(s): %s",
                label,
                self.webhook_conn_id,
                attempt,
                problem,
            )
            return False
        return False  # pragma: no cover - loop always returns


# ------------------------------------------------------------------------------------- helpers


def _context_fields(context: Any) -> dict[str, Any]:
    """dag_id/task_id/run_id/logical_date/try_number from an Airflow context (any of them may be absent)."""
    get = context.get if hasattr(context, "get") else (lambda _key, _default=None: _default)
    ti = get("ti") or get("task_instance")
    dag = get("dag")
    task = get("task")
    dag_run = get("dag_run")

    dag_id = getattr(dag, "dag_id", None) or getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", None)
    task_id = getattr(ti, "task_id", None) or getattr(task, "task_id", None)
    run_id = get("run_id") or getattr(ti, "run_id", None) or getattr(dag_run, "run_id", None)
    logical_date = get("logical_date") or getattr(dag_run, "logical_date", None)
    try_number = getattr(ti, "try_number", None)
    return {
        "dag_id": None if dag_id is None else str(dag_id),
        "task_id": None if task_id is None else str(task_id),
        "run_id": None if run_id is None else str(run_id),
        "logical_date": _iso(logical_date),
        "try_number": try_number if isinstance(try_number, int) else None,
    }


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def _fallback_message(event: str, fields: Mapping[str, Any]) -> str:
    where = ".".join(str(part) for part in (fields.get("dag_id"), fields.get("task_id")) if part)
    return f"{where or 'lockgate'} {event} for {fields.get('run_id') or fields.get('logical_date') or 'unknown run'}"


def _connection_secrets(connection: Connection) -> Iterator[str]:
    """Values that must never leave in an alert: the password and every string in the extra."""
    if connection.password and len(connection.password) >= _MIN_SECRET_LENGTH:
        yield connection.password
    if connection.extra:
        try:
            extra = json.loads(connection.extra)
        except ValueError:
            extra = connection.extra
        yield from (s for s in _strings(extra) if len(s) >= _MIN_SECRET_LENGTH)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _scrub(value: Any, secrets: Sequence[str]) -> Any:
    """``value`` with every secret replaced by ``***`` (recursively through dicts/lists)."""
    if isinstance(value, str):
        for secret in sorted(secrets, key=len, reverse=True):
            value = value.replace(secret, "***")
        return value
    if isinstance(value, dict):
        return {_scrub(str(k), secrets): _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, secrets) for v in value]
    return value


def _jsonable(value: Any) -> Any:
    """JSON-compatible copy: dicts/lists/scalars kept, dates as ISO strings, anything else ``str()``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    return str(value)


def _is_transient(exc: BaseException) -> bool:
    try:
        import requests
    except ImportError:  # pragma: no cover - requests comes with the http provider
        return False
    return isinstance(exc, (requests.ConnectionError, requests.Timeout))


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
