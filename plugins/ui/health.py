"""What the "Data health" page shows, computed from what the pipelines wrote to the lake.

Two kinds of documents feed it, both written by the operators for every logical date:

* ``quality/<dataset>/ds=<date>/report.json`` -- the gate's report: rows in, passed, quarantined,
  duplicates removed, quarantined rows by check and by column (the gate's built-in checks --
  ``type``, ``not_null``, ``parse``, ``event_time``... -- included) with examples, and every
  contract check with its arguments, severity, observed value and outcome;
* ``reports/<dag id>/ds=<date>/summary.json`` -- the run summary: per dataset the rows the warehouse
  really committed (from its load audit, with the loading run and time), the run id, when it was
  written, and facts about the pipeline (schedule, deadline, intermediate datasets).

:func:`build_health` is pure (documents in, :class:`DataHealth` out) and needs neither Airflow nor
the warehouse; :func:`read_lake_documents` fetches the documents through a :class:`LakeHook`,
keeping what it parsed in memory until the object changes (a year of 50 datasets is 18,250
reports: parsing them on every request would cost seconds).
"""

from __future__ import annotations

import gc
import math
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from lockgate import health_index
from lockgate.layout import zone_prefix

if TYPE_CHECKING:
    from lockgate.hooks.lake import LakeHook, LakeObject

#: without a schedule or deadline, a dataset whose newest loaded date is at most this old is fresh
DEFAULT_MAX_LAG_DAYS = 1
#: how many days (ending today) the page shows by default
DEFAULT_DAYS = 30
#: a day that quarantined at least this share of its rows is "quarantine-heavy" on the grid
QUARANTINE_HEAVY_RATE = 0.05
#: grid cell states, worst first (the legend's order)
STATES = ("failed", "late", "missing", "quarantine-heavy", "warned", "loaded")

_REPORT_KEY = re.compile(r"^quality/(?P<dataset>[^/]+)/ds=(?P<ds>\d{4}-\d{2}-\d{2})/report\.json$")
_SUMMARY_KEY = re.compile(r"^reports/(?P<dag_id>[^/]+)/ds=(?P<ds>\d{4}-\d{2}-\d{2})/summary\.json$")
#: report fields the page never shows: left out of the cache
_HEAVY_FIELDS = ("column_metrics", "files", "schema_drift")
#: where a cached report keeps its parsed checks (parsed once, not on every request)
_CHECKS_KEY = "__lockgate_checks__"
_DAY_KEY = "__lockgate_day__"
#: set on the documents the page keeps in memory (the days built from them are kept with them)
_CACHED_KEY = "__lockgate_cached__"
#: check arguments that say what is checked, not the threshold
_TARGET_KWARGS = frozenset({"column", "column_list", "row_condition", "condition_parser", "result_format"})
_PRESETS = {
    "@hourly": timedelta(hours=1),
    "@daily": timedelta(days=1),
    "@midnight": timedelta(days=1),
    "@weekly": timedelta(days=7),
    "@monthly": timedelta(days=31),
    "@quarterly": timedelta(days=92),
    "@yearly": timedelta(days=366),
    "@annually": timedelta(days=366),
}


@dataclass(frozen=True)
class CheckOutcome:
    """One data-quality check of one gate run: a contract check or one of the gate's built-in ones.

    ``builtin`` checks (``type``, ``not_null``, ``parse``...) are not in the contract's list; they
    only appear when they quarantined rows, with the count from the report's ``quarantine_by_check``.
    """

    check: str
    severity: str
    success: bool
    unexpected_count: int | None = None
    observed_value: Any = None
    expectation: str | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    element_count: int | None = None
    examples: tuple[str, ...] = ()
    builtin: bool = False

    @cached_property
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

    @property
    def threshold(self) -> str:
        """The check's limits in words (``min_value=0, max_value=500``); "" when it has none."""
        return ", ".join(f"{k}={v}" for k, v in self.kwargs.items() if k not in _TARGET_KWARGS)


