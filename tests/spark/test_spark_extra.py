"""pyspark is the ``spark`` extra: a plain install does not pull it, the dev environment has it.

Checked offline against uv.lock, as tests/deploy/test_dependencies.py checks Celery and StatsD.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from tests.deploy.test_dependencies import _export

REPO = Path(__file__).resolve().parents[2]


def test_pyspark_is_an_extra_the_dev_environment_installs() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    required = {re.split(r"[\[<>=!~ ;]", d, maxsplit=1)[0] for d in project["dependencies"]}
    assert "pyspark" not in required
    assert project["optional-dependencies"]["spark"] == ["pyspark[connect]>=4.0,<5"]

    assert "pyspark" not in _export("--no-dev")  # pip install lockgate
    spark = {"pyspark", "py4j", "grpcio", "grpcio-status", "googleapis-common-protos"}
    assert spark <= _export("--no-dev", "--extra", "spark")  # pip install 'lockgate[spark]'
    assert spark <= _export()  # uv sync --frozen: make setup / make test


def test_great_expectations_imports_beside_pyspark_where_main_has_no_file() -> None:
    """GX Core imports ``pyspark.sql.connect`` whenever pyspark is installed; without the connect
    extra's grpc packages that import calls ``sys.exit(0)`` in a process whose ``__main__`` has no
    file (a pytest-xdist worker, ``python -c``): the process ended "successfully" mid-import."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", "import great_expectations; print('imported', great_expectations.__version__)"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("imported "), (done.stdout, done.stderr[-2000:])
