"""One message per DAG run: what loaded, what was quarantined, what failed, and a link to the run.

:class:`RunSummaryNotifier` is the DAG-level ``on_success_callback``/``on_failure_callback``: it
builds the summary once (:func:`build_run_summary`) and sends it as a ``run_summary`` event through
each of its channel notifiers (webhook, Slack, email).

The numbers come from the run summary the pipeline wrote to the lake
(``reports/<dag_id>/ds=<date>/summary.json``, by ``RunSummaryOperator``) when this run wrote it;
otherwise -- the run failed before its summary step -- from what the tasks of the run returned
(their XCom return values: ``rows_loaded``, ``rows_quarantined``...) and their states.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

from lockgate.config import DEFAULT_LAKE_CONN_ID
from lockgate.notifiers.events import RUN_SUMMARY
from lockgate.notifiers.payload import context_fields, logical_ds, scrub, short, ui_url
from lockgate.notifiers.runstate import FAILED_STATES, NOT_RUN_STATES, TaskOutcome, task_outcomes

if TYPE_CHECKING:
    from airflow.sdk.definitions.context import Context

    from lockgate.notifiers.base import LockgateNotifier

log = logging.getLogger(__name__)

SUMMARY_FILE = "summary.json"


@dataclass
class RunSummary:
    """The summary of one run: ``message`` for people, ``details`` for machines."""

    dag_id: str | None
    run_id: str | None
    ds: str | None
    state: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def context(self, logical_date: Any = None) -> dict[str, Any]:
        """The context to send it with: the run, no task (so the link goes to the run)."""
        return {"dag_id": self.dag_id, "run_id": self.run_id, "logical_date": logical_date, "ds": self.ds}


def run_state(context: Any) -> str:
    """``success`` or ``failed`` from the callback's ``reason`` (else the run's state)."""
    get = context.get if hasattr(context, "get") else (lambda _k, _d=None: None)
    reason = get("reason")
    if reason:
        return "success" if str(reason) == "success" else "failed"
    dag_run = get("dag_run")
    state = dag_run.get("state") if isinstance(dag_run, Mapping) else getattr(dag_run, "state", None)
    return str(getattr(state, "value", state) or "finished")


def read_lake_summary(dag_id: str, ds: str, run_id: str, lake_conn_id: str) -> dict[str, Any] | None:
    """This run's ``summary.json``, or ``None`` (absent, unreadable, or written by another run)."""
    try:
        from lockgate.hooks.lake import LakeHook
        from lockgate.layout import zone_prefix

        lake = LakeHook(lake_conn_id=lake_conn_id)
        key = f"{zone_prefix('reports', dag_id, ds)}/{SUMMARY_FILE}"
        if not lake.exists(key):
            return None
        summary = lake.read_json(key)
    except Exception as exc:  # noqa: BLE001 - fall back to the task states
        log.warning("run summary not read from the lake (%s: %s)", type(exc).__name__, short(scrub(str(exc))))
        return None
    if not isinstance(summary, dict) or summary.get("run_id") != run_id:
        return None  # an earlier run's summary of the same date says nothing about this run
    return summary


def _from_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    datasets = list(summary.get("datasets") or [])
    return {
        "loaded": {str(d.get("table") or d.get("dataset")): int(d.get("rows_loaded") or 0) for d in datasets},
        "quarantined": {str(d.get("dataset")): int(d.get("rows_quarantined") or 0) for d in datasets},
        "duplicates": {str(d.get("dataset")): int(d.get("duplicates_removed") or 0) for d in datasets},
        "warnings": [str(w) for w in summary.get("warnings") or []],
        "datasets": datasets,
    }


