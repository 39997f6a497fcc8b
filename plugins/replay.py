"""Quarantine replay: re-gate a dataset's quarantined dates with the *current* contract.

After a contract or parser fix, rows quarantined under the old rules may be good. The raw zone keeps
every date's files as received (``raw/<dataset>/ds=<date>/run=<run>/``), so a replay does not need
the source again: for each date of the range that quarantined rows it

1. finds the **original run** whose raw input the date's data came from (the run named by an
   earlier replay, else the pipeline run of the date's summary, else the only raw run of the date;
   several candidates and no ``run`` given: an error naming them);
2. runs the pipeline's **own gate** for the dataset (deep-copied from the pipeline's DAG, so its
   preprocessing and contract are the pipeline's) on that raw input: good rows are staged, rows
   still bad are quarantined again with today's reasons;
3. when the staged rows changed, runs the pipeline's own **partition** and **load** tasks of the
   dataset: the curated table gets one snapshot for the date and the warehouse's load replaces the
   date (``replace_partition`` deletes and inserts in one transaction, ``merge``/``scd2`` apply by
   key), so every row is there exactly once however often the date is replayed; an unchanged date
   is neither republished nor reloaded;
4. links the replay to the original run: a row per date and table in ``lockgate_replay_audit``
   (replay run, original run, rows before and after) that joins the load audit on
   ``(table_name, partition_ds, run_id)``; a ``replay`` entry in the date's ``report.json`` (the
   Data health page shows it); and the ``lockgate_replay`` run facet of the replay task's
   OpenLineage events.

The replay runs as the DAG ``lockgate_quarantine_replay`` (``dags/quarantine_replay.py``) with the
params ``dataset``, ``start``, ``end`` (and optionally ``dag_id``, ``run_id``); the Data health
page triggers it through Airflow's REST API with the user's token, ``lockgate replay`` runs it in
process. Derived datasets computed *from* the replayed table by later tasks of the pipeline (the
daily AQI from the hourly readings) are not recomputed: clear those tasks of the date's run.
"""

from __future__ import annotations

import copy
import hashlib
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from lockgate import health_index
from lockgate.config import DEFAULT_LAKE_CONN_ID, DEFAULT_WAREHOUSE_CONN_ID
from lockgate.layout import MANIFEST, zone_prefix

if TYPE_CHECKING:
    from airflow.sdk import Context

    from lockgate.hooks.lake import LakeHook
    from lockgate.hooks.warehouse import WarehouseHook

#: the DAG that replays (dags/quarantine_replay.py)
REPLAY_DAG_ID = "lockgate_quarantine_replay"
#: one row per replayed date and table: which run replayed which original run
REPLAY_AUDIT_TABLE = "lockgate_replay_audit"
#: the run facet naming the original runs in the replay's OpenLineage events
FACET_NAME = "lockgate_replay"
#: at most this many days per replay (a year): a typo in a date should not replay a decade
MAX_DAYS = 366


class ReplayError(ValueError):
    """A replay that cannot be done as asked (no raw input, no pipeline, an ambiguous original run)."""


@dataclass(frozen=True)
class ReplayTarget:
    """One date to replay and the run whose raw input it re-gates."""

    ds: str
    dag_id: str
    original_run_id: str
    rows_quarantined: int


@dataclass
class ReplayOutcome:
    """What a replay did to one date: ``reloaded`` or ``unchanged`` (same staged rows: nothing published)."""

    ds: str
    original_dag_id: str
    original_run_id: str
    outcome: str
    quarantined_before: int
    quarantined_after: int
    passed_before: int
    passed_after: int
    loads: list[dict[str, Any]] = field(default_factory=list)
    #: the warehouse the pipeline's loads use (None: the dataset is not loaded)
    warehouse_conn_id: str | None = None


# ------------------------------------------------------------------------------------- planning


