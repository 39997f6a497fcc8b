"""Daily Air Quality Index per station, derived from the curated hourly readings."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException

from lockgate.hooks.lake import safe_key, sha256_file
from lockgate.layout import MANIFEST, raw_prefix
from lockgate.lineage import ColumnSource
from lockgate.operators.base import LakeOperator
from lockgate.sql import render

if TYPE_CHECKING:
    from airflow.sdk import Context

#: daily concentration column -> the AQI table it is indexed with
SUB_INDEX_COLUMNS = {
    "pm25_24h": "pm25",
    "pm10_24h": "pm10",
    "o3_8h_max": "o3_8h",
    "o3_1h_max": "o3_1h",
    "co_8h_max": "co",
    "so2_1h_max": "so2",
    "no2_1h_max": "no2",
}
#: the dominant pollutant is reported by its reading name (o3, not o3_8h)
_READING_NAME = re.compile(r"_(8h|1h)$")


def daily_aqi_table(concentrations: Any, *, revision: str) -> Any:
    """Add ``aqi``, ``category`` and ``dominant_pollutant`` to a table of daily concentrations.

    Vectorised: one pass of :func:`lockgate.transforms.aqi.sub_index_array` per pollutant column;
    the day's AQI is the highest sub-index (ties to the alphabetically first pollutant, as in
    :func:`lockgate.transforms.aqi.dominant`).
    """
    import numpy as np
    import pyarrow as pa

    from lockgate.transforms.aqi import category, sub_index_array

    n = concentrations.num_rows
    names = sorted(SUB_INDEX_COLUMNS, key=lambda c: SUB_INDEX_COLUMNS[c])
    indices = np.full((len(names), n), -1, dtype=np.int64)
    for i, column in enumerate(names):
        pollutant = SUB_INDEX_COLUMNS[column]
        sub = sub_index_array([pollutant] * n, concentrations.column(column), revision=revision)
        indices[i] = np.asarray(sub.fill_null(-1), dtype=np.int64)
    best = indices.argmax(axis=0)  # first maximum = alphabetically first pollutant
    aqi = indices[best, np.arange(n)]
    valid = aqi >= 0
    aqi_array = pa.array(np.where(valid, aqi, 0), mask=~valid, type=pa.int64())
    dominant = [
        _READING_NAME.sub("", SUB_INDEX_COLUMNS[names[b]]) if ok else None for b, ok in zip(best, valid, strict=True)
    ]
    categories = [category(int(a)) if ok else None for a, ok in zip(aqi, valid, strict=True)]
    return (
        concentrations.append_column("aqi", aqi_array)
        .append_column("category", pa.array(categories, pa.string()))
        .append_column("dominant_pollutant", pa.array(dominant, pa.string()))
    )


class DailyAqiOperator(LakeOperator):
    """Compute the daily AQI per station and land it in the raw zone like any other source.

    Reads the curated hourly readings of the logical date, aggregates them by the EPA averaging
    periods (``include/sql/duckdb/daily_concentrations.sql``), indexes every pollutant with the
    breakpoint ``revision`` in force, and writes one Parquet file plus an ingestion manifest under
    ``raw/<dataset>/ds=<date>/run=<run>/<task>/``, so the same gate, partition and load steps apply.

    :param dataset: the output dataset (``agg_air_quality_daily``).
    :param source_dataset: the curated hourly dataset (``readings``).
    :param revision: the EPA PM2.5 breakpoint revision ("1999", "2012" or "2024"). Templated.
    """

    template_fields: tuple[str, ...] = ("dataset", "source_dataset", "revision")

    def __init__(self, *, source_dataset: str = "readings", revision: str = "2024", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source_dataset = source_dataset
        self.revision = revision

    def _column_lineage(self) -> dict[str, ColumnSource]:
        """How each daily column derives from the hourly readings (for OpenLineage)."""
        namespace, name = self.lake.openlineage_dataset(f"curated/{self.source_dataset}")

        def source(fields: tuple[str, ...], subtype: str, description: str) -> ColumnSource:
            return ColumnSource(namespace, name, fields, subtype, description)

        concentration = ("value", "pollutant", "observed_at")
        lineage = {
            "station_id": source(("station_id",), "IDENTITY", "grouping key"),
            "region": source(("region",), "IDENTITY", "the station's region"),
            "hours_observed": source(("observed_at",), "AGGREGATION", "distinct hours with a reading"),
        }
        for column in SUB_INDEX_COLUMNS:
            lineage[column] = source(concentration, "AGGREGATION", f"EPA averaging period of the day: {column}")
        daily = f"EPA AQI ({self.revision} breakpoints): highest pollutant sub-index of the day"
        lineage["aqi"] = source(concentration, "AGGREGATION", daily)
        lineage["category"] = source(concentration, "TRANSFORMATION", "EPA category of the daily AQI")
        lineage["dominant_pollutant"] = source(concentration, "TRANSFORMATION", "pollutant with the highest sub-index")
        return lineage

    def execute(self, context: Context) -> dict[str, Any]:
        import duckdb
        import pyarrow as pa
        import pyarrow.parquet as pq

        from lockgate.hooks.iceberg import CatalogHook, CuratedDataMissing

        ds = self.logical_ds(context)
        catalog = CatalogHook(lake=self.lake)
        prefix = safe_key(raw_prefix(self.dataset, ds, str(context["run_id"])), self.task_id)
        self.lake.delete_prefix(prefix)
        with self.workdir() as work:
            # the date's data files of the table's current snapshot: exactly one version of the date
            try:
                curated = catalog.local_date(self.source_dataset, ds, work / "in")
            except CuratedDataMissing as exc:
                raise AirflowException(f"no curated {self.source_dataset} for ds={ds}: {exc}") from None
            files = [str(f) for f in curated.files]
            con = duckdb.connect()
            try:
                con.execute("SET TimeZone='UTC'")
                if files:
                    con.read_parquet(files, hive_partitioning=True).create_view("readings")
                    daily = con.sql(render("duckdb", "daily_concentrations.sql")).to_arrow_table()
                else:
                    daily = None
            finally:
                con.close()
            if daily is None or daily.num_rows == 0:
                table = pa.table({c: pa.array([], pa.string()) for c in self.contract.column_names})
            else:
                table = daily_aqi_table(daily, revision=self.revision)
                table = table.append_column("breakpoint_revision", pa.array([self.revision] * table.num_rows))
                table = table.select(self.contract.column_names)
            out = work / "daily_aqi.parquet"
            pq.write_table(table, out, compression="zstd")
            key = safe_key(prefix, "daily_aqi.parquet")
            checksum = sha256_file(out)
            obj = self.lake.put_file(out, key)
        self.lake.write_json(
            safe_key(prefix, MANIFEST),
            {
                "dataset": self.dataset,
                "ds": ds,
                "run_id": str(context["run_id"]),
                "source_name": self.task_id,
                "source": f"{catalog.location(self.source_dataset)} snapshot {curated.snapshot_id}",
                "files": [
                    {
                        "key": key,
                        "source": "derived",
                        "format": "parquet",
                        "bytes": obj.size,
                        "rows": table.num_rows,
                        "sha256": checksum,
                    }
                ],
                "rows": table.num_rows,
                "bytes": obj.size,
            },
        )
        self.lineage.inputs.append(self.lake_dataset(f"curated/{self.source_dataset}"))
        output = self.lake_dataset(
            f"raw/{self.dataset}", self.contract.columns, row_count=table.num_rows, partitions=[{"ds": ds}]
        )
        output.column_lineage = self._column_lineage()
        self.lineage.outputs.append(output)
        return {"stations": table.num_rows}
