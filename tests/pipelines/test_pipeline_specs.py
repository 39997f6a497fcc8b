"""CI over the pipeline specs: every file in dags/pipelines validates, and broken ones say where.

A broken spec fails here with ``<file>:<line>: <field>: <problem>`` for every problem, before it
ever reaches an Airflow deployment.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from lockgate.config import include_dir
from lockgate.pipelines.spec import PipelineSpecError, load_all, load_spec, spec_files

REPO = Path(__file__).resolve().parents[2]
PIPELINES_DIR = REPO / "dags" / "pipelines"
SPECS = spec_files(PIPELINES_DIR)
SALES = PIPELINES_DIR / "sales_distribution.yaml"


def test_there_are_specs() -> None:
    assert SALES in SPECS


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_spec_validates(path: Path) -> None:
    try:
        spec = load_spec(path)
    except PipelineSpecError as exc:
        pytest.fail(str(exc), pytrace=False)
    assert spec.dag_id
    assert spec.loads


def test_specs_do_not_take_each_others_dags_datasets_or_tables() -> None:
    specs, errors = load_all(PIPELINES_DIR)
    assert [str(e) for e in errors] == []
    assert len(specs) == len(SPECS)


def test_the_schema_is_a_valid_json_schema_with_documented_fields() -> None:
    import jsonschema

    schema = json.loads((include_dir() / "pipeline.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    undocumented = [
        name for name, field in schema["properties"].items() if "description" not in field and "$ref" not in field
    ]
    assert set(undocumented) <= {"max_active_runs"}, undocumented


# ---------------------------------------------------------------------------------- broken specs


def sales_spec() -> dict[str, Any]:
    return yaml.safe_load(SALES.read_text())


def write(tmp_path: Path, raw: dict[str, Any] | str, name: str = "broken.yaml") -> Path:
    path = tmp_path / name
    path.write_text(raw if isinstance(raw, str) else yaml.safe_dump(raw, sort_keys=False))
    return path


def problems(path: Path) -> list[tuple[str, str, int | None]]:
    with pytest.raises(PipelineSpecError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert all(line.startswith(f"{path}:") for line in message.splitlines()), message
    return caught.value.problems


def edit(change: Any) -> dict[str, Any]:
    raw = sales_spec()
    change(raw)
    return raw


BROKEN = {
    "unknown load mode": (lambda r: r["loads"][0].update(mode="upsert"), "loads.0.mode", "is not one of"),
    "retries below the house rule": (lambda r: r.update(retries=1), "retries", "less than the minimum of 2"),
    "no owners": (lambda r: r.update(owners=[]), "owners", "should be non-empty"),
    "unknown field": (lambda r: r.update(schedule_interval="@daily"), "", "Additional properties"),
    "bad start date": (lambda r: r.update(start_date="Jan 1st"), "start_date", "does not match"),
    "no failure alert": (
        lambda r: r.update(alerts={"task_retry": ["webhook:lockgate_alerts"]}),
        "alerts",
        "task_failure",
    ),
    "unknown alert kind": (
        lambda r: r["alerts"].update(task_failure=["pager:oncall"]),
        "alerts.task_failure",
        "expected one of webhook",
    ),
    "missing contract": (lambda r: r["datasets"].update(refunds={}), "datasets.refunds.contract", "not found"),
    "dataset nothing feeds": (
        lambda r: (
            r["datasets"].update(sales_supply_chain={"contract": "sales_supply_chain"}) or r["routes"][0]["rules"].pop()
        ),
        "datasets.sales_supply_chain",
        "nothing feeds this dataset",
    ),
    "unknown column in a rule": (
        lambda r: r["routes"][0]["rules"][0].update(when={"record_typ": "sale"}),
        "routes.0.rules.0.when.record_typ",
        "unknown column 'record_typ'",
    ),
    "wrongly typed rule value": (
        lambda r: r["routes"][0]["rules"][1].update(when={"quantity": {"gt": "many"}}),
        "routes.0.rules.1.when.quantity.gt",
        "is not an integer",
    ),
    "route target undeclared": (
        lambda r: r["routes"][0]["rules"][0].update(target="ledger"),
        "routes.0.rules.0.target",
        "not declared",
    ),
    "target column without source": (
        lambda r: r["routes"][0]["rules"][0].update(columns={"amount": "total"}),
        "routes.0.rules.0.columns.amount",
        "'total' is not in contract sales",
    ),
    "file into an undeclared dataset": (
        lambda r: r["sources"]["files"][0].update(dataset="orders"),
        "sources.files.0.dataset",
        "not declared",
    ),
    "bad time zone": (
        lambda r: r["sources"]["files"][0].update(timezone="Europe/Stockholmm"),
        "sources.files.0.timezone",
        "unknown IANA time zone",
    ),
    "merge without a key": (
        lambda r: r["datasets"].update(sales_accounting={"contract": "contracts/readings.yaml"}),
        "datasets.sales_accounting.contract",
        "describes dataset 'readings'",
    ),
    "bad predicate shape": (
        lambda r: r["routes"][0]["rules"][0].update(when={"record_type": {"in": "sale"}}),
        "routes.0.rules.0.when.record_type",
        "",
    ),
}


@pytest.mark.parametrize("case", BROKEN, ids=str)
def test_a_broken_spec_names_file_line_and_field(case: str, tmp_path: Path) -> None:
    change, field, message = BROKEN[case]
    path = write(tmp_path, edit(change))
    found = problems(path)
    matching = [(f, m, line) for f, m, line in found if f.startswith(field) and message in m]
    assert matching, found
    assert all(line is not None for _, _, line in matching)


def test_line_numbers_point_at_the_field(tmp_path: Path) -> None:
    text = SALES.read_text().replace("mode: merge", "mode: upsert")
    path = write(tmp_path, text)
    [(field, _, line)] = problems(path)
    assert field == "loads.1.mode"
    assert text.splitlines()[line - 1].strip() == "mode: upsert"


def test_yaml_syntax_errors_have_a_line(tmp_path: Path) -> None:
    path = write(tmp_path, "dag_id: x\nowners: [a\n")
    [(_, message, line)] = problems(path)
    assert "not valid YAML" in message
    assert line is not None


def test_merge_needs_a_primary_key(tmp_path: Path) -> None:
    include = tmp_path / "include"
    shutil.copytree(include_dir(), include)
    contract = yaml.safe_load((include / "contracts" / "sales_supply_chain.yaml").read_text())
    contract.pop("primary_key")
    (include / "contracts" / "sales_supply_chain.yaml").write_text(yaml.safe_dump(contract))
    path = write(tmp_path, sales_spec())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOCKGATE_INCLUDE_DIR", str(include))
        found = problems(path)
    assert [(f, m) for f, m, _ in found] == [
        ("loads.1.mode", "merge needs a primary_key in contract sales_supply_chain"),
        # the sample upserts the movements back to their source on that key too
        ("deliver.1", "an upsert needs a primary_key in the contract"),
    ]


def test_a_second_file_cannot_take_a_dag_id_dataset_or_table(tmp_path: Path) -> None:
    shutil.copy(SALES, tmp_path / "a_sales.yaml")
    shutil.copy(SALES, tmp_path / "b_copy.yaml")
    specs, errors = load_all(tmp_path)
    assert [s.dag_id for s in specs] == ["sales_distribution"]
    [error] = errors
    assert error.path.endswith("b_copy.yaml")
    assert {"dag_id", "datasets.sales", "loads.0.table", "loads.1.table"} <= set(error.fields)
    assert "already declared by" in str(error)


def test_files_starting_with_underscore_are_not_specs(tmp_path: Path) -> None:
    shutil.copy(SALES, tmp_path / "_draft.yaml")
    (tmp_path / "notes.txt").write_text("not a spec")
    assert spec_files(tmp_path) == []