def date_range(start: str, end: str) -> list[str]:
    """Every date from ``start`` to ``end`` (``YYYY-MM-DD``, both included), at most :data:`MAX_DAYS`."""
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError:
        raise ReplayError(f"dates are YYYY-MM-DD: got start={start!r}, end={end!r}") from None
    if last < first:
        raise ReplayError(f"end {end} is before start {start}")
    if (last - first).days >= MAX_DAYS:
        raise ReplayError(f"{start}..{end} is more than {MAX_DAYS} days: replay a shorter range")
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def _report(lake: LakeHook, dataset: str, ds: str) -> dict[str, Any] | None:
    key = f"{zone_prefix('quality', dataset, ds)}/report.json"
    try:
        return dict(lake.read_json(key))
    except FileNotFoundError:
        return None


def raw_runs(lake: LakeHook, dataset: str, ds: str) -> dict[str, str]:
    """The runs that landed raw input of the date: run id -> its folder segment (from the manifests)."""
    runs: dict[str, str] = {}
    for obj in lake.list(f"{zone_prefix('raw', dataset, ds)}/"):
        if obj.key.endswith("/" + MANIFEST):
            segment = obj.key.split("/")[3]  # raw/<dataset>/ds=<date>/run=<run>/...
            run_id = str(lake.read_json(obj.key).get("run_id") or segment.removeprefix("run="))
            runs[run_id] = segment
    return runs


def _summary_runs(lake: LakeHook, dataset: str, ds: str) -> list[tuple[str, str]]:
    """(dag id, run id) of the run summaries of the date that gated or loaded the dataset."""
    found = []
    for obj in lake.list("reports/"):
        parts = obj.key.split("/")
        if len(parts) != 4 or parts[2] != f"ds={ds}" or parts[3] != "summary.json":
            continue
        summary = lake.read_json(obj.key)
        names = {str(e.get("dataset")) for e in summary.get("datasets", [])}
        names |= {str(n) for n in (summary.get("pipeline") or {}).get("gated") or ()}
        if dataset in names:
            found.append((str(summary.get("dag_id") or parts[1]), str(summary["run_id"])))
    return found


def original_run(
    lake: LakeHook,
    dataset: str,
    ds: str,
    report: Mapping[str, Any],
    *,
    dag_id: str | None = None,
    run_id: str | None = None,
) -> tuple[str | None, str]:
    """(the pipeline's DAG id when known, the run id) whose raw input ``ds`` is re-gated from."""
    runs = raw_runs(lake, dataset, ds)
    if not runs:
        raise ReplayError(
            f"{dataset} ds={ds}: no raw input under {lake.uri(zone_prefix('raw', dataset, ds))} "
            "(never ingested, or removed by the raw retention): nothing to replay from"
        )
    replayed = report.get("replay") or {}
    summaries = _summary_runs(lake, dataset, ds)
    if run_id is None and replayed.get("original_run_id") in runs:
        return replayed.get("original_dag_id") or dag_id, str(replayed["original_run_id"])
    if run_id is None:
        pipeline = [(d, r) for d, r in summaries if r in runs and (dag_id is None or d == dag_id)]
        if len(pipeline) == 1:
            return pipeline[0]
        if len(runs) == 1:
            run_id = next(iter(runs))
        else:
            raise ReplayError(
                f"{dataset} ds={ds}: raw input of several runs ({', '.join(sorted(runs))}) and no run summary "
                "names one: give the run to replay (run_id / --run)"
            )
    if run_id not in runs:
        raise ReplayError(f"{dataset} ds={ds}: no raw input of run {run_id!r} (there is: {', '.join(sorted(runs))})")
    named = [d for d, r in summaries if r == run_id]
    return (dag_id or (named[0] if named else None)), run_id


