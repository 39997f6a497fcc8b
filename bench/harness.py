"""Runs each measurement in a fresh process and records what it cost.

A measurement is one or more :mod:`bench.tasks` processes run one after the other (the whole chain
is four: ingest, gate, partition, load, each its own process as Airflow runs them). For every
process the harness records:

* ``seconds`` - the work, timed inside the process (imports and start-up excluded);
* ``process_seconds`` - the process's wall time, start-up and imports included;
* ``startup_seconds`` - ``process_seconds - seconds``, and ``phases``, where it went: ``interpreter``
  (until :mod:`bench.tasks` runs), ``setup`` (imports, the DAG file, the task; until the first timed
  block), ``after`` (from the last timed block to the result written) and ``exit`` (interpreter
  shutdown, until the process is reaped);
* ``peak_rss`` - the process's peak resident set size, from ``os.wait4``'s rusage (``ru_maxrss``;
  it includes children the process waited for, e.g. ``psql``), taken by the small launcher
  :mod:`bench.spawn` (see there why). The PostgreSQL server's own memory is not in it, for any tool.

Runs of the measurements of one comparison are interleaved (A, B, C, A, B, C, ...) so that a slow
phase of the machine does not land on one tool only.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


class TaskFailed(RuntimeError):
    """A measured process exited with an error; the message has the tail of its log."""


@dataclass
class Spec:
    """One measurement: what runs, on which data, and what to prepare before each run (untimed).

    :param key: unique id, ``<group>/<tool>/<rows>``.
    :param steps: ``(task, params)`` pairs, each run in its own process.
    :param data_bytes: size of the data set's CSV, for MB/s (the same yardstick for every tool).
    :param total: ``"work"`` - the result's time is the sum of the timed work; ``"process"`` - the
        sum of the processes' wall times (start-up and imports included, as for a DAG run).
    :param launch: ``"fresh"`` - each step is a new Python process; ``"forked"`` - each step runs as
        an Airflow worker runs a task: forked from a process with the task SDK's supervisor imported,
        leaving through ``os._exit`` (:func:`bench.tasks.forked`); the step's process figures are
        the forked task process's own.
    """

    key: str
    group: str
    tool: str
    rows: int
    steps: list[tuple[str, dict[str, Any]]]
    data_bytes: int
    setup: Callable[[], None] | None = None
    total: str = "work"
    launch: str = "fresh"
    note: str = ""
    runs: list[dict[str, Any]] = field(default_factory=list)


def run_task(
    task: str, params: dict[str, Any], env: dict[str, str], log: Path, timeout: float, launch: str = "fresh"
) -> dict[str, Any]:
    """Run one task in a fresh Python process (through :mod:`bench.spawn`), or forked from a warm
    one (``launch="forked"``); its result, wall time, peak RSS."""
    import signal

    from bench.tasks import fork_report

    log.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lockgate-bench-") as tmp:
        params_file, result_file = Path(tmp) / "params.json", Path(tmp) / "result.json"
        spawn_file = Path(tmp) / "spawn.json"
        params_file.write_text(json.dumps(params))
        how = ["--forked"] if launch == "forked" else []
        command = [sys.executable, "-m", "bench.tasks", *how, task, str(params_file), str(result_file)]
        spawner = [sys.executable, "-I", str(REPO / "bench" / "spawn.py"), str(spawn_file)]
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [*spawner, *command], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        spawned = json.loads(spawn_file.read_text()) if spawn_file.exists() else {"exit": proc.returncode}
        if spawned["exit"] != 0 or not result_file.exists():
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
            raise TaskFailed(f"{task} exited with {spawned['exit']} (log {log}):\n{tail}")
        result: dict[str, Any] = json.loads(result_file.read_text())
        if launch == "forked":
            # the task process is the forked child; the launcher's own imports play the worker's
            result["launcher_seconds"] = spawned["seconds"]
            loads = {k: spawned[k] for k in ("load_before", "load_after")}
            spawned = {**json.loads(fork_report(str(result_file)).read_text()), **loads}
    result["task"] = task
    result["process_seconds"] = spawned["seconds"]
    result["startup_seconds"] = spawned["seconds"] - result["seconds"]
    result["phases"] = phases(spawned, result.pop("times", {}))
    result["peak_rss"] = spawned["maxrss_kib"] * 1024
    result["cpu_seconds"] = spawned["cpu_seconds"]
    result["load"] = [spawned["load_before"], spawned["load_after"]]
    return result


def phases(spawned: dict[str, Any], times: dict[str, float]) -> dict[str, float]:
    """The process's wall time outside its work, by phase (see the module's docstring)."""
    if (
        not {"started_at", "ended_at"} <= spawned.keys()
        or not {"main", "work_start", "work_end", "result"} <= times.keys()
    ):
        return {}
    return {
        "interpreter": times["main"] - spawned["started_at"],
        "setup": times["work_start"] - times["main"],
        "after": times["result"] - times["work_end"],
        "exit": spawned["ended_at"] - times["result"],
    }


def run_spec_once(spec: Spec, env: dict[str, str], logs: Path, timeout: float) -> dict[str, Any]:
    if spec.setup is not None:
        spec.setup()
    number = len(spec.runs) + 1
    steps = []
    for index, (task, params) in enumerate(spec.steps):
        log = logs / f"{spec.key.replace('/', '_')}-run{number}-{index}-{task}.log"
        steps.append(run_task(task, params, env, log, timeout, spec.launch))
    run = {
        "seconds": sum(s["seconds"] if spec.total == "work" else s["process_seconds"] for s in steps),
        "work_seconds": sum(s["seconds"] for s in steps),
        "process_seconds": sum(s["process_seconds"] for s in steps),
        "peak_rss": max(s["peak_rss"] for s in steps),
        "cpu_seconds": sum(s["cpu_seconds"] for s in steps),
        "load": max(max(s["load"]) for s in steps),
        "rows": steps[-1]["rows"],
        "steps": steps,
    }
    spec.runs.append(run)
    return run


def run_interleaved(
    specs: Sequence[Spec],
    runs: int,
    env: dict[str, str],
    logs: Path,
    timeout: float,
    say: Callable[[str], None] = print,
) -> None:
    """``runs`` rounds; each round runs every spec once, in order."""
    for round_number in range(1, runs + 1):
        for spec in specs:
            run = run_spec_once(spec, env, logs, timeout)
            say(
                f"  [{round_number}/{runs}] {spec.key:<44} {run['seconds']:8.2f} s  "
                f"(process {run['process_seconds']:7.2f} s)  peak RSS {run['peak_rss'] / 2**20:7.0f} MiB  "
                f"rows {run['rows']}"
            )


def spread(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarise(spec: Spec) -> dict[str, Any]:
    """Medians with min and max over the runs, and throughput at the median."""
    seconds = spread([r["seconds"] for r in spec.runs])
    rss = spread([r["peak_rss"] for r in spec.runs])
    rows = spec.runs[0]["rows"]
    return {
        "key": spec.key,
        "group": spec.group,
        "tool": spec.tool,
        "rows": rows,
        "data_rows": spec.rows,
        "note": spec.note,
        "runs": len(spec.runs),
        "seconds": seconds,
        "work_seconds": spread([r["work_seconds"] for r in spec.runs]),
        "process_seconds": spread([r["process_seconds"] for r in spec.runs]),
        "peak_rss": rss,
        "cpu_seconds": spread([r["cpu_seconds"] for r in spec.runs]),
        "load_avg_max": max(r["load"] for r in spec.runs),
        "rss_before_work": spread([max(s.get("rss_before_work") or 0 for s in r["steps"]) for r in spec.runs]),
        "rows_per_s": spec.rows / seconds["median"] if seconds["median"] else None,
        "mb_per_s": spec.data_bytes / 1e6 / seconds["median"] if seconds["median"] else None,
        "steps": [
            {
                "task": step["task"],
                "seconds": spread([r["steps"][i]["seconds"] for r in spec.runs]),
                "process_seconds": spread([r["steps"][i]["process_seconds"] for r in spec.runs]),
                "startup_seconds": spread([r["steps"][i]["startup_seconds"] for r in spec.runs]),
                "phases": {
                    phase: statistics.median(r["steps"][i]["phases"][phase] for r in spec.runs)
                    for phase in spec.runs[0]["steps"][i].get("phases", {})
                },
                "peak_rss": spread([r["steps"][i]["peak_rss"] for r in spec.runs]),
                "cpu_seconds": spread([r["steps"][i]["cpu_seconds"] for r in spec.runs]),
                "extra": {
                    k: v
                    for k, v in spec.runs[-1]["steps"][i].items()
                    if k
                    not in (
                        "seconds",
                        "process_seconds",
                        "startup_seconds",
                        "phases",
                        "peak_rss",
                        "cpu_seconds",
                        "load",
                        "task",
                        "rss_before_work",
                    )
                },
            }
            for i, step in enumerate(spec.runs[0]["steps"])
        ],
        "raw": [
            {k: r[k] for k in ("seconds", "work_seconds", "process_seconds", "peak_rss", "cpu_seconds", "load")}
            for r in spec.runs
        ],
    }
