"""Lockgate contracts to and from the Open Data Contract Standard (ODCS) v3.1.0.

:func:`to_odcs` turns a :class:`~lockgate.contracts.Contract` into an ODCS document (validated with
the standard's own JSON schema, ``include/odcs/odcs-json-schema-v3.1.0.json``); :func:`from_odcs`
turns an ODCS document into the text of a Lockgate contract, which :func:`~lockgate.contracts.
parse_contract` then checks like any other. ``from_odcs(to_odcs(c))`` gives back ``c``.

What maps to what (one ODCS schema object per contract, named after the dataset):

=============================  ===========================================================
Lockgate                       ODCS
=============================  ===========================================================
dataset, description, owner    ``id``/``name`` and schema ``name``, ``description.purpose``,
                               ``team.name``
version (an integer)           ``version`` ``"<n>.0.0"``
column type                    ``logicalType`` (double -> number) and ``physicalType`` (the
                               Lockgate type itself, so double and integer stay apart)
nullable: false                ``required: true``
primary_key, partition_keys    ``primaryKey``/``primaryKeyPosition``,
                               ``partitioned``/``partitionKeyPosition`` (1-based)
pii                            ``classification: pii`` plus custom property ``lockgatePii``
                               (``hash``, ``mask`` or ``true``: how it is protected)
expectations                   ``quality`` rules of type ``custom``, engine
                               ``great-expectations``, ``implementation`` =
                               ``{expectation_type, kwargs}``, ``severity`` = fail, warn or
                               quarantine; a rule on one column sits on that property, the
                               others on the schema object; ``id`` ``rule<n>`` keeps their order
=============================  ===========================================================

What ODCS has no field for travels in ``customProperties`` (so the round trip is lossless): a
column's strptime ``format`` list (``lockgateFormats``: ODCS's ``logicalTypeOptions.format`` is a
Java DateTimeFormatter pattern, another language) and ``timezone`` (``lockgateTimezone``); the
contract's ``event_time``, ``schema_drift`` and ``min_replace_share`` (``lockgateEventTime``,
``lockgateSchemaDrift``, ``lockgateMinReplaceShare``) on the schema object.

Importing a contract written elsewhere: rules of type ``library`` with metric ``rowCount``,
``nullValues`` or ``duplicateValues`` become the matching expectations, a property's
``unique: true`` becomes a uniqueness check; any other rule (``text``, ``sql``, another engine) is
refused with its place in the document, since the gate could not enforce it. Servers, SLAs, pricing,
roles and support channels are about the data product, not its rows: they are not imported.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from lockgate.config import include_dir
from lockgate.contracts import Column, Contract, ContractError, Expectation

ODCS_VERSION = "v3.1.0"
ENGINE = "great-expectations"
#: Lockgate column type -> ODCS logicalType
LOGICAL_TYPES = {
    "string": "string",
    "integer": "integer",
    "double": "number",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}
#: ODCS severities other tools write -> Lockgate's
_SEVERITIES = {"error": "fail", "warning": "warn", "info": "warn", "fail": "fail", "warn": "warn"}
_RULE_ID = re.compile(r"^rule(\d+)$")


@cache
def odcs_schema() -> dict[str, Any]:
    """The standard's JSON schema (draft 2019-09), as shipped in ``include/odcs/``."""
    path = include_dir() / "odcs" / f"odcs-json-schema-{ODCS_VERSION}.json"
    with open(path, encoding="utf-8") as fh:
        schema: dict[str, Any] = json.load(fh)
    return schema


def odcs_problems(document: Any) -> list[str]:
    """Every way ``document`` breaks the ODCS schema, as ``path: message`` lines (empty: valid)."""
    import jsonschema

    validator = jsonschema.Draft201909Validator(odcs_schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors]


# -- export -----------------------------------------------------------------------------------------


def _custom(**values: Any) -> list[dict[str, Any]]:
    """ODCS ``customProperties`` for the values that are set (``lockgateX`` names)."""
    return [{"property": f"lockgate{name}", "value": value} for name, value in values.items() if value is not None]


def _rule(index: int, expectation: Expectation) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": f"rule{index}",
        "type": "custom",
        "engine": ENGINE,
        "implementation": {"expectation_type": expectation.expectation, "kwargs": dict(expectation.kwargs)},
        "severity": expectation.severity,
    }
    if expectation.description:
        rule["description"] = expectation.description
    return rule