def plan(
    lake: LakeHook,
    dataset: str,
    start: str,
    end: str,
    *,
    dag_id: str | None = None,
    run_id: str | None = None,
) -> list[ReplayTarget]:
    """The dates of ``start``..``end`` whose gate quarantined rows, each with its original run.

    A date without a report was never gated (nothing quarantined to replay); a date that
    quarantined nothing has nothing to replay either.
    """
    targets = []
    for ds in date_range(start, end):
        report = _report(lake, dataset, ds)
        if not report or not int(report.get("rows_quarantined") or 0):
            continue
        found_dag, found_run = original_run(lake, dataset, ds, report, dag_id=dag_id, run_id=run_id)
        if found_dag is None:
            raise ReplayError(f"{dataset} ds={ds}: no run summary names the pipeline: give its DAG id (dag_id)")
        targets.append(ReplayTarget(ds, found_dag, found_run, int(report["rows_quarantined"])))
    return targets


# ------------------------------------------------------------------------------------- running


def pipeline_steps(dag: Any, dataset: str) -> tuple[Any, Any | None, list[Any]]:
    """The DAG's gate, partition and load tasks of ``dataset`` (fresh copies): the replay runs these.

    Exactly one gate must exist; partition and loads may be absent (a dataset routed on, never loaded).
    """
    from lockgate.operators.load import WarehouseLoadOperator
    from lockgate.operators.partition import PartitionOperator
    from lockgate.operators.quality import QualityGateOperator

    def of(kind: type) -> list[Any]:
        return [t for t in dag.tasks if isinstance(t, kind) and getattr(t, "dataset", None) == dataset]

    gates, partitions = of(QualityGateOperator), of(PartitionOperator)
    if len(gates) != 1:
        raise ReplayError(f"DAG {dag.dag_id} has {len(gates)} quality gates for {dataset!r}: a replay needs one")
    if len(partitions) > 1:
        raise ReplayError(f"DAG {dag.dag_id} partitions {dataset!r} {len(partitions)} times: a replay needs one")
    loads = of(WarehouseLoadOperator)
    return (
        copy.deepcopy(gates[0]),
        copy.deepcopy(partitions[0]) if partitions else None,
        [copy.deepcopy(t) for t in loads],
    )


def _staged_digest(lake: LakeHook, dataset: str, ds: str) -> str | None:
    """sha256 of the date's staged file (None when nothing is staged): did the replay change the rows?"""
    key = f"{zone_prefix('staged', dataset, ds)}/part-0.parquet"
    if not lake.exists(key):
        return None
    with tempfile.TemporaryDirectory(prefix="lockgate-replay-") as folder:
        return hashlib.sha256(lake.local_copy(key, folder).read_bytes()).hexdigest()


def _read_original_raw(gate: Any, original_run_id: str) -> None:
    """Make ``gate`` read the raw input of the original run (the gate reads its own run's by default)."""
    own = gate._raw_files

    def raw_files(context: Any, work: Path) -> list[Any]:
        return own({**context, "run_id": original_run_id}, work)

    gate._raw_files = raw_files


def _audit_rows(warehouse: WarehouseHook, tables: Sequence[str], ds: str) -> dict[str, dict[str, Any]]:
    """The load audit's row of each table for the date (rows, loading run, time)."""
    from lockgate.operators.load import AUDIT_TABLE

    if not tables or not warehouse.table_exists(AUDIT_TABLE):
        return {}
    found = {}
    for table in tables:
        rows = warehouse.query(
            f"SELECT rows_loaded, dag_id, run_id, loaded_at FROM {warehouse.table(AUDIT_TABLE)} "
            "WHERE table_name = $1 AND partition_ds = $2",
            [table, date.fromisoformat(ds)],
        )
        if rows:
            loaded, dag_id, run_id, at = rows[0]
            stamp = at.isoformat() if hasattr(at, "isoformat") else str(at)
            found[table] = {
                "table": table,
                "rows_loaded": int(loaded),
                "dag_id": dag_id,
                "run_id": run_id,
                "loaded_at": stamp,
            }
    return found


def _marker_key(dataset: str, ds: str) -> str:
    """What the last replay of the date published (the gate never deletes it; the page never reads it)."""
    return f"{zone_prefix('quality', dataset, ds)}/replay.json"


