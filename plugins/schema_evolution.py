"""Schema evolution of warehouse tables from their contract.

New nullable columns are added, safe widenings applied (integer -> double, date -> timestamp);
anything else is incompatible and fails with the column, the old type and the new type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

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
