"""A compact index of the gate reports and run summaries, kept next to them for the Data health page.

The page shows a year of 50 datasets: 18,250 ``report.json`` files and thousands of
``summary.json`` files. Reading and parsing every one on the api-server's first request takes
seconds (thousands of requests on S3). So each writer of such a document also records a compact
copy of it -- what the page shows: counts, reasons, check outcomes; not the examples, column
metrics or file lists -- in one index object per folder and year:

    quality/<dataset>/_index/<year>.json    written by the quality gate (and the quarantine replay)
    reports/<dag id>/_index/<year>.json     written by the run summary

Each entry carries the **fingerprint** of the document it was made from (its size; on a local lake
also its modification time), so a reader uses an entry only while the document is unchanged: an
index that missed a write (two writers of one folder racing, a task killed between the two writes,
a document written by an older version) costs that document a read, never a wrong number. The
index is a cache: deleting it is always safe. Recording never fails the task that wrote the
document (a warning says why).
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lockgate.hooks.lake import LakeHook, LakeObject

log = logging.getLogger(__name__)

VERSION = 2
INDEX_FOLDER = "_index"
#: ``<zone>/<group>/_index/<year>.json``
INDEX_KEY = re.compile(r"^(?P<zone>quality|reports)/(?P<group>[^/]+)/_index/(?P<year>\d{4})\.json$")
#: report fields the page never shows on its main view (the day page reads the report itself)
_REPORT_DROP = ("column_metrics", "files", "schema_drift", "quarantine_examples", "warnings", "checks")
#: summary fields the page never reads
_SUMMARY_DROP = ("top_aqi", "locations", "warnings")
#: where a compact report keeps its checks: (definitions, [[definition, success, unexpected, observed, elements]])
PACKED_CHECKS = "__lockgate_packed_checks__"
#: a compact report's "a warn check failed" (known without unpacking its checks)
WARNED = "__lockgate_warned__"


def index_key(zone: str, group: str, ds: str) -> str:
    """The index object of ``<zone>/<group>`` holding the year of ``ds``."""
    return f"{zone}/{group}/{INDEX_FOLDER}/{ds[:4]}.json"


def compact(zone: str, document: Mapping[str, Any], definitions: list[list[Any]]) -> dict[str, Any]:
    """What the page needs of a report (``quality``) or a summary (``reports``).

    A report's checks are packed: what every day repeats (name, expectation, severity, arguments)
    once in ``definitions`` (extended as needed), per day only the outcome.
    """
    if zone == "reports":
        return {k: v for k, v in document.items() if k not in _SUMMARY_DROP}
    entry = {k: v for k, v in document.items() if k not in _REPORT_DROP}
    known = {json.dumps(d, sort_keys=True, default=str): i for i, d in enumerate(definitions)}
    packed = []
    for check in document.get("checks") or ():
        definition = [check.get("check"), check.get("expectation"), check.get("severity"), check.get("kwargs") or {}]
        text = json.dumps(definition, sort_keys=True, default=str)
        if text not in known:
            known[text] = len(definitions)
            definitions.append(definition)
        packed.append(
            [
                known[text],
                bool(check.get("success")),
                check.get("unexpected_count"),
                check.get("observed_value"),
                check.get("element_count"),
            ]
        )
    entry["c"] = packed
    entry["w"] = any(c.get("severity") == "warn" and not c.get("success") for c in document.get("checks") or ())
    return entry


def unpack_checks(packed: tuple[list[list[Any]], list[list[Any]]]) -> list[dict[str, Any]]:
    """A compact report's checks as the report lists them (without their examples)."""
    definitions, outcomes = packed
    checks = []
    for index, success, unexpected, observed, elements in outcomes:
        check, expectation, severity, kwargs = definitions[index]
        checks.append(
            {
                "check": check,
                "expectation": expectation,
                "severity": severity,
                "kwargs": kwargs,
                "success": success,
                "unexpected_count": unexpected,
                "observed_value": observed,
                "element_count": elements,
            }
        )
    return checks


def fingerprint(lake: LakeHook, obj: LakeObject) -> list[Any]:
    """What identifies a version of a document: its size, and on a local lake its modification time."""
    if lake.is_s3:
        return [obj.size]
    try:
        return [obj.size, os.stat(lake.uri(obj.key)).st_mtime_ns]
    except OSError:
        return [obj.size, None]


