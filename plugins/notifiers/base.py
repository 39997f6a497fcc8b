"""What every Lockgate notifier shares: templates, the payload, secret scrubbing, retries, never raising.

A channel (webhook, Slack, email) subclasses :class:`LockgateNotifier` and implements two things:
:meth:`~LockgateNotifier.get_connection` (its Airflow connection) and
:meth:`~LockgateNotifier.deliver_once` (one delivery attempt of an already scrubbed payload).
Everything else -- rendering the Jinja ``message``/``event`` on a copy, the ad-hoc
:meth:`~LockgateNotifier.notify_event`, building and scrubbing the payload, retrying transient
errors, logging one WARNING instead of raising -- lives here once.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

from lockgate.notifiers.events import TASK_FAILURE
from lockgate.notifiers.payload import (
    build_payload,
    connection_secrets,
    context_fields,
    exception_text,
    fallback_message,
    scrub,
    short,
)

if TYPE_CHECKING:
    from airflow.sdk import Connection
    from airflow.sdk.definitions.context import Context

#: Airflow 3 context names: ``dag``, ``ti`` (``RuntimeTaskInstance``), ``run_id`` always; ``ds`` only
#: when the run has a logical date (manual runs may not), hence ``default(run_id)``.  ``ti.state``
#: is a ``TaskInstanceState`` str-enum whose ``str()`` is ``TaskInstanceState.FAILED`` on Python
#: 3.11, hence ``.value``.  ``default`` works with the DAG's ``StrictUndefined`` too.
#: the alert connections a pipeline uses unless its spec names others; none defined = alerting off
ALERT_CONN_IDS = ("lockgate_alerts", "lockgate_slack", "lockgate_smtp")
_alerting_off_logged = False


def alerting_configured(conn_ids: Sequence[str] = ALERT_CONN_IDS) -> bool:
    """True when at least one of the alert connections is defined (a missing one is then an error)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    for conn_id in conn_ids:
        if os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}"):
            return True  # defined, even if broken: that is a mistake to warn of
        try:
            BaseHook.get_connection(conn_id)
        except AirflowNotFoundException:
            continue
        return True
    return False


def _log_alerting_off_once(log: logging.Logger) -> None:
    """One info line per process when no alert connection exists at all (``make demo``), not one per alert."""
    global _alerting_off_logged
    if not _alerting_off_logged:
        _alerting_off_logged = True
        log.info("lockgate alerts are off: none of the connections %s is defined", ", ".join(ALERT_CONN_IDS))


DEFAULT_MESSAGE = (
    "{{ dag.dag_id }}.{{ ti.task_id }} {{ ti.state.value | default(ti.state) }} for {{ ds | default(run_id) }}"
)
DEFAULT_EVENT = TASK_FAILURE


class DeliveryProblem(Exception):
    """One failed delivery attempt: ``retryable`` when another attempt may succeed (5xx, refused...)."""

    def __init__(self, problem: str, *, retryable: bool) -> None:
        super().__init__(problem)
        self.retryable = retryable


