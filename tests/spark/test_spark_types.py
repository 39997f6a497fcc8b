"""The Arrow schema a Spark frame is handed over as, from its Spark schema alone (no session, no Java)."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace
from typing import Any

import pytest

from tests.support.requires import unavailable


@pytest.fixture(scope="module")
def types() -> Any:
    if importlib.util.find_spec("pyspark") is None:
        unavailable("pyspark is not installed", "uv sync (the dev group has the spark extra)")
    from pyspark.sql import types

    return types


def frame(schema: Any) -> Any:
    """What arrow_schema reads of a DataFrame: its schema."""
    return SimpleNamespace(schema=schema)


def test_nested_instants_are_utc_and_nullability_is_kept(types: Any) -> None:
    import pyarrow as pa

    from lockgate.sources.spark import arrow_schema

    schema = types.StructType(
        [
            types.StructField("id", types.LongType(), nullable=False),
            types.StructField("at", types.StructType([types.StructField("when", types.TimestampType())])),
            types.StructField("log", types.MapType(types.StringType(), types.TimestampNTZType())),
            types.StructField("amounts", types.ArrayType(types.DecimalType(9, 2))),
        ]
    )
    assert arrow_schema(frame(schema)) == pa.schema(
        [
            pa.field("id", pa.int64(), nullable=False),
            ("at", pa.struct([("when", pa.timestamp("us", tz="UTC"))])),
            ("log", pa.map_(pa.string(), pa.timestamp("us"))),
            ("amounts", pa.list_(pa.decimal128(9, 2))),
        ]
    )


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ("months", r"column 'months': Spark type interval year to month has no Arrow type"),
        ("payload", r"column 'payload': a VARIANT cannot be handed over"),
        ("nested", r"column 'nested': a VARIANT cannot be handed over"),
    ],
)
def test_a_type_arrow_cannot_hold_as_is_is_refused_by_column(types: Any, column: str, message: str) -> None:
    from lockgate.sources.spark import arrow_schema

    data_type = {
        "months": types.YearMonthIntervalType(),
        "payload": types.VariantType(),
        "nested": types.ArrayType(types.StructType([types.StructField("v", types.VariantType())])),
    }[column]
    schema = types.StructType([types.StructField("id", types.LongType()), types.StructField(column, data_type)])
    with pytest.raises(TypeError, match=message):
        arrow_schema(frame(schema))
