"""The run summary: what each dataset ingested, quarantined, de-duplicated and loaded."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from lockgate import health_index
from lockgate.config import DEFAULT_WAREHOUSE_CONN_ID
from lockgate.hooks.warehouse import WarehouseHook
from lockgate.layout import zone_prefix
from lockgate.lineage import LineageDataset
from lockgate.operators.base import LakeOperator
from lockgate.operators.deliver import delivered, format_deliveries
from lockgate.operators.load import AUDIT_TABLE

if TYPE_CHECKING:
    from airflow.sdk import Context


def format_summary(summary: dict[str, Any]) -> str:
    """A short plain-text rendering of a run summary (printed by ``make demo`` and logged)."""
    lines = [f"Run summary for {summary['dag_id']} ds={summary['ds']}", ""]
    header = f"{'dataset':<24}{'table':<26}{'ingested':>9}{'quarantined':>12}{'duplicates':>11}{'loaded':>8}"
    lines += [header, "-" * len(header)]
    for d in summary["datasets"]:
        lines.append(
            f"{d['dataset']:<24}{d['table']:<26}{d['rows_in']:>9}{d['rows_quarantined']:>12}"
            f"{d['duplicates_removed']:>11}{d['rows_loaded']:>8}"
            + ("" if d["balanced"] else "   <-- rows in != loaded + quarantined + duplicates")
        )
    if summary.get("warnings"):
        lines += ["", "Data-quality warnings:"] + [f"  - {w}" for w in summary["warnings"]]
    if summary.get("top_aqi"):
        lines += ["", "Highest daily AQI:", f"  {'station':<9}{'region':<10}{'AQI':>4}  {'category':<32}dominant"]
        for row in summary["top_aqi"]:
            lines.append(
                f"  {row['station_id']:<9}{row['region']:<10}{row['aqi']:>4}  "
                f"{row['category']:<32}{row['dominant_pollutant']}"
            )
    lines += format_deliveries(summary.get("deliveries", []))
    lines += ["", "Where things are:"] + [f"  {k:<10}{v}" for k, v in summary["locations"].items()]
    return "\n".join(lines)


def _iso(value: Any) -> str | None:
    """A warehouse timestamp as ISO 8601 (naive ones are UTC: the audit writes UTC)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat(timespec="seconds")
    return str(value)


def pipeline_facts(dag: Any, *, loaded: dict[str, str]) -> dict[str, Any]:
    """What the Data health page needs to know about the pipeline beyond one date's numbers.

    ``schedule`` (the DAG's cron expression or preset, for freshness), ``late_batch_after_hours``
    (its deadline), ``gated`` (every dataset a quality gate checks) and ``intermediate`` (gated
    but loaded by nobody: a routed feed whose rows go on to other datasets).
    """
    schedule = getattr(dag, "schedule", None)
    tasks = list(getattr(dag, "tasks", None) or [])  # a summary run outside a DAG knows no tasks
    gated = sorted({str(t.dataset) for t in tasks if type(t).__name__ == "QualityGateOperator"})
    deadlines = getattr(dag, "deadline", None) or []
    deadlines = deadlines if isinstance(deadlines, list) else [deadlines]
    after = [d.interval.total_seconds() / 3600 for d in deadlines if getattr(d, "interval", None) is not None]
    return {
        "owners": sorted({str(t.owner) for t in tasks if getattr(t, "owner", None)}),
        "schedule": schedule if isinstance(schedule, str) else None,
        "late_batch_after_hours": min(after) if after else None,
        "gated": gated,
        "intermediate": [name for name in gated if name not in loaded],
    }


