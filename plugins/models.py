"""SQL models: derived datasets declared as one DuckDB ``SELECT`` over curated datasets.

A model (``models:`` in a YAML pipeline, or :class:`lockgate.operators.model.ModelOperator` in a
Python DAG) reads the logical date's curated rows of the datasets its SQL names (each is a view
with the dataset's name and its contract's columns plus ``ds``), and its result becomes a raw
delivery of the model's own dataset: the usual gate, partition and load follow.

This module is the static side, run when a pipeline is validated (DAG build time, so CI fails on
it): :func:`analyse` parses the SQL with sqlglot's DuckDB dialect, finds the datasets it reads
(common table expressions are not datasets), resolves every column against the contracts (an
unknown column fails here, not in a run), checks the result has exactly the model contract's
columns, and derives each output column's lineage (the input columns it is computed from).

Besides DuckDB's own functions the SQL may call the AQI functions of
:mod:`lockgate.transforms.aqi_sql` and ``logical_date()`` (the run's date, a ``DATE``).

Parse time: sqlglot is imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lockgate.sql import SQL_TYPES

#: contract column type -> the DuckDB type the curated view has
DUCKDB_TYPES = SQL_TYPES["duckdb"]
DIALECT = "duckdb"


class ModelSqlError(ValueError):
    """A model's SQL is wrong: does not parse, reads an unknown dataset or column, or does not give
    the contract's columns. ``field`` is the spec field to blame (``sql`` or ``contract``)."""

    def __init__(self, message: str, field: str = "sql") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ModelAnalysis:
    """What a model's SQL reads and how each output column derives from it."""

    #: datasets the SQL reads, sorted
    reads: tuple[str, ...]
    #: output columns in the SQL's order
    columns: tuple[str, ...]
    #: output column -> ((dataset, column), ...) it is computed from, sorted
    lineage: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    #: output column -> OpenLineage subtype: IDENTITY (passed through), AGGREGATION or TRANSFORMATION
    subtypes: dict[str, str] = field(default_factory=dict)


def schema_of(columns: Sequence[Any]) -> dict[str, str]:
    """``{column: DuckDB type}`` of contract columns (:class:`lockgate.contracts.Column`)."""
    return {c.name: DUCKDB_TYPES[c.type] for c in columns}


