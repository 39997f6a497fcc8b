"""``docs/benchmarks.md`` and its chart, from one results file of :mod:`bench.run`.

    python -m bench.report bench/results/<date>.json [bench/results/<date>-big-100000000.json]

The second file, when given, is a big day measured apart (``make bench``'s ``BENCH_BIG_ROWS`` step:
the chain alone, once, at 100M rows): its sizes feed the peak-RSS goals, the memory table and
chart and a section of their own, never the ratios of the side-by-side runs (:func:`merge_big`).

Everything in the page is computed from the JSON (figures, ratios, verdicts against the goals of
issues 4, 5, 8 and 15; :data:`RETIRED` lists the goals issue 15 replaced), except the analysis,
which is kept by hand in ``bench/NOTES.md`` and included as it is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "benchmarks.md"
NOTES = Path(__file__).resolve().parent / "NOTES.md"
GIB = 2**30
MIB = 2**20
#: RSS counts as flat from the smallest to the largest size when it grows by at most this factor
FLAT = 1.25

CHECK_NAMES = (
    "not null station_id",
    "not null observed_at",
    "not null pollutant",
    "not null value",
    "value 0..10000 where pm25/pm10/so2/no2",
    "value 0..50 where o3/co",
    "pollutant in set",
    "unit in set",
    "(station_id, observed_at, pollutant) unique",
)
LOADERS = (
    ("adbc", "ADBC `adbc_ingest` (floor)", "curated Parquet → Arrow"),
    ("adbc_pk", "ADBC `adbc_ingest`, table with the PK", "curated Parquet → Arrow"),
    ("psql", "`psql \\copy` (floor)", "CSV"),
    ("lockgate_append", "Lockgate load, mode append", "curated Parquet"),
    ("lockgate_first", "Lockgate load, replace_partition, first", "curated Parquet"),
    ("lockgate_rerun", "Lockgate load, replace_partition, rerun", "curated Parquet"),
    ("chain", "Lockgate end to end (4 tasks)", "CSV"),
    ("dlt", "dlt pipeline (arrow source, parquet files)", "CSV → Arrow"),
    ("to_sql", "pandas `read_csv` + `to_sql`", "CSV"),
)
STAGES = (
    ("op_ingest", "ingest", "IngestOperator", "ingest", "copy + count lines (8 MiB blocks)"),
    ("op_gate", "gate", "QualityGateOperator", "gate", "DuckDB typed read_csv + filter + Parquet + 9 checks"),
    ("op_partition", "partition", "PartitionOperator", "partition", "DuckDB COPY … PARTITION_BY"),
    ("op_load", "load", "WarehouseLoadOperator", None, "ADBC adbc_ingest"),
)


@dataclass
class Figure:
    """One measured figure: median with min and max (seconds or bytes)."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, spread: dict[str, float]) -> Figure:
        return cls(spread["median"], spread["min"], spread["max"])

    def __add__(self, other: Figure) -> Figure:
        return Figure(self.median + other.median, self.low + other.low, self.high + other.high)

    def scaled(self, factor: float) -> Figure:
        return Figure(self.median * factor, self.low * factor, self.high * factor)

    def secs(self) -> str:
        return f"{_num(self.median)} s ({_num(self.low)}-{_num(self.high)})"

    def mib(self) -> str:
        return f"{self.median / MIB:,.0f} MiB ({self.low / MIB:,.0f}-{self.high / MIB:,.0f})"


def _num(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ratio(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.2f}x" if value < 10 else f"{value:.0f}x"


def _rows(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n:,}"


def merge_big(main: dict[str, Any], big: dict[str, Any]) -> dict[str, Any]:
    """``main``'s results with a big-day run's (``make bench``'s ``BENCH_BIG_ROWS`` step: the chain
    alone, once, at e.g. 100M rows) added: its measurements and data sets at the sizes ``main`` did
    not measure, the sizes in ``params.big_rows``, the run itself in ``big_run``."""
    sizes = set(main["params"]["rows"])
    extra = sorted(set(big["params"]["rows"]) - sizes)
    measured = [m for m in big["measurements"] if m.get("data_rows", m["rows"]) in extra]
    return {
        **main,
        "params": {**main["params"], "big_rows": extra},
        "data": [*main.get("data", []), *(x for x in big.get("data", []) if x["rows"] in extra)],
        "measurements": [*main["measurements"], *measured],
        "big_run": {
            "started": big["started"],
            "command": big["command"],
            "duration_seconds": big["duration_seconds"],
            "commit": big["git"]["commit"],
            "uncommitted_files": big["git"]["uncommitted_files"],
            "load_avg_max": max((m.get("load_avg_max", 0.0) for m in measured), default=0.0),
        },
    }


class Results:
    """Lookup over a results file (and a big-day run's, merged in by :func:`merge_big`)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.by_key = {m["key"]: m for m in data["measurements"]}
        #: the sizes measured side by side (every table and ratio)
        self.sizes: list[int] = sorted(data["params"]["rows"])
        #: the big-day sizes measured apart (the chain alone, once): memory and time, no ratios
        self.big_sizes: list[int] = sorted(data["params"].get("big_rows", []))
        #: every size a task's peak RSS was measured at
        self.memory_sizes: list[int] = sorted({*self.sizes, *self.big_sizes})

    def get(self, group: str, tool: str, rows: int) -> dict[str, Any] | None:
        return self.by_key.get(f"{group}/{tool}/{rows}")

    def step(self, rows: int, task: str, sfx: str = "") -> dict[str, Any] | None:
        """A chain task's step (``sfx``: the input's suffix, ``_ndjson``)."""
        chain = self.get("chain", f"lockgate{sfx}", rows)
        if chain is None:
            return None
        return next((s for s in chain["steps"] if s["task"] == task), None)

    def work(self, group: str, tool: str, rows: int) -> Figure | None:
        m = self.get(group, tool, rows)
        return Figure.of(m["work_seconds"]) if m else None

    def process(self, group: str, tool: str, rows: int) -> Figure | None:
        m = self.get(group, tool, rows)
        return Figure.of(m["process_seconds"]) if m else None

    def rss(self, group: str, tool: str, rows: int) -> Figure | None:
        m = self.get(group, tool, rows)
        return Figure.of(m["peak_rss"]) if m else None

    def loader(self, name: str, rows: int) -> tuple[Figure, Figure, Figure] | None:
        """(work, process, peak RSS) of one loader of :data:`LOADERS` at ``rows``."""
        if name == "chain":
            m = self.get("chain", "lockgate", rows)
            if m is None:
                return None
            return Figure.of(m["work_seconds"]), Figure.of(m["process_seconds"]), Figure.of(m["peak_rss"])
        if name == "lockgate_first":
            s = self.step(rows, "op_load")
            if s is None:
                return None
            return Figure.of(s["seconds"]), Figure.of(s["process_seconds"]), Figure.of(s["peak_rss"])
        m = self.get("load", name, rows)
        if m is None:
            return None
        return Figure.of(m["work_seconds"]), Figure.of(m["process_seconds"]), Figure.of(m["peak_rss"])

    def to_sql_extrapolated(self, rows: int) -> tuple[Figure, Figure, int] | None:
        """to_sql at ``rows`` from the largest size it was measured at, linearly: (work, process, from rows)."""
        measured = [n for n in self.sizes if self.get("load", "to_sql", n)]
        if not measured:
            return None
        base = max(measured)
        work, process, _ = self.loader("to_sql", base)  # type: ignore[misc]
        factor = rows / base
        return work.scaled(factor), process.scaled(factor), base


# ----------------------------------------------------------------------------------------- goals


@dataclass
class Goal:
    issue: str
    goal: str
    measured: str
    verdict: str


def _verdict(ok: bool | None, detail: str = "") -> str:
    if ok is None:
        return "not measured"
    return ("**met**" if ok else "**missed**") + (f" ({detail})" if detail else "")


#: goals of older issues that issue 15 replaced by stricter ones, and where each went
RETIRED = (
    ("3", "ingesting: peak RSS < 1 GiB, flat from 1M", "15: peak RSS of every task ≤ 1 GiB, ≤ x1.25 from 1M to 100M"),
    ("3", "the gate: peak RSS < 1 GiB, flat from 1M", "15: peak RSS of every task ≤ 1 GiB, ≤ x1.25 from 1M to 100M"),
    ("5", "load at ≥ 0.8x ADBC's throughput", "15: load ≥ 0.9x ADBC"),
    ("8", "peak RSS of the chain < 1 GiB, flat from 1M to 10M", "15: peak RSS of every task ≤ 1 GiB"),
)
#: issue 15's targets
CHAIN_VS_FLOORS = 1.3
GATE_VS_FLOOR = 2.0
PARTITION_VS_FLOOR = 1.5
LOAD_VS_ADBC = 0.9
DIRTY_VS_CLEAN = 1.15
TINY_GATE_PROCESS = 2.0
#: the rows of the tiny data set whose chain measures start-up (``bench.run``'s ``startup`` group)
TINY_ROWS = 50
#: the sizes issue 15's memory growth is measured between
GROWTH_FROM, GROWTH_TO = 1_000_000, 100_000_000
#: the input formats measured; NDJSON's measurements carry this suffix on their tool
INPUTS = (("", "CSV"), ("_ndjson", "NDJSON"))


def _over(ratio: float, goal: float) -> str:
    """How far a ratio is from a ceiling, for a missed goal's verdict."""
    return "" if ratio <= goal else f"{ratio / goal:.2f}x over the goal"


