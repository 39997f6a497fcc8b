"""Two loads of the same table for different dates never block each other, even while one of them
sits inside its transaction after truncating and COPYing its date's partition (PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.faults.loadkit import AUDIT_TABLE, DS, leftovers, load, publish, start_load_process, wait_for
from tests.support.pg import airflow_conn_env

pytestmark = pytest.mark.integration

OTHER_DS = "2026-01-03"


def test_another_date_loads_while_one_load_is_inside_its_transaction(
    pg_dsn: str, lockgate_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(*airflow_conn_env("lockgate_warehouse", pg_dsn))
    publish(DS, 2000, version=1, workdir=tmp_path)
    load(DS, "first")
    publish(DS, 30_000, version=2, workdir=tmp_path)
    publish(OTHER_DS, 3000, version=1, workdir=tmp_path)  # a date the table has no partition for yet

    with psycopg.connect(pg_dsn) as holder:
        # the first date's load stops on its audit row after TRUNCATE + COPY, transaction open
        holder.execute(f'SELECT * FROM "public"."{AUDIT_TABLE}" WHERE partition_ds = %s FOR UPDATE', [DS])
        first = start_load_process(DS, "rerun", tmp_path / "first.log")
        other = start_load_process(OTHER_DS, "other", tmp_path / "other.log")
        try:
            wait_for(
                "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE %s",
                pg_dsn,
                "the first load to wait on its audit row",
                params=[f"DELETE FROM %{AUDIT_TABLE}%"],
            )
            # the other date creates and attaches its partition, COPYs, reconciles and commits
            assert other.wait(300) == 0, (tmp_path / "other.log").read_text(errors="replace")[-2000:]
            assert first.poll() is None  # still inside its transaction
        finally:
            holder.rollback()
            if other.poll() is None:  # blocked after all: end it (the assertion above has failed)
                other.kill()
        assert first.wait(300) == 0, (tmp_path / "first.log").read_text(errors="replace")[-2000:]

    with psycopg.connect(pg_dsn) as conn:
        counts = conn.execute("SELECT ds::text, count(*) FROM fact_readings GROUP BY ds ORDER BY ds").fetchall()
        audit = conn.execute(
            f'SELECT partition_ds::text, run_id, rows_loaded FROM "public"."{AUDIT_TABLE}" ORDER BY 1'
        ).fetchall()
    assert counts == [(DS, 30_000), (OTHER_DS, 3000)]
    assert audit == [(DS, "rerun", 30_000), (OTHER_DS, "other", 3000)]
    assert leftovers(pg_dsn) == []
