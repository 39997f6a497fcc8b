"""Preprocessing declared in a pipeline's config and applied by the quality gate.

Supported steps (keys of the ``preprocess`` mapping):

* ``convert_units``: ``{"value": col, "unit": col, "by": col, "targets": {key: unit}}`` - rewrite
  each row's value into the target unit of its ``by`` key (e.g. per pollutant); rows with a unit
  that cannot be converted are quarantined with the reason.
* ``drop_exact_duplicates``: ``true`` - rows identical in every contract column are kept once and
  counted as de-duplicated.

Timestamps are normalised to UTC while typing (see :mod:`lockgate.gate`); a source's own zone for
naive timestamps comes from the ingestion step (``source_timezone``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lockgate.sql import ident, literal

KNOWN_STEPS = ("convert_units", "drop_exact_duplicates")

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
    config.setdefault("drop_exact_duplicates", False)
    return config


def unit_conversion_sql(config: Mapping[str, Any]) -> tuple[str, str, str]:
    """SQL expressions (value, unit, problem) for the ``convert_units`` step over a typed row.

    The factor comes from a CASE over (canonical unit, target unit), so the engine evaluates it
    column-wise; ``problem`` is NULL or a reason for the quarantine.
    """
    value, unit, by = ident(config["value"]), ident(config["unit"]), ident(config["by"])
    targets = {k: normalise_unit(v) for k, v in config["targets"].items()}
    canonical = f"lower(trim({unit}))"
    for alias, canon in _UNIT_ALIASES.items():
        canonical = f"replace({canonical}, {literal(alias.lower())}, {literal(canon)})"
    target_expr = (
        "CASE " + " ".join(f"WHEN {by} = {literal(k)} THEN {literal(t)}" for k, t in sorted(targets.items())) + " END"
    )
    factor_expr = (
        "CASE "
        + " ".join(
            f"WHEN {canonical} = {literal(src)} AND ({target_expr}) = {literal(dst)} THEN {factor!r}"
            for (src, dst), factor in sorted(UNIT_FACTORS.items())
        )
        + " END"
    )
    no_target = literal(f"column {config['unit']}: no target unit declared for {config['by']}={{}}")
    no_factor = literal(f"column {config['unit']}: cannot convert {{}} to {{}}")
    problem = (
        f"CASE WHEN {value} IS NOT NULL AND ({target_expr}) IS NULL THEN format({no_target}, {by}) "
        f"WHEN {value} IS NOT NULL AND ({factor_expr}) IS NULL "
        f"THEN format({no_factor}, {unit}, ({target_expr})) END"
    )
    # round away float noise (0.0123 * 1000 = 12.299999999999999) without losing real precision
    return f"round({value} * ({factor_expr}), 9)", f"COALESCE(({target_expr}), {unit})", problem