def parse_query(sql: str) -> Any:
    """The one query of a model's SQL, parsed (:class:`ModelSqlError` when it is not one)."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    try:
        statements = [s for s in sqlglot.parse(sql, dialect=DIALECT) if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f" (line {first.get('line')}, column {first.get('col')})" if first else ""
        description = first.get("description") or str(exc).splitlines()[0]
        raise ModelSqlError(f"the SQL does not parse as DuckDB{where}: {description}") from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise ModelSqlError("the SQL must be exactly one SELECT (a query), without a trailing statement")
    return statements[0]


def datasets_read(tree: Any) -> list[str]:
    """The tables a parsed query reads, CTE names excluded, in order of first mention."""
    from sqlglot import exp

    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    found: list[str] = []
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            raise ModelSqlError(f"{table.sql(dialect=DIALECT)!r}: a model reads datasets by name, not table functions")
        if table.args.get("db") or table.args.get("catalog"):
            raise ModelSqlError(f"{table.sql(dialect=DIALECT)!r}: name a dataset without a schema or catalog")
        if table.name not in ctes and table.name not in found:
            found.append(table.name)
    return found


def analyse(sql: str, *, schemas: Mapping[str, Mapping[str, str]], contract_columns: Sequence[str]) -> ModelAnalysis:
    """Check a model's SQL against the datasets it may read and its own contract.

    :param schemas: dataset -> ``{column: DuckDB type}`` of every dataset the model may read.
    :param contract_columns: the model contract's columns (without ``ds``): what the SQL must give.
    :raises ModelSqlError: every problem found, in one message.
    """
    from sqlglot.errors import OptimizeError, SqlglotError
    from sqlglot.optimizer.qualify import qualify

    tree = parse_query(sql)
    reads = datasets_read(tree)
    unknown = [name for name in reads if name not in schemas]
    if unknown:
        raise ModelSqlError(
            f"reads {', '.join(map(repr, unknown))}: neither a dataset of this pipeline nor a published dataset "
            "with a contract in include/contracts/"
        )
    used: dict[str, Any] = {name: dict(schemas[name]) for name in reads}
    try:
        qualified = qualify(tree.copy(), schema=used, dialect=DIALECT, validate_qualify_columns=True)
    except (OptimizeError, SqlglotError) as exc:
        known = "; ".join(f"{name}: {', '.join(used[name])}" for name in reads)
        raise ModelSqlError(f"{exc} (columns of the datasets read: {known})") from None
    columns = tuple(qualified.named_selects)
    missing = [c for c in contract_columns if c not in columns]
    extra = [c for c in columns if c not in contract_columns]
    problems = []
    if missing:
        problems.append(f"the SQL gives no column(s) {', '.join(missing)} that the model's contract declares")
    if extra:
        problems.append(f"the SQL gives column(s) {', '.join(extra)} that the model's contract does not declare")
    if len(set(columns)) != len(columns):
        problems.append("the SQL gives a column name twice")
    if problems:
        raise ModelSqlError("; ".join(problems))
    lineage, subtypes = _lineage(qualified, used, columns)
    return ModelAnalysis(tuple(sorted(reads)), columns, lineage, subtypes)


def _lineage(
    qualified: Any, schemas: Mapping[str, Mapping[str, str]], columns: Sequence[str]
) -> tuple[dict[str, tuple[tuple[str, str], ...]], dict[str, str]]:
    """Output column -> the dataset columns it derives from (sqlglot's column lineage), and the
    OpenLineage subtype of the derivation."""
    from sqlglot import exp
    from sqlglot.lineage import lineage

    derived: dict[str, tuple[tuple[str, str], ...]] = {}
    subtypes: dict[str, str] = {}
    for column in columns:
        node = lineage(column, qualified, schema=dict(schemas), dialect=DIALECT, copy=True)
        sources = set()
        plain, aggregated = True, False
        for step in node.walk():
            expression = step.expression.unalias() if isinstance(step.expression, exp.Alias) else step.expression
            if step.downstream:
                # every step between the output and its inputs is a bare column: an identity
                plain = plain and isinstance(expression, exp.Column)
                aggregated = aggregated or expression.find(exp.AggFunc) is not None
            if step.downstream or not isinstance(step.source, exp.Table):
                continue
            # a leaf is "<table alias>.<column>"; its source is the dataset's table
            sources.add((step.source.name, step.name.split(".")[-1].strip('"')))
        derived[column] = tuple(sorted(sources))
        subtypes[column] = (
            "IDENTITY" if plain and len(sources) == 1 else "AGGREGATION" if aggregated else "TRANSFORMATION"
        )
    return derived, subtypes


def read_model_sql(ref: str) -> str:
    """A model's SQL file below ``include/`` (``sql/models/x.sql``)."""
    from lockgate.config import include_dir

    return (include_dir() / ref).read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- models in a spec


@dataclass(frozen=True)
class ModelSpec:
    """A ``models:`` entry of a pipeline spec, validated (its SQL analysed against the contracts)."""

    name: str
    sql: str
    contract_ref: str
    #: every dataset the SQL reads -> its contract reference
    reads: dict[str, str]
    aqi_revision: str | None = None
    lineage: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)