def _property(column: Column, contract: Contract, rules: list[dict[str, Any]]) -> dict[str, Any]:
    prop: dict[str, Any] = {
        "name": column.name,
        "logicalType": LOGICAL_TYPES[column.type],
        "physicalType": column.type,
        "required": not column.nullable,
    }
    if column.description:
        prop["description"] = column.description
    if column.name in contract.primary_key:
        prop.update(primaryKey=True, primaryKeyPosition=contract.primary_key.index(column.name) + 1)
    if column.name in contract.partition_keys:
        prop.update(partitioned=True, partitionKeyPosition=contract.partition_keys.index(column.name) + 1)
    if any(r["implementation"]["expectation_type"] == "expect_column_values_to_be_unique" for r in rules):
        prop["unique"] = True
    if column.pii_mode:
        prop["classification"] = "pii"
    custom = _custom(
        Pii=column.pii if column.pii_mode else None,
        Formats=list(column.formats) or None,
        Timezone=column.timezone,
    )
    if custom:
        prop["customProperties"] = custom
    if rules:
        prop["quality"] = rules
    return prop


def to_odcs(contract: Contract, owner: str | None = None) -> dict[str, Any]:
    """The ODCS v3.1.0 document of a contract (raises :class:`ContractError` if the schema refuses it)."""
    rules = [_rule(i, e) for i, e in enumerate(contract.expectations, start=1)]
    by_column: dict[str, list[dict[str, Any]]] = {c.name: [] for c in contract.columns}
    table_rules: list[dict[str, Any]] = []
    for rule, expectation in zip(rules, contract.expectations, strict=True):
        by_column.get(str(expectation.kwargs.get("column")), table_rules).append(rule)
    schema_object: dict[str, Any] = {
        "name": contract.dataset,
        "physicalName": contract.dataset,
        "logicalType": "object",
        "physicalType": "table",
        "properties": [_property(c, contract, by_column[c.name]) for c in contract.columns],
        "customProperties": _custom(
            EventTime=contract.event_time,
            SchemaDrift=dict(contract.schema_drift),
            MinReplaceShare=contract.min_replace_share,
        ),
    }
    if contract.description:
        schema_object["description"] = contract.description
    if table_rules:
        schema_object["quality"] = table_rules
    document: dict[str, Any] = {
        "apiVersion": ODCS_VERSION,
        "kind": "DataContract",
        "id": contract.dataset,
        "name": contract.dataset,
        "version": f"{contract.version}.0.0",
        "status": "active",
        "schema": [schema_object],
    }
    if contract.description:
        document["description"] = {"purpose": contract.description}
    if owner:
        document["team"] = {"name": owner}
    if problems := odcs_problems(document):
        raise ContractError(
            f"{contract.dataset}: the ODCS document breaks the standard's schema:\n" + "\n".join(problems)
        )
    return document


# -- import -----------------------------------------------------------------------------------------


def _customs(element: dict[str, Any]) -> dict[str, Any]:
    return {c["property"]: c["value"] for c in element.get("customProperties") or []}


def _column_spec(prop: dict[str, Any], where: str) -> dict[str, Any]:
    """A Lockgate ``columns`` entry from an ODCS property."""
    custom = _customs(prop)
    ctype = prop.get("physicalType") if prop.get("physicalType") in LOGICAL_TYPES else None
    if ctype is None:
        by_logical = {v: k for k, v in LOGICAL_TYPES.items()}
        if prop.get("logicalType") not in by_logical:
            raise ContractError(
                f"{where}: logicalType {prop.get('logicalType')!r} has no Lockgate column type "
                f"(one of {', '.join(sorted(by_logical))})"
            )
        ctype = by_logical[prop["logicalType"]]
    spec: dict[str, Any] = {"type": ctype, "nullable": not prop.get("required", False)}
    if prop.get("description"):
        spec["description"] = prop["description"]
    if "lockgatePii" in custom:
        spec["pii"] = custom["lockgatePii"]
    elif str(prop.get("classification", "")).lower() == "pii":
        spec["pii"] = "hash"  # personal data from elsewhere: protected the default way
    if custom.get("lockgateFormats"):
        spec["format"] = list(custom["lockgateFormats"])
    if custom.get("lockgateTimezone"):
        spec["timezone"] = custom["lockgateTimezone"]
    return spec


