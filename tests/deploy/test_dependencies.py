"""What pyproject.toml and uv.lock promise, checked offline against the lock itself.

Celery and StatsD are extras (``lockgate[celery]``, ``lockgate[statsd]``) that a plain install does
not pull but ``uv sync --frozen`` (the dev group, what ``make setup`` runs) does; the Python range
``requires-python`` claims is one every locked package with compiled code has wheels for.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
OPTIONAL = {"celery", "apache-airflow-providers-celery", "statsd", "flower"}


@pytest.fixture(scope="module")
def lock() -> dict[str, Any]:
    return tomllib.loads((REPO / "uv.lock").read_text(encoding="utf-8"))


def _export(*args: str) -> set[str]:
    uv = [found] if (found := shutil.which("uv")) else ["python3", "-m", "uv"]  # as the Makefile runs it
    result = subprocess.run(
        [*uv, "export", "--frozen", "--no-emit-project", "--no-hashes", "--quiet", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return set(re.findall(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==", result.stdout, re.MULTILINE))


def test_celery_and_statsd_are_extras_the_dev_environment_installs() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    required = {re.split(r"[\[<>=!~ ;]", d, maxsplit=1)[0] for d in project["dependencies"]}
    assert not required & OPTIONAL
    assert set(project["optional-dependencies"]) >= {"celery", "statsd"}

    plain = _export("--no-dev")  # pip install lockgate
    assert not plain & {"celery", "apache-airflow-providers-celery", "statsd"}
    assert "apache-airflow" in plain
    assert {"celery", "apache-airflow-providers-celery"} <= _export("--no-dev", "--extra", "celery")
    synced = _export()  # `uv sync --frozen`: the default (dev) group, i.e. make setup / make test
    assert {"celery", "apache-airflow-providers-celery", "statsd", "redis", "pytest"} <= synced


def test_the_python_range_is_one_every_compiled_package_has_wheels_for(lock: dict[str, Any]) -> None:
    assert lock["requires-python"] == ">=3.11, <3.14"
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["requires-python"] == ">=3.11,<3.14"
    missing = {}
    for package in lock["package"]:
        wheels = [w["url"].rsplit("/", 1)[1] for w in package.get("wheels", [])]
        linux = [w for w in wheels if "manylinux" in w and "x86_64" in w]
        if not linux or any("-none-" in w for w in linux):
            continue  # pure Python, or one wheel for every CPython (py3-none)
        for tag in ("cp311", "cp312", "cp313"):
            if not any(f"-{tag}-" in w or ("abi3" in w and int(tag[3:]) >= _abi3_floor(w)) for w in linux):
                missing.setdefault(package["name"], []).append(tag)
    # pyyaml-ft is the free-threaded PyYAML some 3.13 environments pull; no other package lacks a wheel
    assert {k: v for k, v in missing.items() if k != "pyyaml-ft"} == {}


def _abi3_floor(wheel: str) -> int:
    """``...-cp39-abi3-...`` -> 9: the oldest CPython minor an abi3 wheel serves."""
    match = re.search(r"-cp3(\d+)-abi3-", wheel)
    return int(match.group(1)) if match else 99


def test_the_package_imports_without_statsd() -> None:
    code = "import sys; sys.modules['statsd'] = None; import lockgate.metrics, lockgate.operators.base; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
