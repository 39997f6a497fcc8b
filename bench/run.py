"""``make bench``: Lockgate side by side with the floors and the tools users would pick instead.

    python -m bench.run --rows 1000000 10000000 --runs 3

For each size, on the same generated data and the same PostgreSQL, in one run:

* **pipeline** - the whole chain (ingest -> gate -> partition -> load, each task its own process, as
  Airflow runs them) and, interleaved with it: a rerun of the load (replace_partition over the
  loaded date), the floors of each stage (file copy + line count, hand-written DuckDB gate, DuckDB
  ``COPY ... PARTITION_BY``, ADBC ``adbc_ingest``), ``psql \\copy``, a dlt pipeline and pandas
  ``to_sql`` (only up to ``--to-sql-max-rows``);
* **chain** (only when asked: ``--only chain``) - the chain's four task processes alone, forked as
  Airflow's workers run tasks and in fresh interpreters, for each task's start-up (``process - work``);
* **ingest** (only when asked: ``--only ingest``) - ``IngestOperator`` on the clean and the dirty
  CSV, its floor and ``read_batches``, for ingestion's time and peak RSS;
* **load** (only when asked: ``--only load``) - the curated zone prepared once (untimed), then
  ``WarehouseLoadOperator`` (replace_partition, its rerun, a blind append) against ADBC
  ``adbc_ingest`` and ``psql \\copy``, for issue 5's load throughput;
* **partition** (only when asked: ``--only partition``) - the staged zone prepared once (untimed),
  then ``PartitionOperator`` against its floor, DuckDB ``COPY ... PARTITION_BY`` of the same staged
  Parquet;
* **gate** - ``run_gate`` on the CSV with 0.1% bad rows and on the clean one, interleaved with the
  hand-written DuckDB gate (the floor) and ``lockgate.formats.read_batches``;
* **checks** - the 9 checks: ``lockgate.checks.evaluate``, hand-written DuckDB SQL, plain GX on
  pandas, on the clean and the dirty table.

At the sizes of ``--ndjson-rows`` (10M by default) the pipeline and the gate are also measured on
the same rows as gateway NDJSON (``ingest_gateway``), with their NDJSON floors; every pipeline run
starts with the chain on a 50-row data set (its start-up). A 100M-row day runs like any size
(``--rows 1000000 10000000 100000000``, about 4.7 GB of CSV per data set, generated in
``--data-dir`` and deleted once measured: see ``--keep-data-max-rows``; GX on pandas is left out
above ``--gx-max-rows``), but ``make bench`` measures it apart, for its memory: the chain alone,
once (``--rows 100000000 --runs 1 --only chain``, forked only above ``--keep-data-max-rows``, the
clean CSV only: ~16 min on 2 busy cores), merged into the page by :mod:`bench.report`.

Results go to ``bench/results/<date>.json`` (``--out``); ``docs/benchmarks.md`` and its chart are
rewritten from them (see :mod:`bench.report`).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb

from bench import datagen, report
from bench.harness import REPO, Spec, run_interleaved, summarise
from bench.postgres import Warehouse, warehouse
from bench.tasks import DS, PG_TYPES, READINGS_COLUMNS
from tests.support.pg import airflow_conn_env

FACT_TABLE = "fact_air_quality_hourly"
AUDIT_TABLE = "lockgate_load_audit"
PACKAGES = (
    "lockgate",
    "apache-airflow",
    "apache-airflow-task-sdk",
    "duckdb",
    "pyarrow",
    "pandas",
    "numpy",
    "great-expectations",
    "adbc-driver-postgresql",
    "adbc-driver-manager",
    "psycopg",
    "sqlalchemy",
    "dlt",
    "psutil",
    "matplotlib",
)


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def machine() -> dict[str, Any]:
    import psutil

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_bytes": psutil.virtual_memory().total,
        "platform": platform.platform(),
    }


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    # the working tree measured: a digest of the code and resources that run (committed or not)
    digest = hashlib.sha256()
    for folder in ("plugins", "dags", "include"):
        for path in sorted((REPO / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes())
    return {
        "commit": git("rev-parse", "HEAD"),
        "uncommitted_files": len(git("status", "--porcelain").splitlines()),
        "code_sha256": digest.hexdigest(),
    }


@dataclasses.dataclass
class _Size:
    """One size's data sets, folders and environment, with the untimed set-ups its measurements
    run before each run (each leaves the warehouse as a fresh run of that tool would find it)."""

    wh: Warehouse
    rows: int
    clean: datagen.DataSet
    dirty: datagen.DataSet
    size: int  # the clean CSV's bytes: every measurement's MB/s yardstick
    home: Path
    env: dict[str, str]
    staged: Path
    curated: Path
    scratch: Path
    csv: str
    chain_steps: list[tuple[str, dict[str, Any]]]

    def spec(self, group: str, tool: str, steps: list[tuple[str, dict[str, Any]]], **kw: Any) -> Spec:
        return Spec(f"{group}/{tool}/{self.rows}", group, tool, self.rows, steps, self.size, **kw)

    def fresh_chain(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)
        self.wh.drop_tables(FACT_TABLE, AUDIT_TABLE)
        self.wh.checkpoint()

    def fresh_load(self) -> None:
        self.wh.drop_tables(FACT_TABLE, AUDIT_TABLE)
        self.wh.checkpoint()

    def before_rerun(self) -> None:
        self.wh.execute(f'VACUUM ANALYZE "{FACT_TABLE}"')
        self.wh.checkpoint()

    def fresh(self, table: str) -> Callable[[], None]:
        wh = self.wh

        def setup() -> None:
            wh.drop_tables(table)
            wh.checkpoint()

        return setup

    def fresh_append(self) -> None:
        self.wh.drop_tables("bench_append")
        # an append happens once per date: forget the last run's, as a new date would be
        self.wh.execute(
            f"DO $$ BEGIN IF to_regclass('\"{AUDIT_TABLE}\"') IS NOT NULL THEN "
            f"DELETE FROM \"{AUDIT_TABLE}\" WHERE table_name = 'bench_append'; END IF; END $$"
        )
        self.wh.checkpoint()

    def fresh_adbc_pk(self) -> None:
        columns = ", ".join(f"{c} {t} NOT NULL" for c, t in PG_TYPES.items())
        self.wh.drop_tables("bench_adbc_pk")
        self.wh.execute(
            f"CREATE TABLE bench_adbc_pk ({columns}, ds date NOT NULL, "
            "PRIMARY KEY (station_id, observed_at, pollutant, ds))"
        )
        self.wh.checkpoint()

    def fresh_psql(self) -> None:
        columns = ", ".join(f"{c} {t}" for c, t in PG_TYPES.items())
        self.wh.drop_tables("bench_psql")
        self.wh.execute(f"CREATE TABLE bench_psql ({columns}, ds date NOT NULL DEFAULT DATE '{DS}')")
        self.wh.checkpoint()

    def fresh_dlt(self) -> None:
        self.wh.execute("DROP SCHEMA IF EXISTS dlt_bench CASCADE")
        shutil.rmtree(self.scratch / "dlt", ignore_errors=True)
        self.wh.checkpoint()


class Bench:
    """Builds the measurements of one size and runs them."""

    def __init__(self, args: argparse.Namespace, wh: Warehouse) -> None:
        self.args = args
        self.wh = wh
        self.work: Path = args.work_dir
        self.summaries: list[dict[str, Any]] = []
        self.data: list[dict[str, Any]] = []

    def say(self, text: str) -> None:
        print(text, flush=True)

    def env(self, home: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_", "AIRFLOW__"))}
        # a worker keeps its bytecode: without it every fresh process would compile Airflow, pandas, GX...
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(self.args.data_dir / "pycache")
        airflow_home = self.work / "airflow"
        airflow_home.mkdir(parents=True, exist_ok=True)
        name, value = airflow_conn_env("lockgate_warehouse", self.wh.dsn)
        env.update(
            {
                "AIRFLOW_HOME": str(airflow_home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
                "AIRFLOW__OPENLINEAGE__DISABLED": "true",
                "GX_ANALYTICS_ENABLED": "False",
                "RUNTIME__DLTHUB_TELEMETRY": "false",
                "LOCKGATE_HOME": str(home),
                name: value,
            }
        )
        return env

    def compile_bytecode(self) -> None:
        """Compile the environment's modules once (kept in the data folder), as an installed worker has them."""
        marker = self.args.data_dir / "pycache" / ".complete"
        lock = (REPO / "uv.lock").read_bytes() + sys.prefix.encode()
        if marker.exists() and marker.read_bytes() == lock:
            return
        self.say("compiling bytecode for the measured processes (once)")
        env = self.env(self.work / "home-compile")
        paths = [str(Path(p)) for p in sys.path if p.endswith("site-packages")] + [str(REPO / "plugins")]
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", "-j", "0", *paths],
            env=env,
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_bytes(lock)

    def run(self, specs: list[Spec], env: dict[str, str]) -> None:
        run_interleaved(specs, self.args.runs, env, self.work / "logs", self.args.timeout, self.say)
        self.summaries += [summarise(s) for s in specs]
        self.save_partial()

    def save_partial(self) -> None:
        partial = self.args.results_dir / "partial.json.tmp"
        partial.write_text(json.dumps({"data": self.data, "measurements": self.summaries}, indent=1, default=str))

    # ------------------------------------------------------------------------------- one size

    def tiny(self, rows: int, check: bool = True) -> datagen.DataSet:
        """The first ``rows`` readings of the generated clean set, for start-up (``--only chain``
        with fewer rows than the generator's bad-row period, e.g. the 50-row task of issue 15)."""
        if check and set(self.args.only) != {"chain"}:
            raise SystemExit(f"--rows {rows}: fewer than {datagen.BAD_EVERY} rows only with --only chain")
        base = datagen.generate(datagen.BAD_EVERY, False, self.args.data_dir)
        target = self.args.data_dir / f"readings_{rows}_clean_head.csv"
        with open(base.csv, "rb") as src:
            target.write_bytes(b"".join(line for _, line in zip(range(rows + 1), src, strict=False)))
        return dataclasses.replace(
            base,
            rows=rows,
            csv=str(target),
            parquet="",
            csv_bytes=target.stat().st_size,
            csv_sha256="",
            parquet_bytes=0,
        )

    def startup(self) -> None:
        """The chain on a tiny data set (issue 15: a 50-row dataset's gate task within 2 s of
        process time), forked as Airflow runs tasks; group ``startup``, apart from the sizes."""
        rows = report.TINY_ROWS
        data = self.tiny(rows, check=False)
        home = self.work / f"home-{rows}"
        wh = self.wh

        def fresh() -> None:
            shutil.rmtree(home, ignore_errors=True)
            wh.drop_tables(FACT_TABLE, AUDIT_TABLE)

        steps = [("op_ingest", {"csv": data.csv}), ("op_gate", {}), ("op_partition", {}), ("op_load", {})]
        chain = Spec(f"startup/lockgate/{rows}", "startup", "lockgate", rows, steps, data.csv_bytes, fresh)
        chain.total, chain.launch = "process", "forked"
        self.say(f"{rows} rows: the chain's start-up")
        self.run([chain], self.env(home))

    def ndjson_specs(self, rows: int, home: Path, scratch: Path, size: int) -> dict[str, list[Spec]]:
        """The NDJSON (gateway-style) measurements of one size, by group: the chain and the floors
        that read the input (``pipeline``), the gate on clean and dirty data and its floor (``gate``)."""
        if rows not in self.args.ndjson_rows:
            return {"pipeline": [], "gate": []}
        clean, dirty = (str(datagen.ndjson(rows, bad, self.args.data_dir)) for bad in (False, True))
        for path, bad in ((clean, False), (dirty, True)):
            self.data.append(
                {
                    "name": Path(path).name,
                    "format": "ndjson",
                    "rows": rows,
                    "dirty": bad,
                    "bad_rows": rows // datagen.BAD_EVERY if bad else 0,
                    "csv_bytes": Path(path).stat().st_size,  # the file's size, whatever its format
                    "parquet_bytes": 0,
                    "csv_sha256": "",
                }
            )
        wh = self.wh

        def fresh_chain() -> None:
            shutil.rmtree(home, ignore_errors=True)
            wh.drop_tables(FACT_TABLE, AUDIT_TABLE)
            wh.checkpoint()

        def spec(group: str, tool: str, steps: list[tuple[str, dict[str, Any]]], **kw: Any) -> Spec:
            return Spec(f"{group}/{tool}_ndjson/{rows}", group, f"{tool}_ndjson", rows, steps, size, **kw)

        nd = {"format": "ndjson"}
        chain = spec(
            "chain",
            "lockgate",
            [("op_ingest", {"csv": clean, **nd}), ("op_gate", {}), ("op_partition", {}), ("op_load", {})],
            setup=fresh_chain,
            total="process",
            launch="forked",
            note="the chain on the same rows as gateway NDJSON (ingest_gateway)",
        )
        gate_work = str(scratch / "gate")
        pipeline = [
            chain,
            spec("floor", "ingest", [("floor_ingest", {"csv": clean, "workdir": str(scratch)})]),
            spec("floor", "gate", [("floor_gate", {"csv": clean, "rows": rows, "workdir": gate_work, **nd})]),
        ]
        run_gate = str(scratch / "run_gate")
        gate = [
            spec("gate", "run_gate_dirty", [("run_gate", {"csv": dirty, "rows": rows, "workdir": run_gate, **nd})]),
            spec("gate", "run_gate_clean", [("run_gate", {"csv": clean, "rows": rows, "workdir": run_gate, **nd})]),
            spec("gate", "floor", [("floor_gate", {"csv": clean, "rows": rows, "workdir": gate_work, **nd})]),
        ]
        return {"pipeline": pipeline, "gate": gate}

    def size(self, rows: int) -> None:
        """Measure one size: its data sets, then each group of ``--only`` in turn, then clean up."""
        s = self._size_setup(rows)
        shared = self._shared_load_specs(s)
        pipeline = self._pipeline_specs(s, shared)
        only = self.args.only
        ndjson = self.ndjson_specs(rows, s.home, s.scratch, s.size) if {"pipeline", "gate"} & set(only) else {}
        if ndjson.get("pipeline"):
            # the NDJSON chain after the CSV one (the rerun and the floors of partition and load use
            # whichever chain ran last: the same rows either way)
            chain_at = 1
            pipeline[chain_at:chain_at] = ndjson["pipeline"]
        if "pipeline" in only:
            self._run_pipeline(s, pipeline)
        if "chain" in only and "pipeline" not in only:
            self._run_chain(s, pipeline[0])
        if "ingest" in only:
            self._run_ingest(s)
        if "load" in only:
            self._run_load(s, shared)
        if "partition" in only:
            self._run_partition(s)
        if "gate" in only:
            self._run_gate(s, ndjson.get("gate", []))
        if "checks" in only:
            self._run_checks(s)
        self._size_cleanup(s)

    def _size_setup(self, rows: int) -> _Size:
        """One size's data sets (recorded in the results' ``data``), folders and environment."""
        clean = self.tiny(rows) if rows % datagen.BAD_EVERY else datagen.generate(rows, False, self.args.data_dir)
        # the dirty set only where it is measured (a 100M-row one is ~4.7 GB more, and minutes to write)
        wants_dirty = bool({"ingest", "gate", "checks"} & set(self.args.only)) and not rows % datagen.BAD_EVERY
        dirty = datagen.generate(rows, True, self.args.data_dir) if wants_dirty else clean
        self.data += [{**clean.__dict__, "name": clean.name}]
        if dirty is not clean:
            self.data.append({**dirty.__dict__, "name": dirty.name})
        home = self.work / f"home-{rows}"
        env = self.env(home)
        lake = home / "lake"
        csv = str(clean.csv)
        return _Size(
            wh=self.wh,
            rows=rows,
            clean=clean,
            dirty=dirty,
            size=clean.csv_bytes,
            home=home,
            env=env,
            staged=lake / "staged" / "readings" / f"ds={DS}" / "part-0.parquet",
            curated=lake / "curated" / "readings" / "data",  # the Iceberg table's data files
            scratch=self.work / f"scratch-{rows}",
            csv=csv,
            chain_steps=[("op_ingest", {"csv": csv}), ("op_gate", {}), ("op_partition", {}), ("op_load", {})],
        )

    def _shared_load_specs(self, s: _Size) -> dict[str, Spec]:
        """The load measurements both the full pipeline run and ``--only load`` make, defined once
        (the same specs: their runs add up): Lockgate's rerun and append, the ADBC and psql floors."""
        wh, rows = s.wh, s.rows
        rerun = s.spec(
            "load",
            "lockgate_rerun",
            [("op_load", {})],
            setup=s.before_rerun,
            note="replace_partition over the loaded date",
        )
        append = s.spec(
            "load",
            "lockgate_append",
            [("op_load", {"mode": "append", "table": "bench_append"})],
            setup=s.fresh_append,
            note="mode append into a new table",
        )
        adbc = s.spec(
            "load",
            "adbc",
            [("load_adbc", {"curated": str(s.curated), "dsn": wh.dsn, "table": "bench_adbc"})],
            setup=s.fresh("bench_adbc"),
        )
        psql = s.spec(
            "load",
            "psql",
            [("load_psql", {"csv": s.csv, "dsn": wh.dsn, "table": "bench_psql", "rows": rows})],
            setup=s.fresh_psql,
        )
        return {"rerun": rerun, "append": append, "adbc": adbc, "psql": psql}

    def _pipeline_specs(self, s: _Size, shared: dict[str, Spec]) -> list[Spec]:
        """The pipeline group: the forked chain first, then its floors and the other loaders (dlt
        when installed, pandas ``to_sql`` up to ``--to-sql-max-rows``)."""
        wh, csv, scratch = s.wh, s.csv, s.scratch
        pipeline = [
            s.spec(
                "chain",
                "lockgate",
                s.chain_steps,
                setup=s.fresh_chain,
                total="process",
                launch="forked",
                note="4 task processes forked from a warm worker as Airflow's task SDK does, start-up included",
            ),
            shared["append"],
            shared["rerun"],
            s.spec("floor", "ingest", [("floor_ingest", {"csv": csv, "workdir": str(scratch)})]),
            s.spec("floor", "gate", [("floor_gate", {"csv": csv, "rows": s.rows, "workdir": str(scratch / "gate")})]),
            s.spec("floor", "partition", [("floor_partition", {"staged": str(s.staged), "workdir": str(scratch)})]),
            shared["adbc"],
            s.spec(
                "load",
                "adbc_pk",
                [("load_adbc", {"curated": str(s.curated), "dsn": wh.dsn, "table": "bench_adbc_pk", "mode": "append"})],
                setup=s.fresh_adbc_pk,
                note="into a table with the fact table's primary key",
            ),
            shared["psql"],
            s.spec(
                "load",
                "dlt",
                [
                    (
                        "load_dlt",
                        {
                            "csv": csv,
                            "dsn": wh.dsn,
                            "table": "readings",
                            "schema": "dlt_bench",
                            "workdir": str(scratch / "dlt"),
                        },
                    )
                ],
                setup=s.fresh_dlt,
            ),
        ]
        if "pipeline" in self.args.only and importlib.util.find_spec("dlt") is None:
            # make bench syncs the bench group; a bare environment measures everything else
            self.say("dlt is not installed (uv sync --group bench): the dlt pipeline is not measured")
            pipeline = [p for p in pipeline if p.tool != "dlt"]
        if s.rows <= self.args.to_sql_max_rows:
            pipeline.append(
                s.spec(
                    "load",
                    "to_sql",
                    [("load_to_sql", {"csv": csv, "dsn": wh.dsn, "table": "bench_to_sql"})],
                    setup=s.fresh("bench_to_sql"),
                )
            )
        return pipeline

    def _run_pipeline(self, s: _Size, pipeline: list[Spec]) -> None:
        """Run the pipeline group (interleaved), then drop the other loaders' tables."""
        self.say(f"{s.rows} rows: the chain, its floors and the other loaders")
        self.run(pipeline, s.env)
        s.wh.drop_tables("bench_adbc", "bench_adbc_pk", "bench_psql", "bench_to_sql", "bench_append")
        s.wh.execute("DROP SCHEMA IF EXISTS dlt_bench CASCADE")

    def _run_chain(self, s: _Size, forked: Spec) -> None:
        """The chain alone: its four task processes, for process - work (start-up) per task, forked
        and in fresh interpreters (Airflow imported by every task, interpreter torn down at exit)."""
        cold = s.spec(
            "chain",
            "lockgate_cold",
            s.chain_steps,
            setup=s.fresh_chain,
            total="process",
            note="4 fresh Python processes, interpreter start-up, imports and exit included",
        )
        # a day above --keep-data-max-rows (100M) is measured for its memory and time, not its
        # start-up: the forked chain only, which is how Airflow runs the tasks
        chains = [forked, cold] if s.rows <= self.args.keep_data_max_rows else [forked]
        self.say(f"{s.rows} rows: the chain alone")
        self.run(chains, s.env)

    def _run_ingest(self, s: _Size) -> None:
        """Ingestion alone (issue 3: peak RSS flat from 1M to 10M rows, under 1 GiB): the operator
        on the clean and the dirty CSV (rejects take Arrow's invalid-row path), its floor, and the
        gate's reader."""
        self.say(f"{s.rows} rows: ingestion and the streaming reader")
        csv = s.csv
        ingest = [
            s.spec("ingest", "op_ingest", [("op_ingest", {"csv": csv})], setup=s.fresh_chain),
            s.spec("ingest", "op_ingest_dirty", [("op_ingest", {"csv": str(s.dirty.csv)})], setup=s.fresh_chain),
            s.spec("floor", "ingest", [("floor_ingest", {"csv": csv, "workdir": str(s.scratch)})]),
            s.spec("ingest", "read_batches", [("read_batches", {"csv": csv})]),
        ]
        self.run(ingest, s.env)

    def _run_load(self, s: _Size, shared: dict[str, Spec]) -> None:
        """The load alone (issue 5): the chain up to the curated zone runs once, untimed; then,
        interleaved, Lockgate's replace_partition into a new table, its rerun over the loaded date,
        a blind append of the same rows, and the floors (ADBC adbc_ingest of the same curated
        Parquet into a new table, psql \\copy of the CSV)."""
        rows = s.rows
        self.say(f"{rows} rows: preparing the curated zone for the load (untimed)")
        s.fresh_chain()
        prepare = s.spec("prepare", "chain", [("op_ingest", {"csv": s.csv}), ("op_gate", {}), ("op_partition", {})])
        run_interleaved([prepare], 1, s.env, self.work / "logs", self.args.timeout, self.say)
        self.say(f"{rows} rows: the load and its floors")
        load = [
            s.spec("load", "lockgate", [("op_load", {})], setup=s.fresh_load, note="replace_partition, new table"),
            shared["rerun"],
            shared["append"],
            shared["adbc"],
            shared["psql"],
        ]
        self.run(load, s.env)
        s.wh.drop_tables("bench_adbc", "bench_psql", "bench_append")

    def _run_partition(self, s: _Size) -> None:
        """The partition alone (issue 15: <= 1.5x its floor): ingest and gate run once, untimed;
        then, interleaved, PartitionOperator (each run a new snapshot replacing the date) and
        DuckDB's COPY ... PARTITION_BY of the same staged Parquet."""
        rows = s.rows
        self.say(f"{rows} rows: preparing the staged zone for the partition (untimed)")
        s.fresh_chain()
        prepare = s.spec("prepare", "staged", [("op_ingest", {"csv": s.csv}), ("op_gate", {})])
        run_interleaved([prepare], 1, s.env, self.work / "logs", self.args.timeout, self.say)
        self.say(f"{rows} rows: the partition and its floor")
        partition = [
            s.spec(
                "partition",
                "lockgate",
                [("op_partition", {})],
                launch="forked",
                note="forked as Airflow runs it; a new snapshot of the date per run",
            ),
            s.spec("floor", "partition", [("floor_partition", {"staged": str(s.staged), "workdir": str(s.scratch)})]),
        ]
        self.run(partition, s.env)

    def _run_gate(self, s: _Size, ndjson_gate: list[Spec]) -> None:
        """The gate on dirty and clean data, its floor and the streaming reader (and the NDJSON
        gate's measurements at the sizes of ``--ndjson-rows``)."""
        rows, csv, scratch = s.rows, s.csv, s.scratch
        self.say(f"{rows} rows: the gate on dirty and clean data, its floor, the streaming reader")
        gate = [
            s.spec(
                "gate",
                "run_gate_dirty",
                [("run_gate", {"csv": str(s.dirty.csv), "rows": rows, "workdir": str(scratch / "run_gate")})],
            ),
            s.spec(
                "gate",
                "run_gate_clean",
                [("run_gate", {"csv": csv, "rows": rows, "workdir": str(scratch / "run_gate")})],
            ),
            s.spec("gate", "floor", [("floor_gate", {"csv": csv, "rows": rows, "workdir": str(scratch / "gate")})]),
            s.spec("ingest", "read_batches", [("read_batches", {"csv": csv})]),
            *ndjson_gate,
        ]
        self.run(gate, s.env)

    def _run_checks(self, s: _Size) -> None:
        """The 9 checks on the clean and the dirty table: hand-written SQL, lockgate.checks and GX."""
        self.say(f"{s.rows} rows: the 9 checks")
        for data in (s.clean, s.dirty):
            db = self.checks_db(data)
            kind = "dirty" if data.dirty else "clean"
            params = {"db": str(db), "rows": s.rows}
            # GX on pandas holds the day as a frame (~10 GB at 100M rows): only up to --gx-max-rows
            tools = ("sql", "lockgate", "gx") if s.rows <= self.args.gx_max_rows else ("sql", "lockgate")
            checks = [s.spec(f"checks_{kind}", tool, [(f"checks_{tool}", params)]) for tool in tools]
            self.run(checks, s.env)

    def _size_cleanup(self, s: _Size) -> None:
        """Remove the size's scratch folder and, above ``--keep-data-max-rows``, its data sets."""
        shutil.rmtree(s.scratch, ignore_errors=True)
        if s.rows > self.args.keep_data_max_rows:
            # a 100M-row day is ~10 GB of CSV and as much NDJSON: generated for this run, not kept
            shutil.rmtree(s.home, ignore_errors=True)
            for data in (s.clean, s.dirty):
                (self.work / f"checks-{data.name}.duckdb").unlink(missing_ok=True)
            datagen.remove(s.rows, self.args.data_dir)
            self.say(f"{s.rows} rows: data sets deleted from {self.args.data_dir}")

    def checks_db(self, data: datagen.DataSet) -> Path:
        """A DuckDB file holding the data set's typed rows as table ``readings`` (built once, untimed)."""
        db = self.work / f"checks-{data.name}.duckdb"
        if not db.exists():
            con = duckdb.connect(str(db))
            con.execute("CREATE TABLE readings AS SELECT * FROM read_parquet($1)", [data.parquet])
            con.close()
        return db


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description="Lockgate benchmarks (see docs/benchmarks.md)")
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--to-sql-max-rows", type=int, default=1_000_000)
    parser.add_argument(
        "--ndjson-rows",
        type=int,
        nargs="*",
        default=[10_000_000],
        help="sizes of --rows also measured on NDJSON input (the chain, the gate and their floors)",
    )
    parser.add_argument("--gx-max-rows", type=int, default=10_000_000, help="largest size GX on pandas checks")
    parser.add_argument(
        "--keep-data-max-rows",
        type=int,
        default=10_000_000,
        help="larger data sets (e.g. --rows 100000000) are deleted from --data-dir once measured",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        default=["pipeline", "gate", "checks"],
        choices=("pipeline", "chain", "ingest", "gate", "partition", "load", "checks"),
        help="the measurement groups to run (see the module's docstring)",
    )
    parser.add_argument("--data-dir", type=Path, default=here / ".data")
    parser.add_argument("--work-dir", type=Path, default=here / ".work")
    parser.add_argument("--results-dir", type=Path, default=here / "results")
    parser.add_argument(
        "--out",
        type=Path,
        help="the results file (default: <results-dir>/<date>.json for a full run, <date>-quick-<rows>.json else)",
    )
    parser.add_argument("--docs", choices=("auto", "yes", "no"), default="auto")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per measured process")
    args = parser.parse_args(argv)
    args.rows = sorted(set(args.rows))
    args.results_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(args.work_dir, ignore_errors=True)
    args.work_dir.mkdir(parents=True)

    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    with warehouse() as wh:
        bench = Bench(args, wh)
        bench.compile_bytecode()
        pg_info = wh.info()
        if "pipeline" in args.only and args.rows[0] >= datagen.BAD_EVERY:
            bench.startup()
        for rows in args.rows:
            bench.size(rows)
    results = {
        "started": started.isoformat(timespec="seconds"),
        "duration_seconds": round(time.perf_counter() - t0, 1),
        "command": " ".join([Path(sys.executable).name, "-m", "bench.run", *(argv or sys.argv[1:])]),
        "params": {
            "rows": args.rows,
            "runs": args.runs,
            "to_sql_max_rows": args.to_sql_max_rows,
            "only": args.only,
            "ds": DS,
            "columns": list(READINGS_COLUMNS),
        },
        "machine": machine(),
        "versions": versions(),
        "postgres": pg_info,
        "git": git_state(),
        "data": bench.data,
        "measurements": bench.summaries,
    }
    full = args.rows[-1] >= 10_000_000 and args.runs >= 3 and set(args.only) == {"pipeline", "gate", "checks"}
    name = started.date().isoformat() + ("" if full else f"-quick-{args.rows[-1]}")
    out = args.out or args.results_dir / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=str) + "\n")
    (args.results_dir / "partial.json.tmp").unlink(missing_ok=True)
    print(f"results: {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")
    if args.docs == "yes" or (args.docs == "auto" and full):
        for path in report.write_docs(out):
            print(f"wrote {path.relative_to(REPO)}")
    else:
        print(report.summary_table(results))
        print("docs/benchmarks.md left as it is (a quick run; --docs yes to rewrite it)")
    shutil.rmtree(args.work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
