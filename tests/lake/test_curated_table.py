"""The curated zone is an Iceberg table: one snapshot per publish, reruns, time travel, rollback,
schema evolution, orphan cleanup after a killed publish, and reading with plain pyiceberg.

Each test runs on a local lake and on an S3 lake (moto server), with the catalog in SQLite (the
embedded default) and in PostgreSQL (a ``lockgate_catalog`` connection), through the real
``SqlCatalog``. Versions are told apart by their rows: every row carries the version it was
written by.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from lockgate import curated
from lockgate.contracts import Column
from lockgate.hooks.iceberg import LOGICAL_DATE, ROWS, RUN_ID, CatalogHook, CuratedDataMissing, snapshot_summary
from lockgate.operators.partition import write_partitioned
from tests.lake.deletes import add_position_deletes
from tests.support.pg import airflow_conn_env
from tests.support.s3 import lake_conn_env

pytestmark = pytest.mark.integration

DS = "2026-01-02"
OTHER = "2026-01-03"
COLUMNS = [
    Column("station_id", "string"),
    Column("region", "string"),
    Column("version", "integer"),
    Column("value", "double"),
    Column("ds", "date"),
]
REGIONS = ("north", "south", "east")


#: (lake, catalog): the embedded defaults, and a deployment's S3 lake with a PostgreSQL catalog
BACKENDS = [pytest.param(("local", "sqlite"), id="local-sqlite"), pytest.param(("s3", "postgres"), id="s3-postgres")]


@pytest.fixture(params=BACKENDS)
def catalog(request: pytest.FixtureRequest, lockgate_home: Path, monkeypatch: pytest.MonkeyPatch) -> CatalogHook:
    """The catalog hook with a ``readings`` table, on a local lake with the embedded SQLite
    catalog, or on an S3 lake (moto server) with a PostgreSQL catalog connection."""
    lake_kind, catalog_kind = request.param
    if lake_kind == "s3":
        bucket, aws_conn_id = request.getfixturevalue("s3_bucket"), request.getfixturevalue("aws_conn_id")
        monkeypatch.setenv(*lake_conn_env(f"s3://{bucket}/lake", aws_conn_id))
    if catalog_kind == "postgres":
        monkeypatch.setenv(*airflow_conn_env("lockgate_catalog", request.getfixturevalue("pg_dsn")))
    hook = CatalogHook()
    assert hook.lake.is_s3 == (lake_kind == "s3")
    assert hook.catalog.engine.dialect.name == {"sqlite": "sqlite", "postgres": "postgresql"}[catalog_kind]  # type: ignore[attr-defined]
    hook.create_table("readings", COLUMNS, ["region"])
    return hook


def write_version(folder: Path, ds: str, version: int, rows_per_region: int = 50) -> Path:
    """DuckDB's partitioned output for one date, each row tagged with ``version``."""
    con = duckdb.connect()
    select = (
        "SELECT 's' || lpad(i::VARCHAR, 4, '0') AS station_id, r.region, $version::BIGINT AS version, "
        "(i * 1.5 + $version)::DOUBLE AS value, $ds::DATE AS ds "
        "FROM range($n) t(i), (SELECT unnest($regions) AS region) r"
    )
    rel = con.sql(select, params={"version": version, "ds": ds, "n": rows_per_region, "regions": list(REGIONS)})
    rel.create_view("v")
    write_partitioned(con, "SELECT * FROM v", ["ds", "region"], folder)
    con.close()
    return folder


def publish(catalog: CatalogHook, tmp: Path, ds: str, version: int, run_id: str) -> int:
    out = write_version(tmp / f"out-{ds}-{version}-{time.monotonic_ns()}", ds, version)
    return catalog.publish_date(catalog.table("readings"), ds, out, snapshot_summary(run_id)).snapshot_id


def rows_of(catalog: CatalogHook, ds: str, snapshot_id: int | None = None) -> list[tuple[object, ...]]:
    table = catalog.read_date("readings", ds, snapshot_id).read_all()
    return sorted(zip(*(table[c].to_pylist() for c in ("station_id", "region", "version", "value", "ds")), strict=True))


