"""bench.report judges issue 15's targets from a results file's figures (no benchmark is run here)."""

from __future__ import annotations

from typing import Any

from bench import report

MIB = 2**20
TEN_M = 10_000_000


def spread(value: float) -> dict[str, float]:
    return {"median": value, "min": value, "max": value}


def step(task: str, work: float, process: float, rss_mib: float) -> dict[str, Any]:
    return {
        "task": task,
        "seconds": spread(work),
        "process_seconds": spread(process),
        "startup_seconds": spread(process - work),
        "phases": {},
        "peak_rss": spread(rss_mib * MIB),
        "cpu_seconds": spread(work),
        "extra": {},
    }


def measurement(key: str, work: float, process: float | None = None, rss_mib: float = 100, steps=None) -> dict:
    group, tool, rows = key.split("/")
    return {
        "key": key,
        "group": group,
        "tool": tool,
        "rows": int(rows),
        "work_seconds": spread(work),
        "process_seconds": spread(process if process is not None else work),
        "peak_rss": spread(rss_mib * MIB),
        "cpu_seconds": spread(work),
        "steps": steps or [step("x", work, process or work, rss_mib)],
    }


def chain(sfx: str, rows: int, gate: float, partition: float, load: float, rss_mib: float = 900) -> dict:
    steps = [
        step("op_ingest", 1.0, 1.2, 120),
        step("op_gate", gate, gate + 0.2, rss_mib),
        step("op_partition", partition, partition + 0.2, 500),
        step("op_load", load, load + 0.3, 400),
    ]
    total = sum(s["process_seconds"]["median"] for s in steps)
    return measurement(f"chain/lockgate{sfx}/{rows}", total, total, rss_mib, steps)


def results(measurements: list[dict], rows: list[int]) -> report.Results:
    return report.Results({"params": {"rows": rows}, "measurements": measurements})


def floors(rows: int, sfx: str = "") -> list[dict]:
    return [
        measurement(f"floor/ingest{sfx}/{rows}", 1.0),
        measurement(f"floor/gate{sfx}/{rows}", 6.0),
        measurement(f"floor/partition/{rows}", 2.0),
        measurement(f"load/adbc/{rows}", 10.0),
    ]


def by_goal(r: report.Results) -> dict[str, report.Goal]:
    return {g.goal: g for g in report.goals(r)}


def test_issue_15_verdicts_come_from_the_figures() -> None:
    r = results(
        [
            chain("", TEN_M, gate=11.0, partition=4.0, load=10.5),
            *floors(TEN_M),
            measurement(f"load/dlt/{TEN_M}", 25.0, 30.0),
            measurement(f"gate/run_gate_clean/{TEN_M}", 11.0),
            measurement(f"gate/run_gate_dirty/{TEN_M}", 13.2),
        ],
        [TEN_M],
    )
    goals = by_goal(r)
    whole = goals["10M CSV: whole chain (4 task processes, start-up included) ≤ 1.3x the sum of the stage floors"]
    # 1.2 + 11.2 + 4.2 + 10.8 = 27.4 s of process time against 19 s of floors
    assert whole.measured.startswith("1.44x")
    assert "**missed**" in whole.verdict
    assert "**met**" in goals["10M CSV: the chain no slower than the dlt pipeline (process times)"].verdict
    assert "**met**" in goals["10M CSV: gate ≤ 2.0x its floor (work)"].verdict  # 11 / 6
    partition = goals["10M CSV: partition ≤ 1.5x its floor (work)"]  # 4 / 2
    assert partition.measured.startswith("2.00x")
    assert "1.33x over the goal" in partition.verdict
    load = goals["10M CSV: load ≥ 0.9x ADBC's throughput"]  # 10 / 10.5
    assert load.measured.startswith("0.95x")
    assert "**met**" in load.verdict
    dirty = goals["10M CSV: the gate on dirty data (0.1% bad rows) ≤ 1.15x the clean time"]  # 13.2 / 11
    assert dirty.measured.startswith("1.20x")
    assert "**missed**" in dirty.verdict
    assert "not measured" in goals["the same figures for NDJSON input at 10M rows"].verdict


