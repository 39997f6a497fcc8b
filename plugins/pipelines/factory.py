"""Build one Airflow DAG per pipeline spec (``dags/pipelines/*.yaml``).

Every generated DAG has the same shape::

    prepare_sources -> [wait_<file> ->] [list_<file>_files ->] ingest_<file> -> gate_<dataset>
        -> [route_<dataset> -> gate_<target>] -> partition_<dataset> -> load_<table> [-> deliver_...] -> summarize

and ``partition_<reference> -> gate_<dataset>`` for a dataset enriched from another one of the
pipeline (the ``enrich`` preprocessing step reads the reference's curated data).

with the house rules built in: owners, tags, retries, failure/retry callbacks and data-quality
warnings from the spec's ``alerts``, an ``Asset`` per loaded table, the spec rendered as the DAG's
documentation.

**One broken spec never hides the others.** :func:`register_pipelines` builds each file on its
own: a file that does not validate (or that takes a DAG id, dataset or table an earlier file has)
becomes a stand-in DAG instead of its pipeline - paused, unscheduled, tagged ``broken-spec``,
its documentation and its only task's failure carrying the error with the file, line and field -
and the error is logged. Raising instead would not do: an import error is recorded against the
DAG *file* (``yaml_pipelines.py``), and Airflow marks every DAG of a file with import errors
stale, so all YAML pipelines would stop. CI fails on broken specs before they get here
(``tests/pipelines/test_specs.py``).

Parse time: only ``airflow.sdk``, PyYAML, jsonschema and Lockgate's operators are imported here.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import MutableMapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockgate.assets import dataset_asset, load_outlets
from lockgate.pipelines.spec import (
    PipelineSpec,
    PipelineSpecError,
    clash_error,
    clashes,
    display_path,
    load_each,
)

if TYPE_CHECKING:
    from airflow.sdk import DAG

log = logging.getLogger(__name__)

BROKEN_TAG = "broken-spec"
PIPELINE_TAGS = ("lockgate", "yaml-pipeline")
SOURCES_TASK = "prepare_sources"


class PipelineSpecWarning(UserWarning):
    """A pipeline file could not be built (the message names the file and field)."""


# ------------------------------------------------------------------------------------------- DAGs


def _doc_md(spec: PipelineSpec) -> str:
    lines = [spec.description.strip(), "", "---", f"Declared in `{display_path(spec.path)}`.", ""]
    lines.append("| step | what |")
    lines.append("|---|---|")
    for f in spec.files:
        how = " (one mapped task per file)" if f.fan_out else ""
        if f.slice_by:
            how += f", each date's rows by `{f.slice_by}`"
        if f.wait_timeout_minutes is not None:
            how += f" after `wait_{f.id}` (up to {f.wait_timeout_minutes:g} min for late files)"
        lines.append(f"| `ingest_{f.id}` | `{f.path}` -> raw/{f.dataset}{how} |")
    for model in spec.models:
        lines.append(f"| `model_{model.name}` | SQL over {', '.join(model.reads)} -> raw/{model.name} |")
    for name, ds in spec.datasets.items():
        lines.append(f"| `gate_{name}` | contract `{ds.contract_ref}` |")
    from lockgate.pipelines.predicates import describe

    for route in spec.routes:
        rules = "; ".join(f"{r.target} when {describe(r.when)}" for r in route.rules)
        lines.append(f"| `{route.id}` | {route.source} -> {rules} (match {route.match}) |")
    for load in spec.loads:
        lines.append(f"| `load_{load.table}` | {load.dataset} -> `{load.table}` ({load.mode}) |")
    for d in spec.deliveries:
        chosen = f" where {describe(d.where)}" if d.where else ""
        lines.append(f"| `{d.id}` | {d.dataset}{chosen} -> {d.kind} `{d.conn_id}` (exactly once) |")
    return "\n".join(lines)


def _schedule(spec: PipelineSpec) -> Any:
    """The cron/preset of the spec, or with ``after:`` one run per passed partition of those datasets."""
    if not spec.after:
        return spec.schedule
    from airflow.sdk import AssetAll, PartitionedAssetTimetable

    assets = [dataset_asset(name) for name in spec.after]
    return PartitionedAssetTimetable(assets=assets[0] if len(assets) == 1 else AssetAll(*assets))


def ingest_each_file(
    task_id: str,
    *,
    root: Any,
    pattern: str,
    source_id: str,
    after: Any = None,
    source_aws_conn_id: str = "aws_default",
    allow_empty: bool = False,
    **ingest_kwargs: Any,
) -> tuple[Any, Any]:
    """One mapped ``IngestOperator`` per source file, so a big day spreads across workers.

    Builds ``list_<source_id>_files`` (:func:`lockgate.pipelines.runtime.list_source_files` on the
    files matching ``root/pattern`` at run time) and ``task_id``, an ``IngestOperator`` mapped over
    that list: each instance lands its one file in ``raw/<dataset>/ds=<date>/run=<run>/<source_id>/<file
    name>/`` with its own manifest, and the gate reads every manifest of the run, whichever instance
    wrote it. The YAML pipelines (``fan_out: true``) and ``air_quality_daily`` both use this.

    :param root: the sources root: the ``XComArg`` of the task that resolves it (``prepare_sources``).
    :param pattern: below the root, a glob; templated (``gateway/readings_{{ ds }}*.ndjson``).
    :param source_id: names the listing task and the folder of the source under the run.
    :param after: a task that must finish before the listing (e.g. the ``wait_<source>`` sensor).
    :param ingest_kwargs: the ``IngestOperator``'s other arguments (``dataset``, ``format``...).
    :returns: the listing (an ``XComArg``) and the mapped ingest task.
    """
    from airflow.sdk import task

    from lockgate.operators.ingest import IngestOperator
    from lockgate.pipelines.runtime import list_source_files

    listing = task(task_id=f"list_{source_id}_files")(list_source_files)(
        root=root,
        pattern=pattern,
        source_id=source_id,
        aws_conn_id=source_aws_conn_id,
        allow_empty=allow_empty,
    )
    ingest = IngestOperator.partial(
        task_id=task_id,
        source_aws_conn_id=source_aws_conn_id,
        allow_empty=allow_empty,
        # the UI names each instance by its file (gateway/readings_2026-01-02) instead of 0, 1, 2...
        map_index_template="{{ task.source_name }}",
        **ingest_kwargs,
    ).expand_kwargs(listing)
    if after is not None:
        after >> listing
    return listing, ingest


def build_dag(spec: PipelineSpec) -> DAG:
    """The DAG of one validated spec: ingest -> gate (-> route) -> partition -> load -> deliver, then models."""
    from airflow.sdk import DAG

    from lockgate.alerts import late_batch_deadline, notifiers_for
    from lockgate.operators.load import load_params

    # alerts as lockgate.alerts wires them (the same as air_quality_daily)
    run_summary: list[Any] = notifiers_for(spec.alerts, "run_summary")
    with DAG(
        dag_id=spec.dag_id,
        description=spec.description.strip().splitlines()[0].lstrip("# ")[:200],
        doc_md=_doc_md(spec),
        schedule=_schedule(spec),
        start_date=datetime.fromisoformat(spec.start_date).replace(tzinfo=UTC),
        catchup=spec.catchup,
        max_active_runs=spec.max_active_runs,
        tags=sorted({*PIPELINE_TAGS, *spec.tags}),
        default_args=_default_args(spec),
        params=load_params(),  # allow_shrink: decided by a person in the trigger form
        on_success_callback=run_summary,
        on_failure_callback=run_summary,
        deadline=late_batch_deadline(spec.alerts, after=timedelta(hours=spec.late_batch_after_hours)),
    ) as dag:
        ingests = _ingest_tasks(spec)
        gates = _gate_tasks(spec)
        for name, upstream in ingests.items():
            upstream >> gates[name]
        _route_tasks(spec, gates)
        partitions, loads = _load_tasks(spec, gates)
        loaded = {load.dataset: task for load, task in zip(spec.loads, loads, strict=True)}
        _model_tasks(spec, gates, partitions)
        deliveries = _delivery_tasks(spec, loaded)
        # an enrich step joins the reference's curated data: its partition task must have run
        from lockgate.transforms.preprocess import enrich_steps

        for name, dataset in spec.datasets.items():
            for enrich in enrich_steps(dataset.preprocess):
                if enrich.reference in partitions:
                    partitions[enrich.reference] >> gates[name]
        if spec.summary:
            from lockgate.operators.report import RunSummaryOperator

            summarize = RunSummaryOperator(
                task_id="summarize",
                datasets={load.dataset: load.table for load in spec.loads},
                warehouse_conn_id=spec.warehouse_conn_id,
                lake_conn_id=spec.lake_conn_id,
            )
            [*loads, *deliveries] >> summarize
    return dag


def _default_args(spec: PipelineSpec) -> dict[str, Any]:
    """Owner, retries, timeouts and the task alerts every task of the pipeline gets."""
    from lockgate.alerts import notifiers_for

    default_args: dict[str, Any] = {
        "owner": ",".join(spec.owners),
        "retries": spec.retries,
        "retry_delay": timedelta(minutes=spec.retry_delay_minutes),
        "retry_exponential_backoff": 2.0,
        "on_failure_callback": notifiers_for(spec.alerts, "task_failure"),
        "on_retry_callback": notifiers_for(spec.alerts, "task_retry"),
    }
    if spec.execution_timeout_minutes:
        default_args["execution_timeout"] = timedelta(minutes=spec.execution_timeout_minutes)
    return default_args


def _ingest_tasks(spec: PipelineSpec) -> dict[str, list[Any]]:
    """Per dataset, the tasks that land its files in the raw zone (after the source-root task)."""
    if not spec.files:
        return {}
    from airflow.sdk import task

    from lockgate.pipelines.runtime import resolve_source_root

    prepare: Any = task(task_id=SOURCES_TASK)(resolve_source_root)(dag_id=spec.dag_id, location=spec.location)
    root = "{{ ti.xcom_pull(task_ids='" + SOURCES_TASK + "') }}"
    ingests: dict[str, list[Any]] = {}
    for f in spec.files:
        options: dict[str, Any] = {
            "dataset": f.dataset,
            "contract": spec.datasets[f.dataset].contract_ref,
            "format": f.format,
            "source_timezone": f.timezone,
            "delimiter": f.delimiter,
            "encoding": f.encoding,
            "source_aws_conn_id": spec.source_aws_conn_id,
            "allow_empty": f.allow_empty,
            "max_field_bytes": f.max_field_bytes,
            "max_undecodable_percent": f.max_undecodable_percent,
            # multi-day files: recorded in the manifest, so the gate takes only the date's rows
            "slice_by": f.slice_by,
            "lake_conn_id": spec.lake_conn_id,
        }
        if spec.trigger is not None:
            ingest = _event_ingest(f, prepare, root, options, on_bad_event=spec.trigger.on_bad_event)
        else:
            ingest = _scheduled_ingest(spec, f, prepare, root, options)
        ingests.setdefault(f.dataset, []).append(ingest)
    return ingests


def _event_ingest(f: Any, prepare: Any, root: str, options: dict[str, Any], *, on_bad_event: str) -> Any:
    """Event runs land the objects their events name (EventIngestOperator); no wait, no fan-out."""
    from lockgate.operators.ingest import EventIngestOperator

    ingest = EventIngestOperator(
        task_id=f"ingest_{f.id}",
        source=f"{root}/{f.path}",
        source_name=f.id,
        on_bad_event=on_bad_event,
        **options,
    )
    prepare >> ingest
    return ingest


def _scheduled_ingest(spec: PipelineSpec, f: Any, prepare: Any, root: str, options: dict[str, Any]) -> Any:
    """A scheduled run lands the file path's matches: optionally after a deferrable wait, one task or one per file."""
    from lockgate.operators.ingest import IngestOperator
    from lockgate.operators.wait import wait_for_files

    first: Any = prepare
    if f.wait_timeout_minutes is not None:
        first = wait_for_files(
            f"wait_{f.id}",
            f"{root}/{f.path}",
            timeout=timedelta(minutes=f.wait_timeout_minutes),
            poke_interval=f.wait_poke_seconds,
            aws_conn_id=spec.source_aws_conn_id,
        )
        prepare >> first
    if f.fan_out:
        _, ingest = ingest_each_file(
            f"ingest_{f.id}",
            root=prepare,
            pattern=f.path,
            source_id=f.id,
            after=None if first is prepare else first,
            **options,
        )
        return ingest
    ingest = IngestOperator(task_id=f"ingest_{f.id}", source=f"{root}/{f.path}", source_name=f.id, **options)
    first >> ingest
    return ingest


