"""Per-task metrics: rows in/out/quarantined, bytes, duration, throughput -- to StatsD and XCom.

Every :class:`~lockgate.operators.base.LakeOperator` measures itself through
:class:`TaskMetricsHook`.  From the counts its ``execute()`` returns (``rows_in``, ``rows_passed``,
``rows_loaded``, ``rows``, ``rows_quarantined``, ``bytes``...) it derives one set of metrics
(:func:`task_metrics`) and

* emits them through Airflow's metrics (``airflow.sdk.observability.stats``: StatsD, DogStatsD or
  OpenTelemetry, whichever ``[metrics]`` enables)::

      <statsd_prefix>.lockgate.<dag_id>.<task_id>.rows_in            counter
      <statsd_prefix>.lockgate.<dag_id>.<task_id>.rows_out           counter
      <statsd_prefix>.lockgate.<dag_id>.<task_id>.rows_quarantined   counter
      <statsd_prefix>.lockgate.<dag_id>.<task_id>.bytes              counter
      <statsd_prefix>.lockgate.<dag_id>.<task_id>.duration           timer (ms)
      <statsd_prefix>.lockgate.<dag_id>.<task_id>.rows_per_second    gauge

  with ``dag_id``, ``task_id`` and ``dataset`` also as tags for backends that take tags;
* keeps them in the task's XCom return value under ``"metrics"``, where the run summary
  (:mod:`lockgate.notifiers.summary`) and anyone else can read them;
* logs them in one line.

Measuring never fails a task: any error here is logged and the task's result is left as it was.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)

METRICS_KEY = "metrics"
STAT_PREFIX = "lockgate"

# which return-value field means what, first match wins
_ROWS_IN = ("rows_in", "rows")
_ROWS_OUT = ("rows_out", "rows_passed", "rows_loaded", "rows")
_ROWS_QUARANTINED = ("rows_quarantined",)
_BYTES = ("bytes",)

COUNTERS = ("rows_in", "rows_out", "rows_quarantined", "bytes")


def _first(result: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = result.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return int(value)
    return None


def task_metrics(result: Any, duration_s: float | None) -> dict[str, Any]:
    """The metrics of one execution from its return value (a dict of counts) and its duration.

    Counts a task does not report are left out (``None`` values are dropped); ``rows_per_second``
    and ``bytes_per_second`` divide the output rows (else the input rows) and the bytes by the
    duration.
    """
    counts = result if isinstance(result, Mapping) else {}
    metrics: dict[str, Any] = {
        "rows_in": _first(counts, _ROWS_IN),
        "rows_out": _first(counts, _ROWS_OUT),
        "rows_quarantined": _first(counts, _ROWS_QUARANTINED),
        "bytes": _first(counts, _BYTES),
        "duration_s": None if duration_s is None else round(duration_s, 6),
    }
    if duration_s and duration_s > 0:
        rows = metrics["rows_out"] if metrics["rows_out"] is not None else metrics["rows_in"]
        if rows is not None:
            metrics["rows_per_second"] = round(rows / duration_s, 1)
        if metrics["bytes"] is not None:
            metrics["bytes_per_second"] = round(metrics["bytes"] / duration_s, 1)
    return {k: v for k, v in metrics.items() if v is not None}


def stat_name(dag_id: str, task_id: str, metric: str) -> str:
    """``lockgate.<dag_id>.<task_id>.<metric>`` (Airflow adds its ``statsd_prefix``)."""
    from airflow.sdk.observability.stats import normalize_name_for_stats

    return normalize_name_for_stats(f"{STAT_PREFIX}.{dag_id}.{task_id}.{metric}", log_warning=False)


#: set once the missing statsd package has been reported, so a worker says it once, not per task
_STATSD_REPORTED: list[str] = []


def statsd_problem() -> str | None:
    """What to install when ``[metrics] statsd_on`` is set but the ``statsd`` package is missing.

    StatsD is optional (``lockgate[statsd]``). Without the package Airflow quietly falls back to a
    logger that sends nothing; this names the fix instead. ``None`` when there is nothing to fix.
    """
    from airflow.sdk.configuration import conf

    if not conf.getboolean("metrics", "statsd_on", fallback=False):
        return None
    try:
        import statsd  # noqa: F401 - only whether it imports
    except ImportError:
        return (
            "[metrics] statsd_on is True but the Python package 'statsd' is not installed, so no metric "
            "is sent: install it with pip install 'lockgate[statsd]' (or apache-airflow-core[statsd])"
        )
    return None


def emit(dag_id: str, task_id: str, metrics: Mapping[str, Any], tags: Mapping[str, Any] | None = None) -> None:
    """Send ``metrics`` through Airflow's metrics backend (a no-op when ``[metrics]`` enables none)."""
    from airflow.sdk.observability import stats

    problem = statsd_problem()
    if problem:
        if not _STATSD_REPORTED:
            log.warning("%s", problem)
            _STATSD_REPORTED.append(problem)
        return
    tag_dict = {"dag_id": dag_id, "task_id": task_id, **dict(tags or {})}
    for name in COUNTERS:
        if name in metrics:
            stats.incr(stat_name(dag_id, task_id, name), count=int(metrics[name]), tags=tag_dict)
    if "duration_s" in metrics:
        stats.timing(stat_name(dag_id, task_id, "duration"), float(metrics["duration_s"]) * 1000.0, tags=tag_dict)
    if "rows_per_second" in metrics:
        stats.gauge(stat_name(dag_id, task_id, "rows_per_second"), float(metrics["rows_per_second"]), tags=tag_dict)