def data_files(catalog: CatalogHook, ds: str) -> list[str]:
    return [f.file_path for f in catalog.date_files("readings", ds)]


def test_three_reruns_replace_the_date_with_one_snapshot_each_and_leave_other_dates_alone(
    catalog: CatalogHook, tmp_path: Path
) -> None:
    publish(catalog, tmp_path, DS, 1, "run-1")
    publish(catalog, tmp_path, OTHER, 7, "run-other")
    first_rows = rows_of(catalog, DS)
    other_rows, other_files = rows_of(catalog, OTHER), data_files(catalog, OTHER)
    assert len(first_rows) == 150
    assert {r[2] for r in first_rows} == {1}

    for rerun in range(3):
        before = len(catalog.table("readings").snapshots())
        snapshot_id = publish(catalog, tmp_path, DS, 1, f"rerun-{rerun}")
        table = catalog.table("readings")
        assert len(table.snapshots()) == before + 1  # exactly one new snapshot per publish
        assert table.current_snapshot().snapshot_id == snapshot_id
        summary = table.current_snapshot().summary.additional_properties
        assert (summary[RUN_ID], summary[LOGICAL_DATE], summary[ROWS]) == (f"rerun-{rerun}", DS, "150")
        assert rows_of(catalog, DS) == first_rows  # identical content
        assert len(data_files(catalog, DS)) == len(REGIONS)  # the old files left the snapshot
        assert data_files(catalog, OTHER) == other_files  # the other date's files are untouched
        assert rows_of(catalog, OTHER) == other_rows
    assert catalog.published_dates("readings") == [DS, OTHER]


def test_time_travel_to_the_first_run_and_roll_the_date_back_to_it(catalog: CatalogHook, tmp_path: Path) -> None:
    first = publish(catalog, tmp_path, DS, 1, "run-1")
    first_rows = rows_of(catalog, DS)
    publish(catalog, tmp_path, DS, 2, "run-2")
    publish(catalog, tmp_path, OTHER, 5, "run-other")
    other_files = data_files(catalog, OTHER)
    assert {r[2] for r in rows_of(catalog, DS)} == {2}

    # as of a snapshot id, and as of a run id (the snapshot that run committed)
    assert rows_of(catalog, DS, first) == first_rows
    as_of_run = curated.read_as_of(catalog, "readings", DS, run_id="run-1").read_all()
    assert sorted(as_of_run["version"].to_pylist()) == [1] * 150
    listed = curated.snapshots(catalog, "readings")
    assert [(s["run_id"], s["ds"], s["rows"]) for s in listed] == [
        ("run-1", DS, 150),
        ("run-2", DS, 150),
        ("run-other", OTHER, 150),
    ]

    restored = curated.rollback(catalog, "readings", DS, run_id="run-1")
    assert restored.rows == 150
    assert rows_of(catalog, DS) == first_rows  # the date holds the first run's rows again
    assert data_files(catalog, OTHER) == other_files  # and nothing else moved
    assert catalog.table("readings").current_snapshot().snapshot_id == restored.snapshot_id


