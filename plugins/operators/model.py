"""A SQL model: one DuckDB query over the logical date's curated datasets, landed as a raw delivery."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from lockgate.hooks.lake import safe_key, sha256_file
from lockgate.layout import MANIFEST, raw_prefix
from lockgate.lineage import ColumnSource
from lockgate.operators.base import LakeOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from lockgate.hooks.iceberg import CatalogHook, CuratedDate


class ModelOperator(LakeOperator):
    """Run a model's SQL over the date's curated rows and land the result in the raw zone.

    Every dataset the SQL names is a view of that dataset's rows for the logical date (its curated
    Iceberg table's current snapshot: contract columns plus ``ds``); the connection has the AQI
    functions (:mod:`lockgate.transforms.aqi_sql`) and ``logical_date()``. The result, in the
    model contract's column order, is written as one Parquet file plus an ingestion manifest under
    ``raw/<dataset>/ds=<date>/run=<run>/<task>/``, so the same gate, partition and load steps as for
    any source follow (quarantine, severities, load modes, reconciliation). Column lineage comes
    from the SQL (:func:`lockgate.models.analyse`).

    :param dataset: the model's dataset (its contract is the output's).
    :param sql: the DuckDB ``SELECT``, or a file below ``include/`` ending in ``.sql`` (read when the
        task runs).
    :param reads: the datasets it reads (default: found in the SQL at run time), or a mapping of
        each to its contract (name or path) when that is not the dataset's name.
    :param aqi_revision: an AQI breakpoint revision that overrides the one in force by date (every
        ``aqi_revision_on(...)`` in the SQL gives it). Templated.
    """

    template_fields: tuple[str, ...] = ("dataset", "aqi_revision")

    def __init__(
        self,
        *,
        sql: str,
        reads: Sequence[str] | Mapping[str, str] | None = None,
        aqi_revision: str | None = None,
        catalog_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sql = sql
        self.reads = (
            (dict(reads) if isinstance(reads, Mapping) else {r: r for r in reads}) if reads is not None else None
        )
        self.aqi_revision = aqi_revision
        self.catalog_conn_id = catalog_conn_id

    @cached_property
    def query(self) -> str:
        """The SQL text (read from ``include/`` when ``sql`` names a file)."""
        from lockgate.models import read_model_sql

        return read_model_sql(self.sql) if self.sql.strip().endswith(".sql") else self.sql

    def _reads(self) -> dict[str, str]:
        """Each dataset the SQL reads -> its contract reference."""
        from lockgate.models import datasets_read, parse_query

        if self.reads is not None:
            return self.reads
        return {name: name for name in datasets_read(parse_query(self.query))}

    def _analysis(self) -> Any:
        from lockgate.contracts import load_contract
        from lockgate.models import analyse, schema_of

        reads = self._reads()
        schemas = {name: schema_of(load_contract(ref).storage_columns) for name, ref in reads.items()}
        return analyse(self.query, schemas=schemas, contract_columns=self.contract.column_names)

    def _catalog(self) -> CatalogHook:
        from lockgate.hooks.iceberg import CatalogHook

        if self.catalog_conn_id:
            return CatalogHook(self.catalog_conn_id, lake=self.lake)
        return CatalogHook(lake=self.lake)

    def _connect(self, ds: str) -> Any:
        import duckdb

        from lockgate.transforms import aqi_sql

        con = duckdb.connect()
        con.execute("SET TimeZone='UTC'")
        aqi_sql.register(con)
        con.execute(f"CREATE OR REPLACE MACRO logical_date() AS DATE '{ds}'")
        if self.aqi_revision:
            # every sub-index asked "by date" gets the explicit revision instead
            from lockgate.transforms.aqi import REVISIONS

            if self.aqi_revision not in REVISIONS:
                raise AirflowFailException(f"aqi_revision {self.aqi_revision!r} is not one of {', '.join(REVISIONS)}")
            con.execute(f"CREATE OR REPLACE MACRO aqi_revision_on(d) AS '{self.aqi_revision}'")
            con.execute(f"CREATE OR REPLACE MACRO _aqi_pinned_revision() AS '{self.aqi_revision}'")
        return con

    def _view(self, con: Any, name: str, curated: CuratedDate) -> None:
        """The date's rows of one dataset as a view named after it (typed and empty without files)."""
        from lockgate.contracts import load_contract
        from lockgate.models import DUCKDB_TYPES

        if curated.files:
            con.read_parquet([str(f) for f in curated.files], hive_partitioning=True).create_view(name)
            return
        contract = load_contract(self._reads().get(name, name))
        columns = ", ".join(f'"{c.name}" {DUCKDB_TYPES[c.type]}' for c in contract.storage_columns)
        con.execute(f'CREATE TABLE "{name}" ({columns})')

    def _run(self, ds: str, reads: Sequence[str], work: Path) -> tuple[Any, dict[str, CuratedDate]]:
        from lockgate.hooks.iceberg import CuratedDataMissing

        catalog = self._catalog()
        read: dict[str, CuratedDate] = {}
        con = self._connect(ds)
        try:
            for name in reads:
                try:
                    read[name] = catalog.local_date(name, ds, work / "in" / name)
                except CuratedDataMissing as exc:
                    raise AirflowException(f"model {self.dataset}: no curated {name} for ds={ds}: {exc}") from None
                self._view(con, name, read[name])
            result = con.sql(self.query).to_arrow_table()
        finally:
            con.close()
        return result.select(self.contract.column_names), read

    def execute(self, context: Context) -> dict[str, Any]:
        import pyarrow.parquet as pq

        from lockgate.models import ModelSqlError

        try:
            analysis = self._analysis()
        except ModelSqlError as exc:
            # the SQL or a contract is wrong: a retry cannot help
            raise AirflowFailException(f"model {self.dataset}: {exc}") from None
        ds = self.logical_ds(context)
        prefix = safe_key(raw_prefix(self.dataset, ds, str(context["run_id"])), self.task_id)
        self.lake.delete_prefix(prefix)
        with self.workdir() as work:
            table, read = self._run(ds, analysis.reads, work)
            out = work / f"{self.dataset}.parquet"
            pq.write_table(table, out, compression="zstd")
            key = safe_key(prefix, out.name)
            checksum = sha256_file(out)
            obj = self.lake.put_file(out, key)
        catalog = self._catalog()
        self.lake.write_json(
            safe_key(prefix, MANIFEST),
            {
                "dataset": self.dataset,
                "ds": ds,
                "run_id": str(context["run_id"]),
                "source_name": self.task_id,
                "source": "; ".join(f"{catalog.location(n)} snapshot {c.snapshot_id}" for n, c in read.items()),
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
        self._record_lineage(analysis, ds, table.num_rows)
        return {"rows": table.num_rows, "reads": {n: c.rows for n, c in read.items()}}

    def _record_lineage(self, analysis: Any, ds: str, rows: int) -> None:
        """Inputs, the output and its column lineage as the SQL derives it (OpenLineage)."""
        for name in analysis.reads:
            self.lineage.inputs.append(self.lake_dataset(f"curated/{name}"))
        output = self.lake_dataset(
            f"raw/{self.dataset}", self.contract.columns, row_count=rows, partitions=[{"ds": ds}]
        )
        output.column_lineage = column_sources(analysis.lineage, self.lake.openlineage_dataset, analysis.subtypes)
        self.lineage.outputs.append(output)


def column_sources(
    lineage: dict[str, Any], name_of: Any, subtypes: dict[str, str] | None = None
) -> dict[str, ColumnSource | list[ColumnSource]]:
    """``{column: ((dataset, column), ...)}`` as the ColumnSource entries of the lineage facet.

    :param name_of: ``curated/<dataset>`` -> (OpenLineage namespace, name), the lake's naming.
    :param subtypes: column -> OpenLineage subtype (:attr:`lockgate.models.ModelAnalysis.subtypes`).
    """
    found: dict[str, ColumnSource | list[ColumnSource]] = {}
    for column, inputs in lineage.items():
        by_dataset: dict[str, list[str]] = {}
        for dataset, field in inputs:
            by_dataset.setdefault(dataset, []).append(field)
        sources = []
        for dataset, fields in by_dataset.items():
            namespace, name = name_of(f"curated/{dataset}")
            subtype = (subtypes or {}).get(column, "TRANSFORMATION")
            sources.append(ColumnSource(namespace, name, tuple(fields), subtype, "derived from the model's SQL"))
        if sources:
            found[column] = sources if len(sources) > 1 else sources[0]
    return found
