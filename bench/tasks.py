"""The measured workloads. Each runs in a fresh process started by :mod:`bench.harness`:

    python -m bench.tasks <task> <params.json> <result.json>

A task imports what its tool needs (so a process's peak RSS is that tool's, not the benchmark's),
times only its work with ``time.perf_counter`` and writes a JSON result: ``seconds`` (the work),
``rows`` and whatever the tool reported. Imports and interpreter start-up show in the harness's
process wall time instead; ``times`` has the wall-clock moments (``time.time()``) this module began
(``main``), the first timed block began and the last one ended (``work_start``, ``work_end``) and the
result was written (``result``), from which the harness splits the process into phases.

Lockgate is run the way Airflow runs it: the tasks of ``dags/air_quality_daily.py`` (deep copies, as
``tests/support/pipeline.py`` does), ``execute()`` with the logical date and a run id, the lake
and the warehouse from ``$LOCKGATE_HOME`` and the ``lockgate_warehouse`` connection.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: when this module began running: the interpreter's own start-up is over
MAIN_STARTED = time.time()

DS = "2026-01-02"
RUN_ID = "scheduled__2026-01-02T00:00:00+00:00"
READINGS_COLUMNS = ("station_id", "region", "observed_at", "pollutant", "value", "unit")
PG_TYPES = {
    "station_id": "text",
    "region": "text",
    "observed_at": "timestamptz",
    "pollutant": "text",
    "value": "double precision",
    "unit": "text",
}
DUCKDB_TYPES = {
    "station_id": "VARCHAR",
    "region": "VARCHAR",
    "observed_at": "TIMESTAMPTZ",
    "pollutant": "VARCHAR",
    "value": "DOUBLE",
    "unit": "VARCHAR",
}

TASKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def task(fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    TASKS[fn.__name__] = fn
    return fn


def peak_rss() -> int | None:
    """This process's own peak RSS so far (``VmHWM``: the address space's high-water mark)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


