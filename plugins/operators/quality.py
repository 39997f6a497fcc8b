"""The quality gate: typed, checked rows to the staged zone, bad rows to quarantine, one report."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from lockgate import health_index
from lockgate.config import DEFAULT_WAREHOUSE_CONN_ID
from lockgate.formats import ReadSettings, SourceFileError
from lockgate.gate import format_failures, quarantine_lines, validation_result
from lockgate.hooks.warehouse import WarehouseHook
from lockgate.layout import MANIFEST, raw_prefix, zone_prefix
from lockgate.operators.base import LakeOperator
from lockgate.spark_engine import DEFAULT_SPARK_CONN_ID, checked_engine

if TYPE_CHECKING:
    from airflow.sdk import BaseNotifier, Context

#: the warehouse table holding the history of every check (dataset, date, check)
DQ_RESULTS_TABLE = "dq_results"
VOLUME_CHECK = "expect_table_row_count_to_be_within_trailing_runs"
QUARANTINE_COLUMNS_DOC = "source_file, source_row, column_name, check_name, reason, record (JSON of the raw values), ds"


def _write_reader(reader: Any, path: Path) -> tuple[int, Path]:
    """Stream an Arrow batch reader into one Parquet file; returns (rows, path)."""
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with pq.ParquetWriter(path, reader.schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows, path


class QualityGateOperator(LakeOperator):
    """Validate one logical date of a dataset against its data contract.

    Reads the raw files of this run's ingestion manifests, types every column from the contract,
    applies the pipeline's preprocessing, quarantines rows that cannot be typed or fail a
    ``quarantine`` check (``quarantine/<dataset>/ds=<date>/``, one row per input row with every
    reason), drops exact duplicates, stages the rest (``staged/<dataset>/ds=<date>/``) and validates
    the ``fail`` and ``warn`` expectations with Great Expectations Core. The report lands in
    ``quality/<dataset>/ds=<date>/report.json``.

    A failed ``fail`` check fails the task with one message listing every failed check
    (``AirflowFailException``: retrying the same data cannot help). A failed ``warn`` check calls
    the ``warning_notifiers`` and the run goes on.

    :param dataset: the dataset to gate.
    :param preprocess: preprocessing steps (see :mod:`lockgate.transforms.preprocess`); an
        ``enrich`` step joins another dataset's curated data, read from this lake.
    :param warning_notifiers: notifiers called once per failed ``warn`` check.
    :param schema_drift_notifiers: notifiers called when a source's columns drift and the contract
        accepts it (default: the warning notifiers).
    :param check_engine: ``duckdb`` (checks as SQL, GX for the rest) or ``great_expectations``.
    :param warehouse_conn_id: the warehouse holding the ``dq_results`` history.
    :param engine: where the gate runs: ``duckdb`` (in the task) or ``spark`` (see ``docs/spark.md``).
    :param spark_conn_id: with ``engine="spark"``, the Airflow connection naming the Spark cluster
        (missing: local mode with the task's CPUs).
    """

    template_fields: tuple[str, ...] = ("dataset",)

    def __init__(
        self,
        *,
        preprocess: dict[str, Any] | None = None,
        warning_notifiers: Sequence[BaseNotifier] = (),
        schema_drift_notifiers: Sequence[BaseNotifier] | None = None,
        check_engine: str = "duckdb",
        warehouse_conn_id: str = DEFAULT_WAREHOUSE_CONN_ID,
        engine: str = "duckdb",
        spark_conn_id: str = DEFAULT_SPARK_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # a wrong engine fails when the DAG file is parsed, not when the task runs
        self.engine = checked_engine(engine)
        self.spark_conn_id = spark_conn_id
        self.preprocess = preprocess or {}
        self.warning_notifiers = list(warning_notifiers)
        self.schema_drift_notifiers = list(
            warning_notifiers if schema_drift_notifiers is None else schema_drift_notifiers
        )
        self.check_engine = check_engine
        self.warehouse_conn_id = warehouse_conn_id
        self._reference_inputs: list[Any] = []

    @cached_property
    def warehouse(self) -> WarehouseHook:
        return WarehouseHook(warehouse_conn_id=self.warehouse_conn_id)

    def _raw_files(self, context: Context, work: Path) -> list[Any]:
        from lockgate.gate import RawFile

        ds = self.logical_ds(context)
        prefix = raw_prefix(self.dataset, ds, str(context["run_id"]))
        manifests = [o.key for o in self.lake.list(prefix) if o.key.endswith("/" + MANIFEST)]
        if not manifests:
            raise AirflowException(f"no ingestion manifest under {self.lake.uri(prefix)}: did ingestion run?")
        files = []
        for key in manifests:
            manifest = self.lake.read_json(key)
            for entry in manifest["files"]:
                files.append(
                    RawFile(
                        key=entry["key"],
                        local_path=self.lake.local_copy(entry["key"], work / "raw"),
                        format=entry["format"],
                        rows=entry["rows"],
                        source_timezone=manifest.get("source_timezone"),
                        delimiter=manifest.get("delimiter", ","),
                        encoding=manifest.get("encoding", "utf-8"),
                        drift=entry.get("drift"),
                        read=ReadSettings.from_manifest(manifest),
                        # a file covering many days (IngestOperator / FileSource ``slice_by``)
                        slice_by=manifest.get("slice_by"),
                    )
                )
        self.lineage.inputs.append(self.lake_dataset(f"raw/{self.dataset}"))
        return files

    def _references(self, ds: str, work: Path) -> dict[str, Any]:
        """The curated rows of each dataset an ``enrich`` step joins, written to a file in ``work``.

        A reference is read as of its newest published date on or before ``ds`` (a registry is
        published when it changes, not every day), through its Iceberg table's current snapshot,
        so the rows are exactly one published version. They stream batch by batch from the scan
        to one local Parquet file (partition columns included), never held in memory whole: the
        gate joins them in DuckDB.
        """
        from lockgate.hooks.iceberg import CatalogHook, CuratedDataMissing
        from lockgate.transforms.preprocess import Reference, enrich_steps

        catalog = CatalogHook(lake=self.lake)
        found: dict[str, Any] = {}
        self._reference_inputs = []
        for step in enrich_steps(self.preprocess):
            name = step.reference
            if name in found:
                continue
            try:
                published = [d for d in catalog.published_dates(name) if d <= ds]
            except CuratedDataMissing:
                published = []
            if not published:
                raise AirflowFailException(
                    f"{step.where}: reference dataset {name!r} has no curated date on or before {ds} under "
                    f"{catalog.location(name)}; its partition step must run first"
                )
            rows, path = _write_reader(catalog.read_date(name, published[-1]), work / "reference" / f"{name}.parquet")
            found[name] = Reference(name, published[-1], (path,) if rows else ())
            self._reference_inputs.append(self.lake_dataset(f"curated/{name}", partitions=[{"ds": published[-1]}]))
            self.log.info("enrich %s from %s ds=%s (%d rows)", self.dataset, name, published[-1], rows)
        self.lineage.inputs.extend(self._reference_inputs)
        return found

    def _history(self, ds: str) -> list[int]:
        """Passed-row counts of the dataset's trailing successful gate runs before ``ds``, oldest first.

        Read from the gate's own reports in the lake, only when a contract asks for a volume check.
        """
        volume = [e for e in self.contract.expectations if e.expectation == VOLUME_CHECK]
        if not volume:
            return []
        runs = max(int(e.kwargs.get("runs", 7)) for e in volume)
        earlier = sorted(
            {
                key.split("/")[2]
                for key in (o.key for o in self.lake.list(f"quality/{self.dataset}"))
                if key.endswith("/report.json") and key.split("/")[2] < f"ds={ds}"
            }
        )
        counts: list[int] = []
        for partition in reversed(earlier):
            report = self.lake.read_json(f"quality/{self.dataset}/{partition}/report.json")
            if report.get("success"):
                counts.append(int(report["rows_passed"]))
            if len(counts) == runs:
                break
        return list(reversed(counts))

    def _record_results(self, context: Context, ds: str, report: dict[str, Any]) -> None:
        """Replace this date's rows of the warehouse's ``dq_results`` history with this run's checks."""
        import pyarrow as pa

        day = date.fromisoformat(ds)
        now = datetime.now(UTC)
        checks = report["checks"]
        rows = pa.table(
            {
                "dag_id": pa.array([context["dag"].dag_id] * len(checks), pa.string()),
                "run_id": pa.array([str(context["run_id"])] * len(checks), pa.string()),
                "dataset": pa.array([self.dataset] * len(checks), pa.string()),
                "partition_ds": pa.array([day] * len(checks), pa.date32()),
                "check_name": pa.array([c["check"] for c in checks], pa.string()),
                "expectation": pa.array([c["expectation"] for c in checks], pa.string()),
                "severity": pa.array([c["severity"] for c in checks], pa.string()),
                "passed": pa.array([bool(c["success"]) for c in checks], pa.bool_()),
                "observed_value": pa.array(
                    [None if c.get("observed_value") is None else str(c["observed_value"]) for c in checks], pa.string()
                ),
                "rows_failed": pa.array([c.get("unexpected_count") for c in checks], pa.int64()),
                "rows_evaluated": pa.array([c.get("element_count") for c in checks], pa.int64()),
                "engine": pa.array([c.get("engine") or "" for c in checks], pa.string()),
                "recorded_at": pa.array([now] * len(checks), pa.timestamp("us", tz="UTC")),
            }
        )
        table = self.warehouse.table(DQ_RESULTS_TABLE)
        with self.warehouse.transaction() as session:
            session.run_template("dq_results_table.sql", table=table)
            session.run_template("dq_results_replace.sql", [self.dataset, day], table=table)
            if checks:
                session.run_template("dq_results_insert.sql", table=table, staging=session.stage_arrow(rows))

    def _publish(self, ds: str, staged: Path | None, quarantine: Path, report: dict[str, Any]) -> None:
        for zone in ("staged", "quarantine"):
            self.lake.delete_prefix(zone_prefix(zone, self.dataset, ds))
        if staged is not None:
            self.lake.put_file(staged, f"{zone_prefix('staged', self.dataset, ds)}/part-0.parquet")
            self.lineage.outputs.append(
                self.lake_dataset(
                    f"staged/{self.dataset}",
                    self.contract.storage_columns,
                    row_count=report["rows_passed"],
                    partitions=[{"ds": ds}],
                )
            )
        self.lake.put_file(quarantine, f"{zone_prefix('quarantine', self.dataset, ds)}/quarantine.parquet")
        self.lineage.outputs.append(
            self.lake_dataset(
                f"quarantine/{self.dataset}", row_count=report["rows_quarantined"], partitions=[{"ds": ds}]
            )
        )
        written = self.lake.write_json(f"{zone_prefix('quality', self.dataset, ds)}/report.json", report)
        health_index.record(self.lake, "quality", self.dataset, ds, report, written)  # Data health page index
        self.lake.write_json(f"{zone_prefix('quality', self.dataset, ds)}/validation.json", validation_result(report))
        # the gate's assertions and metrics describe the data it read: OpenLineage input facets
        for dataset in self.lineage.inputs:
            if not any(dataset is ref for ref in self._reference_inputs):  # not the data it joined
                dataset.quality_report = report

    def execute(self, context: Context) -> dict[str, Any]:
        from lockgate.gate import AccountingError, QualityGateFailed

        ds = self.logical_ds(context)
        with self.workdir() as work:
            files = self._raw_files(context, work)
            try:
                references = self._references(ds, work)
                outcome = self._gate_runner()(
                    self.contract,
                    files,
                    ds=ds,
                    workdir=work / "gate",
                    preprocess=self.preprocess,
                    check_engine=self.check_engine,
                    history=self._history(ds),
                    references=references,
                )
            except QualityGateFailed as failure:
                # publish what was learned (quarantine, report, check history) but stage nothing:
                # the run stops here
                self._publish(ds, None, work / "gate" / "quarantine.parquet", failure.report)
                self._record_results(context, ds, failure.report)
                # the counts go out although the task fails, so the run summary tells the truth
                ti = context.get("ti")
                if ti is not None:  # None when the operator is run by hand, outside a task
                    ti.xcom_push(key="return_value", value=self._result(failure.report))
                message = format_failures(self.dataset, ds, failure.failed, failure.report, self._locations(ds))
                raise AirflowFailException(message) from None
            except (SourceFileError, AccountingError, ValueError) as exc:
                raise AirflowFailException(f"quality gate for {self.dataset} ds={ds}: {exc}") from None
            self._publish(ds, outcome.staged_path, outcome.quarantine_path, outcome.report)
            self._record_results(context, ds, outcome.report)

        report = outcome.report
        self.log.info(
            "%s ds=%s: %d rows in, %d passed, %d quarantined, %d duplicates removed%s; checks run: %s",
            self.dataset,
            ds,
            report["rows_in"],
            report["rows_passed"],
            report["rows_quarantined"],
            report["duplicates_removed"],
            f" ({report['rows_outside_window']} rows of other dates left in the files)"
            if "rows_outside_window" in report
            else "",
            ", ".join(c["check"] for c in report["checks"]) or "none",
        )
        if report["rows_quarantined"]:
            self.log.warning("\n".join([*quarantine_lines(report)[1:], *self._where_lines(ds)]))
        for check in outcome.warnings:
            self._warn(context, ds, check)
        for drift in report.get("schema_drift", []):
            message = (
                f"schema drift in {drift['file']} ({self.dataset} ds={ds}): added columns {drift['added']}, "
                f"missing columns {drift['missing']}"
                + (f", retyped columns {drift['retyped']}" if drift.get("retyped") else "")
                + "; accepted by the contract's raw policy"
            )
            self._notify(context, "schema_drift", message, drift, self.schema_drift_notifiers)
        return self._result(report)

    def _gate_runner(self) -> Any:
        """The engine's ``run_gate``: the same arguments, the same outcome and exceptions."""
        from lockgate.gate import run_gate

        if self.engine == "duckdb":
            return run_gate
        from functools import partial

        from lockgate.spark_engine.gate import run_gate_on_spark

        return partial(run_gate_on_spark, spark_conn_id=self.spark_conn_id, log=self.log)

    @staticmethod
    def _result(report: dict[str, Any]) -> dict[str, Any]:
        """The task's return value (XCom): the counts the run summary adds up."""
        keys = ("rows_in", "rows_passed", "rows_quarantined", "duplicates_removed", "warnings", "quarantine_by_check")
        result = {key: report[key] for key in keys}
        if "rows_outside_window" in report:  # a sliced file's rows of other dates (not this date's input)
            result["rows_outside_window"] = report["rows_outside_window"]
        return result

    def _locations(self, ds: str) -> dict[str, str]:
        """Where a person finds the date's report and quarantined rows."""
        return {
            "report": self.lake.uri(f"{zone_prefix('quality', self.dataset, ds)}/report.json"),
            "quarantine": self.lake.uri(f"{zone_prefix('quarantine', self.dataset, ds)}/quarantine.parquet"),
        }

    def _where_lines(self, ds: str) -> list[str]:
        return [f"{name}: {location}" for name, location in self._locations(ds).items()]

    def _warn(self, context: Context, ds: str, check: dict[str, Any]) -> None:
        message = (
            f"data-quality warning for {self.dataset} ds={ds}: {check['check']} "
            f"(observed {check.get('observed_value')}, unexpected {check.get('unexpected_count')})"
        )
        self._notify(context, "dq_warning", message, check, self.warning_notifiers)

    def _notify(
        self, context: Context, event: str, message: str, details: dict[str, Any], notifiers: Sequence[BaseNotifier]
    ) -> None:
        """Log the event and hand it to the event's notifiers (which never raise)."""
        self.log.warning(message)
        for notifier in notifiers:
            notify_event = getattr(notifier, "notify_event", None)
            if notify_event is not None:
                notify_event(context, event=event, message=message, details=details)
            else:
                notifier.notify(context)
