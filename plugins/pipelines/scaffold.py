"""``lockgate new-pipeline NAME``: a new pipeline's spec, contract, sample data and end-to-end test.

The files are a working starting point, not a template to fill in: the scaffolded test passes as
generated (run the pipeline for the sample date through ``dag.test()``, check what was loaded,
rerun), so a data engineer changes one thing at a time and keeps the test green.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

SAMPLE_DS = "2026-01-02"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,62}$")


class ScaffoldError(ValueError):
    """The pipeline cannot be scaffolded (bad name, files exist, no project found)."""


@dataclass(frozen=True)
class Scaffold:
    """What was written, relative to the project root."""

    root: Path
    spec: Path
    contract: Path
    sample: Path
    test: Path

    @property
    def files(self) -> list[Path]:
        return [self.spec, self.contract, self.sample, self.test]


def find_root(start: Path | None = None) -> Path:
    """The project root: the nearest folder (from ``start``, default the working directory) with
    ``dags/`` and ``include/``; else the folder this package was installed from."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dags").is_dir() and (folder / "include").is_dir():
            return folder
    package_root = Path(__file__).resolve().parents[2]
    if (package_root / "dags").is_dir():
        return package_root
    raise ScaffoldError(f"no Lockgate project (a folder with dags/ and include/) at or above {here}")


#: what a project must hold before anything is written into it (the spec is validated against the schema)
PROJECT_PARTS = ("dags", "include", "include/pipeline.schema.json")


def check_project(root: Path) -> None:
    """Raise :class:`ScaffoldError` naming what ``root`` lacks of a Lockgate project; write nothing."""
    missing = [part for part in PROJECT_PARTS if not (root / part).exists()]
    if missing:
        raise ScaffoldError(
            f"{root} is not a Lockgate project: no {', '.join(missing)} "
            "(run from the project or pass --root <the folder with dags/ and include/>)"
        )


SPEC = """\
# {name}: scaffolded by `lockgate new-pipeline`. Field reference: include/pipeline.schema.json.
# Change one thing at a time and keep tests/pipelines/test_{name}.py green.
dag_id: {name}
description: |
  ### {name}

  TODO: what this pipeline delivers, from which source, for whom.
owners: [{owner}]
tags: [{name}]
schedule: "@daily"
start_date: {start_date}
catchup: false
retries: 2

# event -> targets (webhook:<http conn>, slack:<slack webhook conn>, email:<address>)
alerts:
  default: ["webhook:lockgate_alerts"]

sources:
  location:
    # in production: the Airflow Variable holds a folder or s3://bucket/prefix
    variable: {name}_source_url
    # until then (and in the tests): the sample files under include/samples/{name}/
    sample: {{folder: samples/{name}}}
  files:
    - id: {dataset}
      dataset: {dataset}
      path: "{dataset}/{dataset}_{{{{ ds }}}}.csv"
      format: csv

datasets:
  {dataset}:
    # the contract is include/contracts/{dataset}.yaml (partition and primary keys come from it)
    preprocess: {{drop_exact_duplicates: true}}

loads:
  - dataset: {dataset}
    table: {table}
    mode: replace_partition
"""

CONTRACT = """\
# {dataset}: scaffolded by `lockgate new-pipeline`; describe the real columns, keys and checks.
# Reference: include/contracts/contract.schema.json.
dataset: {dataset}
version: 1
description: TODO what one row is.
owner: {owner}
columns:
  id: {{type: string, nullable: false, description: "Unique id of the record"}}
  category: {{type: string, nullable: false}}
  amount: {{type: double, nullable: false}}
  recorded_at: {{type: timestamp, nullable: false, description: "When it happened, UTC"}}
  # dates or times not in ISO 8601 declare their format (strptime-style), e.g. EPA AirData's 1/3/11:
  # day: {{type: date, format: "%m/%d/%y"}}    (what each type accepts: include/contracts/README.md)
primary_key: [id]
partition_keys: [category]        # below ds=<logical date> in the lake
event_time: recorded_at           # rows of another date are quarantined
expectations:
  - expectation: expect_column_values_to_be_between
    kwargs: {{column: amount, min_value: 0}}
    severity: quarantine          # failing rows go to quarantine with the reason
  - expectation: expect_column_values_to_be_unique
    kwargs: {{column: id}}
    severity: fail                # the run stops with a report of every failed check
  - expectation: expect_table_row_count_to_be_between
    kwargs: {{min_value: 1}}
    severity: fail
"""

