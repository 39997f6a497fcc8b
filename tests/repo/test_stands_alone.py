"""The repository stands alone: nothing tracked points outside it, and an end-to-end test passes from
a copy of the tracked files with no ``shared/`` folder beside it and the working directory elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# spelled in pieces so that this file does not match its own search
OUTSIDE = ("../" + "shared", "/work/" + "shared")


def tracked_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, text=True)
    return [name for name in listed.stdout.split("\0") if name]


def test_no_tracked_file_points_outside_the_repository() -> None:
    offenders = []
    for name in tracked_files():
        path = REPO / name
        if not path.is_file():
            continue  # deleted in the working tree, not yet committed
        text = path.read_bytes().decode("utf-8", errors="replace")
        offenders += [f"{name}: {needle}" for needle in OUTSIDE if needle in text]
    assert not offenders, offenders


@pytest.mark.integration
def test_an_end_to_end_test_passes_from_a_copy_without_shared_beside_it(tmp_path: Path) -> None:
    # tmp_path/clone/repo: its parent holds nothing else, so no shared folder can be found beside it
    root = tmp_path / "clone" / "repo"
    for name in tracked_files():
        source = REPO / name
        if source.is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    assert sorted(p.name for p in root.parent.iterdir()) == ["repo"]
    # `lockgate` imported from the copy, not from the editable install of this checkout
    (root / ".import").mkdir()
    (root / ".import" / "lockgate").symlink_to(root / "plugins")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LOCKGATE", "PYTEST"))},
        "PYTHONPATH": str(root / ".import"),
    }
    test = root / "tests" / "e2e" / "test_air_quality_daily.py"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", f"{test}::test_two_days_and_a_rerun[duckdb]", "-p", "no:cacheprovider"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout
    # the copy ran, not this checkout: pytest's rootdir is the copy
    assert f"rootdir: {root}" in result.stdout
    print(f"the copy's end-to-end test took {time.monotonic() - started:.0f}s")