def _gate_tasks(spec: PipelineSpec) -> dict[str, Any]:
    """One quality gate per dataset (sources, routed targets and models alike)."""
    from lockgate.alerts import notifiers_for
    from lockgate.operators.quality import QualityGateOperator

    dq_warnings = notifiers_for(spec.alerts, "dq_warning")
    return {
        name: QualityGateOperator(
            task_id=f"gate_{name}",
            dataset=name,
            contract=ds.contract_ref,
            preprocess=ds.preprocess,
            warning_notifiers=dq_warnings,
            engine=ds.engine,
            spark_conn_id=spec.spark_conn_id,
            lake_conn_id=spec.lake_conn_id,
        )
        for name, ds in spec.datasets.items()
    }


def _route_tasks(spec: PipelineSpec, gates: dict[str, Any]) -> None:
    """Each route splits its gated source into the targets' datasets, gated again with their contracts."""
    from lockgate.operators.route import RouteOperator

    for route in spec.routes:
        step = RouteOperator(
            task_id=route.id,
            dataset=route.source,
            contract=spec.datasets[route.source].contract_ref,
            rules=[{"target": r.target, "when": r.when, "columns": r.columns} for r in route.rules],
            match=route.match,
            max_unrouted_percent=route.max_unrouted_percent,
            target_contracts={r.target: spec.datasets[r.target].contract_ref for r in route.rules},
            lake_conn_id=spec.lake_conn_id,
        )
        gates[route.source] >> step
        for target in dict.fromkeys(r.target for r in route.rules):
            step >> gates[target]


