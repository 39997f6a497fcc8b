"""air_quality_daily ingests the readings with one mapped task per source file (``dag.test()``).

The same day's sources run twice, each into a lake and DuckDB warehouse of its own: once as
generated (one gateway NDJSON, one partner CSV), once with the gateway file split into three and the
partner file into two. The second run has three and two mapped ingest task instances in the
metadata database, one raw folder per file, and loads exactly the same warehouse rows.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from lockgate.cli import run_dag
from lockgate.contracts import load_contract
from lockgate.hooks.lake import LakeHook
from lockgate.hooks.warehouse import WarehouseHook
from lockgate.sample_data import generate
from tests.support.pipeline import TABLES, content_checksum_sql

pytestmark = pytest.mark.integration

DAG_ID = "air_quality_daily"
DS = "2026-01-02"
GATEWAY_PARTS, PARTNER_PARTS = 3, 2


def split(path: Path, parts: int, *, header: bool) -> list[Path]:
    """Replace ``path`` by ``parts`` files of consecutive lines (``<stem>_part-<i><suffix>``), each
    with the CSV header when ``header``; returns the new files."""
    lines = path.read_bytes().splitlines(keepends=True)
    head, body = (lines[:1], lines[1:]) if header else ([], lines)
    size = -(-len(body) // parts)
    out = []
    for i in range(parts):
        part = path.with_name(f"{path.stem}_part-{i + 1}{path.suffix}")
        part.write_bytes(b"".join(head + body[i * size : (i + 1) * size]))
        out.append(part)
    path.unlink()
    return out


def warehouse_checksums() -> dict[str, tuple[int, str]]:
    """Row count and content md5 of every table of the current ``$LOCKGATE_HOME``'s warehouse."""
    hook = WarehouseHook()
    out = {}
    for dataset, table in TABLES.items():
        columns = [c.name for c in load_contract(dataset).storage_columns]
        (row,) = hook.query(content_checksum_sql(hook.table(table), columns))
        out[table] = (int(row[0]), str(row[1]))
    return out


def task_instances(ds: str) -> tuple[str, dict[str, list[tuple[int, str | None, str]]]]:
    """The run of ``ds`` in the metadata DB: its id and, per task, (map index, rendered map index, state)."""
    import pendulum
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run_id = session.scalars(
            select(DagRun.run_id)
            .where(DagRun.dag_id == DAG_ID, DagRun.logical_date == pendulum.parse(ds))
            .order_by(DagRun.id.desc())
        ).first()
        assert run_id is not None
        rows = session.execute(
            select(
                TaskInstance.task_id, TaskInstance.map_index, TaskInstance._rendered_map_index, TaskInstance.state
            ).where(TaskInstance.dag_id == DAG_ID, TaskInstance.run_id == run_id)
        ).all()
    found: dict[str, list[tuple[int, str | None, str]]] = {}
    for task_id, map_index, rendered, state in sorted(rows, key=lambda r: (r[0], r[1])):
        found.setdefault(task_id, []).append((map_index, rendered, str(getattr(state, "value", state))))
    return run_id, found


def raw_manifests(run_id: str) -> dict[str, dict[str, Any]]:
    """The readings' ingestion manifests of ``run_id``, by folder below the run."""
    from lockgate.layout import raw_prefix

    lake, prefix = LakeHook(), raw_prefix("readings", DS, run_id)
    return {
        o.key.removeprefix(prefix + "/").removesuffix("/_manifest.json"): lake.read_json(o.key)
        for o in lake.list(prefix)
        if o.key.endswith("/_manifest.json")
    }


