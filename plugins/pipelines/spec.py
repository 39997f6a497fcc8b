"""Pipeline specs: one reviewed YAML file per pipeline under ``dags/pipelines/``.

:func:`load_spec` reads a file, validates it against ``include/pipeline.schema.json`` (which
documents every field) and then against what the schema cannot see: the contracts exist and
describe their datasets, every dataset is fed by a source or a route and reaches the warehouse
through a load, route predicates name real columns, ``merge`` loads have a primary key. Every
problem is reported as ``<file>:<line>: <field>: <problem>`` in one :class:`PipelineSpecError`.

No DAG is built here: the factory (:mod:`lockgate.pipelines.factory`) turns a :class:`PipelineSpec`
into a DAG, and CI validates specs without building anything. Cheap to import (alert targets are
checked by :mod:`lockgate.alerts`, imported when a spec is validated): DAG files use it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from lockgate.config import include_dir
from lockgate.contracts import Contract, ContractError, parse_contract
from lockgate.formats import DEFAULT_MAX_FIELD_BYTES, DEFAULT_MAX_UNDECODABLE_PERCENT
from lockgate.pipelines import predicates

SCHEMA_FILE = "pipeline.schema.json"
SPEC_SUFFIXES = (".yaml", ".yml")
LOAD_MODES = ("replace_partition", "merge")
#: hours after a logical date by which its data must be loaded (else ``late_batch`` alerts)
DEFAULT_LATE_BATCH_AFTER_HOURS = 30


class PipelineSpecError(ValueError):
    """A pipeline spec is invalid. ``problems`` holds ``(field, message, line)``; ``str()`` names the file."""

    def __init__(self, path: str | Path, problems: Sequence[tuple[str, str, int | None]]) -> None:
        self.path = str(path)
        self.problems = list(problems)
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        shown = display_path(self.path)
        return [
            f"{shown}{f':{line}' if line else ''}: {where or '<root>'}: {what}" for where, what, line in self.problems
        ]

    @property
    def fields(self) -> list[str]:
        return [where for where, _, _ in self.problems]


def display_path(path: str | Path) -> str:
    """A path as people read it in CI logs: relative to the working directory when below it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class SourceFile:
    """One kind of source file (``sources.files[]``): what to ingest, into which dataset."""

    id: str
    dataset: str
    path: str
    format: str | None = None
    timezone: str | None = None
    delimiter: str = ","
    encoding: str = "utf-8"
    #: no matching files, and files with no records, are fine (0 rows) instead of an error
    allow_empty: bool = False
    max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES
    max_undecodable_percent: float = DEFAULT_MAX_UNDECODABLE_PERCENT
    fan_out: bool = False
    #: wait (deferred) up to this long for late files before ingesting; None: no wait
    wait_timeout_minutes: float | None = None
    wait_poke_seconds: float = 60.0
    #: the files cover many days: the date/timestamp column placing each row on its logical date
    slice_by: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset of the pipeline, gated against its contract."""

    name: str
    contract_ref: str
    contract: Contract
    preprocess: dict[str, Any] = field(default_factory=dict)
    #: where its gate and partition step run (``duckdb`` or ``spark``, :mod:`lockgate.spark_engine`)
    engine: str = "duckdb"


@dataclass(frozen=True)
class RouteRule:
    """Rows of the route's source that satisfy ``when`` go to ``target``."""

    target: str
    when: dict[str, Any]
    columns: dict[str, str]


@dataclass(frozen=True)
class RouteSpec:
    """A routing step: the gated rows of ``source`` distributed to other datasets by rules."""

    id: str
    source: str
    rules: tuple[RouteRule, ...]
    match: str = "first"
    max_unrouted_percent: float | None = None


@dataclass(frozen=True)
class LoadSpec:
    """A dataset's curated partitions into a warehouse table."""

    dataset: str
    table: str
    mode: str


@dataclass(frozen=True)
class TriggerSpec:
    """``trigger:``: event-driven runs from a queue (see :mod:`lockgate.events`)."""

    on: str
    #: s3_events: the SQS queue URL; redis: the pub/sub channel
    queue: str
    conn_id: str
    max_wait: float = 10.0
    max_files: int = 100
    poll_seconds: float = 10.0
    on_bad_event: str = "skip"


