"""Memory stays bounded: a large date is delivered a batch (or a DuckDB chunk) at a time.

The delivery runs in a forked child whose peak resident memory (``VmHWM``, reset through
``/proc/self/clear_refs`` at the start) is compared with its resident memory before it began: the
growth must stay far below what the date's rows take as Python objects. Every row must still
arrive, once: counted, summed and keyed by the receiver (HTTP) or read back from the file (drop).
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.deliver import kit
from tests.deliver.receiver import TallyingReceiver

pytestmark = pytest.mark.integration

ROWS = 200_000
#: peak growth allowed to a delivery of ROWS rows. Holding the date in Python (the operator before
#: it streamed) grew by ~350 MB (HTTP) and ~395 MB (drop); streaming, DuckDB's sort (64 MB, spilling
#: beyond) and one batch of 5,000 rows grow it by ~140 MB (the sort alone: 82 MB at 300,000 rows,
#: 85 MB at 1,000,000).
BOUND_MB = 220


def _resident_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)


def _measured_child(send: Any, run: Callable[[], dict[str, Any]]) -> None:
    with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
        refs.write("5")  # the peak (VmHWM) starts again from what the forked child holds now
    before = _resident_kb("VmRSS")
    try:
        result = run()
    except BaseException as exc:  # the parent fails the test with it
        send.send(("failed", repr(exc), 0))
        return
    send.send(("ok", result, (_resident_kb("VmHWM") - before) / 1024))


def deliver_measured(ds: str, run_id: str, **kwargs: Any) -> tuple[dict[str, Any], float]:
    """The delivery's result and its peak memory growth in MB, run in a forked child."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_measured_child, args=(send, lambda: kit.deliver(ds, run_id, **kwargs)))
    process.start()
    try:
        assert receive.poll(300), "the delivery did not finish in 5 minutes"
        status, result, growth = receive.recv()
    finally:
        process.join(30)
    assert status == "ok", result
    return result, growth


def test_a_large_date_goes_out_in_bounded_memory_over_http_and_as_a_drop(
    contract: str, lockgate_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    expected = kit.publish_generated(contract, kit.DS, ROWS, tmp_path / "publish")

    with TallyingReceiver() as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_NOTIFY_API", receiver.connection())
        http = {"kind": "http", "conn_id": "notify_api", "options": {"endpoint": "v1/alerts", "batch_size": 5000}}
        result, growth = deliver_measured(kit.DS, "run-http", contract=contract, target_name="notify", **http)
    print(f"http delivery of {ROWS} rows: peak memory growth {growth:.0f} MB")
    assert (result["rows_sent"], result["batches_sent"]) == (ROWS, ROWS // 5000)
    # every row arrived once, each batch under its own key once
    assert (receiver.rows, receiver.aqi_sum, len(receiver.stations)) == (ROWS, expected["aqi_sum"], ROWS)
    assert receiver.duplicate_stations == 0
    assert (receiver.batches, len(receiver.keys), set(receiver.keys.values())) == (ROWS // 5000, ROWS // 5000, {1})
    assert growth < BOUND_MB

    drop = {"kind": "partner_drop", "conn_id": "partner_zone", "options": {"prefix": "ledger"}}
    result, growth = deliver_measured(kit.DS, "run-drop", contract=contract, target_name="drop", **drop)
    print(f"parquet drop of {ROWS} rows: peak memory growth {growth:.0f} MB")
    folder = lockgate_home / "partner_drops" / "partner_zone" / "ledger" / f"ds={kit.DS}"
    marker = json.loads((folder / "_SUCCESS").read_text())
    file = folder / f"alerts_{kit.DS}.parquet"
    with duckdb.connect() as con:
        found = con.execute(f"SELECT count(*), sum(aqi), count(DISTINCT station_id) FROM '{file}'").fetchone()
    assert found == (ROWS, expected["aqi_sum"], ROWS)
    assert (result["rows_sent"], marker["rows"], result["reason"].split(":")[0]) == (ROWS, ROWS, "first delivery")
    assert growth < BOUND_MB
