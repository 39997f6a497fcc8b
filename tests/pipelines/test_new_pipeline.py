"""``lockgate new-pipeline``: the four files, a valid spec, and a scaffolded test that passes as written.

The last test does what the README's "Add a pipeline" asks of a new user, in a fresh copy of the
project (with the ``lockgate`` package imported from that copy): scaffold, then run the
scaffolded end-to-end test with pytest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lockgate.cli import main
from lockgate.pipelines.factory import BROKEN_TAG, build_dags
from lockgate.pipelines.scaffold import ScaffoldError, scaffold
from lockgate.pipelines.spec import load_spec

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project's dags/ and include/ (what the scaffold writes into)."""
    root = tmp_path / "project"
    shutil.copytree(REPO / "dags", root / "dags", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "include", root / "include")
    monkeypatch.setenv("LOCKGATE_INCLUDE_DIR", str(root / "include"))
    return root


def test_new_pipeline_writes_a_spec_a_contract_sample_data_and_a_test(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new-pipeline", "orders_daily", "--root", str(project), "--owner", "orders-team"]) == 0
    out = capsys.readouterr().out
    files = [
        "dags/pipelines/orders_daily.yaml",
        "include/contracts/orders_daily.yaml",
        "include/samples/orders_daily/orders_daily/orders_daily_2026-01-02.csv",
        "tests/pipelines/test_orders_daily.py",
    ]
    for name in files:
        assert (project / name).is_file(), name
        assert name in out
    spec = load_spec(project / files[0])
    assert (spec.dag_id, spec.owners, spec.loads[0].table) == ("orders_daily", ("orders-team",), "orders_daily")
    assert spec.location["sample"] == {"folder": "samples/orders_daily"}
    contract = yaml.safe_load((project / files[1]).read_text())
    assert contract["dataset"] == "orders_daily"
    # the scaffolded test passes the project's own lint (make lint runs ruff over tests/ too)
    for args in (["check"], ["format", "--check"]):
        lint = subprocess.run(
            [sys.executable, "-m", "ruff", *args, "--config", str(REPO / "pyproject.toml"), str(project / files[3])],
            capture_output=True,
            text=True,
            check=False,
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr

    dags, errors = build_dags(project / "dags" / "pipelines")
    assert errors == []
    built = {d.dag_id: d for d in dags}
    assert BROKEN_TAG not in built["orders_daily"].tags
    assert "sales_distribution" in built


def test_dataset_table_and_refusals(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    made = scaffold("returns_feed", root=project, dataset="returns", table="fact_returns")
    assert made.contract == Path("include/contracts/returns.yaml")
    assert load_spec(project / made.spec).loads[0].table == "fact_returns"
    with pytest.raises(ScaffoldError, match="already there"):
        scaffold("returns_feed", root=project, dataset="returns", table="fact_returns")
    scaffold("returns_feed", root=project, dataset="returns", table="fact_returns", force=True)
    assert main(["new-pipeline", "Bad-Name", "--root", str(project)]) == 2
    assert "lower-case letters" in capsys.readouterr().err


@pytest.mark.integration
def test_the_scaffolded_test_passes_in_a_fresh_copy(tmp_path: Path) -> None:
    root = tmp_path / "clone"
    for folder in ("dags", "include", "plugins"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        REPO / "tests" / "support", root / "tests" / "support", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO / "tests" / "conftest.py", root / "tests" / "conftest.py")
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    # `lockgate` imported from the copy (an install of the clone would do the same)
    (root / ".import").mkdir()
    (root / ".import" / "lockgate").symlink_to(root / "plugins")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LOCKGATE", "PYTEST"))},
        "PYTHONPATH": str(root / ".import"),
    }
    scaffolded = subprocess.run(
        [sys.executable, "-m", "lockgate.cli", "new-pipeline", "orders_daily"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert scaffolded.returncode == 0, scaffolded.stderr
    assert str(root) in scaffolded.stdout
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/pipelines/test_orders_daily.py", "-q", "-p", "no:cacheprovider"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout


@pytest.mark.parametrize(
    ("made", "missing"),
    [
        ([], "no dags, include, include/pipeline.schema.json"),
        (["dags", "include"], "no include/pipeline.schema.json"),
    ],
)
def test_a_folder_that_is_not_a_project_is_refused_before_anything_is_written(
    tmp_path: Path, made: list[str], missing: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "not-a-project"
    for folder in made:
        (root / folder).mkdir(parents=True)
    root.mkdir(exist_ok=True)
    before = sorted(root.rglob("*"))
    assert main(["new-pipeline", "orders_daily", "--root", str(root)]) == 2
    error = capsys.readouterr().err
    assert "is not a Lockgate project" in error
    assert missing in error
    assert sorted(root.rglob("*")) == before  # nothing written (it used to write four files, then crash)
