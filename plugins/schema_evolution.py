"""Schema evolution of warehouse tables and curated Iceberg tables from their contract.

New nullable columns are added, safe widenings applied (integer -> double, date -> timestamp);
anything else is incompatible and fails with the column, the old type and the new type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lockgate.contracts import Column
from lockgate.sql import SQL_TYPES

SAFE_WIDENINGS = {("integer", "double"), ("date", "timestamp")}

#: information_schema.columns.data_type -> contract type, per dialect
_INFORMATION_SCHEMA_TYPES: dict[str, dict[str, str]] = {
    dialect: {sql.lower(): contract for contract, sql in types.items()} for dialect, types in SQL_TYPES.items()
}
_INFORMATION_SCHEMA_TYPES["duckdb"]["timestamp with time zone"] = "timestamp"
_INFORMATION_SCHEMA_TYPES["postgres"]["timestamp with time zone"] = "timestamp"
# Redshift reports VARCHAR(65535) as its SQL-standard name, without the length
_INFORMATION_SCHEMA_TYPES["redshift"]["character varying"] = "string"
_INFORMATION_SCHEMA_TYPES["redshift"]["timestamp with time zone"] = "timestamp"


class IncompatibleSchemaError(ValueError):
    """The contract changes a column in a way the table cannot follow."""


@dataclass
class EvolutionPlan:
    """What to change in an existing table so it can hold the contract's columns."""

    add: list[Column] = field(default_factory=list)
    widen: list[Column] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.add and not self.widen


def contract_type(dialect: str, data_type: str) -> str | None:
    """The contract type of an information_schema data type (None: not one Lockgate creates)."""
    return _INFORMATION_SCHEMA_TYPES[dialect].get(data_type.lower())


def plan(table: str, existing: Mapping[str, str], desired: Sequence[Column]) -> EvolutionPlan:
    """Compare a table's columns (name -> contract type) with the contract's; raise on what cannot evolve."""
    result = EvolutionPlan()
    problems = []
    for col in desired:
        old = existing.get(col.name)
        if old is None:
            if not col.nullable:
                problems.append(f"column {col.name}: new and NOT NULL; existing rows would have no value")
            else:
                result.add.append(col)
        elif old != col.type:
            if (old, col.type) in SAFE_WIDENINGS:
                result.widen.append(col)
            else:
                problems.append(f"column {col.name}: old type {old}, new type {col.type} is not a safe widening")
    if problems:
        raise IncompatibleSchemaError(f"{table}: the contract cannot evolve the table:\n  " + "\n  ".join(problems))
    return result


# -- the curated zone's Iceberg tables ----------------------------------------------------------

#: Iceberg type name (``str(IcebergType)``) -> contract type
_ICEBERG_CONTRACT_TYPES = {
    "string": "string",
    "long": "integer",
    "int": "integer",
    "double": "double",
    "float": "double",
    "boolean": "boolean",
    "date": "date",
    "timestamptz": "timestamp",
    "timestamp": "timestamp",
}


class CuratedSchemaFrozen(IncompatibleSchemaError):
    """The contract changed the curated schema and its ``schema_drift.curated`` policy is ``freeze``."""


def iceberg_columns(schema: Any) -> dict[str, str]:
    """An Iceberg schema's top-level columns as name -> contract type."""
    return {f.name: _ICEBERG_CONTRACT_TYPES.get(str(f.field_type), str(f.field_type)) for f in schema.fields}


def curated_drift(existing: Mapping[str, str], desired: Sequence[Column]) -> str | None:
    """What the contract changes in a curated table's columns, in words (None: nothing)."""
    wanted = {c.name: c.type for c in desired}
    added = sorted(set(wanted) - set(existing))
    removed = sorted(set(existing) - set(wanted))
    retyped = sorted(f"{c} {existing[c]} -> {t}" for c, t in wanted.items() if c in existing and existing[c] != t)
    if not (added or removed or retyped):
        return None
    return f"added {added}, removed {removed}, retyped {retyped}"


def evolve_iceberg_table(table: Any, contract: Any, log: Any) -> Any:
    """Make a curated Iceberg table able to hold the contract's storage columns, by the contract's
    ``schema_drift.curated`` policy; returns the (refreshed) table.

    ``freeze`` refuses any change (:class:`CuratedSchemaFrozen`). ``evolve`` adds the contract's new
    columns through Iceberg's own schema update (older data files read them as null). A column the
    contract no longer has stays in the table (older rows keep their values; new rows have none).
    A retyped column is refused: Iceberg promotes only int -> long and float -> double, so neither
    of the warehouse's widenings (integer -> double, date -> timestamp) could read the older files.
    """
    from pyiceberg import types

    from lockgate.hooks.iceberg import _ICEBERG_TYPES

    existing = iceberg_columns(table.schema())
    desired = contract.storage_columns
    change = curated_drift(existing, desired)
    if change is None:
        return table
    name = ".".join(table.name())
    if contract.schema_drift["curated"] == "freeze":
        raise CuratedSchemaFrozen(
            f"{contract.path}: the curated schema of {name} is frozen but the contract changed it: {change}. "
            "Set schema_drift.curated: evolve to publish the new schema."
        )
    retyped = [c for c in desired if c.name in existing and existing[c.name] != c.type]
    if retyped:
        raise IncompatibleSchemaError(
            f"{contract.path}: the curated table {name} cannot evolve: "
            + "; ".join(f"column {c.name}: old type {existing[c.name]}, new type {c.type}" for c in retyped)
            + " (an Iceberg table cannot retype a column its older data files hold)"
        )
    added = [c for c in desired if c.name not in existing]
    if added:
        with table.update_schema() as update:
            for col in added:
                update.add_column(col.name, getattr(types, _ICEBERG_TYPES[col.type])(), doc=col.description)
    log.warning("curated schema of %s evolves: %s", name, change)
    return table.refresh()
