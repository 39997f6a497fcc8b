"""What the "Data health" page shows, computed from what the pipelines wrote to the lake.

Two kinds of documents feed it, both written by the operators for every logical date:

* ``quality/<dataset>/ds=<date>/report.json`` -- the gate's report: rows in, passed, quarantined,
  duplicates removed, and every check with its severity and outcome;
* ``reports/<dag id>/ds=<date>/summary.json`` -- the run summary: per dataset the rows the warehouse
  really committed (from its load audit), and the run id.

:func:`build_health` is pure (documents in, :class:`DataHealth` out) and needs neither Airflow nor
the warehouse; :func:`read_lake_documents` fetches the documents through a :class:`LakeHook`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lockgate.hooks.lake import LakeHook

#: a dataset whose newest loaded logical date is at most this many days old is fresh
DEFAULT_MAX_LAG_DAYS = 1
#: how many of the newest logical dates the page shows per dataset
DEFAULT_DAYS = 30

_REPORT_KEY = re.compile(r"^quality/(?P<dataset>[^/]+)/ds=(?P<ds>\d{4}-\d{2}-\d{2})/report\.json$")
_SUMMARY_KEY = re.compile(r"^reports/(?P<dag_id>[^/]+)/ds=(?P<ds>\d{4}-\d{2}-\d{2})/summary\.json$")


@dataclass(frozen=True)
class CheckOutcome:
    """One data-quality check of one gate run."""

    check: str
    severity: str
    success: bool
    unexpected_count: int | None = None
    observed_value: Any = None

    @property
    def outcome(self) -> str:
        """``passed``, ``warned`` (a failed warn check), ``failed``, or ``quarantined``.

        A ``quarantine`` check that set rows aside is ``quarantined`` whether the gate counts it as
        a success (the bad rows went where they belong) or not.
        """
        if self.severity == "quarantine" and (not self.success or (self.unexpected_count or 0) > 0):
            return "quarantined"
        if self.success:
            return "passed"
        return "warned" if self.severity == "warn" else "failed"


@dataclass(frozen=True)
class DayHealth:
    """One dataset on one logical date.

    ``rows_loaded`` is what the warehouse committed according to the run summary; ``None`` when no
    summary covers the date (the run stopped before it, or the pipeline writes none).
    """

    ds: str
    rows_in: int
    rows_passed: int
    rows_quarantined: int
    duplicates_removed: int
    rows_loaded: int | None
    checks: tuple[CheckOutcome, ...] = ()
    gate_failed: bool = False
    dag_id: str | None = None
    run_id: str | None = None

    @property
    def quarantine_rate(self) -> float:
        """Quarantined rows as a share of the rows that came in (0.0 when nothing came in)."""
        return self.rows_quarantined / self.rows_in if self.rows_in else 0.0

    @property
    def failing_checks(self) -> tuple[CheckOutcome, ...]:
        return tuple(c for c in self.checks if not c.success)


@dataclass(frozen=True)
class CheckHistory:
    """One check across the logical dates shown: ``outcomes[ds]`` is passed, warned or failed."""

    check: str
    severity: str
    outcomes: Mapping[str, str]


@dataclass(frozen=True)
class DatasetHealth:
    """Everything the page shows about one dataset; ``days`` oldest first."""

    dataset: str
    days: tuple[DayHealth, ...]
    newest_loaded_ds: str | None
    lag_days: int | None
    fresh: bool
    check_history: tuple[CheckHistory, ...] = field(default=())

    @property
    def latest(self) -> DayHealth | None:
        """The newest logical date the gate reported on: "the latest run" of this dataset."""
        return self.days[-1] if self.days else None

    @property
    def freshness(self) -> str:
        if self.newest_loaded_ds is None:
            return "nothing loaded"
        if self.lag_days == 0:
            return "up to date"
        unit = "day" if self.lag_days == 1 else "days"
        return f"{self.lag_days} {unit} behind"


@dataclass(frozen=True)
class DataHealth:
    """The page's data: one :class:`DatasetHealth` per dataset, by name."""

    today: str
    max_lag_days: int
    datasets: tuple[DatasetHealth, ...]

    def dataset(self, name: str) -> DatasetHealth:
        for item in self.datasets:
            if item.dataset == name:
                return item
        raise KeyError(name)


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def _check(raw: Mapping[str, Any]) -> CheckOutcome:
    count = raw.get("unexpected_count")
    return CheckOutcome(
        check=str(raw.get("check") or raw.get("expectation") or "?"),
        severity=str(raw.get("severity") or "fail"),
        success=bool(raw.get("success")),
        unexpected_count=None if count is None else int(count),
        observed_value=raw.get("observed_value"),
    )