def test_memory_growth_is_judged_from_1m_to_100m_only_when_100m_ran() -> None:
    sizes = [1_000_000, TEN_M]
    small, big = chain("", 1_000_000, 1.0, 0.5, 1.0, rss_mib=600), chain("", TEN_M, 10.0, 3.0, 10.0, rss_mib=900)
    goals = by_goal(results([small, big], sizes))
    growth = goals["peak RSS of every task grows ≤ x1.25 from 1M to 100M rows"]
    assert growth.verdict.startswith("not measured at 100M")
    assert "x1.50" in growth.verdict
    assert "**met**" in goals["10M CSV: peak RSS of every task ≤ 1 GiB"].verdict

    huge = chain("", 100_000_000, 100.0, 30.0, 100.0, rss_mib=1100)
    goals = by_goal(results([small, big, huge], [*sizes, 100_000_000]))
    assert "**missed**" in goals["peak RSS of every task grows ≤ x1.25 from 1M to 100M rows"].verdict
    assert "1.07 GiB" in goals["100M CSV: peak RSS of every task ≤ 1 GiB"].verdict


def test_ndjson_figures_and_the_tiny_gate() -> None:
    tiny = chain("", report.TINY_ROWS, gate=0.6, partition=0.7, load=0.5)
    tiny["key"], tiny["group"] = f"startup/lockgate/{report.TINY_ROWS}", "startup"
    r = results(
        [
            chain("", TEN_M, 11.0, 3.0, 10.5),
            chain("_ndjson", TEN_M, 14.0, 3.0, 10.5),
            *floors(TEN_M),
            *floors(TEN_M, "_ndjson")[:2],
            tiny,
        ],
        [TEN_M],
    )
    goals = by_goal(r)
    assert goals["10M NDJSON: gate ≤ 2.0x its floor (work)"].measured.startswith("2.33x")
    assert "NDJSON input at 10M rows" not in " ".join(goals)
    stages = report.stages_table(r, TEN_M, "_ndjson")
    assert "| 2.33x |" in stages  # the NDJSON chain's gate against the NDJSON floor
    gate = goals[f"a {report.TINY_ROWS}-row dataset's gate task ≤ 2.0 s of process time"]
    assert gate.measured.startswith("0.80 s")
    assert "**met**" in gate.verdict


def test_retired_goals_say_where_they_went() -> None:
    r = results([chain("", TEN_M, 11.0, 3.0, 10.5), *floors(TEN_M)], [TEN_M])
    issues = {g.issue for g in report.goals(r)}
    assert "3" not in issues  # its RSS goals now live in issue 15's
    assert all(now.startswith("15:") for _, _, now in report.RETIRED)


def test_a_big_day_measured_apart_is_merged_for_memory_only() -> None:
    """make bench's BENCH_BIG_ROWS step: the chain alone at 100M, in a results file of its own."""
    sizes = [1_000_000, TEN_M]
    main = {
        "params": {"rows": sizes},
        "data": [],
        "measurements": [
            chain("", 1_000_000, 1.0, 0.5, 1.0, rss_mib=600),
            chain("", TEN_M, 10.0, 3.0, 10.0, rss_mib=700),
            *floors(TEN_M),
        ],
    }
    # the big run also measured 1M: the main run's figures win for the sizes both measured
    big = {
        "started": "2026-12-07T10:33:02+00:00",
        "command": "python -m bench.run --rows 100000000 --runs 1 --only chain",
        "duration_seconds": 1200.0,
        "git": {"commit": "0123456789abcdef", "uncommitted_files": 0},
        "params": {"rows": [1_000_000, 100_000_000]},
        "data": [{"rows": 100_000_000, "name": "readings_100000000_clean"}],
        "measurements": [
            {**chain("", 1_000_000, 9.0, 9.0, 9.0, rss_mib=50), "load_avg_max": 9.0},
            {**chain("", 100_000_000, 100.0, 30.0, 100.0, rss_mib=720), "load_avg_max": 3.5},
        ],
    }
    merged = report.merge_big(main, big)
    r = report.Results(merged)
    assert r.sizes == sizes  # the tables and ratios stay at the sizes measured side by side
    assert r.memory_sizes == [*sizes, 100_000_000]
    assert merged["big_run"]["load_avg_max"] == 3.5
    assert [d["rows"] for d in merged["data"]] == [100_000_000]
    goals = by_goal(r)
    growth = goals["peak RSS of every task grows ≤ x1.25 from 1M to 100M rows"]
    assert growth.measured.startswith("1M → 100M: highest x1.20 (gate)")  # 720 / 600, not 720 / 50
    assert "**met**" in growth.verdict
    assert "**met**" in goals["100M CSV: peak RSS of every task ≤ 1 GiB"].verdict
    table = report.big_day_table(r, 100_000_000)
    assert "| gate | QualityGateOperator | 100 s | 100 s | 100 s | 720 MiB ✓ | x1.20 ✓ |" in table
    assert "100M" in report.memory_table(r)
    assert report._big_run_lines(merged)[0].startswith("**100M rows, measured apart:** 2026-12-07")
