"""The Redshift dialect: every statement a load sends, and the connection path up to the network.

No Redshift runs here. These tests render the exact SQL of every step of every load mode for a
contract whose identifiers carry quotes, semicolons, spaces and mixed case, check that the values
COPY cannot bind (S3 location, IAM role, credentials) are validated before they become literals,
and build the amazon provider's RedshiftSQLHook from a real Airflow connection as far as the
connect() call. Whether Redshift accepts the SQL is not proven here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from lockgate.contracts import Column, Contract
from lockgate.hooks.warehouse import (
    REDSHIFT_LOCKGATE_EXTRAS,
    WarehouseHook,
    credentials_literal,
    iam_role_literal,
    numeric_placeholders,
    redshift_connect_kwargs,
    s3_literal,
)
from lockgate.operators.load import SCD2_COLUMNS, WarehouseLoadOperator, copy_manifest, redshift_stage_sql
from lockgate.reconcile import fingerprint_sql
from lockgate.schema_evolution import contract_type
from lockgate.sql import ident, qualified, render, render_statement, split_statements

ROLE = "arn:aws:iam::123456789012:role/service-role/Lockgate+Copy@prod"
KEY = 'Station "Id"; x'
CONTRACT = Contract(
    dataset="weird",
    columns=(
        Column(KEY, "string", nullable=False),
        Column("Mixed Case", "integer"),
        Column("Region", "string", nullable=False),
    ),
    primary_key=(KEY,),
    partition_keys=("Region",),
)
COLUMNS = CONTRACT.storage_columns
NAMES = [c.name for c in COLUMNS]
TABLE = qualified("Ana lytics", 'Fact "Hourly"; DROP')
T = '"Ana lytics"."Fact ""Hourly""; DROP"'
STAGE = ident("lockgate_stage_load_20260102")
S = '"lockgate_stage_load_20260102"'
Q = '"Station ""Id""; x"'
INSERT_COLUMNS = f'{Q}, "Mixed Case", "Region", "ds"'


def statements(template: str, **context: Any) -> list[str]:
    return split_statements(render("redshift", template, **context))


def mode_sql(mode: str) -> list[str]:
    return statements(
        f"{mode}.sql",
        table=TABLE,
        staging=STAGE,
        columns=NAMES,
        primary_key=CONTRACT.primary_key,
        attributes=[n for n in NAMES if n not in CONTRACT.primary_key],
    )


# ------------------------------------------------------------------------------ the hook's path


@pytest.fixture
def redshift_conn(monkeypatch: pytest.MonkeyPatch) -> str:
    conn = {
        "conn_type": "redshift",
        "host": "lake-cluster.abc123.eu-west-1.redshift.amazonaws.com",
        "port": 5439,
        "login": "loader",
        "password": "s3cr3t-pw",
        "schema": "analytics",
        "extra": {"schema": "Ana lytics", "copy_iam_role": ROLE, "sslmode": "verify-full"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_LOCKGATE_RS", json.dumps(conn))
    return "lockgate_rs"


def test_the_dialect_comes_from_the_connection_type(redshift_conn: str) -> None:
    hook = WarehouseHook(redshift_conn)
    assert hook.dialect == "redshift"
    assert hook.schema == "Ana lytics"
    assert hook.table('Fact "Hourly"; DROP') == T
    assert hook.copy_authorization() == f"IAM_ROLE '{ROLE}'"
    # the amazon provider's namespace: cluster identifier and region from the endpoint, then the port
    assert hook.openlineage_dataset("fact") == ("redshift://lake-cluster.eu-west-1:5439", "analytics.Ana lytics.fact")
    assert hook.openlineage_dataset("fact")[0] == "redshift://" + (
        hook.redshift_sql_hook().get_openlineage_database_info(hook._conn).authority
    )


def test_connections_go_through_the_providers_redshift_sql_hook(redshift_conn: str) -> None:
    from airflow.providers.amazon.aws.hooks.redshift_sql import RedshiftSQLHook

    sql_hook = WarehouseHook(redshift_conn).redshift_sql_hook()
    assert isinstance(sql_hook, RedshiftSQLHook)
    assert sql_hook.get_conn_id() == redshift_conn
    kwargs = redshift_connect_kwargs(sql_hook)
    # the provider's parameters, redshift_connector's extras, and none of Lockgate's own keys
    # (redshift_connector.connect() would refuse them)
    assert kwargs == {
        "user": "loader",
        "password": "s3cr3t-pw",
        "port": 5439,
        "host": "lake-cluster.abc123.eu-west-1.redshift.amazonaws.com",
        "database": "analytics",
        "sslmode": "verify-full",
    }
    import inspect

    import redshift_connector

    accepted = inspect.signature(redshift_connector.connect).parameters
    assert set(kwargs) <= set(accepted)
    assert not set(REDSHIFT_LOCKGATE_EXTRAS) & set(kwargs)


def test_credentials_from_an_aws_connection_are_validated_and_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    access, secret = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    monkeypatch.setenv(
        "AIRFLOW_CONN_LOCKGATE_RS_AWS", json.dumps({"conn_type": "aws", "login": access, "password": secret})
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_LOCKGATE_RS_KEYS",
        json.dumps({"conn_type": "redshift", "host": "h", "extra": {"copy_aws_conn_id": "lockgate_rs_aws"}}),
    )
    clause = WarehouseHook("lockgate_rs_keys").copy_authorization()
    assert clause == f"CREDENTIALS 'aws_access_key_id={access};aws_secret_access_key={secret}'"
    from airflow.sdk._shared.secrets_masker.secrets_masker import redact

    assert secret not in str(redact(f"COPY ... {clause}"))


def test_a_redshift_connection_without_copy_authorization_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LOCKGATE_RS_BARE", json.dumps({"conn_type": "redshift", "host": "h"}))
    with pytest.raises(ValueError, match=r"copy_iam_role .* or copy_aws_conn_id"):
        WarehouseHook("lockgate_rs_bare").copy_authorization()


# --------------------------------------------------------------- values COPY cannot bind: literals


@pytest.mark.parametrize(
    "uri",
    [
        "s3://lake/curated/x/ds=2026-01-02/' IAM_ROLE 'arn:aws:iam::999999999999:role/evil",
        "s3://lake/a'; DROP TABLE t; --",
        "s3://lake/a\\'b",
        "s3://lake/with space/",
        "s3://lake/new\nline/",
        "s3://Lake-Upper/x/",
        "https://lake.s3.amazonaws.com/x/",
        "s3://lake/x;y/",
        "",
    ],
)
def test_a_hostile_s3_location_is_refused(uri: str) -> None:
    with pytest.raises(ValueError, match="refusing S3 location"):
        s3_literal(uri)


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::123456789012:role/x' CREDENTIALS 'aws_access_key_id=A",
        "arn:aws:iam::123456789012:role/x;DROP",
        "arn:aws:iam::12345:role/short-account",
        "arn:aws:s3:::bucket",
        "arn:aws:iam::123456789012:role/a b",
        "arn:aws:iam::123456789012:role/a\\b",
        "arn:aws:iam::123456789012:role/a,arn:aws:iam::999999999999:role/chained",
    ],
)
def test_a_hostile_iam_role_is_refused(arn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="refusing IAM role"):
        iam_role_literal(arn)
    monkeypatch.setenv(
        "AIRFLOW_CONN_LOCKGATE_RS_EVIL", json.dumps({"conn_type": "redshift", "extra": {"copy_iam_role": arn}})
    )
    with pytest.raises(ValueError, match="refusing IAM role"):
        WarehouseHook("lockgate_rs_evil").copy_authorization()


def test_valid_locations_roles_and_keys_become_plain_literals() -> None:
    uri = "s3://lake-bucket/pollutrack/curated/readings/ds=2026-01-02/region=north/"
    assert s3_literal(uri) == f"'{uri}'"
    assert s3_literal("s3://lake/curated/a/ds=2026-01-02/k=a%27b/") == "'s3://lake/curated/a/ds=2026-01-02/k=a%27b/'"
    assert iam_role_literal(ROLE) == f"'{ROLE}'"
    assert iam_role_literal("arn:aws-cn:iam::123456789012:role/r") == "'arn:aws-cn:iam::123456789012:role/r'"
    with pytest.raises(ValueError, match="aws_secret_access_key has characters"):
        credentials_literal("AKIAIOSFODNN7EXAMPLE", "secret';token=x")


def test_placeholders_become_numeric_outside_quotes_only() -> None:
    sql = 'SELECT "a$1", \'b$2\' FROM "t""$3" WHERE x = $1 AND y = $12'
    assert numeric_placeholders(sql) == 'SELECT "a$1", \'b$2\' FROM "t""$3" WHERE x = :1 AND y = :12'


# ------------------------------------------------------------------------------- every statement


def test_create_lock_and_audit_tables() -> None:
    assert render_statement("redshift", "create_table.sql", table=TABLE, columns=COLUMNS, primary_key=()) == (
        f"CREATE TABLE IF NOT EXISTS {T} (\n"
        f"    {Q} VARCHAR(65535) NOT NULL,\n"
        '    "Mixed Case" BIGINT,\n'
        '    "Region" VARCHAR(65535) NOT NULL,\n'
        '    "ds" DATE NOT NULL\n'
        ")"
    )
    assert render_statement("redshift", "lock_partition.sql", table=TABLE) == f"LOCK {T}"
    audit = render_statement("redshift", "audit_table.sql", audit_table=qualified("Ana lytics", "lockgate_load_audit"))
    assert audit.startswith('CREATE TABLE IF NOT EXISTS "Ana lytics"."lockgate_load_audit" (\n')
    assert "    partition_ds DATE NOT NULL,\n" in audit
    assert "PRIMARY KEY" not in audit  # Redshift never enforces one
    assert statements("audit_upsert.sql", audit_table=qualified("Ana lytics", "lockgate_load_audit")) == [
        'DELETE FROM "Ana lytics"."lockgate_load_audit" WHERE table_name = $1 AND partition_ds = $2',
        'INSERT INTO "Ana lytics"."lockgate_load_audit" (dag_id, run_id, dataset, table_name, partition_ds, mode, '
        "rows_loaded, checksum, loaded_at)\nVALUES ($3, $4, $5, $1, $2, $6, $7, $8, $9)",
    ]


def test_staging_copies_each_curated_folder_and_binds_partition_values() -> None:
    """The per-folder COPY (partition values bound, not read from the files) stays available."""
    locations = [
        ("curated/weird/ds=2026-01-02/Region=north/", {"ds": "2026-01-02", "Region": "north"}),
        ("curated/weird/ds=2026-01-02/Region=s%C3%BCd/", {"ds": "2026-01-02", "Region": "süd"}),
    ]
    lake = "s3://lake-bucket/pollutrack/"
    plan = redshift_stage_sql(STAGE, COLUMNS, [(lake + k, v) for k, v in locations], f"IAM_ROLE '{ROLE}'")
    part = '"lockgate_stage_load_20260102_part_{}"'
    copy_block = [
        (
            f'CREATE TEMP TABLE {{part}} (\n    {Q} VARCHAR(65535),\n    "Mixed Case" BIGINT\n)',
            [],
        ),
        (f"COPY {{part}} FROM '{lake}{{key}}' IAM_ROLE '{ROLE}' FORMAT AS PARQUET", []),
        (
            f"INSERT INTO {S} ({INSERT_COLUMNS})\n"
            f'SELECT {Q}, "Mixed Case", CAST($1 AS VARCHAR(65535)), CAST($2 AS DATE)\n'
            "FROM {part}",
            "values",
        ),
        ("DROP TABLE {part}", []),
    ]
    expected: list[tuple[str, list[Any]]] = [
        (
            f"CREATE TEMP TABLE {S} (\n"
            f"    {Q} VARCHAR(65535),\n"
            '    "Mixed Case" BIGINT,\n'
            '    "Region" VARCHAR(65535),\n'
            '    "ds" DATE\n'
            ")",
            [],
        )
    ]
    for number, (key, values) in enumerate(locations, 1):
        for text, params in copy_block:
            bound = [values["Region"], values["ds"]] if params == "values" else []
            expected.append((text.format(part=part.format(number), key=key), bound))
    assert plan == expected


def test_a_curated_snapshot_is_copied_through_a_manifest_listing_exactly_its_files() -> None:
    files = ["s3://lake/p/curated/d/data/ds=2026-01-02/Region=north/a-part-0.parquet", "s3://lake/p/x.parquet"]
    assert copy_manifest(files, [10, 20]) == {
        "entries": [
            {"url": files[0], "mandatory": True, "meta": {"content_length": 10}},
            {"url": files[1], "mandatory": True, "meta": {"content_length": 20}},
        ]
    }
    manifest = "s3://lake/p/curated/d/copy-manifests/ds=2026-01-02/snapshot-7.json"
    plan = redshift_stage_sql(STAGE, COLUMNS, [(manifest, {})], f"IAM_ROLE '{ROLE}'", "copy_parquet_manifest.sql")
    part = '"lockgate_stage_load_20260102_part_1"'
    every = f'{Q}, "Mixed Case", "Region", "ds"'
    assert plan[1:] == [
        (
            f'CREATE TEMP TABLE {part} (\n    {Q} VARCHAR(65535),\n    "Mixed Case" BIGINT,\n'
            '    "Region" VARCHAR(65535),\n    "ds" DATE\n)',
            [],
        ),
        (f"COPY {part} FROM '{manifest}' IAM_ROLE '{ROLE}' FORMAT AS PARQUET MANIFEST", []),
        (f"INSERT INTO {S} ({INSERT_COLUMNS})\nSELECT {every}\nFROM {part}", []),
        (f"DROP TABLE {part}", []),
    ]


def test_replace_partition_and_append() -> None:
    insert = f"INSERT INTO {T} ({INSERT_COLUMNS})\nSELECT {INSERT_COLUMNS} FROM {S}"
    assert mode_sql("replace_partition") == [f'DELETE FROM {T} WHERE "ds" = $1', insert]
    assert mode_sql("append") == [insert]


def test_merge() -> None:
    assert mode_sql("merge") == [
        f'DELETE FROM {T}\nUSING {S}\nWHERE {T}.{Q} = {S}.{Q} AND {T}."ds" <= {S}."ds"',
        f"INSERT INTO {T} ({INSERT_COLUMNS})\n"
        f'SELECT s.{Q}, s."Mixed Case", s."Region", s."ds" FROM {S} AS s\n'
        "WHERE NOT EXISTS (\n"
        f"    SELECT 1 FROM {T} AS t\n"
        f"    WHERE t.{Q} = s.{Q}\n"
        ")",
    ]


def test_scd2() -> None:
    def differs(c: str) -> str:
        return f"NOT (t.{c} = s.{c} OR (t.{c} IS NULL AND s.{c} IS NULL))"

    mixed, region, ds = '"Mixed Case"', '"Region"', '"ds"'
    assert mode_sql("scd2") == [
        f"UPDATE {T} AS t SET\n"
        f"    {mixed} = s.{mixed},\n"
        f"    {region} = s.{region},\n"
        f"    {ds} = s.{ds}\n"
        f"FROM {S} AS s\n"
        f'WHERE t.{Q} = s.{Q} AND t."is_current" AND t."valid_from" = CAST($1 AS DATE)\n'
        f"  AND ({differs(mixed)} OR {differs(region)} OR {differs(ds)})",
        f'UPDATE {T} AS t SET "valid_to" = CAST($1 AS DATE), "is_current" = FALSE\n'
        f"FROM {S} AS s\n"
        f'WHERE t.{Q} = s.{Q} AND t."is_current" AND t."valid_from" < CAST($1 AS DATE)\n'
        f"  AND ({differs(mixed)} OR {differs(region)})",
        f'INSERT INTO {T} ({INSERT_COLUMNS}, "valid_from", "valid_to", "is_current")\n'
        f'SELECT s.{Q}, s."Mixed Case", s."Region", s."ds", CAST($1 AS DATE), CAST(NULL AS DATE), TRUE FROM {S} AS s\n'
        "WHERE NOT EXISTS (\n"
        f"    SELECT 1 FROM {T} AS t\n"
        f'    WHERE t.{Q} = s.{Q} AND t."is_current"\n'
        ")",
    ]
    # an scd2 table is created with its history columns
    created = render_statement("redshift", "create_table.sql", table=TABLE, columns=[*COLUMNS, *SCD2_COLUMNS])
    assert created.endswith(
        '    "valid_from" DATE NOT NULL,\n    "valid_to" DATE,\n    "is_current" BOOLEAN NOT NULL\n)'
    )


def test_schema_evolution() -> None:
    assert statements("add_column.sql", table=TABLE, column=Column('New "col"; x', "string")) == [
        f'ALTER TABLE {T} ADD COLUMN "New ""col""; x" VARCHAR(65535)'
    ]
    widen = '"Mixed Case__lockgate_widen"'
    assert statements("widen_column.sql", table=TABLE, column=Column("Mixed Case", "double")) == [
        f"ALTER TABLE {T} ADD COLUMN {widen} DOUBLE PRECISION",
        f'UPDATE {T} SET {widen} = CAST("Mixed Case" AS DOUBLE PRECISION)',
        f'ALTER TABLE {T} DROP COLUMN "Mixed Case"',
        f'ALTER TABLE {T} RENAME COLUMN {widen} TO "Mixed Case"',
    ]
    # what Redshift's information_schema reports maps back to the contract's types
    assert contract_type("redshift", "character varying") == "string"
    assert contract_type("redshift", "timestamp with time zone") == "timestamp"
    assert contract_type("redshift", "double precision") == "double"
    assert contract_type("redshift", "bigint") == "integer"


def test_reconciliation_fingerprint_is_plain_sql() -> None:
    assert fingerprint_sql(COLUMNS, TABLE, '"ds" = $1', "redshift") == (
        # only the nullable column ("Mixed Case") is counted: see lockgate.reconcile
        f'SELECT count(*), sum(octet_length({Q})), count("Mixed Case"), sum("Mixed Case"), '
        'sum(octet_length("Region")), min("ds"), max("ds") '
        f'FROM {T} WHERE "ds" = $1'
    )


def test_redshift_tables_declare_no_primary_key() -> None:
    """Redshift never enforces a key and its planner trusts a declared one: none is declared."""
    op = WarehouseLoadOperator(task_id="load", dataset="readings", table="fact", mode="merge")
    created = render_statement(
        "redshift", "create_table.sql", table=TABLE, columns=COLUMNS, primary_key=op._declared_key("redshift")
    )
    assert op._declared_key("redshift") == ("station_id", "observed_at", "pollutant")
    assert "PRIMARY KEY" not in created