def _published_digest(lake: LakeHook, dataset: str, ds: str) -> str | None:
    """The digest of the staged rows the date's curated data and loads were last built from.

    The last replay's marker when there is one, else the staged file as it is (the pipeline run's,
    which partitioned and loaded it -- :func:`_needs_reload` double-checks that against the audit).
    """
    try:
        return str(lake.read_json(_marker_key(dataset, ds))["staged_sha256"])
    except (FileNotFoundError, KeyError, ValueError):
        return _staged_digest(lake, dataset, ds)


def _needs_reload(
    staged: str | None, published: str | None, audit: Mapping[str, Any], loads: Sequence[Any], passed: int
) -> bool:
    """Republish and reload unless the staged rows are the ones published and every load holds them.

    The audit guard catches an earlier try that re-gated the date and then failed before its load
    (its staged file already is the new one): a table whose audited rows differ from the rows
    passed is reloaded. A needless reload is harmless (the load replaces the date); a missed one
    would leave the warehouse stale, so any doubt reloads.
    """
    if staged != published:
        return True
    return any(load.table not in audit or audit[load.table]["rows_loaded"] != passed for load in loads)


def replay_date(
    dag: Any, dataset: str, target: ReplayTarget, context: Mapping[str, Any]
) -> tuple[ReplayOutcome, list[Any]]:
    """Re-gate one date from its original raw input; republish and reload it when its rows changed.

    :param dag: the pipeline's DAG (its gate, partition and load tasks of ``dataset`` are run).
    :param context: the replay run's context (``run_id``, ``dag``, ``params``).
    :returns: the outcome and the operators that ran (their lineage).
    """
    gate, partition, loads = pipeline_steps(dag, dataset)
    lake = gate.lake
    before = _report(lake, dataset, target.ds) or {}
    published = _published_digest(lake, dataset, target.ds)
    _read_original_raw(gate, target.original_run_id)
    # no ti: a failing gate would push its counts as the replay task's XCom; no outlet_events: the
    # loads' assets are not the replay task's outlets
    step_context = {**context, "ds": target.ds, "ti": None, "outlet_events": None}
    ran = [gate]
    gate.render_template_fields(step_context)
    result = gate.execute(step_context)
    staged = _staged_digest(lake, dataset, target.ds)
    tables = [load.table for load in loads]
    warehouse = loads[0].warehouse if loads else None
    audit = _audit_rows(warehouse, tables, target.ds) if warehouse is not None else {}
    changed = _needs_reload(staged, published, audit, loads, int(result["rows_passed"]))
    if changed:
        for step in ([partition] if partition is not None else []) + loads:
            step.render_template_fields(step_context)
            step.execute(step_context)
            ran.append(step)
        audit = _audit_rows(warehouse, tables, target.ds) if warehouse is not None else {}
    lake.write_json(_marker_key(dataset, target.ds), {"staged_sha256": staged, "run_id": str(context["run_id"])})
    outcome = ReplayOutcome(
        ds=target.ds,
        original_dag_id=target.dag_id,
        original_run_id=target.original_run_id,
        outcome="reloaded" if changed else "unchanged",
        quarantined_before=int(before.get("rows_quarantined") or 0),
        quarantined_after=int(result["rows_quarantined"]),
        passed_before=int(before.get("rows_passed") or 0),
        passed_after=int(result["rows_passed"]),
        loads=[audit[table] for table in tables if table in audit],
        warehouse_conn_id=loads[0].warehouse_conn_id if loads else None,
    )
    return outcome, ran