def record(lake: LakeHook, zone: str, group: str, ds: str, document: Mapping[str, Any], written: LakeObject) -> None:
    """Put ``document`` (just written as ``written``) into its folder's index; never raises."""
    key = index_key(zone, group, ds)
    try:
        try:
            index = dict(lake.read_json(key))
        except (FileNotFoundError, ValueError):
            index = {}
        if index.get("version") != VERSION:
            index = _empty(zone, group, ds[:4])
        entry = compact(zone, document, index["definitions"])
        index["entries"][ds] = {"fingerprint": fingerprint(lake, written), "document": entry}
        _write(lake, key, index)
    except Exception as exc:  # noqa: BLE001 - the index is a cache: the document itself is written
        log.warning("could not update the Data health index %s (%s): the page reads the document instead", key, exc)


def _empty(zone: str, group: str, year: str) -> dict[str, Any]:
    return {"version": VERSION, "zone": zone, "group": group, "year": year, "definitions": [], "entries": {}}


def _write(lake: LakeHook, key: str, index: Mapping[str, Any]) -> None:
    """The index as compact JSON (a year of a dataset: a few hundred kilobytes, parsed on the page's first request)."""
    with tempfile.TemporaryDirectory(prefix="lockgate-index-") as folder:
        path = Path(folder) / "index.json"
        path.write_text(json.dumps(index, separators=(",", ":"), default=str), encoding="utf-8")
        lake.put_file(path, key)


def entries(index: Mapping[str, Any]) -> dict[str, tuple[tuple[Any, ...], dict[str, Any]]]:
    """``ds -> (fingerprint, compact document)`` of a parsed index; empty for another version.

    A compact report carries its packed checks under :data:`PACKED_CHECKS` and whether a warn check
    failed under :data:`WARNED`; :func:`unpack_checks` gives the checks when they are looked at.
    """
    if index.get("version") != VERSION:
        return {}
    definitions = index.get("definitions") or []
    found = {}
    for ds, entry in (index.get("entries") or {}).items():
        if not isinstance(entry, dict) or "fingerprint" not in entry or "document" not in entry:
            continue
        document = entry["document"]
        if "c" in document:
            document[PACKED_CHECKS] = (definitions, document.pop("c"))
            document[WARNED] = document.pop("w", None)
        found[str(ds)] = (tuple(entry["fingerprint"]), document)
    return found


def write_all(
    lake: LakeHook, zone: str, group: str, documents: Mapping[str, tuple[Mapping[str, Any], LakeObject]]
) -> None:
    """Index many documents of one folder at once (``ds -> (document, its object)``), a write per year.

    What :func:`record` leaves after recording each of them, without rewriting the index per document.
    """
    by_year: dict[str, dict[str, tuple[Mapping[str, Any], LakeObject]]] = {}
    for ds, item in documents.items():
        by_year.setdefault(ds[:4], {})[ds] = item
    for year, found in by_year.items():
        key = index_key(zone, group, f"{year}-01-01")
        try:
            index = dict(lake.read_json(key))
        except (FileNotFoundError, ValueError):
            index = {}
        if index.get("version") != VERSION:
            index = _empty(zone, group, year)
        for ds, (document, written) in found.items():
            entry = compact(zone, document, index["definitions"])
            index["entries"][ds] = {"fingerprint": fingerprint(lake, written), "document": entry}
        _write(lake, key, index)


def rebuild(lake: LakeHook) -> int:
    """Index every report and summary of the lake (a lake written before the index existed); how many."""
    pattern = re.compile(r"^(quality|reports)/([^/]+)/ds=(\d{4}-\d{2}-\d{2})/(report|summary)\.json$")
    folders: dict[tuple[str, str], dict[str, tuple[Mapping[str, Any], LakeObject]]] = {}
    for zone in ("quality", "reports"):
        for obj in lake.list(zone):
            match = pattern.match(obj.key)
            if match and (match[1] == "quality") == (match[4] == "report"):
                try:
                    folders.setdefault((zone, match[2]), {})[match[3]] = (lake.read_json(obj.key), obj)
                except (FileNotFoundError, ValueError):
                    continue  # rewritten while we list: its writer indexes it
    for (zone, group), documents in folders.items():
        write_all(lake, zone, group, documents)
    return sum(len(d) for d in folders.values())


if __name__ == "__main__":  # python -m lockgate.health_index: index a lake written before the index
    from lockgate.hooks.lake import LakeHook

    print(f"indexed {rebuild(LakeHook())} documents")
