"""A whole pipeline run with a known secret in every connection; the secret must appear nowhere.

``air_quality_daily`` runs through ``dag.test()`` with:

* the lake on S3 (moto server) through an ``aws`` connection whose secret key is the secret;
* the warehouse in PostgreSQL as a ``loader`` role whose password is the secret;
* the alert webhook's password and token header (extra) being the secret, pointing at a local
  receiver (the day has a data-quality warning, and a second run fails, so alerts are sent);
* the PII key (``lockgate_pii_key``) being the secret, with the stations contract hashing ``name``.

Then the secret, URL-encoded and base64-encoded (alone and as ``login:secret``), is searched for in:
every file under ``AIRFLOW_HOME`` (task logs, the SQLite metadata database with XCom, rendered
fields and run state, the OpenLineage file transport), what the process wrote to stdout/stderr and
its log records, every OpenLineage event, every notification received, and every object in the lake
(raw, staged, quality, quarantine, curated, reports). The scanner is proven to find the secret
when it is there, so the test cannot pass by looking nowhere.
"""

from __future__ import annotations

import base64
import csv
import json
import shutil
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import psycopg
import pytest
import yaml
from psycopg import sql

from lockgate.cli import run_dag
from lockgate.sample_data import generate
from tests.support.http_recorder import RecordingHTTPServer
from tests.support.s3 import FAKE_ACCESS_KEY, REGION, lake_conn_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

REPO_INCLUDE = Path(__file__).resolve().parents[2] / "include"
DAG_ID = "air_quality_daily"
DAY_1, DAY_2 = "2026-01-02", "2026-01-03"
#: characters that URL-encoding and base64 change, so each form is really a different string
SECRET = "Lg$ecret/9f2c+71d4=e8a3!"
WEBHOOK_LOGIN = "alerts-bot"


def secret_forms(secret: str = SECRET) -> dict[str, bytes]:
    """The secret as it could leak: as is, URL-encoded, base64 (alone and in HTTP basic auth)."""
    forms = {
        "plain": secret,
        "url-encoded": quote(secret, safe=""),
        "url-encoded (form)": quote_plus(secret),
        "base64": base64.b64encode(secret.encode()).decode(),
        "base64 (urlsafe)": base64.urlsafe_b64encode(secret.encode()).decode(),
        "basic auth": base64.b64encode(f"{WEBHOOK_LOGIN}:{secret}".encode()).decode(),
        "json-escaped": json.dumps(secret)[1:-1],
    }
    return {name: value.encode() for name, value in forms.items()}


def scan(artifacts: Mapping[str, bytes]) -> list[str]:
    """``<artifact>: <form>`` for every form of the secret found in any artifact."""
    return [
        f"{name}: {form}"
        for name, data in artifacts.items()
        for form, needle in secret_forms().items()
        if needle in data
    ]