def test_a_publish_killed_before_its_commit_changes_nothing_and_its_files_are_cleaned(
    catalog: CatalogHook, tmp_path: Path
) -> None:
    publish(catalog, tmp_path, DS, 1, "run-1")
    before_rows = rows_of(catalog, DS)
    before_snapshot = catalog.table("readings").current_snapshot().snapshot_id
    ready = tmp_path / "uploaded"
    # a publish in a forked child that stops right before its commit (every data file uploaded)
    child = multiprocessing.get_context("fork").Process(target=_publish_until_the_commit, args=(tmp_path, ready))
    child.start()
    try:
        for _ in range(600):
            if ready.exists() or not child.is_alive():
                break
            time.sleep(0.05)
        assert ready.exists(), "the publish never reached its commit"
        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        child.join(timeout=30)
        assert child.exitcode == -signal.SIGKILL
    finally:
        if child.is_alive():
            child.kill()
    uploaded = [o.key for o in catalog.lake.list("curated/readings/data") if o.key not in _referenced(catalog)]
    assert len(uploaded) == len(REGIONS)  # its files are in the lake...
    assert catalog.table("readings").current_snapshot().snapshot_id == before_snapshot  # ...but no snapshot
    assert rows_of(catalog, DS) == before_rows

    # the retry equals a clean run; its publish removed the killed one's files of the date
    publish(catalog, tmp_path, DS, 2, "run-2")
    clean = CatalogHook(lake=catalog.lake)
    assert {r[2] for r in rows_of(clean, DS)} == {2}
    assert not set(uploaded) & {o.key for o in catalog.lake.list("curated/readings")}
    # and the maintenance cleanup finds nothing left that no snapshot refers to
    assert catalog.remove_orphan_files(catalog.table("readings"), datetime.now(UTC)) == []
    assert {o.key for o in catalog.lake.list("curated/readings")} == _referenced(catalog)


def _publish_until_the_commit(tmp: Path, ready: Path) -> None:
    """In the child: a whole publish, except that it waits (to be killed) where it would commit."""

    def stop(*args: object, **kwargs: object) -> None:
        ready.touch()
        time.sleep(600)

    CatalogHook.commit_date = stop  # type: ignore[method-assign]
    hook = CatalogHook()  # its own catalog connection and S3 clients, none of the parent's
    hook.publish_date(hook.table("readings"), DS, write_version(tmp / "child-out", DS, 9), snapshot_summary("killed"))


def _referenced(catalog: CatalogHook) -> set[str]:
    table = catalog.table("readings")
    return {catalog._lake_key(location) for location in catalog.referenced_files(table)}


def test_expired_snapshots_take_their_files_with_them(catalog: CatalogHook, tmp_path: Path) -> None:
    first = publish(catalog, tmp_path, DS, 1, "run-1")
    old_files = data_files(catalog, DS)
    publish(catalog, tmp_path, DS, 2, "run-2")
    expired = catalog.expire_snapshots("readings", datetime.now(UTC), retain_last=1)
    assert expired == [first]
    deleted = catalog.remove_orphan_files(catalog.table("readings"), datetime.now(UTC))
    assert {catalog._lake_key(f) for f in old_files} <= set(deleted)
    assert {r[2] for r in rows_of(catalog, DS)} == {2}  # the current version reads as before


def test_a_date_never_published_is_reported_as_missing(catalog: CatalogHook, tmp_path: Path) -> None:
    publish(catalog, tmp_path, DS, 1, "run-1")
    with pytest.raises(CuratedDataMissing, match=r"readings ds=2026-01-09 has not been published"):
        catalog.local_date("readings", "2026-01-09", tmp_path / "w")
    with pytest.raises(CuratedDataMissing, match=r"nothing of 'aqi' has been published"):
        catalog.table("aqi")


