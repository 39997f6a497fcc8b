"""Schema drift of a landed file against its contract: new, missing and retyped columns.

Added and missing columns are computed by the quality gate's own function (one definition of
drift); the types are compared here, where a format carries them (Parquet, so SQL and in-memory
sources): a column whose stored type cannot hold the contract's type without a lossy or
meaningless conversion is *retyped*.

Text formats carry no types. When the contract allows it (``schema_drift.types: inferred``), the
types of a CSV/JSON file are inferred by DuckDB's sniffer from a bounded sample of its records and
recorded in the manifest (``schema``); a column whose inferred type contradicts the contract is then
reported as retyped too. The contract's declared types still govern typing in the gate: inference
informs, it never changes what is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lockgate.contracts import Contract


def _compatible(ctype: str, arrow_type: Any) -> bool:
    """Whether values of ``arrow_type`` are what the contract's ``ctype`` means."""
    import pyarrow as pa

    t = arrow_type
    if pa.types.is_null(t) or (pa.types.is_dictionary(t) and _compatible(ctype, t.value_type)):
        return True
    checks = {
        "string": pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t),
        "integer": pa.types.is_integer(t),
        # integers and decimals widen to double without changing what the value means
        "double": pa.types.is_floating(t) or pa.types.is_decimal(t) or pa.types.is_integer(t),
        "boolean": pa.types.is_boolean(t),
        "date": pa.types.is_date(t),
        "timestamp": pa.types.is_timestamp(t),
    }
    return bool(checks.get(ctype, True))


#: rows of a text file the sniffer reads to infer its types (bounded: a huge file costs no more)
INFER_SAMPLE_ROWS = 20_000


def _contract_type(duckdb_type: str) -> str:
    """The contract type a DuckDB type name stands for (``DECIMAL(9,2)`` -> ``double``), else its name."""
    name = duckdb_type.upper().split("(", 1)[0].strip()
    if name in ("VARCHAR", "TEXT", "STRING", "UUID"):
        return "string"
    if name.endswith("INT") or name in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UHUGEINT"):
        return "integer"
    if name in ("DOUBLE", "FLOAT", "REAL", "DECIMAL", "NUMERIC"):
        return "double"
    if name == "BOOLEAN":
        return "boolean"
    if name == "DATE":
        return "date"
    if name.startswith("TIMESTAMP"):
        return "timestamp"
    return duckdb_type.lower()


def infers_types(contract: Contract) -> bool:
    """Whether the contract allows inferring the types of text files (``schema_drift.types: inferred``)."""
    return contract.schema_drift.get("types") == "inferred"


def inferred_types(path: Path, fmt: str, *, delimiter: str = ",", encoding: str = "utf-8") -> dict[str, str]:
    """Column -> contract type of a landed file: stored types for Parquet, sniffed from a sample
    of :data:`INFER_SAMPLE_ROWS` records for CSV/JSON/NDJSON ({} when the sniffer cannot read it:
    the gate then reports every unreadable record with its row)."""
    import duckdb

    if fmt == "parquet":
        from lockgate.formats import parquet_schema

        schema = parquet_schema(path)
        con = duckdb.connect()
        try:
            # DuckDB names the Arrow types the same way it names its own: one mapping for both
            relation = con.from_arrow(schema.empty_table())
            return {name: _contract_type(str(t)) for name, t in zip(relation.columns, relation.types, strict=True)}
        finally:
            con.close()
    if fmt == "csv":
        enc = encoding.lower().replace("_", "-")
        reader = "read_csv($1, delim = $2, header = true, sample_size = $3, encoding = $4)"
        params: list[object] = [
            str(path),
            delimiter,
            INFER_SAMPLE_ROWS,
            "utf-8" if enc in ("utf8", "utf-8-sig") else enc,
        ]
    else:
        layout = "newline_delimited" if fmt == "ndjson" else "array"
        reader = f"read_json($1, format = '{layout}', sample_size = $2)"
        params = [str(path), INFER_SAMPLE_ROWS]
    con = duckdb.connect()
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {reader}", params).fetchall()
    except duckdb.Error:
        return {}
    finally:
        con.close()
    return {row[0]: _contract_type(str(row[1])) for row in described}


def contradicting_types(contract: Contract, inferred: dict[str, str]) -> list[str]:
    """Contract columns whose inferred type contradicts the declared one (``name: contract -> inferred``).

    Anything fits a string; integers fit a double; a date fits a timestamp (midnight).
    """
    fits = {("double", "integer"), ("timestamp", "date")}
    out = []
    for col in contract.columns:
        found = inferred.get(col.name)
        if found is None or found == col.type or col.type == "string" or (col.type, found) in fits:
            continue
        out.append(f"{col.name}: {col.type} -> {found}")
    return out


def retyped_columns(contract: Contract, path: Path, fmt: str) -> list[str]:
    """Contract columns stored with an incompatible type (``name: contract -> stored``); Parquet only."""
    if fmt != "parquet":
        return []  # text formats carry no types: the gate's typing reports each bad value
    from lockgate.formats import parquet_schema

    # a whole-file compressed Parquet (.parquet.gz / .parquet.zst) must be decompressed before
    # its footer can be read: parquet_schema does that, the same way the gate's reader does
    schema = parquet_schema(path)
    out = []
    for col in contract.columns:
        if col.name in schema.names:
            stored = schema.field(col.name).type
            if not _compatible(col.type, stored):
                out.append(f"{col.name}: {col.type} -> {stored}")
    return out


def unit_drift(
    contract: Contract,
    path: Path,
    key: str,
    *,
    fmt: str,
    rows: int,
    delimiter: str = ",",
    encoding: str = "utf-8",
    inferred: dict[str, str] | None = None,
) -> dict[str, list[str]]:
    """``{"added": [...], "missing": [...], "retyped": [...]}`` for one landed file (empty lists: no drift).

    ``inferred`` (see :func:`inferred_types`) lets a text file's columns be compared by type too.
    """
    from lockgate.gate import RawFile, _drift

    raw = RawFile(key=key, local_path=path, format=fmt, rows=rows, delimiter=delimiter, encoding=encoding)
    found = _drift(raw, contract.column_names) or {}
    retyped = retyped_columns(contract, path, fmt) if rows else []
    if rows and fmt != "parquet" and inferred is not None:
        retyped = contradicting_types(contract, inferred)
    return {
        "added": list(found.get("added", [])),
        "missing": list(found.get("missing", [])),
        "retyped": retyped,
    }