class LockgateNotifier(BaseNotifier):
    """Base of the Lockgate notifiers; never raises.

    :param message: Jinja template rendered with the callback context (``dag``, ``ti``, ``ds``,
        ``run_id``... as in any Airflow 3 task context).  If rendering fails (e.g. a DAG-level
        callback has no ``ti``) a plain ``dag_id.task_id event for run_id`` message is sent instead.
    :param event: event name (templated too), one of :data:`lockgate.notifiers.events.EVENTS`.
    :param details: static extra fields merged into the payload's ``details``.
    :param retries: extra attempts after a transient error (5xx, connection refused, timeout).
    :param retry_delay: seconds before the first retry; doubled for each further retry.

    Rendering happens on a copy of the notifier, so one instance can be shared between tasks (e.g.
    in ``default_args``) without the first rendered message sticking.
    """

    template_fields: Sequence[str] = ("message", "event")
    #: ``webhook``, ``slack``, ``email``: the routing prefix (see :mod:`lockgate.alerts`)
    channel: str = "alert"
    #: connection extra fields that hold no secret (everything else in the extra is scrubbed)
    public_extra_keys: frozenset[str] = frozenset()

    def __init__(
        self,
        *,
        message: str = DEFAULT_MESSAGE,
        event: str = DEFAULT_EVENT,
        details: Mapping[str, Any] | None = None,
        retries: int = 2,
        retry_delay: float = 1.0,
    ) -> None:
        super().__init__()
        self.message = message
        self.event = event
        self.details: dict[str, Any] = dict(details or {})
        self.retries = max(0, int(retries))
        self.retry_delay = max(0.0, float(retry_delay))

    # ------------------------------------------------------------------------ what channels implement

    @property
    def conn_id(self) -> str:
        """The Airflow connection this notifier sends through (for logs)."""
        raise NotImplementedError

    def get_connection(self) -> Connection:
        """The channel's connection; raises ``AirflowNotFoundException`` when it is not defined."""
        from airflow.sdk import BaseHook

        return BaseHook.get_connection(self.conn_id)

    def deliver_once(self, payload: dict[str, Any], connection: Connection, secrets: Sequence[str]) -> str:
        """One attempt to deliver ``payload`` (already scrubbed); returns a short receipt for the log.

        Raise :class:`DeliveryProblem` for an answer that is not a success, any other exception for
        a failure to talk to the server (transient ones -- refused, reset, timeout -- are retried).
        """
        raise NotImplementedError

    # ------------------------------------------------------------------------------ entry points

    @property
    def _alert_log(self) -> logging.Logger:
        return logging.getLogger(type(self).__module__)

    def __call__(self, *args: Any) -> None:
        """Airflow calls this with the callback context; render on a copy, send, never raise."""
        try:
            notifier = copy.copy(self)
            notifier.details = dict(self.details)
            BaseNotifier.__call__(notifier, *args)
        except Exception as exc:  # noqa: BLE001 - alerts must never fail the task
            self._alert_log.warning(
                "lockgate alert %r not sent (%s: %s)", self.event, type(exc).__name__, short(scrub(str(exc)))
            )

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        try:
            super().render_template_fields(context, jinja_env)
        except Exception as exc:  # noqa: BLE001 - never raise from an alert
            self._alert_log.warning(
                "lockgate alert template could not be rendered (%s: %s); sending a plain message",
                type(exc).__name__,
                short(scrub(str(exc))),
            )
            if not isinstance(self.event, str) or "{{" in self.event:
                self.event = DEFAULT_EVENT
            self.message = fallback_message(self.event, context_fields(context))

    def notify(self, context: Context) -> None:
        """Send the (already rendered) ``message``/``event`` for ``context``; never raises."""
        try:
            details = dict(self.details)
            exception = context.get("exception") if hasattr(context, "get") else None
            if exception is not None and "exception" not in details:
                details["exception"] = exception_text(exception)
            self.send(context, event=str(self.event), message=str(self.message), details=details)
        except Exception as exc:  # noqa: BLE001 - never raise from an alert
            self._alert_log.warning(
                "lockgate alert %r not sent (%s: %s)", self.event, type(exc).__name__, short(scrub(str(exc)))
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
        accepted the alert, ``False`` otherwise; never raises.
        """
        try:
            merged = {**self.details, **dict(details or {})}
            return self.send(context, event=str(event), message=str(message), details=merged)
        except Exception as exc:  # noqa: BLE001 - never raise from an alert
            self._alert_log.warning(
                "lockgate alert %r not sent (%s: %s)", event, type(exc).__name__, short(scrub(str(exc)))
            )
            return False

    # ---------------------------------------------------------------------------------- sending

    def send(self, context: Any, *, event: str, message: str, details: Mapping[str, Any]) -> bool:
        """Build the scrubbed payload and deliver it, retrying transient errors; ``True`` if delivered."""
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            connection = self.get_connection()
        except AirflowNotFoundException:
            if not alerting_configured():
                _log_alerting_off_once(self._alert_log)
                return False
            self._alert_log.warning(
                "lockgate alert not sent: connection %r is not defined; event=%s message=%s",
                self.conn_id,
                event,
                short(scrub(message)),
            )
            return False

        secrets = list(connection_secrets(connection, self.public_extra_keys))
        payload = build_payload(context, event=event, message=message, details=details, secrets=secrets)
        where = ".".join(str(part) for part in (payload["dag_id"], payload["task_id"]) if part)
        label = f"{self.channel} {payload['event']} for {where}" if where else f"{self.channel} {payload['event']}"

        attempts = 1 + self.retries
        for attempt in range(1, attempts + 1):
            try:
                receipt = self.deliver_once(payload, connection, secrets)
            except DeliveryProblem as answer:
                problem, retryable = scrub(str(answer), secrets), answer.retryable
            except Exception as exc:  # noqa: BLE001 - refused, timeout, bad URL...
                problem = scrub(f"{type(exc).__name__}: {short(str(exc))}", secrets)
                retryable = is_transient(exc)
            else:
                self._alert_log.info("lockgate alert %s delivered (%s)", label, receipt)
                return True
            if retryable and attempt < attempts:
                delay = self.retry_delay * (2 ** (attempt - 1))
                self._alert_log.info(
                    "lockgate alert %s: %s, retrying in %.1fs (%d/%d)", label, problem, delay, attempt, attempts
                )
                time.sleep(delay)
                continue
            self._alert_log.warning(
                "lockgate alert %s not delivered to connection %r after %d attempt(s): %s",
                label,
                self.conn_id,
                attempt,
                problem,
            )
            return False
        return False  # pragma: no cover - the loop always returns


def is_transient(exc: BaseException) -> bool:
    """Worth another attempt: the server could not be reached or did not answer in time."""
    import smtplib
    import socket
    import urllib.error

    transient: tuple[type[BaseException], ...] = (
        ConnectionError,
        TimeoutError,
        socket.timeout,
        urllib.error.URLError,
        smtplib.SMTPServerDisconnected,
        smtplib.SMTPConnectError,
    )
    try:
        import requests

        transient += (requests.ConnectionError, requests.Timeout)
    except ImportError:  # pragma: no cover - requests comes with the http provider
        pass
    return isinstance(exc, transient)