@dataclass(frozen=True)
class DayHealth:
    """One dataset on one logical date.

    ``rows_loaded`` is what the warehouse committed according to the run summary; ``None`` when no
    summary covers the date (the run stopped before it, or the dataset is intermediate).
    """

    ds: str
    rows_in: int
    rows_passed: int
    rows_quarantined: int
    duplicates_removed: int
    rows_loaded: int | None
    checks: Sequence[CheckOutcome] = ()
    gate_failed: bool = False
    dag_id: str | None = None
    run_id: str | None = None
    quarantine_by_check: Mapping[str, int] = field(default_factory=dict)
    quarantine_by_column: Mapping[str, int] = field(default_factory=dict)
    contract: str | None = None
    load_run_id: str | None = None
    loaded_at: str | None = None
    written_at: str | None = None
    intermediate: bool = False
    #: the run summary's deliveries of the dataset on the date (target, kind, location, rows, batches, rejected)
    deliveries: tuple[Mapping[str, Any], ...] = ()
    #: the quarantine replay that last re-gated the date (lockgate.replay): its run, the original run,
    #: the outcome and what the loads then held
    replay: Mapping[str, Any] | None = None
    #: whether a ``warn`` check failed (known without building :attr:`checks`); None: look at the checks
    warned: bool | None = None

    @property
    def quarantine_rate(self) -> float:
        """Quarantined rows as a share of the rows that came in (0.0 when nothing came in)."""
        return self.rows_quarantined / self.rows_in if self.rows_in else 0.0

    @property
    def failing_checks(self) -> tuple[CheckOutcome, ...]:
        return tuple(c for c in self.checks if not c.success)

    @property  # not cached_property: its lock costs more than the few comparisons (18,000 days a page)
    def state(self) -> str:
        """The grid's word for the day: ``failed``, ``late``, ``quarantine-heavy``, ``warned`` or ``loaded``.

        ``late``: the gate passed but no load of the date is recorded (yet). An intermediate
        dataset is never loaded: for it, passing the gate is the end of the line.
        """
        if self.gate_failed:
            return "failed"
        if self.rows_loaded is None and not self.intermediate:
            return "late"
        if self.rows_in and self.quarantine_rate >= QUARANTINE_HEAVY_RATE:
            return "quarantine-heavy"
        if self.warned if self.warned is not None else any(c.outcome == "warned" for c in self.checks):
            return "warned"
        return "loaded"


@dataclass(frozen=True)
class CheckHistory:
    """One check across the logical dates shown: ``outcomes[ds]`` is passed, warned, quarantined or failed."""

    check: str
    severity: str
    outcomes: Mapping[str, str]
    builtin: bool = False


@dataclass(frozen=True)
class DatasetHealth:
    """Everything the page shows about one dataset; ``days`` oldest first, ``calendar`` every day of the range."""

    dataset: str
    days: tuple[DayHealth, ...]
    newest_loaded_ds: str | None
    lag_days: int | None
    fresh: bool
    dag_id: str | None = None
    schedule: str | None = None
    max_lag_days: int = DEFAULT_MAX_LAG_DAYS
    intermediate: bool = False
    latest_day: DayHealth | None = None
    calendar: tuple[tuple[str, str], ...] = ()

    @property
    def latest(self) -> DayHealth | None:
        """The day of the dataset's latest run: the newest summary written (a rerun of an older
        date included, inside the range shown or not), else the newest date the gate reported on."""
        return self.latest_day or (self.days[-1] if self.days else None)

    @cached_property
    def check_history(self) -> tuple[CheckHistory, ...]:
        """Per check, its outcome on each day shown (computed when a section is drawn, not before)."""
        return _check_history(self.days)

    @property
    def freshness(self) -> str:
        if self.newest_loaded_ds is None:
            return "nothing gated" if self.intermediate else "nothing loaded"
        if self.lag_days == 0:
            return "up to date"
        unit = "day" if self.lag_days == 1 else "days"
        return f"{self.lag_days} {unit} behind"

    @property
    def last_run_id(self) -> str | None:
        latest = self.latest
        return latest.run_id if latest else None

    @property
    def last_loaded_at(self) -> str | None:
        """When the warehouse last committed a date of this dataset (per the load audit)."""
        return max((d.loaded_at for d in self.days if d.loaded_at), default=None)


@dataclass(frozen=True)
class DataHealth:
    """The page's data: one :class:`DatasetHealth` per dataset, by name, over ``start``..``end``."""

    today: str
    start: str
    end: str
    datasets: tuple[DatasetHealth, ...]

    def dataset(self, name: str) -> DatasetHealth:
        for item in self.datasets:
            if item.dataset == name:
                return item
        raise KeyError(name)


# ---------------------------------------------------------------------------------- schedule


def schedule_period(schedule: str | None) -> timedelta | None:
    """The time between two runs of a schedule (a preset or a cron expression); None when unknown."""
    if not schedule:
        return None
    if schedule in _PRESETS:
        return _PRESETS[schedule]
    try:
        from croniter import croniter

        runs = croniter(schedule, datetime(2026, 1, 1, tzinfo=UTC))
        first = runs.get_next(datetime)
        return runs.get_next(datetime) - first
    except Exception:  # noqa: BLE001 - not a cron expression (an asset or timetable name): unknown
        return None


