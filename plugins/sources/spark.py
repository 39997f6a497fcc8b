"""A Spark DataFrame as Arrow record batches, streamed to the driver one partition at a time.

Imported only when a Spark DataFrame is actually handed over (``lockgate.sources.memory`` recognises
one by its type's module name), so neither DAG files nor any other Lockgate module load pyspark.

How the frame travels: ``mapInArrow`` runs on the executors and turns each Arrow batch Spark makes
(``spark.sql.execution.arrow.maxRecordsPerBatch`` rows, 10,000 by default) into one row holding
that batch as Arrow IPC bytes; ``toLocalIterator`` then fetches those rows one partition at a time.
The driver therefore holds at most one partition's batches (the JVM) and one batch (Python), never
the frame: no ``collect()``, ``toPandas()`` or ``toArrow()``. A frame with huge partitions should be
repartitioned first; that is the bound.

Types are Spark's own Arrow mapping (``pyspark.sql.pandas.types.to_arrow_type``), with one choice
made here: a ``TimestampType`` column (an instant) becomes ``timestamp[us, tz=UTC]`` whatever the
session time zone; the values are the same UTC microseconds, only the zone label Spark would give
it (the session's) is not kept, so nothing depends on the time zone of the machine that handed it
over. ``TimestampNTZType`` stays a naive ``timestamp[us]``, ``DateType`` ``date32``,
``DecimalType(p, s)`` ``decimal128(p, s)``. A column Spark cannot express in Arrow (intervals of
months) or that would land as an opaque encoding (``VARIANT``) is an error naming it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

#: the one column of the encoded frame: one Arrow IPC stream (schema + one batch) per row
_IPC = "ipc"


def arrow_schema(df: Any) -> Any:
    """The Arrow schema ``df`` is streamed as (see the module docstring for the type choices)."""
    import pyarrow as pa
    from pyspark.errors import PySparkException
    from pyspark.sql.pandas.types import to_arrow_type

    names = [field.name for field in df.schema.fields]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"the Spark DataFrame has duplicated column names {duplicated}: select or rename them")
    fields = []
    for field in df.schema.fields:
        if _has_variant(field.dataType):
            # Arrow would carry it as its binary encoding, which nothing downstream can read
            raise TypeError(f"column {field.name!r}: a VARIANT cannot be handed over; convert it first (to_json)")
        try:
            arrow_type = to_arrow_type(field.dataType, error_on_duplicated_field_names_in_struct=True, timezone="UTC")
        except PySparkException as exc:
            raise TypeError(
                f"column {field.name!r}: Spark type {field.dataType.simpleString()} has no Arrow type: {exc}"
            ) from None
        fields.append(pa.field(field.name, arrow_type, nullable=field.nullable))
    return pa.schema(fields)


def _has_variant(data_type: Any) -> bool:
    """Whether a Spark type is or holds a ``VariantType`` (in a struct, array or map)."""
    from pyspark.sql.types import ArrayType, MapType, StructType, VariantType

    if isinstance(data_type, VariantType):
        return True
    if isinstance(data_type, StructType):
        return any(_has_variant(f.dataType) for f in data_type.fields)
    if isinstance(data_type, ArrayType):
        return _has_variant(data_type.elementType)
    if isinstance(data_type, MapType):
        return _has_variant(data_type.keyType) or _has_variant(data_type.valueType)
    return False


def _encoder(schema: Any) -> Callable[[Iterator[Any]], Iterator[Any]]:
    """The ``mapInArrow`` function: each batch cast to ``schema`` and sent back as IPC bytes.

    A closure, so cloudpickle ships it by value: executors need pyarrow, not Lockgate.
    """

    def encode(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        for batch in batches:
            if batch.num_rows == 0:
                continue
            sink = pa.BufferOutputStream()
            # compressed: the driver's JVM holds a whole partition of these bytes at a time
            with pa.ipc.new_stream(sink, schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as writer:
                # safe cast: the only expected change is the zone label of instants (same values)
                writer.write_batch(batch.cast(schema, safe=True))
            yield pa.record_batch([pa.array([sink.getvalue().to_pybytes()], pa.binary())], names=[_IPC])

    return encode


def record_batches(df: Any) -> Any:
    """A ``pyarrow.RecordBatchReader`` over ``df``, fetched from Spark one partition at a time."""
    import pyarrow as pa

    schema = arrow_schema(df)
    with warnings.catch_warnings():
        # pyspark 4 warns about pandas >= 3 when it builds any Arrow UDF; this path never uses pandas
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
        encoded = df.mapInArrow(_encoder(schema), f"{_IPC} binary")

    def batches() -> Iterator[Any]:
        for row in encoded.toLocalIterator():
            with pa.ipc.open_stream(pa.py_buffer(row[0])) as reader:
                yield from reader

    return pa.RecordBatchReader.from_batches(schema, batches())