def record_replay(
    warehouse: WarehouseHook, replay_dag_id: str, replay_run_id: str, dataset: str, outcome: ReplayOutcome
) -> None:
    """One ``lockgate_replay_audit`` row per table of the date (one without a table when nothing is loaded).

    A replay of the same date by the same run replaces its rows; earlier replays stay (the history).
    """
    day = date.fromisoformat(outcome.ds)
    table = warehouse.table(REPLAY_AUDIT_TABLE)
    now = datetime.now(UTC)
    loads = outcome.loads or [{"table": "", "rows_loaded": None}]
    with warehouse.transaction() as session:
        session.run_template("replay_audit_table.sql", table=table)
        session.run_template("replay_audit_delete.sql", [replay_run_id, dataset, day], table=table)
        for load in loads:
            session.run_template(
                "replay_audit_insert.sql",
                [
                    replay_dag_id,
                    replay_run_id,
                    outcome.original_dag_id,
                    outcome.original_run_id,
                    dataset,
                    load["table"],
                    day,
                    outcome.outcome,
                    outcome.quarantined_before,
                    outcome.quarantined_after,
                    load["rows_loaded"],
                    now,
                ],
                table=table,
            )


def mark_report(lake: LakeHook, dataset: str, outcome: ReplayOutcome, replay_dag_id: str, replay_run_id: str) -> None:
    """Add the replay to the date's report (the gate just rewrote it): the page shows who loaded what."""
    key = f"{zone_prefix('quality', dataset, outcome.ds)}/report.json"
    report = dict(lake.read_json(key))
    report["replay"] = {
        "dag_id": replay_dag_id,
        "run_id": replay_run_id,
        "original_dag_id": outcome.original_dag_id,
        "original_run_id": outcome.original_run_id,
        "outcome": outcome.outcome,
        "replayed_at": datetime.now(UTC).isoformat(),
        "loads": outcome.loads,
    }
    written = lake.write_json(key, report)
    health_index.record(lake, "quality", dataset, outcome.ds, report, written)


# ------------------------------------------------------------------------------------- lineage


def _replay_facet(dataset: str, outcomes: Iterable[ReplayOutcome]) -> Any:
    """The ``lockgate_replay`` run facet: per date the original run the replay re-gated."""
    import attr
    from openlineage.client.generated.base import RunFacet

    @attr.define
    class LockgateReplayRunFacet(RunFacet):
        """A replay of quarantined rows: the dataset and, per date, the run whose raw input was re-gated."""

        dataset: str
        replays: list[dict[str, Any]]

    try:  # the namespace the provider gives the original run's job (the DAG)
        from airflow.providers.openlineage.conf import namespace

        jobs = namespace()
    except ImportError:  # the provider is optional at run time (then no event is sent anyway)
        jobs = "default"
    return LockgateReplayRunFacet(
        dataset=dataset,
        replays=[
            {
                "ds": o.ds,
                "originalJob": {"namespace": jobs, "name": o.original_dag_id},
                "originalRunId": o.original_run_id,
                "outcome": o.outcome,
            }
            for o in outcomes
        ],
    )


