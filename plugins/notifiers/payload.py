"""The one alert payload every notifier sends, and the secret scrubbing applied to it.

:func:`build_payload` turns an Airflow context (a task's, a DAG-level callback's, or the small
context a ``DeadlineAlert`` callback gets) plus an event, a message and details into one JSON-able
dict -- what :class:`~lockgate.notifiers.webhook.WebhookNotifier` POSTs as it is::

    {"event": "task_failure", "message": "...", "dag_id": "...", "task_id": "..." | null,
     "run_id": "...", "logical_date": "2026-01-02T00:00:00+00:00" | null, "try_number": 1 | null,
     "url": "<api base_url>/dags/<dag>/runs/<run>[/tasks/<task>]" | null, "details": {...}}

and what the Slack and email notifiers render (:func:`render_text`, :func:`render_slack`,
:func:`render_email`).  The payload is scrubbed once, before any rendering: the sending connection's
password and extra values, credentials in URLs (``scheme://user:password@``) and every secret
Airflow's secrets masker knows in this process are replaced by ``***``.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from lockgate.notifiers.events import title

if TYPE_CHECKING:
    from airflow.sdk import Connection

REDACTED = "***"
# Shorter secret values are not scrubbed (they would mangle ordinary words).
MIN_SECRET_LENGTH = 4
# a failed gate names every failed check and the quarantine by check with examples: room for that
MAX_EXCEPTION_CHARS = 4000
DEFAULT_API_BASE_URL = "http://localhost:8080/"

_URL_CREDENTIALS = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*):([^@/?#\s]+)@")
_MAX_FACT_CHARS = 500


# ------------------------------------------------------------------------------------ context


def _getter(context: Any) -> Any:
    if hasattr(context, "get"):
        return context.get
    return lambda _key, _default=None: _default


def _field(obj: Any, *names: str) -> Any:
    """The first present attribute (or mapping key, for the dict a deadline callback gets)."""
    for name in names:
        value = obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
        if value is not None:
            return value
    return None


def context_fields(context: Any) -> dict[str, Any]:
    """dag_id/task_id/run_id/logical_date/try_number of an Airflow context (any may be absent).

    Works for a task's context (``ti``, ``dag``, ``dag_run``...), a DAG-level callback's context
    (``dag``, ``run_id``, ``reason`` and, usually, the last task instance) and the context Airflow
    passes to a ``DeadlineAlert`` callback (``dag_run`` as the REST API's JSON, ``deadline``).
    """
    get = _getter(context)
    ti = get("ti") or get("task_instance")
    dag = get("dag")
    task = get("task")
    dag_run = get("dag_run")

    dag_id = get("dag_id") or _field(dag, "dag_id") or _field(ti, "dag_id") or _field(dag_run, "dag_id")
    task_id = _field(ti, "task_id") or _field(task, "task_id")
    run_id = get("run_id") or _field(ti, "run_id") or _field(dag_run, "run_id", "dag_run_id")
    logical_date = get("logical_date") or _field(dag_run, "logical_date")
    try_number = _field(ti, "try_number")
    return {
        "dag_id": None if dag_id is None else str(dag_id),
        "task_id": None if task_id is None else str(task_id),
        "run_id": None if run_id is None else str(run_id),
        "logical_date": iso(logical_date),
        "try_number": try_number if isinstance(try_number, int) else None,
    }


_RUN_ID_DATE = re.compile(r"__(\d{4}-\d{2}-\d{2})T")


def logical_ds(context: Any) -> str | None:
    """The run's ``ds`` (YYYY-MM-DD): the context's ``ds``, else the date of its logical date.

    A DAG-level callback may get a minimal context (``dag``, ``run_id``, ``reason``); then the date
    in a ``scheduled__``/``manual__`` run id is the last resort.
    """
    ds = _getter(context)("ds")
    if ds:
        return str(ds)
    fields = context_fields(context)
    if fields["logical_date"]:
        return str(fields["logical_date"])[:10]
    match = _RUN_ID_DATE.search(fields["run_id"] or "")
    return match.group(1) if match else None


def api_base_url() -> str:
    """``[api] base_url`` from the Airflow configuration (what the UI's own links use)."""
    try:
        from airflow.sdk.configuration import conf

        return str(conf.get("api", "base_url", fallback=DEFAULT_API_BASE_URL) or DEFAULT_API_BASE_URL)
    except Exception:  # noqa: BLE001 - a link is a nicety; never fail an alert for it
        return DEFAULT_API_BASE_URL


def ui_url(dag_id: str | None, run_id: str | None = None, task_id: str | None = None) -> str | None:
    """Link to a DAG, a DAG run or a task of a run in the Airflow 3 UI."""
    if not dag_id:
        return None
    url = f"{api_base_url().rstrip('/')}/dags/{quote(dag_id)}"
    if run_id:
        url += f"/runs/{quote(run_id)}"
        if task_id:
            url += f"/tasks/{quote(task_id)}"
    return url


def fallback_message(event: str, fields: Mapping[str, Any]) -> str:
    """``dag.task event for run`` -- what is sent when a message template cannot be rendered."""
    where = ".".join(str(part) for part in (fields.get("dag_id"), fields.get("task_id")) if part)
    return f"{where or 'lockgate'} {event} for {fields.get('run_id') or fields.get('logical_date') or 'unknown run'}"


def exception_text(exception: Any) -> str:
    text = exception if isinstance(exception, str) else f"{type(exception).__name__}: {exception}"
    return text[:MAX_EXCEPTION_CHARS]


# ------------------------------------------------------------------------------------ secrets


def connection_secrets(connection: Connection | None, public_extra_keys: Iterable[str] = ()) -> Iterator[str]:
    """Values that must never leave in an alert: the password and every string in the extra.

    ``public_extra_keys``: top-level extra fields known to hold no secret (``from_email``,
    ``timeout``...), left alone so that e.g. ``"true"`` is not scrubbed from every message.
    """
    if connection is None:
        return
    if connection.password and len(connection.password) >= MIN_SECRET_LENGTH:
        yield connection.password
    if connection.extra:
        try:
            extra = json.loads(connection.extra)
        except ValueError:
            extra = connection.extra
        if isinstance(extra, Mapping):
            public = set(public_extra_keys)
            extra = {k: v for k, v in extra.items() if k not in public}
        yield from (s for s in _strings(extra) if len(s) >= MIN_SECRET_LENGTH)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def scrub(value: Any, secrets: Sequence[str] = ()) -> Any:
    """``value`` with secrets replaced by ``***``, recursively through dicts and lists.

    Scrubbed: every string in ``secrets``; the password of any ``scheme://user:password@`` URL;
    and whatever Airflow's secrets masker was told to hide in this process (connection passwords
    and sensitive extras fetched by any hook, sensitive Variables...).
    """
    ordered = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
    return _airflow_redact(_scrub(value, ordered))


def _scrub(value: Any, secrets: Sequence[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return _URL_CREDENTIALS.sub(rf"\1:{REDACTED}@", value)
    if isinstance(value, dict):
        return {_scrub(str(k), secrets): _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, secrets) for v in value]
    return value


def _airflow_redact(value: Any) -> Any:
    try:
        from airflow.sdk._shared.secrets_masker import redact
    except ImportError:  # pragma: no cover - moved in a later Airflow: explicit scrubbing still applies
        return value
    try:
        return redact(value)
    except Exception:  # noqa: BLE001 - the explicit scrubbing above already ran
        return value


def jsonable(value: Any) -> Any:
    """JSON-compatible copy: dicts/lists/scalars kept, dates as ISO strings, anything else ``str()``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return str(value)


def iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ------------------------------------------------------------------------------------ payload


def build_payload(
    context: Any,
    *,
    event: str,
    message: str,
    details: Mapping[str, Any] | None = None,
    secrets: Sequence[str] = (),
) -> dict[str, Any]:
    """The alert as one scrubbed, JSON-able dict (see the module docstring for its fields)."""
    fields = context_fields(context)
    url = (details or {}).get("url") or ui_url(fields["dag_id"], fields["run_id"], fields["task_id"])
    payload = {
        "event": event,
        "message": message,
        **fields,
        "url": url,
        "details": jsonable(dict(details or {})),
    }
    scrubbed: dict[str, Any] = scrub(payload, secrets)
    return scrubbed


# ---------------------------------------------------------------------------------- rendering


def headline(payload: Mapping[str, Any]) -> str:
    """``Task failed: air_quality_daily.gate_readings (2026-01-02)`` -- subject line and Slack header."""
    where = ".".join(str(p) for p in (payload.get("dag_id"), payload.get("task_id")) if p) or "lockgate"
    when = (payload.get("logical_date") or "")[:10] or payload.get("run_id") or ""
    return f"{title(str(payload.get('event')))}: {where}" + (f" ({when})" if when else "")


def facts(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The details worth showing to a person: scalar values (and lists of scalars), in order."""
    shown = []
    for key, value in (payload.get("details") or {}).items():
        if key == "url":
            continue
        if isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
            value = ", ".join(str(v) for v in value)
        if isinstance(value, (dict, list)) or value is None or value == "":
            continue
        text = str(value)
        shown.append((str(key), text if len(text) <= _MAX_FACT_CHARS else text[: _MAX_FACT_CHARS - 3] + "..."))
    return shown


def render_text(payload: Mapping[str, Any]) -> str:
    """Plain text: headline, message, facts, link."""
    lines = [headline(payload), "", str(payload.get("message") or "")]
    shown = facts(payload)
    if shown:
        lines += [""] + [f"{key}: {value}" for key, value in shown]
    if payload.get("url"):
        lines += ["", f"Open in Airflow: {payload['url']}"]
    return "\n".join(lines)


def _slack_escape(text: str) -> str:
    # https://api.slack.com/reference/surfaces/formatting#escaping
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_slack(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook body: ``text`` in mrkdwn (the message verbatim in a code block)."""
    lines = [f"*{_slack_escape(headline(payload))}*", "```" + _slack_escape(str(payload.get("message") or "")) + "```"]
    lines += [f"*{_slack_escape(key)}*: {_slack_escape(value)}" for key, value in facts(payload)]
    if payload.get("url"):
        lines.append(f"<{payload['url']}|Open in Airflow>")
    return {"text": "\n".join(lines), "unfurl_links": False}


def render_email(payload: Mapping[str, Any]) -> tuple[str, str]:
    """``(subject, html body)`` for an email alert."""
    subject = f"[lockgate] {headline(payload)}"
    rows = "".join(
        f"<tr><th align='left'>{html.escape(key)}</th><td>{html.escape(value)}</td></tr>"
        for key, value in facts(payload)
    )
    body = [
        f"<h3>{html.escape(headline(payload))}</h3>",
        f"<pre>{html.escape(str(payload.get('message') or ''))}</pre>",
    ]
    if rows:
        body.append(f"<table>{rows}</table>")
    if payload.get("url"):
        url = html.escape(str(payload["url"]), quote=True)
        body.append(f"<p><a href='{url}'>Open in Airflow</a></p>")
    return subject, "\n".join(body)