@dataclass
class Pair:
    """One stage of Lockgate against its floor: work times, and CPU seconds (median)."""

    lg: Figure
    floor: Figure
    cpu: float
    floor_cpu: float


def _cpu(lg: float, floor: float) -> str:
    """CPU seconds side by side: on a shared machine a steadier yardstick than wall time."""
    return f"CPU {lg:.1f} s vs {floor:.1f} s ({_ratio(lg / floor) if floor else '-'})"


def _stage_pair(r: Results, rows: int, task: str, sfx: str = "") -> Pair | None:
    """Lockgate's work against its floor's for one stage: the chain's step against the floor of the
    same run; without a chain, the stage's own measurement (``--only gate``, ``--only partition``)."""
    stage = next(s for s in STAGES if s[0] == task)
    floor_key = ("floor", f"{stage[3]}{sfx}") if stage[3] in ("ingest", "gate") else ("floor", stage[3] or "")
    floor = r.get(*floor_key, rows) if stage[3] else r.get("load", "adbc", rows)
    step = r.step(rows, task, sfx)
    if step is None:
        own = {"op_gate": ("gate", f"run_gate_clean{sfx}"), "op_partition": ("partition", "lockgate")}.get(task)
        m = r.get(*own, rows) if own else None
        step = _first(m)
        if floor is None and task == "op_gate":
            floor = r.get("gate", f"floor{sfx}", rows)
    if step is None or floor is None:
        return None
    return Pair(
        Figure.of(step["seconds"]),
        Figure.of(floor["work_seconds"]),
        step["cpu_seconds"]["median"],
        floor["cpu_seconds"]["median"],
    )


def _chain_goals(r: Results, rows: int, sfx: str, label: str) -> list[Goal]:
    """The chain against the sum of its stage floors, and each stage against its own."""
    out: list[Goal] = []
    n = f"{_rows(rows)} {label}"
    chain = r.get("chain", f"lockgate{sfx}", rows)
    pairs = {task: _stage_pair(r, rows, task, sfx) for task, *_ in STAGES}
    if chain and all(pairs.values()):
        floors = sum(p.floor.median for p in pairs.values() if p)
        floors_cpu = sum(p.floor_cpu for p in pairs.values() if p)
        ratio = chain["process_seconds"]["median"] / floors
        out.append(
            Goal(
                "15",
                f"{n}: whole chain (4 task processes, start-up included) "
                f"≤ {CHAIN_VS_FLOORS}x the sum of the stage floors",
                f"{_ratio(ratio)} ({Figure.of(chain['process_seconds']).secs()} vs {_num(floors)} s; "
                f"{_cpu(chain['cpu_seconds']['median'], floors_cpu)})",
                _verdict(ratio <= CHAIN_VS_FLOORS, _over(ratio, CHAIN_VS_FLOORS)),
            )
        )
    dlt = r.get("load", f"dlt{sfx}", rows)
    if chain and not dlt and not sfx:
        out.append(Goal("15", f"{n}: the chain no slower than the dlt pipeline", "-", _verdict(None)))
    if chain and dlt:
        ratio = chain["process_seconds"]["median"] / dlt["process_seconds"]["median"]
        out.append(
            Goal(
                "15",
                f"{n}: the chain no slower than the dlt pipeline (process times)",
                f"{_ratio(ratio)} dlt's time ({Figure.of(chain['process_seconds']).secs()} vs "
                f"{Figure.of(dlt['process_seconds']).secs()})",
                _verdict(ratio <= 1.0, _over(ratio, 1.0)),
            )
        )
    for task, goal in (("op_gate", GATE_VS_FLOOR), ("op_partition", PARTITION_VS_FLOOR)):
        pair = pairs[task]
        if pair:
            ratio = pair.lg.median / pair.floor.median
            stage = task.removeprefix("op_")
            out.append(
                Goal(
                    "15",
                    f"{n}: {stage} ≤ {goal}x its floor (work)",
                    f"{_ratio(ratio)} ({pair.lg.secs()} vs {pair.floor.secs()}; {_cpu(pair.cpu, pair.floor_cpu)})",
                    _verdict(ratio <= goal, _over(ratio, goal)),
                )
            )
    load = pairs["op_load"]
    if load:
        share = load.floor.median / load.lg.median
        out.append(
            Goal(
                "15",
                f"{n}: load ≥ {LOAD_VS_ADBC}x ADBC's throughput",
                f"{share:.2f}x ({load.lg.secs()} vs {load.floor.secs()}; {_cpu(load.cpu, load.floor_cpu)}, "
                "the server's not counted)",
                _verdict(
                    share >= LOAD_VS_ADBC, "" if share >= LOAD_VS_ADBC else f"needs {LOAD_VS_ADBC / share:.2f}x faster"
                ),
            )
        )
    dirty, clean = r.get("gate", f"run_gate_dirty{sfx}", rows), r.get("gate", f"run_gate_clean{sfx}", rows)
    if dirty and clean:
        ratio = dirty["work_seconds"]["median"] / clean["work_seconds"]["median"]
        out.append(
            Goal(
                "15",
                f"{n}: the gate on dirty data (0.1% bad rows) ≤ {DIRTY_VS_CLEAN}x the clean time",
                f"{_ratio(ratio)} ({Figure.of(dirty['work_seconds']).secs()} vs "
                f"{Figure.of(clean['work_seconds']).secs()}; "
                f"CPU {dirty['cpu_seconds']['median']:.1f} s vs {clean['cpu_seconds']['median']:.1f} s)",
                _verdict(ratio <= DIRTY_VS_CLEAN, _over(ratio, DIRTY_VS_CLEAN)),
            )
        )
    return out


