"""A gate on Spark killed mid-gate (SIGKILL of the driver) and run again gives the DuckDB engine's
outputs (which the parity tests show a Spark gate that was never killed gives): nothing of the
killed try survives into them.

The killed driver is a process of its own (``tests.spark.killed_gate``) with its own local Spark;
it is killed once Spark has begun writing (the typed rows exist, the staged file does not yet).
The retry runs on the same workdir, with what the killed try left there, in another driver: this
process's shared session (a second process would only start Airflow and a JVM again).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lockgate.contracts import load_contract
from lockgate.gate import QualityGateFailed, run_gate
from tests.spark.killed_gate import files, main
from tests.unit.test_gate import GATEWAY_LINES, PARTNER_CSV, PREPROCESS

REPO = Path(__file__).resolve().parents[2]


def start(raw: Path, work: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    out = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "tests.spark.killed_gate", str(raw), str(work)],
        cwd=REPO,
        env=env,
        stdout=out,
        stderr=out,
        start_new_session=True,
    )


def rows(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def test_killed_mid_gate_then_retried(spark: Any, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "partner.csv").write_text(PARTNER_CSV)
    (raw / "gateway.ndjson").write_text("\n".join(GATEWAY_LINES) + "\n")
    work, log = tmp_path / "work", tmp_path / "gate.log"

    first = start(raw, work, log)
    deadline = time.monotonic() + 120
    while not (work / "spark" / "checked").exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.poll() is None, log.read_text()[-3000:]
    os.killpg(first.pid, signal.SIGKILL)  # the driver and its JVM, as a lost worker would lose them
    first.wait()
    assert first.returncode == -signal.SIGKILL
    assert not (work / "done").exists()

    assert (work / "spark").exists()  # what the killed try left: the retry starts from it
    main(raw, work, session=spark)
    duck = tmp_path / "duck"
    with contextlib.suppress(QualityGateFailed):
        run_gate(load_contract("readings"), files(raw), ds="2026-01-02", workdir=duck, preprocess=PREPROCESS)
    assert (work / "done").exists()
    for name in ("staged.parquet", "quarantine.parquet"):
        assert rows(work / name) == rows(duck / name), name
