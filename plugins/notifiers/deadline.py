"""The ``late_batch`` message: the data of a logical date was not loaded by the pipeline's deadline.

Airflow calls a ``DeadlineAlert`` callback with a small context (``Deadline.handle_miss``)::

    {"dag_run": {<the REST API's DAGRunResponse as JSON: dag_id, dag_run_id, logical_date, state...>},
     "deadline": {"id": "...", "deadline_time": <datetime or ISO string>}}

:func:`late_batch_alert` turns that into the message, the details and the context to send them
with; :func:`lockgate.alerts.notify_late_batch` (the callback itself) sends them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lockgate.notifiers.payload import context_fields, iso, logical_ds, ui_url

_STATE_PHRASES = {
    "queued": "is still queued",
    "running": "is still running",
    "failed": "failed",
    "success": "succeeded, after the deadline",
}


def _deadline_time(context: Mapping[str, Any]) -> str | None:
    deadline = context.get("deadline")
    value = deadline.get("deadline_time") if isinstance(deadline, Mapping) else None
    if isinstance(value, datetime):
        return value.isoformat()
    return iso(value)


def _readable(timestamp: str | None) -> str:
    """``2026-01-03T06:00:00+00:00`` -> ``2026-01-03 06:00 UTC`` (as given when it does not parse)."""
    if not timestamp:
        return "its deadline"
    try:
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return timestamp
    if moment.utcoffset() is not None and moment.utcoffset().total_seconds() == 0:  # type: ignore[union-attr]
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    return moment.isoformat(timespec="minutes")


def late_batch_alert(context: Mapping[str, Any] | None) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``(message, details, send_context)`` for a missed deadline."""
    context = dict(context or {})
    dag_run = context.get("dag_run")
    fields = context_fields(context)
    ds = logical_ds(context)
    state = dag_run.get("state") if isinstance(dag_run, Mapping) else getattr(dag_run, "state", None)
    state = None if state is None else str(getattr(state, "value", state))
    deadline = _deadline_time(context)
    url = ui_url(fields["dag_id"], fields["run_id"])

    message = f"{fields['dag_id']}: the data for {ds or 'its logical date'} was not loaded by {_readable(deadline)}"
    if state:
        message += f"; run {fields['run_id']} {_STATE_PHRASES.get(state, 'is ' + state)}"
    details = {"ds": ds, "deadline": deadline, "run_state": state, "url": url}
    send_context = {
        "dag_id": fields["dag_id"],
        "run_id": fields["run_id"],
        "logical_date": fields["logical_date"],
        "ds": ds,
    }
    return message + ".", details, send_context


def work_around_dag_test_deadline_bug() -> None:
    """Let ``dag.test()`` finish a successful run of a DAG that has a ``deadline`` (Airflow 3.3.2).

    apache/airflow#73428 (fix proposed in #73430): ``DAG.test()`` builds its scheduler DAG by an
    in-memory serialization round trip, so ``dag.deadline`` holds encoded alerts instead of
    ``deadline_alert`` ids, and ``DagRun.update_state()`` crashes on a successful run when it looks
    them up (``'dict' object has no attribute 'hex'``) -- ``make demo`` and every ``dag.test()``
    of such a DAG.  As the proposed fix does, an encoded alert is decoded instead of looked up (the
    caller only needs its reference type); ids go to Airflow's own lookup unchanged.

    Only applied where Airflow core's models are already loaded (``dag.test()``, the DAG processor),
    never imported for it, and only once.  Remove when the Airflow in use has the fix.
    """
    import sys

    module = sys.modules.get("airflow.models.deadline_alert")
    model = getattr(module, "DeadlineAlert", None)
    if model is None or getattr(model.get_by_id, "_lockgate_decodes_encoded_alerts", False):
        return
    lookup = model.get_by_id

    def get_by_id(deadline_alert_id: Any, **kwargs: Any) -> Any:
        if isinstance(deadline_alert_id, Mapping):
            encoded = deadline_alert_id
            return model(
                name=encoded.get("name"),
                reference=encoded.get("reference") or {},
                interval=encoded.get("interval"),
                callback_def=encoded.get("callback"),
            )
        return lookup(deadline_alert_id, **kwargs)

    get_by_id._lockgate_decodes_encoded_alerts = True  # type: ignore[attr-defined]
    model.get_by_id = staticmethod(get_by_id)