@dataclass(frozen=True)
class PipelineSpec:
    """A validated pipeline spec (see ``include/pipeline.schema.json`` for each field)."""

    path: str
    dag_id: str
    description: str
    owners: tuple[str, ...]
    tags: tuple[str, ...]
    schedule: str | None
    start_date: str
    catchup: bool
    max_active_runs: int
    retries: int
    retry_delay_minutes: float
    execution_timeout_minutes: float | None
    late_batch_after_hours: float
    alerts: dict[str, list[str]]
    location: dict[str, Any]
    files: tuple[SourceFile, ...]
    datasets: dict[str, DatasetSpec]
    routes: tuple[RouteSpec, ...]
    loads: tuple[LoadSpec, ...]
    lake_conn_id: str
    warehouse_conn_id: str
    source_aws_conn_id: str
    summary: bool = True
    #: the Spark of the datasets with ``engine: spark`` (a missing connection: local mode)
    spark_conn_id: str = "lockgate_spark"
    #: ``deliver:`` entries (:class:`lockgate.delivery.DeliverySpec`), each after its dataset's load
    deliveries: tuple[Any, ...] = ()
    #: ``models:`` entries (:class:`lockgate.models.ModelSpec`); each model's dataset is in ``datasets`` too
    models: tuple[Any, ...] = ()
    #: ``trigger:``: an AssetWatcher starts event runs (None: schedule only)
    trigger: TriggerSpec | None = None
    #: ``after:``: datasets whose passed partitions start a run each (PartitionedAssetTimetable)
    after: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def gated(self) -> list[str]:
        """Datasets with a quality gate: every declared dataset, in a stable order."""
        return list(self.datasets)


# ------------------------------------------------------------------------------------------- YAML


def _loader() -> Any:
    """A safe YAML loader that keeps dates as strings (``2026-01-01`` stays text, as the schema says)
    and reads only ``true``/``false`` as booleans (``on``, ``off``, ``yes``, ``no`` stay text)."""
    import re

    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class SpecLoader(base):  # type: ignore[valid-type,misc]
        pass

    dropped = ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")
    SpecLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in dropped]
        for first, resolvers in base.yaml_implicit_resolvers.items()
    }
    # booleans as YAML 1.2 has them: only true/false. YAML 1.1 also reads on/off/yes/no as booleans,
    # which would turn the `on:` key of an enrich step into True
    SpecLoader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    return SpecLoader


_LOADER: Any = None


def read_yaml(text: str) -> Any:
    global _LOADER
    import yaml

    if _LOADER is None:
        _LOADER = _loader()
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a SafeLoader subclass