def parse_models(raw: Mapping[str, Any], datasets: dict[str, Any], fail: Any) -> list[ModelSpec]:
    """Validate ``raw["models"]`` and add each model's dataset to ``datasets`` (a
    :class:`lockgate.pipelines.spec.DatasetSpec`, so it gets a gate like any dataset).

    :param fail: ``fail(where, message)`` records a problem at a spec field.
    A model may read a dataset of this pipeline that is loaded (so the date's curated rows exist
    when it runs; another model included) or a published dataset of another pipeline (a
    contract in ``include/contracts/``).
    """
    from lockgate.contracts import ContractError
    from lockgate.pipelines.spec import DatasetSpec, contract_for, display_path

    entries = list(raw.get("models", []))
    names = [entry["name"] for entry in entries]
    loaded = {load["dataset"] for load in raw["loads"]}
    found: list[ModelSpec] = []
    for i, entry in enumerate(entries):
        name = entry["name"]
        where: list[str | int] = ["models", i]
        if name in raw["datasets"]:
            fail([*where, "name"], f"{name!r} is also declared under datasets: a model's dataset is declared once")
            continue
        if names.index(name) != i:
            fail([*where, "name"], f"model {name!r} is declared twice")
            continue
        if name not in loaded:
            fail([*where, "name"], f"model {name!r} goes nowhere: add a load for it (loads: - dataset: {name})")
        ref = entry.get("contract", name)
        try:
            contract = contract_for(ref)
        except ContractError as exc:
            fail([*where, "contract"], str(exc).replace("\n", " "))
            continue
        if contract.dataset != name:
            shown = display_path(contract.path)
            fail([*where, "contract"], f"{shown} describes dataset {contract.dataset!r}, not {name!r}")
            continue
        sql_field = "sql" if "sql" in entry else "sql_file"
        try:
            sql = entry["sql"] if "sql" in entry else read_model_sql(entry["sql_file"])
        except OSError as exc:
            fail([*where, "sql_file"], f"cannot read include/{entry['sql_file']}: {exc.strerror or exc}")
            continue
        datasets[name] = DatasetSpec(name, ref, contract, dict(entry.get("preprocess", {})))
        model = _checked_model(name, sql, ref, contract, entry, datasets, names, loaded, contract_for)
        if isinstance(model, ModelSqlError):
            fail([*where, sql_field if model.field == "sql" else model.field], str(model))
            continue
        found.append(model)
    _acyclic(found, names, fail)
    return found


def _checked_model(
    name: str,
    sql: str,
    ref: str,
    contract: Any,
    entry: Mapping[str, Any],
    datasets: Mapping[str, Any],
    models: Sequence[str],
    loaded: set[str],
    contract_for: Any,
) -> ModelSpec | ModelSqlError:
    """One model's SQL against what it may read, or the error to report."""
    from lockgate.contracts import ContractError

    try:
        reads = datasets_read(parse_query(sql))
        refs: dict[str, str] = {}
        schemas: dict[str, dict[str, str]] = {}
        for read in reads:
            if read == name:
                raise ModelSqlError(f"model {name!r} reads itself")
            if read in datasets or read in models:
                if read not in loaded:
                    raise ModelSqlError(
                        f"reads {read!r}, a dataset of this pipeline that is not loaded, so it never reaches the "
                        "curated zone the model reads"
                    )
                if read not in datasets:
                    continue  # a later model whose contract is broken: reported on its own entry
                refs[read] = datasets[read].contract_ref
                schemas[read] = schema_of(datasets[read].contract.storage_columns)
                continue
            try:
                schemas[read] = schema_of(contract_for(read).storage_columns)
                refs[read] = read
            except ContractError:
                pass  # analyse() names it as unknown
        analysis = analyse(sql, schemas=schemas, contract_columns=contract.column_names)
    except ModelSqlError as exc:
        return exc
    return ModelSpec(name, sql, ref, refs, entry.get("aqi_revision"), analysis.lineage)


def _acyclic(models: Sequence[ModelSpec], names: Sequence[str], fail: Any) -> None:
    """Models reading each other in a circle can never run."""
    edges = {m.name: {r for r in m.reads if r != m.name} for m in models}

    def reaches(start: str, goal: str, seen: frozenset[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in edges.get(start, ()))

    for model in models:
        if reaches(model.name, model.name, frozenset()):
            fail(
                ["models", names.index(model.name), "sql"], f"models read each other in a cycle through {model.name!r}"
            )
