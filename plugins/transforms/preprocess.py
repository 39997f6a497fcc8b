"""Preprocessing declared in a pipeline's config and applied by the quality gate.

Supported steps (keys of the ``preprocess`` mapping):

* ``convert_units``: ``{"value": col, "unit": col, "by": col, "targets": {key: unit}}`` - rewrite
  each row's value into the target unit of its ``by`` key (e.g. per pollutant); rows with a unit
  that cannot be converted are quarantined with the reason.
* ``drop_exact_duplicates``: ``true`` - rows identical in every contract column are kept once and
  counted as de-duplicated.
* ``deduplicate``: ``{"key": [cols], "keep_latest_by": col}`` - one row per key: the one with the
  greatest ``keep_latest_by`` (ties and a missing ``keep_latest_by``: the one read last). The
  others count as de-duplicated, so ``rows in = passed + quarantined + duplicates`` stays exact.
* ``missing``: ``{col: "drop" | "flag" | {"fill": value}}`` - per column, what a missing (empty)
  source value does: ``drop`` quarantines the row with the reason "missing value dropped by
  policy" (nothing is lost silently); ``flag`` keeps it and sets the boolean contract column
  ``<col>_missing`` (which the contract must declare, nullable); ``fill`` puts ``value`` in (as
  if the source had it, so it is typed and checked like any value).
* ``scale``: ``{col: {"min": a, "max": b, "into": new_col}}`` - min-max scaling with declared
  bounds: ``new_col = (col - a) / (b - a)``, after unit conversion. Declared, not taken from the
  day's data, so a rerun or a backfill gives the same numbers; values outside the bounds fall
  outside 0..1 rather than being clipped (an outlier stays visible). ``new_col`` is a nullable
  double column of the contract.
* ``enrich``: ``{"reference": dataset, "on": {col: ref_col} | [cols], "columns": {new_col: ref_col}
  | [cols], "required": true | false}`` (or a list of such mappings) - LEFT JOIN with another
  dataset's curated data (its newest published date on or before the logical date), after typing
  and before the checks. ``columns`` are contract columns the source does not have. A row without
  a match is quarantined with the key values and the reference named (``required: true``, the
  default) or gets NULLs (``required: false``; the new columns must then be nullable). A key that
  occurs twice in the reference fails the gate: a join must never multiply rows.

Timestamps are normalised to UTC while typing (see :mod:`lockgate.gate`); a source's own zone for
naive timestamps comes from the ingestion step (``source_timezone``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockgate.sql import SQL_TYPES, ident, literal

KNOWN_STEPS = ("convert_units", "drop_exact_duplicates", "deduplicate", "missing", "scale", "enrich")
MISSING_POLICIES = ("drop", "flag", "fill")
MISSING_REASON = "missing value dropped by policy"

#: multiplicative factors between units of the same dimension (mass concentration, mixing ratio)
UNIT_FACTORS: dict[tuple[str, str], float] = {
    ("ug/m3", "ug/m3"): 1.0,
    ("mg/m3", "ug/m3"): 1000.0,
    ("ug/m3", "mg/m3"): 0.001,
    ("mg/m3", "mg/m3"): 1.0,
    ("ppm", "ppm"): 1.0,
    ("ppb", "ppm"): 0.001,
    ("ppm", "ppb"): 1000.0,
    ("ppb", "ppb"): 1.0,
}

#: lower-case spellings -> canonical unit (µ is the micro sign U+00B5, μ the Greek mu U+03BC)
_UNIT_ALIASES = {
    "µg/m3": "ug/m3",
    "μg/m3": "ug/m3",
    "µg/m³": "ug/m3",
    "μg/m³": "ug/m3",
    "ug/m³": "ug/m3",
    "mg/m³": "mg/m3",
}


def normalise_unit(unit: str) -> str:
    """Canonical spelling of a unit (``µg/m³`` -> ``ug/m3``), case-insensitive like the gate's SQL."""
    unit = unit.strip().lower()
    return _UNIT_ALIASES.get(unit, unit)


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """Convert one value; ``KeyError`` names the pair when no conversion is known."""
    factor = UNIT_FACTORS.get((normalise_unit(from_unit), normalise_unit(to_unit)))
    if factor is None:
        raise KeyError(f"no conversion from {from_unit!r} to {to_unit!r}")
    return value * factor


