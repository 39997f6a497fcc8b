"""Parse cost of YAML pipelines: 100 pipeline files in one pass, and one DAG file.

    .venv/bin/python bench/parse_pipelines.py [--pipelines 100] [--repeat 5] [--json out.json]

Each measurement runs in a fresh Python process, the way Airflow's dag-processor parses a file in a
child process: Airflow itself (``airflow.sdk`` and the DagBag) is imported first and not timed -
the processor has it loaded already - then the timed part is ``DagBag(<file>)``: importing the DAG
file with everything it imports (Lockgate's factory, operators, PyYAML, jsonschema), validating
every spec (schema, contracts, alert targets, schedule) and building and validating every DAG.

* ``100 pipelines``: a DAGs folder with ``yaml_pipelines.py`` and 100 generated specs, each a
  sales-distribution-like pipeline (a fanned-out source, a route to two datasets, two loads,
  12 tasks) with its own three contracts. Budget: 3 s.
* ``one DAG file``: this repository's ``dags/yaml_pipelines.py`` (its real specs) and
  ``dags/air_quality_daily.py``, each on its own. Budget: 0.5 s.

Reports the median of ``--repeat`` runs (min and max too) and exits 1 when a budget is exceeded.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUDGET_MANY_S = 3.0
BUDGET_ONE_S = 0.5

PROBE = """
import json, sys, time
import airflow.sdk  # loaded in the dag-processor already: not timed
from airflow.dag_processing.dagbag import DagBag
start = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
elapsed = time.perf_counter() - start
broken = sorted(d for d, dag in bag.dags.items() if "broken-spec" in dag.tags)
print(json.dumps({"seconds": elapsed, "dags": len(bag.dags), "tasks": sum(len(d.tasks) for d in bag.dags.values()),
                  "import_errors": len(bag.import_errors), "broken": broken}))
"""

SPEC = """\
dag_id: {name}
description: Generated pipeline {n} for the parse benchmark.
owners: [bench-team]
tags: [bench]
schedule: "@daily"
start_date: 2026-01-01
catchup: false
alerts:
  default: ["webhook:lockgate_alerts"]
sources:
  location: {{variable: {name}_source_url, sample: {{generator: "lockgate.sample_sales:generate"}}}}
  files:
    - {{id: pos, dataset: {name}_sales, path: "pos/sales_{{{{ ds }}}}_part-*.csv", format: csv, fan_out: true}}
datasets:
  {name}_sales: {{preprocess: {{drop_exact_duplicates: true}}}}
  {name}_money: {{}}
  {name}_stock: {{}}
routes:
  - from: {name}_sales
    max_unrouted_percent: 2
    rules:
      - target: {name}_money
        when: {{record_type: {{in: [sale, refund]}}}}
      - target: {name}_stock
        when: {{any: [{{record_type: restock}}, {{record_type: {{in: [transfer_in, transfer_out, writeoff]}}}}]}}
loads:
  - {{dataset: {name}_money, table: {name}_ledger, mode: replace_partition}}
  - {{dataset: {name}_stock, table: {name}_movements, mode: merge}}
"""


def make_folder(root: Path, count: int) -> tuple[Path, Path]:
    """A DAGs folder with ``count`` generated specs and an include folder with their contracts."""
    dags, include = root / "dags", root / "include"
    (dags / "pipelines").mkdir(parents=True)
    shutil.copy(REPO / "dags" / "yaml_pipelines.py", dags / "yaml_pipelines.py")
    (include / "contracts").mkdir(parents=True)
    shutil.copy(REPO / "include" / "pipeline.schema.json", include / "pipeline.schema.json")
    shutil.copy(REPO / "include" / "contracts" / "contract.schema.json", include / "contracts" / "contract.schema.json")
    templates = {
        "sales": (REPO / "include" / "contracts" / "sales.yaml").read_text(),
        "money": (REPO / "include" / "contracts" / "sales_accounting.yaml").read_text(),
        "stock": (REPO / "include" / "contracts" / "sales_supply_chain.yaml").read_text(),
    }
    for n in range(count):
        name = f"bench_{n:03d}"
        (dags / "pipelines" / f"{name}.yaml").write_text(SPEC.format(name=name, n=n))
        for suffix, text in templates.items():
            original = {"sales": "sales", "money": "sales_accounting", "stock": "sales_supply_chain"}[suffix]
            contract = text.replace(f"dataset: {original}\n", f"dataset: {name}_{suffix}\n")
            (include / "contracts" / f"{name}_{suffix}.yaml").write_text(contract)
    return dags, include


def measure(target: Path, include: Path | None, repeat: int, home: Path) -> dict[str, object]:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(target if target.is_dir() else target.parent),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
        "GX_ANALYTICS_ENABLED": "False",
    }
    if include is not None:
        env["LOCKGATE_INCLUDE_DIR"] = str(include)
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", PROBE, str(target)], env=env, capture_output=True, text=True, check=True, cwd=REPO
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    seconds = [float(r["seconds"]) for r in runs]
    return {
        **{k: runs[0][k] for k in ("dags", "tasks", "import_errors", "broken")},
        "median_s": statistics.median(seconds),
        "min_s": min(seconds),
        "max_s": max(seconds),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pipelines", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="lockgate-parse-bench-") as tmp:
        root = Path(tmp)
        dags, include = make_folder(root / "many", args.pipelines)
        home = root / "airflow"
        home.mkdir()
        results = {
            f"{args.pipelines} pipelines, one pass (yaml_pipelines.py)": (
                measure(dags / "yaml_pipelines.py", include, args.repeat, home),
                BUDGET_MANY_S,
            ),
            "one DAG file: dags/yaml_pipelines.py": (
                measure(REPO / "dags" / "yaml_pipelines.py", None, args.repeat, home),
                BUDGET_ONE_S,
            ),
            "one DAG file: dags/air_quality_daily.py": (
                measure(REPO / "dags" / "air_quality_daily.py", None, args.repeat, home),
                BUDGET_ONE_S,
            ),
        }

    ok = True
    print(f"{'what':<58}{'dags':>6}{'tasks':>7}{'median':>9}{'min':>8}{'max':>8}{'budget':>8}")
    for label, (r, budget) in results.items():
        passed = float(r["median_s"]) < budget and not r["import_errors"] and not r["broken"]  # type: ignore[arg-type]
        ok &= passed
        print(
            f"{label:<58}{r['dags']:>6}{r['tasks']:>7}{r['median_s']:>8.3f}s{r['min_s']:>7.3f}s{r['max_s']:>7.3f}s"
            f"{budget:>7.1f}s {'ok' if passed else 'OVER'}"
        )
    print(f"({args.repeat} runs each, a fresh process per run; python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
    if args.json:
        args.json.write_text(json.dumps({k: {**v[0], "budget_s": v[1]} for k, v in results.items()}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