def allowed_lag_days(schedule: str | None, late_batch_after_hours: float | None) -> int:
    """How old the newest loaded date may be before the dataset counts as stale.

    One schedule period (a daily pipeline loads yesterday's data today), plus the days its
    deadline allows beyond the first (30 h after a daily date: the day before yesterday is fine
    until 06:00). Without a schedule: :data:`DEFAULT_MAX_LAG_DAYS`.
    """
    period = schedule_period(schedule)
    base = max(1, math.ceil(period / timedelta(days=1))) if period else DEFAULT_MAX_LAG_DAYS
    extra = max(0, math.ceil((late_batch_after_hours or 0) / 24) - 1)
    return base + extra


def expected_dates(schedule: str | None, start: date, end: date) -> set[str] | None:
    """The logical dates the schedule runs for between ``start`` and ``end``; None: no expectation."""
    period = schedule_period(schedule)
    if period is None:
        return None
    if period <= timedelta(days=1):
        return {(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)}
    from croniter import croniter

    expression = {"@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *"}.get(str(schedule), str(schedule))
    if expression.startswith("@"):
        expression = "0 0 1 1 *"
    runs = croniter(expression, datetime.combine(start, datetime.min.time(), UTC) - timedelta(seconds=1))
    found: set[str] = set()
    while (moment := runs.get_next(datetime).date()) <= end:
        found.add(moment.isoformat())
    return found


# ---------------------------------------------------------------------------------- building


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def _check(raw: Mapping[str, Any], examples: Mapping[str, Sequence[str]]) -> CheckOutcome:
    count = raw.get("unexpected_count")
    name = str(raw.get("check") or raw.get("expectation") or "?")
    own = [str(e) for e in raw.get("examples") or [] if e is not None]
    elements = raw.get("element_count")
    return CheckOutcome(
        check=name,
        severity=str(raw.get("severity") or "fail"),
        success=bool(raw.get("success")),
        unexpected_count=None if count is None else int(count),
        observed_value=raw.get("observed_value"),
        expectation=raw.get("expectation"),
        kwargs=dict(raw.get("kwargs") or {}),
        element_count=None if elements is None else int(elements),
        examples=tuple(own or examples.get(name) or ()),
    )


class LazyChecks(Sequence[CheckOutcome]):
    """A day's checks, built from its report when first looked at.

    The page's grid needs only each day's counts and whether a check warned; building the
    :class:`CheckOutcome` of every check of a year of 50 datasets (150,000) would cost more than the
    rest of the page. A section's check history or a day's drill-down builds those it shows.
    """

    __slots__ = ("_built", "_report")

    def __init__(self, report: Mapping[str, Any]) -> None:
        self._report = report
        self._built: tuple[CheckOutcome, ...] | None = None

    def _all(self) -> tuple[CheckOutcome, ...]:
        if self._built is None:
            self._built = day_checks(self._report)
        return self._built

    def __getitem__(self, index: Any) -> Any:
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __iter__(self) -> Iterator[CheckOutcome]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        return tuple(self) == (tuple(other) if isinstance(other, Sequence) else other)

    def __hash__(self) -> int:
        return hash(self._all())

    def __repr__(self) -> str:
        return repr(self._all())

    def __deepcopy__(self, memo: dict[int, Any]) -> tuple[CheckOutcome, ...]:
        return self._all()  # dataclasses.asdict() copies fields: a plain tuple of frozen checks


def warned(report: Mapping[str, Any]) -> bool:
    """Whether a ``warn`` check of the report failed (what :attr:`CheckOutcome.outcome` calls warned)."""
    known = report.get(health_index.WARNED)
    if known is not None:
        return bool(known)
    return any(c.get("severity") == "warn" and not c.get("success") for c in report.get("checks") or ())


def day_checks(report: Mapping[str, Any]) -> tuple[CheckOutcome, ...]:
    """The report's checks, then the built-in checks that quarantined rows (from ``quarantine_by_check``)."""
    cached = report.get(_CHECKS_KEY)
    if cached is not None:
        return cached
    examples = report.get("quarantine_examples") or {}
    raw = report.get("checks")
    if raw is None and health_index.PACKED_CHECKS in report:  # a compact copy from the index
        raw = health_index.unpack_checks(report[health_index.PACKED_CHECKS])
    checks = [_check(c, examples) for c in raw or ()]
    named = {c.check for c in checks}
    for name, count in sorted((report.get("quarantine_by_check") or {}).items(), key=lambda kv: (-kv[1], kv[0])):
        if name not in named:
            checks.append(
                CheckOutcome(
                    check=name,
                    severity="quarantine",
                    success=True,
                    unexpected_count=int(count),
                    expectation="built-in",
                    examples=tuple(str(e) for e in examples.get(name) or ()),
                    builtin=True,
                )
            )
    built = tuple(checks)
    if _CACHED_KEY in report:  # a document kept in memory: build its checks once
        report[_CHECKS_KEY] = built  # type: ignore[index]
    return built