def _library_expectation(rule: dict[str, Any], column: str | None, where: str) -> tuple[str, dict[str, Any]]:
    """The expectation of an ODCS ``library`` rule Lockgate can enforce, else a ContractError."""
    metric = rule.get("metric") or rule.get("rule")
    zero = rule.get("mustBe") == 0 or rule.get("mustBeLessThanOrEqualTo") == 0
    if metric == "rowCount" and column is None:
        bounds = {}
        if "mustBeGreaterThanOrEqualTo" in rule:
            bounds["min_value"] = rule["mustBeGreaterThanOrEqualTo"]
        if "mustBeGreaterThan" in rule:
            bounds["min_value"] = rule["mustBeGreaterThan"] + 1
        if "mustBeLessThanOrEqualTo" in rule:
            bounds["max_value"] = rule["mustBeLessThanOrEqualTo"]
        if "mustBeBetween" in rule:
            bounds["min_value"], bounds["max_value"] = rule["mustBeBetween"]
        if bounds:
            return "expect_table_row_count_to_be_between", bounds
    if metric == "nullValues" and column and zero:
        return "expect_column_values_to_not_be_null", {"column": column}
    if metric == "duplicateValues" and column and zero:
        return "expect_column_values_to_be_unique", {"column": column}
    raise ContractError(f"{where}: the {metric!r} rule {rule!r} is not one Lockgate can enforce")


def _expectation(rule: dict[str, Any], column: str | None, where: str) -> dict[str, Any]:
    """A Lockgate ``expectations`` entry from an ODCS quality rule."""
    kind = rule.get("type", "library")
    if kind == "custom" and rule.get("engine") in (ENGINE, "great_expectations", "greatExpectations"):
        implementation = rule.get("implementation")
        if not isinstance(implementation, dict) or "expectation_type" not in implementation:
            raise ContractError(f"{where}: a great-expectations rule needs implementation.expectation_type")
        name, kwargs = implementation["expectation_type"], dict(implementation.get("kwargs") or {})
        if column is not None:
            kwargs.setdefault("column", column)
    elif kind == "library":
        name, kwargs = _library_expectation(rule, column, where)
    else:
        raise ContractError(
            f"{where}: a {kind!r} rule{' of engine ' + repr(rule.get('engine')) if kind == 'custom' else ''} "
            "cannot be enforced by Lockgate's gate (great-expectations or library rules only)"
        )
    severity = str(rule.get("severity", "fail"))
    severity = severity if severity == "quarantine" else _SEVERITIES.get(severity.lower(), "")
    if not severity:
        raise ContractError(f"{where}: severity {rule.get('severity')!r} is not fail, warn, quarantine, error or info")
    entry: dict[str, Any] = {"expectation": name, "severity": severity}
    if kwargs:
        entry["kwargs"] = kwargs
    if rule.get("description"):
        entry["description"] = rule["description"]
    return entry


