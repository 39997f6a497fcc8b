"""Email alerts over SMTP, on the smtp provider's ``SmtpHook``.

The connection is the provider's ``smtp`` type (default id ``lockgate_smtp``): host, port,
login/password and, in the extra, ``from_email``, ``disable_tls``, ``disable_ssl``, ``timeout``::

    export AIRFLOW_CONN_LOCKGATE_SMTP='{"conn_type": "smtp", "host": "smtp.internal", "port": 587,
        "login": "alerts", "password": "<password>", "extra": {"from_email": "lockgate@pollutrack.example",
        "disable_ssl": true}}'

Subject and HTML body are the shared payload rendered by :func:`~lockgate.notifiers.payload.render_email`;
the event is also in an ``X-Lockgate-Event`` header for mail filters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lockgate.notifiers.base import DEFAULT_EVENT, DEFAULT_MESSAGE, LockgateNotifier
from lockgate.notifiers.payload import render_email

if TYPE_CHECKING:
    from airflow.sdk import Connection

DEFAULT_SMTP_CONN_ID = "lockgate_smtp"
DEFAULT_FROM_EMAIL = "lockgate@localhost"


class EmailNotifier(LockgateNotifier):
    """Email the alert through the ``smtp`` connection ``smtp_conn_id``; never raises.

    :param to: recipient address(es).
    :param smtp_conn_id: the provider's SMTP connection.
    :param from_email: sender; defaults to the connection's ``from_email`` extra, then
        ``lockgate@localhost``.
    :param message: Jinja template rendered with the callback context (see
        :class:`~lockgate.notifiers.base.LockgateNotifier`).
    :param event: event name (templated too).
    :param details: static extra fields merged into the payload's ``details``.
    :param retries: extra attempts after a connection error or a timeout.
    :param retry_delay: seconds before the first retry; doubled for each further retry.
    """

    channel = "email"
    public_extra_keys = frozenset(
        {"from_email", "disable_tls", "disable_ssl", "timeout", "retry_limit", "auth_type", "ssl_context"}
    )

    def __init__(
        self,
        *,
        to: str | Sequence[str],
        smtp_conn_id: str = DEFAULT_SMTP_CONN_ID,
        from_email: str | None = None,
        message: str = DEFAULT_MESSAGE,
        event: str = DEFAULT_EVENT,
        details: Mapping[str, Any] | None = None,
        retries: int = 1,
        retry_delay: float = 1.0,
    ) -> None:
        super().__init__(message=message, event=event, details=details, retries=retries, retry_delay=retry_delay)
        self.to = [to] if isinstance(to, str) else list(to)
        self.smtp_conn_id = smtp_conn_id
        self.from_email = from_email

    @property
    def conn_id(self) -> str:
        return self.smtp_conn_id

    def deliver_once(self, payload: dict[str, Any], connection: Connection, secrets: Sequence[str]) -> str:
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        subject, body = render_email(payload)
        with SmtpHook(smtp_conn_id=self.smtp_conn_id) as hook:
            hook.send_email_smtp(
                to=self.to,
                subject=subject,
                html_content=body,
                from_email=self.from_email or hook.from_email or DEFAULT_FROM_EMAIL,
                custom_headers={"X-Lockgate-Event": str(payload["event"])},
            )
        return f"mail to {', '.join(self.to)}"
