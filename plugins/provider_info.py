"""Lockgate as an Airflow provider: what ``airflow providers list`` and Admin -> Connections know of it.

Airflow finds this through the ``apache_airflow_provider`` entry point (pyproject.toml) and checks
the dict against ``airflow/provider_info.schema.json`` (``name`` and ``description`` required;
``package-name`` must equal the distribution's name).

The connection forms are declarative (``conn-fields`` and ``ui-field-behaviour`` per connection
type), the way Airflow 3.2+ reads them: ``ProvidersManager`` builds the form from this dict without
importing the hook, and a hook's ``get_connection_form_widgets`` / ``get_ui_field_behaviour`` are
deprecated since Airflow 3.2 (they need wtforms, which Airflow 3 no longer installs). The form's
extra fields are stored in the connection's extra under their own names (``url``, ``aws_conn_id``,
...): the same keys a ``generic`` connection with a JSON extra has always used, so both kinds of
connection keep working with the same hook code.

Nothing here imports Airflow: the dict is plain data (a test validates it against Airflow's schema).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

PACKAGE_NAME = "lockgate"

#: the classes whose connection types Lockgate registers (connection type -> hook class path)
HOOKS = {
    "lockgate_lake": "lockgate.hooks.lake.LakeHook",
    "lockgate_warehouse": "lockgate.hooks.warehouse.WarehouseHook",
    "lockgate_catalog": "lockgate.hooks.iceberg.CatalogHook",
}

NOTIFIERS = [
    "lockgate.notifiers.webhook.WebhookNotifier",
    "lockgate.notifiers.slack.SlackNotifier",
    "lockgate.notifiers.email.EmailNotifier",
    "lockgate.notifiers.summary.RunSummaryNotifier",
]


def _text(label: str, description: str, default: str | None = None, **schema: Any) -> dict[str, Any]:
    """One optional text field of a connection form (``conn-fields`` format)."""
    field_schema: dict[str, Any] = {"type": ["string", "null"], **schema}
    if default is not None:
        field_schema["default"] = default
    return {"label": label, "description": description, "schema": field_schema}


#: a field the form requires: its schema type does not admit null (Airflow's form marks it required)
_REQUIRED = {"type": "string", "minLength": 1}

LAKE_FIELDS = {
    "url": {
        **_text("Lake URL", "s3://bucket/prefix for an S3 lake, or an absolute folder for a local one"),
        "schema": _REQUIRED,
    },
    "aws_conn_id": _text("AWS connection", "the aws connection with the S3 credentials (S3 lakes)", "aws_default"),
    "sse": _text(
        "Server-side encryption",
        "AES256 (SSE-S3, the default) or aws:kms (SSE-KMS)",
        enum=["AES256", "aws:kms", None],
    ),
    "sse_kms_key_id": _text("KMS key", "a KMS key id, ARN or alias: every object is written with SSE-KMS"),
}

WAREHOUSE_FIELDS = {
    "dialect": _text(
        "Warehouse",
        "duckdb (an embedded file), postgres or redshift",
        "postgres",
        enum=["duckdb", "postgres", "redshift"],
    ),
    "path": _text("DuckDB file", "the database file of a duckdb warehouse (absolute path)"),
    "schema": _text("Warehouse schema", "the schema the tables live in (postgres, redshift)", "public"),
    "sslmode": _text(
        "TLS mode",
        "libpq sslmode for postgres (verify-full to check the server's certificate)",
        enum=["disable", "allow", "prefer", "require", "verify-ca", "verify-full", None],
    ),
    "sslrootcert": _text("CA certificate", "path of the CA certificate verify-ca/verify-full check against"),
    "copy_iam_role": _text("COPY IAM role", "redshift: a role ARN the cluster assumes to read the lake"),
    "copy_aws_conn_id": _text("COPY aws connection", "redshift: an aws connection whose keys COPY reads with"),
}

CATALOG_FIELDS = {
    "type": _text("Catalog type", "sql (a SQLAlchemy database) or rest (an Iceberg REST catalog)", "sql"),
    "uri": {
        # a SQL catalog's URL carries the database password: masked like a password field
        **_text("Catalog URI", "postgresql+psycopg://user:password@host:5432/db, or the REST catalog's URL"),
        "schema": {**_REQUIRED, "format": "password"},
    },
    "namespace": _text("Namespace", "the Iceberg namespace of Lockgate's tables", "lockgate"),
}


def _behaviour(hidden: tuple[str, ...], relabeling: dict[str, str] | None = None) -> dict[str, Any]:
    behaviour: dict[str, Any] = {"hidden-fields": list(hidden)}
    if relabeling:
        behaviour["relabeling"] = relabeling
    return behaviour


CONNECTION_TYPES: list[dict[str, Any]] = [
    {
        "connection-type": "lockgate_lake",
        "hook-class-name": HOOKS["lockgate_lake"],
        "hook-name": "Lockgate lake",
        "conn-fields": LAKE_FIELDS,
        # everything the lake needs is in the extra fields above; the standard ones mean nothing here
        "ui-field-behaviour": _behaviour(("host", "port", "login", "password", "schema")),
    },
    {
        "connection-type": "lockgate_warehouse",
        "hook-class-name": HOOKS["lockgate_warehouse"],
        "hook-name": "Lockgate warehouse",
        "conn-fields": WAREHOUSE_FIELDS,
        "ui-field-behaviour": _behaviour((), {"schema": "Database"}),
    },
    {
        "connection-type": "lockgate_catalog",
        "hook-class-name": HOOKS["lockgate_catalog"],
        "hook-name": "Lockgate Iceberg catalog",
        "conn-fields": CATALOG_FIELDS,
        "ui-field-behaviour": _behaviour(("host", "port", "login", "password", "schema")),
    },
]


def package_version() -> str:
    """The installed distribution's version (``0.0.0`` when running from a bare source tree)."""
    try:
        return version(PACKAGE_NAME)
    except PackageNotFoundError:
        return "0.0.0"


def get_provider_info() -> dict[str, Any]:
    """The provider info Airflow's ``ProvidersManager`` reads (``apache_airflow_provider`` entry point)."""
    return {
        "package-name": PACKAGE_NAME,
        "name": "Lockgate",
        "description": (
            "Data pipelines from a lake through a quality gate into a warehouse, "
            "with data contracts, lineage and alerts."
        ),
        "versions": [package_version()],
        "integrations": [{"integration-name": "Lockgate", "tags": ["software"]}],
        "hooks": [
            {
                "integration-name": "Lockgate",
                "python-modules": sorted({path.rsplit(".", 1)[0] for path in HOOKS.values()}),
            }
        ],
        "connection-types": CONNECTION_TYPES,
        "notifications": list(NOTIFIERS),
    }
