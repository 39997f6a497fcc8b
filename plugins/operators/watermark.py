"""Commit an incremental SQL source's watermark range once the date's warehouse load has committed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from lockgate.config import DEFAULT_WAREHOUSE_CONN_ID
from lockgate.sources.watermark import WatermarkStore, encode

if TYPE_CHECKING:
    from airflow.sdk import Context


class CommitWatermarkOperator(BaseOperator):
    """Mark the watermark range an incremental :class:`~lockgate.sources.sql.SqlSource` read for this
    logical date as committed, in ``lockgate_watermarks`` in the warehouse.

    Place it downstream of the warehouse load of the data that ingestion fed::

        ingest >> gate >> partition >> load >> CommitWatermarkOperator(task_id="commit", ingest=ingest)

    Semantics (durable, and advancing only after the load commits):

    * ingestion of a date records the range it read, ``(low, high]`` of the watermark column,
      uncommitted; this operator commits it, after the load's own transaction committed;
    * the next date starts at the highest committed high-watermark of an earlier date; while an
      earlier date is recorded but uncommitted, a new date waits (retryable error) rather than read
      that date's rows a second time;
    * a failed run (the load failed, so this task never ran) is re-read by the next attempt, which
      reads exactly the recorded range again; so does any rerun of a date, so replace-partition loads
      are idempotent and no row ever lands in two dates. If the load committed but this task failed,
      its retry only commits: nothing is read or loaded twice;
    * rows that arrive late with a watermark value at or below an already read range are out of
      scope: no open range covers them (a full reload of the table picks them up).

    :param ingest: the ``IngestOperator`` whose source to commit (gives ``dataset`` and ``source_name``).
    :param dataset: the ingested dataset, when ``ingest`` is not given.
    :param source_name: the ingestion's source folder (its ``source_name``, default its task id).
    :param warehouse_conn_id: the warehouse holding ``lockgate_watermarks`` (the SqlSource's).
    """

    template_fields: tuple[str, ...] = ("dataset", "source_name")
    ui_color = "#f3e8d2"

    def __init__(
        self,
        *,
        ingest: Any = None,
        dataset: str | None = None,
        source_name: str | None = None,
        warehouse_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if ingest is not None:
            dataset = dataset or ingest.dataset
            source_name = source_name or ingest.source_name or ingest.task_id
            source = getattr(ingest, "source", None)
            warehouse_conn_id = warehouse_conn_id or getattr(source, "warehouse_conn_id", None)
        if not dataset or not source_name:
            raise ValueError("give ingest= or both dataset= and source_name=")
        self.dataset = dataset
        self.source_name = source_name
        self.warehouse_conn_id = warehouse_conn_id or DEFAULT_WAREHOUSE_CONN_ID

    def execute(self, context: Context) -> dict[str, Any]:
        ds = str(context.get("ds") or context["dag_run"].run_after.date().isoformat())
        dag_id = str(context["dag"].dag_id)
        store = WatermarkStore(self.warehouse_conn_id)
        try:
            committed = store.commit(dag_id, f"{self.dataset}/{self.source_name}", ds, str(context["run_id"]))
        except LookupError as exc:
            raise AirflowFailException(str(exc)) from None
        self.log.info(
            "committed %s/%s ds=%s watermark range (%s, %s], %d rows",
            self.dataset,
            self.source_name,
            ds,
            committed.low,
            committed.high,
            committed.rows,
        )
        return {
            "ds": ds,
            "low_exclusive": encode(committed.low)[1],
            "high_inclusive": encode(committed.high)[1],
            "rows": committed.rows,
        }