def test_a_day_in_several_files_is_one_mapped_ingest_per_file_with_the_same_result(
    airflow_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AIRFLOW_CONN_LOCKGATE_LAKE", "AIRFLOW_CONN_LOCKGATE_WAREHOUSE"):
        monkeypatch.delenv(name, raising=False)
    whole, parted = tmp_path / "sources-whole", tmp_path / "sources-parted"
    batch = generate(DS, whole)
    shutil.copytree(whole, parted)
    gateway_parts = split(parted / "gateway" / batch.gateway_path.name, GATEWAY_PARTS, header=False)
    partner_parts = split(parted / "partner" / batch.partner_path.name, PARTNER_PARTS, header=True)

    def run(sources: Path, home: Path) -> tuple[str, dict[str, list[tuple[int, str | None, str]]]]:
        monkeypatch.setenv("AIRFLOW_VAR_POLLUTRACK_SOURCE_URL", str(sources))
        home.mkdir()
        monkeypatch.setenv("LOCKGATE_HOME", str(home))
        assert run_dag(DAG_ID, DS) == "success"
        return task_instances(DS)

    # --- the day as generated: one file per source, one mapped instance each
    run_id, tis = run(whole, tmp_path / "home-whole")
    assert tis["ingest_gateway"] == [(0, f"gateway/readings_{DS}", "success")]
    assert tis["ingest_partner"] == [(0, f"partner/readings_{DS}", "success")]
    assert tis["ingest_stations"] == [(-1, None, "success")]  # one registry file: not mapped
    assert sorted(raw_manifests(run_id)) == [f"gateway/readings_{DS}", f"partner/readings_{DS}"]
    whole_tables = warehouse_checksums()
    whole_report = LakeHook().read_json(f"quality/readings/ds={DS}/report.json")

    # --- the same rows in 3 + 2 files: one mapped instance per file, each in its own raw folder
    run_id, tis = run(parted, tmp_path / "home-parted")
    gateway_names = [f"gateway/{p.name.split('.')[0]}" for p in gateway_parts]
    partner_names = [f"partner/{p.name.split('.')[0]}" for p in partner_parts]
    assert tis["ingest_gateway"] == [(i, name, "success") for i, name in enumerate(gateway_names)]
    assert tis["ingest_partner"] == [(i, name, "success") for i, name in enumerate(partner_names)]
    assert {t: len(v) for t, v in tis.items() if t.startswith(("list_", "wait_", "gate_"))} == {
        "list_gateway_files": 1,
        "list_partner_files": 1,
        "wait_gateway": 1,
        "wait_partner": 1,
        "wait_stations": 1,
        "gate_readings": 1,
        "gate_stations": 1,
        "gate_daily_aqi": 1,
    }
    manifests = raw_manifests(run_id)
    assert sorted(manifests) == sorted(gateway_names + partner_names)
    by_source = {name: [f["source"] for f in m["files"]] for name, m in manifests.items()}
    assert by_source == {
        **{n: [str(p)] for n, p in zip(gateway_names, gateway_parts, strict=True)},
        **{n: [str(p)] for n, p in zip(partner_names, partner_parts, strict=True)},
    }
    assert sum(m["rows"] for n, m in manifests.items() if n.startswith("gateway/")) == batch.gateway.rows
    assert sum(m["rows"] for n, m in manifests.items() if n.startswith("partner/")) == batch.partner.rows

    # the gate read every instance's files: the same accounting, the same warehouse rows
    report = LakeHook().read_json(f"quality/readings/ds={DS}/report.json")
    counts = ("rows_in", "rows_passed", "rows_quarantined", "duplicates_removed")
    assert {k: report[k] for k in counts} == {k: whole_report[k] for k in counts}
    assert report["rows_in"] == batch.gateway.rows + batch.partner.rows
    assert warehouse_checksums() == whole_tables
    assert whole_tables["fact_air_quality_hourly"][0] == report["rows_passed"] > 7000

    # the run summary shows each mapped task once, its instances' counts summed
    from lockgate.notifiers.summary import build_run_summary
    from tests.support.pipeline import air_quality_dag

    details = build_run_summary({"dag": air_quality_dag(), "run_id": run_id, "ds": DS, "reason": "success"}).details
    assert details["failed_tasks"] == []
    gateway = details["tasks"]["ingest_gateway"]
    assert (gateway["state"], gateway["mapped"], gateway["rows_in"]) == ("success", GATEWAY_PARTS, batch.gateway.rows)
    assert gateway["bytes"] == sum(p.stat().st_size for p in gateway_parts)
    assert details["tasks"]["ingest_partner"]["mapped"] == PARTNER_PARTS
    assert "ingest_gateway_0" not in details["tasks"]