# 8 rows: 5 good, an exact duplicate (dropped), a negative and an unreadable amount (quarantined)
SAMPLE = """\
id,category,amount,recorded_at
R-0001,books,12.50,{ds}T08:15:00Z
R-0002,books,7.00,{ds}T09:30:00Z
R-0003,games,59.99,{ds}T10:45:00+01:00
R-0004,games,-5.00,{ds}T11:00:00Z
R-0005,music,15.25,{ds}T12:10:00Z
R-0005,music,15.25,{ds}T12:10:00Z
R-0006,music,n/a,{ds}T13:20:00Z
R-0007,books,3.10,{ds}T14:05:00Z
"""

TEST = '''\
"""{name} end to end through Airflow's ``dag.test()`` on the embedded defaults (DuckDB warehouse).

Scaffolded by ``lockgate new-pipeline``. The sample (include/samples/{name}/) has 8 rows: 5 good,
an exact duplicate, a negative and an unreadable amount. Change EXPECTED with the sample.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from lockgate.cli import run_dag
from lockgate.hooks.lake import LakeHook
from lockgate.hooks.warehouse import WarehouseHook

pytestmark = pytest.mark.integration

DAG_ID = "{name}"
DS = "{ds}"
TABLE = "{table}"
EXPECTED = {{"rows_in": 8, "rows_quarantined": 2, "duplicates_removed": 1, "rows_loaded": 5}}


def loaded_rows() -> list[tuple]:
    warehouse = WarehouseHook()
    table = warehouse.table(TABLE)
    return warehouse.query(f"SELECT * FROM {{table}} WHERE ds = $1 ORDER BY 1", [date.fromisoformat(DS)])


def test_{name}_end_to_end(lockgate_home: Path, airflow_home: Path) -> None:
    assert run_dag(DAG_ID, DS) == "success"

    summary = LakeHook().read_json(f"reports/{{DAG_ID}}/ds={{DS}}/summary.json")
    (dataset,) = summary["datasets"]
    assert {{key: dataset[key] for key in EXPECTED}} == EXPECTED
    assert dataset["balanced"]  # rows in = loaded + quarantined + duplicates
    rows = loaded_rows()
    assert len(rows) == EXPECTED["rows_loaded"]
    assert all(row[2] >= 0 for row in rows)  # amount: the negative one is in quarantine

    # a rerun of the same date replaces it: the same rows, nothing doubled
    assert run_dag(DAG_ID, DS) == "success"
    assert loaded_rows() == rows
'''


def scaffold(
    name: str,
    *,
    root: Path | None = None,
    dataset: str | None = None,
    table: str | None = None,
    owner: str = "data-team",
    force: bool = False,
) -> Scaffold:
    """Write the four files of a new pipeline under ``root`` and check that the spec validates."""
    dataset = dataset or name
    table = table or name
    for label, value in (("NAME", name), ("--dataset", dataset), ("--table", table)):
        if not NAME_PATTERN.match(value):
            raise ScaffoldError(
                f"{label} {value!r}: use lower-case letters, digits and underscores, starting with a letter"
            )
    root = (root or find_root()).resolve()
    check_project(root)
    made = Scaffold(
        root=root,
        spec=Path("dags/pipelines") / f"{name}.yaml",
        contract=Path("include/contracts") / f"{dataset}.yaml",
        sample=Path("include/samples") / name / dataset / f"{dataset}_{SAMPLE_DS}.csv",
        test=Path("tests/pipelines") / f"test_{name}.py",
    )
    existing = [str(p) for p in made.files if (root / p).exists()]
    if existing and not force:
        raise ScaffoldError(f"already there (use --force to overwrite): {', '.join(existing)}")
    values = {
        "name": name,
        "dataset": dataset,
        "table": table,
        "owner": owner,
        "start_date": SAMPLE_DS[:8] + "01",
        "ds": SAMPLE_DS,
    }
    contents = {
        made.spec: SPEC.format(**values),
        made.contract: CONTRACT.format(**values),
        made.sample: SAMPLE.format(**values),
        made.test: TEST.format(**values),
    }
    for relative, text in contents.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    _validate(root / made.spec, root / "include")
    return made


def _validate(spec_path: Path, include: Path) -> None:
    """The scaffolded spec must validate against the project it was written into."""
    from lockgate.pipelines.spec import load_spec

    previous = os.environ.get("LOCKGATE_INCLUDE_DIR")
    os.environ["LOCKGATE_INCLUDE_DIR"] = str(include)
    try:
        load_spec(spec_path)
    finally:
        if previous is None:
            os.environ.pop("LOCKGATE_INCLUDE_DIR", None)
        else:
            os.environ["LOCKGATE_INCLUDE_DIR"] = previous
