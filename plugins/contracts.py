"""Data contracts: one YAML file per dataset under ``include/contracts/``.

A contract says what a dataset's rows look like (columns, types, nullability, keys) and which
Great Expectations expectations the quality gate enforces, each with a severity:

* ``fail`` - the gate task fails with one report of every failed check;
* ``warn`` - a notifier is called and the run goes on;
* ``quarantine`` - row-level: failing rows go to the quarantine zone with a reason.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockgate.coerce import format_error
from lockgate.config import include_dir

COLUMN_TYPES = ("string", "integer", "double", "boolean", "date", "timestamp")
SEVERITIES = ("fail", "warn", "quarantine")
#: The logical-date partition every dataset has in the lake and the warehouse.
DATE_PARTITION = "ds"
#: the default of a contract's ``min_replace_share``
DEFAULT_MIN_REPLACE_SHARE = 0.5
#: columns of a staged row saying where the gate read it (the raw file's lake key, and its row as
#: quarantine reasons number rows); the partition step drops them, so the curated zone and the
#: warehouse hold the contract's columns only, and a load error can still name its raw row
ORIGIN_COLUMNS = ("_source_file", "_source_row")


class ContractError(ValueError):
    """A contract file is missing or invalid; the message names the file and the field."""


@dataclass(frozen=True)
class Column:
    """One column of a dataset."""

    name: str
    type: str
    nullable: bool = True
    description: str = ""
    #: ``pii`` as written in the contract: ``false``, ``true`` (= ``hash``), ``"hash"`` or ``"mask"``
    pii: bool | str = False
    #: date/timestamp only: the strptime formats values are read with, first match wins (empty: ISO 8601)
    formats: tuple[str, ...] = ()
    #: timestamp only: IANA zone of naive values; wins over the source's ``source_timezone`` (then UTC)
    timezone: str | None = None

    @property
    def pii_mode(self) -> str | None:
        """How the column is protected before the curated zone: ``hash``, ``mask`` or ``None``."""
        if self.pii is True:
            return "hash"
        return self.pii or None


@dataclass(frozen=True)
class Expectation:
    """A Great Expectations expectation (by its snake_case name) with a severity."""

    expectation: str
    severity: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def gx_class_name(self) -> str:
        """``expect_column_values_to_not_be_null`` -> ``ExpectColumnValuesToNotBeNull``."""
        return "".join(part.capitalize() for part in self.expectation.split("_"))

    @property
    def label(self) -> str:
        """Short human name used in reports and quarantine reasons (unique within a contract)."""
        target = self.kwargs.get("column") or ",".join(self.kwargs.get("column_list", [])) or "table"
        condition = self.kwargs.get("row_condition")
        return f"{self.expectation}({target})" + (f" where {condition}" if condition else "")


@dataclass(frozen=True)
class Contract:
    """A parsed, validated data contract."""

    dataset: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    partition_keys: tuple[str, ...] = ()
    event_time: str | None = None
    expectations: tuple[Expectation, ...] = ()
    description: str = ""
    version: int = 1
    path: str = ""
    #: policy per zone: raw "accept" (notify) or "fail"; curated "freeze" (fail) or "evolve"
    schema_drift: dict[str, str] = field(
        default_factory=lambda: {"raw": "accept", "curated": "freeze", "types": "declared"}
    )
    #: a replace_partition load may not replace a loaded date with fewer than this share of its rows
    #: (0 rows included) unless the run says ``allow_shrink`` (see lockgate.load_guards)
    min_replace_share: float = DEFAULT_MIN_REPLACE_SHARE

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def expectations_with(self, *severities: str) -> list[Expectation]:
        return [e for e in self.expectations if e.severity in severities]

    @property
    def storage_columns(self) -> list[Column]:
        """Columns as stored in the curated zone and the warehouse: the contract's plus ``ds``."""
        return [*self.columns, Column(DATE_PARTITION, "date", nullable=False, description="logical date")]


