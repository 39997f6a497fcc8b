"""In-memory data (an Arrow table, a pandas or a Spark DataFrame) handed from an upstream task to an ingestion.

XCom is for small values, so the data itself does not travel through it: the upstream task calls
:func:`hand_over`, which writes the table as Parquet to the lake's ``handoff/`` area (keyed by DAG,
date, run and task, so a retry replaces it) and returns a small reference dict; that dict is the
task's XCom. :class:`ArrowSource` resolves the reference in the ingestion task, which then lands
it like any other source (manifest, row count, drift, lineage)::

    @task
    def score(**context):
        frame = compute()  # a pandas DataFrame, a pyarrow Table or a pyspark.sql.DataFrame
        return hand_over(frame, context)

    scored = score()
    ingest = IngestOperator(task_id="ingest_scores", dataset="scores", source=ArrowSource(from_task="score"))
    scored >> ingest

A Spark DataFrame is streamed to that Parquet file in Arrow record batches, one partition at a time
(:mod:`lockgate.sources.spark`), never collected on the driver; pyspark is imported only then.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from lockgate.config import DEFAULT_LAKE_CONN_ID
from lockgate.layout import handoff_key
from lockgate.sources.base import ParquetSpool, Source, Unit

if TYPE_CHECKING:
    from airflow.sdk import Context

    from lockgate.progress import Progress

#: the key a hand-over reference is recognised by
REFERENCE_KEY = "lockgate_handoff"


#: a streamed frame is written a Parquet row group at a time: this many rows or bytes (Arrow, in
#: memory), whichever comes first; Spark sends batches of 10,000 rows, too small for row groups
STREAM_ROW_GROUP_ROWS = 64 * 1024
STREAM_ROW_GROUP_BYTES = 16 * 1024 * 1024


def is_spark_dataframe(data: Any) -> bool:
    """Whether ``data`` is a Spark DataFrame (classic or Spark Connect), told without importing pyspark."""
    cls = type(data)
    return cls.__module__.startswith("pyspark.sql") and cls.__name__ == "DataFrame"


def to_arrow(data: Any) -> Any:
    """Arrow data from an Arrow table, record batch or pandas DataFrame (the index is dropped): a table.

    A Spark DataFrame gives a ``pyarrow.RecordBatchReader`` instead, which streams it from the
    cluster one partition at a time: a Spark frame is never gathered into one table on the driver.
    """
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if type(data).__module__.startswith("pandas") and type(data).__name__ == "DataFrame":
        return pa.Table.from_pandas(data, preserve_index=False)
    if is_spark_dataframe(data):
        from lockgate.sources.spark import record_batches

        return record_batches(data)
    raise TypeError(
        f"expected a pyarrow Table, a pandas DataFrame or a pyspark.sql.DataFrame, not {type(data).__name__}"
    )


def write_parquet(data: Any, path: Path) -> dict[str, Any]:
    """Write ``data`` (anything :func:`to_arrow` takes) to ``path``; its rows, columns and batches.

    A stream is written as it arrives, a row group at a time, so memory holds one row group of it.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = to_arrow(data)
    if isinstance(arrow, pa.Table):
        pq.write_table(arrow, path)
        return {"rows": arrow.num_rows, "columns": arrow.column_names}
    rows = batches = 0
    pending: list[Any] = []
    with pq.ParquetWriter(path, arrow.schema) as writer:
        for batch in arrow:
            pending.append(batch)
            rows += batch.num_rows
            batches += 1
            if (
                sum(b.num_rows for b in pending) >= STREAM_ROW_GROUP_ROWS
                or sum(b.nbytes for b in pending) >= STREAM_ROW_GROUP_BYTES
            ):
                writer.write_table(pa.Table.from_batches(pending, arrow.schema))
                pending.clear()
        if pending:
            writer.write_table(pa.Table.from_batches(pending, arrow.schema))
    return {"rows": rows, "columns": arrow.schema.names, "batches": batches}


