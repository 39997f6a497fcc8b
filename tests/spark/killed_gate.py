"""A gate on Spark in a process of its own (the SIGKILL test kills it mid-gate, then runs it again).

``python -m tests.spark.killed_gate <raw dir> <workdir>``: gates the dirty readings files in
``raw dir`` on a local Spark of its own and writes ``done`` in ``workdir`` when it has finished
(the test's retry calls :func:`main` with its session).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

from lockgate.contracts import load_contract
from lockgate.gate import QualityGateFailed
from lockgate.spark_engine.gate import run_gate_on_spark
from tests.unit.test_gate import GATEWAY_KEY, PARTNER_KEY, PREPROCESS, raw_file


def files(raw: Path) -> list:  # type: ignore[type-arg]
    return [
        raw_file(raw / "partner.csv", PARTNER_KEY, source_timezone="America/Chicago"),
        raw_file(raw / "gateway.ndjson", GATEWAY_KEY),
    ]


def main(raw: Path, work: Path, session: Any = None) -> None:
    """Gate the files in ``raw`` into ``work``: on ``session``, or on the local Spark of no connection."""
    # the dirty files fail a check: the outputs are written all the same
    with contextlib.suppress(QualityGateFailed):
        run_gate_on_spark(
            load_contract("readings"),
            files(raw),
            ds="2026-01-02",
            workdir=work,
            preprocess=PREPROCESS,
            spark_conn_id="lockgate_spark_local_for_the_kill_test",
            session=session,
        )
    (work / "done").write_text("done")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