def task_rss(r: Results, rows: int, sfx: str = "") -> dict[str, float]:
    """Peak RSS (median) of every task process measured at ``rows``: the chain's four, the gate's runs."""
    found: dict[str, float] = {}
    for task, stage, *_ in STAGES:
        step = r.step(rows, task, sfx)
        if step:
            found[stage] = step["peak_rss"]["median"]
    for tool, name in ((f"run_gate_clean{sfx}", "gate (run_gate, clean)"), (f"run_gate_dirty{sfx}", "gate, dirty")):
        m = r.get("gate", tool, rows)
        if m:
            found[name] = m["peak_rss"]["median"]
    partition = r.get("partition", "lockgate", rows)
    if partition and not sfx:
        found.setdefault("partition", partition["peak_rss"]["median"])
    return found


def _memory_goals(r: Results, sfx: str, label: str) -> list[Goal]:
    out: list[Goal] = []
    for rows in r.memory_sizes if not sfx else [n for n in r.memory_sizes if task_rss(r, n, sfx)]:
        rss = task_rss(r, rows, sfx)
        if not rss:
            continue
        worst = max(rss, key=lambda k: rss[k])
        out.append(
            Goal(
                "15",
                f"{_rows(rows)} {label}: peak RSS of every task ≤ 1 GiB",
                f"highest: {worst} {rss[worst] / MIB:,.0f} MiB"
                + "".join(f"; {k} {v / MIB:,.0f}" for k, v in rss.items() if k != worst),
                _verdict(rss[worst] <= GIB, f"{rss[worst] / GIB:.2f} GiB" if rss[worst] > GIB else ""),
            )
        )
    largest = r.memory_sizes[-1]
    low, high = task_rss(r, GROWTH_FROM, sfx), task_rss(r, largest, sfx)
    if sfx:
        return out
    if not low or largest <= GROWTH_FROM:
        goal = f"peak RSS of every task grows ≤ x{FLAT} from {_rows(GROWTH_FROM)} to {_rows(GROWTH_TO)} rows"
        return [*out, Goal("15", goal, "-", _verdict(None))]
    growth = {k: high[k] / low[k] for k in high if k in low}
    worst = max(growth, key=lambda k: growth[k])
    measured = largest >= GROWTH_TO
    out.append(
        Goal(
            "15",
            f"peak RSS of every task grows ≤ x{FLAT} from {_rows(GROWTH_FROM)} to {_rows(GROWTH_TO)} rows",
            f"{_rows(GROWTH_FROM)} → {_rows(largest)}: highest x{growth[worst]:.2f} ({worst}); "
            + ", ".join(f"{k} x{v:.2f}" for k, v in growth.items() if k != worst),
            _verdict(growth[worst] <= FLAT, _over(growth[worst], FLAT))
            if measured
            else f"not measured at {_rows(GROWTH_TO)} (x{growth[worst]:.2f} up to {_rows(largest)})",
        )
    )
    return out


def _startup_goals(r: Results) -> list[Goal]:
    """Lean task start-up: ``process - work`` per chain task at every size, and the 50-row gate."""
    out: list[Goal] = []
    for rows in r.sizes:
        spent = {}
        for task, stage, *_ in STAGES:
            step = r.step(rows, task)
            if step and "startup_seconds" in step:
                driver = (step.get("extra") or {}).get("driver_import_seconds") or 0.0
                spent[stage] = step["startup_seconds"]["median"] - driver
        if spent:
            worst = max(spent, key=lambda k: spent[k])
            out.append(
                Goal(
                    "15",
                    f"{_rows(rows)} CSV: process - work of every chain task ≤ {STARTUP_GOAL} s",
                    ", ".join(f"{k} {v:.2f} s" for k, v in spent.items()),
                    _verdict(spent[worst] <= STARTUP_GOAL, _over(spent[worst] / STARTUP_GOAL, 1.0)),
                )
            )
    tiny = r.get("startup", "lockgate", TINY_ROWS)
    gate = next((s for s in tiny["steps"] if s["task"] == "op_gate"), None) if tiny else None
    if gate:
        process = Figure.of(gate["process_seconds"])
        out.append(
            Goal(
                "15",
                f"a {TINY_ROWS}-row dataset's gate task ≤ {TINY_GATE_PROCESS} s of process time",
                f"{process.secs()} ({Figure.of(gate['seconds']).secs()} work, "
                f"CPU {gate['cpu_seconds']['median']:.2f} s)",
                _verdict(process.median <= TINY_GATE_PROCESS, _over(process.median, TINY_GATE_PROCESS)),
            )
        )
    return out


def goals_15(r: Results) -> list[Goal]:
    """Issue 15's targets, with verdicts from the measured figures ("not measured" where absent)."""
    out: list[Goal] = []
    # the targets are for a 10M-row day (and up); a quick run is judged at its largest size
    for sfx, label in INPUTS:
        for rows in reversed([n for n in r.sizes if n >= 10_000_000] or r.sizes[-1:]):
            out += _chain_goals(r, rows, sfx, label)
        out += _memory_goals(r, sfx, label)
    out += _startup_goals(r)
    if not any(r.get("chain", "lockgate_ndjson", n) for n in r.sizes):
        out.append(Goal("15", "the same figures for NDJSON input at 10M rows", "-", _verdict(None)))
    return out