def _loads(summaries: Iterable[Mapping[str, Any]]) -> tuple[dict[tuple[str, str], dict[str, Any]], dict[str, Any]]:
    """Per (dataset, ds) the summary's entry (with its run), and per dataset its pipeline facts."""
    loaded: dict[tuple[str, str], dict[str, Any]] = {}
    pipelines: dict[str, Any] = {}
    for summary in sorted(summaries, key=lambda s: (str(s.get("ds")), str(s.get("dag_id")))):
        run = {
            "dag_id": summary.get("dag_id"),
            "run_id": summary.get("run_id"),
            "written_at": summary.get("written_at"),
        }
        facts = {"dag_id": summary.get("dag_id"), **(summary.get("pipeline") or {})}
        for entry in summary.get("datasets", []):
            # what the date's deliveries of this dataset got acknowledged where (lockgate.operators.deliver)
            sent = tuple(d for d in summary.get("deliveries", ()) if d.get("dataset") == entry["dataset"])
            loaded[(str(entry["dataset"]), str(summary["ds"]))] = {**run, **entry, "deliveries": sent}
            pipelines[str(entry["dataset"])] = facts
        for name in facts.get("gated") or ():
            pipelines.setdefault(str(name), facts)
            if name in (facts.get("intermediate") or ()):
                pipelines[str(name)] = facts
                loaded.setdefault((str(name), str(summary["ds"])), {**run, "intermediate": True})
    return loaded, pipelines


def _day(report: Mapping[str, Any], entry: Mapping[str, Any] | None) -> DayHealth:
    """The day of ``report``, reusing the one built for the same summary entry on an earlier request."""
    entry = entry or {}
    # everything _new_day reads of the entry (cheaper than sorting its items, 18,000 times a page)
    key = tuple(map(entry.get, _ENTRY_FIELDS))
    cached = report.get(_DAY_KEY)
    if cached is not None and cached[0] == key:
        return cached[1]
    day = _new_day(report, entry)
    if _CACHED_KEY in report:  # a cached document (see _read_all): keep the day with it
        report[_DAY_KEY] = (key, day)  # type: ignore[index]
    return day


_ENTRY_FIELDS = (
    "dag_id",
    "run_id",
    "rows_loaded",
    "intermediate",
    "load_run_id",
    "loaded_at",
    "written_at",
    "deliveries",
    "table",
)


