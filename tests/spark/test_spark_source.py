"""A Spark DataFrame handed over to an ingestion: streamed to the raw zone, gated and loaded.

A local SparkSession (``local[2]``, one per module, see conftest) makes the frames. The whole chain
runs through Airflow's own ``dag.test()``: an upstream @task hands a Spark DataFrame over with
``lockgate.sources.memory.hand_over``, ``IngestOperator(ArrowSource)`` lands it, the quality gate
types and checks it against a contract, and the warehouse load writes it. The expected values are
the Python values the frame was built from, never read back through the code under test.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pendulum
import pytest

from lockgate.hooks.lake import LakeHook
from lockgate.layout import MANIFEST, raw_prefix
from lockgate.sources.memory import ArrowSource, write_parquet
from tests.support.dags import load_bundled_dag_file

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DS = "2026-01-02"
READINGS: dict[str, Any] = {
    "dataset": "spark_readings",
    "columns": {
        "station_id": {"type": "string", "nullable": False},
        "amount": {"type": "double"},
        "observed_at": {"type": "timestamp", "nullable": False},
        "day": {"type": "date"},
        "note": {"type": "string"},
    },
    "primary_key": ["station_id", "observed_at"],
}
DAG_FILE = '''
"""Test DAG: an upstream task hands a Spark DataFrame to an ingestion, gated and loaded."""
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pendulum
from airflow.sdk import DAG, task

from lockgate.operators.ingest import IngestOperator
from lockgate.operators.load import WarehouseLoadOperator
from lockgate.operators.partition import PartitionOperator
from lockgate.operators.quality import QualityGateOperator
from lockgate.sources.memory import ArrowSource, hand_over

ROWS = 30
ZONES = [timezone.utc, timezone(timedelta(hours=5, minutes=30)), ZoneInfo("America/Los_Angeles")]
SCHEMA = "station_id string, amount decimal(12,3), observed_at timestamp, day date, note string"


def rows():
    """Every third row has no station (quarantined), every fourth no amount; instants in three zones."""
    out = []
    for i in range(ROWS):
        station = None if i % 3 == 2 else f"ST-{i % 5:03d}"
        amount = None if i % 4 == 3 else Decimal(i * 1234 - 9000).scaleb(-3)
        observed = datetime(2026, 1, 2, 6 + i % 10, i, 30, 123456, tzinfo=ZONES[i % 3])
        day = None if i % 7 == 6 else date(2026, 1, 2) - timedelta(days=i)
        out.append((station, amount, observed, day, None if i % 2 else f"note {i}"))
    return out


with DAG(dag_id="DAG_ID", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False) as dag:

    @task
    def make_frame(**context):
        from pyspark.sql import SparkSession

        spark = SparkSession.builder.getOrCreate()  # the test's session
        return hand_over(spark.createDataFrame(rows(), SCHEMA).repartition(3), context)

    ingest = IngestOperator(
        task_id="ingest_readings", dataset="spark_readings", source=ArrowSource(from_task="make_frame")
    )
    gate = QualityGateOperator(task_id="gate_readings", dataset="spark_readings")
    partition = PartitionOperator(task_id="partition_readings", dataset="spark_readings")
    load = WarehouseLoadOperator(
        task_id="load_readings", dataset="spark_readings", table="fact_spark_readings", mode="replace_partition"
    )
    make_frame() >> ingest >> gate >> partition >> load
'''


@pytest.fixture
def spark_dag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The module of the DAG file above, in a DAG bundle of its own."""
    return load_bundled_dag_file(tmp_path, monkeypatch, DAG_FILE, "lockgate_spark")