def goals(r: Results) -> list[Goal]:
    """Issue 15's goals (:func:`goals_15`), then the older issues' goals it did not replace."""
    big = r.sizes[-1]
    out: list[Goal] = goals_15(r)
    n = _rows(big)

    chain = r.loader("chain", big)
    adbc = r.loader("adbc", big)
    if chain and adbc:
        ratio = chain[1].median / adbc[1].median
        work_ratio = chain[0].median / adbc[0].median
        out.append(
            Goal(
                "8",
                f"end to end, {n} rows into PostgreSQL, ≤ 2.0x the ADBC floor",
                f"{_ratio(ratio)} with process start-up and imports ({chain[1].secs()} vs {adbc[1].secs()}); "
                f"{_ratio(work_ratio)} work only",
                _verdict(ratio <= 2.0, f"{ratio / 2.0:.1f}x over the goal" if ratio > 2.0 else ""),
            )
        )
    dlt = r.loader("dlt", big)
    if chain and dlt:
        speedup = dlt[1].median / chain[1].median
        out.append(
            Goal(
                "8",
                "≥ 3x faster than the dlt pipeline",
                f"dlt takes {_ratio(speedup)} Lockgate's end-to-end time ({dlt[1].secs()}), start-up included",
                _verdict(speedup >= 3.0, f"{speedup:.2f}x of 3x"),
            )
        )
    for size in r.sizes:
        to_sql, chain_at = r.loader("to_sql", size), r.loader("chain", size)
        if to_sql and chain_at:
            speedup = to_sql[1].median / chain_at[1].median
            out.append(
                Goal(
                    "8",
                    f"≥ 20x faster than to_sql ({_rows(size)} rows, both measured)",
                    f"to_sql takes {_ratio(speedup)} Lockgate's end-to-end time ({to_sql[1].secs()})",
                    _verdict(speedup >= 20.0, f"{speedup:.1f}x of 20x"),
                )
            )
    extrapolated = r.to_sql_extrapolated(big)
    if chain and extrapolated and not r.get("load", "to_sql", big):
        speedup = extrapolated[1].median / chain[1].median
        out.append(
            Goal(
                "8",
                f"≥ 20x faster than to_sql ({n} rows, to_sql extrapolated from {_rows(extrapolated[2])})",
                f"to_sql would take about {_ratio(speedup)} Lockgate's end-to-end time",
                _verdict(speedup >= 20.0, f"{speedup:.1f}x of 20x, extrapolated"),
            )
        )

    first = r.loader("lockgate_first", big)
    psql = r.loader("psql", big)
    if first and psql:
        speed = psql[0].median / first[0].median
        out.append(
            Goal(
                "5",
                f"load {n} rows at about 2x psql \\copy's speed",
                f"{speed:.2f}x psql's speed ({psql[0].secs()})",
                _verdict(speed >= 2.0, f"{speed:.2f}x of 2x"),
            )
        )
    rerun, append = r.loader("lockgate_rerun", big), r.loader("lockgate_append", big)
    if rerun and append:
        ratio = rerun[0].median / append[0].median
        out.append(
            Goal(
                "5",
                "replace_partition ≤ 1.3x a blind append of the same rows",
                f"{_ratio(ratio)} (rerun over the loaded date {rerun[0].secs()} vs append {append[0].secs()})",
                _verdict(ratio <= 1.3, f"{ratio / 1.3:.2f}x over" if ratio > 1.3 else ""),
            )
        )

    for kind in ("clean", "dirty"):
        lg, sql = r.get(f"checks_{kind}", "lockgate", big), r.get(f"checks_{kind}", "sql", big)
        if lg and sql:
            ratio = lg["work_seconds"]["median"] / sql["work_seconds"]["median"]
            rss = Figure.of(lg["peak_rss"])
            out.append(
                Goal(
                    "4",
                    f"9 checks on {n} rows ({kind}) ≤ 2x hand-written DuckDB SQL, peak RSS < 1.5 GiB",
                    f"{_ratio(ratio)} ({Figure.of(lg['work_seconds']).secs()} vs "
                    f"{Figure.of(sql['work_seconds']).secs()}), {rss.mib()}",
                    _verdict(ratio <= 2.0 and rss.median < 1.5 * GIB),
                )
            )

    return out


# ---------------------------------------------------------------------------------------- tables


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def loaders_table(r: Results, rows: int) -> str:
    adbc = r.loader("adbc", rows)
    body = []
    for name, label, source in LOADERS:
        got = r.loader(name, rows)
        extrapolated = False
        if got is None and name == "to_sql":
            guess = r.to_sql_extrapolated(rows)
            if guess is None:
                continue
            got = (guess[0], guess[1], Figure(math.nan, math.nan, math.nan))
            extrapolated = True
        if got is None:
            continue
        work, process, rss = got
        data = r.get("load", "adbc", rows) or r.get("chain", "lockgate", rows)
        mb = _data_mb(r, rows)
        body.append(
            [
                label + (f" *(extrapolated from {_rows(guess[2])})*" if extrapolated else ""),
                source,
                work.secs() if not extrapolated else f"~{_num(work.median)} s",
                process.secs() if not extrapolated else f"~{_num(process.median)} s",
                f"{rows / work.median:,.0f}",
                f"{mb / work.median:,.0f}" if mb else "-",
                rss.mib() if not extrapolated else "-",
                _ratio(work.median / adbc[0].median) if adbc else "-",
                _ratio(process.median / adbc[1].median) if adbc else "-",
            ]
        )
        del data
    return _table(
        ["loader", "reads", "work", "process", "rows/s", "MB/s", "peak RSS", "÷ ADBC work", "÷ ADBC process"], body
    )


def _data_mb(r: Results, rows: int) -> float | None:
    for d in r.data.get("data", []):
        if d["rows"] == rows and not d["dirty"] and d.get("format", "csv") == "csv":
            return float(d["csv_bytes"]) / 1e6
    return None


def stages_table(r: Results, rows: int, sfx: str = "") -> str:
    """The chain's stages against their floors (``sfx``: ``_ndjson`` for the NDJSON chain, whose
    ingest and gate floors read NDJSON; partition and load have one floor)."""
    body = []
    total_lg = total_floor = None
    for task, stage, operator, floor_tool, floor_label in STAGES:
        step = r.step(rows, task, sfx)
        reads_input = floor_tool in ("ingest", "gate")
        floor_key = f"{floor_tool}{sfx}" if reads_input else floor_tool
        floor = r.get("floor", floor_key, rows) if floor_tool else r.get("load", "adbc", rows)
        if step is None or floor is None:
            continue
        lg, fl = Figure.of(step["seconds"]), Figure.of(floor["work_seconds"])
        total_lg = lg if total_lg is None else total_lg + lg
        total_floor = fl if total_floor is None else total_floor + fl
        body.append(
            [
                stage,
                operator,
                lg.secs(),
                Figure.of(step["peak_rss"]).mib(),
                floor_label,
                fl.secs(),
                Figure.of(floor["peak_rss"]).mib(),
                _ratio(lg.median / fl.median),
            ]
        )
    chain = r.get("chain", f"lockgate{sfx}", rows)
    if total_lg and total_floor and chain:
        body.append(
            [
                "**sum of work**",
                "",
                f"**{total_lg.secs()}**",
                "",
                "**sum of the floors**",
                f"**{total_floor.secs()}**",
                "",
                f"**{_ratio(total_lg.median / total_floor.median)}**",
            ]
        )
        process = Figure.of(chain["process_seconds"])
        body.append(
            [
                "**whole chain**",
                "4 task processes",
                f"**{process.secs()}**",
                Figure.of(chain["peak_rss"]).mib(),
                "",
                "",
                "",
                f"**{_ratio(process.median / total_floor.median)}**",
            ]
        )
    return _table(["stage", "Lockgate", "time", "peak RSS", "floor", "floor time", "floor RSS", "÷ floor"], body)


