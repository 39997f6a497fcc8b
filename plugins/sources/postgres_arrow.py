"""PostgreSQL results as Arrow straight from ADBC's driver (``fetch_record_batch``), typed like the
DB-API path: ``numeric`` becomes ``decimal128(38, scale)``, ``uuid`` its canonical text, other
PostgreSQL-only types (which ADBC hands over as opaque extension types) their text.

The DB-API path turns every value into a Python object and back into Arrow; ADBC reads the binary
COPY format into Arrow buffers in C (see ``make bench``: ``bench/sql_source.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: ``numeric`` in PostgreSQL's type metadata as ADBC reports it
_TYPE_KEY = b"POSTGRESQL:type"
_TYPMOD_KEY = b"POSTGRESQL:typmod"


def numeric_scale(typmod: int) -> int | None:
    """The scale in a ``numeric(p, s)`` type modifier; None for a plain ``numeric`` (typmod -1)."""
    if typmod < 4:
        return None
    return (typmod - 4) & 0xFFFF


def _text_scale(values: Any) -> int:
    """The most digits after the point among the (string) values, as the DB-API path infers it."""
    scale = 0
    for value in values.to_pylist():
        if value and "." in value:
            scale = max(scale, len(value.split(".", 1)[1]))
    return scale


def plain_batch(batch: Any) -> Any:
    """``batch`` with numeric columns as decimal128(38, scale), opaque extension columns as their
    storage (text), and no PostgreSQL field metadata. A value that does not fit raises ArrowInvalid."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arrays, fields = [], []
    for field, column in zip(batch.schema, batch.columns, strict=True):
        metadata = field.metadata or {}
        if isinstance(column.type, pa.BaseExtensionType):
            if column.type.extension_name == "arrow.uuid":  # 16 bytes: as its canonical text instead
                column = pa.array([None if u is None else str(u) for u in column.to_pylist()], pa.string())
            else:
                column = column.storage
        if metadata.get(_TYPE_KEY) == b"numeric":
            scale = numeric_scale(int(metadata.get(_TYPMOD_KEY, b"-1")))
            column = pc.cast(column, pa.decimal128(38, _text_scale(column) if scale is None else scale))
        arrays.append(column)
        fields.append(pa.field(field.name, column.type))
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


@contextmanager
def query_batches(uri: str, sql: str, params: list[Any], batch_rows: int) -> Iterator[tuple[list[str], Iterator[Any]]]:
    """``(column names, batches)`` of ``sql`` (``$n`` placeholders) through ADBC, streamed; each
    batch plain (:func:`plain_batch`) and at most ``batch_rows`` long (a Parquet row group each)."""
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(uri) as connection, connection.cursor() as cursor:
        cursor.execute(sql, params or None)
        reader = cursor.fetch_record_batch()

        def batches() -> Iterator[Any]:
            for batch in reader:
                plain = plain_batch(batch)
                for offset in range(0, plain.num_rows, batch_rows):
                    yield plain.slice(offset, batch_rows)

        yield list(reader.schema.names), batches()
