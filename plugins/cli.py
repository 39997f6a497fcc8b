"""The ``lockgate`` command: ``lockgate demo``, ``env``, ``airflow``, ``curated``, ``contract``, ``replay``.

Airflow reads its configuration when it is first imported, so this module sets the environment of
the embedded defaults *before* importing anything from Airflow.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from lockgate.config import dags_dir, lockgate_home

DEMO_DAG_ID = "air_quality_daily"
#: a date with a smoke event in the sample data, so the demo shows a data-quality warning too
DEMO_DS = "2026-01-02"


def embedded_environment(home: Path | None = None) -> dict[str, str]:
    """Airflow settings for running on the embedded defaults under ``home`` (``.lockgate``).

    Values already set in the environment win, so a user can point at PostgreSQL or S3 through
    ``AIRFLOW_CONN_LOCKGATE_*`` and ``AIRFLOW__*`` variables without editing anything.
    """
    home = (home or lockgate_home()).resolve()
    lineage_file = home / "lineage" / "events.jsonl"
    defaults = {
        "LOCKGATE_HOME": str(home),
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_dir()),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow' / 'airflow.db'}",
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "lockgate",
        # dag.test() runs tasks in this process: a forked OpenLineage emitter cannot reach the
        # in-process supervisor (it hangs until the OpenLineage timeout), a thread can
        "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "True",
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(lineage_file), "append": True}
        ),
        "GX_ANALYTICS_ENABLED": "False",
    }
    return {key: os.environ.get(key, value) for key, value in defaults.items()}


def _apply_environment(env: dict[str, str]) -> None:
    os.environ.update(env)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    Path(json.loads(env["AIRFLOW__OPENLINEAGE__TRANSPORT"]).get("log_file_path", env["LOCKGATE_HOME"])).parent.mkdir(
        parents=True, exist_ok=True
    )


def migrate_metadata_db() -> None:
    """Create or upgrade the Airflow metadata database (idempotent)."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, stdout=subprocess.DEVNULL)


def run_dag(dag_id: str, ds: str, *, retries: int | None = 0, folder: Path | None = None) -> str:
    """Run one DAG for one logical date through Airflow's ``dag.test()``; returns the run state.

    ``retries=0`` (the default here) makes a failure show at once instead of after the DAG's retry
    delays; ``None`` keeps the DAG's own retry policy. ``folder``: the DAGs folder (default: the
    package's ``dags/``).
    """
    import pendulum
    from airflow.dag_processing.dagbag import DagBag

    folder = folder or dags_dir()
    bag = DagBag(dag_folder=str(folder))
    if bag.import_errors:
        raise SystemExit("DAG import errors:\n" + "\n".join(f"{k}: {v}" for k, v in bag.import_errors.items()))
    dag = bag.get_dag(dag_id)
    if dag is None:
        raise SystemExit(f"no DAG {dag_id!r} in {folder}")
    if retries is not None:
        for task in dag.tasks:
            task.retries = retries
    run = dag.test(logical_date=pendulum.parse(ds))
    return str(getattr(run, "state", "unknown"))


def print_summary(dag_id: str, ds: str) -> dict:
    """Print the run summary written by the DAG's ``summarize`` task."""
    from lockgate.hooks.lake import LakeHook
    from lockgate.layout import zone_prefix
    from lockgate.operators.report import format_summary

    lake = LakeHook()
    key = f"{zone_prefix('reports', dag_id, ds)}/summary.json"
    summary = lake.read_json(key)
    summary["locations"]["lineage"] = json.loads(os.environ["AIRFLOW__OPENLINEAGE__TRANSPORT"]).get("log_file_path", "")
    summary["locations"]["airflow"] = os.environ["AIRFLOW_HOME"]
    print()
    print(format_summary(summary))
    return summary


