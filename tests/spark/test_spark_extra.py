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
    assert project["optional-dependencies"]["spark"] == ["pyspark>=4.0,<5"]

    assert "pyspark" not in _export("--no-dev")  # pip install lockgate
    assert {"pyspark", "py4j"} <= _export("--no-dev", "--extra", "spark")  # pip install 'lockgate[spark]'
    assert {"pyspark", "py4j"} <= _export()  # uv sync --frozen: make setup / make test
