"""Task metrics through Airflow's own StatsD client to a real UDP listener on 127.0.0.1.

The operator runs as the task runner runs it: its ``pre_execute`` hook, ``execute()``, then its
``post_execute`` hook with the result (``TaskMetricsHook`` installed by ``LakeOperator``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from lockgate.operators.ingest import IngestOperator
from lockgate.sample_data import generate
from tests.unit.notifiers.servers import UdpRecorder

pytestmark = pytest.mark.integration

DS = "2026-01-02"
RUN_ID = "manual__2026-01-02T00:00:00+00:00"


@pytest.fixture
def statsd(monkeypatch: pytest.MonkeyPatch) -> Iterator[UdpRecorder]:
    from airflow.sdk.observability import stats
    from airflow.sdk.observability.metrics import stats_utils

    with UdpRecorder() as listener:
        monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
        monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
        monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(listener.port))
        monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PREFIX", "lockgate_test")
        # what a worker does when it starts (task_runner.main): a backend from the [metrics] settings
        stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=False)
        try:
            yield listener
        finally:
            monkeypatch.undo()
            stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=False)


def test_an_ingest_task_emits_rows_bytes_duration_and_throughput(statsd: UdpRecorder, lockgate_home: Path) -> None:
    batch = generate(DS, lockgate_home / "sources")
    source = lockgate_home / "sources" / "gateway" / f"readings_{DS}.ndjson"
    op = IngestOperator(task_id="ingest_gateway", dataset="readings", source=str(source), format="ndjson")
    context = {
        "ds": DS,
        "run_id": RUN_ID,
        "dag": SimpleNamespace(dag_id="air_quality_daily"),
        "ti": SimpleNamespace(dag_id="air_quality_daily", task_id="ingest_gateway"),
        "task": op,
    }

    op._pre_execute_hook(context)
    result = op.execute(context)
    op._post_execute_hook(context, result)

    name = "lockgate_test.lockgate.air_quality_daily.ingest_gateway."
    statsd.wait_for(lambda: len(statsd.metrics(name)) >= 5)
    received = statsd.metrics(name)
    size = source.stat().st_size
    assert received[name + "rows_in"] == [(batch.gateway.rows, "c")]
    assert received[name + "rows_out"] == [(batch.gateway.rows, "c")]
    assert received[name + "bytes"] == [(size, "c")]
    [(duration_ms, kind)] = received[name + "duration"]
    assert kind == "ms"
    assert 0 < duration_ms < 60_000
    [(rate, kind)] = received[name + "rows_per_second"]
    assert kind == "g"
    assert rate == pytest.approx(batch.gateway.rows / (duration_ms / 1000), rel=0.01)
    assert name + "rows_quarantined" not in received  # ingestion quarantines nothing: not reported

    # the same numbers stay in the task's return value (its XCom)
    assert result["metrics"] == {
        "rows_in": batch.gateway.rows,
        "rows_out": batch.gateway.rows,
        "bytes": size,
        "duration_s": pytest.approx(duration_ms / 1000, abs=0.001),
        "rows_per_second": pytest.approx(rate, abs=0.1),
        "bytes_per_second": pytest.approx(size / (duration_ms / 1000), rel=0.01),
    }
    assert result["rows"] == batch.gateway.rows
    assert result["bytes"] == size
