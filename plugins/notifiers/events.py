"""The alert vocabulary every Lockgate notifier speaks (webhook, Slack, email).

An alert is one *event* (what happened) about one DAG run, optionally one task of it.  Routing
(:func:`lockgate.alerts.notifiers_for`) is declared per pipeline in these names.
"""

from __future__ import annotations

from typing import Final

TASK_FAILURE: Final = "task_failure"
"""A task failed (after its last try): ``on_failure_callback``."""
TASK_RETRY: Final = "task_retry"
"""A task failed and will be retried: ``on_retry_callback``."""
DQ_WARNING: Final = "dq_warning"
"""A ``warn``-severity data-quality check failed; the run goes on."""
SCHEMA_DRIFT: Final = "schema_drift"
"""The source's columns no longer match the dataset's contract."""
LATE_BATCH: Final = "late_batch"
"""The data of a logical date was not loaded by the pipeline's deadline (Airflow ``DeadlineAlert``)."""
RUN_SUMMARY: Final = "run_summary"
"""One message per finished DAG run: what loaded, what was quarantined, what failed, a link."""

EVENTS: Final[tuple[str, ...]] = (TASK_FAILURE, TASK_RETRY, DQ_WARNING, SCHEMA_DRIFT, LATE_BATCH, RUN_SUMMARY)

#: Human titles (subject lines, Slack headers).
TITLES: Final[dict[str, str]] = {
    TASK_FAILURE: "Task failed",
    TASK_RETRY: "Task retrying",
    DQ_WARNING: "Data-quality warning",
    SCHEMA_DRIFT: "Schema drift",
    LATE_BATCH: "Late batch",
    RUN_SUMMARY: "Run summary",
}


def title(event: str) -> str:
    """The human title of ``event`` (an unknown event name is shown as it is)."""
    return TITLES.get(event, event.replace("_", " ").capitalize())
