"""lockgate.odcs: contracts to and from the Open Data Contract Standard v3.1.0.

Every document is checked with the standard's own JSON schema (include/odcs/), read here directly
with jsonschema rather than through lockgate.odcs, and every shipped contract makes the whole trip:
contract -> ODCS YAML text -> schema -> Lockgate YAML text -> the same Contract.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from lockgate.cli import main
from lockgate.config import include_dir
from lockgate.contracts import Contract, ContractError, load_contract, parse_contract
from lockgate.odcs import from_odcs, to_odcs

SCHEMA_FILE = include_dir() / "odcs" / "odcs-json-schema-v3.1.0.json"
CONTRACTS = sorted(p for p in (include_dir() / "contracts").glob("*.yaml"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2019-09/schema"
    return jsonschema.Draft201909Validator(schema)


def _same(a: Contract, b: Contract) -> bool:
    return dataclasses.replace(a, path="") == dataclasses.replace(b, path="")


def _trip(contract: Contract, owner: str | None, validator: Any) -> tuple[dict[str, Any], dict[str, Any], Contract]:
    """Export, write and re-read as YAML text, validate, import, write and re-read, parse."""
    document = yaml.safe_load(yaml.safe_dump(to_odcs(contract, owner), sort_keys=False))
    validator.validate(document)
    raw = yaml.safe_load(yaml.safe_dump(from_odcs(document), sort_keys=False))
    return document, raw, parse_contract(raw, source="<imported>")


def test_there_are_contracts_to_trip() -> None:
    assert len(CONTRACTS) >= 10


@pytest.mark.parametrize("path", CONTRACTS, ids=lambda p: p.stem)
def test_every_shipped_contract_round_trips_through_valid_odcs(path: Path, validator: Any) -> None:
    contract = load_contract(path)
    owner = yaml.safe_load(path.read_text(encoding="utf-8")).get("owner")
    document, raw, back = _trip(contract, owner, validator)

    assert _same(back, contract), path
    assert raw.get("owner") == owner
    (table,) = document["schema"]
    assert document["apiVersion"] == "v3.1.0"
    assert table["name"] == contract.dataset
    properties = {p["name"]: p for p in table["properties"]}
    assert list(properties) == contract.column_names
    for column in contract.columns:
        prop = properties[column.name]
        assert prop["required"] is (not column.nullable)
        assert prop["physicalType"] == column.type
        assert prop.get("classification") == ("pii" if column.pii_mode else None)
    assert [p["name"] for p in table["properties"] if p.get("primaryKey")] == sorted(
        contract.primary_key, key=lambda n: properties[n]["primaryKeyPosition"]
    )
    assert [properties[n]["primaryKeyPosition"] for n in contract.primary_key] == list(
        range(1, len(contract.primary_key) + 1)
    )
    assert [properties[n]["partitionKeyPosition"] for n in contract.partition_keys] == list(
        range(1, len(contract.partition_keys) + 1)
    )
    rules = [*table.get("quality", []), *(r for p in table["properties"] for r in p.get("quality", []))]
    assert len(rules) == len(contract.expectations)
    assert {r["severity"] for r in rules} <= {"fail", "warn", "quarantine"}


FULL = {
    "dataset": "customers",
    "version": 3,
    "description": "Every feature a contract has, once.",
    "owner": "crm-team",
    "columns": {
        "customer_id": {"type": "string", "nullable": False, "unique": True, "description": "CU-<n>"},
        "email": {"type": "string", "pii": "mask"},
        "name": {"type": "string", "pii": True},
        "phone": {"type": "string", "pii": "hash"},
        "country": {"type": "string", "nullable": False, "allowed": ["DE", "FR"]},
        "tier": {"type": "integer"},
        "balance": {"type": "double"},
        "active": {"type": "boolean"},
        "born_on": {"type": "date", "format": ["%d/%m/%Y", "%Y%m%d"]},
        "signed_up_at": {
            "type": "timestamp",
            "nullable": False,
            "format": "%Y-%m-%d %H:%M",
            "timezone": "Europe/Paris",
        },
    },
    "primary_key": ["country", "customer_id"],
    "partition_keys": ["tier", "country"],
    "event_time": "signed_up_at",
    "schema_drift": {"raw": "fail", "curated": "evolve", "types": "inferred"},
    "min_replace_share": 0.2,
    "expectations": [
        {"expectation": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}, "severity": "fail"},
        {
            "expectation": "expect_column_values_to_be_between",
            "kwargs": {
                "column": "balance",
                "min_value": 0,
                "row_condition": 'country == "DE"',
                "condition_parser": "pandas",
            },
            "severity": "quarantine",
            "description": "German balances are never negative.",
        },
        {
            "expectation": "expect_compound_columns_to_be_unique",
            "kwargs": {"column_list": ["email", "phone"]},
            "severity": "warn",
        },
    ],
}


def test_a_contract_with_every_feature_round_trips(validator: Any) -> None:
    contract = parse_contract(FULL, source="<full>")
    document, _raw, back = _trip(contract, "crm-team", validator)
    assert _same(back, contract)
    assert back.column("name").pii is True  # not turned into "hash": the contract said true
    assert back.column("born_on").formats == ("%d/%m/%Y", "%Y%m%d")

    (table,) = document["schema"]
    properties = {p["name"]: p for p in table["properties"]}
    assert document["version"] == "3.0.0"
    assert document["team"] == {"name": "crm-team"}
    assert properties["balance"]["logicalType"] == "number"
    assert properties["balance"]["physicalType"] == "double"
    assert properties["email"]["classification"] == "pii"
    assert {"property": "lockgatePii", "value": "mask"} in properties["email"]["customProperties"]
    assert {"property": "lockgateTimezone", "value": "Europe/Paris"} in properties["signed_up_at"]["customProperties"]
    assert properties["customer_id"]["unique"] is True
    assert (properties["customer_id"]["primaryKeyPosition"], properties["country"]["primaryKeyPosition"]) == (2, 1)
    assert (properties["tier"]["partitionKeyPosition"], properties["country"]["partitionKeyPosition"]) == (1, 2)
    # a rule on one column sits on its property; table rules on the schema object
    assert [r["implementation"]["expectation_type"] for r in table["quality"]] == [
        "expect_table_row_count_to_be_between",
        "expect_compound_columns_to_be_unique",
    ]
    (allowed,) = properties["country"]["quality"]
    assert allowed["implementation"]["kwargs"] == {"column": "country", "value_set": ["DE", "FR"]}
    assert allowed["severity"] == "quarantine"
    custom = {c["property"]: c["value"] for c in table["customProperties"]}
    assert custom == {
        "lockgateEventTime": "signed_up_at",
        "lockgateSchemaDrift": {"raw": "fail", "curated": "evolve", "types": "inferred"},
        "lockgateMinReplaceShare": 0.2,
    }


def test_the_schema_is_the_standards_and_refuses_what_it_should(validator: Any) -> None:
    assert hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest() in (SCHEMA_FILE.parent / "README.md").read_text()
    document = to_odcs(load_contract("readings"), "air-quality-team")
    assert not list(validator.iter_errors(document))
    without_status = {k: v for k, v in document.items() if k != "status"}
    assert any("'status' is a required property" in e.message for e in validator.iter_errors(without_status))
    unknown_field = json.loads(json.dumps(document))
    unknown_field["schema"][0]["properties"][0]["nullable"] = False  # a Lockgate word, not an ODCS one
    assert list(validator.iter_errors(unknown_field))


ELSEWHERE = """
apiVersion: v3.0.2
kind: DataContract
id: 53581432-6c55-4ba2-a65f-72344a91553a
version: 2.1.0
status: active
team:
  name: orders-team
