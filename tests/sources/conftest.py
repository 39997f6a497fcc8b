"""Fixtures of the source tests: a private include/ folder whose contracts the tests write."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_INCLUDE = Path(__file__).resolve().parents[2] / "include"


@pytest.fixture
def contracts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[dict[str, Any]], Path]]:
    """A private include/ (the repo's SQL, its own contracts); returns ``write(contract) -> path``."""
    include = tmp_path / "include"
    (include / "contracts").mkdir(parents=True)
    (include / "contracts" / "contract.schema.json").write_text(
        (REPO_INCLUDE / "contracts" / "contract.schema.json").read_text()
    )
    (include / "pipeline.schema.json").write_text((REPO_INCLUDE / "pipeline.schema.json").read_text())
    (include / "sql").mkdir()
    for dialect in ("duckdb", "postgres", "common"):
        (include / "sql" / dialect).symlink_to(REPO_INCLUDE / "sql" / dialect)
    monkeypatch.setenv("LOCKGATE_INCLUDE_DIR", str(include))
    from lockgate.sql import _environment

    _environment.cache_clear()

    def write(contract: dict[str, Any]) -> Path:
        path = include / "contracts" / f"{contract['dataset']}.yaml"
        path.write_text(yaml.safe_dump(contract, sort_keys=False))
        return path

    yield write
    _environment.cache_clear()