def line_of(text: str, where: Sequence[str | int]) -> int | None:
    """The 1-based line of a field in a YAML text (the deepest part of ``where`` that exists)."""
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for part in where:
        if isinstance(node, yaml.MappingNode):
            match = next((kv for kv in node.value if kv[0].value == str(part)), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


# ------------------------------------------------------------------------------------- JSON Schema


@lru_cache(maxsize=4)
def _validator(schema_path: str) -> Any:
    import jsonschema

    with open(schema_path, encoding="utf-8") as fh:
        schema = json.load(fh)
    # the schema itself is checked by the tests (check_schema costs a tenth of a second per parse)
    return jsonschema.Draft202012Validator(schema)


def schema_path() -> Path:
    return include_dir() / SCHEMA_FILE


def schema_problems(raw: Any) -> list[tuple[list[str | int], str]]:
    """``(path, message)`` for every JSON Schema violation, most specific first per field."""
    validator = _validator(str(schema_path()))
    problems = []
    for error in sorted(validator.iter_errors(raw), key=lambda e: [str(p) for p in e.absolute_path]):
        # oneOf/anyOf failures are clearer as the sub-error that got furthest
        best = error
        if error.context:
            best = max(error.context, key=lambda e: (len(e.absolute_path), -len(e.message)))
        problems.append((list(best.absolute_path), best.message))
    return problems


# ----------------------------------------------------------------------------------------- loading


@lru_cache(maxsize=1024)
def _cached_contract(path: str, mtime_ns: int) -> Contract:
    """:func:`lockgate.contracts.load_contract` with libyaml's parser (several times faster: a parse
    of many pipelines reads many contracts)."""
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - safe
    except yaml.YAMLError as exc:
        raise ContractError(f"{path}: not valid YAML: {exc}") from None
    return parse_contract(raw, source=path)


def resolve_contract(ref: str) -> Path:
    """A contract reference: a dataset name (``include/contracts/<name>.yaml``) or a path below ``include/``."""
    if ref.endswith(SPEC_SUFFIXES):
        path = Path(ref)
        return path if path.is_absolute() else include_dir() / path
    return include_dir() / "contracts" / f"{ref}.yaml"


def contract_for(ref: str) -> Contract:
    """Load a contract (cached per file version, so a parse of many specs reads each once)."""
    path = resolve_contract(ref)
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise ContractError(f"{path}: contract file not found") from None
    return _cached_contract(str(path), mtime)


def load_spec(path: str | Path) -> PipelineSpec:
    """Read and validate one pipeline file; :class:`PipelineSpecError` lists every problem found."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PipelineSpecError(path, [("", f"cannot read the file: {exc.strerror or exc}", None)]) from None
    try:
        raw = read_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise PipelineSpecError(path, [("", f"not valid YAML: {problem}", line)]) from None
    return parse_spec(raw, path=path, text=text)


def parse_spec(raw: Any, *, path: str | Path, text: str | None = None) -> PipelineSpec:
    """Validate a spec already read into Python objects (see :func:`load_spec`)."""
    located = _Problems(text)
    for where, message in schema_problems(raw):
        located.add(where, message)
    located.raise_if_any(path)
    spec = _Builder(raw, path, located).build()
    located.raise_if_any(path)
    assert spec is not None
    return spec


class _Problems:
    """Collects problems with the YAML line of their field."""

    def __init__(self, text: str | None) -> None:
        self.text = text
        self.items: list[tuple[str, str, int | None]] = []

    def add(self, where: Sequence[str | int], message: str) -> None:
        line = line_of(self.text, where) if self.text is not None else None
        self.items.append((".".join(str(p) for p in where), message, line))

    def raise_if_any(self, path: str | Path) -> None:
        if self.items:
            raise PipelineSpecError(path, self.items)


class _Builder:
    """Semantic checks over a schema-valid spec, building the :class:`PipelineSpec`."""

    def __init__(self, raw: dict[str, Any], path: str | Path, problems: _Problems) -> None:
        self.raw = raw
        self.path = str(path)
        self.problems = problems

    def fail(self, where: Sequence[str | int], message: str) -> None:
        self.problems.add(where, message)

    def build(self) -> PipelineSpec | None:
        raw = self.raw
        datasets = self._datasets()
        models = self._models(datasets)
        files = self._files(datasets)
        routes = self._routes(datasets)
        loads = self._loads(datasets)
        deliveries = self._deliveries(datasets)
        self._enrich(datasets, routes)
        self._fed(datasets, files, routes)
        self._acyclic(routes)
        self._alerts()
        self._schedule()
        trigger = self._trigger(files)
        after = self._after(models)
        connections = raw.get("connections", {})
        from lockgate.config import DEFAULT_LAKE_CONN_ID, DEFAULT_WAREHOUSE_CONN_ID
        from lockgate.spark_engine import DEFAULT_SPARK_CONN_ID

        return PipelineSpec(
            path=self.path,
            dag_id=raw["dag_id"],
            description=raw["description"].strip(),
            owners=tuple(raw["owners"]),
            tags=tuple(raw.get("tags", [])),
            schedule=raw["schedule"],
            start_date=raw["start_date"],
            catchup=raw["catchup"],
            max_active_runs=raw.get("max_active_runs", 1),
            retries=raw.get("retries", 2),
            retry_delay_minutes=raw.get("retry_delay_minutes", 2),
            execution_timeout_minutes=raw.get("execution_timeout_minutes"),
            late_batch_after_hours=raw.get("late_batch_after_hours", DEFAULT_LATE_BATCH_AFTER_HOURS),
            alerts={event: list(targets) for event, targets in raw["alerts"].items()},
            location=dict(raw.get("sources", {}).get("location", {})),
            files=tuple(files),
            datasets=datasets,
            routes=tuple(routes),
            loads=tuple(loads),
            lake_conn_id=connections.get("lake", DEFAULT_LAKE_CONN_ID),
            warehouse_conn_id=connections.get("warehouse", DEFAULT_WAREHOUSE_CONN_ID),
            source_aws_conn_id=connections.get("source_aws", "aws_default"),
            spark_conn_id=connections.get("spark", DEFAULT_SPARK_CONN_ID),
            summary=raw.get("summary", True),
            deliveries=tuple(deliveries),
            models=tuple(models),
            trigger=trigger,
            after=after,
            raw=raw,
        )

    def _datasets(self) -> dict[str, DatasetSpec]:
        from lockgate.transforms.preprocess import check_columns, validate_preprocess

        found: dict[str, DatasetSpec] = {}
        for name, declared in self.raw["datasets"].items():
            spec = declared or {}
            ref = spec.get("contract", name)
            try:
                contract = contract_for(ref)
            except ContractError as exc:
                self.fail(["datasets", name, "contract"], str(exc).replace("\n", " "))
                continue
            if contract.dataset != name:
                self.fail(
                    ["datasets", name, "contract"],
                    f"{display_path(contract.path)} describes dataset {contract.dataset!r}, not {name!r}",
                )
                continue
            preprocess = dict(spec.get("preprocess", {}))
            try:
                validate_preprocess(preprocess)
                # the steps' columns against the contract, so a typo fails at parse time, not in the gate
                check_columns(preprocess, {c.name: (c.type, c.nullable) for c in contract.columns})
            except ValueError as exc:
                self.fail(["datasets", name, "preprocess"], str(exc))
            units = preprocess.get("convert_units")
            if units:
                for key in ("value", "unit", "by"):
                    if units[key] not in contract.column_names:
                        self.fail(
                            ["datasets", name, "preprocess", "convert_units", key],
                            f"column {units[key]!r} is not in contract {contract.dataset}",
                        )
            found[name] = DatasetSpec(name, ref, contract, preprocess, spec.get("engine", "duckdb"))
        return found

    def _files(self, datasets: Mapping[str, DatasetSpec]) -> list[SourceFile]:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        files, seen = [], set()
        for i, spec in enumerate(self.raw.get("sources", {}).get("files", [])):
            if spec["id"] in seen:
                self.fail(["sources", "files", i, "id"], f"id {spec['id']!r} is used twice")
            seen.add(spec["id"])
            if spec["dataset"] not in self.raw["datasets"]:
                self.fail(
                    ["sources", "files", i, "dataset"], f"dataset {spec['dataset']!r} is not declared in datasets"
                )
            if spec.get("timezone"):
                try:
                    ZoneInfo(spec["timezone"])
                except (ZoneInfoNotFoundError, ValueError):
                    self.fail(["sources", "files", i, "timezone"], f"unknown IANA time zone {spec['timezone']!r}")
            if spec.get("slice_by") and spec["dataset"] in datasets:
                self._slice_by(["sources", "files", i, "slice_by"], spec["slice_by"], datasets[spec["dataset"]])
            files.append(
                SourceFile(
                    id=spec["id"],
                    dataset=spec["dataset"],
                    path=spec["path"],
                    format=spec.get("format"),
                    timezone=spec.get("timezone"),
                    delimiter=spec.get("delimiter", ","),
                    encoding=spec.get("encoding", "utf-8"),
                    allow_empty=spec.get("allow_empty", False),
                    max_field_bytes=spec.get("max_field_bytes", DEFAULT_MAX_FIELD_BYTES),
                    max_undecodable_percent=spec.get("max_undecodable_percent", DEFAULT_MAX_UNDECODABLE_PERCENT),
                    fan_out=spec.get("fan_out", False),
                    wait_timeout_minutes=(spec.get("wait") or {}).get("timeout_minutes"),
                    wait_poke_seconds=(spec.get("wait") or {}).get("poke_seconds", 60.0),
                    slice_by=spec.get("slice_by"),
                )
            )
        sample = self.raw.get("sources", {}).get("location", {}).get("sample", {})
        if "folder" in sample and not (include_dir() / sample["folder"]).is_dir():
            self.fail(
                ["sources", "location", "sample", "folder"],
                f"no folder {sample['folder']!r} under {display_path(include_dir())}",
            )
        return files

    def _slice_by(self, where: list[str | int], column: str, dataset: DatasetSpec) -> None:
        """A ``slice_by`` column is a date or timestamp column of the dataset's contract, read from the files."""
        from lockgate.transforms.preprocess import enriched_columns

        types = {c.name: c.type for c in dataset.contract.columns}
        if column not in types:
            shown = display_path(dataset.contract.path)
            self.fail(where, f"column {column!r} is not in contract {dataset.name} ({shown})")
        elif types[column] not in ("date", "timestamp"):  # lockgate.gate.SLICE_TYPES (not imported at parse time)
            self.fail(
                where,
                f"column {column!r} is {types[column]} in contract {dataset.name}: slice_by needs a date or timestamp "
                "column (its format says how the files write it)",
            )
        elif column in enriched_columns(dataset.preprocess):
            self.fail(where, f"column {column!r} comes from an enrich step, not from the files")

    def _routes(self, datasets: Mapping[str, DatasetSpec]) -> list[RouteSpec]:
        routes, ids = [], set()
        for i, spec in enumerate(self.raw.get("routes", [])):
            source = spec["from"]
            route_id = spec.get("id", f"route_{source}")
            if route_id in ids:
                self.fail(["routes", i, "id"], f"task id {route_id!r} is used twice; give the route an id")
            ids.add(route_id)
            if source not in self.raw["datasets"]:
                self.fail(["routes", i, "from"], f"dataset {source!r} is not declared in datasets")
                continue
            if source not in datasets:
                continue  # its contract is broken, reported already
            source_types = {c.name: c.type for c in datasets[source].contract.columns}
            rules = []
            for j, rule in enumerate(spec["rules"]):
                where: list[str | int] = ["routes", i, "rules", j]
                target = rule["target"]
                if target not in self.raw["datasets"]:
                    self.fail([*where, "target"], f"dataset {target!r} is not declared in datasets")
                    continue
                if target == source:
                    self.fail([*where, "target"], "a route cannot send rows back to its own source")
                    continue
                try:
                    predicates.validate(rule["when"], source_types, path="when")
                except predicates.PredicateError as exc:
                    self.fail([*where, *exc.path.split(".")], exc.problem)
                if target in datasets:
                    self._projection(where, rule, datasets[source].contract, datasets[target].contract)
                rules.append(RouteRule(target, dict(rule["when"]), dict(rule.get("columns", {}))))
            routes.append(
                RouteSpec(
                    id=route_id,
                    source=source,
                    rules=tuple(rules),
                    match=spec.get("match", "first"),
                    max_unrouted_percent=spec.get("max_unrouted_percent"),
                )
            )
        return routes

    def _projection(self, where: list[str | int], rule: Mapping[str, Any], source: Contract, target: Contract) -> None:
        """Every column of the target's contract must come from a source column."""
        mapping = rule.get("columns", {})
        for target_col, source_col in mapping.items():
            if target_col not in target.column_names:
                self.fail([*where, "columns", target_col], f"column {target_col!r} is not in contract {target.dataset}")
            if source_col not in source.column_names:
                self.fail([*where, "columns", target_col], f"column {source_col!r} is not in contract {source.dataset}")
        missing = [c for c in target.column_names if c not in mapping and c not in source.column_names]
        if missing:
            self.fail(
                [*where, "columns"],
                f"contract {target.dataset} needs column(s) {', '.join(missing)} that {source.dataset} lacks; "
                f"map them, e.g. columns: {{{missing[0]}: <column of {source.dataset}>}}",
            )

    def _loads(self, datasets: Mapping[str, DatasetSpec]) -> list[LoadSpec]:
        loads: list[LoadSpec] = []
        seen_datasets: set[str] = set()
        seen_tables: set[str] = set()
        for i, spec in enumerate(self.raw["loads"]):
            name, table, mode = spec["dataset"], spec["table"], spec.get("mode", "replace_partition")
            if name not in self.raw["datasets"] and name not in self._model_names:
                self.fail(["loads", i, "dataset"], f"dataset {name!r} is not declared in datasets or models")
            if name in seen_datasets:
                self.fail(["loads", i, "dataset"], f"dataset {name!r} is loaded twice")
            if table in seen_tables:
                self.fail(["loads", i, "table"], f"table {table!r} is loaded twice")
            seen_datasets.add(name)
            seen_tables.add(table)
            if mode == "merge" and name in datasets and not datasets[name].contract.primary_key:
                self.fail(["loads", i, "mode"], f"merge needs a primary_key in contract {name}")
            loads.append(LoadSpec(name, table, mode))
        return loads

    @property
    def _model_names(self) -> set[str]:
        return {model["name"] for model in self.raw.get("models", [])}

    def _models(self, datasets: dict[str, DatasetSpec]) -> list[Any]:
        """``models:`` entries, checked by :func:`lockgate.models.parse_models` (adds their datasets)."""
        from lockgate.models import parse_models

        return parse_models(self.raw, datasets, self.fail)

    def _deliveries(self, datasets: Mapping[str, DatasetSpec]) -> list[Any]:
        """``deliver:`` entries, checked by :func:`lockgate.delivery.parse_deliveries`."""
        from lockgate.delivery import parse_deliveries

        loaded = [load["dataset"] for load in self.raw["loads"]]
        contracts = {name: ds.contract for name, ds in datasets.items()}
        found, problems = parse_deliveries(self.raw.get("deliver", []), contracts, loaded)
        for where, message in problems:
            self.fail(where, message)
        return found

    def _enrich(self, datasets: Mapping[str, DatasetSpec], routes: Sequence[RouteSpec]) -> None:
        """``enrich`` steps: the reference exists, is curated, has the columns with the same types."""
        from lockgate.transforms.preprocess import enrich_steps

        loaded = {load["dataset"] for load in self.raw["loads"]}
        # dataset -> datasets whose gate runs after it (routes, and enrich from a dataset of this pipeline)
        after: dict[str, set[str]] = {}
        for route in routes:
            after.setdefault(route.source, set()).update(r.target for r in route.rules)
        checked: list[tuple[list[str | int], str, str]] = []
        for name, spec in datasets.items():
            try:
                steps = enrich_steps(spec.preprocess)
            except ValueError:
                continue  # reported with the other preprocess problems
            for step in steps:
                where: list[str | int] = [
                    "datasets",
                    name,
                    *(int(p) if p.isdigit() else p for p in step.where.split(".")),
                ]
                ref = step.reference
                if ref == name:
                    self.fail([*where, "reference"], "a dataset cannot enrich from itself")
                    continue
                if ref in self.raw["datasets"]:
                    if ref not in datasets:
                        continue  # its contract is broken, reported already
                    if ref not in loaded:
                        self.fail(
                            [*where, "reference"],
                            f"dataset {ref!r} is not loaded by this pipeline, so it never reaches the curated zone "
                            "the gate joins",
                        )
                        continue
                    reference = datasets[ref].contract
                    after.setdefault(ref, set()).add(name)
                    checked.append((where, name, ref))
                else:
                    try:
                        reference = contract_for(ref)
                    except ContractError:
                        self.fail(
                            [*where, "reference"],
                            f"dataset {ref!r} is neither declared in this pipeline nor has a contract "
                            f"({display_path(resolve_contract(ref))})",
                        )
                        continue
                ref_columns = {c.name: c for c in reference.storage_columns}
                own = {c.name: c for c in spec.contract.columns}
                for part, mapping in (("on", step.on), ("columns", step.columns)):
                    for col, ref_col in mapping.items():
                        if ref_col not in ref_columns:
                            self.fail(
                                [*where, part],
                                f"column {ref_col!r} is not in contract {ref} (reference of {step.where})",
                            )
                        elif col in own and own[col].type != ref_columns[ref_col].type:
                            self.fail(
                                [*where, part],
                                f"column {col!r} is {own[col].type} in contract {name} but {ref}.{ref_col} is "
                                f"{ref_columns[ref_col].type}",
                            )
                        elif part == "on" and ref_columns[ref_col].pii_mode:
                            self.fail(
                                [*where, part],
                                f"{ref}.{ref_col} is personal data ({ref_columns[ref_col].pii_mode}ed in the curated "
                                "zone): it cannot be a join key",
                            )

        def reaches(start: str, goal: str, seen: set[str]) -> bool:
            for nxt in after.get(start, ()):
                if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                    return True
            return False

        for where, name, ref in checked:
            if reaches(name, ref, set()):
                self.fail([*where, "reference"], f"{name} enriched from {ref} while {ref} comes after {name}: a cycle")

    def _fed(
        self, datasets: Mapping[str, DatasetSpec], files: Sequence[SourceFile], routes: Sequence[RouteSpec]
    ) -> None:
        fed = {f.dataset for f in files} | {r["target"] for route in self.raw.get("routes", []) for r in route["rules"]}
        read = {load["dataset"] for load in self.raw["loads"]} | {route["from"] for route in self.raw.get("routes", [])}
        for name in self.raw["datasets"]:
            if name not in fed:
                self.fail(["datasets", name], "nothing feeds this dataset: no source file or route targets it")
            elif name not in read:
                self.fail(["datasets", name], "this dataset goes nowhere: no load and no route reads it")

    def _acyclic(self, routes: Sequence[RouteSpec]) -> None:
        edges: dict[str, set[str]] = {}
        for route in routes:
            edges.setdefault(route.source, set()).update(r.target for r in route.rules)

        def reaches(start: str, goal: str, seen: set[str]) -> bool:
            for nxt in edges.get(start, ()):
                if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                    return True
            return False

        for i, route in enumerate(routes):
            if reaches(route.source, route.source, set()):
                self.fail(["routes", i, "from"], f"routes form a cycle through {route.source!r}")

    def _trigger(self, files: Sequence[SourceFile]) -> TriggerSpec | None:
        """``trigger:``: the queue its kind needs, files to route events to, one run at a time."""
        declared = self.raw.get("trigger")
        if declared is None:
            return None
        on = declared["on"]
        where, needed = ("queue", "an SQS queue URL") if on == "s3_events" else ("channel", "a pub/sub channel")
        other = "channel" if where == "queue" else "queue"
        if where not in declared:
            self.fail(["trigger"], f"on: {on} needs {where}: {needed}")
        if other in declared:
            self.fail(["trigger", other], f"on: {on} takes {where}, not {other}")
        if not files:
            self.fail(["trigger"], "event-driven runs ingest sources.files: declare at least one")
        for i, f in enumerate(files):
            if f.fan_out or f.wait_timeout_minutes is not None:
                # an event run ingests the objects its events name: there is nothing to list or wait for
                self.fail(["sources", "files", i], "fan_out and wait do not apply to an event-driven pipeline")
        if self.raw.get("max_active_runs", 1) != 1:
            # the date's ledger (object key + ETag) is read and written by one run at a time
            self.fail(["max_active_runs"], "an event-driven pipeline runs one run at a time: max_active_runs must be 1")
        location = self.raw.get("sources", {}).get("location", {})
        url = location.get("url")
        if url is not None and not str(url).startswith("s3://"):
            self.fail(
                ["sources", "location", "url"], f"event-driven runs read S3 objects: {url!r} is not s3://bucket/prefix"
            )
        default_conn = "aws_default" if on == "s3_events" else "redis_default"
        return TriggerSpec(
            on=on,
            queue=str(declared.get(where, "")),
            conn_id=declared.get("conn_id", default_conn),
            max_wait=float(declared.get("max_wait", 10.0)),
            max_files=int(declared.get("max_files", 100)),
            poll_seconds=float(declared.get("poll_seconds", 10.0)),
            on_bad_event=declared.get("on_bad_event", "skip"),
        )

    def _after(self, models: Sequence[Any]) -> tuple[str, ...]:
        """``after:``: datasets, and no cron schedule next to them (the partitions are the schedule)."""
        declared = self.raw.get("after")
        if not self.raw.get("sources", {}).get("files") and not models:
            self.fail(["sources"], "nothing to run: declare sources.files or models")
        if declared is None:
            return ()
        after = (declared,) if isinstance(declared, str) else tuple(declared)
        if self.raw["schedule"] is not None:
            self.fail(["schedule"], "a pipeline with after: runs per passed partition: schedule must be null")
        if self.raw.get("trigger") is not None:
            self.fail(["after"], "after: and trigger: cannot both start runs of one pipeline")
        for name in after:
            if name in self.raw["datasets"] or name in self._model_names:
                self.fail(["after"], f"{name!r} is written by this pipeline: it cannot wait for itself")
        return after

    def _schedule(self) -> None:
        """A cron expression or preset Airflow accepts (otherwise DagBag would fail the whole DAG file)."""
        schedule = self.raw["schedule"]
        if schedule in (None, "@once", "@continuous"):
            return
        from airflow.sdk.definitions.timetables.trigger import CronTriggerTimetable
        from airflow.sdk.exceptions import AirflowTimetableInvalid

        try:
            CronTriggerTimetable(schedule, timezone="UTC").validate()
        except (AirflowTimetableInvalid, ValueError) as exc:
            self.fail(["schedule"], f"{schedule!r} is not a cron expression or preset: {exc}")

    def _alerts(self) -> None:
        """Targets parse (lockgate.alerts) and there is a failure alert (house rule)."""
        from lockgate.alerts import targets_for
        from lockgate.notifiers.events import EVENTS, TASK_FAILURE

        alerts = self.raw["alerts"]
        for event in alerts:
            if event not in EVENTS:
                continue  # the schema names the events
            try:
                targets = targets_for(alerts, event)
            except ValueError as exc:
                self.fail(["alerts", event], str(exc))
                continue
            if event == TASK_FAILURE and not targets:
                self.fail(["alerts", event], "the house rules need at least one task_failure target")
        if TASK_FAILURE not in alerts:
            try:
                if not targets_for(alerts, TASK_FAILURE):
                    self.fail(["alerts"], "the house rules need task_failure targets (or default ones)")
            except ValueError as exc:
                self.fail(["alerts", "default"], str(exc))


# ---------------------------------------------------------------------------------- many specs


def spec_files(folder: str | Path) -> list[Path]:
    """The pipeline files in a folder (recursively), sorted; names starting with ``_`` or ``.`` are skipped."""
    root = Path(folder)
    if not root.is_dir():
        return []
    return sorted(
        p
        for p in root.rglob("*")
        if p.suffix in SPEC_SUFFIXES
        and p.is_file()
        and not any(part.startswith(("_", ".")) for part in p.relative_to(root).parts)
    )


def produced(spec: PipelineSpec) -> tuple[set[str], set[str]]:
    """(datasets written in the lake, warehouse tables) by a pipeline."""
    return set(spec.datasets), {load.table for load in spec.loads}


def clashes(spec: PipelineSpec, earlier: Iterable[PipelineSpec]) -> list[tuple[str, str]]:
    """``(field, problem)`` where ``spec`` would overwrite what an earlier pipeline owns."""
    problems = []
    datasets, tables = produced(spec)
    for other in earlier:
        other_datasets, other_tables = produced(other)
        same_id = other.dag_id == spec.dag_id
        if not (same_id or datasets & other_datasets or tables & other_tables):
            continue  # the common case: checked without building a message
        shown = display_path(other.path)
        if same_id:
            problems.append(("dag_id", f"{spec.dag_id!r} is already declared by {shown}"))
        for name in sorted(datasets & other_datasets):
            problems.append((f"datasets.{name}", f"dataset {name!r} is already written by {other.dag_id} ({shown})"))
        for table in sorted(tables & other_tables):
            index = next(i for i, load in enumerate(spec.loads) if load.table == table)
            problems.append((f"loads.{index}.table", f"table {table!r} is already loaded by {other.dag_id} ({shown})"))
    return problems


def load_each(folder: str | Path) -> tuple[list[PipelineSpec], list[PipelineSpecError]]:
    """Every spec file of a folder validated on its own: the valid ones (in file order) and the errors."""
    specs: list[PipelineSpec] = []
    errors: list[PipelineSpecError] = []
    for path in spec_files(folder):
        try:
            specs.append(load_spec(path))
        except PipelineSpecError as exc:
            errors.append(exc)
    return specs, errors


def clash_error(spec: PipelineSpec, problems: Sequence[tuple[str, str]]) -> PipelineSpecError:
    text = Path(spec.path).read_text(encoding="utf-8")
    return PipelineSpecError(spec.path, [(f, m, line_of(text, _split_field(f))) for f, m in problems])


def load_all(folder: str | Path) -> tuple[list[PipelineSpec], list[PipelineSpecError]]:
    """Every spec of a folder: the valid ones (in file order) and one error per broken file.

    A file that would take a DAG id, dataset or table an earlier valid file already has is broken
    too: the first file keeps it, so adding a pipeline can never silently take over another.
    """
    candidates, errors = load_each(folder)
    specs: list[PipelineSpec] = []
    for spec in candidates:
        problems = clashes(spec, specs)
        if problems:
            errors.append(clash_error(spec, problems))
        else:
            specs.append(spec)
    return specs, errors


def _split_field(where: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in where.split(".")]
