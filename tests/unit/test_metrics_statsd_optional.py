"""StatsD is optional (``lockgate[statsd]``): metrics configured without the package say what to install.

Airflow alone falls back to a logger that sends nothing, with "Could not configure StatsClient" in its
log; Lockgate names the missing package and the extra, once, and keeps the counts in XCom and the log.
"""

from __future__ import annotations

import logging
import sys
from types import SimpleNamespace

import pytest

from lockgate import metrics


@pytest.fixture
def reported(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    fresh: list[str] = []
    monkeypatch.setattr(metrics, "_STATSD_REPORTED", fresh)
    return fresh


def _context() -> dict[str, object]:
    return {"ti": SimpleNamespace(dag_id="d", task_id="t"), "task": SimpleNamespace(dataset="readings")}


def test_statsd_on_without_the_package_names_the_extra_and_keeps_the_counts(
    monkeypatch: pytest.MonkeyPatch, reported: list[str]
) -> None:
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
    monkeypatch.setitem(sys.modules, "statsd", None)  # what an environment without the package sees
    problem = metrics.statsd_problem()
    assert problem is not None
    assert "pip install 'lockgate[statsd]'" in problem
    assert "statsd_on" in problem

    hook = metrics.TaskMetricsHook(clock=iter([0.0, 2.0, 10.0, 12.0]).__next__)
    # listen on the module's logger alone: Airflow's logging set-up may or may not propagate it
    heard: list[logging.LogRecord] = []
    listener = logging.Handler(level=logging.WARNING)
    listener.emit = heard.append  # type: ignore[method-assign]
    monkeypatch.setattr(metrics.log, "handlers", [listener])
    monkeypatch.setattr(metrics.log, "propagate", False)
    monkeypatch.setattr(metrics.log, "disabled", False)
    monkeypatch.setattr(metrics.log, "level", logging.WARNING)
    for _ in range(2):  # two tasks in one worker: one warning
        result = {"rows": 10, "bytes": 100}
        hook.started(_context())
        hook.finished(_context(), result)
        assert result["metrics"]["rows_in"] == 10  # the counts still reach XCom
    warnings = [r.getMessage() for r in heard if "lockgate[statsd]" in r.getMessage()]
    assert len(warnings) == 1
    assert reported == [problem]


def test_statsd_on_with_the_package_installed_is_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    import statsd  # noqa: F401 - the dev group installs lockgate[statsd]: missing here is a failure

    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
    assert metrics.statsd_problem() is None


def test_metrics_off_need_no_statsd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "False")
    monkeypatch.setitem(sys.modules, "statsd", None)
    assert metrics.statsd_problem() is None