#: peak RSS of this process when the first timed block began (interpreter + imports + set-up)
RSS_BEFORE_WORK: list[int] = []
#: wall-clock moments of the process: main, work_start (first timed block), work_end (last one)
TIMES: dict[str, float] = {"main": MAIN_STARTED}


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``."""

    def __enter__(self) -> Timer:
        if not RSS_BEFORE_WORK:
            RSS_BEFORE_WORK.append(peak_rss())
        TIMES.setdefault("work_start", time.time())
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
        TIMES["work_end"] = time.time()


def _dag_task(task_id: str, **mapped: Any) -> Any:
    from tests.support.pipeline import operator

    return operator(task_id, **mapped)


def _context() -> dict[str, Any]:
    from tests.support.pipeline import context

    return context(DS, RUN_ID)


# --------------------------------------------------------------------------------- lockgate stages


#: the input's format -> the DAG's mapped ingest task for it and its source's name
INGESTS = {"csv": ("ingest_partner", "partner"), "ndjson": ("ingest_gateway", "gateway")}


@task
def op_ingest(p: dict[str, Any]) -> dict[str, Any]:
    """IngestOperator (the DAG's ``ingest_partner``, one mapped instance; ``format: ndjson`` in the
    params: ``ingest_gateway``): copy the file into the raw zone and count its records."""
    task_id, source = INGESTS[p.get("format", "csv")]
    op = _dag_task(task_id, source=p["csv"], source_name=f"{source}/{Path(p['csv']).stem}")
    with Timer() as t:
        out = op.execute(_context())
    return {"seconds": t.seconds, "rows": out["rows"], "output": out}


@task
def op_gate(p: dict[str, Any]) -> dict[str, Any]:
    """QualityGateOperator (``gate_readings``): run_gate on the raw CSV, publish staged + quarantine."""
    op = _dag_task("gate_readings")
    with Timer() as t:
        out = op.execute(_context())
    return {"seconds": t.seconds, "rows": out["rows_in"], "output": out}


@task
def op_partition(p: dict[str, Any]) -> dict[str, Any]:
    """PartitionOperator (``partition_readings``): staged Parquet to hive-partitioned curated Parquet."""
    op = _dag_task("partition_readings")
    with Timer() as t:
        out = op.execute(_context())
    return {"seconds": t.seconds, "rows": out["rows"], "output": out}


@task
def op_load(p: dict[str, Any]) -> dict[str, Any]:
    """WarehouseLoadOperator (``load_fact_air_quality_hourly``, replace_partition) into PostgreSQL.

    ``mode`` and ``table`` in the params load the same rows another way (e.g. a blind ``append``).
    """
    # like for like with load_adbc, which imports its driver and pyarrow before its timer starts:
    # imported lazily inside execute(), they were ~0.5 s of Lockgate's measured work at 10M rows
    # (the import's time is returned: in Airflow it is the task's, so start-up figures subtract it)
    start = time.perf_counter()
    import adbc_driver_postgresql.dbapi  # noqa: F401
    import pyarrow.dataset  # noqa: F401

    driver_import = time.perf_counter() - start
    op = _dag_task("load_fact_air_quality_hourly")
    op.mode = p.get("mode", op.mode)
    op.table = p.get("table", op.table)
    with Timer() as t:
        out = op.execute(_context())
    return {"seconds": t.seconds, "rows": out["rows_loaded"], "output": out, "driver_import_seconds": driver_import}


@task
def run_gate(p: dict[str, Any]) -> dict[str, Any]:
    """lockgate.gate.run_gate on a raw CSV (``format: ndjson``: NDJSON) with the DAG's preprocessing
    (no lake, no Airflow task)."""
    from lockgate.contracts import load_contract
    from lockgate.gate import RawFile
    from lockgate.gate import run_gate as gate

    preprocess = _dag_task("gate_readings").preprocess
    contract = load_contract("readings")
    work = Path(p["workdir"])
    shutil.rmtree(work, ignore_errors=True)
    fmt = p.get("format", "csv")
    raw = RawFile(key=f"raw/readings/bench.{fmt}", local_path=Path(p["csv"]), format=fmt, rows=p["rows"])
    with Timer() as t:
        outcome = gate(contract, [raw], ds=DS, workdir=work, preprocess=preprocess)
    report = outcome.report
    keys = ("rows_in", "rows_passed", "rows_quarantined", "duplicates_removed", "quarantine_by_check")
    return {"seconds": t.seconds, "rows": report["rows_in"], "output": {k: report[k] for k in keys}}


@task
def read_batches(p: dict[str, Any]) -> dict[str, Any]:
    """lockgate.formats.read_batches over a CSV (the contract's columns as Arrow strings), counting rows."""
    from lockgate.formats import read_batches as read

    rows = rejects = 0
    with Timer() as t:
        for batch, bad in read(p["csv"], list(READINGS_COLUMNS), fmt="csv"):
            rows += batch.num_rows
            rejects += len(bad)
    return {"seconds": t.seconds, "rows": rows + rejects, "output": {"rows": rows, "rejects": rejects}}


# ----------------------------------------------------------------------------------------- floors


@task
def floor_ingest(p: dict[str, Any]) -> dict[str, Any]:
    """Copy the file and count its lines in 8 MiB blocks: the least an ingest must do."""
    target = Path(p["workdir"]) / "copy.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    lines = 0
    with Timer() as t, open(p["csv"], "rb") as src, open(target, "wb") as dst:
        while block := src.read(8 << 20):
            lines += block.count(b"\n")
            dst.write(block)
    target.unlink()
    return {"seconds": t.seconds, "rows": lines - 1}


def _hand_written_checks(con: Any, relation: str) -> dict[str, int]:
    """The 9 checks as a person writes them in DuckDB SQL: one scan of counts, one GROUP BY."""
    row = con.execute(
        f"""
        SELECT count(*),
               count(*) FILTER (WHERE station_id IS NULL),
               count(*) FILTER (WHERE observed_at IS NULL),
               count(*) FILTER (WHERE pollutant IS NULL),
               count(*) FILTER (WHERE value IS NULL),
               count(*) FILTER (WHERE pollutant IN ('pm25', 'pm10', 'so2', 'no2')
                                  AND value IS NOT NULL AND (value < 0 OR value > 10000)),
               count(*) FILTER (WHERE pollutant IN ('o3', 'co') AND value IS NOT NULL AND (value < 0 OR value > 50)),
               count(*) FILTER (WHERE pollutant NOT IN ('pm25', 'pm10', 'o3', 'co', 'so2', 'no2')),
               count(*) FILTER (WHERE unit NOT IN ('ug/m3', 'ppm', 'ppb'))
        FROM {relation}
        """
    ).fetchone()
    (duplicates,) = con.execute(
        f"""
        SELECT coalesce(sum(n), 0) FROM (
            SELECT station_id, observed_at, pollutant, count(*) AS n FROM {relation}
            WHERE station_id IS NOT NULL OR observed_at IS NOT NULL OR pollutant IS NOT NULL
            GROUP BY ALL HAVING count(*) > 1)
        """
    ).fetchone()
    names = [
        "rows",
        "not_null(station_id)",
        "not_null(observed_at)",
        "not_null(pollutant)",
        "not_null(value)",
        "between(value) where pm/so2/no2",
        "between(value) where o3/co",
        "in_set(pollutant)",
        "in_set(unit)",
    ]
    counts = dict(zip(names, (int(v) for v in row), strict=True))
    counts["unique(station_id,observed_at,pollutant)"] = int(duplicates)
    return counts


@task
def floor_gate(p: dict[str, Any]) -> dict[str, Any]:
    """Hand-written DuckDB: typed CSV read, row filter, staged Parquet, the 9 checks on it.

    No quarantine reasons, no exact-duplicate removal, no sort: the least a gate must do.
    ``format: ndjson`` in the params: DuckDB's typed ``read_json`` of NDJSON instead.
    """
    import duckdb

    work = Path(p["workdir"])
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    staged = work / "staged.parquet"
    columns = "{" + ", ".join(f"'{c}': '{t}'" for c, t in DUCKDB_TYPES.items()) + "}"
    con = duckdb.connect(str(work / "floor.duckdb"))
    reader = f"read_csv('{p['csv']}', header = true, columns = {columns}, ignore_errors = true)"
    if p.get("format") == "ndjson":
        reader = f"read_json('{p['csv']}', format = 'newline_delimited', columns = {columns}, ignore_errors = true)"
    with Timer() as t:
        con.execute("SET TimeZone='UTC'")
        con.execute(
            f"""
            COPY (
                SELECT *, DATE '{DS}' AS ds
                FROM {reader}
                WHERE station_id IS NOT NULL AND region IS NOT NULL AND observed_at IS NOT NULL
                  AND pollutant IS NOT NULL AND value IS NOT NULL AND unit IS NOT NULL
                  AND isfinite(value) AND value >= 0
                  AND CAST(observed_at AS DATE) = DATE '{DS}'
            ) TO '{staged}' (FORMAT parquet, COMPRESSION zstd)
            """
        )
        counts = _hand_written_checks(con, f"read_parquet('{staged}')")
    con.close()
    return {"seconds": t.seconds, "rows": p["rows"], "output": counts}


@task
def floor_partition(p: dict[str, Any]) -> dict[str, Any]:
    """DuckDB ``COPY ... PARTITION_BY (ds, region)`` of the staged Parquet (default threads, no sort)."""
    import duckdb

    out = Path(p["workdir"]) / "partitioned"
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    with Timer() as t:
        con.execute("SET TimeZone='UTC'")
        con.execute(
            f"COPY (SELECT * FROM read_parquet('{p['staged']}')) TO '{out}' "
            "(FORMAT parquet, COMPRESSION zstd, PARTITION_BY (ds, region))"
        )
    (rows,) = con.execute(f"SELECT count(*) FROM read_parquet('{out}/**/*.parquet')").fetchone()
    con.close()
    files = len(list(out.rglob("*.parquet")))
    shutil.rmtree(out, ignore_errors=True)
    return {"seconds": t.seconds, "rows": int(rows), "output": {"files": files}}


@task
def load_adbc(p: dict[str, Any]) -> dict[str, Any]:
    """ADBC ``adbc_ingest`` of the curated Parquet (streamed as Arrow batches) into a new table
    (``mode: append`` in the params: into an existing one, e.g. with the fact table's primary key)."""
    import adbc_driver_postgresql.dbapi as adbc
    import pyarrow as pa
    import pyarrow.dataset as pads

    partitioning = pads.partitioning(pa.schema([("ds", pa.date32()), ("region", pa.string())]), flavor="hive")
    dataset = pads.dataset(p["curated"], format="parquet", partitioning=partitioning)
    with Timer() as t:
        reader = dataset.scanner(batch_size=100_000).to_reader()
        with adbc.connect(p["dsn"]) as conn:
            with conn.cursor() as cur:
                rows = cur.adbc_ingest(p["table"], reader, mode=p.get("mode", "create"))
            conn.commit()
    return {"seconds": t.seconds, "rows": int(rows)}


@task
def load_to_sql(p: dict[str, Any]) -> dict[str, Any]:
    """What people write by hand: ``pd.read_csv`` then ``DataFrame.to_sql`` (SQLAlchemy + psycopg 3)."""
    import pandas as pd
    import sqlalchemy

    engine = sqlalchemy.create_engine(p["dsn"].replace("postgresql://", "postgresql+psycopg://", 1))
    with Timer() as t:
        frame = pd.read_csv(p["csv"], parse_dates=["observed_at"])
        frame["ds"] = pd.Timestamp(DS).date()
        frame.to_sql(p["table"], engine, if_exists="append", index=False)
    engine.dispose()
    return {"seconds": t.seconds, "rows": len(frame)}


@task
def load_dlt(p: dict[str, Any]) -> dict[str, Any]:
    """A dlt pipeline: an Arrow source (the CSV read in record batches) into PostgreSQL, parquet loader files."""
    import datetime as dt

    import dlt
    import pyarrow as pa
    import pyarrow.csv as pacsv

    types = {
        "station_id": pa.string(),
        "region": pa.string(),
        "observed_at": pa.timestamp("us", tz="UTC"),
        "pollutant": pa.string(),
        "value": pa.float64(),
        "unit": pa.string(),
    }
    day = dt.date.fromisoformat(DS)

    @dlt.resource(name=p["table"], write_disposition="append")
    def readings() -> Any:
        reader = pacsv.open_csv(p["csv"], convert_options=pacsv.ConvertOptions(column_types=types))
        for batch in reader:
            yield batch.append_column("ds", pa.array([day] * batch.num_rows, pa.date32()))

    dsn = p["dsn"]
    if "@" in dsn and ":" not in dsn.split("://", 1)[1].split("@", 1)[0]:
        # dlt insists on a password; with trust (or peer) auth the server ignores it
        dsn = dsn.replace("@", ":unused@", 1)
    pipeline = dlt.pipeline(
        pipeline_name="lockgate_bench",
        pipelines_dir=p["workdir"],
        destination=dlt.destinations.postgres(credentials=dsn),
        dataset_name=p["schema"],
        progress=None,
    )
    with Timer() as t:
        info = pipeline.run(readings(), loader_file_format="parquet")
    info.raise_on_failed_jobs()
    rows = pipeline.last_trace.last_normalize_info.row_counts.get(p["table"], 0)
    return {"seconds": t.seconds, "rows": int(rows)}


@task
def load_psql(p: dict[str, Any]) -> dict[str, Any]:
    """``psql \\copy`` of the CSV into an existing table (timed around the psql process)."""
    columns = ", ".join(READINGS_COLUMNS)
    command = f"\\copy {p['table']} ({columns}) FROM '{p['csv']}' WITH (FORMAT csv, HEADER true)"
    with Timer() as t:
        done = subprocess.run(
            ["psql", p["dsn"], "-v", "ON_ERROR_STOP=1", "-qc", command], check=True, capture_output=True, text=True
        )
    return {"seconds": t.seconds, "rows": p["rows"], "output": done.stdout.strip()}


# ---------------------------------------------------------------------------------- the 9 checks


def nine_checks() -> list[Any]:
    """4 not-null, 2 range (the contract's, with row conditions), 2 in-set, 1 compound unique."""
    from lockgate.contracts import Expectation

    def exp(name: str, **kwargs: Any) -> Expectation:
        return Expectation(expectation=name, severity="fail", kwargs=kwargs)

    return [
        *(exp("expect_column_values_to_not_be_null", column=c) for c in ("station_id", "observed_at", "pollutant")),
        exp("expect_column_values_to_not_be_null", column="value"),
        exp(
            "expect_column_values_to_be_between",
            column="value",
            min_value=0,
            max_value=10000,
            row_condition='pollutant in ["pm25", "pm10", "so2", "no2"]',
            condition_parser="pandas",
        ),
        exp(
            "expect_column_values_to_be_between",
            column="value",
            min_value=0,
            max_value=50,
            row_condition='pollutant in ["o3", "co"]',
            condition_parser="pandas",
        ),
        exp(
            "expect_column_values_to_be_in_set",
            column="pollutant",
            value_set=["pm25", "pm10", "o3", "co", "so2", "no2"],
        ),
        exp("expect_column_values_to_be_in_set", column="unit", value_set=["ug/m3", "ppm", "ppb"]),
        exp("expect_compound_columns_to_be_unique", column_list=["station_id", "observed_at", "pollutant"]),
    ]


@task
def checks_lockgate(p: dict[str, Any]) -> dict[str, Any]:
    """lockgate.checks.evaluate: the 9 GX expectations as DuckDB SQL, GX-shaped results."""
    import duckdb

    from lockgate.checks import evaluate

    con = duckdb.connect(p["db"], read_only=True)
    expectations = nine_checks()
    with Timer() as t:
        results = evaluate(con, "readings", expectations, columns=list(READINGS_COLUMNS))
    con.close()
    return {"seconds": t.seconds, "rows": p["rows"], "unexpected": [r["unexpected_count"] for r in results]}


@task
def checks_sql(p: dict[str, Any]) -> dict[str, Any]:
    """The same 9 checks written by hand in DuckDB SQL."""
    import duckdb

    con = duckdb.connect(p["db"], read_only=True)
    with Timer() as t:
        counts = _hand_written_checks(con, "readings")
    con.close()
    return {"seconds": t.seconds, "rows": p["rows"], "unexpected": list(counts.values())[1:]}


@task
def checks_gx(p: dict[str, Any]) -> dict[str, Any]:
    """Plain Great Expectations Core on a pandas frame of the same table (the frame's read timed apart)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import duckdb
    import great_expectations as gx

    con = duckdb.connect(p["db"], read_only=True)
    with Timer() as read:
        frame = con.sql("SELECT * FROM readings").df()
    con.close()
    with Timer() as t:
        context = gx.get_context(mode="ephemeral")
        batch = (
            context.data_sources.add_pandas("bench")
            .add_dataframe_asset("readings")
            .add_batch_definition_whole_dataframe("all")
            .get_batch(batch_parameters={"dataframe": frame})
        )
        suite = gx.ExpectationSuite(name="nine_checks")
        for index, e in enumerate(nine_checks()):
            suite.add_expectation(getattr(gx.expectations, e.gx_class_name)(**e.kwargs, meta={"i": index}))
        validation = batch.validate(suite)
    # GX does not keep the suite's order in its results: pair them through the meta index
    by_index = {r.expectation_config.meta["i"]: (r.result or {}).get("unexpected_count") for r in validation.results}
    return {
        "seconds": t.seconds,
        "rows": p["rows"],
        "frame_seconds": read.seconds,
        "unexpected": [by_index[i] for i in range(len(by_index))],
    }


def main(argv: list[str]) -> int:
    if argv[0] == "--forked":
        return forked(argv[1:])
    name, params_file, result_file = argv
    params = json.loads(Path(params_file).read_text())
    result = TASKS[name](params)
    result["rss_before_work"] = RSS_BEFORE_WORK[0] if RSS_BEFORE_WORK else None
    result["vmhwm"] = peak_rss()
    result["times"] = {**TIMES, "result": time.time()}
    Path(result_file).write_text(json.dumps(result, default=str))
    return 0


def fork_report(result_file: str) -> Path:
    """Where :func:`forked` writes the task process's own wall time, CPU and peak RSS."""
    return Path(result_file + ".fork.json")


def forked(argv: list[str]) -> int:
    """Run a task the way an Airflow worker does (LocalExecutor, Celery): in a child forked from a
    process that has the task SDK's supervisor imported.

    ``supervise()`` forks the task runner (``airflow.sdk.execution_time.supervisor._fork_main``): the
    child inherits the worker's imports, blocks Airflow's database (``block_orm_access``), parses the
    DAG file, runs the task and leaves through ``os._exit`` once its own atexit handlers ran, without
    tearing the interpreter down. This process
    plays the worker (its imports are not measured); the child's wall time, CPU and peak RSS (from
    ``wait4``) go to :func:`fork_report` for the harness.
    """
    import atexit
    import traceback

    from airflow.sdk.execution_time.supervisor import block_orm_access  # a worker has it before it forks

    started_at = time.time()
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the task runner
        code = 1
        try:
            TIMES["main"] = time.time()
            atexit._clear()  # as _fork_main: only handlers registered in the task run at its exit
            block_orm_access()  # as _fork_main: no task reaches Airflow's database directly
            code = main(argv)
            atexit._run_exitfuncs()
        except Exception:  # noqa: BLE001  (the child leaves through os._exit: print what failed first)
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status, usage = os.wait4(pid, 0)
    report = {
        "exit": os.waitstatus_to_exitcode(status),
        "seconds": time.perf_counter() - start,
        "started_at": started_at,
        "ended_at": time.time(),
        "maxrss_kib": usage.ru_maxrss,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
    }
    fork_report(argv[-1]).write_text(json.dumps(report))
    return int(report["exit"])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