def checks_table(r: Results, rows: int) -> str:
    body = []
    for kind in ("clean", "dirty"):
        sql = r.get(f"checks_{kind}", "sql", rows)
        if sql is None:
            continue
        for tool, label in (
            ("sql", "hand-written DuckDB SQL"),
            ("lockgate", "`lockgate.checks.evaluate`"),
            ("gx", "plain GX on pandas"),
        ):
            m = r.get(f"checks_{kind}", tool, rows)
            if m is None:
                continue
            work = Figure.of(m["work_seconds"])
            extra = m["steps"][0]["extra"]
            frame = ""
            if tool == "gx" and "frame_seconds" in extra:
                frame = f" + {extra['frame_seconds']:.1f} s to build the frame"
            body.append(
                [
                    kind,
                    label,
                    work.secs() + frame,
                    Figure.of(m["process_seconds"]).secs(),
                    Figure.of(m["peak_rss"]).mib(),
                    _ratio(work.median / sql["work_seconds"]["median"]),
                    ", ".join(str(v) for v in extra.get("unexpected", [])),
                ]
            )
    return _table(["data", "engine", "work", "process", "peak RSS", "÷ SQL", "unexpected rows per check"], body)


def memory_table(r: Results) -> str:
    items = [
        ("IngestOperator (CSV → raw zone + count)", lambda n: r.step(n, "op_ingest")),
        ("`formats.read_batches` (the gate's reader)", lambda n: _first(r.get("ingest", "read_batches", n))),
        ("QualityGateOperator (clean CSV)", lambda n: r.step(n, "op_gate")),
        ("`run_gate` (CSV with 0.1% bad rows)", lambda n: _first(r.get("gate", "run_gate_dirty", n))),
        ("PartitionOperator", lambda n: r.step(n, "op_partition")),
        ("WarehouseLoadOperator", lambda n: r.step(n, "op_load")),
    ]
    sizes = r.memory_sizes
    header = ["stage"]
    for n in sizes:
        header += [f"time {_rows(n)}", f"peak RSS {_rows(n)}"]
    if len(sizes) > 1:
        header.append(f"RSS {_rows(sizes[-1])} ÷ {_rows(sizes[0])}")
    body = []
    for label, find in items:
        row = [label]
        found = [find(n) for n in sizes]
        if not any(found):
            continue
        for step in found:
            row += [Figure.of(step["seconds"]).secs(), Figure.of(step["peak_rss"]).mib()] if step else ["-", "-"]
        if len(sizes) > 1 and found[0] and found[-1]:
            row.append(f"x{found[-1]['peak_rss']['median'] / found[0]['peak_rss']['median']:.2f}")
        body.append(row)
    return _table(header, body)


#: the most a task process may spend outside its work (issue 15: lean task start-up)
STARTUP_GOAL = 1.5
PHASES = ("interpreter", "setup", "after", "exit")


def startup_table(r: Results, rows: int, group: str = "chain") -> str:
    """Each chain task's process time outside its work (``process - work``), by phase (``group``:
    ``startup`` for the tiny data set's chain)."""
    chain = r.get(group, "lockgate", rows)
    body = []
    for task, stage, operator, _, _ in STAGES:
        step = next((s for s in chain["steps"] if s["task"] == task), None) if chain else None
        if step is None or "startup_seconds" not in step:
            continue  # a results file from before start-up was split out
        phases = step.get("phases") or {}
        # the load's driver, imported by the bench before the timer (like for like with ADBC): the work's
        driver = (step.get("extra") or {}).get("driver_import_seconds")
        body.append(
            [
                stage,
                operator,
                Figure.of(step["process_seconds"]).secs(),
                Figure.of(step["seconds"]).secs(),
                f"{Figure.of(step['startup_seconds']).secs()}"
                + (f", {step['startup_seconds']['median'] - driver:.2f} s without the driver import" if driver else "")
                + (" ✓" if step["startup_seconds"]["median"] - (driver or 0) <= STARTUP_GOAL else ""),
                *(f"{phases[p]:.2f} s" if p in phases else "-" for p in PHASES),
            ]
        )
    if not body:
        return ""
    header = ["stage", "task", "process", "work", f"process - work (goal ≤ {STARTUP_GOAL} s)"]
    return _table([*header, "interpreter", "set-up (imports, DAG, task)", "after work", "exit"], body)


def big_day_table(r: Results, rows: int) -> str:
    """The chain's tasks on a big day (measured apart, once): time, CPU and peak RSS, and the RSS
    against the same task's at :data:`GROWTH_FROM` rows."""
    body = []
    for task, stage, operator, _, _ in STAGES:
        step, low = r.step(rows, task), r.step(GROWTH_FROM, task)
        if step is None:
            continue
        rss = step["peak_rss"]["median"]
        growth = rss / low["peak_rss"]["median"] if low else None
        body.append(
            [
                stage,
                operator,
                f"{_num(step['seconds']['median'])} s",
                f"{_num(step['process_seconds']['median'])} s",
                f"{_num(step['cpu_seconds']['median'])} s",
                f"{rss / MIB:,.0f} MiB" + (" ✓" if rss <= GIB else ""),
                (f"x{growth:.2f}" + (" ✓" if growth <= FLAT else "")) if growth else "-",
            ]
        )
    chain = r.get("chain", "lockgate", rows)
    if chain:
        body.append(
            [
                "**whole chain**",
                "4 task processes",
                f"**{_num(chain['work_seconds']['median'])} s**",
                f"**{_num(chain['process_seconds']['median'])} s**",
                f"{_num(chain['cpu_seconds']['median'])} s",
                f"{chain['peak_rss']['median'] / MIB:,.0f} MiB",
                "",
            ]
        )
    header = ["stage", "task", "work", "process", "CPU", "peak RSS (goal ≤ 1 GiB)"]
    return _table([*header, f"RSS ÷ {_rows(GROWTH_FROM)} (goal ≤ x{FLAT})"], body)


def _first(m: dict[str, Any] | None) -> dict[str, Any] | None:
    return m["steps"][0] if m else None


# ----------------------------------------------------------------------------------------- chart


