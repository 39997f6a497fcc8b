"""The Data health page's server time for 50 datasets x 365 days (issue 18: at most 1 s).

    python -m bench.health_page [--datasets 50] [--days 365] [--runs 5]

Generates a year of gate reports (with the checks, quarantine reasons, examples and column metrics
a real report has) and run summaries (10 pipelines) in a local lake under a temporary folder, then
times what the page's request handler does -- :func:`lockgate.ui.health.lake_health` plus
:func:`lockgate.ui.render.render_page` -- for the whole year:

* **cold**: the first request after the api-server starts: nothing in memory; the lake's compact
  index (one object per dataset and year, kept by the tasks that write the reports and summaries:
  :mod:`lockgate.health_index`) is read instead of 21,000 documents (``--no-index``: a lake
  without it, every document read and parsed);
* **warm**: the requests after it (the documents cached, the lake listed again and each object's
  size and mtime compared: a rewritten report is read again).

Prints one JSON line (wall and CPU seconds: on a busy machine the CPU time is the steadier number)
and exits 1 when the cold or the warm median CPU time exceeds the budget (with the index).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

BUDGET_SECONDS = 1.0
TODAY = date(2026, 12, 31)
CHECKS = (
    ("expect_column_values_to_be_between(value)", "quarantine", {"column": "value", "min_value": 0, "max_value": 1000}),
    ("expect_column_values_to_be_in_set(pollutant)", "quarantine", {"column": "pollutant", "value_set": ["pm25"]}),
    ("expect_column_values_to_match_regex(station_id)", "fail", {"column": "station_id", "regex": "^ST-"}),
    ("expect_compound_columns_to_be_unique(station_id,observed_at)", "fail", {"column_list": ["a", "b"]}),
    ("expect_table_row_count_to_be_between(table)", "fail", {"min_value": 1}),
    ("expect_column_max_to_be_between(value)", "warn", {"column": "value", "max_value": 500}),
    ("expect_column_mean_to_be_between(value)", "warn", {"column": "value", "min_value": 1, "max_value": 90}),
    ("expect_column_newest_value_to_be_fresh(observed_at)", "warn", {"column": "observed_at", "max_age_hours": 48}),
)
BUILTIN = ("not_null", "type", "parse", "event_time")


def _report(dataset: str, ds: str, rng: random.Random) -> dict[str, Any]:
    rows_in = rng.randint(5_000, 9_000)
    by_check = {name: rng.randint(0, 9) for name in rng.sample(BUILTIN, 2)}
    quarantined = sum(by_check.values())
    duplicates = rng.randint(0, 5)
    checks = [
        {
            "check": name,
            "expectation": name.split("(")[0],
            "kwargs": kwargs,
            "severity": severity,
            "success": rng.random() > 0.05,
            "observed_value": round(rng.uniform(0, 600), 2),
            "element_count": rows_in,
            "unexpected_count": 0,
            "examples": [],
        }
        for name, severity, kwargs in CHECKS
    ]
    return {
        "dataset": dataset,
        "ds": ds,
        "contract": f"{dataset}.yaml",
        "rows_in": rows_in,
        "rows_passed": rows_in - quarantined - duplicates,
        "rows_quarantined": quarantined,
        "duplicates_removed": duplicates,
        "quarantine_by_check": by_check,
        "quarantine_by_column": {"value": quarantined},
        "quarantine_examples": {
            k: [f"f.csv: row {i}: column value: 'x' is not a double" for i in range(5)] for k in by_check
        },
        "column_metrics": {f"c{i}": {"nulls": 0, "min": 0, "max": 1, "distinct": 10} for i in range(12)},
        "files": [{"file": f"raw/{dataset}/ds={ds}/part-0.csv", "rows": rows_in, "bytes": rows_in * 60}],
        "checks": checks,
        "failed": [],
        "warnings": [c["check"] for c in checks if not c["success"] and c["severity"] == "warn"],
        "success": True,
    }


def generate(lake: Path, *, datasets: int, days: int, pipelines: int = 10, index: bool = True) -> None:
    """A year of reports and summaries in ``lake`` (the layout LakeHook reads); one day in 40 missing.

    ``index``: also write the compact index the quality gate and the run summary keep next to
    their documents (:mod:`lockgate.health_index`), as a lake written by Lockgate's tasks has it.
    """
    rng = random.Random(18)
    written: dict[tuple[str, str], dict[str, tuple[dict[str, Any], Any]]] = {}
    names = [f"dataset_{i:02d}" for i in range(datasets)]
    for day in range(days):
        ds = (TODAY - timedelta(days=day)).isoformat()
        if rng.random() < 0.025:
            continue
        per_dag: dict[int, list[dict[str, Any]]] = {}
        for i, name in enumerate(names):
            report = _report(name, ds, rng)
            folder = lake / "quality" / name / f"ds={ds}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "report.json").write_text(json.dumps(report), encoding="utf-8")
            written.setdefault(("quality", name), {})[ds] = (report, folder / "report.json")
            per_dag.setdefault(i % pipelines, []).append(
                {
                    "dataset": name,
                    "table": f"t_{name}",
                    "rows_loaded": report["rows_passed"],
                    "rows_in": report["rows_in"],
                }
            )
        for dag, entries in per_dag.items():
            folder = lake / "reports" / f"pipeline_{dag}" / f"ds={ds}"
            folder.mkdir(parents=True, exist_ok=True)
            summary = {
                "dag_id": f"pipeline_{dag}",
                "run_id": f"scheduled__{ds}",
                "ds": ds,
                "written_at": f"{ds}T06:00:00+00:00",
                "pipeline": {
                    "schedule": "@daily",
                    "late_batch_after_hours": 30,
                    "gated": [e["dataset"] for e in entries],
                },
                "datasets": entries,
            }
            (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
            written.setdefault(("reports", f"pipeline_{dag}"), {})[ds] = (summary, folder / "summary.json")
    if index:
        _write_index(lake, written)


def _write_index(lake: Path, written: dict[tuple[str, str], dict[str, tuple[dict[str, Any], Any]]]) -> None:
    """The index entries the tasks record after writing each document (one index write per folder and year)."""
    from lockgate.health_index import write_all
    from lockgate.hooks.lake import LakeHook, LakeObject

    hook = LakeHook()
    for (zone, group), documents in written.items():
        objects = {
            ds: (document, LakeObject(path.relative_to(lake).as_posix(), path.stat().st_size))
            for ds, (document, path) in documents.items()
        }
        write_all(hook, zone, group, objects)


def measure(*, datasets: int, days: int, runs: int, index: bool = True) -> dict[str, Any]:
    """Seconds per page request (lake read + aggregation + HTML) for the whole range, cold and warm."""
    with tempfile.TemporaryDirectory(prefix="lockgate-bench-health-") as home:
        os.environ["LOCKGATE_HOME"] = home
        os.environ.pop("AIRFLOW_CONN_LOCKGATE_LAKE", None)
        generate(Path(home) / "lake", datasets=datasets, days=days, index=index)

        from lockgate.hooks.lake import LakeHook
        from lockgate.ui.health import lake_health
        from lockgate.ui.render import render_page

        def request() -> tuple[float, float, int]:
            started, cpu = time.perf_counter(), time.process_time()
            lake = LakeHook()
            health = lake_health(lake, today=TODAY, days=days)
            html = render_page(health, lake_url=lake.url)
            return time.perf_counter() - started, time.process_time() - cpu, len(html)

        cold, cold_cpu, size = request()
        warm = [request()[:2] for _ in range(runs)]
    return {
        "datasets": datasets,
        "days": days,
        "cold_seconds": round(cold, 3),
        "cold_cpu_seconds": round(cold_cpu, 3),
        "warm_median_seconds": round(statistics.median(w for w, _ in warm), 3),
        "warm_median_cpu_seconds": round(statistics.median(c for _, c in warm), 3),
        "warm_max_seconds": round(max(w for w, _ in warm), 3),
        "html_bytes": size,
        "budget_seconds": BUDGET_SECONDS,
        "index": index,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=50)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-index", action="store_true", help="a lake without the compact index (cold reads all)")
    args = parser.parse_args(argv)
    result = measure(datasets=args.datasets, days=args.days, runs=args.runs, index=not args.no_index)
    print(json.dumps(result))
    # the budget is for the first request (cold) too; CPU time, which a busy machine does not inflate
    within = max(result["cold_cpu_seconds"], result["warm_median_cpu_seconds"]) <= BUDGET_SECONDS
    return 0 if within or args.no_index else 1


if __name__ == "__main__":
    sys.exit(main())