def hand_over(
    data: Any, context: Context, *, name: str | None = None, lake_conn_id: str = DEFAULT_LAKE_CONN_ID
) -> dict[str, Any]:
    """Write ``data`` to the lake's hand-over area and return the reference to pass through XCom.

    ``data``: a pyarrow Table or RecordBatch, a pandas DataFrame, or a Spark DataFrame (streamed,
    see :func:`to_arrow`). The reference holds the number of rows written, which the ingestion
    checks against the file it finds.
    """
    from lockgate.hooks.lake import LakeHook

    ti = context["ti"]
    if name is None:
        name = str(ti.task_id)
        map_index = getattr(ti, "map_index", -1)
        if isinstance(map_index, int) and map_index >= 0:
            name += f"_{map_index}"
    ds = str(context.get("ds") or context["dag_run"].run_after.date().isoformat())
    key = handoff_key(str(context["dag"].dag_id), ds, str(context["run_id"]), name)
    lake = LakeHook(lake_conn_id=lake_conn_id)
    with tempfile.TemporaryDirectory(prefix="lockgate-handoff-") as tmp:
        path = Path(tmp) / "data.parquet"
        written = write_parquet(data, path)
        lake.put_file(path, key)
    return {REFERENCE_KEY: key, **written, "lake_conn_id": lake_conn_id}


class ArrowSource(Source):
    """An Arrow table, a pandas or a Spark DataFrame from an upstream task, landed as Parquet.

    :param from_task: the upstream task whose XCom is a :func:`hand_over` reference.
    :param xcom_key: the XCom key of that reference (default the return value).
    :param reference: a :func:`hand_over` reference given directly (e.g. rendered from a template).
    :param data: an Arrow table, a pandas or a Spark DataFrame in this process (the same task, or
        tests); a Spark DataFrame is streamed to the file, never collected.
    :param name: the file name in the raw zone (``<name>.parquet``).
    """

    template_fields = ("from_task",)
    kind = "memory"

    def __init__(
        self,
        *,
        from_task: str | None = None,
        xcom_key: str = "return_value",
        reference: dict[str, Any] | None = None,
        data: Any = None,
        name: str = "data",
    ) -> None:
        if sum(x is not None for x in (from_task, reference, data)) != 1:
            raise ValueError("give exactly one of from_task=, reference= or data=")
        self.from_task = from_task
        self.xcom_key = xcom_key
        self.reference = reference
        self.data = data
        self.name = name

    def describe(self) -> str:
        if self.from_task is not None:
            return f"memory:{self.from_task}"
        if self.reference is not None:
            return f"memory:{self.reference.get(REFERENCE_KEY)}"
        return "memory:in-process"

    def _reference(self, context: Context) -> dict[str, Any]:
        ref = self.reference
        if self.from_task is not None:
            ref = context["ti"].xcom_pull(task_ids=self.from_task, key=self.xcom_key)
        if not isinstance(ref, dict) or REFERENCE_KEY not in ref:
            raise AirflowFailException(
                f"{self.describe()}: expected a hand-over reference (the return value of "
                f"lockgate.sources.memory.hand_over), got {type(ref).__name__}"
            )
        return ref

    def _land_data(self, path: Path) -> int:
        """Write ``data`` to ``path``: a Spark frame streamed, an Arrow table or pandas frame as before."""
        if is_spark_dataframe(self.data):
            return int(write_parquet(self.data, path)["rows"])
        table = to_arrow(self.data)
        spool = ParquetSpool(path, description=self.describe())
        for batch in table.to_batches():
            spool.write_batch(batch)
        spool.close(empty_columns=table.column_names)
        return spool.rows

    def units(self, context: Context, workdir: Path, *, log: Any, progress: Progress) -> Iterator[Unit]:
        path = workdir / f"{self.name}.parquet"
        if self.data is not None:
            rows = self._land_data(path)
            progress.advance(rows)
            yield Unit(name=path.name, path=path, format="parquet", source=self.describe(), rows=rows)
            return
        import pyarrow.parquet as pq

        from lockgate.hooks.lake import LakeHook
        from lockgate.lineage import LineageDataset

        ref = self._reference(context)
        lake = LakeHook(lake_conn_id=str(ref.get("lake_conn_id") or DEFAULT_LAKE_CONN_ID))
        key = str(ref[REFERENCE_KEY])
        try:
            local = lake.local_copy(key, workdir / "handoff")
        except FileNotFoundError:
            raise AirflowFailException(f"{lake.uri(key)}: the handed-over data is not in the lake") from None
        # a local lake gives its own file: copy, never move (a retry must find it again)
        shutil.copyfile(local, path)
        rows = int(pq.ParquetFile(path).metadata.num_rows)
        if "rows" in ref and int(ref["rows"]) != rows:
            raise AirflowFailException(
                f"{lake.uri(key)}: the hand-over says {ref['rows']} rows but the file has {rows}"
            )
        progress.advance(rows)
        namespace, name = lake.openlineage_dataset(key)
        yield Unit(
            name=path.name,
            path=path,
            format="parquet",
            source=lake.uri(key),
            rows=rows,
            extra={"handoff": key},
            lineage=LineageDataset(namespace, name),
        )
