"""Empty and unreadable deliveries at ingestion (issue 14), through ``IngestOperator`` and
``QualityGateOperator`` on a local lake, and the file-source settings of a YAML pipeline.

* a zero-byte, header-only or record-less file fails ingestion naming the file, and nothing lands,
  unless the source declares ``allow_empty`` (then it is 0 rows, recorded in the manifest);
* the gate does not take a manifest's word for it: an empty file the manifest does not allow fails;
* ``max_field_bytes`` and ``max_undecodable_percent`` travel from ingestion to the gate through the
  raw manifest, so both read a file alike (accounting asserted);
* a mostly undecodable file and a header naming one column twice fail ingestion naming the file.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from lockgate.hooks.lake import LakeHook
from lockgate.operators.ingest import IngestOperator
from lockgate.operators.quality import QualityGateOperator
from tests.support.dags import SPEC_HEADER, write_yaml_pipeline
from tests.support.pipeline import context

pytestmark = pytest.mark.integration

DS = "2026-01-02"
HEADER = "station_id,name,region,latitude,longitude,timezone,elevation_m,commissioned_on\n"


def station(i: int, name: str | None = None) -> str:
    return f"ST-{i:03d},{name or f'Station {i}'},north,45.5,-93.25,America/Chicago,300.5,2021-08-24\n"


def ingest(folder: Path, run_id: str, **kwargs: Any) -> dict[str, Any]:
    op = IngestOperator(task_id="ingest_stations", dataset="stations", source=str(folder / "stations_*"), **kwargs)
    result: dict[str, Any] = op.execute(context(DS, run_id))
    return result


def gate(run_id: str) -> dict[str, Any]:
    result: dict[str, Any] = QualityGateOperator(task_id="gate_stations", dataset="stations").execute(
        context(DS, run_id)
    )
    assert result["rows_in"] == result["rows_passed"] + result["rows_quarantined"] + result["duplicates_removed"]
    return result


def manifest_keys(lake: LakeHook) -> list[str]:
    return [o.key for o in lake.list(f"raw/stations/ds={DS}") if o.key.endswith("_manifest.json")]


def quarantine(lake: LakeHook, work: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    local = lake.local_copy(f"quarantine/stations/ds={DS}/quarantine.parquet", work)
    rows: list[dict[str, Any]] = pq.read_table(local).to_pylist()
    return rows


EMPTY = [
    pytest.param("stations.csv", b"", "is empty (0 bytes)", id="zero-byte-csv"),
    pytest.param("stations.csv.gz", gzip.compress(b""), "is empty (0 bytes)", id="zero-byte-gzip"),
    pytest.param("stations.csv", HEADER.encode(), "has a header (station_id,name,", id="header-only-csv"),
    pytest.param("stations.ndjson", b"\n\n", "has no records (blank lines only)", id="blank-ndjson"),
    pytest.param("stations.json", b"[]", "is an empty JSON array", id="empty-json-array"),
]


@pytest.mark.parametrize(("name", "data", "what"), EMPTY)
def test_an_empty_file_fails_ingestion_naming_it(
    name: str, data: bytes, what: str, lockgate_home: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / name.replace("stations", f"stations_{DS}")
    path.write_bytes(data)
    with pytest.raises(AirflowFailException) as info:
        ingest(folder, "manual__empty")
    message = str(info.value)
    assert message.startswith(f"{path}: {what}"), message
    assert "set allow_empty: true" in message
    assert manifest_keys(LakeHook()) == []  # nothing landed: the gate has nothing to read


@pytest.mark.parametrize(("name", "data", "what"), EMPTY)
def test_allow_empty_lands_an_empty_file_as_0_rows_and_the_gate_reads_0(
    name: str, data: bytes, what: str, lockgate_home: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / name.replace("stations", f"stations_{DS}")).write_bytes(data)
    run_id = "manual__allowed"
    result = ingest(folder, run_id, allow_empty=True)
    assert (result["files"], result["rows"]) == (1, 0)
    lake = LakeHook()
    [key] = manifest_keys(lake)
    manifest = lake.read_json(key)
    assert ([f["rows"] for f in manifest["files"]], manifest["allow_empty"]) == ([0], True)
    gated = gate(run_id)
    assert (gated["rows_in"], gated["rows_passed"], gated["rows_quarantined"]) == (0, 0, 0)

    # a manifest that does not allow an empty file (written before allow_empty meant this, or by
    # hand) does not make the gate accept one: it reads the file and fails naming it
    manifest["allow_empty"] = False
    lake.write_json(key, manifest)
    with pytest.raises(AirflowFailException, match=rf"stations_{DS}\.\w+(\.gz)?: {re.escape(what)}"):
        gate(run_id)


def test_reading_settings_travel_from_ingestion_to_the_gate(lockgate_home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    rows = [station(i) for i in range(1, 41)]
    rows[9] = station(10, name="N" * 300)  # over a 200-byte limit
    data = (HEADER + "".join(rows)).encode().replace(b"Station 20,", b"Z\xfcrich,")  # one bad byte
    (folder / f"stations_{DS}.csv").write_bytes(data)
    run_id = "manual__settings"
    result = ingest(folder, run_id, max_field_bytes=200, max_undecodable_percent=5)
    assert result["rows"] == 40
    lake = LakeHook()
    [key] = manifest_keys(lake)
    assert {k: lake.read_json(key)[k] for k in ("max_field_bytes", "max_undecodable_percent", "allow_empty")} == {
        "max_field_bytes": 200,
        "max_undecodable_percent": 5,
        "allow_empty": False,
    }
    gated = gate(run_id)
    assert (gated["rows_in"], gated["rows_passed"], gated["rows_quarantined"]) == (40, 38, 2)
    found = sorted((q["source_row"], q["column_name"], q["reason"]) for q in quarantine(lake, tmp_path))
    offset = data.index(b"\xfc")
    assert found == [
        (
            11,
            "name",
            "row 11: column name: a value of 300 bytes is over the field limit of 200 bytes (max_field_bytes); "
            "the record keeps its first 1,024 bytes",
        ),
        (
            21,
            None,
            f"row 21: not valid utf-8 text: undecodable byte(s) \\xfc at byte offset {offset} "
            "(line 21, byte 9 of the line)",
        ),
    ]


def test_a_mostly_undecodable_file_and_a_repeated_header_name_fail_ingestion(
    lockgate_home: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / f"stations_{DS}.csv"
    path.write_bytes((HEADER + station(1, "Zoë") + station(2, "Åre") + station(3)).encode("latin-1"))
    with pytest.raises(AirflowFailException) as info:
        ingest(folder, "manual__latin1")
    assert str(info.value).startswith(f"{path}: 2 of 3 records (66.7%) are not valid utf-8 text"), info.value
    assert "set `encoding:` on the source" in str(info.value)
    assert ingest(folder, "manual__latin1_declared", encoding="latin-1")["rows"] == 3

    path.write_bytes((HEADER.replace("\n", ",Name\n") + station(1).replace("\n", ",x\n")).encode())
    with pytest.raises(AirflowFailException) as info:
        ingest(folder, "manual__dup")
    assert str(info.value) == (
        f"{path}: row 1: column name is named 2 times in the header: 'name' (field 2) and 'Name' (field 9); "
        "rename or drop all but one"
    )


SPEC = (
    SPEC_HEADER
    + """\
  files:
    - id: registry
      dataset: stations
      path: "registry/stations_*.csv"
      allow_empty: true
      max_field_bytes: 4096
      max_undecodable_percent: 2.5
    - id: more
      dataset: stations
      path: "more/stations_*.csv"
      fan_out: true
      allow_empty: true
      max_field_bytes: 100
