"""Slack alerts through an incoming webhook, on the slack provider's ``SlackWebhookHook``.

The connection is the provider's ``slackwebhook`` type: the webhook token in ``password``
(``T000/B000/XXXX``, or the whole ``https://hooks.slack.com/services/...`` URL) and, optionally,
another endpoint in ``host`` (``https://hooks.slack.com/services`` by default)::

    export AIRFLOW_CONN_LOCKGATE_SLACK='{"conn_type": "slackwebhook", "password": "T000/B000/XXXX"}'

The message is the shared payload rendered as Slack mrkdwn (:func:`~lockgate.notifiers.payload.render_slack`).
The token is a secret like any password: it is scrubbed from the message and from every log line,
the Slack SDK's own debug lines (which print the request URL) included.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from lockgate.notifiers.base import DEFAULT_EVENT, DEFAULT_MESSAGE, DeliveryProblem, LockgateNotifier
from lockgate.notifiers.payload import render_slack, scrub

if TYPE_CHECKING:
    from airflow.sdk import Connection

DEFAULT_SLACK_CONN_ID = "lockgate_slack"


class _ScrubbingLogger(logging.LoggerAdapter):
    """Hands the Slack SDK a logger that cannot print the webhook token (it logs the request URL)."""

    def __init__(self, logger: logging.Logger, secrets: Sequence[str]) -> None:
        super().__init__(logger, {})
        self.secrets = list(secrets)

    @property
    def level(self) -> int:
        # the SDK checks ``logger.level <= DEBUG`` before building its debug lines
        return self.logger.getEffectiveLevel()

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        return scrub(str(msg), self.secrets), kwargs

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if self.isEnabledFor(level):
            text = str(msg) % args if args else str(msg)
            self.logger.log(level, scrub(text, self.secrets), **kwargs)


class SlackNotifier(LockgateNotifier):
    """Post the alert to a Slack incoming webhook (``slackwebhook`` connection); never raises.

    :param slack_webhook_conn_id: the provider's Slack incoming-webhook connection.
    :param message: Jinja template rendered with the callback context (see
        :class:`~lockgate.notifiers.base.LockgateNotifier`).
    :param event: event name (templated too).
    :param details: static extra fields merged into the payload's ``details``.
    :param timeout: seconds the Slack client waits for the webhook.
    :param retries: extra attempts after a 5xx/429 answer, a connection error or a timeout.
    :param retry_delay: seconds before the first retry; doubled for each further retry.
    """

    channel = "slack"
    public_extra_keys = frozenset({"timeout"})

    def __init__(
        self,
        *,
        slack_webhook_conn_id: str = DEFAULT_SLACK_CONN_ID,
        message: str = DEFAULT_MESSAGE,
        event: str = DEFAULT_EVENT,
        details: Mapping[str, Any] | None = None,
        timeout: int = 10,
        retries: int = 2,
        retry_delay: float = 1.0,
    ) -> None:
        super().__init__(message=message, event=event, details=details, retries=retries, retry_delay=retry_delay)
        self.slack_webhook_conn_id = slack_webhook_conn_id
        self.timeout = timeout

    @property
    def conn_id(self) -> str:
        return self.slack_webhook_conn_id

    def deliver_once(self, payload: dict[str, Any], connection: Connection, secrets: Sequence[str]) -> str:
        from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

        hook = SlackWebhookHook(
            slack_webhook_conn_id=self.slack_webhook_conn_id,
            timeout=self.timeout,
            retry_handlers=[],  # one retry policy: the base class's
            logger=_ScrubbingLogger(logging.getLogger(f"{__name__}.client"), secrets),
        )
        # the client rather than hook.send(): the hook raises on any non-200 with the response body,
        # the client gives the status so a 5xx/429 can be retried and a 4xx reported once
        response = hook.get_conn().send_dict(render_slack(payload))
        status = int(response.status_code)
        if status != 200:
            raise DeliveryProblem(f"HTTP {status}: {response.body}", retryable=status >= 500 or status == 429)
        return f"HTTP {status}"