def build_health(
    reports: Iterable[Mapping[str, Any]],
    summaries: Iterable[Mapping[str, Any]],
    *,
    today: date,
    max_lag_days: int = DEFAULT_MAX_LAG_DAYS,
    days: int = DEFAULT_DAYS,
) -> DataHealth:
    """Aggregate gate reports and run summaries into per-dataset health.

    :param reports: gate reports (``report.json``), each with ``dataset`` and ``ds``.
    :param summaries: run summaries (``summary.json``), each with ``dag_id``, ``run_id``, ``ds`` and
        ``datasets`` (per dataset ``rows_loaded``). When two summaries cover the same dataset and
        date, the one from the DAG id sorting last wins (deterministic, rarely relevant).
    :param today: the date freshness is measured against.
    :param max_lag_days: a dataset is fresh when its newest loaded date is at most this old.
    :param days: keep only the newest ``days`` logical dates per dataset.
    """
    loaded: dict[tuple[str, str], tuple[int, str | None, str | None]] = {}
    for summary in sorted(summaries, key=lambda s: (str(s.get("ds")), str(s.get("dag_id")))):
        for entry in summary.get("datasets", []):
            loaded[(str(entry["dataset"]), str(summary["ds"]))] = (
                _int(entry.get("rows_loaded")),
                summary.get("dag_id"),
                summary.get("run_id"),
            )

    by_dataset: dict[str, dict[str, DayHealth]] = {}
    for report in reports:
        dataset, ds = str(report["dataset"]), str(report["ds"])
        rows_loaded, dag_id, run_id = loaded.get((dataset, ds), (None, None, None))
        by_dataset.setdefault(dataset, {})[ds] = DayHealth(
            ds=ds,
            rows_in=_int(report.get("rows_in")),
            rows_passed=_int(report.get("rows_passed")),
            rows_quarantined=_int(report.get("rows_quarantined")),
            duplicates_removed=_int(report.get("duplicates_removed")),
            rows_loaded=rows_loaded,
            checks=tuple(_check(c) for c in report.get("checks", [])),
            gate_failed=bool(report.get("failed")) or report.get("success") is False,
            dag_id=dag_id,
            run_id=run_id,
        )

    datasets = []
    for dataset in sorted(by_dataset):
        shown = tuple(by_dataset[dataset][ds] for ds in sorted(by_dataset[dataset])[-days:])
        # freshness looks at every date, not only the ones shown
        loaded_dates = [ds for ds, day in by_dataset[dataset].items() if day.rows_loaded]
        newest = max(loaded_dates) if loaded_dates else None
        lag = (today - date.fromisoformat(newest)).days if newest else None
        datasets.append(
            DatasetHealth(
                dataset=dataset,
                days=shown,
                newest_loaded_ds=newest,
                lag_days=lag,
                fresh=lag is not None and lag <= max_lag_days,
                check_history=_check_history(shown),
            )
        )
    return DataHealth(today=today.isoformat(), max_lag_days=max_lag_days, datasets=tuple(datasets))


def _check_history(days: Iterable[DayHealth]) -> tuple[CheckHistory, ...]:
    """Per check (in the order the newest report lists them), its outcome on each date."""
    order: dict[str, str] = {}
    outcomes: dict[str, dict[str, str]] = {}
    for day in sorted(days, key=lambda d: d.ds, reverse=True):
        for check in day.checks:
            order.setdefault(check.check, check.severity)
            outcomes.setdefault(check.check, {})[day.ds] = check.outcome
    return tuple(CheckHistory(check, severity, outcomes[check]) for check, severity in order.items())


def _newest(keys: Iterable[tuple[str, str, str]], days: int) -> list[str]:
    """Of (group, ds, key) triples, the keys of the newest ``days`` dates of each group."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for group, ds, key in keys:
        groups.setdefault(group, []).append((ds, key))
    return [key for items in groups.values() for _, key in sorted(items)[-days:]]


def read_lake_documents(
    lake: LakeHook, *, days: int = DEFAULT_DAYS
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The gate reports and run summaries of the newest ``days`` dates per dataset / DAG.

    Freshness needs the newest *loaded* date, which may be older than the dates shown when the
    latest runs failed; the page shows "nothing loaded" only if none of the dates read was loaded.
    """
    report_keys = _newest(
        ((m["dataset"], m["ds"], o.key) for o in lake.list("quality") if (m := _REPORT_KEY.match(o.key))), days
    )
    summary_keys = _newest(
        ((m["dag_id"], m["ds"], o.key) for o in lake.list("reports") if (m := _SUMMARY_KEY.match(o.key))), days
    )

    def read(key: str) -> dict[str, Any] | None:
        try:
            document = dict(lake.read_json(key))
        except (FileNotFoundError, ValueError):  # replaced while a rerun rewrites it
            return None
        # the key names the dataset (or DAG) and date even if the document does not
        match = _REPORT_KEY.match(key) or _SUMMARY_KEY.match(key)
        if match:
            for name, value in match.groupdict().items():
                document.setdefault(name, value)
        return document

    # S3 lakes answer one object per request: read them in parallel
    with ThreadPoolExecutor(max_workers=8) as pool:
        reports = [r for r in pool.map(read, report_keys) if r is not None]
        summaries = [s for s in pool.map(read, summary_keys) if s is not None]
    return reports, summaries


def lake_health(lake: LakeHook, *, today: date, days: int = DEFAULT_DAYS) -> DataHealth:
    """:func:`build_health` over what :func:`read_lake_documents` finds in ``lake``."""
    reports, summaries = read_lake_documents(lake, days=days)
    return build_health(reports, summaries, today=today, days=days)
