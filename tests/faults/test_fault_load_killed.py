"""Faults during a PostgreSQL load: the loader killed in the middle of its COPY, its connection
dropped inside the transaction. Either way the warehouse keeps the previous load whole, nothing is
left behind, and the retry gives exactly what a clean run gives in another fresh database.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psycopg
import pytest

from tests.faults.loadkit import (
    AUDIT_TABLE,
    DS,
    audit_rows,
    leftovers,
    load,
    publish,
    start_load_process,
    table_state,
    wait_for,
)
from tests.support.pg import airflow_conn_env, temporary_database

pytestmark = pytest.mark.integration

#: enough rows that the COPY runs for seconds on this machine
BIG = 1_500_000
RUN_1, RUN_2 = "scheduled__first", "manual__retry"


@pytest.fixture
def warehouse(pg_dsn: str, lockgate_home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(*airflow_conn_env("lockgate_warehouse", pg_dsn))
    return pg_dsn


def clean_run(pg_server: str, monkeypatch: pytest.MonkeyPatch, run_id: str) -> tuple[tuple[int, str], list]:
    """The same load of the lake's current curated partition into a fresh database, once."""
    with temporary_database(pg_server) as dsn, monkeypatch.context() as mp:
        mp.setenv(*airflow_conn_env("lockgate_warehouse", dsn))
        load(DS, run_id)
        return table_state(dsn), audit_rows(dsn)


def test_sigkill_in_the_middle_of_the_copy_then_retry(
    warehouse: str, pg_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(DS, 2000, version=1, workdir=tmp_path)
    load(DS, RUN_1)
    first_state, first_audit = table_state(warehouse), audit_rows(warehouse)
    assert first_state[0] == 2000

    publish(DS, BIG, version=2, workdir=tmp_path)  # corrected data for the same date, much bigger
    log = tmp_path / "killed-load.log"
    loader = start_load_process(DS, RUN_2, log)
    try:
        pid, copied = wait_for(
            "SELECT pid, tuples_processed FROM pg_stat_progress_copy "
            "WHERE datname = current_database() AND tuples_processed > 0",
            warehouse,
            "the loader's COPY to make progress",
        )
        os.kill(loader.pid, signal.SIGKILL)
        assert loader.wait(30) == -signal.SIGKILL
    finally:
        if loader.poll() is None:
            loader.kill()
            loader.wait()
    assert 0 < copied < BIG, log.read_text(errors="replace")[-2000:]  # killed mid-COPY, not before or after
    # the server notices the dead client and rolls its transaction back
    wait_for(
        "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = %s)",
        warehouse,
        "the killed loader's backend to end",
        params=[pid],
    )
    assert table_state(warehouse) == first_state  # the previous load, whole: nothing half-loaded
    assert audit_rows(warehouse) == first_audit
    assert leftovers(warehouse) == []

    assert load(DS, RUN_2)["rows_loaded"] == BIG  # the retry
    assert (table_state(warehouse), audit_rows(warehouse)) == clean_run(pg_server, monkeypatch, RUN_2)
    assert table_state(warehouse)[0] == BIG
    assert leftovers(warehouse) == []


def test_connection_dropped_inside_the_transaction_then_retry(
    warehouse: str, pg_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(DS, 2000, version=1, workdir=tmp_path)
    load(DS, RUN_1)
    first_state, first_audit = table_state(warehouse), audit_rows(warehouse)

    publish(DS, 50_000, version=2, workdir=tmp_path)
    log = tmp_path / "dropped-load.log"
    # The test holds the date's audit row: the loader COPYs and reconciles its rows, then waits on
    # that row lock to replace the audit row - inside its transaction, after the COPY, before commit.
    with psycopg.connect(warehouse) as holder:
        holder.execute(f'SELECT * FROM "public"."{AUDIT_TABLE}" WHERE partition_ds = %s FOR UPDATE', [DS])
        loader = start_load_process(DS, RUN_2, log)
        try:
            (pid,) = wait_for(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE %s",
                warehouse,
                "the loader to wait on the audit row",
                params=[f"DELETE FROM %{AUDIT_TABLE}%"],
            )
            with psycopg.connect(warehouse, autocommit=True) as admin:
                assert admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone() == (True,)
            assert loader.wait(60) != 0
        finally:
            if loader.poll() is None:
                loader.kill()
                loader.wait()
        holder.rollback()
    output = log.read_text(errors="replace")
    assert "terminat" in output.lower(), output[-2000:]  # the task failed on the dropped connection
    assert table_state(warehouse) == first_state  # nothing half-loaded
    assert audit_rows(warehouse) == first_audit
    assert leftovers(warehouse) == []

    assert load(DS, RUN_2)["rows_loaded"] == 50_000  # the retry loads exactly once
    assert (table_state(warehouse), audit_rows(warehouse)) == clean_run(pg_server, monkeypatch, RUN_2)