def cmd_demo(args: argparse.Namespace) -> int:
    env = embedded_environment()
    _apply_environment(env)
    if not args.verbose:
        os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    print(f"Lockgate demo: {args.dag_id} for ds={args.ds} on the embedded defaults under {env['LOCKGATE_HOME']}")
    migrate_metadata_db()
    state = run_dag(args.dag_id, args.ds)
    print(f"DAG run state: {state}")
    if state != "success":
        return 1
    print_summary(args.dag_id, args.ds)
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    for key, value in embedded_environment().items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def cmd_airflow(args: argparse.Namespace) -> int:
    """Airflow's api-server, scheduler, dag-processor and triggerer on the embedded defaults."""
    from lockgate.ui import launcher

    env = launcher.server_environment(embedded_environment(), host=args.host, port=args.port)
    _apply_environment(env)
    print(f"Lockgate: Airflow on the embedded defaults under {env['LOCKGATE_HOME']}")
    return launcher.run(dict(os.environ))


def cmd_new_pipeline(args: argparse.Namespace) -> int:
    """Scaffold a pipeline: spec, contract, sample data and an end-to-end test (lockgate.pipelines.scaffold)."""
    from lockgate.pipelines.scaffold import ScaffoldError, scaffold
    from lockgate.pipelines.spec import PipelineSpecError

    try:
        made = scaffold(
            args.name, root=args.root, dataset=args.dataset, table=args.table, owner=args.owner, force=args.force
        )
    except (ScaffoldError, PipelineSpecError) as exc:
        print(f"lockgate new-pipeline: {exc}", file=sys.stderr)
        return 2
    print(f"Created pipeline {args.name} in {made.root}:")
    for path in made.files:
        print(f"  {path}")
    print(f"Run it end to end: make test PYTEST_ARGS='{made.test} -q'")
    return 0


