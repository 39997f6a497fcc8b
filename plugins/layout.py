"""Where each zone keeps a dataset's data for a logical date.

    raw/<dataset>/ds=<date>/run=<run id>/<file>      as received, one folder per run (immutable)
    staged/<dataset>/ds=<date>/part-0.parquet          typed rows that passed the gate
    quarantine/<dataset>/ds=<date>/quarantine.parquet  rows that did not, with a reason each
    quality/<dataset>/ds=<date>/report.json            the gate's report (every check, counts)
    curated/<dataset>/data/ds=<date>/<key>=<value>/... the dataset's Iceberg table: Parquet data files
    curated/<dataset>/metadata/...                     and its metadata (snapshots, manifests); read
                                                       through the catalog (lockgate.hooks.iceberg)
    reports/<dag id>/ds=<date>/summary.json            the run summary
    handoff/<dag id>/ds=<date>/run=<run id>/<task>.parquet  in-memory data an upstream task handed
                                                        over to an ingestion (lockgate.sources.memory)

Keys derive from the dataset, the logical date and the run id only (never the clock), so a rerun
writes to the same places and replaces what it wrote. The curated zone is the exception: each
publish adds data files under new names and one Iceberg snapshot makes them the date's data
(``CatalogHook.publish_date``); what a date holds is the table's to say, not the folder's.
"""

from __future__ import annotations

import re

from lockgate.hooks.lake import MANIFEST, safe_key

ZONES = ("raw", "staged", "quarantine", "quality", "curated", "reports")

_UNSAFE_RUN_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def run_segment(run_id: str) -> str:
    """A run id as a path segment (``manual__2026-01-02T00:00:00+00:00`` has ``:`` and ``+``)."""
    return _UNSAFE_RUN_CHARS.sub("_", run_id)


def zone_prefix(zone: str, dataset: str, ds: str) -> str:
    """``<zone>/<dataset>/ds=<date>``: everything one step publishes for one logical date."""
    if zone not in ZONES:
        raise ValueError(f"unknown lake zone {zone!r}; expected one of {', '.join(ZONES)}")
    return safe_key(zone, dataset, f"ds={ds}")


def raw_prefix(dataset: str, ds: str, run_id: str) -> str:
    return safe_key(zone_prefix("raw", dataset, ds), f"run={run_segment(run_id)}")


def manifest_key(zone: str, dataset: str, ds: str) -> str:
    return safe_key(zone_prefix(zone, dataset, ds), MANIFEST)


#: not a dataset zone: data tasks hand to an ingestion task of the same run (not in ZONES)
HANDOFF_ZONE = "handoff"


def handoff_key(dag_id: str, ds: str, run_id: str, name: str) -> str:
    """``handoff/<dag id>/ds=<date>/run=<run>/<name>.parquet``: keyed by run, so a retry replaces it."""
    return safe_key(HANDOFF_ZONE, dag_id, f"ds={ds}", f"run={run_segment(run_id)}", f"{name}.parquet")
