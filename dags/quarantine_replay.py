"""
### lockgate_quarantine_replay — replay a dataset's quarantined rows with the current contract

Triggered (never scheduled) after a contract or parser fix, from the **Data health** page's
*Replay quarantine* button, from `lockgate replay --dataset X --from D1 --to D2`, or from the
trigger form. For each date of `start`..`end` whose gate quarantined rows of `dataset`, the
pipeline's own gate re-reads the date's raw input **as received** (the raw zone of the original
run) with today's contract: rows that now pass are staged, rows still bad stay quarantined with
fresh reasons. A date whose staged rows changed is partitioned and loaded by the pipeline's own
tasks, which replace the date: each row is in the warehouse exactly once, however often the date
is replayed. `lockgate_replay_audit` (and the `lockgate_replay` OpenLineage run facet, and the
date's `report.json`) name the original run of each date. See `lockgate.replay`.

Params: `dataset`, `start`, `end` (default `start`), optionally `dag_id` (the pipeline; default
from the date's run summary) and `run_id` (replay that run's raw input when a date has several),
and `allow_shrink` as for any load.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag

from lockgate.alerts import notifiers_for
from lockgate.operators.load import load_params
from lockgate.replay import REPLAY_DAG_ID, QuarantineReplayOperator

_OPTIONAL = ["null", "string"]
ALERTS = {"default": ["webhook:lockgate_alerts"]}


@dag(
    dag_id=REPLAY_DAG_ID,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    # one replay at a time: two replays of the same date would race for its staged zone
    max_active_runs=1,
    # nothing runs unless someone triggers it, so it may start unpaused (a trigger from the
    # page then runs at once instead of waiting for someone to unpause the DAG)
    is_paused_upon_creation=False,
    tags=["lockgate", "data-health"],
    doc_md=__doc__,
    params={
        "dataset": Param("", type="string", title="Dataset", description="the dataset whose quarantine to replay"),
        "start": Param("", type="string", title="First date", description="YYYY-MM-DD"),
        "end": Param(None, type=_OPTIONAL, title="Last date", description="YYYY-MM-DD (default: the first date)"),
        "dag_id": Param(None, type=_OPTIONAL, title="Pipeline DAG", description="default: from the run summary"),
        "run_id": Param(None, type=_OPTIONAL, title="Original run", description="default: the date's run"),
        **load_params(),
    },
    # a retry is safe: a date whose loads do not hold its re-gated rows is reloaded (lockgate.replay)
    default_args={
        "owner": "data-team",
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "on_failure_callback": notifiers_for(ALERTS, "task_failure"),
        "on_retry_callback": notifiers_for(ALERTS, "task_retry"),
    },
)
def lockgate_quarantine_replay() -> None:
    QuarantineReplayOperator(
        task_id="replay",
        dataset="{{ params.dataset }}",
        start="{{ params.start }}",
        end="{{ params.end or '' }}",
        source_dag_id="{{ params.dag_id or '' }}",
        original_run_id="{{ params.run_id or '' }}",
    )


quarantine_replay_dag = lockgate_quarantine_replay()
