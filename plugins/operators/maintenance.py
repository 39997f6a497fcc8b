"""Lake housekeeping: raw-zone retention, and the curated tables' snapshots and orphan files.

The raw zone keeps every file as received (replay, audits), personal data included, so it must
not grow forever: :class:`RawRetentionOperator` deletes ``raw/<dataset>/ds=<date>/`` partitions
older than a number of days before the run's logical date. Dates come from the keys (never the
objects' modification times, which a copy or a restore resets) and from the logical date (never
the clock), so a backfill or a rerun deletes exactly what it would have deleted on its day.

:class:`CuratedRetentionOperator` keeps the curated zone's Iceberg tables from growing forever:
it expires snapshots older than a number of days (time travel reaches back that far) and then
removes the files no remaining snapshot refers to (older versions' data files, and files a
publish killed before its commit uploaded), instead of walking folders by date.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from lockgate.config import DEFAULT_LAKE_CONN_ID
from lockgate.hooks.lake import LakeHook
from lockgate.layout import zone_prefix

if TYPE_CHECKING:
    from airflow.sdk import Context

RAW = "raw"
_RAW_PARTITION = re.compile(r"^raw/(?P<dataset>[^/]+)/ds=(?P<ds>[^/]+)/")


@dataclass
class RetentionPlan:
    """What a retention run finds under ``raw/``: partitions to delete and partitions to keep."""

    cutoff: date
    expired: dict[tuple[str, str], int] = field(default_factory=dict)  # (dataset, ds) -> objects
    kept: set[tuple[str, str]] = field(default_factory=set)
    #: keys below raw/ that are not in a ds=<date> partition; never touched
    unrecognised: list[str] = field(default_factory=list)


def retention_cutoff(logical_date: date, retention_days: int) -> date:
    """The oldest date kept: partitions dated before it are expired."""
    return logical_date - timedelta(days=retention_days)


def plan_retention(keys: Iterable[str], logical_date: date, retention_days: int) -> RetentionPlan:
    """Sort raw-zone keys into expired and kept partitions (pure: no lake access).

    A partition is expired when its ``ds`` is strictly before ``logical_date - retention_days``;
    everything else is kept, including dates after the logical date (a backfill of an old date
    must never delete newer data). Keys outside ``raw/`` are rejected: this only ever deletes raw data.
    """
    if retention_days < 1:
        raise ValueError(f"retention_days must be at least 1, got {retention_days}")
    plan = RetentionPlan(cutoff=retention_cutoff(logical_date, retention_days))
    for key in keys:
        if not key.startswith(f"{RAW}/"):
            raise ValueError(f"refusing to plan retention for {key!r}: not in the raw zone")
        match = _RAW_PARTITION.match(key)
        try:
            ds = date.fromisoformat(match["ds"]) if match else None
        except ValueError:
            ds = None
        if match is None or ds is None:
            plan.unrecognised.append(key)
            continue
        partition = (match["dataset"], match["ds"])
        if ds < plan.cutoff:
            plan.expired[partition] = plan.expired.get(partition, 0) + 1
        else:
            plan.kept.add(partition)
    return plan


class RawRetentionOperator(BaseOperator):
    """Delete raw-zone partitions older than ``retention_days`` before the logical date.

    Only ``raw/<dataset>/ds=<date>/`` partitions are ever deleted; other zones, and keys below
    ``raw/`` that are not in a dated partition, are left alone. Every deleted partition is logged;
    the counts go to XCom.

    :param retention_days: days of raw data to keep (templated; at least 1). A partition whose
        date is before ``logical date - retention_days`` is deleted.
    :param datasets: only these datasets (default: every dataset in the raw zone).
    :param report_only: a dry run: log and report what would be deleted, delete nothing (templated).
        (Not called ``dry_run``: that name is a method of every Airflow operator.)
    :param lake_conn_id: the lake connection (see :class:`~lockgate.hooks.lake.LakeHook`).
    """

    template_fields: Sequence[str] = ("retention_days", "report_only")
    ui_color = "#f4e8e8"

    def __init__(
        self,
        *,
        retention_days: int | str,
        datasets: Sequence[str] | None = None,
        report_only: bool | str = False,
        lake_conn_id: str = DEFAULT_LAKE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.retention_days = retention_days
        self.datasets = list(datasets) if datasets is not None else None
        self.report_only = report_only
        self.lake_conn_id = lake_conn_id

    @cached_property
    def lake(self) -> LakeHook:
        return LakeHook(lake_conn_id=self.lake_conn_id)

    def _days(self) -> int:
        # templated from a Variable or a param, so it may arrive as text
        try:
            days = int(str(self.retention_days).strip())
        except ValueError:
            raise AirflowFailException(
                f"{self.task_id}: retention_days must be a whole number of days, got {self.retention_days!r}"
            ) from None
        if days < 1:
            raise AirflowFailException(f"{self.task_id}: retention_days must be at least 1, got {days}")
        return days

    def _report_only(self) -> bool:
        if isinstance(self.report_only, bool):
            return self.report_only
        return str(self.report_only).strip().lower() in ("1", "true", "yes", "on")

    def execute(self, context: Context) -> dict[str, Any]:
        days = self._days()
        dry_run = self._report_only()
        ds = context.get("ds") or context["dag_run"].run_after.date().isoformat()
        logical = date.fromisoformat(str(ds))
        prefixes = [f"{RAW}/{d}" for d in self.datasets] if self.datasets is not None else [RAW]
        keys = [o.key for prefix in prefixes for o in self.lake.list(prefix)]
        plan = plan_retention(keys, logical, days)
        self.log.info(
            "raw retention: %d days before %s, so partitions dated before %s go (%s)",
            days,
            logical,
            plan.cutoff,
            "dry run: nothing is deleted" if dry_run else "deleting",
        )
        deleted_objects = 0
        for dataset, part_ds in sorted(plan.expired):
            prefix = zone_prefix(RAW, dataset, part_ds)
            if dry_run:
                self.log.info("would delete %s (%d objects)", self.lake.uri(prefix), plan.expired[(dataset, part_ds)])
                continue
            count = self.lake.delete_prefix(prefix)
            deleted_objects += count
            self.log.info("deleted %s (%d objects)", self.lake.uri(prefix), count)
        if plan.unrecognised:
            self.log.warning(
                "%d objects under raw/ are not in a ds=<date> partition and were left alone, e.g. %s",
                len(plan.unrecognised),
                plan.unrecognised[0],
            )
        return {
            "dry_run": dry_run,
            "retention_days": days,
            "cutoff": plan.cutoff.isoformat(),
            "expired_partitions": len(plan.expired),
            "deleted_objects": deleted_objects,
            "kept_partitions": len(plan.kept),
            "unrecognised_objects": len(plan.unrecognised),
            "partitions": [f"{d}/ds={p}" for d, p in sorted(plan.expired)],
        }


class CuratedRetentionOperator(BaseOperator):
    """Expire old snapshots of every curated table, then remove the files nothing refers to.

    A snapshot is expired when it was committed more than ``snapshot_retention_days`` before now
    (snapshot times are commit times); the newest ``retain_last`` snapshots and the current one
    always stay. Then every file under the table's location that no remaining snapshot (nor the
    table's metadata log) refers to and that is older than ``orphan_grace_hours`` is deleted: the
    grace spares files a publish running right now has uploaded but not committed yet.

    :param snapshot_retention_days: days of snapshots (time travel) to keep (templated; >= 1).
    :param orphan_grace_hours: age below which an unreferenced file is left alone.
    :param retain_last: snapshots always kept per table, whatever their age.
    :param datasets: only these datasets (default: every table of the catalog's namespace).
    :param report_only: log what would be expired or deleted; change nothing (templated).
    """

    template_fields: Sequence[str] = ("snapshot_retention_days", "report_only")
    ui_color = "#f4e8e8"

    def __init__(
        self,
        *,
        snapshot_retention_days: int | str,
        orphan_grace_hours: float = 24,
        retain_last: int = 1,
        datasets: Sequence[str] | None = None,
        report_only: bool | str = False,
        lake_conn_id: str = DEFAULT_LAKE_CONN_ID,
        catalog_conn_id: str = "lockgate_catalog",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.snapshot_retention_days = snapshot_retention_days
        self.orphan_grace_hours = orphan_grace_hours
        self.retain_last = retain_last
        self.datasets = list(datasets) if datasets is not None else None
        self.report_only = report_only
        self.lake_conn_id = lake_conn_id
        self.catalog_conn_id = catalog_conn_id

    def _days(self) -> int:
        try:
            days = int(str(self.snapshot_retention_days).strip())
        except ValueError:
            days = 0
        if days < 1:
            raise AirflowFailException(
                f"{self.task_id}: snapshot_retention_days must be a whole number of days, at least 1, "
                f"got {self.snapshot_retention_days!r}"
            )
        return days

    def execute(self, context: Context) -> dict[str, Any]:
        from datetime import UTC, datetime

        from lockgate.hooks.iceberg import CatalogHook

        catalog = CatalogHook(self.catalog_conn_id, self.lake_conn_id)
        dry_run = str(self.report_only).strip().lower() in ("1", "true", "yes", "on")
        now = datetime.now(UTC)
        expire_before = now - timedelta(days=self._days())
        orphans_before = now - timedelta(hours=self.orphan_grace_hours)
        report: dict[str, Any] = {"dry_run": dry_run, "expired_snapshots": {}, "deleted_files": {}}
        for dataset in self.datasets if self.datasets is not None else catalog.datasets():
            if dry_run:
                table = catalog.table(dataset)
                old = [s.snapshot_id for s in table.snapshots() if s.timestamp_ms < expire_before.timestamp() * 1000]
                self.log.info("%s: %d snapshots are older than %s (dry run)", dataset, len(old), expire_before)
                continue
            expired = catalog.expire_snapshots(dataset, expire_before, self.retain_last)
            deleted = catalog.remove_orphan_files(catalog.table(dataset), orphans_before)
            report["expired_snapshots"][dataset] = len(expired)
            report["deleted_files"][dataset] = len(deleted)
            self.log.info(
                "%s: expired %d snapshots committed before %s, deleted %d unreferenced files",
                dataset,
                len(expired),
                expire_before,
                len(deleted),
            )
        return report
