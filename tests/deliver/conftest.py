"""Fixtures of the delivery tests: a date of ``alerts`` published and loaded on the embedded defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deliver import kit


@pytest.fixture
def contract(lockgate_home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The ``alerts`` contract's file; the PII key connection set."""
    kit.environment(monkeypatch)
    return kit.contract_file(lockgate_home)


@pytest.fixture
def published(contract: str, tmp_path: Path) -> str:
    """Twelve stations of ``kit.DS`` published and loaded; returns the contract's file."""
    kit.publish_and_load(contract, kit.DS, kit.rows(12), tmp_path / "publish")
    return contract