def _from_results(outcomes: Mapping[str, TaskOutcome]) -> dict[str, Any]:
    """What the tasks of the run returned: loads (``table``/``rows_loaded``), gates (``rows_quarantined``)."""
    loaded: dict[str, int] = {}
    quarantined: dict[str, int] = {}
    duplicates: dict[str, int] = {}
    warnings: list[str] = []
    for task_id, outcome in sorted(outcomes.items()):
        result = outcome.result if isinstance(outcome.result, Mapping) else {}
        if "rows_loaded" in result:
            loaded[str(result.get("table") or task_id)] = int(result["rows_loaded"] or 0)
        if "rows_quarantined" in result:
            quarantined[task_id] = int(result["rows_quarantined"] or 0)
        if "duplicates_removed" in result:
            duplicates[task_id] = int(result["duplicates_removed"] or 0)
        warnings += [f"{task_id}: {w}" for w in result.get("warnings") or []]
    return {"loaded": loaded, "quarantined": quarantined, "duplicates": duplicates, "warnings": warnings}


def _mapped_task_id(name: str, task_ids: Collection[str]) -> str | None:
    """The task a mapped instance (``<task_id>_<map index>``, as Airflow names them) belongs to."""
    task_id, _, index = name.rpartition("_")
    return task_id if index.isdigit() and task_id in task_ids and name not in task_ids else None


