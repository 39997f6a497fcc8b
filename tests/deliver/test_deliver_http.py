"""HTTP deliveries against a real local receiver: batches, Retry-After, backoff, exactly once.

The date goes through the real partition and load steps first (tests.deliver.kit); the receiver
is a real HTTP server answering as scripted; the audit is read back from the warehouse.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from lockgate.hooks.warehouse import WarehouseHook
from lockgate.operators.deliver import DeliverOperator
from lockgate.pii import hmac_hex, mask
from tests.deliver import kit
from tests.deliver.receiver import Answer, DeliveryReceiver
from tests.support.pg import airflow_conn_env

pytestmark = pytest.mark.integration

UNHEALTHY = {"category": {"in": ["Unhealthy", "Very Unhealthy", "Hazardous"]}}


def http(**options: object) -> dict[str, object]:
    return {"kind": "http", "conn_id": "notify_api", "options": {"endpoint": "v1/alerts", **options}}


def stations(rows: list[dict[str, object]]) -> list[str]:
    return [str(r["station_id"]) for r in rows]


def test_429_with_retry_after_and_a_500_midway_then_every_row_once(
    published: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = [Answer(200), Answer(429, retry_after=1), Answer(200), Answer(500), Answer(200)]
    with DeliveryReceiver(script) as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_NOTIFY_API", receiver.connection())
        result = kit.deliver(kit.DS, "run-1", contract=published, **http(batch_size=4, backoff_seconds=0.1))
    expected = kit.rows(12)
    # every row arrived once, in key order, with the columns of the contract (personal data protected)
    assert stations(receiver.rows()) == sorted(stations(expected))
    assert result["rows_sent"] == 12
    assert result["batches_sent"] == 3
    # the batch answered 429 waited what Retry-After said; the 500 was retried at once
    statuses = [r.status for r in receiver.received]
    assert statuses == [200, 429, 200, 500, 200]
    assert receiver.received[2].at - receiver.received[1].at >= 0.95
    # each idempotency key was accepted exactly once; a retried batch kept its key
    keys = receiver.accepted_keys()
    assert len(keys) == 3
    assert set(keys.values()) == {1}
    assert receiver.received[1].key == receiver.received[2].key
    assert receiver.received[3].key == receiver.received[4].key
    audit = kit.audit(WarehouseHook())
    assert [(a["batch_no"], a["status"], a["rows_sent"], a["http_status"], a["retried"]) for a in audit] == [
        (1, "acknowledged", 4, 200, None),
        (2, "acknowledged", 4, 200, "429"),
        (3, "acknowledged", 4, 200, "500"),
    ]
    assert [a["idempotency_key"] for a in audit] == [r.key for r in receiver.accepted]
    bodies = [r.body for r in receiver.accepted]
    assert {b["version"] for b in bodies} == {audit[0]["version"]}
    assert [(b["batch"], b["batches"], b["ds"]) for b in bodies] == [(1, 3, kit.DS), (2, 3, kit.DS), (3, 3, kit.DS)]


def test_an_unchanged_rerun_sends_nothing_and_a_changed_one_resends_with_new_keys(
    published: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with DeliveryReceiver() as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_NOTIFY_API", receiver.connection())
        options = http(batch_size=5)
        kit.deliver(kit.DS, "run-1", contract=published, **options)
        first = list(receiver.accepted_keys())
        again = kit.deliver(kit.DS, "run-2", contract=published, **options)
        assert len(receiver.received) == 3  # the rerun sent nothing
        assert (again["rows_sent"], again["reason"]) == (0, "unchanged since run-1: nothing sent")

        # the date is corrected (every AQI + 1) and loaded again: the whole date goes again, new keys
        kit.publish_and_load(published, kit.DS, kit.rows(12, version=1), tmp_path / "v1")
        changed = kit.deliver(kit.DS, "run-3", contract=published, **options)
        assert changed["rows_sent"] == 12
        second = [r.key for r in receiver.received[3:]]
        assert len(second) == 3
        assert not set(second) & set(first)
        assert [r["aqi"] for r in receiver.rows()[12:]] == [r["aqi"] + 1 for r in receiver.rows()[:12]]
        assert len(receiver.received) == 6
        kit.deliver(kit.DS, "run-4", contract=published, **options)
        assert len(receiver.received) == 6  # unchanged again
    audit = kit.audit(WarehouseHook())
    assert [(a["batch_no"], a["status"], a["run_id"]) for a in audit] == [
        (1, "superseded", "run-1"),
        (2, "superseded", "run-1"),
        (3, "superseded", "run-1"),
        (1, "acknowledged", "run-3"),
        (2, "acknowledged", "run-3"),
        (3, "acknowledged", "run-3"),
    ]
    reason = audit[-1]["reason"]
    assert reason.startswith("content changed since the last delivery")
    assert "rows 12 -> 12" in reason
    assert "3 of 3 batch(es) differ" in reason


def test_a_rejected_batch_is_recorded_and_fails_naming_it_without_leaking_secrets(
    published: str, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    token, password = "Bearer tok-9f8e7d6c5b4a", "pw-0a1b2c3d4e"
    rejected = Answer(422, body={"error": "unknown station", "rejected": [1]}, echo_headers=True)
    with DeliveryReceiver([Answer(200), rejected]) as receiver:
        monkeypatch.setenv(
            "AIRFLOW_CONN_NOTIFY_API", receiver.connection(password=password, headers={"X-Api-Key": token})
        )
        with pytest.raises(AirflowFailException) as failure:
            kit.deliver(kit.DS, "run-1", contract=published, **http(batch_size=5))
        sent = receiver.received[1].headers  # the secrets did go to the receiver, as they must
        basic = sent["Authorization"].removeprefix("Basic ")
        assert (sent["X-Api-Key"], base64.b64decode(basic).decode()) == (token, f"lockgate:{password}")
        assert len(receiver.received) == 2  # nothing after the rejected batch
    message = str(failure.value)
    assert "batch 2 of 3 (rows 6-10" in message
    assert "HTTP 422" in message
    assert "unknown station" in message
    assert "rejected row(s) of the batch:" in message
    assert "row 7: station_id='ST-0006'" in message
    audit = kit.audit(WarehouseHook())
    assert [(a["batch_no"], a["status"], a["http_status"]) for a in audit] == [
        (1, "acknowledged", 200),
        (2, "rejected", 422),
    ]
    assert "unknown station" in audit[1]["response"]
    logs = capfd.readouterr()
    assert "batch 1 of 3 (5 rows, key" in logs.out
    for text in (message, audit[1]["response"], logs.out + logs.err):
        assert "tok-9f8e7d6c5b4a" not in text
        assert password not in text
        assert basic not in text
    assert "***" in message
    assert "***" in audit[1]["response"]
    assert "ST-000" not in logs.out + logs.err  # payloads are never logged
    # a retry (the receiver fixed) resends from the rejected batch, not batch 1
    with DeliveryReceiver() as receiver:
        monkeypatch.setenv(
            "AIRFLOW_CONN_NOTIFY_API", receiver.connection(password=password, headers={"X-Api-Key": token})
        )
        result = kit.deliver(kit.DS, "run-2", contract=published, **http(batch_size=5))
        assert [r.body["batch"] for r in receiver.received] == [2, 3]
    assert result["reason"] == "resumed after batch 1 of 3: 2 batch(es) left"


def test_a_receiver_still_failing_after_the_retries_fails_the_task_for_a_later_retry(
    published: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with DeliveryReceiver([Answer(200)], default=Answer(503)) as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_NOTIFY_API", receiver.connection())
        with pytest.raises(AirflowException) as failure:
            kit.deliver(kit.DS, "run-1", contract=published, **http(batch_size=5, max_retries=2, backoff_seconds=0.01))
    assert not isinstance(failure.value, AirflowFailException)  # retryable: Airflow's own retry may cure it
    assert "batch 2 of 3 still answered HTTP 503 after 2 retries" in str(failure.value)
    assert [r.status for r in receiver.received] == [200, 503, 503, 503]
    # only what was acknowledged is on record: the task's retry starts at batch 2
    assert [(a["batch_no"], a["status"]) for a in kit.audit(WarehouseHook())] == [(1, "acknowledged")]


def test_where_columns_and_personal_data(published: str, monkeypatch: pytest.MonkeyPatch) -> None:
    columns = ["station_id", "aqi", "category", "contact_email", "contact_phone"]
    with DeliveryReceiver() as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_NOTIFY_API", receiver.connection())
        kit.deliver(kit.DS, "run-1", contract=published, where=UNHEALTHY, columns=columns, **http())
        protected = receiver.rows()
        kit.deliver(
            kit.DS,
            "run-1",
            contract=published,
            where=UNHEALTHY,
            columns=columns,
            pii="clear",
            target_name="clear_target",
            **http(),
        )
        clear = receiver.rows()[len(protected) :]
    expected = [r for r in kit.rows(12) if r["category"] in ("Unhealthy", "Very Unhealthy")]
    assert stations(protected) == stations(expected)
    assert len(expected) == 6
    assert all(set(r) == set(columns) for r in protected)
    # protected: the contract's hash and mask, never the clear value
    assert [r["contact_email"] for r in protected] == [
        hmac_hex(kit.PII_KEY.encode(), r["contact_email"]) for r in expected
    ]
    assert [r["contact_phone"] for r in protected] == [mask(r["contact_phone"]) for r in expected]
    # declared to receive it: in clear
    assert [(r["contact_email"], r["contact_phone"]) for r in clear] == [
        (r["contact_email"], r["contact_phone"]) for r in expected
    ]


def test_only_a_loaded_date_goes_out(contract: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with DeliveryReceiver() as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_NOTIFY_API", receiver.connection())
        with pytest.raises(AirflowFailException, match="has no curated version"):
            kit.deliver(kit.DS, "run-1", contract=contract, **http())
        # published (the gate passed) but not loaded
        kit.publish(contract, kit.DS, kit.rows(6), tmp_path / "p")
        with pytest.raises(AirflowFailException, match="was not loaded"):
            kit.deliver(kit.DS, "run-2", contract=contract, **http())
        # loaded, then published again without a load (a rerun that failed at its load): the new
        # version is not what the warehouse holds, so it stays home
        kit.publish_and_load(contract, kit.DS, kit.rows(6), tmp_path / "p")
        kit.publish(contract, kit.DS, kit.rows(6, version=1), tmp_path / "p1")
        with pytest.raises(AirflowFailException, match="is not the one loaded into fact_alerts"):
            kit.deliver(kit.DS, "run-3", contract=contract, **http())
        assert receiver.received == []


def test_lineage_names_the_endpoint(published: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with DeliveryReceiver() as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_NOTIFY_API", receiver.connection())
        task = kit.operator(contract=published, where=UNHEALTHY, columns=["station_id", "aqi"], **http())
        task.execute(kit.context(kit.DS, "run-1"))  # type: ignore[arg-type]
    (output,) = task.lineage.outputs
    assert (output.namespace, output.name) == (f"http://127.0.0.1:{receiver.port}", "/v1/alerts")
    assert [c.name for c in output.columns] == ["station_id", "aqi"]
    assert output.row_count == 6
    assert task.lineage.inputs[0].name.endswith("curated/alerts")


def test_sigkill_mid_delivery_then_the_retry_resumes_and_no_batch_arrives_twice(
    published: str, pg_dsn: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(*airflow_conn_env("lockgate_warehouse", pg_dsn))
    # the load audit lives in the warehouse: load the date into PostgreSQL too
    kit.publish_and_load(published, kit.DS, kit.rows(12), tmp_path / "pg")
    warehouse = WarehouseHook()
    options = http(batch_size=3, rate_limit=1)  # 4 batches, one a second
    with DeliveryReceiver() as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_NOTIFY_API", receiver.connection())
        process = kit.start_delivery(kit.DS, "run-1", contract=published, **options)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if warehouse.table_exists("lockgate_delivery_audit") and len(kit.audit(warehouse)) >= 2:
                    break
                assert process.is_alive(), f"the delivery ended before it was killed (exit {process.exitcode})"
                time.sleep(0.02)
            assert process.pid is not None
            os.kill(process.pid, signal.SIGKILL)  # waiting for its next slot: between batches 2 and 3
            process.join(30)
            assert process.exitcode == -signal.SIGKILL
        finally:
            if process.is_alive():
                process.kill()
        killed_at = len(receiver.received)
        acked = kit.audit(warehouse)
        assert len(acked) == killed_at == 2

        result = kit.deliver(kit.DS, "run-2", contract=published, **options)
        assert result["reason"] == "resumed after batch 2 of 4: 2 batch(es) left"
        assert [r.body["batch"] for r in receiver.received] == [1, 2, 3, 4]
        # no batch twice: four keys, each received and accepted once; every row once
        assert set(receiver.accepted_keys().values()) == {1}
        assert len(receiver.accepted_keys()) == 4
        assert stations(receiver.rows()) == sorted(stations(kit.rows(12)))
    audit = kit.audit(warehouse)
    assert [(a["batch_no"], a["run_id"], a["status"]) for a in audit] == [
        (1, "run-1", "acknowledged"),
        (2, "run-1", "acknowledged"),
        (3, "run-2", "acknowledged"),
        (4, "run-2", "acknowledged"),
    ]
    assert json.dumps(receiver.rows()).count("keeper") == 0  # personal data never in clear


class ChangingUnderneath(DeliverOperator):
    """A delivery whose rows change between its two passes (as if the date's files were rewritten
    while it ran): station ST-0006's AQI, in batch 2 of 3, is one higher when the batches are sent."""

    def _digest(self, con: Any, selection: Any, ds: str, pipeline: str) -> Any:
        planned = super()._digest(con, selection, ds, pipeline)
        con.execute(
            "CREATE TEMP TABLE changed AS SELECT * REPLACE "
            "(CASE WHEN station_id = 'ST-0006' THEN aqi + 1 ELSE aqi END AS aqi) FROM rows_of_date"
        )
        con.execute("CREATE OR REPLACE TEMP VIEW rows_of_date AS SELECT * FROM changed")
        return planned


def test_rows_changed_between_the_hash_and_the_send_fail_loudly_and_send_nothing_more(
    published: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with DeliveryReceiver() as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_NOTIFY_API", receiver.connection())
        task = ChangingUnderneath(task_id="deliver_alerts", dataset="alerts", contract=published, **http(batch_size=5))
        with pytest.raises(AirflowFailException, match=r"alerts ds=2026-01-02: batch 2 changed while it was being"):
            task.execute(kit.context(kit.DS, "run-1"))  # type: ignore[arg-type]
    # batch 1 was what had been hashed: it went out and is acknowledged; nothing after it was sent
    assert [r.body["batch"] for r in receiver.received] == [1]
    assert [(a["batch_no"], a["status"]) for a in kit.audit(WarehouseHook())] == [(1, "acknowledged")]
