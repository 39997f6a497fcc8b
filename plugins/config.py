"""Where Lockgate keeps its embedded defaults and finds its packaged resources.

Everything here is cheap to import: DAG files import operators, which import this module.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Connection ids used when a pipeline does not name its own.
DEFAULT_LAKE_CONN_ID = "lockgate_lake"
DEFAULT_WAREHOUSE_CONN_ID = "lockgate_warehouse"
DEFAULT_ALERTS_CONN_ID = "lockgate_alerts"

_REPO_ROOT = Path(__file__).resolve().parent.parent


def lockgate_home() -> Path:
    """Root of the embedded defaults (lake folder, DuckDB file, lineage files).

    ``LOCKGATE_HOME`` wins; otherwise ``.lockgate`` in the current directory, which is what
    ``make demo`` and ``make airflow`` use from the repository root.
    """
    return Path(os.environ.get("LOCKGATE_HOME") or Path.cwd() / ".lockgate").resolve()


def include_dir() -> Path:
    """The ``include/`` folder: contracts, SQL templates, expectation suites."""
    return Path(os.environ.get("LOCKGATE_INCLUDE_DIR") or _REPO_ROOT / "include").resolve()


def dags_dir() -> Path:
    """The ``dags/`` folder shipped with the package."""
    return _REPO_ROOT / "dags"
