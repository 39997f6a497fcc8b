"""The bad-input corpus's harness: a case's file through ingest -> gate -> partition -> load, and the
assertions every case shares (accounting, where reasons point, nothing outside the lake root)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from lockgate.contracts import Contract
from lockgate.hooks.lake import LakeHook
from lockgate.hooks.warehouse import WarehouseHook
from lockgate.operators.ingest import IngestOperator
from lockgate.operators.load import WarehouseLoadOperator
from lockgate.operators.partition import PartitionOperator
from lockgate.operators.quality import QualityGateOperator
from lockgate.sql import ident

CONTRACT = Path(__file__).resolve().parent / "contracts" / "hostile_readings.yaml"
DATASET = "hostile_readings"
TABLE = "hostile_readings"
DS = "2026-01-02"
HEADER = ("station_id", "ts", "region", "pollutant", "value", "unit")
STEPS = ("ingest", "gate", "partition", "load")


@dataclass(frozen=True)
class Case:
    """One hostile source file and how its run must end."""

    file: str
    data: bytes
    rows_in: int
    quarantined: int = 0
    reason: str = ""  # in every quarantine reason
    column: str | None = None  # named by every quarantine row (None: the whole record is unreadable)
    duplicates: int = 0
    fails_at: str | None = None  # the step that fails
    message: tuple[str, ...] = ()  # in the failure's message (besides the file name)
    ingest: dict[str, Any] = field(default_factory=dict)
    check: Callable[[Outcome], None] | None = None  # assertions on the loaded data


# ------------------------------------------------------------------------------------- builders


def row(i: int, **values: str) -> list[str]:
    """A valid reading (station i, hour i % 24 of the logical date) with some fields replaced."""
    base = {
        "station_id": f"ST-{i:03d}",
        "ts": f"{DS}T{i % 24:02d}:00:00Z",
        "region": "north",
        "pollutant": "pm25",
        "value": f"{10 + i}.5",
        "unit": "ug/m3",
    }
    base.update(values)
    return [base[c] for c in HEADER]


def csv_text(*rows: list[str], header: tuple[str, ...] = HEADER) -> str:
    """Plain CSV (no quoting: the cases that need quotes write them themselves)."""
    return "\n".join(",".join(r) for r in [list(header), *rows]) + "\n"


def plain(*rows: list[str]) -> str:
    """CSV lines without a header."""
    return "".join(",".join(r) + "\n" for r in rows)


def records(*rows: list[str]) -> list[dict[str, Any]]:
    return [dict(zip(HEADER, r, strict=True)) for r in rows]


def ndjson(*objs: Any) -> bytes:
    return "".join(json.dumps(o) + "\n" for o in objs).encode()


def good(n: int, start: int = 1) -> list[list[str]]:
    return [row(i) for i in range(start, start + n)]


# ----------------------------------------------------------------------------------- harness


@dataclass
class Outcome:
    """What one run left behind."""

    failed_at: str | None
    error: str
    loaded: int
    quarantine: list[dict[str, Any]]
    duplicates: int
    rows: list[dict[str, Any]]

    def column(self, name: str) -> list[Any]:
        return [r[name] for r in self.rows]


def _context() -> dict[str, Any]:
    return {"ds": DS, "run_id": "manual__hostile", "dag": SimpleNamespace(dag_id="hostile"), "ti": None}


def run_case(
    c: Case,
    sources: Path,
    table: str = TABLE,
    contract: Contract | None = None,
    columns: tuple[str, ...] = HEADER,
) -> Outcome:
    """Run the four steps on one case's file; a failing step stops the run like in a DAG.

    ``contract`` replaces the file contract of the gate, partition and load (for contracts the
    schema would refuse); ``columns`` are the ones read back from the warehouse.
    """
    sources.mkdir(parents=True, exist_ok=True)
    path = sources / c.file
    path.write_bytes(c.data)
    common: dict[str, Any] = {"dataset": DATASET, "contract": str(CONTRACT)}
    ingest_args: dict[str, Any] = {"format": None, **c.ingest}
    steps: list[tuple[str, Any]] = [
        ("ingest", IngestOperator(task_id="ingest", source=str(path), **ingest_args, **common)),
        ("gate", QualityGateOperator(task_id="gate", preprocess={"drop_exact_duplicates": True}, **common)),
        ("partition", PartitionOperator(task_id="partition", **common)),
        ("load", WarehouseLoadOperator(task_id="load", table=table, mode="replace_partition", **common)),
    ]
    failed_at, error, results = None, "", {}
    for step, op in steps:
        if contract is not None and step != "ingest":
            op.contract = contract  # the cached property, set before anything reads it
        try:
            results[step] = op.execute(_context())
        except Exception as exc:  # the test asserts on which step failed and what it said
            failed_at, error = step, str(exc)
            break
    lake = LakeHook()
    quarantine: list[dict[str, Any]] = []
    qkey = f"quarantine/{DATASET}/ds={DS}/quarantine.parquet"
    if lake.exists(qkey):
        import pyarrow.parquet as pq

        quarantine = pq.read_table(lake.local_copy(qkey, sources)).to_pylist()
    duplicates = results["gate"]["duplicates_removed"] if "gate" in results else 0
    warehouse = WarehouseHook()
    loaded, rows = 0, []
    if warehouse.table_exists(table):
        names = list(columns)
        order = ", ".join(ident(n) for n in names)
        found = warehouse.query(
            f"SELECT {order} FROM {warehouse.table(table)} WHERE {ident('ds')} = $1 ORDER BY {order}",
            [date.fromisoformat(DS)],
        )
        rows = [dict(zip(names, r, strict=True)) for r in found]
        loaded = len(rows)
    return Outcome(failed_at, error, loaded, quarantine, duplicates, rows)


def assert_inside_lake(home: Path) -> None:
    """Every file under the test's folder is in the lake root, the sources, the warehouse file or the
    Iceberg catalog (the embedded SQLite ``catalog.db``: table metadata, not a lake object).

    ``home`` is ``$LOCKGATE_HOME`` (lake root ``home/lake``); its parent, the test's own temp folder,
    is walked too, so a key that climbed out of the lake would be found next to it.
    """
    root = (home / "lake").resolve()
    allowed = (root, (home.parent / "sources").resolve())
    for dirpath, _dirs, files in os.walk(home.parent):
        for name in files:
            real = Path(os.path.realpath(os.path.join(dirpath, name)))
            # catalog.db, or catalog-<hash>.db for a lake other than the embedded one (an S3 lake)
            if real.name.startswith(("warehouse.duckdb", "catalog")) and real.parent == home.resolve():
                continue
            assert any(base in real.parents for base in allowed), f"{real} is outside the lake root {root}"


def assert_case(c: Case, out: Outcome, home: Path) -> None:
    assert_inside_lake(home)
    if c.fails_at:
        assert c.fails_at in STEPS
        assert out.failed_at == c.fails_at, f"expected a failure at {c.fails_at}, got {out.failed_at}: {out.error}"
        assert c.file in out.error, out.error
        for part in c.message:
            assert part in out.error, out.error
        assert out.loaded == 0  # nothing of a failed run reaches the warehouse
        lake = LakeHook()
        assert not lake.exists(f"staged/{DATASET}/ds={DS}/part-0.parquet")
        assert not lake.list(f"curated/{DATASET}")
        report_key = f"quality/{DATASET}/ds={DS}/report.json"
        if lake.exists(report_key):
            # a gate that read everything and then failed a check still accounts for every row
            report = lake.read_json(report_key)
            assert report["rows_in"] == c.rows_in
            assert c.rows_in == report["rows_passed"] + len(out.quarantine) + report["duplicates_removed"]
        return
    assert out.failed_at is None, f"{out.failed_at} failed: {out.error}"
    # every row is accounted for
    assert c.rows_in == out.loaded + len(out.quarantine) + out.duplicates, (
        c.rows_in,
        out.loaded,
        len(out.quarantine),
        out.duplicates,
    )
    assert len(out.quarantine) == c.quarantined, out.quarantine
    assert out.duplicates == c.duplicates
    for q in out.quarantine:
        assert q["source_file"].endswith("/" + c.file), q
        assert q["source_row"] is not None, q
        assert q["source_row"] >= 1, q
        assert q["reason"].startswith(f"row {q['source_row']}: "), q
        assert c.reason in q["reason"], q
        assert q["column_name"] == c.column, q
        if c.column:
            assert f"column {c.column}" in q["reason"], q
        assert len(q["reason"]) < 2000, "a reason must stay readable whatever the input"
    if c.check:
        c.check(out)
