"""Every format x every compression, from a local folder and from S3, through ingest and the gate.

For each combination the same station records are written as a source file, ingested with
``IngestOperator`` (local glob, or ``s3://`` on the moto server through the amazon provider's
``S3Hook``) and gated with ``QualityGateOperator`` against the ``stations`` contract. The counts
must agree everywhere: records in the source = rows in the raw manifest = rows the gate read =
passed + quarantined + duplicates; and the passed rows are exactly the good records.
"""

from __future__ import annotations

import datetime
import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest

from lockgate.hooks.lake import LakeHook
from lockgate.operators.ingest import IngestOperator
from lockgate.operators.quality import QualityGateOperator
from tests.support.pipeline import context

pytestmark = pytest.mark.integration

DS = "2026-01-02"
COLUMNS = ["station_id", "name", "region", "latitude", "longitude", "timezone", "elevation_m", "commissioned_on"]
GOOD = [
    ["ST-001", "Elm Hollow", "west", 37.2773, -119.2973, "America/Los_Angeles", 212.0, "2021-08-24"],
    ["ST-002", "Hazel Park", "south", 31.9893, -92.4102, "America/Chicago", None, "2012-02-21"],
    ["ST-003", "Zoë Ridge", "north", 45.5, -93.25, "America/Chicago", 300.5, None],
]
#: out of range: the contract quarantines it (latitude between -90 and 90)
OUT_OF_RANGE = ["ST-004", "Far Away", "east", 99.0, 10.0, "UTC", 1.0, "2020-01-01"]
FORMATS = ("csv", "ndjson", "json", "parquet")
COMPRESSIONS = ("", ".gz", ".zst")


def _compress(data: bytes, compression: str) -> bytes:
    if compression == ".gz":
        return gzip.compress(data)
    if compression == ".zst":
        import pyarrow as pa

        return pa.compress(data, codec="zstd", asbytes=True)
    return data


def source_bytes(fmt: str) -> tuple[bytes, int, int]:
    """(file content, records in it, records the reader cannot read at all)."""
    rows = [*GOOD, OUT_OF_RANGE]
    records = [dict(zip(COLUMNS, r, strict=True)) for r in rows]
    if fmt == "csv":
        lines = [",".join(COLUMNS)]
        lines += [",".join("" if v is None else str(v) for v in r) for r in rows]
        lines.append("ST-005,too few fields")  # a record the reader rejects
        return ("\n".join(lines) + "\n").encode(), len(rows) + 1, 1
    if fmt == "ndjson":
        text = "".join(json.dumps(r) + "\n" for r in records) + "[1, 2]\n"
        return text.encode(), len(rows) + 1, 1
    if fmt == "json":
        return json.dumps([*records, "not an object"]).encode(), len(rows) + 1, 1
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "station_id": [r[0] for r in rows],
            "name": [r[1] for r in rows],
            "region": [r[2] for r in rows],
            "latitude": pa.array([r[3] for r in rows], pa.float64()),
            "longitude": pa.array([r[4] for r in rows], pa.float64()),
            "timezone": [r[5] for r in rows],
            "elevation_m": pa.array([r[6] for r in rows], pa.float64()),
            "commissioned_on": pa.array(
                [None if r[7] is None else datetime.date.fromisoformat(str(r[7])) for r in rows]
            ),
        }
    )
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue(), len(rows), 0


def passed_rows(lake: LakeHook, work: Path) -> list[tuple[Any, ...]]:
    import duckdb

    keys = [o.key for o in lake.list(f"staged/stations/ds={DS}") if o.key.endswith(".parquet")]
    assert keys, "the gate published no staged rows"
    local = lake.local_copy(keys[0], work)
    return (
        duckdb.connect()
        .sql(f"SELECT station_id, name, latitude, elevation_m FROM read_parquet('{local}') ORDER BY station_id")
        .fetchall()
    )


COMBINATIONS = [pytest.param(fmt, comp, id=f"{fmt}{comp or ''}") for fmt in FORMATS for comp in COMPRESSIONS]


@pytest.mark.parametrize("where", ["local", "s3"])
@pytest.mark.parametrize(("fmt", "compression"), COMBINATIONS)
def test_every_format_and_compression_ingests_and_gates_with_exact_counts(
    fmt: str, compression: str, where: str, lockgate_home: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    data, records, unreadable = source_bytes(fmt)
    name = f"stations_{DS}.{fmt}{compression}"
    packed = _compress(data, compression)
    extra: dict[str, Any] = {}
    if where == "s3":
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        aws_conn_id = request.getfixturevalue("aws_conn_id")
        bucket = request.getfixturevalue("s3_bucket")
        S3Hook(aws_conn_id=aws_conn_id).load_bytes(packed, key=f"in/{DS}/{name}", bucket_name=bucket)
        source = f"s3://{bucket}/in/{DS}/stations_*"
        extra["source_aws_conn_id"] = aws_conn_id
    else:
        folder = tmp_path / "in"
        folder.mkdir()
        (folder / name).write_bytes(packed)
        source = str(folder / "stations_*")

    run_id = f"manual__matrix_{fmt}_{compression.strip('.') or 'plain'}_{where}"
    ctx = context(DS, run_id)
    ingested = IngestOperator(task_id="ingest_stations", dataset="stations", source=source, **extra).execute(ctx)
    assert (ingested["files"], ingested["rows"]) == (1, records)

    gated = QualityGateOperator(task_id="gate_stations", dataset="stations").execute(ctx)
    assert gated["rows_in"] == records
    assert gated["rows_passed"] + gated["rows_quarantined"] + gated["duplicates_removed"] == records
    assert gated["rows_quarantined"] == unreadable + 1  # the reject and the out-of-range latitude

    lake = LakeHook()
    (manifest_key,) = [o.key for o in lake.list(f"raw/stations/ds={DS}") if o.key.endswith("_manifest.json")]
    manifest = lake.read_json(manifest_key)
    assert [(f["format"], f["rows"]) for f in manifest["files"]] == [(fmt, records)]
    assert passed_rows(lake, tmp_path) == [
        ("ST-001", "Elm Hollow", 37.2773, 212.0),
        ("ST-002", "Hazel Park", 31.9893, None),
        ("ST-003", "Zoë Ridge", 45.5, 300.5),
    ]


@pytest.mark.parametrize("compression", ["", ".gz"])
def test_an_unreadable_file_is_named_by_its_source_not_by_the_workers_spool_copy(
    compression: str, lockgate_home: Path, tmp_path: Path
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    folder = tmp_path / "in"
    folder.mkdir()
    source = folder / f"stations_{DS}.csv{compression}"
    # latin-1 bytes in a file read as utf-8: the count for the manifest cannot decode row 3
    source.write_bytes(_compress("id,name\n1,Ann\n2,Bj\u00f6rn\n".encode("latin-1"), compression))
    ingest = IngestOperator(task_id="ingest_stations", dataset="stations", source=str(folder / "stations_*"))
    with pytest.raises(AirflowFailException) as failed:
        ingest.execute(context(DS, "manual__unreadable"))
    message = str(failed.value)
    assert message.startswith(f"{source}: ")
    assert "row 3" in message
    assert "lockgate-ingest" not in message  # the worker's spool folder means nothing to the reader
    assert message.count(source.name) == 1