def _stacked(
    ax: Any, rows: list[tuple[str, Figure, float, str, str]], ref: float | None, ref_name: str, what: str = "work"
) -> None:
    """Horizontal bars: work (solid, whiskers min-max) plus start-up and imports (hatched).

    ``rows``: (label, work, process median, colour, extra text); the ratio is of process times to ``ref``.
    """
    y = list(range(len(rows)))[::-1]
    for yi, (_label, work, process, color, _extra) in zip(y, rows, strict=True):
        ax.barh(
            yi,
            work.median,
            xerr=[[work.median - work.low], [work.high - work.median]],
            color=color,
            capsize=3,
            edgecolor="black",
            linewidth=0.4,
        )
        overhead = max(0.0, process - work.median)
        ax.barh(yi, overhead, left=work.median, color="white", hatch="///", edgecolor=color, linewidth=0.4)
    right = max(max(w.high, p) for _l, w, p, _c, _e in rows)
    for yi, (_label, work, process, _color, extra) in zip(y, rows, strict=True):
        if process == work.median:
            text = f" {process:.2f} s" if process < 10 else f" {process:.0f} s"
        elif process >= 10:
            text = f" {process:.0f} s ({work.median:.0f} s {what})"
        else:
            text = f" {process:.1f} s ({work.median:.1f} s {what})"
        if ref:
            text += f"  {process / ref:.1f}x {ref_name}"
        ax.text(max(work.high, process) + right * 0.01, yi, text + extra, va="center", fontsize=8.5)
    ax.set_yticks(y, [label for label, *_ in rows])
    ax.set_xlim(0, right * 1.55)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)


def _chart_loaders(ax: Any, r: Results, big: int) -> None:
    """Panel (a): each loader's time into PostgreSQL at the biggest size, as a ratio to ADBC's floor."""
    names = [
        ("adbc", "ADBC adbc_ingest (floor)", "#9e9e9e"),
        ("psql", "psql \\copy (floor)", "#9e9e9e"),
        ("adbc_pk", "ADBC, table with the PK", "#c7c7c7"),
        ("lockgate_first", "Lockgate load task", "#2e7d32"),
        ("lockgate_rerun", "Lockgate load task, rerun", "#66bb6a"),
        ("chain", "Lockgate end to end (4 tasks)", "#1b5e20"),
        ("dlt", "dlt pipeline", "#ef6c00"),
        ("to_sql", "pandas read_csv + to_sql", "#c62828"),
    ]
    rows: list[tuple[str, Figure, float, str, str]] = []
    adbc = r.loader("adbc", big)
    for name, label, color in names:
        got = r.loader(name, big)
        if got is not None:
            rows.append((label, got[0], got[1].median, color, ""))
        elif name == "to_sql" and (guess := r.to_sql_extrapolated(big)):
            work = Figure(guess[0].median, guess[0].median, guess[0].median)
            rows.append((label + "\n(extrapolated from " + _rows(guess[2]) + ")", work, guess[1].median, "#ef9a9a", ""))
    if rows:
        _stacked(ax, rows, adbc[1].median if adbc else None, "ADBC")
    ax.set_title(f"Into PostgreSQL: {_rows(big)} rows, seconds (lower is better)")
    ax.set_xlabel("seconds: solid = work, hatched = process start-up and imports; ratio = whole process vs ADBC's")


def _chart_checks(ax: Any, r: Results, big: int) -> None:
    """Panel (b): the 9 checks' time per tool on clean and dirty data, as a ratio to hand-written SQL,
    with GX's frame building hatched and each tool's peak RSS."""
    rows: list[tuple[str, Figure, float, str, str]] = []
    tools = (("sql", "hand-written SQL", "#9e9e9e"), ("lockgate", "lockgate.checks", "#2e7d32"))
    tools += (("gx", "GX on pandas", "#ef6c00"),)
    for kind in ("clean", "dirty"):
        sql = r.get(f"checks_{kind}", "sql", big)
        for tool, label, color in tools:
            m = r.get(f"checks_{kind}", tool, big)
            if not m or not sql:
                continue
            work = Figure.of(m["work_seconds"])
            ratio = work.median / sql["work_seconds"]["median"]
            extra = f"  {ratio:.1f}x SQL, {m['peak_rss']['median'] / GIB:.2f} GiB"
            frame = m["steps"][0]["extra"].get("frame_seconds") or 0.0
            rows.append((f"{label} ({kind})", work, work.median + frame, color, extra))
    if rows:
        _stacked(ax, rows, None, "", what="checks")
    ax.set_title(f"9 checks on {_rows(big)} rows (lower is better)")
    ax.set_xlabel("seconds: solid = the checks, hatched = building GX's pandas frame; then peak RSS")


def _chart_chain(ax: Any, r: Results, big: int) -> None:
    """Panel (c): the chain's stages (work only) stacked against the sum of their floors, and the
    whole chain's process time."""
    stage_colors = {"ingest": "#90caf9", "gate": "#1e88e5", "partition": "#7e57c2", "load": "#2e7d32"}
    segments: dict[str, list[tuple[str, float]]] = {"Lockgate (work)": [], "floors": []}
    for task, stage, _op, floor_tool, _fl in STAGES:
        step = r.step(big, task)
        floor = r.get("floor", floor_tool, big) if floor_tool else r.get("load", "adbc", big)
        if step and floor:
            segments["Lockgate (work)"].append((stage, step["seconds"]["median"]))
            segments["floors"].append((stage, floor["work_seconds"]["median"]))
    chain = r.get("chain", "lockgate", big)
    process = chain["process_seconds"]["median"] if chain else 0.0
    right = max([process, *(sum(v for _s, v in segs) for segs in segments.values())]) or 1.0
    for row, y in (("Lockgate (work)", 1), ("floors", 0)):
        left = 0.0
        for stage, seconds in segments[row]:
            ax.barh(
                y,
                seconds,
                left=left,
                color=stage_colors[stage],
                edgecolor="black",
                linewidth=0.4,
                label=stage if row == "floors" else None,
            )
            if seconds > 0.07 * right:
                ax.text(left + seconds / 2, y, f"{stage}\n{seconds:.0f} s", ha="center", va="center", fontsize=8)
            left += seconds
        ax.text(left + right * 0.01, y, f" {left:.0f} s", va="center", fontsize=9)
    if chain:
        ax.barh(2, process, color="#1b5e20", edgecolor="black", linewidth=0.4)
        ax.text(process + right * 0.01, 2, f" {process:.0f} s", va="center", fontsize=9)
    ax.set_yticks(
        [2, 1, 0], ["Lockgate chain\n(4 task processes)", "Lockgate stages\n(work only)", "sum of the floors"]
    )
    ax.set_xlim(0, right * 1.15)
    ax.set_title(f"The whole chain vs the floors, {_rows(big)} rows, seconds")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)


