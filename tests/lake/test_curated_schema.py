"""Schema evolution of a curated Iceberg table by the contract's ``schema_drift.curated`` policy:
``evolve`` widens what Iceberg can widen (int -> long, float -> double, a decimal's precision) and
refuses the rest loudly, naming the column, both types and why; ``freeze`` refuses any change.

The table is made the way another engine could have made it (``int`` and ``float`` columns, one
data file written by pyiceberg), in the embedded SQLite catalog on a local lake.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pytest
from pyiceberg import types
from pyiceberg.schema import Schema

from lockgate.contracts import Column
from lockgate.hooks.iceberg import CatalogHook, partition_spec, table_properties
from lockgate.schema_evolution import (
    CuratedSchemaFrozen,
    IncompatibleSchemaError,
    evolve_iceberg_table,
    iceberg_widening_refusal,
)

pytestmark = pytest.mark.integration

DS = "2026-01-02"
LOG = SimpleNamespace(warning=lambda *args: None)


def contract(columns: list[Column], policy: str) -> SimpleNamespace:
    return SimpleNamespace(storage_columns=columns, schema_drift={"curated": policy}, path="sites.yaml")


#: what the contract says: count is an integer (Lockgate writes long), share a double
COLUMNS = [Column("site", "string"), Column("count", "integer"), Column("share", "double"), Column("ds", "date")]


@pytest.fixture
def catalog(lockgate_home: Path) -> CatalogHook:
    """A ``sites`` table with an ``int`` and a ``float`` column holding one data file."""
    hook = CatalogHook()
    schema = Schema(
        types.NestedField(1, "site", types.StringType(), required=False),
        types.NestedField(2, "count", types.IntegerType(), required=False),
        types.NestedField(3, "share", types.FloatType(), required=False),
        types.NestedField(4, "ds", types.DateType(), required=False),
    )
    table = hook.catalog.create_table(
        hook.identifier("sites"),
        schema=schema,
        location=hook.location("sites"),
        partition_spec=partition_spec(schema, []),
        properties=table_properties(schema, []),
    )
    rows = pa.table(
        {
            "site": ["a", "b"],
            "count": pa.array([2_000_000_000, 7], pa.int32()),
            "share": pa.array([0.5, 0.25], pa.float32()),
            "ds": pa.array([pa.scalar(DS, pa.string()).cast(pa.date32())] * 2),
        }
    )
    table.append(rows)
    return hook


def test_evolve_widens_int_to_long_and_float_to_double_and_the_old_file_reads_in_the_new_types(
    catalog: CatalogHook,
) -> None:
    table = evolve_iceberg_table(catalog.table("sites"), contract(COLUMNS, "evolve"), LOG)

    assert {f.name: str(f.field_type) for f in table.schema().fields} == {
        "site": "string",
        "count": "long",
        "share": "double",
        "ds": "date",
    }
    rows = catalog.read_date("sites", DS).read_all()
    assert rows.schema.field("count").type == pa.int64()
    assert rows.schema.field("share").type == pa.float64()
    assert sorted(zip(rows["count"].to_pylist(), rows["share"].to_pylist(), strict=True)) == [
        (7, 0.25),
        (2_000_000_000, 0.5),
    ]
    # the same contract again: nothing left to change
    assert evolve_iceberg_table(catalog.table("sites"), contract(COLUMNS, "evolve"), LOG).schema() == table.schema()


def test_freeze_refuses_even_a_widening_naming_the_types(catalog: CatalogHook) -> None:
    with pytest.raises(CuratedSchemaFrozen, match=r"retyped \['count int -> long', 'share float -> double'\]"):
        evolve_iceberg_table(catalog.table("sites"), contract(COLUMNS, "freeze"), LOG)
    assert str(catalog.table("sites").schema().find_field("count").field_type) == "int"


def test_evolve_refuses_long_to_double_naming_the_column_and_why(catalog: CatalogHook) -> None:
    evolve_iceberg_table(catalog.table("sites"), contract(COLUMNS, "evolve"), LOG)  # count is long now
    schema_before = catalog.table("sites").schema()
    retyped = [Column("count", "double") if c.name == "count" else c for c in COLUMNS]
    added = [*retyped, Column("note", "string")]

    with pytest.raises(IncompatibleSchemaError) as refused:
        evolve_iceberg_table(catalog.table("sites"), contract(added, "evolve"), LOG)

    message = str(refused.value)
    assert "column count: old type integer, new type double: Iceberg cannot promote long to double" in message
    assert "older data files hold long values" in message
    assert catalog.table("sites").schema() == schema_before  # refused whole: not even the new column


@pytest.mark.parametrize(
    ("old", "new", "refused"),
    [
        (types.IntegerType(), types.LongType(), False),
        (types.FloatType(), types.DoubleType(), False),
        (types.DecimalType(10, 2), types.DecimalType(12, 2), False),
        (types.DecimalType(10, 2), types.DecimalType(12, 3), True),  # the scale never changes
        (types.DecimalType(12, 2), types.DecimalType(10, 2), True),  # nor does the precision shrink
        (types.LongType(), types.DoubleType(), True),
        (types.LongType(), types.IntegerType(), True),
        (types.DateType(), types.TimestamptzType(), True),
        (types.StringType(), types.LongType(), True),
    ],
)
def test_iceberg_promotion_rules(old: types.IcebergType, new: types.IcebergType, refused: bool) -> None:
    why = iceberg_widening_refusal(old, new)
    assert (why is not None) == refused
    if refused:
        assert f"Iceberg cannot promote {old} to {new}" in str(why)