def cmd_curated(args: argparse.Namespace) -> int:
    """Snapshots, time travel and rollback of a curated dataset (lockgate.curated)."""
    _apply_environment(embedded_environment())
    from lockgate import curated
    from lockgate.hooks.iceberg import CatalogHook

    catalog = CatalogHook(args.catalog_conn_id, args.lake_conn_id)
    if args.action == "snapshots":
        for entry in curated.snapshots(catalog, args.dataset):
            print(json.dumps(entry))
        return 0
    if not args.ds:
        print(f"lockgate curated {args.action}: --ds is required", file=sys.stderr)
        return 2
    if args.action == "rollback":
        done = curated.rollback(catalog, args.dataset, args.ds, snapshot_id=args.snapshot, run_id=args.run)
        print(f"{args.dataset} ds={args.ds}: {done.rows} rows restored in snapshot {done.snapshot_id}")
        return 0
    reader = curated.read_as_of(catalog, args.dataset, args.ds, snapshot_id=args.snapshot, run_id=args.run)
    if args.out:
        import pyarrow.parquet as pq

        with pq.ParquetWriter(args.out, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
        print(f"wrote {args.out}")
        return 0
    import pyarrow.csv as pacsv

    pacsv.write_csv(reader.read_all(), sys.stdout.buffer)
    return 0


def cmd_contract(args: argparse.Namespace) -> int:
    """``lockgate contract export|import --format odcs``: a contract to or from the Open Data Contract Standard."""
    import yaml

    from lockgate.contracts import ContractError
    from lockgate.odcs import export_file, import_file

    try:
        if args.action == "export":
            text = yaml.safe_dump(export_file(args.source), sort_keys=False, allow_unicode=True, width=120)
        else:
            text = import_file(args.source, args.dataset)
    except ContractError as exc:
        print(f"lockgate contract {args.action}: {exc}", file=sys.stderr)
        return 1
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """``lockgate replay``: the quarantine replay DAG for one dataset and date range, in this process."""
    env = embedded_environment()
    _apply_environment(env)
    from lockgate.replay import REPLAY_DAG_ID, ReplayError, replay_conf

    try:
        conf = replay_conf(args.dataset, args.start, args.end, dag_id=args.dag_id, run_id=args.run)
    except ReplayError as exc:
        print(f"lockgate replay: {exc}", file=sys.stderr)
        return 2
    run_conf: dict[str, object] = {**conf, "allow_shrink": bool(args.allow_shrink)}
    if not args.verbose:
        os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    migrate_metadata_db()
    import pendulum
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(dags_dir()))
    dag = bag.get_dag(REPLAY_DAG_ID)
    if dag is None:
        print(f"lockgate replay: no DAG {REPLAY_DAG_ID!r} in {dags_dir()}", file=sys.stderr)
        return 2
    for task in dag.tasks:
        task.retries = 0  # in process, a failure shows at once (as `lockgate run`)
    run = dag.test(logical_date=pendulum.now("UTC"), run_conf=run_conf)
    state = str(getattr(run, "state", "unknown"))
    print(f"replay of {args.dataset} {conf['start']}..{conf['end']}: {state} (run {getattr(run, 'run_id', '?')})")
    return 0 if state == "success" else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lockgate", description="Lockgate: gated data pipelines for Airflow 3")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the flagship DAG for one date on the embedded defaults")
    demo.add_argument("--ds", default=DEMO_DS, help=f"logical date (default {DEMO_DS})")
    demo.add_argument("--dag-id", default=DEMO_DAG_ID)
    demo.add_argument("-v", "--verbose", action="store_true", help="show Airflow's task logs")
    demo.set_defaults(func=cmd_demo)
    env = sub.add_parser("env", help="print the environment of the embedded defaults (for eval)")
    env.set_defaults(func=cmd_env)
    airflow = sub.add_parser("airflow", help="start Airflow locally (UI, scheduler, ...) on the embedded defaults")
    airflow.add_argument("--host", default="127.0.0.1", help="address of the web UI (default 127.0.0.1)")
    airflow.add_argument("--port", type=int, default=8080, help="port of the web UI (default 8080)")
    airflow.set_defaults(func=cmd_airflow)
    new = sub.add_parser("new-pipeline", help="scaffold a YAML pipeline: spec, contract, sample data and a test")
    new.add_argument("name", help="the DAG id (lower_case_with_underscores)")
    new.add_argument("--dataset", help="the dataset it feeds (default: NAME)")
    new.add_argument("--table", help="the warehouse table it loads (default: NAME)")
    new.add_argument("--owner", default="data-team", help="owning team (default: data-team)")
    new.add_argument("--root", type=Path, help="project root (default: found from the working directory)")
    new.add_argument("--force", action="store_true", help="overwrite existing files")
    new.set_defaults(func=cmd_new_pipeline)
    cur = sub.add_parser("curated", help="a curated dataset's snapshots; read a date as of a run; roll a date back")
    cur.add_argument("action", choices=["snapshots", "read", "rollback"])
    cur.add_argument("dataset", help="the curated dataset (its table is lockgate.<dataset>)")
    cur.add_argument("--ds", help="the logical date (read, rollback)")
    cur.add_argument("--snapshot", type=int, help="as of this snapshot id (default: the current one)")
    cur.add_argument("--run", help="as of the snapshot this DAG run committed")
    cur.add_argument("--out", type=Path, help="read: write Parquet here instead of CSV to stdout")
    cur.add_argument("--catalog-conn-id", default="lockgate_catalog")
    cur.add_argument("--lake-conn-id", default="lockgate_lake")
    cur.set_defaults(func=cmd_curated)
    con = sub.add_parser("contract", help="a contract to or from the Open Data Contract Standard (ODCS v3.1.0)")
    con.add_argument("action", choices=["export", "import"])
    con.add_argument("source", help="export: a dataset or contract file; import: an ODCS YAML file")
    con.add_argument("--format", required=True, choices=["odcs"], help="the other side's format")
    con.add_argument("--dataset", help="import: the ODCS schema object to take (when it has several)")
    con.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    con.set_defaults(func=cmd_contract)
    rep = sub.add_parser("replay", help="re-gate quarantined rows of a date range with the current contract")
    rep.add_argument("--dataset", required=True, help="the dataset whose quarantined rows to replay")
    rep.add_argument("--from", dest="start", required=True, help="first logical date (YYYY-MM-DD)")
    rep.add_argument("--to", dest="end", help="last logical date (default: --from)")
    rep.add_argument("--dag-id", help="the pipeline DAG (default: from the date's run summary)")
    rep.add_argument("--run", help="replay this run's raw input (when a date has several runs)")
    rep.add_argument("--allow-shrink", action="store_true", help="let a load replace a date with far fewer rows")
    rep.add_argument("-v", "--verbose", action="store_true", help="show Airflow's task logs")
    rep.set_defaults(func=cmd_replay)
    from lockgate.sql_cli import add_parser as add_sql_parser

    add_sql_parser(sub, lambda: _apply_environment(embedded_environment()))
    from lockgate.backfill import add_parsers

    add_parsers(sub)  # run, backfill
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
