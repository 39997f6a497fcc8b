"""PII columns flagged in a contract are hashed (HMAC-SHA256, key from a connection) or masked
before the curated zone, so the curated Parquet and the warehouse never hold them in clear."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from airflow.sdk.exceptions import AirflowFailException

from lockgate import pii
from lockgate.contracts import ContractError, load_contract, parse_contract
from lockgate.formats import count_records
from lockgate.gate import RawFile, run_gate
from lockgate.hooks.iceberg import CatalogHook
from lockgate.hooks.lake import LakeHook
from lockgate.hooks.warehouse import WarehouseHook
from lockgate.operators.load import WarehouseLoadOperator
from lockgate.operators.partition import PartitionOperator
from tests.support.pg import airflow_conn_env

REPO_INCLUDE = Path(__file__).resolve().parents[2] / "include"
DS = "2026-01-02"
KEY = "pii-key-7f3c1e9a-do-not-log"
CUSTOMERS: dict[str, Any] = {
    "dataset": "customers",
    "columns": {
        "customer_id": {"type": "string", "nullable": False},
        "email": {"type": "string", "pii": "hash"},
        "national_id": {"type": "string", "pii": True},  # true is hash (contracts written before hash|mask)
        "phone": {"type": "string", "pii": "mask"},
        "region": {"type": "string", "nullable": False},
    },
    "primary_key": ["customer_id"],
    "partition_keys": ["region"],
}
ROWS = [
    ("C1", "ada@example.org", "NI-111-222", "+44 20 7946 0018", "north"),
    ("C2", "grace@example.org", "NI-333-444", "555-01", "south"),
    ("C3", "", "NI-555-666", "", "north"),
    ("C4", None, None, None, "south"),
]


def hmac_of(value: str) -> str:
    return hmac.new(KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def env(lockgate_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    contracts = tmp_path / "include" / "contracts"
    contracts.mkdir(parents=True)
    shutil.copy(REPO_INCLUDE / "contracts" / "contract.schema.json", contracts)
    for dialect in ("duckdb", "postgres", "common"):
        (tmp_path / "include" / "sql").mkdir(exist_ok=True)
        (tmp_path / "include" / "sql" / dialect).symlink_to(REPO_INCLUDE / "sql" / dialect)
    (contracts / "customers.yaml").write_text(yaml.safe_dump(CUSTOMERS, sort_keys=False))
    monkeypatch.setenv("LOCKGATE_INCLUDE_DIR", str(tmp_path / "include"))
    from lockgate.sql import _environment

    _environment.cache_clear()
    source = tmp_path / "customers.csv"
    source.write_text(
        "customer_id,email,national_id,phone,region\n"
        + "".join(",".join("" if v is None else v for v in row) + "\n" for row in ROWS)
    )
    outcome = run_gate(
        load_contract("customers"),
        [RawFile(source.name, source, "csv", count_records(source))],
        ds=DS,
        workdir=tmp_path / "g",
    )
    LakeHook().put_file(outcome.staged_path, f"staged/customers/ds={DS}/part-0.parquet")
    yield SimpleNamespace(home=lockgate_home, tmp=tmp_path, source=source)
    _environment.cache_clear()


def ctx() -> Any:
    return {"ds": DS, "run_id": "manual__pii", "dag": SimpleNamespace(dag_id="pii")}


def set_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LOCKGATE_PII_KEY", json.dumps({"conn_type": "generic", "password": KEY}))


def curated_rows() -> dict[str, dict[str, Any]]:
    """The date's rows as the curated table holds them now (its current snapshot, read through the
    catalog: the folder also keeps the files of earlier snapshots)."""
    rows = CatalogHook().read_date("customers", DS).read_all().to_pylist()
    by_id = {r["customer_id"]: r for r in rows}
    assert len(by_id) == len(rows), rows  # one row per customer, none twice
    return by_id


def curated_metadata_bounds() -> list[bytes]:
    """The column statistics (lower/upper bounds) the table's manifests record for the date's files:
    Iceberg keeps a min and max per column, which would leak a clear value if one reached it."""
    return [
        bound
        for f in CatalogHook().date_files("customers", DS)
        for bounds in (f.lower_bounds, f.upper_bounds)
        for bound in (bounds or {}).values()
    ]


def expected(row: tuple[Any, ...]) -> dict[str, Any]:
    _, email, national_id, phone, _ = row
    # the gate reads an empty CSV field as NULL; nothing to protect there
    return {
        "email": hmac_of(email) if email else None,
        "national_id": hmac_of(national_id) if national_id else None,
        "phone": pii.mask(phone) if phone else None,
    }


@pytest.mark.integration
def test_pii_is_hashed_and_masked_in_curated_parquet_and_the_warehouse(
    env: Any, pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_key(monkeypatch)
    monkeypatch.setenv(*airflow_conn_env("lockgate_warehouse", pg_dsn))
    PartitionOperator(task_id="p", dataset="customers").execute(ctx())
    curated = curated_rows()
    assert set(curated) == {"C1", "C2", "C3", "C4"}
    for row in ROWS:
        got = curated[row[0]]
        assert {k: got[k] for k in ("email", "national_id", "phone")} == expected(row), row[0]
    assert curated["C1"]["phone"] == "****0018"
    assert curated["C2"]["phone"] == "****"

    WarehouseLoadOperator(task_id="l", dataset="customers", table="dim_customer", mode="replace_partition").execute(
        ctx()
    )
    loaded = WarehouseHook().query("SELECT customer_id, email, national_id, phone FROM dim_customer ORDER BY 1")
    assert loaded == [(row[0], *expected(row).values()) for row in sorted(ROWS, key=lambda r: r[0])]

    # no raw value anywhere in the curated zone's bytes or in the warehouse's rows
    secrets = [v for row in ROWS for v in row[1:4] if v]
    # (decoded: the files are zstd-compressed, so their bytes would hide a clear value anyway)
    curated_text = repr(curated_rows())
    for value in secrets:
        assert value not in curated_text, value
    # nor in the table's metadata: the column bounds (decoded) and the metadata files' bytes
    bounds = curated_metadata_bounds()
    assert bounds  # the manifests do keep statistics, so this looks at something
    folder = env.home / "lake" / "curated" / "customers" / "metadata"
    metadata = [p.read_bytes() for p in folder.rglob("*") if p.is_file()]
    assert metadata
    for value in secrets:
        assert not any(value.encode() in b for b in bounds), value
        assert not any(value.encode() in b for b in metadata), value
    text = repr(WarehouseHook().query("SELECT * FROM dim_customer"))
    for value in secrets:
        assert value not in text, value


def test_same_value_gives_the_same_hash_so_joins_still_work(env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    set_key(monkeypatch)
    op = PartitionOperator(task_id="p", dataset="customers")
    op.execute(ctx())
    first = curated_rows()
    op2 = PartitionOperator(task_id="p", dataset="customers")
    op2.execute(ctx())
    assert curated_rows() == first
    assert first["C1"]["email"] == hmac_of("ada@example.org")


def test_a_hashed_column_without_the_key_connection_fails_clearly(env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_LOCKGATE_PII_KEY", raising=False)
    with pytest.raises(
        AirflowFailException, match=r"customers.yaml: customers has columns with pii: hash.*lockgate_pii_key"
    ):
        PartitionOperator(task_id="p", dataset="customers").execute(ctx())
    # nothing of the date reached the curated zone: no snapshot publishes it, no data file was written
    catalog = CatalogHook()
    assert (catalog.published_dates("customers") if catalog.exists("customers") else []) == []
    assert not list((env.home / "lake" / "curated" / "customers").rglob("*.parquet"))


def test_pii_flag_is_validated() -> None:
    base = {"dataset": "d", "columns": {"a": {"type": "string", "pii": "mask"}, "n": {"type": "integer"}}}
    contract = parse_contract(base)
    assert contract.column("a").pii_mode == "mask"
    assert contract.column("n").pii_mode is None
    assert (
        parse_contract({"dataset": "d", "columns": {"a": {"type": "string", "pii": True}}}).column("a").pii_mode
        == "hash"
    )
    with pytest.raises(ContractError, match=r"columns.a.pii: .* not one of"):
        parse_contract({"dataset": "d", "columns": {"a": {"type": "string", "pii": "encrypt"}}})
    with pytest.raises(ContractError, match=r"columns.n.pii: only string columns"):
        parse_contract({"dataset": "d", "columns": {"n": {"type": "integer", "pii": "hash"}}})


def test_sql_hmac_equals_the_reference_for_any_key_length() -> None:
    import duckdb

    values = ["", "a", "ünïcødé ✓", "x" * 300]
    for key in (b"k", b"k" * 64, b"k" * 200):
        con = duckdb.connect()
        pii.bind_key(con, key)
        got = con.execute(
            f"SELECT {pii.sql_expression('v', 'hash')}, {pii.sql_expression('v', 'mask')} FROM unnest($1) t(v)",
            [values],
        ).fetchall()
        assert got == [(pii.hmac_hex(key, v), pii.mask(v)) for v in values]