def _chart_memory(ax: Any, r: Results) -> None:
    """Panel (d): each task process's peak RSS at every size measured, against the 1 and 1.5 GiB goals."""
    items = [
        ("ingest", lambda n: r.step(n, "op_ingest")),
        ("gate", lambda n: r.step(n, "op_gate")),
        ("gate, dirty", lambda n: _first(r.get("gate", "run_gate_dirty", n))),
        ("partition", lambda n: r.step(n, "op_partition")),
        ("load", lambda n: r.step(n, "op_load")),
        ("checks", lambda n: _first(r.get("checks_clean", "lockgate", n))),
        ("GX checks", lambda n: _first(r.get("checks_clean", "gx", n))),
    ]
    # every size measured, the big day measured apart (make bench's BENCH_BIG_ROWS) included
    sizes = r.memory_sizes
    width = 0.8 / max(1, len(sizes))
    shades = ["#90caf9", "#1565c0", "#0d47a1", "#01579b"]
    for j, n in enumerate(sizes):
        xs, heights = [], []
        for i, (_label, find) in enumerate(items):
            step = find(n)
            if step:
                xs.append(i + (j - (len(sizes) - 1) / 2) * width)
                heights.append(step["peak_rss"]["median"] / GIB)
        ax.bar(
            xs,
            heights,
            width=width,
            color=shades[j % len(shades)],
            edgecolor="black",
            linewidth=0.4,
            label=f"{_rows(n)} rows",
        )
    ax.axhline(1.0, color="#c62828", linestyle="--", linewidth=1)
    ax.text(-0.45, 1.03, "1 GiB goal (ingest, chain)", color="#c62828", ha="left", va="bottom", fontsize=8)
    ax.axhline(1.5, color="#ef6c00", linestyle=":", linewidth=1)
    ax.text(-0.45, 1.53, "1.5 GiB goal (checks)", color="#ef6c00", ha="left", va="bottom", fontsize=8)
    ax.set_xticks(range(len(items)), [label for label, _ in items], rotation=20)
    ax.set_ylabel("GiB")
    ax.set_title("Peak RSS per task process (lower is better)")
    ax.legend(fontsize=8, loc="upper center")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def chart(r: Results, path: Path) -> None:
    """The page's chart: four panels (loaders, checks, chain vs floors, peak RSS) saved to ``path``."""
    # imported here: a quick run (--docs no) needs no chart, nor the bench group's matplotlib
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    big = r.sizes[-1]
    fig, axes = plt.subplots(2, 2, figsize=(15, 10.5))
    fig.suptitle(
        f"Lockgate benchmarks — {_rows(big)} readings, {r.data['machine']['cpus']} cores, "
        f"{r.data['started'][:10]}  (bars: median of {r.data['params']['runs']} runs, whiskers: min-max)",
        fontsize=13,
    )
    _chart_loaders(axes[0][0], r, big)
    _chart_checks(axes[0][1], r, big)
    _chart_chain(axes[1][0], r, big)
    _chart_memory(axes[1][1], r)

    fig.tight_layout(rect=(0, 0, 1, 0.96))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _tool_label(tool: str) -> str:
    return {"sql": "hand-written SQL", "lockgate": "lockgate.checks", "gx": "GX on pandas"}[tool]


# ------------------------------------------------------------------------------------------- doc


def _render_run(r: Results, results_path: Path, chart_path: Path) -> list[str]:
    """The page's head: where it comes from, the chart, and the run's machine, PostgreSQL and versions."""
    d = r.data
    versions = ", ".join(f"{k} {v}" for k, v in d["versions"].items())
    pg = d["postgres"]
    settings = ", ".join(f"{k}={v}" for k, v in pg["settings"].items())
    rel = results_path.relative_to(REPO) if results_path.is_relative_to(REPO) else results_path
    # the main run's own measurements: a big-day run merged in (merge_big) says its load apart
    big_rows = set(d["params"].get("big_rows", []))
    own = [m for m in d["measurements"] if m.get("data_rows", m["rows"]) not in big_rows]
    loads = max((m["load_avg_max"] for m in own), default=0.0)
    return [
        "# Benchmarks",
        "",
        f"Generated by `make bench` from [`{rel}`](../{rel}) — do not edit by hand; the analysis is kept in "
        "[`bench/NOTES.md`](../bench/NOTES.md) and included below.",
        "",
        f"![Lockgate benchmarks]({chart_path.name})",
        "",
        f"**Run:** {d['started']} · `{d['command']}` · {d['duration_seconds'] / 60:.0f} min · "
        f"{d['machine']['cpus']} cores ({d['machine']['cpu_model']}), "
        f"{d['machine']['memory_bytes'] / GIB:.0f} GiB · git `{d['git']['commit'][:10]}`"
        + (f" with {d['git']['uncommitted_files']} uncommitted files" if d["git"]["uncommitted_files"] else "")
        + f" · highest 1-min load average seen: {loads:.1f}",
        "",
        *_big_run_lines(d),
        f"**PostgreSQL:** {pg['version'].split(' on ')[0]} ({pg['origin']} server; {settings}); {pg['psql']}.",
        "",
        f"**Versions:** {versions}.",
        "",
    ]


def _render_method(r: Results) -> list[str]:
    """ "How it is measured": the data sets and what work, process, peak RSS and MB/s mean."""
    d = r.data
    data_rows = [
        [
            x["name"],
            f"{x['rows']:,}",
            f"{x['bad_rows']:,}",
            f"{x['csv_bytes'] / 1e6:,.0f} MB",
            f"{x['parquet_bytes'] / 1e6:,.1f} MB" if x["parquet_bytes"] else "-",
            f"`{x['csv_sha256'][:12]}`" if x["csv_sha256"] else "-",
        ]
        for x in d["data"]
    ]
    return [
        "## How it is measured",
        "",
        f"* Data: `bench/datagen.py`, deterministic (numpy, fixed seeds), readings in the `readings` contract's "
        f"shape (station_id, region, observed_at, pollutant, value, unit) for ds={d['params']['ds']}, 1000 stations "
        "in 5 regions, unique keys; the *dirty* variant has 0.1% bad rows (missing, unreadable and negative "
        "values, wrong date, malformed record), all quarantined by the gate. The NDJSON sets (`datagen.ndjson`) "
        "hold the same rows as the gateway's records (a malformed one is cut short).",
        "",
        _table(["data set", "rows", "bad rows", "file (CSV or NDJSON)", "Parquet (zstd)", "CSV sha256"], data_rows),
        "",
        f"* Every figure: {d['params']['runs']} runs, each in a fresh process (`bench/harness.py`), "
        "**median (min-max)**. Runs of the tools compared with each other are interleaved.",
        "* **work** = time inside the process, imports and start-up excluded; **process** = the process's wall "
        "time (Python start-up and imports included — Airflow and the DAG file for Lockgate's tasks, GX, dlt…). "
        "The end-to-end chain is four task processes one after the other, as Airflow runs them: each forked "
        "from a process that has the task SDK's supervisor imported (a worker's, not measured), parsing the DAG "
        "file, running the task and leaving through `os._exit` (`bench.tasks.forked`); `--only chain` also "
        "runs them in fresh interpreters (`lockgate_cold`).",
        "* **peak RSS** = `ru_maxrss` of the process (and any child it waited for, e.g. `psql`), from `wait4` in a "
        "small launcher (`bench/spawn.py`). PostgreSQL's own memory is not counted for any tool.",
        "* **MB/s** = the data set's CSV size ÷ work time, the same yardstick for every tool.",
        "* Same PostgreSQL database (`lockgate_bench`) for every loader; each load goes into a fresh table "
        "(`CHECKPOINT` before each run). The floors: ADBC `adbc_ingest` of the curated Parquet as Arrow, "
        "`psql \\copy` of the CSV.",
        "* The machine is shared: other work may have run at the same time (see the load average above).",
        "",
    ]