def validate_preprocess(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check a ``preprocess`` mapping and return it with defaults; errors name the key."""
    config = dict(config or {})
    unknown = sorted(set(config) - set(KNOWN_STEPS))
    if unknown:
        raise ValueError(f"preprocess: unknown step(s) {', '.join(unknown)}; known: {', '.join(KNOWN_STEPS)}")
    units = config.get("convert_units")
    if units is not None:
        for key in ("value", "unit", "by", "targets"):
            if key not in units:
                raise ValueError(f"preprocess.convert_units: missing {key!r}")
        for by_value, target in units["targets"].items():
            if normalise_unit(target) not in {t for _, t in UNIT_FACTORS}:
                raise ValueError(f"preprocess.convert_units.targets.{by_value}: unknown unit {target!r}")
    dedupe = config.get("deduplicate")
    if dedupe is not None:
        if not isinstance(dedupe, Mapping) or set(dedupe) - {"key", "keep_latest_by"}:
            raise ValueError("preprocess.deduplicate: expected {key: [columns], keep_latest_by: column}")
        dedupe_key = dedupe.get("key")
        if not dedupe_key or not isinstance(dedupe_key, list) or not all(isinstance(k, str) for k in dedupe_key):
            raise ValueError("preprocess.deduplicate.key: a non-empty list of column names")
    for col, policy in (config.get("missing") or {}).items():
        if missing_policy(policy) is None:
            raise ValueError(f"preprocess.missing.{col}: expected 'drop', 'flag' or {{fill: value}}, not {policy!r}")
    for col, bounds in (config.get("scale") or {}).items():
        if not isinstance(bounds, Mapping) or set(bounds) != {"min", "max", "into"}:
            raise ValueError(f"preprocess.scale.{col}: expected {{min: number, max: number, into: column}}")
        low, high = bounds["min"], bounds["max"]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)) or high <= low:
            raise ValueError(f"preprocess.scale.{col}: min and max must be numbers with min < max")
    enrich_steps(config)  # raises ValueError naming the step and key
    config.setdefault("drop_exact_duplicates", False)
    return config


def missing_policy(policy: Any) -> str | None:
    """``drop``, ``flag`` or ``fill`` for a ``missing`` entry; None when it is not one."""
    if policy in ("drop", "flag"):
        return str(policy)
    if isinstance(policy, Mapping) and set(policy) == {"fill"}:
        return "fill"
    return None


def check_columns(config: Mapping[str, Any], columns: Mapping[str, tuple[str, bool]]) -> None:
    """Check the steps' columns against a contract's ``{name: (type, nullable)}``; errors name the key."""

    def need(where: str, col: Any) -> None:
        if col not in columns:
            raise ValueError(f"preprocess.{where}: column {col!r} is not in the contract")

    dedupe = config.get("deduplicate")
    if dedupe:
        for col in dedupe["key"]:
            need("deduplicate.key", col)
        if dedupe.get("keep_latest_by") is not None:
            need("deduplicate.keep_latest_by", dedupe["keep_latest_by"])
    for col, policy in (config.get("missing") or {}).items():
        need(f"missing.{col}", col)
        if missing_policy(policy) == "flag":
            flag = f"{col}_missing"
            if columns.get(flag, ("", False))[0] != "boolean" or not columns[flag][1]:
                raise ValueError(
                    f"preprocess.missing.{col}: 'flag' sets the column {flag!r}; declare it in the contract "
                    "as a nullable boolean"
                )
            if not columns[col][1]:
                raise ValueError(
                    f"preprocess.missing.{col}: 'flag' keeps rows without a value, but {col!r} is not nullable"
                )
    for step in enrich_steps(config):
        where = f"{step.where} (reference {step.reference})"
        for col in step.on:
            need(f"{step.where}.on.{col}", col)
            if col in step.columns:
                raise ValueError(f"{where}: {col!r} is both a key and an enriched column")
        for col in step.columns:
            if col not in columns:
                raise ValueError(
                    f"{step.where}.columns.{col}: column {col!r} is not in the contract; declare it with the type "
                    f"of {step.reference}.{step.columns[col]} (enrich from reference {step.reference})"
                )
            if not step.required and not columns[col][1]:
                raise ValueError(
                    f"{step.where}.columns.{col}: {col!r} must be nullable in the contract: with required: false a "
                    f"row without a match in reference {step.reference} keeps NULL there"
                )
        derived = {c for s in enrich_steps(config) for c in s.columns}
        for col in step.on:
            if col in derived:
                raise ValueError(f"{step.where}.on.{col}: {col!r} is an enriched column; join on source columns")
        for col in config.get("missing") or {}:
            if col in step.columns:
                raise ValueError(
                    f"preprocess.missing.{col}: {col!r} comes from reference {step.reference} (enrich), not the source"
                )
    for col, bounds in (config.get("scale") or {}).items():
        need(f"scale.{col}", col)
        into = bounds["into"]
        if columns.get(into, ("", False))[0] != "double":
            raise ValueError(f"preprocess.scale.{col}.into: {into!r} must be a double column of the contract")
        if into != col and not columns[into][1]:
            raise ValueError(f"preprocess.scale.{col}.into: {into!r} must be nullable (the source does not have it)")


def fill_sql(config: Mapping[str, Any]) -> dict[str, str]:
    """Raw-string expressions replacing missing source values by the ``fill`` of their column."""
    out = {}
    for col, policy in (config.get("missing") or {}).items():
        if missing_policy(policy) == "fill":
            raw = ident(col)
            value = policy["fill"]
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            out[col] = f"CASE WHEN {raw} IS NULL OR trim({raw}) = '' THEN {literal(text)} ELSE {raw} END"
    return out


def scale_sql(config: Mapping[str, Any]) -> dict[str, str]:
    """``{into: expression}`` of the ``scale`` step over typed (and unit-converted) columns."""
    out = {}
    for col, bounds in (config.get("scale") or {}).items():
        low, high = float(bounds["min"]), float(bounds["max"])
        out[bounds["into"]] = f"(({ident(col)} - {low!r}) / {high - low!r})"
    return out


def dedupe_window(config: Mapping[str, Any], columns: list[str]) -> str | None:
    """The ``row_number()`` window keeping one row per duplicate group (None: no de-duplication)."""
    dedupe = config.get("deduplicate")
    if dedupe:
        key = ", ".join(ident(c) for c in dedupe["key"])
        latest = dedupe.get("keep_latest_by")
        order = f"{ident(latest)} DESC NULLS LAST, " if latest else ""
        return f"row_number() OVER (PARTITION BY {key} ORDER BY {order}_file DESC, _row DESC)"
    if config.get("drop_exact_duplicates"):
        cols = ", ".join(ident(c) for c in columns)
        return f"row_number() OVER (PARTITION BY {cols} ORDER BY _file, _row)"
    return None


def _canonical_unit_sql(unit: str) -> str:
    """SQL: the canonical spelling of a unit column's value, as :func:`normalise_unit` but by substring."""
    canonical = f"lower(trim({unit}))"
    for alias, canon in _UNIT_ALIASES.items():
        canonical = f"replace({canonical}, {literal(alias.lower())}, {literal(canon)})"
    return canonical


def _factor_sql(unit: str, target: str) -> str:
    """SQL: the factor from a unit column's value to ``target`` (NULL when there is none).

    A value already spelled as a canonical unit is its own canonical form (no space, no upper case
    and none of the aliases' non-ASCII characters), so it is compared as it is; only another value
    is normalised (trim, ``lower`` and the six ``replace`` calls), and it can then only match a
    unit that is not its own spelling: on typical data nearly every row takes the first WHENs.
    """
    # DOUBLE factors: a DECIMAL literal's CASE is cast to the widest DECIMAL, then to DOUBLE, per row
    sources = sorted((src, f"CAST({f!r} AS DOUBLE)") for (src, dst), f in UNIT_FACTORS.items() if dst == target)
    canonical = _canonical_unit_sql(unit)
    exact = " ".join(f"WHEN {unit} = {literal(src)} THEN {factor}" for src, factor in sources)
    normalised = " ".join(f"WHEN {canonical} = {literal(src)} THEN {factor}" for src, factor in sources)
    return f"CASE {exact} ELSE CASE {normalised} END END"


def unit_conversion_sql(config: Mapping[str, Any]) -> tuple[str, str, str]:
    """SQL expressions (value, unit, problem) for the ``convert_units`` step over a typed row.

    The factor is one CASE over the ``by`` column whose branch for each key compares the unit with
    the few units convertible to that key's target: a row evaluates the ``by`` comparisons up to
    its key and then one or two unit comparisons, never the target CASE again (the factor CASE
    spelled the target and the unit's normalisation in each of its 8 WHENs: DuckDB shares no
    subexpression between the branches of a CASE). ``problem`` is NULL or a reason for the
    quarantine; it asks for the factor first, which a convertible row has.
    """
    value, unit, by = ident(config["value"]), ident(config["unit"]), ident(config["by"])
    # one branch per key, in the order of the keys: the first key equal to the row's value decides
    targets = sorted((k, normalise_unit(v)) for k, v in config["targets"].items())
    target_expr = "CASE " + " ".join(f"WHEN {by} = {literal(k)} THEN {literal(t)}" for k, t in targets) + " END"
    factor_expr = "CASE " + " ".join(f"WHEN {by} = {literal(k)} THEN ({_factor_sql(unit, t)})" for k, t in targets)
    factor_expr += " END"
    no_target = literal(f"column {config['unit']}: no target unit declared for {config['by']}={{}}")
    no_factor = literal(f"column {config['unit']}: cannot convert {{}} to {{}}")
    problem = (
        f"CASE WHEN {value} IS NULL OR ({factor_expr}) IS NOT NULL THEN NULL "
        f"WHEN ({target_expr}) IS NULL THEN format({no_target}, {by}) "
        f"ELSE format({no_factor}, {unit}, ({target_expr})) END"
    )
    # round away float noise (0.0123 * 1000 = 12.299999999999999) without losing real precision
    return f"round({value} * ({factor_expr}), 9)", f"COALESCE(({target_expr}), {unit})", problem


# ------------------------------------------------------------------------------------------ enrich


@dataclass(frozen=True)
class EnrichStep:
    """One declared join with reference data (see the ``enrich`` step in the module doc)."""

    reference: str
    #: column of the dataset -> column of the reference, in declaration order
    on: dict[str, str]
    #: new column of the dataset -> column of the reference
    columns: dict[str, str]
    required: bool = True
    #: how errors name the step (``preprocess.enrich`` or ``preprocess.enrich.<i>``)
    where: str = "preprocess.enrich"


@dataclass(frozen=True)
class Reference:
    """A reference dataset's curated data as the gate gets it: local Parquet files of one date.

    The quality gate writes the date's rows, read through the reference's Iceberg table, to one
    file holding every column, the partition columns included (hive path segments, if any, are
    read too: ``hive_partitioning``).
    """

    dataset: str
    ds: str | None
    files: tuple[Path, ...] = field(default_factory=tuple)


_ENRICH_KEYS = {"reference", "on", "columns", "required"}


def _column_map(value: Any, where: str) -> dict[str, str]:
    """``{col: ref_col}`` from a mapping or a list of names (same name on both sides)."""
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        if len(set(value)) != len(value):
            raise ValueError(f"{where}: a column is named twice")
        return {v: v for v in value}
    if (
        isinstance(value, Mapping)
        and value
        and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    ):
        return {str(k): str(v) for k, v in value.items()}
    raise ValueError(f"{where}: expected a non-empty list of columns or a mapping {{column: reference column}}")


def enrich_steps(config: Mapping[str, Any]) -> list[EnrichStep]:
    """The ``enrich`` entries of a preprocess mapping, checked; ``ValueError`` names the step and key."""
    declared = config.get("enrich")
    if declared is None:
        return []
    single = isinstance(declared, Mapping)
    entries = [declared] if single else declared
    if not isinstance(entries, list) or not entries:
        raise ValueError("preprocess.enrich: expected {reference, on, columns, required} or a list of them")
    steps: list[EnrichStep] = []
    seen: dict[str, str] = {}
    for index, entry in enumerate(entries):
        where = "preprocess.enrich" if single else f"preprocess.enrich.{index}"
        if (
            not isinstance(entry, Mapping)
            or set(entry) - _ENRICH_KEYS
            or not {"reference", "on", "columns"} <= set(entry)
        ):
            raise ValueError(f"{where}: expected {{reference: dataset, on: ..., columns: ..., required: true|false}}")
        reference = entry["reference"]
        if not isinstance(reference, str) or not reference:
            raise ValueError(f"{where}.reference: the name of a dataset")
        required = entry.get("required", True)
        if not isinstance(required, bool):
            raise ValueError(f"{where}.required: true or false, not {required!r}")
        step = EnrichStep(
            reference=reference,
            on=_column_map(entry["on"], f"{where}.on"),
            columns=_column_map(entry["columns"], f"{where}.columns"),
            required=required,
            where=where,
        )
        for col in step.columns:
            if col in seen:
                raise ValueError(f"{where}.columns.{col}: {col!r} is enriched already by {seen[col]}")
            seen[col] = where
        steps.append(step)
    return steps


def enriched_columns(config: Mapping[str, Any]) -> list[str]:
    """Contract columns the ``enrich`` steps fill: the source does not have them."""
    return [col for step in enrich_steps(config) for col in step.columns]


def gate_made_columns(config: Mapping[str, Any]) -> list[str]:
    """Contract columns the gate fills itself (``enrich``, ``missing: flag``, ``scale.into``).

    A source never has them, so their absence from a source file is not schema drift.
    """
    flags = [
        f"{col}_missing" for col, policy in (config.get("missing") or {}).items() if missing_policy(policy) == "flag"
    ]
    scaled = [b["into"] for col, b in (config.get("scale") or {}).items() if b["into"] != col]
    return enriched_columns(config) + flags + scaled


def reference_table(index: int) -> str:
    return ident(f"_lockgate_reference_{index}")


def prepare_references(
    con: Any, config: Mapping[str, Any], references: Mapping[str, Reference], types: Mapping[str, str]
) -> None:
    """Load each ``enrich`` step's reference into a DuckDB table of typed keys and values.

    ``types`` are the enriched dataset's contract types (``{column: type}``): reference keys are
    cast to the type of the dataset's key column, reference values to the type of the new
    column. Raises ``ValueError`` naming the step, the reference and the column when the
    reference was not fetched, lacks a column, holds a value that does not fit the type, or has a
    key more than once (a join must not multiply rows).
    """
    for index, step in enumerate(enrich_steps(config)):
        ref = references.get(step.reference)
        if ref is None:
            raise ValueError(f"{step.where}: reference dataset {step.reference!r} was not given to the gate")
        label = f"{step.where}: reference {step.reference}" + (f" (curated ds={ref.ds})" if ref.ds else "")
        pairs = [(f"_k{i}", col, ref_col) for i, (col, ref_col) in enumerate(step.on.items())]
        pairs += [(f"_v{i}", col, ref_col) for i, (col, ref_col) in enumerate(step.columns.items())]
        table = reference_table(index)
        if not ref.files:
            # a published date with no rows: nothing matches
            nothing = ", ".join(f"CAST(NULL AS {SQL_TYPES['duckdb'][types[col]]}) AS {slot}" for slot, col, _ in pairs)
            con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {nothing}, TRUE AS _matched WHERE FALSE")
            continue
        files = [str(f) for f in ref.files]
        source = "read_parquet($1, hive_partitioning = true, hive_types_autocast = false, union_by_name = true)"
        present = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}", [files]).fetchall()]
        for slot, col, ref_col in pairs:
            if ref_col not in present:
                part = "on" if slot.startswith("_k") else "columns"
                raise ValueError(
                    f"{step.where}.{part}.{col}: reference {step.reference} has no column {ref_col!r} "
                    f"(its curated files have {', '.join(present)})"
                )
        casts = ", ".join(
            f"TRY_CAST({ident(ref_col)} AS {SQL_TYPES['duckdb'][types[col]]}) AS {slot}" for slot, col, ref_col in pairs
        )
        raws = ", ".join(f"{ident(ref_col)} AS _raw{slot}" for slot, _, ref_col in pairs)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _lockgate_reference_raw AS SELECT {casts}, {raws} FROM {source}", [files]
        )
        for slot, col, ref_col in pairs:
            bad = con.execute(
                f"SELECT CAST(_raw{slot} AS VARCHAR) FROM _lockgate_reference_raw "
                f"WHERE _raw{slot} IS NOT NULL AND {slot} IS NULL LIMIT 1"
            ).fetchone()
            if bad is not None:
                raise ValueError(
                    f"{label}: column {ref_col} holds {bad[0][:200]!r}, which is not a {types[col]} "
                    f"(the type of {col} in the contract)"
                )
        keys = [slot for slot, _, _ in pairs if slot.startswith("_k")]
        known = " AND ".join(f"{k} IS NOT NULL" for k in keys)
        repeated = con.execute(
            f"SELECT {', '.join(keys)}, count(*) AS n, count(*) OVER () AS groups FROM _lockgate_reference_raw "
            f"WHERE {known} GROUP BY ALL HAVING count(*) > 1 ORDER BY n DESC, {', '.join(keys)} LIMIT 5"
        ).fetchall()
        if repeated:
            shown = "; ".join(
                ", ".join(f"{c}={v}" for c, v in zip(step.on.values(), row[: len(keys)], strict=True))
                + f" ({row[len(keys)]} rows)"
                for row in repeated
            )
            raise ValueError(
                f"{label}: {repeated[0][-1]} key(s) occur more than once on {', '.join(step.on.values())}, "
                f"e.g. {shown}; a join would multiply rows, so the gate stops (make the key unique in the "
                "reference or join on more columns)"
            )
        slots = ", ".join(slot for slot, _, _ in pairs)
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {slots}, TRUE AS _matched FROM _lockgate_reference_raw")
        con.execute("DROP TABLE _lockgate_reference_raw")