datasets:
  stations:
    contract: {contract}
loads:
  - dataset: stations
    table: dim_stations
    mode: replace_partition
"""
)


def test_a_yaml_file_source_declares_allow_empty_and_the_reading_limits(tmp_path: Path) -> None:
    from lockgate.pipelines.factory import build_dag
    from lockgate.pipelines.spec import PipelineSpecError, load_spec

    contract = Path(__file__).resolve().parents[2] / "include" / "contracts" / "stations.yaml"
    path = write_yaml_pipeline(
        tmp_path / "dags", "empty_ok", SPEC.format(dag_id="empty_ok", src=tmp_path / "src", contract=contract)
    )
    spec = load_spec(path)
    registry, more = spec.files
    assert (registry.allow_empty, registry.max_field_bytes, registry.max_undecodable_percent) == (True, 4096, 2.5)
    assert (more.allow_empty, more.max_field_bytes, more.max_undecodable_percent) == (True, 100, 10.0)
    dag = build_dag(spec)
    task = dag.get_task("ingest_registry")
    assert (task.allow_empty, task.max_field_bytes, task.max_undecodable_percent) == (True, 4096, 2.5)
    mapped = dag.get_task("ingest_more").partial_kwargs
    assert (mapped["allow_empty"], mapped["max_field_bytes"]) == (True, 100)

    path.write_text(path.read_text().replace("max_field_bytes: 100", "max_field_bytes: 0"))
    with pytest.raises(PipelineSpecError, match="max_field_bytes"):
        load_spec(path)
