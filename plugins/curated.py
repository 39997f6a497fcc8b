"""Time travel in the curated zone: list a dataset's snapshots, read a date as of a snapshot or a
run, and roll a date back to what an earlier snapshot held.

Every publish is one Iceberg snapshot whose summary names the run (``lockgate.run-id``), the
logical date (``lockgate.ds``) and the rows (``lockgate.rows``), so "as of run X" is "as of the
snapshot run X committed". ``lockgate curated ...`` (:mod:`lockgate.cli`) is the command line.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lockgate.hooks.iceberg import LOGICAL_DATE, OPERATION, ROWS, RUN_ID, CatalogHook, PublishedDate

if TYPE_CHECKING:
    import pyarrow as pa


def snapshots(catalog: CatalogHook, dataset: str) -> list[dict[str, Any]]:
    """A dataset's snapshots, oldest first: id, when, operation, date, run id, rows, current or not."""
    table = catalog.table(dataset)
    current = table.current_snapshot()
    listed = []
    for snapshot in sorted(table.snapshots(), key=lambda s: s.timestamp_ms):
        props = snapshot.summary.additional_properties if snapshot.summary else {}
        listed.append(
            {
                "snapshot_id": snapshot.snapshot_id,
                "committed_at": datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC).isoformat(),
                "operation": props.get(OPERATION) or (snapshot.summary.operation.value if snapshot.summary else ""),
                "ds": props.get(LOGICAL_DATE),
                "run_id": props.get(RUN_ID),
                "rows": int(props[ROWS]) if ROWS in props else None,
                "current": current is not None and snapshot.snapshot_id == current.snapshot_id,
            }
        )
    return listed


def resolve_snapshot(
    catalog: CatalogHook,
    dataset: str,
    *,
    snapshot_id: int | None = None,
    run_id: str | None = None,
    ds: str | None = None,
) -> int | None:
    """The snapshot id asked for: ``snapshot_id`` as given, or the one ``run_id`` committed (for
    ``ds`` when given); None (the current snapshot) when neither is given."""
    if snapshot_id is not None and run_id is not None:
        raise ValueError("give a snapshot id or a run id, not both")
    if run_id is not None:
        return catalog.snapshot_of_run(dataset, run_id, ds).snapshot_id
    return snapshot_id


def read_as_of(
    catalog: CatalogHook, dataset: str, ds: str, *, snapshot_id: int | None = None, run_id: str | None = None
) -> pa.RecordBatchReader:
    """The rows of ``dataset`` for ``ds`` as of a snapshot or a run (default: the current snapshot)."""
    chosen = resolve_snapshot(catalog, dataset, snapshot_id=snapshot_id, run_id=run_id, ds=ds)
    return catalog.read_date(dataset, ds, chosen)


def rollback(
    catalog: CatalogHook,
    dataset: str,
    ds: str,
    *,
    snapshot_id: int | None = None,
    run_id: str | None = None,
    by: str = "lockgate curated rollback",
) -> PublishedDate:
    """Make ``ds`` of ``dataset`` hold again what it held as of a snapshot or a run: one new
    overwrite snapshot (the history keeps every version; other dates are untouched)."""
    chosen = resolve_snapshot(catalog, dataset, snapshot_id=snapshot_id, run_id=run_id, ds=ds)
    if chosen is None:
        raise ValueError("rollback needs the snapshot id or the run id to go back to")
    return catalog.rollback_date(dataset, ds, chosen, {RUN_ID: by})