def _mapped_entry(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One entry for all instances of a mapped task: counts and task-seconds summed, rates from the sums."""
    from lockgate.metrics import COUNTERS

    states = {e["state"] for e in entries}
    state = states.pop() if len(states) == 1 else "failed" if "failed" in states else "mixed"
    entry: dict[str, Any] = {"state": state, "mapped": len(entries)}
    for name in (*COUNTERS, "duration_s"):
        values = [e[name] for e in entries if isinstance(e.get(name), (int, float))]
        if values:
            entry[name] = round(sum(values), 6) if name == "duration_s" else sum(values)
    seconds = entry.get("duration_s")
    if seconds:
        rows = entry.get("rows_out", entry.get("rows_in"))
        if rows is not None:
            entry["rows_per_second"] = round(rows / seconds, 1)
        if entry.get("bytes") is not None:
            entry["bytes_per_second"] = round(entry["bytes"] / seconds, 1)
    return entry


def _task_metrics(outcomes: Mapping[str, TaskOutcome], task_ids: Collection[str] = ()) -> dict[str, Any]:
    """Per task: its state and metrics. The instances of a mapped task (one per file of a big day)
    are one entry under the task id, with ``mapped`` (how many) and their counts summed; which
    instance failed stays in ``failed_tasks``."""
    from lockgate.metrics import METRICS_KEY

    tasks: dict[str, Any] = {}
    mapped: dict[str, list[dict[str, Any]]] = {}
    for task_id, outcome in sorted(outcomes.items()):
        entry: dict[str, Any] = {"state": outcome.state}
        if isinstance(outcome.result, Mapping) and isinstance(outcome.result.get(METRICS_KEY), Mapping):
            entry.update(outcome.result[METRICS_KEY])
        parent = _mapped_task_id(task_id, task_ids)
        if parent is None:
            tasks[task_id] = entry
        else:
            mapped.setdefault(parent, []).append(entry)
    for task_id, entries in mapped.items():
        tasks[task_id] = _mapped_entry(entries)
    return dict(sorted(tasks.items()))


def _dag_task_ids(context: Any) -> frozenset[str]:
    """The task ids of the callback's DAG (empty when the context has no real DAG)."""
    dag = context.get("dag") if hasattr(context, "get") else None
    task_ids = getattr(dag, "task_ids", None)
    return frozenset(task_ids) if isinstance(task_ids, (list, tuple, set, frozenset)) else frozenset()


def _counts(counts: Mapping[str, int], *, zeros: bool = True) -> str:
    return ", ".join(f"{name} {rows:,}" for name, rows in counts.items() if rows or zeros)


def build_run_summary(
    context: Any,
    *,
    lake_conn_id: str = DEFAULT_LAKE_CONN_ID,
    outcomes: Mapping[str, TaskOutcome] | None = None,
) -> RunSummary:
    """The summary of the run ``context`` belongs to (a DAG-level callback's context).

    ``outcomes``: the run's task states and results when the caller has them (else they are asked for).
    """
    fields = context_fields(context)
    dag_id, run_id = fields["dag_id"], fields["run_id"]
    ds = logical_ds(context)
    state = run_state(context)
    reason = context.get("reason") if hasattr(context, "get") else None

    if outcomes is None:
        outcomes = task_outcomes(dag_id, run_id) if dag_id and run_id else {}
    failed = sorted(t for t, o in outcomes.items() if o.state in FAILED_STATES)
    not_run = sorted(t for t, o in outcomes.items() if o.state in NOT_RUN_STATES)
    if state != "success" and not outcomes and fields["task_id"]:
        failed = [fields["task_id"]]  # no task states to be had: at least the task the callback names

    summary = read_lake_summary(dag_id, ds, run_id, lake_conn_id) if dag_id and ds and run_id else None
    found = _from_summary(summary) if summary is not None else _from_results(outcomes)
    source = "summary.json" if summary is not None else "task results"
    url = ui_url(dag_id, run_id)

    verb = "succeeded" if state == "success" else "FAILED" if state == "failed" else state
    lines = [f"{dag_id} ds={ds or '?'} {verb}" + (f" ({reason})" if reason and state != "success" else "")]
    total_loaded = sum(found["loaded"].values())
    total_quarantined = sum(found["quarantined"].values())
    total_duplicates = sum(found["duplicates"].values())
    lines.append(f"Loaded: {total_loaded:,} rows" + (f" ({_counts(found['loaded'])})" if found["loaded"] else ""))
    lines.append(
        f"Quarantined: {total_quarantined:,} rows"
        + (f" ({_counts(found['quarantined'], zeros=False)})" if total_quarantined else "")
    )
    if total_duplicates:
        lines.append(f"Duplicates removed: {total_duplicates:,} rows ({_counts(found['duplicates'], zeros=False)})")
    if found["warnings"]:
        lines.append("Data-quality warnings: " + "; ".join(found["warnings"]))
    lines.append("Failed: " + (", ".join(failed) if failed else "nothing"))
    if not_run:
        lines.append("Not run: " + ", ".join(not_run))
    if url:
        lines.append(f"Run: {url}")

    details: dict[str, Any] = {
        "state": state,
        "reason": reason,
        "ds": ds,
        "source": source,
        "totals": {
            "rows_loaded": total_loaded,
            "rows_quarantined": total_quarantined,
            "duplicates_removed": total_duplicates,
        },
        "loaded": found["loaded"],
        "quarantined": found["quarantined"],
        "warnings": found["warnings"],
        "failed_tasks": failed,
        "not_run_tasks": not_run,
        "tasks": _task_metrics(outcomes, _dag_task_ids(context)),
        "url": url,
    }
    if "datasets" in found:
        details["datasets"] = found["datasets"]
    return RunSummary(dag_id, run_id, ds, state, "\n".join(lines), details)


class RunSummaryNotifier(BaseNotifier):
    """DAG-level callback sending one ``run_summary`` message per run through ``notifiers``; never raises.

    :param notifiers: the channel notifiers to send through (see :func:`lockgate.alerts.notifiers_for`).
    :param lake_conn_id: the lake holding ``reports/<dag_id>/ds=<date>/summary.json``.
    """

    def __init__(self, *, notifiers: Sequence[LockgateNotifier], lake_conn_id: str = DEFAULT_LAKE_CONN_ID) -> None:
        super().__init__()
        self.notifiers = list(notifiers)
        self.lake_conn_id = lake_conn_id

    def __call__(self, *args: Any) -> None:
        try:
            BaseNotifier.__call__(copy.copy(self), *args)
        except Exception as exc:  # noqa: BLE001 - alerts must never fail anything
            log.warning("lockgate run summary not sent (%s: %s)", type(exc).__name__, short(scrub(str(exc))))

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        """Nothing to render (and ``dag.test()`` hands DAG callbacks a DAG without a template env)."""

    def notify(self, context: Context) -> None:
        summary = build_run_summary(context, lake_conn_id=self.lake_conn_id)
        logical_date = context.get("logical_date") if hasattr(context, "get") else None
        for notifier in self.notifiers:
            notifier.notify_event(
                summary.context(logical_date), event=RUN_SUMMARY, message=summary.message, details=summary.details
            )
