"""Tests for ``lockgate.contracts``: the shipped contracts load, bad ones are refused precisely.

Every invalid contract is written to a real YAML file and loaded with ``load_contract``, so the
error message is checked to name that file *and* the offending field.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from lockgate.config import include_dir
from lockgate.contracts import COLUMN_TYPES, SEVERITIES, ContractError, load_contract, parse_contract

SHIPPED = sorted(p.stem for p in (include_dir() / "contracts").glob("*.yaml"))

VALID: dict[str, Any] = {
    "dataset": "widgets",
    "version": 2,
    "description": "test widgets",
    "columns": {
        "widget_id": {"type": "string", "nullable": False},
        "made_at": {"type": "timestamp"},
        "weight": {"type": "double", "description": "grams"},
        "colour": {"type": "string", "pii": True},
    },
    "primary_key": ["widget_id"],
    "partition_keys": ["colour"],
    "event_time": "made_at",
    "expectations": [
        {
            "expectation": "expect_column_values_to_be_between",
            "kwargs": {"column": "weight", "min_value": 0},
            "severity": "quarantine",
        },
        {
            "expectation": "expect_compound_columns_to_be_unique",
            "kwargs": {"column_list": ["widget_id", "made_at"]},
            "severity": "fail",
        },
        {"expectation": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}, "severity": "warn"},
    ],
}


def write(tmp_path: Path, raw: Any, name: str = "widgets.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def variant(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(VALID)
    raw.update(changes)
    return raw


def refused(tmp_path: Path, raw: Any) -> str:
    """Load ``raw`` from a file, expect a ContractError naming that file, return the message."""
    path = write(tmp_path, raw)
    with pytest.raises(ContractError) as info:
        load_contract(path)
    message = str(info.value)
    assert str(path) in message
    return message


# ------------------------------------------------------------------------------------ shipped files


def test_the_flagship_contracts_are_shipped() -> None:
    assert {"agg_air_quality_daily", "readings", "stations"} <= set(SHIPPED)


@pytest.mark.parametrize("dataset", SHIPPED)
def test_every_shipped_contract_loads_by_name_and_by_path(dataset: str) -> None:
    by_name = load_contract(dataset)
    path = include_dir() / "contracts" / f"{dataset}.yaml"
    by_path = load_contract(path)
    assert by_name == by_path
    assert by_name.dataset == dataset
    assert by_name.path == str(path)
    assert by_name.columns
    assert all(c.type in COLUMN_TYPES for c in by_name.columns)
    assert all(e.severity in SEVERITIES for e in by_name.expectations)
    assert set(by_name.primary_key) <= set(by_name.column_names)
    assert set(by_name.partition_keys) <= set(by_name.column_names)
    labels = [e.label for e in by_name.expectations]
    assert len(labels) == len(set(labels))
    # the storage schema is the contract's columns plus the logical date
    assert [c.name for c in by_name.storage_columns] == [*by_name.column_names, "ds"]
    assert by_name.storage_columns[-1].type == "date"
    assert by_name.storage_columns[-1].nullable is False


def test_readings_contract_content() -> None:
    readings = load_contract("readings")
    assert readings.column_names == ["station_id", "region", "observed_at", "pollutant", "value", "unit"]
    assert readings.column("observed_at").type == "timestamp"
    assert readings.column("value").type == "double"
    assert readings.column("value").nullable is False
    assert readings.primary_key == ("station_id", "observed_at", "pollutant")
    assert readings.partition_keys == ("region",)
    assert readings.event_time == "observed_at"
    quarantine = readings.expectations_with("quarantine")
    assert [e.kwargs["row_condition"] for e in quarantine] == [
        'pollutant in ["pm25", "pm10", "so2", "no2"]',
        'pollutant in ["o3", "co"]',
    ]
    warn = readings.expectations_with("warn")
    assert [(e.expectation, e.kwargs) for e in warn] == [
        ("expect_table_row_count_to_be_within_trailing_runs", {"runs": 7, "max_deviation": 0.5, "min_runs": 3}),
        ("expect_column_newest_value_to_be_fresh", {"column": "observed_at", "max_age_hours": 3}),
        ("expect_column_max_to_be_between", {"column": "value", "max_value": 500}),
    ]
    assert warn[-1].gx_class_name == "ExpectColumnMaxToBeBetween"
    assert warn[-1].label == "expect_column_max_to_be_between(value)"
    with pytest.raises(KeyError):
        readings.column("nope")


def test_a_valid_contract_parses_every_field(tmp_path: Path) -> None:
    contract = load_contract(write(tmp_path, VALID))
    assert contract.dataset == "widgets"
    assert contract.version == 2
    assert contract.description == "test widgets"
    assert contract.column("widget_id").nullable is False
    assert contract.column("made_at").nullable is True  # the default
    assert contract.column("weight").description == "grams"
    assert contract.column("colour").pii is True
    assert contract.primary_key == ("widget_id",)
    assert contract.partition_keys == ("colour",)
    assert contract.event_time == "made_at"
    labels = [e.label for e in contract.expectations]
    assert labels == [
        "expect_column_values_to_be_between(weight)",
        "expect_compound_columns_to_be_unique(widget_id,made_at)",
        "expect_table_row_count_to_be_between(table)",
    ]
    assert [e.label for e in contract.expectations_with("fail", "warn")] == labels[1:]


# ---------------------------------------------------------------------------------- invalid files


def test_unknown_column_type(tmp_path: Path) -> None:
    raw = variant()
    raw["columns"]["weight"]["type"] = "float"
    message = refused(tmp_path, raw)
    assert "columns.weight.type" in message
    assert "'float' is not one of" in message


def test_missing_column_type(tmp_path: Path) -> None:
    raw = variant()
    del raw["columns"]["colour"]["type"]
    message = refused(tmp_path, raw)
    assert "columns.colour: 'type' is a required property" in message


@pytest.mark.parametrize("name", ["Widgets", "1widgets", "wid-gets", "widgets/../x", ""])
def test_bad_dataset_name(tmp_path: Path, name: str) -> None:
    message = refused(tmp_path, variant(dataset=name))
    assert ": dataset: " in message
    assert "does not match" in message


def test_missing_dataset_and_unknown_top_level_field(tmp_path: Path) -> None:
    raw = variant(colour_scheme="loud")
    del raw["dataset"]
    message = refused(tmp_path, raw)
    assert "<root>: 'dataset' is a required property" in message
    assert "'colour_scheme' was unexpected" in message


def test_bad_column_name(tmp_path: Path) -> None:
    raw = variant()
    raw["columns"]["Bad Name"] = {"type": "string"}
    message = refused(tmp_path, raw)
    assert "columns" in message
    assert "'Bad Name'" in message


def test_primary_key_naming_an_undeclared_column(tmp_path: Path) -> None:
    message = refused(tmp_path, variant(primary_key=["widget_id", "serial"]))
    assert f"{tmp_path / 'widgets.yaml'}: primary_key: column 'serial' is not declared in columns" in message


def test_partition_key_naming_an_undeclared_column(tmp_path: Path) -> None:
    message = refused(tmp_path, variant(partition_keys=["size"]))
    assert "partition_keys: column 'size' is not declared in columns" in message


@pytest.mark.parametrize("key", ["column", "column_A", "column_B"])
def test_expectation_column_undeclared(tmp_path: Path, key: str) -> None:
    raw = variant()
    raw["expectations"].append(
        {"expectation": "expect_column_pair_values_to_be_equal", "kwargs": {key: "height"}, "severity": "warn"}
    )
    message = refused(tmp_path, raw)
    assert f"expectations.3.kwargs.{key}: column 'height' is not declared in columns" in message


def test_expectation_column_list_undeclared(tmp_path: Path) -> None:
    raw = variant()
    raw["expectations"][1]["kwargs"]["column_list"] = ["widget_id", "batch"]
    message = refused(tmp_path, raw)
    assert "expectations.1.kwargs.column_list: column 'batch' is not declared in columns" in message


def test_expectation_column_that_is_not_a_string(tmp_path: Path) -> None:
    raw = variant()
    raw["expectations"][0]["kwargs"]["column"] = ["weight"]
    message = refused(tmp_path, raw)
    assert "expectations.0.kwargs.column" in message


def test_expectation_with_bad_severity_and_name(tmp_path: Path) -> None:
    raw = variant()
    raw["expectations"][0]["severity"] = "panic"
    raw["expectations"][2]["expectation"] = "ExpectTableRowCount"
    message = refused(tmp_path, raw)
    assert "expectations.0.severity: 'panic' is not one of ['fail', 'warn', 'quarantine']" in message
    assert "expectations.2.expectation" in message


def test_event_time_not_a_timestamp(tmp_path: Path) -> None:
    message = refused(tmp_path, variant(event_time="weight"))
    assert "event_time: column 'weight' must have type timestamp" in message


def test_event_time_undeclared(tmp_path: Path) -> None:
    message = refused(tmp_path, variant(event_time="shipped_at"))
    assert "event_time: column 'shipped_at' is not declared in columns" in message


def test_reserved_column_ds(tmp_path: Path) -> None:
    raw = variant()
    raw["columns"]["ds"] = {"type": "date"}
    message = refused(tmp_path, raw)
    assert "columns.ds: reserved for the logical-date partition" in message


def test_duplicated_check_label(tmp_path: Path) -> None:
    raw = variant()
    # same expectation on the same column: same label, even with another severity and bounds
    raw["expectations"].append(
        {
            "expectation": "expect_column_values_to_be_between",
            "kwargs": {"column": "weight", "max_value": 10},
            "severity": "warn",
        }
    )
    message = refused(tmp_path, raw)
    assert "expectations: the same check appears twice: expect_column_values_to_be_between(weight)" in message


def test_same_expectation_with_different_row_conditions_is_allowed(tmp_path: Path) -> None:
    raw = variant()
    raw["expectations"][0]["kwargs"]["row_condition"] = 'colour == "red"'
    raw["expectations"].append(
        {
            "expectation": "expect_column_values_to_be_between",
            "kwargs": {"column": "weight", "max_value": 10, "row_condition": 'colour == "blue"'},
            "severity": "quarantine",
        }
    )
    contract = load_contract(write(tmp_path, raw))
    assert [e.label for e in contract.expectations_with("quarantine")] == [
        'expect_column_values_to_be_between(weight) where colour == "red"',
        'expect_column_values_to_be_between(weight) where colour == "blue"',
    ]


def test_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("dataset: widgets\ncolumns: {a: {type: string}\n", encoding="utf-8")
    with pytest.raises(ContractError) as info:
        load_contract(path)
    assert str(info.value).startswith(f"{path}: not valid YAML:")


def test_empty_yaml_is_not_a_contract(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    with pytest.raises(ContractError) as info:
        load_contract(path)
    assert f"{path}: <root>: None is not of type 'object'" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ContractError) as info:
        load_contract(path)
    assert str(info.value) == f"{path}: contract file not found"


def test_missing_dataset_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKGATE_INCLUDE_DIR", str(tmp_path))
    with pytest.raises(ContractError) as info:
        load_contract("ghosts")
    assert str(info.value) == f"{tmp_path.resolve() / 'contracts' / 'ghosts.yaml'}: contract file not found"


def test_contract_error_is_a_value_error_and_every_schema_problem_is_listed(tmp_path: Path) -> None:
    raw = variant(dataset="Bad", version=0)
    raw["columns"]["weight"]["type"] = "number"
    path = write(tmp_path, raw)
    with pytest.raises(ValueError, match="invalid contract") as info:
        load_contract(path)
    lines = str(info.value).splitlines()
    assert lines[0] == "invalid contract:"
    fields = [line.split(": ")[1] for line in lines[1:]]
    assert fields == ["columns.weight.type", "dataset", "version"]


def test_parse_contract_names_its_source() -> None:
    raw = variant(primary_key=["nope"])
    with pytest.raises(ContractError, match=r"^in-memory: primary_key: column 'nope'"):
        parse_contract(raw, source="in-memory")
