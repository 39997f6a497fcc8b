"""Lean task start-up: a gate whose checks all translate to SQL never imports Great Expectations.

Importing GX costs a task seconds of CPU (more than Airflow itself); it is imported only when a
contract uses an expectation the SQL engine does not translate, or ``check_engine`` asks for GX.
Each case runs in its own interpreter, so ``sys.modules`` shows what the gate itself imported.
(That the DAG files and Lockgate's modules import no data library at all is in
``tests/dags/test_dag_integrity.py``.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

DS = "2026-01-02"
ROWS = [
    "station_id,region,observed_at,pollutant,value,unit",
    "ST-001,north,2026-01-02T00:00:00Z,pm25,12.5,ug/m3",
    "ST-001,north,2026-01-02T01:00:00Z,pm25,13.0,ug/m3",
    "ST-002,south,2026-01-02T00:00:00Z,o3,0.031,ppm",
    "ST-002,south,2026-01-02T01:00:00Z,o3,-1,ppm",  # a sensor fault: quarantined (range check)
]
PROBE = """
import json, sys
from pathlib import Path
from lockgate.contracts import load_contract
from lockgate.gate import RawFile, run_gate

csv, workdir, engine, rows = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
raw = RawFile(key="raw/readings/ds=2026-01-02/partner.csv", local_path=csv, format="csv", rows=rows)
outcome = run_gate(load_contract("readings"), [raw], ds="2026-01-02", workdir=workdir, check_engine=engine)
report = {k: outcome.report[k] for k in ("rows_in", "rows_passed", "rows_quarantined")}
checks = sorted(c["expectation"] for c in outcome.report["checks"])
loaded = {m: m in sys.modules for m in ("great_expectations", "pyspark", "duckdb")}
print(json.dumps({"report": report, "checks": checks, "loaded": loaded}))
"""


def gate_in_a_fresh_interpreter(tmp_path: Path, engine: str) -> dict[str, Any]:
    csv = tmp_path / "partner.csv"
    csv.write_text("\n".join(ROWS) + "\n")
    args = [str(csv), str(tmp_path / "work"), engine, str(len(ROWS) - 1)]
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_readings_contract_translates_to_sql() -> None:
    """The premise of the next test: every fail/warn expectation of ``readings`` has a SQL form."""
    from lockgate.checks import EXTENSIONS, supported
    from lockgate.contracts import load_contract

    checks = load_contract("readings").expectations_with("fail", "warn")
    assert checks
    assert [e.expectation for e in checks if e.expectation not in EXTENSIONS and not supported(e)] == []


def test_gate_with_sql_checks_only_does_not_import_great_expectations(tmp_path: Path) -> None:
    result = gate_in_a_fresh_interpreter(tmp_path, "duckdb")
    assert result["report"] == {"rows_in": 4, "rows_passed": 3, "rows_quarantined": 1}
    assert "expect_compound_columns_to_be_unique" in result["checks"]  # the checks did run
    # duckdb ran the checks: the probe sees what the gate imported
    assert result["loaded"] == {"great_expectations": False, "pyspark": False, "duckdb": True}