def _render_goals(r: Results) -> list[str]:
    """The goals with their measured figures and verdicts, then the retired ones, and the tiny
    dataset's start-up when it was measured."""
    parts = [
        "## Goals",
        "",
        _table(["issue", "goal", "measured", "verdict"], [[g.issue, g.goal, g.measured, g.verdict] for g in goals(r)]),
        "",
        "Retired: goals of earlier issues that issue 15 replaced by stricter ones, and where each went:",
        "",
        _table(["issue", "goal", "now"], [list(row) for row in RETIRED]),
        "",
    ]
    tiny = startup_table(r, TINY_ROWS, "startup")
    if tiny:
        parts += [
            f"## Task start-up, a {TINY_ROWS}-row dataset",
            "",
            "The chain on the first rows of the generated set (forked as Airflow runs tasks): what a tiny "
            "dataset's tasks cost, almost all of it start-up and fixed work.",
            "",
            tiny,
            "",
        ]
    return parts


def _render_size(r: Results, n: int) -> list[str]:
    """One size's sections: the loaders, the chain vs its floors (CSV, and NDJSON when measured),
    the tasks' start-up and the 9 checks."""
    parts = [
        f"## Into PostgreSQL, {_rows(n)} rows",
        "",
        loaders_table(r, n),
        "",
        f"## The chain vs the floors, {_rows(n)} rows (clean CSV)",
        "",
        stages_table(r, n),
        "",
    ]
    if r.get("chain", "lockgate_ndjson", n):
        parts += [
            f"## The chain vs the floors, {_rows(n)} rows (clean NDJSON, gateway-style)",
            "",
            "The same rows as gateway NDJSON through `ingest_gateway`; the ingest and gate floors read "
            "the NDJSON (DuckDB's typed `read_json`), partition and load have the CSV chain's floors.",
            "",
            stages_table(r, n, "_ndjson"),
            "",
        ]
    startup = startup_table(r, n)
    if startup:
        parts += [
            f"## Task start-up, {_rows(n)} rows",
            "",
            "Each chain task's process time outside its work, by phase (medians): the interpreter until "
            "`bench.tasks` runs, the set-up (Airflow, the DAG file, the task's copy) until its work "
            "starts, the time after it, and the interpreter's exit.",
            "",
            startup,
            "",
        ]
    parts += [
        f"## The 9 checks, {_rows(n)} rows",
        "",
        "4 not-null, 2 range (the contract's, each with a row condition), 2 in-set, 1 compound unique, on a DuckDB "
        "table of the typed rows (GX: a pandas frame read from the same table).",
        "",
        checks_table(r, n),
        "",
    ]
    return parts


def _render_big_day(r: Results, n: int) -> list[str]:
    """A big day's section: the chain alone, measured apart, its peak RSS and growth without ratios."""
    return [
        f"## A {_rows(n)}-row day: the chain alone",
        "",
        f"Measured apart from the runs above (`make bench`'s `BENCH_BIG_ROWS` step: `--only chain --runs 1`, "
        "its CSV generated in `bench/.data` and, above 10M rows, deleted once measured), for each task's "
        "peak RSS and its growth "
        f"from {_rows(GROWTH_FROM)} rows (that size's figures come from the runs above); its times were "
        "taken at another moment than the floors', so they are given without ratios.",
        "",
        big_day_table(r, n),
        "",
    ]


def render(r: Results, results_path: Path, chart_path: Path) -> str:
    """The page (docs/benchmarks.md) from one run's results: its head, the method, the goals, each
    size's sections (largest first), the big days, memory by size, then bench/NOTES.md."""
    parts = _render_run(r, results_path, chart_path) + _render_method(r) + _render_goals(r)
    for n in reversed(r.sizes):
        parts += _render_size(r, n)
    for n in r.big_sizes:
        parts += _render_big_day(r, n)
    parts += [
        "## Memory and time per stage, by size",
        "",
        memory_table(r),
        "",
    ]
    if NOTES.exists():
        parts += [NOTES.read_text().strip(), ""]
    return "\n".join(parts)


def _big_run_lines(d: dict[str, Any]) -> list[str]:
    """The big-day run's own line under the main run's (see :func:`merge_big`)."""
    big = d.get("big_run")
    if not big:
        return []
    sizes = ", ".join(_rows(n) for n in d["params"].get("big_rows", []))
    dirty = f" with {big['uncommitted_files']} uncommitted files" if big["uncommitted_files"] else ""
    return [
        f"**{sizes} rows, measured apart:** {big['started']} · `{big['command']}` · "
        f"{big['duration_seconds'] / 60:.0f} min · git `{big['commit'][:10]}`{dirty} · "
        f"highest 1-min load average seen: {big['load_avg_max']:.1f}",
        "",
    ]


def load_results(results_path: Path, big_path: Path | None = None) -> Results:
    """The results of one run, with a big-day run's merged in (:func:`merge_big`) when given."""
    data = json.loads(results_path.read_text())
    if big_path is not None:
        data = merge_big(data, json.loads(big_path.read_text()))
    return Results(data)


def write_docs(
    results_path: Path, doc: Path = DOC, chart_path: Path | None = None, big_path: Path | None = None
) -> list[Path]:
    """Write the page and its chart (next to it unless ``chart_path``) from a results file."""
    chart_path = chart_path or doc.with_suffix(".png")
    r = load_results(results_path, big_path)
    chart(r, chart_path)
    doc.write_text(render(r, results_path, chart_path))
    return [doc, chart_path]


def summary_table(data: dict[str, Any]) -> str:
    r = Results(data)
    lines = [f"{'measurement':<44} {'work':>24} {'process':>24} {'peak RSS':>26}"]
    for m in data["measurements"]:
        lines.append(
            f"{m['key']:<44} {Figure.of(m['work_seconds']).secs():>24} {Figure.of(m['process_seconds']).secs():>24} "
            f"{Figure.of(m['peak_rss']).mib():>26}"
        )
    for n, group in [(TINY_ROWS, "startup"), *((n, "chain") for n in r.sizes)]:
        startup = startup_table(r, n, group)
        if startup:
            lines += ["", f"task start-up, {_rows(n)} rows:", startup]
    lines.append("")
    lines += [f"[issue {g.issue}] {g.goal}: {g.measured} -> {g.verdict}" for g in goals(r)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="docs/benchmarks.md and its chart from bench.run's results")
    parser.add_argument("results", type=Path, help="bench/results/<date>.json")
    parser.add_argument("big", type=Path, nargs="?", help="a big-day run's results (--only chain), merged in")
    parser.add_argument("--doc", type=Path, default=DOC, help="the page to write (its chart: same name, .png)")
    args = parser.parse_args(argv)
    big = args.big.resolve() if args.big else None
    for path in write_docs(args.results.resolve(), args.doc.resolve(), big_path=big):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