def _load_tasks(spec: PipelineSpec, gates: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """Partition then load each of the spec's loads: (partition task by dataset, load tasks in spec order)."""
    from lockgate.operators.load import WarehouseLoadOperator
    from lockgate.operators.partition import PartitionOperator

    partitions: dict[str, Any] = {}
    loads: list[Any] = []
    for load in spec.loads:
        ds = spec.datasets[load.dataset]
        partition = PartitionOperator(
            task_id=f"partition_{load.dataset}",
            dataset=load.dataset,
            contract=ds.contract_ref,
            engine=ds.engine,
            spark_conn_id=spec.spark_conn_id,
            lake_conn_id=spec.lake_conn_id,
        )
        warehouse_load = WarehouseLoadOperator(
            task_id=f"load_{load.table}",
            dataset=load.dataset,
            contract=ds.contract_ref,
            table=load.table,
            mode=load.mode,
            warehouse_conn_id=spec.warehouse_conn_id,
            outlets=load_outlets(load.dataset, load.table),
            lake_conn_id=spec.lake_conn_id,
        )
        gates[load.dataset] >> partition >> warehouse_load
        partitions[load.dataset] = partition
        loads.append(warehouse_load)
    return partitions, loads


def _model_tasks(spec: PipelineSpec, gates: dict[str, Any], partitions: dict[str, Any]) -> None:
    """Models run after the partition of each dataset of this pipeline their SQL reads; then their gate."""
    from lockgate.operators.model import ModelOperator

    for model in spec.models:
        run_model = ModelOperator(
            task_id=f"model_{model.name}",
            dataset=model.name,
            contract=model.contract_ref,
            sql=model.sql,
            reads=model.reads,
            aqi_revision=model.aqi_revision,
            lake_conn_id=spec.lake_conn_id,
        )
        for read in model.reads:
            if read in partitions:
                partitions[read] >> run_model
        run_model >> gates[model.name]


def _delivery_tasks(spec: PipelineSpec, loaded: dict[str, Any]) -> list[Any]:
    """Deliveries run after their dataset's load, so only a date that loaded goes out (lockgate.delivery)."""
    from lockgate.operators.deliver import DeliverOperator

    deliveries = []
    for d in spec.deliveries:
        deliver = DeliverOperator(
            task_id=d.id,
            dataset=d.dataset,
            contract=spec.datasets[d.dataset].contract_ref,
            kind=d.kind,
            conn_id=d.conn_id,
            options=d.options,
            where=d.where,
            columns=d.columns,
            pii=d.pii,
            warehouse_conn_id=spec.warehouse_conn_id,
            lake_conn_id=spec.lake_conn_id,
        )
        loaded[d.dataset] >> deliver
        deliveries.append(deliver)
    return deliveries


# --------------------------------------------------------------------------------- broken specs


def _fail(message: str) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    raise AirflowFailException(message)


def _stand_in_id(error: PipelineSpecError, taken: set[str]) -> str:
    """The broken pipeline's own dag_id when it can be read and is free, else one from the file name."""
    try:
        from lockgate.pipelines.spec import read_yaml

        raw = read_yaml(Path(error.path).read_text(encoding="utf-8"))
        dag_id = raw.get("dag_id") if isinstance(raw, dict) else None
    except Exception:  # noqa: BLE001 - an unreadable file has no dag_id
        dag_id = None
    if isinstance(dag_id, str) and re.fullmatch(r"[a-z][a-z0-9_]*", dag_id) and dag_id not in taken:
        return dag_id
    stem = re.sub(r"[^a-z0-9_]+", "_", Path(error.path).stem.lower()).strip("_") or "pipeline"
    return f"invalid_pipeline__{stem}"


def build_stand_in(error: PipelineSpecError, dag_id: str) -> DAG:
    """A DAG that shows a broken spec's error where the pipeline would be, and cannot do anything else."""
    import pendulum
    from airflow.sdk import DAG, task

    from lockgate.alerts import notifiers_for

    message = "\n".join(["pipeline spec is invalid:", *error.lines()])
    doc = "\n".join(
        [
            f"### {dag_id}: this pipeline's spec is broken",
            "",
            f"`{display_path(error.path)}` did not validate, so this DAG stands in for it (paused, unscheduled):",
            "",
            "```",
            *error.lines(),
            "```",
            "",
            "Fix the file (see `include/pipeline.schema.json`); the pipeline comes back on the next parse.",
        ]
    )
    with DAG(
        dag_id=dag_id,
        description=f"BROKEN SPEC {display_path(error.path)}: {error.lines()[0]}"[:200],
        doc_md=doc,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        is_paused_upon_creation=True,
        tags=[*PIPELINE_TAGS, BROKEN_TAG],
        default_args={
            "owner": "lockgate",
            "retries": 2,
            "on_failure_callback": notifiers_for({"task_failure": ["webhook:lockgate_alerts"]}, "task_failure"),
        },
    ) as dag:

        def invalid_spec() -> None:
            """Fail with the spec's errors (the message is not a template: it may quote ``{{ ds }}``)."""
            _fail(message)

        task(task_id="invalid_spec")(invalid_spec)()
    return dag


# ------------------------------------------------------------------------------------ many files


def _located(spec: PipelineSpec, where: str, message: str) -> PipelineSpecError:
    from lockgate.pipelines.spec import line_of

    text = Path(spec.path).read_text(encoding="utf-8")
    return PipelineSpecError(spec.path, [(where, message, line_of(text, where.split(".")) if where else None)])


def build_dags(folder: str | Path) -> tuple[list[DAG], list[PipelineSpecError]]:
    """One DAG per valid spec in ``folder``, one stand-in per broken one; and the errors."""
    from airflow.sdk.exceptions import AirflowTimetableInvalid

    candidates, errors = load_each(folder)
    built: list[PipelineSpec] = []
    dags: list[DAG] = []
    for spec in candidates:
        # only pipelines that build claim their DAG id, datasets and tables: a broken file takes nothing
        problems = clashes(spec, built)
        if problems:
            errors.append(clash_error(spec, problems))
            continue
        try:
            dag = build_dag(spec)
            # what DagBag would otherwise find later, as an import error that hides every YAML pipeline
            dag.validate()
            dag.check_cycle()
        except AirflowTimetableInvalid as exc:
            errors.append(_located(spec, "schedule", f"{spec.schedule!r} is not a valid schedule: {exc}"))
        except Exception as exc:  # noqa: BLE001 - one file's problem must not hide the others
            errors.append(_located(spec, "", f"{type(exc).__name__}: {exc}"))
        else:
            dags.append(dag)
            built.append(spec)
            if spec.trigger is not None:
                from lockgate.pipelines.events_dag import build_dispatcher

                dags.append(build_dispatcher(spec))
    taken = {dag.dag_id for dag in dags}
    for error in errors:
        dag_id = _stand_in_id(error, taken)
        taken.add(dag_id)
        dags.append(build_stand_in(error, dag_id))
    return dags, errors


def build_task_dags(folder: str | Path, dag_id: str) -> list[DAG] | None:
    """Only what a task of ``dag_id`` needs: its pipeline's DAG (and dispatcher), exactly as
    :func:`build_dags` builds it; None when only the full build can tell (then do that).

    A task process parses the DAG file for one DAG; validating and building every pipeline cost it
    seconds per task start on a busy machine (a pipeline with SQL models alone imports sqlglot and
    traces its lineage). Only the first valid file that declares the DAG id is validated and built:
    the files after it do not matter (a file only ever clashes with earlier ones), and an earlier
    file whose YAML claims none of its datasets and tables (:func:`_claims`, a superset of what a
    valid file claims) cannot clash with it. When one could, whether it clashes depends on whether
    that file is valid and built, so the full build decides; so does a pipeline that does not build
    (its stand-in's DAG id depends on every other file).
    """
    from lockgate.pipelines.events_dag import SUFFIX, build_dispatcher
    from lockgate.pipelines.spec import load_spec, produced, spec_files

    ids = {dag_id, dag_id.removesuffix(SUFFIX)}
    earlier: list[tuple[set[str], set[str]]] = []
    for path in spec_files(folder):
        claims = _claims(path)
        if claims is not None and claims[0] not in ids:
            earlier.append(claims[1:])
            continue
        try:
            spec = load_spec(path)
        except PipelineSpecError:
            continue  # a broken file claims nothing
        if spec.dag_id not in ids:
            earlier.append(produced(spec))
            continue
        datasets, tables = produced(spec)
        if any(datasets & other_datasets or tables & other_tables for other_datasets, other_tables in earlier):
            return None
        try:
            dag = build_dag(spec)
            dag.validate()
            dag.check_cycle()
        except Exception:  # noqa: BLE001 - the full build makes its stand-in and reports the error
            return None
        # the dispatcher's task needs the pipeline's DAG built too (as in the full build; it is
        # registered with Airflow's DAG context, so the DagBag holds it as well); the pipeline's not
        dags = [dag, build_dispatcher(spec)] if spec.trigger is not None and dag_id != spec.dag_id else [dag]
        return [d for d in dags if d.dag_id == dag_id] or None
    return None


def _claims(path: Path) -> tuple[str, set[str], set[str]] | None:
    """(DAG id, datasets, tables) a spec file's YAML names, unvalidated; None when it cannot be read
    so. A valid spec writes no dataset (``datasets`` and ``models``) and loads no table beyond these."""
    from lockgate.pipelines.spec import read_yaml

    try:
        raw = read_yaml(path.read_text(encoding="utf-8"))
        datasets = set(raw["datasets"]) | {model["name"] for model in raw.get("models") or []}
        tables = {load["table"] for load in raw["loads"]}
        dag_id = raw["dag_id"]
    except Exception:  # noqa: BLE001 - whatever is wrong with the file, load_spec says it
        return None
    if not isinstance(dag_id, str) or not all(isinstance(n, str) for n in datasets | tables):
        return None
    return dag_id, datasets, tables


def _task_dag_id() -> str | None:
    """The DAG id a task process parses the DAG file for (Airflow's parsing context); else None."""
    from airflow.sdk import get_parsing_context

    return get_parsing_context().dag_id


def register_pipelines(folder: str | Path, namespace: MutableMapping[str, Any]) -> list[PipelineSpecError]:
    """Build every pipeline of ``folder`` into a DAG file's globals (where Airflow finds DAGs).

    Broken files are logged and warned about, and stand in as broken DAGs; see the module doc. In a
    task process (Airflow's parsing context names a DAG) only that DAG is built when that gives the
    same DAG (:func:`build_task_dags`); the DAG processor builds and reports every file.
    """
    dag_id = _task_dag_id()
    only = build_task_dags(folder, dag_id) if dag_id else None
    if only is not None:
        for dag in only:
            namespace[f"dag__{dag.dag_id}"] = dag
        return []
    dags, errors = build_dags(folder)
    for dag in dags:
        namespace[f"dag__{dag.dag_id}"] = dag
    for error in errors:
        log.error("%s", error)
        warnings.warn(str(error), PipelineSpecWarning, stacklevel=2)
    return errors
