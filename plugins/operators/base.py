"""What every Lockgate lake operator shares: the lake hook, the logical date, a work folder, lineage."""

from __future__ import annotations

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
from lockgate.lineage import LineageDataset, LineageRecord, operator_lineage
from lockgate.metrics import TaskMetricsHook

if TYPE_CHECKING:
    from airflow.sdk import Context


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

        Airflow 3 allows runs without a logical date; they use the date the run was due.
        """
        ds = context.get("ds")
        if ds:
            return str(ds)
        return str(context["dag_run"].run_after.date().isoformat())

    @contextmanager
    def workdir(self) -> Iterator[Path]:
        """A private local folder for this execution, removed afterwards."""
        path = Path(tempfile.mkdtemp(prefix=f"lockgate-{self.task_id}-"))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def lake_dataset(self, key: str, columns: Sequence[Column] | None = None, **stats: Any) -> LineageDataset:
        namespace, name = self.lake.openlineage_dataset(key)
        return LineageDataset(namespace, name, list(columns or []), **stats)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Lineage of what this execution really read and wrote (called by the OpenLineage provider)."""
        return operator_lineage(self.lineage)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        return operator_lineage(self.lineage)
