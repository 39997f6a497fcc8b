"""TLS to PostgreSQL: ``sslmode=verify-full`` from the Airflow connection reaches the warehouse.

A throwaway PostgreSQL server is started with ``ssl=on`` and a certificate signed by a private CA
made here with the ``openssl`` CLI (subject alternative name ``DNS:localhost`` only). The warehouse
connection names the CA in its extras (``sslmode``, ``sslrootcert``):

* host ``localhost`` (in the certificate) connects, and a real load runs over it;
* host ``127.0.0.1`` (the same server, not in the certificate) is refused by libpq;
* without the CA, verify-full is refused too (libpq cannot verify the chain).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
import yaml

from lockgate.contracts import load_contract
from lockgate.formats import count_records
from lockgate.gate import RawFile, run_gate
from lockgate.hooks.lake import LakeHook
from lockgate.hooks.warehouse import WarehouseHook
from lockgate.operators.load import WarehouseLoadOperator
from lockgate.operators.partition import PartitionOperator
from tests.support.pg import PostgresUnavailable, start_throwaway_postgres
from tests.support.requires import unavailable

pytestmark = pytest.mark.integration

REPO_INCLUDE = Path(__file__).resolve().parents[2] / "include"
DS = "2026-01-02"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca_and_server_cert(folder: Path) -> dict[str, Path]:
    """A private CA and a server certificate for ``localhost`` (SAN ``DNS:localhost`` only)."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Lockgate test CA",
             "-keyout", "ca.key", "-out", "ca.crt", cwd=folder)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
             "-keyout", "server.key", "-out", "server.csr", cwd=folder)  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName = DNS:localhost\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "2", "-extfile", "san.ext", "-out", "server.crt", cwd=folder)  # fmt: skip
    return {"ca": folder / "ca.crt", "cert": folder / "server.crt", "key": folder / "server.key"}


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A throwaway PostgreSQL with ssl=on; yields its port and the CA file."""
    if shutil.which("openssl") is None:
        unavailable("the openssl CLI is needed to make the test CA", "apt-get install openssl")
    try:
        server = start_throwaway_postgres()
    except PostgresUnavailable as exc:
        unavailable(str(exc), "apt-get install postgresql (its binaries start the throwaway server)")
    try:
        pki = make_ca_and_server_cert(tmp_path_factory.mktemp("pki"))
        # the server reads its key as its own user, and refuses a key others can read
        for name in ("cert", "key"):
            target = server.root / f"server.{name}"
            shutil.copy(pki[name], target)
            os.chmod(target, 0o600)
            if server.run_as is not None:
                import pwd

                account = pwd.getpwnam(server.run_as)
                os.chown(target, account.pw_uid, account.pw_gid)
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute(f"ALTER SYSTEM SET ssl_cert_file = '{server.root / 'server.cert'}'")
            conn.execute(f"ALTER SYSTEM SET ssl_key_file = '{server.root / 'server.key'}'")
            conn.execute("ALTER SYSTEM SET ssl = on")
            conn.execute("SELECT pg_reload_conf()")
        with psycopg.connect(server.dsn(), autocommit=True, sslmode="require") as conn:
            assert conn.execute("SHOW ssl").fetchone() == ("on",), server.log_tail()
        yield {"port": server.port, "ca": pki["ca"], "server": server}
    finally:
        server.stop()


def warehouse_conn(monkeypatch: pytest.MonkeyPatch, port: int, host: str, **extra: str) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_LOCKGATE_WAREHOUSE",
        json.dumps(
            {
                "conn_type": "postgres",
                "host": host,
                "port": port,
                "login": "postgres",
                "schema": "postgres",
                "extra": extra,
            }
        ),
    )


def test_verify_full_to_the_certified_host_connects_and_loads(
    tls_server: dict[str, Any], lockgate_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse_conn(
        monkeypatch, tls_server["port"], "localhost", sslmode="verify-full", sslrootcert=str(tls_server["ca"])
    )
    hook = WarehouseHook()
    # the server's own view of this session: encrypted
    (ssl_in_use,) = hook.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")[0]
    assert ssl_in_use is True

    # one real load over the verified connection: contract -> gate -> curated -> PostgreSQL
    contracts = tmp_path / "include" / "contracts"
    contracts.mkdir(parents=True)
    shutil.copy(REPO_INCLUDE / "contracts" / "contract.schema.json", contracts)
    for dialect in ("duckdb", "postgres", "common"):
        (tmp_path / "include" / "sql" / dialect).parent.mkdir(exist_ok=True)
        (tmp_path / "include" / "sql" / dialect).symlink_to(REPO_INCLUDE / "sql" / dialect)
    monkeypatch.setenv("LOCKGATE_INCLUDE_DIR", str(tmp_path / "include"))
    from lockgate.sql import _environment

    _environment.cache_clear()
    spec = {
        "dataset": "sites",
        "columns": {"site_id": {"type": "string", "nullable": False}, "capacity": {"type": "integer"}},
        "primary_key": ["site_id"],
    }
    (contracts / "sites.yaml").write_text(yaml.safe_dump(spec))
    source = tmp_path / "sites.csv"
    source.write_text("site_id,capacity\nS1,10\nS2,20\n")
    outcome = run_gate(
        load_contract("sites"),
        [RawFile(source.name, source, "csv", count_records(source))],
        ds=DS,
        workdir=tmp_path / "g",
    )
    LakeHook().put_file(outcome.staged_path, f"staged/sites/ds={DS}/part-0.parquet")
    context: Any = {"ds": DS, "run_id": "manual__tls", "dag": SimpleNamespace(dag_id="tls")}
    PartitionOperator(task_id="p", dataset="sites").execute(context)
    try:
        result = WarehouseLoadOperator(
            task_id="load", dataset="sites", table="tls_sites", mode="replace_partition"
        ).execute(context)
        assert result["rows_loaded"] == 2
        assert hook.query("SELECT site_id, capacity FROM tls_sites ORDER BY site_id") == [("S1", 10), ("S2", 20)]
    finally:
        _environment.cache_clear()
        with psycopg.connect(tls_server["server"].dsn(), autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS tls_sites, lockgate_load_audit CASCADE")


def test_verify_full_refuses_a_host_name_not_in_the_certificate(
    tls_server: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # 127.0.0.1 is the very same server, but the certificate only names localhost
    warehouse_conn(
        monkeypatch, tls_server["port"], "127.0.0.1", sslmode="verify-full", sslrootcert=str(tls_server["ca"])
    )
    with pytest.raises(Exception, match=r"(?i)does not match host name"):
        WarehouseHook().query("SELECT 1")


def test_verify_full_with_another_ca_is_refused(
    tls_server: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other_ca = make_ca_and_server_cert(tmp_path / "other")["ca"]
    warehouse_conn(monkeypatch, tls_server["port"], "localhost", sslmode="verify-full", sslrootcert=str(other_ca))
    with pytest.raises(Exception, match=r"(?i)certificate verify failed"):
        WarehouseHook().query("SELECT 1")


def test_verify_full_without_a_ca_is_refused(
    tls_server: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no sslrootcert in the connection; libpq's default (~/.postgresql/root.crt) pointed at nothing
    monkeypatch.setenv("PGSSLROOTCERT", str(tmp_path / "absent-root.crt"))
    warehouse_conn(monkeypatch, tls_server["port"], "localhost", sslmode="verify-full")
    with pytest.raises(Exception, match=r"(?i)root certificate file .* does not exist"):
        WarehouseHook().query("SELECT 1")


def test_a_plaintext_connection_still_works_when_tls_is_not_asked_for(
    tls_server: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the control: the same server without the TLS extras, so the failures above are about TLS
    warehouse_conn(monkeypatch, tls_server["port"], "127.0.0.1", sslmode="disable")
    assert WarehouseHook().query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == [(False,)]
