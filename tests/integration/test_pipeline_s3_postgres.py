"""The air_quality_daily chain with everything remote: source files in S3, the lake in S3 (moto
server, the real S3 HTTP API) and the warehouse in a real PostgreSQL database.

The results are read back independently: S3 through the amazon provider's S3Hook, PostgreSQL
through psycopg. The embedded defaults ($LOCKGATE_HOME) must stay untouched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from lockgate.contracts import load_contract
from lockgate.operators.load import AUDIT_TABLE
from lockgate.sample_data import REGIONS, SampleBatch, generate
from tests.deliver.receiver import DeliveryReceiver
from tests.support.pg import airflow_conn_env
from tests.support.pipeline import DAG_ID, TABLES, ChainRun, content_checksum_sql, run_chain
from tests.support.s3 import lake_conn_env

pytestmark = pytest.mark.integration

DS = "2026-01-02"
RUN_1, RUN_2 = "scheduled__2026-01-02T00:00:00+00:00", "manual__rerun"


@dataclass
class RemotePipeline:
    bucket: str
    dsn: str
    home: Path
    batch: SampleBatch
    keys_first: list[str]
    first: ChainRun
    rerun: ChainRun
    checksums_first: dict[str, tuple[int, str]]
    checksums_rerun: dict[str, tuple[int, str]]
    audit_first: list[tuple[Any, ...]]
    audit_rerun: list[tuple[Any, ...]]
    keys: list[str]
    s3: Any
    #: the rows the notification receiver accepted after the first run, and after the rerun
    notified_first: list[dict[str, Any]]
    notified: list[dict[str, Any]]

    def pg(self, sql: str) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.dsn) as conn:
            conn.execute("SET TIME ZONE 'UTC'")
            return [tuple(r) for r in conn.execute(sql).fetchall()]

    def read_json(self, key: str) -> Any:
        return json.loads(self.s3.read_key(key, self.bucket))


def pg_checksums(dsn: str) -> dict[str, tuple[int, str]]:
    import psycopg

    out = {}
    with psycopg.connect(dsn) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        for dataset, table in TABLES.items():
            columns = [c.name for c in load_contract(dataset).storage_columns]
            row = conn.execute(content_checksum_sql(f'"public"."{table}"', columns)).fetchone()
            assert row is not None
            out[table] = (int(row[0]), str(row[1]))
    return out


def pg_audit(dsn: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(dsn) as conn:
        return [
            tuple(r)
            for r in conn.execute(
                "SELECT table_name, partition_ds, dag_id, run_id, dataset, mode, rows_loaded, checksum, loaded_at "
                f'FROM "public"."{AUDIT_TABLE}" ORDER BY table_name, partition_ds'
            ).fetchall()
        ]


@pytest.fixture
def remote(
    s3_bucket: str, aws_conn_id: str, pg_dsn: str, lockgate_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> RemotePipeline:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    s3 = S3Hook(aws_conn_id=aws_conn_id)
    batch = generate(DS, tmp_path / "sources")
    for path in batch.paths:
        s3.load_file(str(path), f"in/{path.parent.name}/{path.name}", s3_bucket)

    monkeypatch.setenv(*lake_conn_env(f"s3://{s3_bucket}/lake", aws_conn_id))
    monkeypatch.setenv(*airflow_conn_env("lockgate_warehouse", pg_dsn))
    # everything remote: the curated tables' catalog in PostgreSQL too, and the notification API a
    # real HTTP receiver (without these connections both would use their embedded defaults under
    # $LOCKGATE_HOME: the SQLite catalog file and the outbox folder)
    monkeypatch.setenv(*airflow_conn_env("lockgate_catalog", pg_dsn))

    sources = f"s3://{s3_bucket}/in"
    with DeliveryReceiver() as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_POLLUTRACK_NOTIFY", receiver.connection())
        first = run_chain(sources, DS, RUN_1, source_aws_conn_id=aws_conn_id)
        keys_first = sorted(s3.list_keys(bucket_name=s3_bucket, prefix="lake/") or [])
        checksums_first, audit_first = pg_checksums(pg_dsn), pg_audit(pg_dsn)
        notified_first = receiver.rows()
        rerun = run_chain(sources, DS, RUN_2, source_aws_conn_id=aws_conn_id)
        notified = receiver.rows()
    return RemotePipeline(
        bucket=s3_bucket,
        dsn=pg_dsn,
        home=lockgate_home,
        batch=batch,
        keys_first=keys_first,
        first=first,
        rerun=rerun,
        checksums_first=checksums_first,
        checksums_rerun=pg_checksums(pg_dsn),
        audit_first=audit_first,
        audit_rerun=pg_audit(pg_dsn),
        keys=sorted(s3.list_keys(bucket_name=s3_bucket, prefix="lake/") or []),
        s3=s3,
        notified_first=notified_first,
        notified=notified,
    )


def test_pipeline_on_s3_and_postgres(remote: RemotePipeline) -> None:
    """One test for the whole remote run (the fixture is expensive): lake, warehouse, rerun."""
    batch, ds_date = remote.batch, date.fromisoformat(DS)
    gw, pt = batch.gateway, batch.partner
    raw_run = "run=scheduled__2026-01-02T00_00_00_00_00"

    # --- the lake zones exist in the bucket, under the lake prefix --------------------------------
    def under(prefix: str) -> list[str]:
        return [k for k in remote.keys_first if k.startswith(prefix)]

    # one folder per source file (the readings ingest is mapped over the files the S3 listing found)
    assert under(f"lake/raw/readings/ds={DS}/{raw_run}/") == [
        f"lake/raw/readings/ds={DS}/{raw_run}/gateway/readings_{DS}/_manifest.json",
        f"lake/raw/readings/ds={DS}/{raw_run}/gateway/readings_{DS}/readings_{DS}.ndjson",
        f"lake/raw/readings/ds={DS}/{raw_run}/partner/readings_{DS}/_manifest.json",
        f"lake/raw/readings/ds={DS}/{raw_run}/partner/readings_{DS}/readings_{DS}.csv",
    ]
    assert remote.first.results["list_partner_files"] == [
        {"source": f"s3://{remote.bucket}/in/partner/readings_{DS}.csv", "source_name": f"partner/readings_{DS}"}
    ]
    assert f"lake/staged/readings/ds={DS}/part-0.parquet" in remote.keys_first
    assert f"lake/quarantine/readings/ds={DS}/quarantine.parquet" in remote.keys_first
    assert f"lake/quality/readings/ds={DS}/report.json" in remote.keys_first
    # the curated zone: one Iceberg table per dataset, data files by date and region, and metadata
    curated = under(f"lake/curated/readings/data/ds={DS}/")
    assert {k.split("/")[5] for k in curated if k.endswith(".parquet")} == {f"region={r}" for r in REGIONS}
    assert under("lake/curated/readings/metadata/")
    assert f"lake/reports/{DAG_ID}/ds={DS}/summary.json" in remote.keys_first
    for dataset in TABLES:
        assert under(f"lake/curated/{dataset}/data/ds={DS}/"), dataset
        assert f"lake/staged/{dataset}/ds={DS}/part-0.parquet" in remote.keys_first
    assert all(k.startswith("lake/") for k in remote.keys)
    # nothing fell back to the embedded lake, catalog, outbox or DuckDB warehouse
    assert list(remote.home.iterdir()) == []

    # --- the stations Unhealthy or worse went to the notification API, once -----------------------
    unhealthy = remote.pg(
        "SELECT station_id, aqi, category FROM agg_air_quality_daily "
        "WHERE category IN ('Unhealthy', 'Very Unhealthy', 'Hazardous') ORDER BY station_id"
    )
    assert batch.smoke_event is not None
    assert batch.smoke_event.station_id in {r[0] for r in unhealthy}
    sent = sorted((r["station_id"], r["aqi"], r["category"]) for r in remote.notified_first)
    assert sent == unhealthy
    assert remote.notified == remote.notified_first  # the rerun's content is the same: nothing resent

    # --- raw objects are the source files, byte for byte, described by their manifest -------------
    import hashlib

    manifest = remote.read_json(f"lake/raw/readings/ds={DS}/{raw_run}/partner/readings_{DS}/_manifest.json")
    (entry,) = manifest["files"]
    assert entry["source"] == f"s3://{remote.bucket}/in/partner/readings_{DS}.csv"
    assert entry["key"] == f"raw/readings/ds={DS}/{raw_run}/partner/readings_{DS}/readings_{DS}.csv"  # lake-relative
    body = remote.s3.get_conn().get_object(Bucket=remote.bucket, Key="lake/" + entry["key"])["Body"].read()
    assert body == batch.partner_path.read_bytes()
    assert entry["sha256"] == hashlib.sha256(body).hexdigest()
    assert (entry["bytes"], entry["rows"]) == (len(body), pt.rows)

    # --- the gate's accounting, and PostgreSQL holds exactly what it passed ------------------------
    report = remote.read_json(f"lake/quality/readings/ds={DS}/report.json")
    assert report["rows_in"] == gw.rows + pt.rows
    assert report["rows_quarantined"] == sum(
        s.malformed + s.missing_values + s.out_of_range + s.non_numeric for s in (gw, pt)
    )
    assert report["duplicates_removed"] == gw.duplicates + pt.duplicates
    loaded = report["rows_in"] - report["rows_quarantined"] - report["duplicates_removed"]
    assert loaded == gw.clean_rows + pt.clean_rows
    assert remote.pg(
        'SELECT count(*), count(DISTINCT (station_id, observed_at, pollutant)) FROM "fact_air_quality_hourly"'
    ) == [(loaded, loaded)]
    for dataset, table in TABLES.items():
        r = remote.read_json(f"lake/quality/{dataset}/ds={DS}/report.json")
        want = r["rows_in"] - r["rows_quarantined"] - r["duplicates_removed"]
        assert remote.pg(f'SELECT count(*) FROM "{table}"') == [(want,)], table
    assert remote.pg("SELECT DISTINCT ds FROM fact_air_quality_hourly") == [(ds_date,)]
    # the real column types, not text
    types = dict(
        remote.pg(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = 'fact_air_quality_hourly'"
        )
    )
    assert types["observed_at"] == "timestamp with time zone"
    assert types["value"] == "double precision"
    assert types["ds"] == "date"

    # --- the daily AQI: the smoke-event station tops the day, by PM2.5 -----------------------------
    assert batch.smoke_event is not None
    top = remote.pg("SELECT station_id, dominant_pollutant FROM agg_air_quality_daily ORDER BY aqi DESC LIMIT 2")
    assert top[0] == (batch.smoke_event.station_id, "pm25")
    summary = remote.rerun.results["summarize"]
    assert summary["top_aqi"][0]["station_id"] == batch.smoke_event.station_id
    assert all(d["balanced"] for d in summary["datasets"])
    assert summary["locations"]["lake"] == f"s3://{remote.bucket}/lake"

    # --- lineage names the bucket objects and the PostgreSQL table -------------------------------
    bucket_ns = f"s3://{remote.bucket}"
    (partner,) = remote.first.operators["ingest_partner"]  # mapped: one instance per file
    ingest = partner.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in ingest.inputs] == [(bucket_ns, f"in/partner/readings_{DS}.csv")]
    assert [(d.namespace, d.name) for d in ingest.outputs] == [(bucket_ns, "lake/raw/readings")]
    gate = remote.first.operators["gate_readings"].get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in gate.outputs] == [
        (bucket_ns, "lake/staged/readings"),
        (bucket_ns, "lake/quarantine/readings"),
    ]
    load = remote.first.operators["load_fact_air_quality_hourly"].get_openlineage_facets_on_complete(None)
    url = urlsplit(remote.dsn)
    host_port, dbname = f"{url.hostname}:{url.port or 5432}", url.path.lstrip("/")
    assert [(d.namespace, d.name) for d in load.inputs] == [(bucket_ns, "lake/curated/readings")]
    assert [(d.namespace, d.name) for d in load.outputs] == [
        (f"postgres://{host_port}", f"{dbname}.public.fact_air_quality_hourly")
    ]
    fields = [f.name for f in load.outputs[0].facets["schema"].fields]
    assert fields == [c.name for c in load_contract("readings").storage_columns]

    # --- the rerun changes nothing in the warehouse -------------------------------------------------
    assert remote.checksums_first["fact_air_quality_hourly"][0] == loaded
    assert remote.checksums_rerun == remote.checksums_first
    # one audit row per table and date, replaced by the rerun (not added)
    assert [r[:4] for r in remote.audit_first] == [(t, ds_date, DAG_ID, RUN_1) for t in sorted(TABLES.values())]
    assert [r[:4] for r in remote.audit_rerun] == [(t, ds_date, DAG_ID, RUN_2) for t in sorted(TABLES.values())]
    assert [r[4:8] for r in remote.audit_rerun] == [r[4:8] for r in remote.audit_first]  # same rows, same checksum
    assert all(b[8] >= a[8] for a, b in zip(remote.audit_first, remote.audit_rerun, strict=True))

    # --- and in the lake: the same objects, plus the rerun's own raw folder -------------------------
    rerun_raw = {k for k in remote.keys if "/run=manual__rerun/" in k}
    assert {k.replace("/run=manual__rerun/", f"/{raw_run}/") for k in rerun_raw} == {
        k for k in remote.keys_first if f"/{raw_run}/" in k
    }
    # the rerun's publishes added new data files and snapshots; the date holds the same rows
    curated_first = {k for k in remote.keys_first if k.startswith("lake/curated/")}
    assert set(remote.keys) - rerun_raw - {k for k in remote.keys if k.startswith("lake/curated/")} == (
        set(remote.keys_first) - curated_first
    )
    assert curated_first < {k for k in remote.keys if k.startswith("lake/curated/")}  # time travel keeps them
    first, rerun = dict(remote.first.results["partition_readings"]), dict(remote.rerun.results["partition_readings"])
    assert first.pop("snapshot_id") != rerun.pop("snapshot_id")
    assert first == rerun  # same rows, files and checksum


# ------------------------------------------------------------------------------ ingest from S3


def _tree(ds: str) -> dict[str, bytes]:
    """Source files around the ones a pattern should match, as relative paths."""
    return {
        f"gateway/readings_{ds}.ndjson": b'{"station_id": "ST-001"}\n',
        f"gateway/archive/readings_{ds}.ndjson": b'{"station_id": "OLD"}\n',  # one folder down
        f"gateway/.readings_{ds}.ndjson": b"half written\n",  # hidden upload in progress
        f"gateway/readings_{ds}.ndjson.bak": b"backup\n",
        "stations/a/stations.csv": b"station_id\nST-001\nST-002\n",  # the same name in two folders
        "stations/b/stations.csv": b"station_id\nST-003\n",
    }


@pytest.mark.parametrize(
    ("pattern", "want"),
    [
        ("gateway/readings_{ds}.ndjson", {"readings_{ds}.ndjson": "gateway/readings_{ds}.ndjson"}),
        ("gateway/*.ndjson", {"readings_{ds}.ndjson": "gateway/readings_{ds}.ndjson"}),
        (
            "stations/*/stations.csv",
            {"a/stations.csv": "stations/a/stations.csv", "b/stations.csv": "stations/b/stations.csv"},
        ),
    ],
)
def test_s3_source_patterns_match_like_a_local_glob(
    s3_bucket: str,
    aws_conn_id: str,
    lockgate_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pattern: str,
    want: dict[str, str],
) -> None:
    """The same tree in a folder and in a bucket: the same files are ingested, under distinct keys."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from lockgate.hooks.lake import LakeHook
    from lockgate.operators.ingest import IngestOperator
    from tests.support.pipeline import context

    monkeypatch.delenv("AIRFLOW_CONN_LOCKGATE_LAKE", raising=False)
    s3 = S3Hook(aws_conn_id=aws_conn_id)
    tree = _tree(DS)
    for rel, data in tree.items():
        (tmp_path / "src" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / rel).write_bytes(data)
        s3.load_bytes(data, f"in/{rel}", s3_bucket)
    dataset = "stations" if pattern.startswith("stations") else "readings"
    want = {k.format(ds=DS): v.format(ds=DS) for k, v in want.items()}
    lake = LakeHook()

    ingested = {}
    for where, source in (("local", str(tmp_path / "src")), ("s3", f"s3://{s3_bucket}/in")):
        op = IngestOperator(
            task_id=f"ingest_{where}",
            dataset=dataset,
            source=f"{source}/{pattern.format(ds=DS)}",
            format="csv" if dataset == "stations" else "ndjson",
            source_aws_conn_id=aws_conn_id,
        )
        manifest = lake.read_json(op.execute(context(DS, RUN_1))["manifest_key"])
        prefix = f"raw/{dataset}/ds={DS}/run=scheduled__2026-01-02T00_00_00_00_00/ingest_{where}/"
        files = {f["key"].removeprefix(prefix): f for f in manifest["files"]}
        # every manifest entry is its own object holding its own source's bytes
        assert {name: lake.local_copy(f["key"], tmp_path / "dl").read_bytes() for name, f in files.items()} == {
            name: tree[rel] for name, rel in want.items()
        }
        assert len({f["key"] for f in manifest["files"]}) == len(manifest["files"])
        ingested[where] = {name: (f["rows"], f["sha256"]) for name, f in files.items()}
    assert ingested["s3"] == ingested["local"]


def test_the_fan_out_listing_finds_the_same_files_in_a_folder_and_a_bucket(
    s3_bucket: str, aws_conn_id: str, tmp_path: Path
) -> None:
    """``list_<source>_files`` (one mapped ingest per entry) lists like the ingest itself: a hidden
    upload in progress, a backup and a subfolder are left out, in a folder and in a bucket alike."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from lockgate.pipelines.runtime import list_source_files

    s3 = S3Hook(aws_conn_id=aws_conn_id)
    for rel, data in _tree(DS).items():
        (tmp_path / "src" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / rel).write_bytes(data)
        s3.load_bytes(data, f"in/{rel}", s3_bucket)
    local = list_source_files(str(tmp_path / "src"), "gateway/*.ndjson", "gateway")
    remote = list_source_files(f"s3://{s3_bucket}/in", "gateway/*.ndjson", "gateway", aws_conn_id=aws_conn_id)
    assert local == [
        {"source": str(tmp_path / f"src/gateway/readings_{DS}.ndjson"), "source_name": f"gateway/readings_{DS}"}
    ]
    assert remote == [
        {"source": f"s3://{s3_bucket}/in/gateway/readings_{DS}.ndjson", "source_name": f"gateway/readings_{DS}"}
    ]
