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


def curated_drift(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> str | None:
    """What the contract changes in a curated table's columns (name -> Iceberg type), in words
    (None: nothing). A retype names the contract types, or the Iceberg types when only they differ
    (a table with ``int`` for the contract's ``integer``, which Lockgate writes as ``long``)."""
    added = sorted(set(desired) - set(existing))
    removed = sorted(set(existing) - set(desired))
    retyped = sorted(
        f"{name} {_contract_or_iceberg(existing[name], new)} -> {_contract_or_iceberg(new, existing[name])}"
        for name, new in desired.items()
        if name in existing and existing[name] != new
    )
    if not (added or removed or retyped):
        return None
    return f"added {added}, removed {removed}, retyped {retyped}"


def _contract_or_iceberg(this: Any, other: Any) -> str:
    mine, theirs = (_ICEBERG_CONTRACT_TYPES.get(str(t), str(t)) for t in (this, other))
    return mine if mine != theirs else str(this)


def iceberg_widening_refusal(old: Any, new: Any) -> str | None:
    """Why Iceberg cannot change a column from ``old`` to ``new`` (Iceberg types), or None: it can.

    Iceberg's type promotions (the spec's, as ``pyiceberg.schema.promote`` and
    ``UpdateSchema.update_column`` apply them): int -> long, float -> double, and a decimal's
    precision widened at the same scale. Every older data file keeps its values in the old type,
    and a reader must be able to read them as the new one: anything else is refused.
    """
    from pyiceberg.exceptions import ResolveError
    from pyiceberg.schema import promote
    from pyiceberg.types import DecimalType

    if old == new:
        return None
    why = f"Iceberg cannot promote {old} to {new}"
    allowed = "it widens only int -> long, float -> double and a decimal's precision at the same scale"
    if isinstance(old, DecimalType) and isinstance(new, DecimalType):
        # pyiceberg 0.12's promote() compares the old scale with itself: check it here
        if old.scale != new.scale or new.precision < old.precision:
            return f"{why} ({allowed})"
        return None
    try:
        promote(old, new)
    except ResolveError:
        return f"{why} ({allowed}; older data files hold {old} values)"
    return None


def evolve_iceberg_table(table: Any, contract: Any, log: Any) -> Any:
    """Make a curated Iceberg table able to hold the contract's storage columns, by the contract's
    ``schema_drift.curated`` policy; returns the (refreshed) table.

    ``freeze`` refuses any change (:class:`CuratedSchemaFrozen`). ``evolve`` adds the contract's new
    columns and widens the columns Iceberg can widen (int -> long, float -> double, a decimal's
    precision: see :func:`iceberg_widening_refusal`), in one Iceberg schema update (older data files
    read a new column as null, a widened one in its new type). A column the contract no longer has
    stays in the table (older rows keep their values; new rows have none). Any other retype is
    refused, naming the column, both types and why - the warehouse's own widenings (integer ->
    double, date -> timestamp) among them: Iceberg could not read the older files in the new type.
    """
    from lockgate.hooks.iceberg import iceberg_type

    existing = {f.name: f.field_type for f in table.schema().fields}
    desired = {c.name: iceberg_type(c.type) for c in contract.storage_columns}
    change = curated_drift(existing, desired)
    if change is None:
        return table
    name = ".".join(table.name())
    if contract.schema_drift["curated"] == "freeze":
        raise CuratedSchemaFrozen(
            f"{contract.path}: the curated schema of {name} is frozen but the contract changed it: {change}. "
            "Set schema_drift.curated: evolve to publish the new schema."
        )
    contract_types = iceberg_columns(table.schema())
    problems = [
        f"column {c.name}: old type {contract_types[c.name]}, new type {c.type}: {why}"
        for c in contract.storage_columns
        if c.name in existing and (why := iceberg_widening_refusal(existing[c.name], desired[c.name]))
    ]
    if problems:
        raise IncompatibleSchemaError(
            f"{contract.path}: the curated table {name} cannot evolve: " + "; ".join(problems)
        )
    with table.update_schema() as update:
        for col in contract.storage_columns:
            if col.name not in existing:
                update.add_column(col.name, desired[col.name], doc=col.description)
            elif existing[col.name] != desired[col.name]:
                update.update_column(col.name, field_type=desired[col.name])
    log.warning("curated schema of %s evolves: %s", name, change)
    return table.refresh()