@dataclass(frozen=True)
class EnrichSql:
    """The pieces of the gate's query for the ``enrich`` steps over a typed relation aliased ``t``."""

    #: ``<expr> AS <new column>`` per enriched column
    selects: list[str]
    #: the ``LEFT JOIN`` clauses
    joins: str
    #: (check, column, condition, reason expression) per way a row can fail a step
    problems: list[tuple[str, str, str, str]]


def enrich_sql(config: Mapping[str, Any], nullable: Mapping[str, bool]) -> EnrichSql:
    """SQL for the ``enrich`` steps: the joins, the new columns and the quarantine reasons.

    Reference keys are unique (checked by :func:`prepare_references`), so the LEFT JOINs keep
    exactly one output row per input row. ``nullable`` is the contract's nullability per column.
    """
    selects, joins, problems = [], [], []
    for index, step in enumerate(enrich_steps(config)):
        alias = f"_r{index}"
        condition = " AND ".join(f"t.{ident(col)} = {alias}._k{i}" for i, col in enumerate(step.on))
        joins.append(f"LEFT JOIN {reference_table(index)} AS {alias} ON {condition}")
        for i, col in enumerate(step.columns):
            selects.append(f"{alias}._v{i} AS {ident(col)}")
        first = next(iter(step.on))
        if step.required:
            text = f"no {step.reference} row for " + ", ".join(f"{c}={{}}" for c in step.on) + f" ({step.where})"
            values = ", ".join(f"COALESCE(left(CAST(t.{ident(c)} AS VARCHAR), 200), 'NULL')" for c in step.on)
            problems.append(("enrich", first, f"{alias}._matched IS NULL", f"format({literal(text)}, {values})"))
            for i, col in enumerate(step.columns):
                if not nullable.get(col, True):
                    reason = literal(
                        f"column {col}: missing value in a non-nullable column "
                        f"({step.reference}.{step.columns[col]} is empty for this key)"
                    )
                    problems.append(("not_null", col, f"{alias}._matched AND {alias}._v{i} IS NULL", reason))
    return EnrichSql(selects, "\n".join(joins), problems)
