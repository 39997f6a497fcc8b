"""Partner drops (moto S3 with SSE, and a folder) and upserts back to a PostgreSQL source table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from airflow.sdk.exceptions import AirflowFailException

from lockgate.hooks.partner import PartnerDropHook
from lockgate.hooks.warehouse import WarehouseHook
from lockgate.operators.deliver import DeliverOperator
from tests.deliver import kit
from tests.support.pg import airflow_conn_env

pytestmark = pytest.mark.integration

FOLDER = f"ledger/ds={kit.DS}"
NAME = f"alerts_{kit.DS}.parquet"


def drop(**kwargs: object) -> dict[str, object]:
    return {"kind": "partner_drop", "conn_id": "partner_zone", "options": {"prefix": "ledger", **kwargs}}


def objects(s3: object, bucket: str) -> dict[str, dict[str, object]]:
    """Every object of the bucket with its server-side encryption."""
    found = s3.list_objects_v2(Bucket=bucket).get("Contents", [])  # type: ignore[attr-defined]
    return {o["Key"]: s3.head_object(Bucket=bucket, Key=o["Key"]) for o in found}  # type: ignore[attr-defined]


def test_a_drop_on_s3_is_encrypted_and_whole_or_absent(
    published: str, s3_bucket: str, aws_conn_id: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    monkeypatch.setenv(
        "AIRFLOW_CONN_PARTNER_ZONE",
        json.dumps({"conn_type": "generic", "extra": {"url": f"s3://{s3_bucket}/in", "aws_conn_id": aws_conn_id}}),
    )
    s3 = PartnerDropHook("partner_zone").s3_hook.get_conn()

    # the move to the final name fails: the partner sees no file and no _SUCCESS, only a temporary name
    def broken(self: PartnerDropHook, source: str, target: str) -> None:
        raise OSError("connection reset during the copy")

    with monkeypatch.context() as patched:
        patched.setattr(PartnerDropHook, "_move_s3", broken)
        with pytest.raises(OSError, match="connection reset"):
            kit.deliver(kit.DS, "run-1", contract=published, **drop())
    assert sorted(objects(s3, s3_bucket)) == [f"in/{FOLDER}/_tmp-{NAME}"]
    assert kit.audit(WarehouseHook()) == []  # nothing acknowledged

    result = kit.deliver(kit.DS, "run-2", contract=published, **drop())
    found = objects(s3, s3_bucket)
    assert sorted(found) == sorted([f"in/{FOLDER}/{NAME}", f"in/{FOLDER}/_SUCCESS"])
    assert {k: o["ServerSideEncryption"] for k, o in found.items()} == dict.fromkeys(found, "AES256")
    local = tmp_path / NAME
    s3.download_file(s3_bucket, f"in/{FOLDER}/{NAME}", str(local))
    table = pq.read_table(local)
    assert table.column("station_id").to_pylist() == sorted(r["station_id"] for r in kit.rows(12))
    marker = json.loads(s3.get_object(Bucket=s3_bucket, Key=f"in/{FOLDER}/_SUCCESS")["Body"].read())
    (ack,) = kit.audit(WarehouseHook())
    assert (marker["rows"], marker["idempotency_key"], marker["content_hash"]) == (
        12,
        ack["idempotency_key"],
        ack["content_hash"],
    )
    assert result["location"] == f"s3://{s3_bucket}/in/{FOLDER}"
    # lineage: the naming spec's s3 form, namespace s3://bucket and the key prefix as the name
    assert kit.operator(contract=published, **drop()).lineage_output(kit.DS) == (f"s3://{s3_bucket}", f"in/{FOLDER}")

    # a changed date dropped again fails half-way: the stale file stays, but without _SUCCESS
    kit.publish_and_load(published, kit.DS, kit.rows(12, version=1), tmp_path / "v1")
    with monkeypatch.context() as patched:
        patched.setattr(PartnerDropHook, "_move_s3", broken)
        with pytest.raises(OSError, match="connection reset"):
            kit.deliver(kit.DS, "run-3", contract=published, **drop())
    assert f"in/{FOLDER}/_SUCCESS" not in objects(s3, s3_bucket)
    kit.deliver(kit.DS, "run-4", contract=published, **drop())
    assert sorted(objects(s3, s3_bucket)) == sorted([f"in/{FOLDER}/{NAME}", f"in/{FOLDER}/_SUCCESS"])
    s3.download_file(s3_bucket, f"in/{FOLDER}/{NAME}", str(local))
    assert pq.read_table(local).column("aqi").to_pylist() == [
        r["aqi"] + 1 for r in sorted(kit.rows(12), key=lambda r: r["station_id"])
    ]


def test_a_csv_drop_into_a_folder_and_an_unchanged_rerun(published: str, lockgate_home: Path) -> None:
    where = {"aqi": {"ge": 151}}
    kit.deliver(kit.DS, "run-1", contract=published, where=where, columns=["station_id", "aqi"], **drop(format="csv"))
    folder = lockgate_home / "partner_drops" / "partner_zone" / FOLDER
    assert sorted(p.name for p in folder.iterdir()) == ["_SUCCESS", f"alerts_{kit.DS}.csv"]
    lines = (folder / f"alerts_{kit.DS}.csv").read_text().splitlines()
    expected = sorted((r["station_id"], r["aqi"]) for r in kit.rows(12) if r["aqi"] >= 151)
    assert lines == ["station_id,aqi", *(f"{s},{a}" for s, a in expected)]
    before = (folder / "_SUCCESS").stat().st_mtime_ns
    again = kit.deliver(
        kit.DS, "run-2", contract=published, where=where, columns=["station_id", "aqi"], **drop(format="csv")
    )
    assert again["rows_sent"] == 0
    assert (folder / "_SUCCESS").stat().st_mtime_ns == before  # nothing rewritten


def source_state(dsn: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT station_id, aqi, category, note FROM pos.stations ORDER BY station_id").fetchall()


def test_the_upsert_back_to_a_postgres_source_table_is_idempotent_across_three_reruns(
    published: str, pg_dsn: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA pos")
        conn.execute(
            "CREATE TABLE pos.stations (station_id text PRIMARY KEY, aqi bigint, category text, note text, ds date)"
        )
        # the source knows one of the stations already (stale values) and one the pipeline never saw
        conn.execute(
            "INSERT INTO pos.stations VALUES ('ST-0001', 1, 'stale', 'kept', NULL), ('ZZ-9', 7, 'x', 'other', NULL)"
        )
    monkeypatch.setenv(*airflow_conn_env("pos_source", pg_dsn))
    options = {"kind": "table", "conn_id": "pos_source", "options": {"table": "pos.stations"}}
    columns = ["station_id", "aqi", "category", "ds"]

    states, reasons = [], []
    for run in ("run-1", "run-2", "run-3"):
        result = kit.deliver(kit.DS, run, contract=published, columns=columns, **options)
        states.append(source_state(pg_dsn))
        reasons.append(result["reason"])
        if run == "run-2":
            # the audit row is lost (a kill between the upsert's commit and its acknowledgement):
            # the third run upserts the same rows again
            warehouse = WarehouseHook()
            with warehouse.transaction() as session:
                session.execute(f"DELETE FROM {warehouse.table('lockgate_delivery_audit')}")
    expected = sorted(
        [
            (r["station_id"], r["aqi"], r["category"], "kept" if r["station_id"] == "ST-0001" else None)
            for r in kit.rows(12)
        ]
        + [("ZZ-9", 7, "x", "other")]
    )
    assert states == [expected, expected, expected]
    assert [r.split(":")[0] for r in reasons] == ["first delivery", "unchanged since run-1", "first delivery"]

    # a corrected date updates the same rows in place, in one transaction
    kit.publish_and_load(published, kit.DS, kit.rows(12, version=1), tmp_path / "v1")
    kit.deliver(kit.DS, "run-4", contract=published, columns=columns, **options)
    after = source_state(pg_dsn)
    assert len(after) == 13
    assert [row[1] for row in after if row[0] != "ZZ-9"] == [row[1] + 1 for row in expected if row[0] != "ZZ-9"]
    # lineage names the table by the naming spec: postgres://host:port, database.schema.table
    namespace, name = kit.operator(contract=published, columns=columns, **options).lineage_output(kit.DS)
    info = psycopg.conninfo.conninfo_to_dict(pg_dsn)
    assert (namespace, name) == (f"postgres://{info['host']}:{info['port']}", f"{info['dbname']}.pos.stations")


class ChangingUnderneath(DeliverOperator):
    """An upsert whose rows change after they were hashed (station ST-0006's AQI one higher)."""

    def _digest(self, con: Any, selection: Any, ds: str, pipeline: str) -> Any:
        planned = super()._digest(con, selection, ds, pipeline)
        con.execute(
            "CREATE TEMP TABLE changed AS SELECT * REPLACE "
            "(CASE WHEN station_id = 'ST-0006' THEN aqi + 1 ELSE aqi END AS aqi) FROM rows_of_date"
        )
        con.execute("CREATE OR REPLACE TEMP VIEW rows_of_date AS SELECT * FROM changed")
        return planned


def test_an_upsert_whose_rows_changed_after_the_hash_rolls_back_and_fails(published: str, lockgate_home: Path) -> None:
    import duckdb

    options = {"kind": "table", "conn_id": "origin_db", "options": {"table": "stations"}}
    task = ChangingUnderneath(task_id="deliver_alerts", dataset="alerts", contract=published, **options)
    with pytest.raises(AirflowFailException, match=r"alerts ds=2026-01-02: the selection \(12 rows\) changed"):
        task.execute(kit.context(kit.DS, "run-1"))  # type: ignore[arg-type]
    # the one transaction rolled back: the table it would have created holds nothing, nothing is acknowledged
    with duckdb.connect(str(lockgate_home / "origin" / "origin_db.duckdb")) as con:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
    assert tables == []
    assert kit.audit(WarehouseHook()) == []
    # the same delivery, nothing changing underneath: all 12 rows, once
    kit.deliver(kit.DS, "run-2", contract=published, **options)
    with duckdb.connect(str(lockgate_home / "origin" / "origin_db.duckdb")) as con:
        assert con.execute("SELECT count(*), count(DISTINCT station_id) FROM stations").fetchone() == (12, 12)
