"""Run one date, or a range of dates, of a DAG in this process (``lockgate run`` / ``lockgate backfill``).

On the embedded defaults there is no scheduler: each date is one ``dag.test()`` run
(:func:`lockgate.cli.run_dag`), dates in order, a progress line per date, a summary table at the
end. The first failed date stops the backfill (later dates would build on a hole) unless
``keep_going`` says to go on. With Airflow running, ``airflow backfill create`` (or the UI's
"Backfill" form) does the same through the scheduler (README "Run one date, backfill a range").
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

#: what run_dag returns for a run that did everything
SUCCESS = "success"


@dataclass(frozen=True)
class DateRun:
    """The outcome of one date: its run's state (``success``, ``failed``...), or the error that kept it
    from running; ``not run`` for dates after a stop."""

    ds: str
    state: str
    seconds: float = 0.0
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.state == SUCCESS


def daily_dates(start: str, end: str) -> list[str]:
    """Every date from ``start`` to ``end``, both included (``YYYY-MM-DD``); an error when reversed."""
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    if last < first:
        raise ValueError(f"--to {end} is before --from {start}")
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def backfill(
    dates: Iterable[str],
    run: Callable[[str], str],
    *,
    keep_going: bool = False,
    progress: Callable[[str], None] = print,
) -> list[DateRun]:
    """Run ``run(ds)`` for each date in order; stop after the first one that does not succeed.

    :param run: runs one date and returns its state (``lockgate.cli.run_dag`` bound to a DAG).
    :returns: one :class:`DateRun` per date, those not run after a stop included.
    """
    todo = list(dates)
    done: list[DateRun] = []
    for i, ds in enumerate(todo, start=1):
        started = time.monotonic()
        try:
            outcome = DateRun(ds, str(run(ds)), time.monotonic() - started)
        except Exception as exc:  # noqa: BLE001 - one date's error is reported with the others
            outcome = DateRun(ds, "error", time.monotonic() - started, f"{type(exc).__name__}: {exc}")
        done.append(outcome)
        detail = f" ({outcome.error})" if outcome.error else ""
        progress(f"[{i}/{len(todo)}] {ds}: {outcome.state} in {outcome.seconds:.1f}s{detail}")
        if not outcome.ok and not keep_going:
            rest = todo[i:]
            if rest:
                progress(f"stopped at {ds}: {len(rest)} later date(s) not run (--keep-going runs them anyway)")
            done.extend(DateRun(later, "not run") for later in rest)
            break
    return done


def summary_table(dag_id: str, runs: list[DateRun]) -> str:
    """The end-of-backfill table: one line per date, then the counts."""
    lines = [f"{dag_id}: {len(runs)} date(s)", f"{'ds':<12} {'state':<10} {'seconds':>8}  error", "-" * 48]
    for r in runs:
        lines.append(f"{r.ds:<12} {r.state:<10} {r.seconds:>8.1f}  {r.error}".rstrip())
    counts: dict[str, int] = {}
    for r in runs:
        counts[r.state] = counts.get(r.state, 0) + 1
    lines.append("-" * 48)
    lines.append(", ".join(f"{state}: {n}" for state, n in sorted(counts.items())))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- command line


def _prepare(args: Any) -> Callable[[str], str]:
    """The embedded defaults' environment, a migrated metadata DB, and a runner for one date."""
    import os
    from pathlib import Path

    from lockgate.cli import _apply_environment, embedded_environment, migrate_metadata_db, run_dag

    env = embedded_environment()
    if args.dags_folder:
        # dag.test() runs only DAGs of a configured bundle: the folder becomes the DAGs folder
        env["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(args.dags_folder).resolve())
    _apply_environment(env)
    if args.dags_folder and "airflow.settings" in sys.modules:
        # Airflow already imported (e.g. by a test session) read DAGS_FOLDER once: the local bundle uses it
        setattr(sys.modules["airflow.settings"], "DAGS_FOLDER", env["AIRFLOW__CORE__DAGS_FOLDER"])  # noqa: B010
    if not args.verbose:
        os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    database = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    # a migrated SQLite file is reused as is (a migration takes seconds); any other database is migrated
    if not (database.startswith("sqlite:///") and Path(database.removeprefix("sqlite:///")).is_file()):
        migrate_metadata_db()
    folder = Path(args.dags_folder) if args.dags_folder else None
    retries = None if args.retries else 0
    return lambda ds: run_dag(args.dag_id, ds, retries=retries, folder=folder)


def cmd_run(args: Any) -> int:
    """``lockgate run DAG_ID --ds D``: one date, in this process."""
    runs = backfill([args.ds], _prepare(args))
    print(summary_table(args.dag_id, runs))
    return 0 if runs[0].ok else 1


def cmd_backfill(args: Any) -> int:
    """``lockgate backfill DAG_ID --from D1 --to D2 [--keep-going]``: dates in order, in this process."""
    try:
        dates = daily_dates(args.start, args.end)
    except ValueError as exc:
        print(f"lockgate backfill: {exc}", file=sys.stderr)
        return 2
    print(f"backfill {args.dag_id}: {len(dates)} date(s) from {dates[0]} to {dates[-1]}")
    runs = backfill(dates, _prepare(args), keep_going=args.keep_going)
    print(summary_table(args.dag_id, runs))
    return 0 if all(r.ok for r in runs) else 1


def add_parsers(sub: Any) -> None:
    """The ``run`` and ``backfill`` subcommands (registered by :func:`lockgate.cli.main`)."""
    for name, helptext in (
        ("run", "run one date of a DAG in this process on the embedded defaults"),
        ("backfill", "run a range of dates of a DAG in order, in this process, on the embedded defaults"),
    ):
        cmd = sub.add_parser(name, help=helptext)
        cmd.add_argument("dag_id", help="the DAG (the flagship, a YAML pipeline's dag_id...)")
        if name == "run":
            cmd.add_argument("--ds", required=True, help="the logical date, YYYY-MM-DD")
            cmd.set_defaults(func=cmd_run)
        else:
            cmd.add_argument("--from", dest="start", required=True, help="first logical date, YYYY-MM-DD")
            cmd.add_argument("--to", dest="end", required=True, help="last logical date (included)")
            cmd.add_argument("--keep-going", action="store_true", help="run the later dates after a failed one")
            cmd.set_defaults(func=cmd_backfill)
        cmd.add_argument("--dags-folder", help="the DAGs folder (default: the project's dags/)")
        cmd.add_argument("--retries", action="store_true", help="keep the DAG's retries (default: fail at once)")
        cmd.add_argument("-v", "--verbose", action="store_true", help="show Airflow's task logs")
