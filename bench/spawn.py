"""Run a command and report its wall time and peak RSS: ``python -I spawn.py <report.json> <command...>``.

Why a separate small process: Linux keeps a process's RSS high-water mark across ``exec`` (the
kernel copies the old address space's peak into ``ru_maxrss``), so a child started straight from
the benchmark harness - which holds the generated data, DuckDB and psycopg - would report the
harness's peak instead of its own. Started from this tiny interpreter, the measured command
inherits a peak of a few MiB, far below anything it measures.

Only the standard library's ``os``, ``sys``, ``json`` and ``time`` are used, on purpose.

``started_at`` and ``ended_at`` (``time.time()``) bracket the child's life, so the harness can split
its wall time into phases with the timestamps :mod:`bench.tasks` writes (start-up, set-up, work, exit).
"""

import json
import os
import sys
import time


def main() -> int:
    report, command = sys.argv[1], sys.argv[2:]
    load = os.getloadavg()[0]
    started_at = time.time()
    start = time.perf_counter()
    pid = os.posix_spawnp(command[0], command, os.environ)
    _, status, usage = os.wait4(pid, 0)  # this child's own rusage, its waited-for children included
    wall = time.perf_counter() - start
    ended_at = time.time()
    with open(report, "w") as fh:
        json.dump(
            {
                "exit": os.waitstatus_to_exitcode(status),
                "seconds": wall,
                "started_at": started_at,
                "ended_at": ended_at,
                "maxrss_kib": usage.ru_maxrss,
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
                "load_before": load,
                "load_after": os.getloadavg()[0],
            },
            fh,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
