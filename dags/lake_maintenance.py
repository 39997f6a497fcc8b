"""
### lake_maintenance — housekeeping of the Lockgate lake

Every day, for the logical date:

1. **raw retention**: delete `raw/<dataset>/ds=<date>/` partitions dated more than
   `raw_retention_days` before the logical date (`lockgate.operators.maintenance.RawRetentionOperator`).
   The raw zone keeps files as received, personal data included, so it is kept no longer than needed.
2. **curated retention**: for every curated Iceberg table, expire snapshots committed more than
   `curated_snapshot_retention_days` ago (how far time travel reaches), then delete the files no
   remaining snapshot refers to and older than a day (older versions, and files of publishes
   killed before their commit) (`lockgate.operators.maintenance.CuratedRetentionOperator`).

Configuration: the Airflow Variables `lockgate_raw_retention_days` (default 30) and
`lockgate_curated_snapshot_retention_days` (default 7); trigger with the param `dry_run: true` to
see in the task log what would go without deleting anything. The lake comes from the
`lockgate_lake` connection and the catalog from `lockgate_catalog` (embedded defaults when unset).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag

from lockgate.alerts import notifiers_for
from lockgate.operators.maintenance import CuratedRetentionOperator, RawRetentionOperator

DEFAULT_RETENTION_DAYS = 30
DEFAULT_SNAPSHOT_RETENTION_DAYS = 7
ALERTS = {"default": ["webhook:lockgate_alerts"]}


@dag(
    dag_id="lake_maintenance",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["lockgate", "maintenance"],
    doc_md=__doc__,
    params={"dry_run": Param(False, type="boolean", description="log what would be deleted; delete nothing")},
    default_args={
        "owner": "platform-team",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "on_failure_callback": notifiers_for(ALERTS, "task_failure"),
        "on_retry_callback": notifiers_for(ALERTS, "task_retry"),
    },
)
def lake_maintenance() -> None:
    RawRetentionOperator(
        task_id="raw_retention",
        # read when the task runs (not at parse time), so a change applies to the next run
        retention_days=f"{{{{ var.value.get('lockgate_raw_retention_days', {DEFAULT_RETENTION_DAYS}) }}}}",
        report_only="{{ params.dry_run }}",
    )
    CuratedRetentionOperator(
        task_id="curated_retention",
        snapshot_retention_days=(
            f"{{{{ var.value.get('lockgate_curated_snapshot_retention_days', {DEFAULT_SNAPSHOT_RETENTION_DAYS}) }}}}"
        ),
        report_only="{{ params.dry_run }}",
    )


lake_maintenance_dag = lake_maintenance()

if __name__ == "__main__":
    lake_maintenance_dag.test()