def arrow_type(ctype: str) -> Any:
    """The Arrow type a contract type is stored as (staged files, warehouse loads)."""
    import pyarrow as pa

    return {
        "string": pa.string(),
        "integer": pa.int64(),
        "double": pa.float64(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }[ctype]


def _schema() -> dict[str, Any]:
    with open(include_dir() / "contracts" / "contract.schema.json", encoding="utf-8") as fh:
        schema: dict[str, Any] = json.load(fh)
        return schema


def contract_path(dataset_or_path: str | Path) -> Path:
    """Resolve a dataset name (``readings``) or a path to the contract file."""
    candidate = Path(dataset_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        return candidate
    return include_dir() / "contracts" / f"{dataset_or_path}.yaml"


def load_contract(dataset_or_path: str | Path) -> Contract:
    """Load and validate a contract; every problem is reported with the file and the field."""
    import yaml

    path = contract_path(dataset_or_path)
    try:
        with open(path, encoding="utf-8") as fh:
            # libyaml's safe loader when PyYAML has it (same documents, ~10x faster: every task loads
            # its contract, some several), the pure-Python one otherwise
            raw = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
    except FileNotFoundError:
        raise ContractError(f"{path}: contract file not found") from None
    except yaml.YAMLError as exc:
        raise ContractError(f"{path}: not valid YAML: {exc}") from None
    return parse_contract(raw, source=str(path))


def parse_column(name: str, spec: dict[str, Any], source: str = "<contract>") -> Column:
    """One entry of ``columns`` (already valid against the schema), with the checks a schema cannot say."""
    formats = spec.get("format", ())
    column = Column(
        name=name,
        type=spec["type"],
        nullable=spec.get("nullable", True),
        description=spec.get("description", ""),
        pii=spec.get("pii", False),
        formats=(formats,) if isinstance(formats, str) else tuple(formats),
        timezone=spec.get("timezone"),
    )
    where = f"{source}: columns.{name}"
    # a hash or a mask is a string: only string columns keep their declared type
    if column.pii_mode is not None and column.type != "string":
        raise ContractError(f"{where}.pii: only string columns can be hashed or masked (this one is {column.type})")
    if column.formats and column.type not in ("date", "timestamp"):
        raise ContractError(
            f"{where}.format: only date and timestamp columns take a format (this one is {column.type})"
        )
    for fmt in column.formats:
        problem = format_error(fmt, column.type)
        if problem:
            raise ContractError(f"{where}.format: {fmt!r}: {problem}")
    if column.timezone is not None:
        if column.type != "timestamp":
            raise ContractError(f"{where}.timezone: only timestamp columns take a timezone (this one is {column.type})")
        if not known_timezone(column.timezone):
            raise ContractError(f"{where}.timezone: {column.timezone!r} is not an IANA time zone name")
    return column


def known_timezone(name: str) -> bool:
    """Whether ``name`` is an IANA zone (``America/Chicago``, ``UTC``) in the installed tz database."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _shorthand_expectations(columns: Mapping[str, Any]) -> list[Expectation]:
    """The expectations a column's ``allowed`` and ``unique`` shorthands stand for."""
    expectations = []
    for name, spec in columns.items():
        if spec.get("allowed"):
            expectations.append(
                Expectation(
                    "expect_column_values_to_be_in_set",
                    "quarantine",
                    {"column": name, "value_set": list(spec["allowed"])},
                    f"columns.{name}.allowed",
                )
            )
        if spec.get("unique"):
            expectations.append(
                Expectation("expect_column_values_to_be_unique", "fail", {"column": name}, f"columns.{name}.unique")
            )
    return expectations


def _declared_expectation(i: int, spec: Mapping[str, Any], names: Collection[str], source: str) -> Expectation:
    """Entry ``i`` of the contract's ``expectations``, its column arguments checked against ``names``."""
    kwargs = spec.get("kwargs", {})
    for key in ("column", "column_A", "column_B"):
        if key in kwargs and (not isinstance(kwargs[key], str) or kwargs[key] not in names):
            raise ContractError(
                f"{source}: expectations.{i}.kwargs.{key}: column {kwargs[key]!r} is not declared in columns"
            )
    column_list = kwargs.get("column_list", [])
    if not isinstance(column_list, list):
        raise ContractError(f"{source}: expectations.{i}.kwargs.column_list: must be a list of column names")
    for col in column_list:
        if not isinstance(col, str) or col not in names:
            raise ContractError(
                f"{source}: expectations.{i}.kwargs.column_list: column {col!r} is not declared in columns"
            )
    return Expectation(
        expectation=spec["expectation"],
        severity=spec["severity"],
        kwargs=dict(kwargs),
        description=spec.get("description", ""),
    )


def parse_contract(raw: Any, *, source: str = "<contract>") -> Contract:
    """Validate a contract already read into Python objects (see :func:`load_contract`)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{source}: {'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors]
        raise ContractError("invalid contract:\n" + "\n".join(lines))

    columns = tuple(parse_column(name, spec, source) for name, spec in raw["columns"].items())
    names = {c.name for c in columns}

    def known(field_name: str, cols: list[str]) -> tuple[str, ...]:
        for col in cols:
            if col not in names:
                raise ContractError(f"{source}: {field_name}: column {col!r} is not declared in columns")
        return tuple(cols)

    primary_key = known("primary_key", raw.get("primary_key", []))
    partition_keys = known("partition_keys", raw.get("partition_keys", []))
    event_time = raw.get("event_time")
    if event_time is not None:
        known("event_time", [event_time])
        if next(c for c in columns if c.name == event_time).type != "timestamp":
            raise ContractError(f"{source}: event_time: column {event_time!r} must have type timestamp")
    if DATE_PARTITION in names:
        raise ContractError(f"{source}: columns.{DATE_PARTITION}: reserved for the logical-date partition")

    # column shorthands are ordinary expectations, so they are evaluated and reported like any other
    expectations = _shorthand_expectations(raw["columns"]) + [
        _declared_expectation(i, spec, names, source) for i, spec in enumerate(raw.get("expectations", []))
    ]

    from lockgate.check_rules import contract_refusals  # GX's argument rules, written out (no GX import)

    if refused := contract_refusals(expectations, {c.name: c.type for c in columns}, source):
        raise ContractError("invalid expectation arguments:\n" + "\n".join(refused))

    labels = [e.label for e in expectations]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ContractError(f"{source}: expectations: the same check appears twice: {', '.join(repeated)}")

    return Contract(
        dataset=raw["dataset"],
        columns=columns,
        primary_key=primary_key,
        partition_keys=partition_keys,
        event_time=event_time,
        expectations=tuple(expectations),
        description=raw.get("description", ""),
        version=raw.get("version", 1),
        path=source,
        schema_drift={"raw": "accept", "curated": "freeze", "types": "declared", **raw.get("schema_drift", {})},
        min_replace_share=float(raw.get("min_replace_share", DEFAULT_MIN_REPLACE_SHARE)),
    )