def _replayed(entry: Mapping[str, Any], replay: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The summary entry with what a later quarantine replay loaded (the summary predates it)."""
    loads = list((replay or {}).get("loads") or [])
    if not loads or entry.get("intermediate"):
        return entry
    load = next((x for x in loads if x.get("table") == entry.get("table")), loads[0])
    return {
        **entry,
        "rows_loaded": load.get("rows_loaded"),
        "load_run_id": load.get("run_id"),
        "loaded_at": load.get("loaded_at"),
    }


def _new_day(report: Mapping[str, Any], entry: Mapping[str, Any] | None) -> DayHealth:
    replay = report.get("replay")
    entry = _replayed(entry or {}, replay)
    intermediate = bool(entry.get("intermediate"))
    rows_loaded = entry.get("rows_loaded")
    return DayHealth(
        ds=str(report["ds"]),
        rows_in=_int(report.get("rows_in")),
        rows_passed=_int(report.get("rows_passed")),
        rows_quarantined=_int(report.get("rows_quarantined")),
        duplicates_removed=_int(report.get("duplicates_removed")),
        rows_loaded=None if rows_loaded is None or intermediate else int(rows_loaded),
        checks=LazyChecks(report),
        warned=warned(report),
        gate_failed=bool(report.get("failed")) or report.get("success") is False,
        dag_id=entry.get("dag_id"),
        run_id=entry.get("run_id"),
        quarantine_by_check=dict(report.get("quarantine_by_check") or {}),
        quarantine_by_column=dict(report.get("quarantine_by_column") or {}),
        contract=report.get("contract"),
        load_run_id=entry.get("load_run_id"),
        loaded_at=entry.get("loaded_at"),
        written_at=entry.get("written_at"),
        intermediate=intermediate,
        deliveries=tuple(entry.get("deliveries") or ()),
        replay=dict(replay) if replay else None,
    )


def build_health(
    reports: Iterable[Mapping[str, Any]],
    summaries: Iterable[Mapping[str, Any]],
    *,
    today: date,
    days: int = DEFAULT_DAYS,
    start: date | None = None,
    end: date | None = None,
    max_lag_days: int | None = None,
) -> DataHealth:
    """Aggregate gate reports and run summaries into per-dataset health over ``start``..``end``.

    :param reports: gate reports (``report.json``), each with ``dataset`` and ``ds``.
    :param summaries: run summaries (``summary.json``), each with ``dag_id``, ``run_id``, ``ds``,
        ``datasets`` (per dataset ``rows_loaded``...) and ``pipeline`` (schedule, intermediate
        datasets). When two summaries cover the same dataset and date, the one from the DAG id
        sorting last wins (deterministic, rarely relevant). Summaries outside the range still
        count for freshness.
    :param today: the date freshness is measured against.
    :param days: the length of the range when ``start`` is not given.
    :param start: the first date shown (default: ``days`` before ``end``).
    :param end: the last date shown (default: the newest reported date up to ``today``, so a
        pipeline that stopped still shows its last days; freshness says how long ago that was).
    :param max_lag_days: overrides the freshness threshold that comes from each pipeline's schedule.
    """
    reports = list(reports)
    if end is None:
        reported = [str(r["ds"]) for r in reports if str(r["ds"]) <= today.isoformat()]
        end = date.fromisoformat(max(reported)) if reported else today
    start = start or end - timedelta(days=days - 1)
    loaded, pipelines = _loads(summaries)
    by_dataset: dict[str, dict[str, DayHealth]] = {}
    for report in reports:
        dataset, ds = str(report["dataset"]), str(report["ds"])
        by_dataset.setdefault(dataset, {})[ds] = _day(report, loaded.get((dataset, ds)))

    window = (start, end, today)
    newest_loaded: dict[str, str] = {}
    for (dataset, ds), entry in loaded.items():
        if entry.get("rows_loaded") and not entry.get("intermediate") and ds > newest_loaded.get(dataset, ""):
            newest_loaded[dataset] = ds
    datasets = [
        _dataset(name, by_dataset[name], pipelines.get(name) or {}, newest_loaded.get(name), window, max_lag_days)
        for name in sorted(by_dataset)
    ]
    return DataHealth(today=today.isoformat(), start=start.isoformat(), end=end.isoformat(), datasets=tuple(datasets))


def _dataset(
    name: str,
    by_ds: Mapping[str, DayHealth],
    facts: Mapping[str, Any],
    newest_loaded: str | None,
    window: tuple[date, date, date],
    lag: int | None,
) -> DatasetHealth:
    start, end, today = window
    intermediate = name in (facts.get("intermediate") or ())
    shown = tuple(by_ds[ds] for ds in sorted(by_ds) if start.isoformat() <= ds <= end.isoformat())
    # the newest date the warehouse holds rows of (an intermediate dataset: the newest gated)
    gated = [ds for ds, day in by_ds.items() if day.intermediate and day.rows_passed]
    newest = max([*gated, *([newest_loaded] if newest_loaded else [])], default=None)
    lag_days = (today - date.fromisoformat(newest)).days if newest else None
    schedule = facts.get("schedule")
    allowed = lag if lag is not None else allowed_lag_days(schedule, facts.get("late_batch_after_hours"))
    written = [d for d in by_ds.values() if d.written_at]
    latest = max(written, key=lambda d: (str(d.written_at), d.ds)) if written else None
    return DatasetHealth(
        dataset=name,
        days=shown,
        newest_loaded_ds=newest,
        lag_days=lag_days,
        fresh=lag_days is not None and lag_days <= allowed,
        dag_id=facts.get("dag_id") or next((d.dag_id for d in reversed(shown) if d.dag_id), None),
        schedule=schedule,
        max_lag_days=allowed,
        intermediate=intermediate,
        latest_day=latest,
        calendar=calendar(by_ds, schedule, (start, end), today, allowed),
    )


def calendar(
    by_ds: Mapping[str, DayHealth], schedule: str | None, window: tuple[date, date], today: date, allowed_lag: int
) -> tuple[tuple[str, str], ...]:
    """``(ds, state)`` for every day of ``window`` (first and last date).

    A day with a gate report has the report's :attr:`DayHealth.state`. A day without one is
    ``missing`` when the schedule expects it and it is due -- after the dataset's first report and
    either before its newest one (a gap) or older than the allowed lag -- else ``none`` (not due,
    not scheduled, or before the dataset existed).
    """
    start, end = window
    first = min(by_ds) if by_ds else None
    newest = max(by_ds) if by_ds else None
    due = (today - timedelta(days=allowed_lag)).isoformat()
    expected = expected_dates(schedule, start, end)
    cells = []
    for offset in range((end - start).days + 1):
        ds = (start + timedelta(days=offset)).isoformat()
        if ds in by_ds:
            state = by_ds[ds].state
        elif (
            expected is not None
            and ds in expected
            and first is not None
            and ds > first
            and (ds < str(newest) or ds <= due)
        ):
            state = "missing"
        else:
            state = "none"
        cells.append((ds, state))
    return tuple(cells)


def _check_history(days: Iterable[DayHealth]) -> tuple[CheckHistory, ...]:
    """Per check (in the order the newest report lists them), its outcome on each date."""
    order: dict[str, tuple[str, bool]] = {}
    outcomes: dict[str, dict[str, str]] = {}
    for day in sorted(days, key=lambda d: d.ds, reverse=True):
        for check in day.checks:
            order.setdefault(check.check, (check.severity, check.builtin))
            outcomes.setdefault(check.check, {})[day.ds] = check.outcome
    return tuple(CheckHistory(check, sev, outcomes[check], builtin) for check, (sev, builtin) in order.items())


# ----------------------------------------------------------------------------------- reading


class _DocumentCache:
    """Parsed lake documents by key, kept while the object's fingerprint is unchanged.

    The fingerprint of a local lake's object is its size and modification time; the S3 listing
    gives the size only, so S3 entries are also dropped after :attr:`s3_ttl` seconds (a rerun
    that rewrites a report with exactly as many bytes shows within that time).
    """

    s3_ttl = 60.0

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[tuple[Any, ...], float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def fingerprint(self, lake: LakeHook, obj: LakeObject) -> tuple[Any, ...]:
        if lake.is_s3:
            return (obj.size,)
        try:
            stat = os.stat(lake.uri(obj.key))
        except OSError:
            return (obj.size, None)
        return (obj.size, stat.st_mtime_ns)

    def get(
        self, lake: LakeHook, obj: LakeObject, fingerprint: tuple[Any, ...], url: str, s3: bool | None = None
    ) -> dict[str, Any] | None:
        """The cached document, if it has ``fingerprint``; ``s3``: whether ``lake`` is on S3 (the caller
        may know: asking the hook costs more than the lookup, 20,000 times a page)."""
        found = self._entries.get((url, obj.key))  # a dict read is atomic: no lock needed
        if found is None or found[0] != fingerprint:
            return None
        if (lake.is_s3 if s3 is None else s3) and time.monotonic() - found[1] > self.s3_ttl:
            return None
        return found[2]

    def put(self, obj: LakeObject, fingerprint: tuple[Any, ...], document: dict[str, Any], url: str) -> None:
        document[_CACHED_KEY] = True
        with self._lock:
            self._entries[(url, obj.key)] = (fingerprint, time.monotonic(), document)


_CACHE = _DocumentCache()


def _document(obj: LakeObject, document: dict[str, Any]) -> dict[str, Any]:
    """A parsed document as the page keeps it: heavy fields dropped, the key's dataset (or DAG) and date set."""
    for heavy in _HEAVY_FIELDS:
        document.pop(heavy, None)
    # the key names the dataset (or DAG) and date even if the document does not
    match = _REPORT_KEY.match(obj.key) or _SUMMARY_KEY.match(obj.key)
    if match:
        for name, value in match.groupdict().items():
            document.setdefault(name, value)
    return document


def _read(
    lake: LakeHook, obj: LakeObject, fingerprint: tuple[Any, ...] | None = None, url: str | None = None
) -> dict[str, Any] | None:
    fingerprint = fingerprint or _CACHE.fingerprint(lake, obj)
    url = url or lake.url
    cached = _CACHE.get(lake, obj, fingerprint, url)
    if cached is not None:
        return cached
    try:
        document = _document(obj, dict(lake.read_json(obj.key)))
    except (FileNotFoundError, ValueError):  # replaced while a rerun rewrites it
        return None
    _CACHE.put(obj, fingerprint, document, url)
    return document


Listing = list[tuple["LakeObject", tuple[Any, ...] | None]]


def _local_documents(lake: LakeHook, zone: str, name: str) -> Listing:
    """``<zone>/<group>/ds=<date>/<name>`` of a local lake with their fingerprints, by directory scans,
    and the groups' index objects (``<zone>/<group>/_index/<year>.json``, :mod:`lockgate.health_index`).

    Two levels of ``os.scandir`` and one ``stat`` per document: a year of 50 datasets in a few
    hundred milliseconds, where a recursive listing of everything under the zone takes seconds.
    """
    from lockgate.hooks.lake import LakeObject

    base = lake.uri(zone)
    found: Listing = []
    try:
        groups = [e.name for e in os.scandir(base) if e.is_dir()]
    except OSError:
        return []
    for group in groups:
        try:
            names = [e.name for e in os.scandir(f"{base}/{group}")]
        except OSError:
            continue
        for folder in names:
            if folder == health_index.INDEX_FOLDER:
                found += _local_indexes(lake, zone, group)
                continue
            if not folder.startswith("ds="):
                continue
            try:
                stat = os.stat(f"{base}/{group}/{folder}/{name}")  # not os.path.join: 20,000 times a page
            except OSError:
                continue
            found.append(
                (LakeObject(f"{zone}/{group}/{folder}/{name}", stat.st_size), (stat.st_size, stat.st_mtime_ns))
            )
    return found


def _local_indexes(lake: LakeHook, zone: str, group: str) -> Listing:
    from lockgate.hooks.lake import LakeObject

    found: Listing = []
    folder = os.path.join(lake.uri(zone), group, health_index.INDEX_FOLDER)
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        key = f"{zone}/{group}/{health_index.INDEX_FOLDER}/{entry.name}"
        if health_index.INDEX_KEY.match(key):
            try:
                stat = entry.stat()
            except OSError:
                continue
            found.append((LakeObject(key, stat.st_size), (stat.st_size, stat.st_mtime_ns)))
    return found


def _documents(lake: LakeHook, zone: str) -> Listing:
    """The report (``quality``) or summary (``reports``) objects of the lake, with fingerprints when cheap,
    and the zone's index objects (told apart by their keys: :data:`lockgate.health_index.INDEX_KEY`)."""
    name = "report.json" if zone == "quality" else "summary.json"
    if not lake.is_s3:
        return list(_local_documents(lake, zone, name))
    return [(o, None) for o in lake.list(zone) if o.key.endswith("/" + name) or health_index.INDEX_KEY.match(o.key)]


def _indexes(listed: Listing) -> dict[str, tuple[LakeObject, tuple[Any, ...] | None]]:
    return {item[0].key: item for item in listed if health_index.INDEX_KEY.match(item[0].key)}


def read_lake_documents(
    lake: LakeHook,
    *,
    start: date | None = None,
    end: date | None = None,
    days: int | None = None,
    reports: bool = True,
    summaries: bool = True,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The gate reports and run summaries of the logical dates ``start``..``end`` (both optional).

    ``days`` keeps the newest ``days`` dates of each dataset / DAG; ``reports``/``summaries``
    False skips that kind (an empty list).
    """
    low, high = (start.isoformat() if start else ""), (end.isoformat() if end else "9999")

    def pick(zone: str, pattern: re.Pattern[str], group: str) -> list[dict[str, Any]]:
        listed = _documents(lake, zone)
        found = [
            (m[group], m["ds"], item) for item in listed if (m := pattern.match(item[0].key)) and low <= m["ds"] <= high
        ]
        if days is not None:
            groups: dict[str, list[tuple[str, tuple[LakeObject, tuple[Any, ...] | None]]]] = {}
            for name, ds, item in found:
                groups.setdefault(name, []).append((ds, item))
            kept = {id(item) for entries in groups.values() for _, item in sorted(entries, key=lambda i: i[0])[-days:]}
            found = [f for f in found if id(f[2]) in kept]
        return _read_all(lake, [item for _, _, item in found], _indexes(listed))

    return (
        pick("quality", _REPORT_KEY, "dataset") if reports else [],
        pick("reports", _SUMMARY_KEY, "dag_id") if summaries else [],
    )


class _IndexCache:
    """Parsed index objects by key, kept while the object's fingerprint is unchanged (as documents)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[tuple[Any, ...], dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def entries(
        self, lake: LakeHook, item: tuple[LakeObject, tuple[Any, ...] | None], url: str
    ) -> dict[str, tuple[tuple[Any, ...], dict[str, Any]]]:
        obj, fingerprint = item
        fingerprint = fingerprint or (obj.size,)
        with self._lock:
            found = self._entries.get((url, obj.key))
        if found is not None and found[0] == fingerprint:
            return found[1]
        try:
            parsed = health_index.entries(lake.read_json(obj.key))
        except (FileNotFoundError, ValueError, AttributeError, TypeError):
            parsed = {}
        with self._lock:
            self._entries[(url, obj.key)] = (fingerprint, parsed)
        return parsed


_INDEXES = _IndexCache()


def _from_index(
    lake: LakeHook,
    obj: LakeObject,
    fingerprint: tuple[Any, ...],
    indexes: Mapping[str, tuple[LakeObject, tuple[Any, ...] | None]],
    url: str,
    opened: dict[str, Mapping[str, tuple[tuple[Any, ...], dict[str, Any]]]],
) -> dict[str, Any] | None:
    """The compact copy of ``obj`` from its folder's index, if the index has this very version of it.

    ``obj`` is a ``<zone>/<group>/ds=<date>/<name>.json`` of a listing (the callers matched it);
    ``opened`` keeps the indexes this request looked at (by key).
    """
    zone, group, folder, _ = obj.key.split("/", 3)
    ds = folder[3:]
    key = f"{zone}/{group}/{health_index.INDEX_FOLDER}/{ds[:4]}.json"
    entries = opened.get(key)
    if entries is None:
        item = indexes.get(key)
        entries = opened[key] = _INDEXES.entries(lake, item, url) if item is not None else {}
    found = entries.get(ds)
    if found is None or found[0] != tuple(fingerprint):
        return None
    document = found[1]  # the index's own parsed entry: kept with it, never shared with a writer
    if "ds" not in document or ("dataset" not in document and "dag_id" not in document):
        document = _document(obj, document)
    return document


def _read_all(
    lake: LakeHook,
    items: Sequence[tuple[LakeObject, tuple[Any, ...] | None]],
    indexes: Mapping[str, tuple[LakeObject, tuple[Any, ...] | None]] | None = None,
) -> list[dict[str, Any]]:
    """The documents of ``items`` that could be read (a rerun may replace one while we read).

    Each comes from the in-memory cache, else from its folder's index (one object for a year of a
    dataset), else from the document itself.
    """
    url, s3 = lake.url, lake.is_s3
    found: list[dict[str, Any]] = []
    missing: list[tuple[LakeObject, tuple[Any, ...]]] = []
    opened: dict[str, Mapping[str, tuple[tuple[Any, ...], dict[str, Any]]]] = {}
    for obj, listed in items:
        fingerprint = listed or _CACHE.fingerprint(lake, obj)
        document = _CACHE.get(lake, obj, fingerprint, url, s3)
        if document is None and indexes:
            document = _from_index(lake, obj, fingerprint, indexes, url, opened)
            if document is not None:
                _CACHE.put(obj, fingerprint, document, url)
        if document is None:
            missing.append((obj, fingerprint))
        else:
            found.append(document)
    if s3 and len(missing) > 1:
        # S3 answers one object per request: read them in parallel
        with ThreadPoolExecutor(max_workers=8) as pool:
            found += [d for d in pool.map(lambda item: _read(lake, item[0], item[1], url), missing) if d is not None]
    else:
        found += [d for o, fingerprint in missing if (d := _read(lake, o, fingerprint, url)) is not None]
    return found


_GC_LOCK = threading.Lock()
_GC_PAUSES = [0, False]  # requests inside paused_gc(), whether the collector was on before the first


@contextmanager
def paused_gc() -> Iterator[None]:
    """Python's cyclic garbage collector off while a request builds the page.

    Parsing a year of documents allocates millions of objects, which makes the collector walk
    everything the page keeps in memory again and again: half the first request's CPU time. The
    documents hold no reference cycles (refcounting frees them), so nothing waits for the
    collector; it runs again when the last concurrent request is done.
    """
    with _GC_LOCK:
        if _GC_PAUSES[0] == 0:
            _GC_PAUSES[1] = gc.isenabled()
            gc.disable()
        _GC_PAUSES[0] += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_PAUSES[0] -= 1
            if _GC_PAUSES[0] == 0 and _GC_PAUSES[1]:
                gc.enable()


def lake_health(
    lake: LakeHook,
    *,
    today: date,
    days: int = DEFAULT_DAYS,
    start: date | None = None,
    end: date | None = None,
) -> DataHealth:
    """:func:`build_health` over ``lake``: the reports of the range, every run summary (for freshness).

    Without ``end``, the range ends on the newest reported date up to ``today``.
    """
    with paused_gc():
        return _lake_health(lake, today=today, days=days, start=start, end=end)


def _lake_health(lake: LakeHook, *, today: date, days: int, start: date | None, end: date | None) -> DataHealth:
    listed = _documents(lake, "quality")
    if end is None:
        dates = [m["ds"] for o, _ in listed if (m := _REPORT_KEY.match(o.key)) and m["ds"] <= today.isoformat()]
        end = date.fromisoformat(max(dates)) if dates else today
    start = start or end - timedelta(days=days - 1)
    low, high = start.isoformat(), end.isoformat()
    indexes = _indexes(listed)
    by_key = {item[0].key: item for item in listed}
    in_range = [item for item in listed if (m := _REPORT_KEY.match(item[0].key)) and low <= m["ds"] <= high]
    reports = _read_all(lake, in_range, indexes)
    _, summaries = read_lake_documents(lake, reports=False)
    # the latest run of a dataset may be a rerun of a date outside the range: its report too
    seen = {(str(r["dataset"]), str(r["ds"])) for r in reports}
    extra = [
        by_key[key]
        for dataset, ds in latest_runs(summaries).items()
        if (dataset, ds) not in seen and (key := f"{zone_prefix('quality', dataset, ds)}/report.json") in by_key
    ]
    reports += _read_all(lake, extra, indexes)
    return build_health(reports, summaries, today=today, start=start, end=end)


def latest_runs(summaries: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Per dataset, the logical date of the summary written last."""
    newest: dict[str, tuple[str, str]] = {}
    for summary in summaries:
        written = str(summary.get("written_at") or "")
        for entry in summary.get("datasets", []):
            name = str(entry["dataset"])
            if written and (written, str(summary["ds"])) > newest.get(name, ("", "")):
                newest[name] = (written, str(summary["ds"]))
    return {name: ds for name, (_, ds) in newest.items()}
