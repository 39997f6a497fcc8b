"""What every Lockgate lake operator shares: the lake hook, the logical date, a work folder, lineage."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from lockgate.config import DEFAULT_LAKE_CONN_ID
from lockgate.contracts import Column, Contract, load_contract
from lockgate.hooks.lake import LakeHook
from lockgate.layout import run_segment
from lockgate.lineage import LineageDataset, LineageRecord, operator_lineage
from lockgate.metrics import TaskMetricsHook

if TYPE_CHECKING:
    from airflow.sdk import Context


#: work folders of task instances that were killed and never ran again are removed after this long
STALE_WORKDIR_HOURS = 24


#: where task work folders live instead of the default (a worker's fast local disk; a test session's
#: own temporary folder, so a test that kills a task leaves nothing in the system's /tmp)
WORKDIR_ENV = "LOCKGATE_WORK_DIR"


def workdir_root() -> Path:
    """Where task work folders live: ``$LOCKGATE_WORK_DIR``, else ``lockgate-work`` in the system's
    temporary directory."""
    configured = os.environ.get(WORKDIR_ENV)
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "lockgate-work"


def task_workdir(key: Sequence[str]) -> Path:
    """The work folder of one task instance: the same path for every try of it."""
    return workdir_root().joinpath(*(run_segment(part) for part in key))


def _prune_empty_parents(folder: Path) -> None:
    """Remove ``folder`` and its parents up to the work root while they are empty."""
    root = workdir_root()
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return  # not empty (another try or task is using it) or already gone
        folder = folder.parent


def _work_folders(root: Path) -> list[Path]:
    """The task work folders under ``root`` (dag / task / run / map index: four levels down).

    Other tasks on the worker create and remove folders meanwhile (:func:`_prune_empty_parents`), so
    a folder that vanishes between being listed and being read is skipped, never an error.
    """
    level = [root]
    for _ in range(4):
        below: list[Path] = []
        for folder in level:
            try:
                with os.scandir(folder) as entries:
                    below.extend(Path(entry.path) for entry in entries if entry.is_dir(follow_symlinks=False))
            except (FileNotFoundError, NotADirectoryError):
                continue  # removed by another task's clean-up since it was listed
        level = below
    return level


def sweep_stale_workdirs(max_age_hours: float = STALE_WORKDIR_HOURS) -> list[Path]:
    """Remove task work folders untouched for ``max_age_hours``; the removed paths."""
    import time

    cutoff = time.time() - max_age_hours * 3600
    removed = []
    for folder in _work_folders(workdir_root()):
        try:
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        except FileNotFoundError:
            continue  # another task's sweep got there first
    return removed


class LakeOperator(BaseOperator):
    """Base for operators that read and write one dataset's zones in the lake.

    :param dataset: the dataset (lake folder and contract name).
    :param contract: contract name or path; defaults to the dataset's contract.
    :param lake_conn_id: the lake connection (see :class:`~lockgate.hooks.lake.LakeHook`).
    """

    template_fields: tuple[str, ...] = ("dataset",)
    ui_color = "#e8f4ea"

    def __init__(
        self,
        *,
        dataset: str,
        contract: str | None = None,
        lake_conn_id: str = DEFAULT_LAKE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        # rows/bytes/duration/throughput to StatsD and XCom (lockgate.metrics): Airflow 3.3 hands the
        # execute() result to a post_execute= callable, not to the post_execute() method
        metrics = TaskMetricsHook(kwargs.pop("pre_execute", None), kwargs.pop("post_execute", None))
        super().__init__(pre_execute=metrics.started, post_execute=metrics.finished, **kwargs)
        self.dataset = dataset
        self.contract_name = contract
        self.lake_conn_id = lake_conn_id
        self.lineage = LineageRecord()

    @cached_property
    def lake(self) -> LakeHook:
        return LakeHook(lake_conn_id=self.lake_conn_id)

    @cached_property
    def contract(self) -> Contract:
        return load_contract(self.contract_name or self.dataset)

    @staticmethod
    def logical_ds(context: Context) -> str:
        """The partition date of this run: the logical date, never the clock.

        Airflow 3 allows runs without a logical date; they use the date the run was due. A run of a
        partitioned schedule (``after:``, ``PartitionedAssetTimetable``) is for its partition's date.
        """
        ds = context.get("ds")
        if ds:
            return str(ds)
        partition = context.get("partition_key")
        if isinstance(partition, str) and len(partition) == 10 and partition[4] == partition[7] == "-":
            return partition
        return str(context["dag_run"].run_after.date().isoformat())

    @contextmanager
    def workdir(self) -> Iterator[Path]:
        """A private local folder for this execution, removed afterwards.

        Its path is the task instance's own (:func:`task_workdir`), so a try that was killed
        (SIGKILL, an OOM kill: no ``finally`` runs) leaves a folder the next try of the same task
        instance removes before it starts; folders of task instances that never ran again are swept
        after :data:`STALE_WORKDIR_HOURS`.
        """
        path = task_workdir(self._task_instance_key())
        sweep_stale_workdirs()
        shutil.rmtree(path, ignore_errors=True)  # what a killed earlier try left
        path.mkdir(parents=True)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
            _prune_empty_parents(path.parent)

    def _task_instance_key(self) -> tuple[str, ...]:
        """(dag id, task id, run id, map index) of the running task instance; a unique key outside a run."""
        try:
            from airflow.sdk import get_current_context

            ti = get_current_context()["ti"]
            return (ti.dag_id, ti.task_id, ti.run_id, str(ti.map_index))
        except Exception:  # noqa: BLE001 - called outside a task run (tests, scripts): a private folder
            import uuid

            return ("adhoc", self.task_id, uuid.uuid4().hex, "-1")

    def lake_dataset(self, key: str, columns: Sequence[Column] | None = None, **stats: Any) -> LineageDataset:
        namespace, name = self.lake.openlineage_dataset(key)
        return LineageDataset(namespace, name, list(columns or []), **stats)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Lineage of what this execution really read and wrote (called by the OpenLineage provider)."""
        return operator_lineage(self.lineage)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        return operator_lineage(self.lineage)