def test_a_spark_frame_is_handed_over_gated_and_loaded_with_exact_accounting(
    spark: Any,
    airflow_home: Path,
    lockgate_home: Path,
    contracts: Callable[[dict[str, Any]], Path],
    spark_dag: Any,
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    contracts(READINGS)
    run = spark_dag.dag.test(logical_date=pendulum.parse(DS))
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert set(states.values()) == {"success"}, states
    handed = next(ti for ti in run.get_task_instances() if ti.task_id == "make_frame").xcom_pull(task_ids="make_frame")
    expected = spark_dag.rows()
    assert handed["rows"] == len(expected) == 30
    assert handed["batches"] == 3  # one per non-empty partition: 10 rows each, fewer than a batch

    # the raw zone: every row, typed exactly (decimal kept, instants in UTC at the same microsecond)
    lake = LakeHook()
    manifest = lake.read_json(f"{raw_prefix('spark_readings', DS, str(run.run_id))}/ingest_readings/{MANIFEST}")
    (entry,) = manifest["files"]
    landed = pq.read_table(lake.local_copy(entry["key"], lockgate_home / "x"))
    assert manifest["rows"] == entry["rows"] == landed.num_rows == 30
    assert manifest["source_kind"] == "memory"
    assert landed.schema == pa.schema(
        [
            ("station_id", pa.string()),
            ("amount", pa.decimal128(12, 3)),
            ("observed_at", pa.timestamp("us", tz="UTC")),
            ("day", pa.date32()),
            ("note", pa.string()),
        ]
    )
    as_utc = [(s, a, o.astimezone(UTC), d, n) for s, a, o, d, n in expected]
    got = sorted(zip(*(landed.column(c).to_pylist() for c in landed.column_names), strict=True), key=lambda r: r[2])
    assert got == sorted(as_utc, key=lambda r: r[2])

    # the gate: the rows without a station quarantined, the rest passed, nothing lost
    report = lake.read_json(f"quality/spark_readings/ds={DS}/report.json")
    quarantined = sum(1 for r in expected if r[0] is None)
    assert (report["rows_in"], report["rows_quarantined"], report["rows_passed"]) == (30, quarantined, 30 - quarantined)

    # the warehouse: exactly the passed rows, the decimal as the contract's double, the same instants
    from lockgate.hooks.warehouse import WarehouseHook

    hook = WarehouseHook()
    table = hook.table("fact_spark_readings")
    loaded = hook.query(f"SELECT station_id, amount, observed_at, day, note FROM {table} ORDER BY observed_at")
    assert len(loaded) + report["rows_quarantined"] == handed["rows"]
    want = sorted(
        ((s, None if a is None else float(a), o, d, n) for s, a, o, d, n in as_utc if s is not None),
        key=lambda r: r[2],
    )
    assert [(s, a, _utc(o), d, n) for s, a, o, d, n in loaded] == want


def _utc(value: datetime) -> datetime:
    """A warehouse timestamp as an aware UTC datetime (the DuckDB warehouse stores UTC, naive)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def test_types_nulls_decimals_and_instants_map_exactly(spark: Any, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    zones = [UTC, timezone(timedelta(hours=-3, minutes=-30)), ZoneInfo("Asia/Tokyo")]
    widest = Decimal("-99999999999999999999.999999999999999999")  # 38 digits, 18 after the point
    rows = [
        (1, True, widest, datetime(1900, 1, 1, 0, 0, 0, 1, tzinfo=zones[0])),
        (2, False, Decimal("0.000000000000000001"), datetime(2026, 3, 29, 1, 30, tzinfo=zones[1])),
        (3, None, None, None),
        (None, True, Decimal("12.5"), datetime(2262, 4, 11, 23, 47, 16, tzinfo=zones[2])),
    ]
    frame = spark.createDataFrame(rows, "n int, flag boolean, money decimal(38,18), at timestamp").selectExpr(
        "*",
        "cast(at as timestamp_ntz) as wall_clock",  # the session zone's wall clock, kept naive
        "cast(at as date) as day",
        "cast(n as bigint) * 3000000000 as big",
        "cast(n as double) / 3 as ratio",
        "cast(null as string) as nothing",
    )
    path = tmp_path / "typed.parquet"
    written = write_parquet(frame, path)
    table = pq.read_table(path)
    assert table.schema == pa.schema(
        [
            ("n", pa.int32()),
            ("flag", pa.bool_()),
            ("money", pa.decimal128(38, 18)),
            ("at", pa.timestamp("us", tz="UTC")),
            ("wall_clock", pa.timestamp("us")),
            ("day", pa.date32()),
            ("big", pa.int64()),
            ("ratio", pa.float64()),
            ("nothing", pa.string()),
        ]
    )
    assert written["rows"] == table.num_rows == len(rows)
    assert table.column("money").to_pylist() == [r[2] for r in rows]
    assert table.column("at").to_pylist() == [None if r[3] is None else r[3].astimezone(UTC) for r in rows]
    session_zone = ZoneInfo(spark.conf.get("spark.sql.session.timeZone"))
    walls = [None if r[3] is None else r[3].astimezone(session_zone).replace(tzinfo=None) for r in rows]
    assert table.column("wall_clock").to_pylist() == walls
    assert table.column("day").to_pylist() == [None if w is None else w.date() for w in walls]
    assert table.column("big").to_pylist() == [None if r[0] is None else r[0] * 3_000_000_000 for r in rows]
    assert table.column("nothing").null_count == len(rows)


def test_a_frame_of_many_batches_streams_with_bounded_driver_memory(spark: Any, tmp_path: Path) -> None:
    """1.2M rows (~190 MB as Arrow) in 8 partitions: the driver never holds more than a row group."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rows, partitions = 1_200_000, 8
    frame = spark.sql(
        f"SELECT id, CAST(id AS DECIMAL(18, 3)) / 8 AS amount, timestamp_seconds(1767312000 + id) AS at, "
        f"concat(sha2(CAST(id AS STRING), 256), sha2(CAST(id + 1 AS STRING), 256)) AS payload "
        f"FROM range(0, {rows}, 1, {partitions})"
    )
    write_parquet(spark.range(10), tmp_path / "warm-up.parquet")  # imports and codecs: not the frame's
    baseline = _reset_peak_rss()
    written = write_parquet(frame, tmp_path / "big.parquet")
    growth = _peak_rss() - baseline

    # each partition arrives as batches of BATCH_ROWS rows, none is gathered on the driver
    assert written["rows"] == rows
    assert written["batches"] == rows // 10_000
    table = pq.read_table(tmp_path / "big.parquet")
    assert table.num_rows == rows
    assert pc.all(pc.equal(table.column("id"), pa.array(range(rows), pa.int64()))).as_py()  # in order, none twice
    assert table.column("at")[rows - 1].as_py() == datetime(2026, 1, 2, tzinfo=UTC) + timedelta(seconds=rows - 1)
    assert table.column("amount")[rows - 1].as_py() == Decimal(rows - 1) / 8
    frame_bytes = table.nbytes
    print(f"driver peak RSS growth {growth / 2**20:.0f} MiB for a frame of {frame_bytes / 2**20:.0f} MiB")
    assert growth < frame_bytes / 2, (growth, frame_bytes)


def _status_bytes(field: str) -> int:
    found = re.search(rf"^{field}:\s+(\d+) kB$", Path("/proc/self/status").read_text(), re.MULTILINE)
    assert found, field
    return int(found.group(1)) * 1024


def _reset_peak_rss() -> int:
    """Reset this process's peak RSS (``VmHWM``, Linux ``clear_refs`` 5) and return its current RSS."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_bytes("VmRSS")


def _peak_rss() -> int:
    return _status_bytes("VmHWM")


def test_an_empty_frame_lands_typed_and_empty(spark: Any, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = spark.createDataFrame([], "id long, amount decimal(10,2), at timestamp")
    source = ArrowSource(data=frame, name="empty")
    (unit,) = list(source.units({}, tmp_path, log=None, progress=_NoProgress()))
    assert unit.rows == 0
    assert pq.read_table(unit.path).schema == pa.schema(
        [("id", pa.int64()), ("amount", pa.decimal128(10, 2)), ("at", pa.timestamp("us", tz="UTC"))]
    )


class _NoProgress:
    def advance(self, rows: int) -> None:
        assert rows == 0


def test_a_spark_job_failing_mid_stream_fails_the_hand_over_with_its_error(spark: Any, tmp_path: Path) -> None:
    # the first partitions stream fine, then a row of the third raises on an executor
    frame = spark.sql("SELECT id, IF(id = 25000, raise_error('bad row 25000'), id) AS v FROM range(0, 40000, 1, 4)")
    with pytest.raises(Exception, match="bad row 25000"):
        write_parquet(frame, tmp_path / "failed.parquet")


def test_duplicated_column_names_are_refused_by_name(spark: Any, tmp_path: Path) -> None:
    frame = spark.range(3).selectExpr("id AS a", "id * 2 AS a")
    with pytest.raises(ValueError, match=r"duplicated column names \['a'\]"):
        write_parquet(frame, tmp_path / "dup.parquet")


def test_pyspark_is_not_imported_by_lockgate_or_at_dag_parse_time(tmp_path: Path) -> None:
    """Only a Spark frame handed over imports pyspark: parsing the DAG above must not."""
    dag_file = tmp_path / "spark_dag.py"
    dag_file.write_text(DAG_FILE.replace("DAG_ID", "parse_only"))
    code = (
        "import runpy, sys\n"
        "import lockgate.sources.memory, lockgate.operators.ingest\n"
        f"runpy.run_path({str(dag_file)!r})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr[-2000:]
