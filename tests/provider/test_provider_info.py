"""lockgate.provider_info against Airflow's own schema, and the hooks reading form-made connections.

A connection made with the form of a ``lockgate_*`` connection type stores the form's fields in its
extra under their own names (unset ones possibly as null or ""); the hooks read those exactly as they
read the older ``generic`` connections with a JSON extra.
"""

from __future__ import annotations

import json
from importlib import import_module
from importlib.metadata import distribution
from pathlib import Path

import jsonschema
import pytest
from airflow.sdk import BaseHook

from lockgate.hooks.lake import LakeHook
from lockgate.hooks.warehouse import WarehouseHook
from lockgate.provider_info import get_provider_info


def _import(path: str) -> type:
    module, _, name = path.rpartition(".")
    return getattr(import_module(module), name)


def test_provider_info_passes_airflows_schema_and_names_the_distribution() -> None:
    import airflow

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    # ProvidersManager refuses a provider whose package-name is not the distribution's name
    assert info["package-name"] == distribution("lockgate").metadata["Name"]
    assert info["versions"] == [distribution("lockgate").version]
    entry_points = {ep.group: ep.value for ep in distribution("lockgate").entry_points}
    assert entry_points["apache_airflow_provider"] == "lockgate.provider_info:get_provider_info"


def test_each_connection_type_names_a_hook_that_declares_it() -> None:
    info = get_provider_info()
    types = {c["connection-type"]: c for c in info["connection-types"]}
    assert set(types) == {"lockgate_lake", "lockgate_warehouse", "lockgate_catalog"}
    for conn_type, config in types.items():
        hook = _import(config["hook-class-name"])
        assert issubclass(hook, BaseHook)
        # what ProvidersManager._import_hook reads off the class, and warns about when it differs
        assert hook.conn_type == conn_type
        assert hook.hook_name == config["hook-name"]
        assert hook.default_conn_name == conn_type  # lockgate_lake is both the type and the default id
        assert hook.conn_name_attr in hook.__init__.__code__.co_varnames
        assert config["conn-fields"], conn_type
    for module in info["hooks"][0]["python-modules"]:
        import_module(module)
    for notifier in info["notifications"]:
        assert callable(_import(notifier))


def test_a_lake_form_connection_with_unset_fields_reads_like_the_generic_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    extra = {"url": str(tmp_path / "lake"), "aws_conn_id": None, "sse": "", "sse_kms_key_id": None}
    monkeypatch.setenv("AIRFLOW_CONN_LOCKGATE_LAKE", json.dumps({"conn_type": "lockgate_lake", "extra": extra}))
    hook = LakeHook()
    hook.write_json("raw/x/doc.json", {"a": 1})
    assert hook.read_json("raw/x/doc.json") == {"a": 1}
    assert (tmp_path / "lake" / "raw" / "x" / "doc.json").is_file()

    s3 = {"url": "s3://bucket/prefix", "aws_conn_id": None, "sse": None, "sse_kms_key_id": ""}
    monkeypatch.setenv("AIRFLOW_CONN_LOCKGATE_LAKE", json.dumps({"conn_type": "lockgate_lake", "extra": s3}))
    hook = LakeHook()
    assert hook.is_s3
    assert hook.sse_args == {"ServerSideEncryption": "AES256"}  # an empty key id is no KMS key
    # an unset field means the default aws connection, not boto's own credential chain (None)
    assert hook.s3_hook.aws_conn_id == "aws_default"


def test_a_warehouse_form_connection_picks_its_dialect(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    conn = {"conn_type": "lockgate_warehouse", "extra": {"dialect": "duckdb", "path": str(path), "sslmode": None}}
    monkeypatch.setenv("AIRFLOW_CONN_LOCKGATE_WAREHOUSE", json.dumps(conn))
    hook = WarehouseHook()
    assert hook.dialect == "duckdb"
    assert hook.query("SELECT 41 + 1") == [(42,)]
    assert path.is_file()

    conn = {
        "conn_type": "lockgate_warehouse",
        "host": "db.internal",
        "port": 5433,
        "login": "loader",
        "password": "p@ss",
        "schema": "dwh",
        "extra": {"dialect": None, "schema": None, "sslmode": "verify-full", "sslrootcert": "", "path": None},
    }
    monkeypatch.setenv("AIRFLOW_CONN_LOCKGATE_WAREHOUSE", json.dumps(conn))
    hook = WarehouseHook()
    assert hook.dialect == "postgres"  # the form's default
    assert hook.schema == "public"
    assert hook._postgres_uri() == "postgresql://loader:p%40ss@db.internal:5433/dwh?sslmode=verify-full"


def test_an_unknown_warehouse_dialect_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "lockgate_warehouse", "extra": {"dialect": "oracle"}}
    monkeypatch.setenv("AIRFLOW_CONN_LOCKGATE_WAREHOUSE", json.dumps(conn))
    with pytest.raises(ValueError, match="has type 'oracle'; Lockgate warehouses are duckdb, postgres or redshift"):
        _ = WarehouseHook().dialect


def test_a_catalog_form_connection_opens_its_catalog(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from lockgate.hooks.iceberg import CatalogHook

    monkeypatch.setenv("LOCKGATE_HOME", str(tmp_path / "home"))
    extra = {"type": "sql", "uri": f"sqlite:///{tmp_path / 'catalog.db'}", "namespace": "analytics"}
    monkeypatch.setenv("AIRFLOW_CONN_LOCKGATE_CATALOG", json.dumps({"conn_type": "lockgate_catalog", "extra": extra}))
    hook = CatalogHook()
    assert hook.namespace == "analytics"
    assert ("analytics",) in hook.catalog.list_namespaces()  # created on first use, in that database
    assert (tmp_path / "catalog.db").is_file()
    assert not (tmp_path / "home" / "catalog.db").exists()  # not the embedded default
