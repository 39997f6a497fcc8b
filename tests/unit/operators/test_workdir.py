"""Task work folders: the same path for every try of a task instance, so a killed try's leftovers go."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lockgate.operators import base
from lockgate.operators.base import LakeOperator, sweep_stale_workdirs, task_workdir


@pytest.fixture
def tmp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(base.WORKDIR_ENV, raising=False)  # the test session sets one (tests/conftest.py)
    monkeypatch.setattr(base.tempfile, "gettempdir", lambda: str(tmp_path))
    return tmp_path / "lockgate-work"


def test_the_work_root_can_be_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(base.WORKDIR_ENV, str(tmp_path / "work"))
    assert task_workdir(("dag", "task", "run", "-1")) == tmp_path / "work" / "dag" / "task" / "run" / "-1"


def test_a_killed_try_leaves_a_folder_the_next_try_removes(tmp_root: Path) -> None:
    key = ("dag", "gate_readings", "manual__2026-01-02T00:00:00+00:00", "-1")
    folder = task_workdir(key)
    assert folder == tmp_root / "dag" / "gate_readings" / "manual__2026-01-02T00_00_00_00_00" / "-1"
    # a child process makes the work folder, writes into it and is SIGKILLed: no cleanup runs
    script = textwrap.dedent(
        f"""
        import pathlib, sys, time
        folder = pathlib.Path({str(folder)!r})
        folder.mkdir(parents=True)
        (folder / "spill.bin").write_bytes(b"x" * 1024)
        print("ready", flush=True)
        time.sleep(60)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(10)
    assert (folder / "spill.bin").exists()  # what a killed try leaves behind

    op = LakeOperator(task_id="gate_readings", dataset="readings")
    op._task_instance_key = lambda: key  # type: ignore[method-assign]  # the next try of the same task instance
    with op.workdir() as work:
        assert work == folder
        assert list(work.iterdir()) == []  # the killed try's files are gone
    assert list(tmp_root.iterdir()) == []  # nothing left behind, not even empty parent folders


def test_in_a_task_run_the_folder_is_the_task_instances(tmp_root: Path) -> None:
    from types import SimpleNamespace

    from airflow.sdk.execution_time.context import set_current_context

    ti = SimpleNamespace(dag_id="air_quality_daily", task_id="gate_x", run_id="scheduled__2026-01-02", map_index=3)
    op = LakeOperator(task_id="gate_x", dataset="x")
    with set_current_context({"ti": ti}), op.workdir() as work:  # type: ignore[arg-type]
        assert work == tmp_root / "air_quality_daily" / "gate_x" / "scheduled__2026-01-02" / "3"


def test_folders_of_task_instances_that_never_ran_again_are_swept(tmp_root: Path) -> None:
    old = task_workdir(("dag", "t", "run_old", "-1"))
    new = task_workdir(("dag", "t", "run_new", "-1"))
    for folder in (old, new):
        folder.mkdir(parents=True)
    day_ago = time.time() - 25 * 3600
    os.utime(old, (day_ago, day_ago))
    assert sweep_stale_workdirs() == [old]
    assert not old.exists()
    assert new.exists()


def test_a_folder_removed_by_another_task_during_the_sweep_is_skipped(
    tmp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = task_workdir(("dag", "finished_task", "run", "-1"))
    old = task_workdir(("dag", "t", "run_old", "-1"))
    for folder in (gone, old):
        folder.mkdir(parents=True)
    day_ago = time.time() - 25 * 3600
    os.utime(old, (day_ago, day_ago))
    real_scandir = os.scandir

    def scandir_after_another_task_cleaned_up(path: object) -> object:
        # another task finishes between the sweep listing its task folder and reading it
        if Path(str(path)) == gone.parents[1]:
            import shutil

            shutil.rmtree(gone.parents[1])
        return real_scandir(path)  # type: ignore[call-overload]

    monkeypatch.setattr(os, "scandir", scandir_after_another_task_cleaned_up)
    assert sweep_stale_workdirs() == [old]


def test_outside_a_run_each_execution_gets_its_own_folder(tmp_root: Path) -> None:
    op = LakeOperator(task_id="t", dataset="d")
    with op.workdir() as first, op.workdir() as second:
        assert first != second
        assert first.is_dir()
        assert second.is_dir()
    assert not first.exists()