def _rules_in_order(schema_object: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """Every quality rule with its column, in Lockgate's order (``rule<n>`` ids), else document order."""
    found: list[tuple[int, dict[str, Any]]] = []
    for i, rule in enumerate(schema_object.get("quality") or []):
        found.append((len(found), _expectation(rule, None, f"{where}.quality.{i}") | {"_id": rule.get("id")}))
    for p, prop in enumerate(schema_object.get("properties") or []):
        for i, rule in enumerate(prop.get("quality") or []):
            entry = _expectation(rule, prop["name"], f"{where}.properties.{p}.quality.{i}")
            found.append((len(found), entry | {"_id": rule.get("id")}))
    ids = [_RULE_ID.match(str(entry["_id"] or "")) for _, entry in found]
    if found and all(ids):
        found.sort(key=lambda item: int(ids[item[0]].group(1)))  # type: ignore[union-attr]
    return [{k: v for k, v in entry.items() if k != "_id"} for _, entry in found]


def _pick_schema(document: dict[str, Any], dataset: str | None) -> tuple[int, dict[str, Any]]:
    objects = document.get("schema") or []
    if dataset is not None:
        matches = [(i, o) for i, o in enumerate(objects) if o.get("name") == dataset]
    else:
        matches = list(enumerate(objects))
    if len(matches) != 1:
        names = [o.get("name") for o in objects]
        raise ContractError(
            f"the ODCS document has schema objects {names}: name the one to import (a Lockgate contract is one dataset)"
        )
    return matches[0]


def from_odcs(document: Any, dataset: str | None = None) -> dict[str, Any]:
    """The Lockgate contract (as the YAML file holds it) of one schema object of an ODCS document.

    The document must pass the ODCS schema; the result passes :func:`~lockgate.contracts.parse_contract`
    (which this calls, so every refusal names its place). Raises :class:`ContractError`.
    """
    from lockgate.contracts import parse_contract

    if problems := odcs_problems(document):
        raise ContractError("not a valid ODCS document:\n" + "\n".join(problems))
    index, schema_object = _pick_schema(document, dataset)
    where = f"schema.{index}"
    name = schema_object.get("physicalName") or schema_object["name"]
    properties = schema_object.get("properties") or []
    columns = {p["name"]: _column_spec(p, f"{where}.properties.{i}") for i, p in enumerate(properties)}
    expectations = _rules_in_order(schema_object, where)
    for prop in properties:  # ``unique: true`` written by hand, without a rule behind it
        unique = {"expectation": "expect_column_values_to_be_unique", "kwargs": {"column": prop["name"]}}
        if prop.get("unique") and not any(unique.items() <= e.items() for e in expectations):
            expectations.append({**unique, "severity": "fail", "description": f"columns.{prop['name']}.unique"})
    custom = _customs(schema_object)
    raw: dict[str, Any] = {"dataset": name, "version": _major(document.get("version"))}
    description = schema_object.get("description") or (document.get("description") or {}).get("purpose")
    if description:
        raw["description"] = description
    if isinstance(document.get("team"), dict) and document["team"].get("name"):
        raw["owner"] = document["team"]["name"]
    raw["columns"] = columns
    raw["primary_key"] = _positioned(properties, "primaryKey", "primaryKeyPosition")
    raw["partition_keys"] = _positioned(properties, "partitioned", "partitionKeyPosition")
    if custom.get("lockgateEventTime"):
        raw["event_time"] = custom["lockgateEventTime"]
    if "lockgateSchemaDrift" in custom:
        raw["schema_drift"] = dict(custom["lockgateSchemaDrift"])
    if "lockgateMinReplaceShare" in custom:
        raw["min_replace_share"] = custom["lockgateMinReplaceShare"]
    raw["expectations"] = expectations
    raw = {k: v for k, v in raw.items() if v not in ([], None)}
    parse_contract(raw, source=f"ODCS {document.get('id')} {where}")
    return raw


def _positioned(properties: list[dict[str, Any]], flag: str, position: str) -> list[str]:
    """The names of the flagged properties, by their 1-based position (unpositioned ones last)."""
    flagged = [(p.get(position, -1), i, p["name"]) for i, p in enumerate(properties) if p.get(flag)]
    return [name for pos, i, name in sorted(flagged, key=lambda t: (t[0] < 1, t[0], t[1]))]


def _major(version: Any) -> int:
    """``"3.1.0"`` -> 3; a version without a leading number is 1 (Lockgate's default)."""
    match = re.match(r"\s*v?(\d+)", str(version or ""))
    return max(int(match.group(1)), 1) if match else 1


# -- files ------------------------------------------------------------------------------------------


def export_file(dataset_or_path: str) -> dict[str, Any]:
    """The ODCS document of a contract file (a dataset name or a path), its ``owner`` included."""
    import yaml

    from lockgate.contracts import contract_path, load_contract

    contract = load_contract(dataset_or_path)
    with open(contract_path(dataset_or_path), encoding="utf-8") as fh:
        owner = (yaml.safe_load(fh) or {}).get("owner")
    return to_odcs(contract, owner)


def import_file(path: str, dataset: str | None = None) -> str:
    """The text of a Lockgate contract file from an ODCS YAML (or JSON) file."""
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            document = yaml.safe_load(fh)
    except OSError as exc:
        raise ContractError(f"{path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ContractError(f"{path}: not valid YAML: {exc}") from None
    raw = from_odcs(document, dataset)
    header = f"# imported from the ODCS contract {document.get('id')!r} ({path}) by `lockgate contract import`\n"
    return header + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, width=120)