def test_plain_pyiceberg_and_duckdb_read_the_table_without_lockgate(lockgate_home: Path, tmp_path: Path) -> None:
    """What README's "Reading the lake" shows, run in a process that imports no Lockgate module."""
    catalog = CatalogHook()  # the embedded defaults: lake and catalog under LOCKGATE_HOME
    assert catalog.lake.url == str(lockgate_home / "lake")
    catalog.create_table("readings", COLUMNS, ["region"])
    publish(catalog, tmp_path, DS, 3, "run-3")
    script = textwrap.dedent(
        f"""
        import sys
        import duckdb
        from pyiceberg.catalog import load_catalog

        catalog = load_catalog("lockgate", type="sql", uri="sqlite:///{lockgate_home}/catalog.db")
        table = catalog.load_table("lockgate.readings")
        rows = table.scan(row_filter="ds = '{DS}'").to_arrow_batch_reader()
        print(duckdb.sql("SELECT count(*), min(version), max(version) FROM rows").fetchall()[0])
        assert not [m for m in sys.modules if m.startswith("lockgate")]
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(150, 3, 3)"


def test_lineage_names_the_snapshot_as_the_dataset_version() -> None:
    from lockgate.lineage import LineageDataset, _facets

    facets = _facets(LineageDataset("file", "/lake/curated/readings", version="5454133379514404577"))
    assert facets["version"].datasetVersion == "5454133379514404577"
    assert "version" not in _facets(LineageDataset("file", "/lake/raw/readings"))


@pytest.mark.parametrize("catalog", [BACKENDS[0]], indirect=True)
def test_schema_drift_freeze_refuses_and_evolve_adds_the_column(catalog: CatalogHook, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from lockgate.schema_evolution import CuratedSchemaFrozen, IncompatibleSchemaError, evolve_iceberg_table

    first = publish(catalog, tmp_path, DS, 1, "run-1")
    added = [*COLUMNS[:4], Column("unit", "string"), COLUMNS[4]]

    def contract(columns: list[Column], policy: str) -> SimpleNamespace:
        return SimpleNamespace(storage_columns=columns, schema_drift={"curated": policy}, path="readings.yaml")

    log = SimpleNamespace(warning=lambda *args: None)
    with pytest.raises(CuratedSchemaFrozen, match=r"frozen but the contract changed it: added \['unit'\]"):
        evolve_iceberg_table(catalog.table("readings"), contract(added, "freeze"), log)
    assert [f.name for f in catalog.table("readings").schema().fields] == [c.name for c in COLUMNS]

    retyped = [Column(c.name, "string") if c.name == "version" else c for c in COLUMNS]
    with pytest.raises(IncompatibleSchemaError, match=r"column version: old type integer, new type string"):
        evolve_iceberg_table(catalog.table("readings"), contract(retyped, "evolve"), log)

    table = evolve_iceberg_table(catalog.table("readings"), contract(added, "evolve"), log)
    assert [f.name for f in table.schema().fields] == [c.name for c in COLUMNS] + ["unit"]
    # the older files read the new column as null, through the current snapshot and the first one
    rows = catalog.read_date("readings", DS).read_all()
    assert rows["unit"].null_count == rows.num_rows == 150
    assert catalog.read_date("readings", DS, first).read_all().num_rows == 150


# -- readers: delete files written by another engine, the Redshift COPY manifest -----------------


@pytest.mark.parametrize("catalog", [BACKENDS[0]], indirect=True)
def test_a_date_with_delete_files_is_read_through_the_scan_by_every_reader(
    catalog: CatalogHook, tmp_path: Path
) -> None:
    from lockgate.hooks.iceberg import content_checksum

    publish(catalog, tmp_path, DS, 1, "run-1")
    published = catalog.local_date("readings", DS, tmp_path / "before")
    assert not published.materialised  # no delete files: the table's data files themselves
    files = catalog.date_files("readings", DS)
    add_position_deletes(catalog, "readings", files[0], [0, 1, 2, 3, 4], tmp_path)

    assert len(rows_of(catalog, DS)) == 145  # pyiceberg's scan applies the deletes
    current = catalog.local_date("readings", DS, tmp_path / "after")
    assert current.materialised
    assert current.rows == 145
    assert (current.keys, current.locations) == ((), ())
    (materialised,) = current.files
    assert materialised.is_relative_to(tmp_path / "after")
    con = duckdb.connect()
    read = con.execute(
        "SELECT station_id, region, version, value, ds FROM read_parquet($1) ORDER BY ALL", [str(materialised)]
    ).fetchall()
    con.close()
    assert read == rows_of(catalog, DS)  # exactly the scan's rows
    assert current.checksum != published.checksum
    assert current.checksum == content_checksum(catalog.table("readings").schema(), [materialised])[1]
    # the load's COPY manifest lists the scan's rows, not the data files holding deleted rows
    from lockgate.operators.load import write_copy_manifest

    manifest_uri = write_copy_manifest(catalog.lake, current.manifest(), list(current.files))
    entries = catalog.lake.read_json(catalog._lake_key(manifest_uri))["entries"]
    assert [e["url"] for e in entries] == [
        catalog.lake.uri(f"curated/readings/copy-manifests/ds={DS}/snapshot-{current.snapshot_id}/rows.parquet")
    ]


def test_the_copy_manifest_lists_exactly_the_snapshots_files_of_the_date(catalog: CatalogHook, tmp_path: Path) -> None:
    from lockgate.operators.load import write_copy_manifest

    publish(catalog, tmp_path, DS, 1, "run-1")
    publish(catalog, tmp_path, OTHER, 7, "run-other")
    publish(catalog, tmp_path, DS, 2, "run-2")  # the first version's files stay for time travel
    current = catalog.local_date("readings", DS, tmp_path / "w")

    uri = write_copy_manifest(catalog.lake, current.manifest(), list(current.files))
    assert uri == catalog.lake.uri(f"curated/readings/copy-manifests/ds={DS}/snapshot-{current.snapshot_id}.json")
    entries = catalog.lake.read_json(catalog._lake_key(uri))["entries"]

    table = catalog.table("readings")
    scan = table.scan(row_filter=f"ds = '{DS}'", snapshot_id=table.current_snapshot().snapshot_id)
    in_snapshot = {task.file.file_path: task.file.file_size_in_bytes for task in scan.plan_files()}
    assert {e["url"]: e["meta"]["content_length"] for e in entries} == in_snapshot
    assert all(e["mandatory"] for e in entries)
    listed = {o.key: o.size for o in catalog.lake.list("curated/readings/data")}
    assert {catalog._lake_key(e["url"]): e["meta"]["content_length"] for e in entries}.items() <= listed.items()
    assert len(listed) == 3 * len(REGIONS)  # both versions of DS and OTHER's files are in the lake...
    assert len(entries) == len(REGIONS)  # ...the manifest lists the current version of DS only
    if catalog.lake.is_s3:
        assert all(
            e["url"].startswith(f"s3://{catalog.lake.url.removeprefix('s3://').split('/')[0]}/") for e in entries
        )
    rows = (
        duckdb.connect()
        .execute("SELECT DISTINCT version FROM read_parquet($1)", [[str(f) for f in current.files]])
        .fetchall()
    )
    assert rows == [(2,)]


@pytest.mark.parametrize("catalog", [BACKENDS[0]], indirect=True)
def test_the_dates_checksum_names_its_rows_whoever_wrote_the_files(catalog: CatalogHook, tmp_path: Path) -> None:
    from lockgate.hooks.iceberg import CHECKSUM, FILES, content_checksum

    first = publish(catalog, tmp_path, DS, 1, "run-1")
    summary = catalog.table("readings").current_snapshot().summary.additional_properties
    published = catalog.local_date("readings", DS, tmp_path / "a")
    files = [Path(p) for p in published.files]
    assert published.checksum == summary[CHECKSUM] == content_checksum(catalog.table("readings").schema(), files)[1]
    assert FILES in summary

    publish(catalog, tmp_path, DS, 1, "run-2")  # the same rows, written again: other files, same checksum
    assert catalog.local_date("readings", DS, tmp_path / "b").checksum == published.checksum
    publish(catalog, tmp_path, DS, 3, "run-3")  # other rows, another checksum
    assert catalog.local_date("readings", DS, tmp_path / "c").checksum != published.checksum
    curated.rollback(catalog, "readings", DS, snapshot_id=first)  # the first files again: their checksum
    assert catalog.local_date("readings", DS, tmp_path / "d").checksum == published.checksum
    assert catalog.table("readings").current_snapshot().summary.additional_properties[CHECKSUM] == published.checksum

    # another engine rewrites the date (a compaction: the same rows in new files, no Lockgate
    # summary): the checksum is computed from the rows and is the same
    table = catalog.table("readings")
    rows = table.scan(row_filter=f"ds = '{DS}'").to_arrow()
    table.overwrite(rows, overwrite_filter=f"ds = '{DS}'")
    rewritten = catalog.local_date("readings", DS, tmp_path / "e")
    assert {Path(p) for p in rewritten.files}.isdisjoint(files)
    assert rewritten.checksum == published.checksum