class QuarantineReplayOperator(BaseOperator):
    """Replay ``dataset``'s quarantined rows of ``start``..``end`` with the current contract (see the module).

    :param dataset: the dataset to replay.
    :param start: first logical date (``YYYY-MM-DD``).
    :param end: last logical date (default ``start``).
    :param source_dag_id: the pipeline's DAG id (default: from the date's run summary).
    :param original_run_id: replay the raw input of this run (default: see :func:`original_run`).
    """

    template_fields: tuple[str, ...] = ("dataset", "start", "end", "source_dag_id", "original_run_id")
    ui_color = "#fdf1d8"

    def __init__(
        self,
        *,
        dataset: str,
        start: str,
        end: str | None = None,
        source_dag_id: str | None = None,
        original_run_id: str | None = None,
        lake_conn_id: str = DEFAULT_LAKE_CONN_ID,
        warehouse_conn_id: str = DEFAULT_WAREHOUSE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.start = start
        self.end = end
        self.source_dag_id = source_dag_id
        self.original_run_id = original_run_id
        self.lake_conn_id = lake_conn_id
        self.warehouse_conn_id = warehouse_conn_id
        self._outcomes: list[ReplayOutcome] = []
        self._ran: list[Any] = []

    def execute(self, context: Context) -> dict[str, Any]:
        from lockgate.hooks.lake import LakeHook
        from lockgate.hooks.warehouse import WarehouseHook

        dataset, start = str(self.dataset).strip(), str(self.start).strip()
        end = str(self.end or "").strip() or start
        if not dataset or not start:
            raise AirflowFailException("a replay needs the params dataset and start (YYYY-MM-DD)")
        lake = LakeHook(lake_conn_id=self.lake_conn_id)
        try:
            targets = plan(
                lake, dataset, start, end, dag_id=self.source_dag_id or None, run_id=self.original_run_id or None
            )
        except ReplayError as exc:
            raise AirflowFailException(f"replay of {dataset}: {exc}") from None
        if not targets:
            self.log.info("%s %s..%s: no date quarantined rows, nothing to replay", dataset, start, end)
        replay_dag_id, replay_run_id = context["dag"].dag_id, str(context["run_id"])
        dags: dict[str, Any] = {}
        for target in targets:
            if target.dag_id not in dags:
                dags[target.dag_id] = source_dag(target.dag_id)
            try:
                outcome, ran = replay_date(dags[target.dag_id], dataset, target, context)
            except ReplayError as exc:
                raise AirflowFailException(f"replay of {dataset} ds={target.ds}: {exc}") from None
            self._ran += ran
            self._outcomes.append(outcome)
            mark_report(lake, dataset, outcome, replay_dag_id, replay_run_id)
            record_replay(
                WarehouseHook(warehouse_conn_id=outcome.warehouse_conn_id or self.warehouse_conn_id),
                replay_dag_id,
                replay_run_id,
                dataset,
                outcome,
            )
            self.log.info(
                "replayed %s ds=%s from run %s of %s: %s; quarantined %d -> %d, passed %d -> %d%s",
                dataset,
                outcome.ds,
                outcome.original_run_id,
                outcome.original_dag_id,
                outcome.outcome,
                outcome.quarantined_before,
                outcome.quarantined_after,
                outcome.passed_before,
                outcome.passed_after,
                "".join(f"; {load['table']}: {load['rows_loaded']} rows" for load in outcome.loads),
            )
        return {"dataset": dataset, "start": start, "end": end, "dates": [asdict(o) for o in self._outcomes]}

    def _lineage(self) -> Any:
        from lockgate.lineage import LineageRecord, operator_lineage

        record = LineageRecord()
        for op in self._ran:
            record.inputs += op.lineage.inputs
            record.outputs += op.lineage.outputs
        lineage = operator_lineage(record)
        if lineage is not None and self._outcomes:
            lineage.run_facets[FACET_NAME] = _replay_facet(str(self.dataset), self._outcomes)
        return lineage

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The replay's inputs and outputs (the steps it ran), with the original runs as a run facet."""
        return self._lineage()

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        return self._lineage()


def source_dag(dag_id: str) -> Any:
    """The pipeline's DAG object, parsed from the configured DAGs folder."""
    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=conf.get("core", "dags_folder"))
    # not bag.get_dag(): it asks the metadata database, which a task may not use in Airflow 3
    dag = bag.dags.get(dag_id)
    if dag is None:
        raise AirflowFailException(
            f"no DAG {dag_id!r} in {conf.get('core', 'dags_folder')}"
            + (f" (import errors: {sorted(bag.import_errors)})" if bag.import_errors else "")
        )
    return dag


def replay_conf(dataset: str, start: str, end: str | None = None, **extra: str | None) -> dict[str, str]:
    """The conf of a replay DAG run (what the page and ``lockgate replay`` send)."""
    date_range(start, end or start)  # refuse bad dates before a run is created
    conf = {"dataset": dataset, "start": start, "end": end or start}
    conf.update({k: v for k, v in extra.items() if v})
    return conf


__all__ = [
    "FACET_NAME",
    "REPLAY_AUDIT_TABLE",
    "REPLAY_DAG_ID",
    "QuarantineReplayOperator",
    "ReplayError",
    "ReplayOutcome",
    "ReplayTarget",
    "plan",
    "replay_conf",
    "replay_date",
]