class RunSummaryOperator(LakeOperator):
    """Summarise one run: per dataset rows ingested, quarantined, de-duplicated and loaded.

    Counts come from the gate's reports in the lake and the warehouse's load audit (what was
    really committed), not from task return values. The summary is logged, returned (XCom) and
    written to ``reports/<dag id>/ds=<date>/summary.json``.

    :param datasets: dataset name -> warehouse table it loads into.
    :param aqi_table: the daily AQI table whose top rows the summary shows (optional).
    :param warehouse_conn_id: the warehouse connection.
    """

    template_fields: tuple[str, ...] = ()

    def __init__(
        self,
        *,
        datasets: dict[str, str],
        aqi_table: str | None = None,
        top: int = 5,
        warehouse_conn_id: str = DEFAULT_WAREHOUSE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(dataset="reports", **kwargs)
        self.datasets = datasets
        self.aqi_table = aqi_table
        self.top = top
        self.warehouse_conn_id = warehouse_conn_id

    @cached_property
    def warehouse(self) -> WarehouseHook:
        return WarehouseHook(warehouse_conn_id=self.warehouse_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        ds = self.logical_ds(context)
        dag_id = context["dag"].dag_id
        day = date.fromisoformat(ds)
        entries, warnings = [], []
        for dataset, table in self.datasets.items():
            report = self.lake.read_json(f"{zone_prefix('quality', dataset, ds)}/report.json")
            audit = self.warehouse.query(
                f"SELECT rows_loaded, run_id, loaded_at FROM {self.warehouse.table(AUDIT_TABLE)} "
                "WHERE table_name = $1 AND partition_ds = $2",
                [table, day],
            )
            loaded = int(audit[0][0]) if audit else 0
            entries.append(
                {
                    "dataset": dataset,
                    "table": table,
                    "rows_in": report["rows_in"],
                    "rows_quarantined": report["rows_quarantined"],
                    "duplicates_removed": report["duplicates_removed"],
                    "rows_loaded": loaded,
                    "balanced": report["rows_in"] == loaded + report["rows_quarantined"] + report["duplicates_removed"],
                    # the run that committed the date (an earlier one when this run loaded nothing new)
                    "load_run_id": str(audit[0][1]) if audit else None,
                    "loaded_at": _iso(audit[0][2]) if audit else None,
                }
            )
            warnings += [f"{dataset}: {w}" for w in report.get("warnings", [])]
        top_rows = []
        if self.aqi_table:
            rows = self.warehouse.query_template(
                "top_daily_aqi.sql", [day], table=self.warehouse.table(self.aqi_table), limit=int(self.top)
            )
            keys = ("station_id", "region", "aqi", "category", "dominant_pollutant")
            top_rows = [dict(zip(keys, r, strict=True)) for r in rows]
        warehouse_location = (
            str(self.warehouse.duckdb_path)
            if self.warehouse.dialect == "duckdb"
            else "/".join(self.warehouse.openlineage_dataset(""))
        )
        summary = {
            "dag_id": dag_id,
            "run_id": str(context["run_id"]),
            "ds": ds,
            # when this run finished: the Data health page's "latest run" is the newest one written
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "pipeline": pipeline_facts(context["dag"], loaded=self.datasets),
            "datasets": entries,
            "warnings": warnings,
            "top_aqi": top_rows,
            # what the date's deliveries got acknowledged, where (lockgate.operators.deliver)
            "deliveries": delivered(self.warehouse, dag_id, ds),
            "locations": {"lake": self.lake.url, "warehouse": warehouse_location},
        }
        written = self.lake.write_json(f"{zone_prefix('reports', dag_id, ds)}/summary.json", summary)
        health_index.record(self.lake, "reports", dag_id, ds, summary, written)  # Data health page index
        # lineage: what the summary was made from, and what it wrote
        for dataset in self.datasets:
            self.lineage.inputs.append(self.lake_dataset(f"quality/{dataset}"))
        for table in (AUDIT_TABLE, *([self.aqi_table] if self.aqi_table else [])):
            self.lineage.inputs.append(LineageDataset(*self.warehouse.openlineage_dataset(table)))
        self.lineage.outputs.append(self.lake_dataset(f"reports/{dag_id}", partitions=[{"ds": ds}]))
        self.log.info("\n%s", format_summary(summary))
        return summary