def files_under(root: Path) -> dict[str, bytes]:
    return {f"file {p}": p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def lake_objects(aws_conn_id: str, bucket: str) -> dict[str, bytes]:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    hook = S3Hook(aws_conn_id=aws_conn_id)
    client = hook.get_conn()
    return {
        f"s3://{bucket}/{key}": client.get_object(Bucket=bucket, Key=key)["Body"].read()
        for key in hook.list_keys(bucket_name=bucket) or []
    }


@pytest.fixture
def secret_environment(
    lockgate_home: Path,
    moto_server: str,
    s3_bucket: str,
    pg_dsn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, Any]]:
    """Every connection of the pipeline carries the secret; yields what the scan needs."""
    # the lake's own aws connection: same fake access key as the bucket fixture's, the secret as its
    # secret key (moto does not check signatures, so the bucket stays readable with either)
    monkeypatch.setenv(
        "AIRFLOW_CONN_LOCKGATE_SECRET_AWS",
        json.dumps(
            {
                "conn_type": "aws",
                "login": FAKE_ACCESS_KEY,
                "password": SECRET,
                "extra": {
                    "endpoint_url": moto_server,
                    "region_name": REGION,
                    "config_kwargs": {"s3": {"addressing_style": "path"}},
                },
            }
        ),
    )
    monkeypatch.setenv(*lake_conn_env(f"s3://{s3_bucket}/lake", "lockgate_secret_aws"))
    # a least-privilege loader role with the secret as its password (the warehouse's tables are its own)
    role = f"lockgate_loader_{uuid.uuid4().hex[:8]}"  # roles are server-wide: unique, dropped afterwards
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        dbname = conn.info.dbname
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(SECRET)))
        conn.execute(
            sql.SQL("GRANT CONNECT, CREATE, TEMPORARY ON DATABASE {} TO {}").format(
                sql.Identifier(dbname), sql.Identifier(role)
            )
        )
        conn.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(sql.Identifier(role)))
    params = psycopg.conninfo.conninfo_to_dict(pg_dsn)
    monkeypatch.setenv(
        "AIRFLOW_CONN_LOCKGATE_WAREHOUSE",
        json.dumps(
            {
                "conn_type": "postgres",
                "host": params["host"],
                "port": int(params["port"]),
                "login": role,
                "password": SECRET,
                "schema": dbname,
            }
        ),
    )
    monkeypatch.setenv("AIRFLOW_CONN_LOCKGATE_PII_KEY", json.dumps({"conn_type": "generic", "password": SECRET}))
    # the flagship's contracts, with the station names as personal data (hashed with the secret key)
    include = tmp_path / "include"
    shutil.copytree(REPO_INCLUDE, include, symlinks=True)
    stations = include / "contracts" / "stations.yaml"
    spec = yaml.safe_load(stations.read_text())
    spec["columns"]["name"]["pii"] = "hash"
    stations.write_text(yaml.safe_dump(spec, sort_keys=False))
    monkeypatch.setenv("LOCKGATE_INCLUDE_DIR", str(include))
    from lockgate.sql import _environment

    _environment.cache_clear()
    with RecordingHTTPServer() as receiver:
        monkeypatch.setenv(
            "AIRFLOW_CONN_LOCKGATE_ALERTS",
            json.dumps(
                {
                    "conn_type": "http",
                    "host": "127.0.0.1",
                    "port": receiver.port,
                    "schema": "http",
                    "login": WEBHOOK_LOGIN,
                    "password": SECRET,
                    "extra": {"X-Token": SECRET},
                }
            ),
        )
        try:
            yield {"receiver": receiver, "bucket": s3_bucket, "aws": "lockgate_secret_aws", "dsn": pg_dsn, "role": role}
        finally:
            _environment.cache_clear()
            with psycopg.connect(pg_dsn, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_a_known_secret_appears_nowhere(
    secret_environment: dict[str, Any],
    airflow_home: Path,
    lineage_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = secret_environment
    receiver: RecordingHTTPServer = env["receiver"]

    # day 1: a smoke event trips a warn-level check (dq_warning), then the run summary
    assert run_dag(DAG_ID, DAY_1) == "success"
    # day 2: a partner file without its unit column fails the gate (task_failure, failed run summary)
    sources = tmp_path / "broken-sources"
    generate(DAY_2, sources)
    partner = sources / "partner" / f"readings_{DAY_2}.csv"
    with partner.open(newline="") as fh:
        rows = [row[:-1] for row in csv.reader(fh)]
    with partner.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    monkeypatch.setenv("AIRFLOW_VAR_POLLUTRACK_SOURCE_URL", str(sources))
    assert run_dag(DAG_ID, DAY_2) == "failed"

    # the run really used every secret-bearing connection
    events = {r.json()["event"] for r in receiver.requests}
    assert {"dq_warning", "task_failure"} <= events, events
    tokens = [{k.lower(): v for k, v in r.headers.items()}.get("x-token") for r in receiver.requests]
    assert tokens == [SECRET] * len(receiver.requests)  # the token was used, as a header
    with psycopg.connect(env["dsn"]) as conn:
        (owner,) = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'dim_station'").fetchone()
        assert owner == env["role"]
        names = [n for (n,) in conn.execute("SELECT DISTINCT name FROM dim_station").fetchall()]
    assert names
    assert all(len(n) == 64 for n in names)  # HMACs, keyed with the secret
    lake = lake_objects(env["aws"], env["bucket"])
    assert any(k.split("/lake/", 1)[1].startswith("curated/readings/") for k in lake)
    assert any("/quarantine/" in k for k in lake)
    assert any("/reports/" in k for k in lake)

    captured = capfd.readouterr()
    lineage_events = [json.loads(line) for line in lineage_file.read_text().splitlines() if line.strip()]
    assert lineage_events
    xcom = _xcom_values(airflow_home)
    assert xcom, "no XCom values were recorded: the scan would look at nothing"
    artifacts: dict[str, bytes] = {
        **files_under(airflow_home),  # task logs, metadata DB (XCom, rendered fields), lineage file
        **{f"xcom {i}": v for i, v in enumerate(xcom)},
        "stdout": captured.out.encode(),
        "stderr": captured.err.encode(),
        "log records": caplog.text.encode(),
        **{f"lineage event {i}": json.dumps(e).encode() for i, e in enumerate(lineage_events)},
        # bodies and paths (the token header and basic auth carry the secret by design)
        **{f"notification {i} {r.path}": r.path.encode() + b" " + r.body for i, r in enumerate(receiver.requests)},
        **lake,
    }
    # the places the scan reads really hold the run's traces (task logs, the gate's log lines...)
    task_logs = [k for k in artifacts if k.startswith(f"file {airflow_home / 'logs'}/") and f"dag_id={DAG_ID}" in k]
    log_text = b"".join(artifacts[k] for k in task_logs) + captured.out.encode() + captured.err.encode()
    assert b"gate_readings" in log_text, sorted(artifacts)[:50]
    assert b"partition_stations" in log_text
    size = sum(map(len, artifacts.values()))
    print(f"scanned {len(artifacts)} artifacts ({size} bytes), {len(task_logs)} task log files")
    assert scan(artifacts) == []

    # the scanner finds the secret, in every form, when it is there: planted where the scan reads
    planted_file = airflow_home / "logs" / "planted-by-test_secret_scan.log"
    planted_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        for form, needle in secret_forms().items():
            planted_file.write_bytes(b"before " + needle + b" after")
            found = scan(files_under(airflow_home))
            assert f"file {planted_file}: {form}" in found, form
    finally:
        planted_file.unlink()
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    S3Hook(aws_conn_id=env["aws"]).load_bytes(
        b'{"leak": "' + secret_forms()["basic auth"] + b'"}', "lake/curated/planted.json", env["bucket"]
    )
    assert scan(lake_objects(env["aws"], env["bucket"])) == [
        f"s3://{env['bucket']}/lake/curated/planted.json: basic auth"
    ]


def _xcom_values(airflow_home: Path) -> list[bytes]:
    """Every XCom value in the metadata database, as stored."""
    import sqlite3

    with sqlite3.connect(airflow_home / "airflow.db") as db:
        rows = db.execute("SELECT value FROM xcom WHERE dag_id = ?", [DAG_ID]).fetchall()
    return [v if isinstance(v, bytes) else str(v).encode() for (v,) in rows]