schema:
  - name: orders
    physicalName: orders_v2
    physicalType: table
    quality:
      - type: library
        metric: rowCount
        mustBeGreaterThan: 0
        severity: error
    properties:
      - name: order_id
        logicalType: string
        required: true
        unique: true
        primaryKey: true
        primaryKeyPosition: 1
      - name: customer_email
        logicalType: string
        classification: pii
        quality:
          - type: library
            metric: nullValues
            mustBe: 0
            severity: warning
      - name: amount
        logicalType: number
        physicalType: DECIMAL(12,2)
      - name: placed_on
        logicalType: date
"""


def test_an_odcs_contract_written_elsewhere_imports_with_its_checks() -> None:
    raw = from_odcs(yaml.safe_load(ELSEWHERE))
    contract = parse_contract(raw, source="<orders>")
    assert contract.dataset == "orders_v2"
    assert contract.version == 2
    assert raw["owner"] == "orders-team"
    assert [(c.name, c.type, c.nullable) for c in contract.columns] == [
        ("order_id", "string", False),
        ("customer_email", "string", True),
        ("amount", "double", True),  # DECIMAL(12,2) is no Lockgate type: the logical type decides
        ("placed_on", "date", True),
    ]
    assert contract.column("customer_email").pii_mode == "hash"
    assert contract.primary_key == ("order_id",)
    assert [(e.expectation, e.severity, e.kwargs) for e in contract.expectations] == [
        ("expect_table_row_count_to_be_between", "fail", {"min_value": 1}),
        ("expect_column_values_to_not_be_null", "warn", {"column": "customer_email"}),
        ("expect_column_values_to_be_unique", "fail", {"column": "order_id"}),
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["schema"][0]["properties"][2].update(
                quality=[{"type": "sql", "query": "SELECT count(*) FROM orders WHERE amount < 0", "mustBe": 0}]
            ),
            "schema.0.properties.2.quality.0: a 'sql' rule cannot be enforced by Lockgate's gate",
        ),
        (
            lambda d: d["schema"][0]["properties"][2].update(
                quality=[{"type": "custom", "engine": "soda", "implementation": "checks for orders: ..."}]
            ),
            "schema.0.properties.2.quality.0: a 'custom' rule of engine 'soda' cannot be enforced",
        ),
        (
            lambda d: d["schema"][0]["properties"][3].update(logicalType="array"),
            "schema.0.properties.3: logicalType 'array' has no Lockgate column type",
        ),
        (lambda d: d.pop("status"), "not a valid ODCS document:\n<root>: 'status' is a required property"),
        (
            lambda d: d["schema"].append({"name": "refunds", "properties": [{"name": "id", "logicalType": "string"}]}),
            "the ODCS document has schema objects ['orders', 'refunds']: name the one to import",
        ),
        (
            lambda d: d["schema"][0]["quality"][0].update(severity="catastrophic"),
            "schema.0.quality.0: severity 'catastrophic' is not fail, warn, quarantine, error or info",
        ),
    ],
    ids=["sql-rule", "soda-rule", "array-type", "no-status", "two-schemas", "unknown-severity"],
)
def test_what_the_gate_could_not_enforce_is_refused_with_its_place(change: Any, message: str) -> None:
    document = yaml.safe_load(ELSEWHERE)
    change(document)
    with pytest.raises(ContractError) as refused:
        from_odcs(document)
    assert message in str(refused.value)


def test_cli_export_then_import_gives_the_same_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    odcs_file = tmp_path / "readings.odcs.yaml"
    assert main(["contract", "export", "readings", "--format", "odcs", "-o", str(odcs_file)]) == 0
    assert yaml.safe_load(odcs_file.read_text())["apiVersion"] == "v3.1.0"
    back = tmp_path / "readings.yaml"
    assert main(["contract", "import", str(odcs_file), "--format", "odcs", "-o", str(back)]) == 0
    assert back.read_text().startswith("# imported from the ODCS contract 'readings'")
    assert _same(load_contract(back), load_contract("readings"))

    assert main(["contract", "export", "readings", "--format", "odcs"]) == 0  # stdout
    assert re.search(r"^apiVersion: v3\.1\.0$", capsys.readouterr().out, re.MULTILINE)

    broken = tmp_path / "broken.odcs.yaml"
    broken.write_text(ELSEWHERE.replace("status: active\n", ""))
    assert main(["contract", "import", str(broken), "--format", "odcs"]) == 1
    assert "'status' is a required property" in capsys.readouterr().err