def describe(metrics: Mapping[str, Any]) -> str:
    """One log line: ``rows_in=7152 rows_out=7129 ... duration=1.2s throughput=5940.8 rows/s``."""
    parts = [f"{k}={metrics[k]}" for k in COUNTERS if k in metrics]
    if "duration_s" in metrics:
        parts.append(f"duration={metrics['duration_s']}s")
    if "rows_per_second" in metrics:
        parts.append(f"throughput={metrics['rows_per_second']} rows/s")
    return " ".join(parts)


class TaskMetricsHook:
    """The ``pre_execute=``/``post_execute=`` pair that measures a task (see the module docstring).

    Airflow 3.3's task runner calls an operator's ``post_execute()`` *method* with the context
    only, but a ``post_execute=`` *callable* given to the constructor with ``(context, result)``; so
    the operator base installs :meth:`finished` there (and :meth:`started` as ``pre_execute=``),
    chaining whatever hooks the DAG author passed.

    :param pre_execute: the author's own ``pre_execute`` callable, called first.
    :param post_execute: the author's own ``post_execute`` callable, called after the metrics.
    """

    def __init__(
        self,
        pre_execute: Callable[..., Any] | None = None,
        post_execute: Callable[..., Any] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pre_execute = pre_execute
        self.post_execute = post_execute
        self.clock = clock
        self._started: float | None = None

    def started(self, context: Any) -> None:
        self._started = self.clock()
        if self.pre_execute is not None:
            self.pre_execute(context)

    def finished(self, context: Any, result: Any = None) -> None:
        self.record(context, result)
        if self.post_execute is not None:
            self.post_execute(context, result)

    def record(self, context: Any, result: Any) -> dict[str, Any] | None:
        """Measure one execution: emit, log, and add ``"metrics"`` to a dict result; never raises."""
        try:
            duration = None if self._started is None else self.clock() - self._started
            ti = context.get("ti") if hasattr(context, "get") else None
            task = context.get("task") if hasattr(context, "get") else None
            dag_id = str(getattr(ti, "dag_id", None) or getattr(getattr(task, "dag", None), "dag_id", "unknown"))
            task_id = str(getattr(ti, "task_id", None) or getattr(task, "task_id", "unknown"))
            metrics = task_metrics(result, duration)
            dataset = getattr(task, "dataset", None)
            emit(dag_id, task_id, metrics, {"dataset": dataset} if dataset else None)
            if isinstance(result, dict) and METRICS_KEY not in result:
                result[METRICS_KEY] = metrics
            log.info("%s.%s metrics: %s", dag_id, task_id, describe(metrics))
            return metrics
        except Exception as exc:  # noqa: BLE001 - metrics never fail a task
            log.warning("lockgate metrics not recorded (%s: %s)", type(exc).__name__, exc)
            return None
