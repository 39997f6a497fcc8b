"""The PostgreSQL SQL source: ADBC ``fetch_record_batch`` against the DB-API path it replaced.

    python -m bench.sql_source [--rows 1000000] [--runs 3]

Fills a table of ``--rows`` orders (bigint, text, numeric(10,2), timestamptz, a nullable text) in a
scratch database on ``BENCH_PG_DSN`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``),
then reads it into Parquet the two ways :class:`lockgate.sources.sql.SqlSource` can: its ADBC path
(``_spool_adbc``) and its DB-API path (``_spool_dbapi``: a server-side psycopg cursor, rows as
Python objects, then Arrow), alternating, ``--runs`` times each. Prints one JSON line per run and
the medians; both files must hold the same rows.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

DEFAULT_SERVER_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE = "lockgate_bench_sql_source"


def _dsn(server: str, database: str) -> str:
    parts = urlsplit(server)
    return urlunsplit(parts._replace(path=f"/{database}"))


def prepare(server: str, rows: int) -> str:
    """A fresh scratch database with ``orders`` of ``rows`` rows; its DSN."""
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    dsn = _dsn(server, DATABASE)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE orders AS SELECT i::bigint AS order_id, 'customer-' || (i %% 5000) AS customer, "
            "round((i %% 100000) / 100.0, 2)::numeric(10, 2) AS amount, "
            "timestamptz '2026-01-01' + i * interval '1 second' AS updated_at, "
            "CASE WHEN i %% 10 = 0 THEN 'note ' || i END AS note FROM generate_series(1, %s) AS i",
            [rows],
        )
        conn.execute("VACUUM ANALYZE orders")
    return dsn


def read_once(path: str, workdir: Path) -> dict[str, Any]:
    """One read of the table through ``path`` (``adbc`` or ``dbapi``): seconds, rows, file size."""
    from lockgate.progress import Progress
    from lockgate.sources.base import ParquetSpool
    from lockgate.sources.sql import SqlSource

    source = SqlSource(conn_id="bench_src", table="orders")
    hook = source._hook()
    sql, params = source._read_sql(hook, None, None, numbered=path == "adbc")
    target = workdir / f"{path}.parquet"
    spool = ParquetSpool(target, description=path)
    progress = Progress(f"bench {path}", every=3600)
    started, cpu = time.perf_counter(), time.process_time()
    if path == "adbc":
        uri = source._adbc_uri(hook)
        assert uri is not None
        source._spool_adbc(uri, sql, params, spool, progress)
    else:
        source._spool_dbapi(hook, sql, params, spool, progress)
    spool.close()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "path": path,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),  # this process only (the server's work is not in it): steadier on a busy machine
        "rows": spool.rows,
        "bytes": target.stat().st_size,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    server = os.environ.get("BENCH_PG_DSN") or DEFAULT_SERVER_DSN
    dsn = prepare(server, args.rows)
    os.environ["AIRFLOW_CONN_BENCH_SRC"] = dsn
    results: dict[str, list[float]] = {"adbc": [], "dbapi": []}
    cpu: dict[str, list[float]] = {"adbc": [], "dbapi": []}
    try:
        with tempfile.TemporaryDirectory(prefix="lockgate-bench-sql-") as tmp:
            for run in range(args.runs):
                for path in ("adbc", "dbapi"):
                    result = read_once(path, Path(tmp))
                    if result["rows"] != args.rows:
                        print(f"{path} read {result['rows']} rows of {args.rows}", file=sys.stderr)
                        return 1
                    results[path].append(result["seconds"])
                    cpu[path].append(result["cpu_seconds"])
                    print(json.dumps({"run": run + 1, "rows_in_table": args.rows, **result}), flush=True)
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
    adbc, dbapi = statistics.median(results["adbc"]), statistics.median(results["dbapi"])
    adbc_cpu, dbapi_cpu = statistics.median(cpu["adbc"]), statistics.median(cpu["dbapi"])
    summary = {
        "rows": args.rows,
        "runs": args.runs,
        "adbc_median_s": adbc,
        "dbapi_median_s": dbapi,
        "speedup": round(dbapi / adbc, 2),
        "adbc_median_cpu_s": adbc_cpu,
        "dbapi_median_cpu_s": dbapi_cpu,
        "cpu_ratio": round(dbapi_cpu / adbc_cpu, 2),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
