"""OpenLineage for Lockgate operators.

Operators record the datasets they really read and wrote during ``execute``; the OpenLineage
provider then calls ``get_openlineage_facets_on_complete``, which builds the datasets here.
Lineage never breaks a task: anything that goes wrong yields empty lineage and a log line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from lockgate.contracts import Column

log = logging.getLogger(__name__)

#: contract type -> the type name shown in the SchemaDatasetFacet
_FIELD_TYPES = {
    "string": "string",
    "integer": "bigint",
    "double": "double",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}


@dataclass
class LineageDataset:
    """A dataset an operator read or wrote, named by the OpenLineage naming spec."""

    namespace: str
    name: str
    columns: list[Column] = field(default_factory=list)
    row_count: int | None = None
    size_bytes: int | None = None
    #: the quality gate's report (checks + column metrics) for an input dataset
    quality_report: dict[str, Any] | None = None
    #: the partitions an output wrote, e.g. [{"ds": "2026-01-02", "region": "north"}]
    partitions: list[dict[str, str]] = field(default_factory=list)
    #: derived columns: output column -> (input dataset, input columns, subtype, description), or a
    #: list of them for a column computed from several datasets (a join)
    column_lineage: dict[str, ColumnSource | list[ColumnSource]] = field(default_factory=dict)
    #: the version written (a curated table's Iceberg snapshot id), for the DatasetVersionDatasetFacet
    version: str | None = None


@dataclass(frozen=True)
class ColumnSource:
    """Where one output column comes from, for the ColumnLineageDatasetFacet.

    :param subtype: OpenLineage transformation subtype: IDENTITY, TRANSFORMATION or AGGREGATION.
    """

    namespace: str
    name: str
    fields: tuple[str, ...]
    subtype: str = "TRANSFORMATION"
    description: str = ""


@dataclass
class LineageRecord:
    """What one execution read and wrote."""

    inputs: list[LineageDataset] = field(default_factory=list)
    outputs: list[LineageDataset] = field(default_factory=list)


def _facets(ds: LineageDataset) -> dict[str, Any]:
    from airflow.providers.common.compat.openlineage.facet import SchemaDatasetFacet, SchemaDatasetFacetFields

    facets: dict[str, Any] = {}
    if ds.columns:
        fields = [
            SchemaDatasetFacetFields(name=c.name, type=_FIELD_TYPES[c.type], description=c.description or None)
            for c in ds.columns
        ]
        facets["schema"] = SchemaDatasetFacet(fields=fields)
    if ds.column_lineage:
        facets["columnLineage"] = _column_lineage(ds.column_lineage)
    if ds.version is not None:
        from openlineage.client.generated.dataset_version_dataset import DatasetVersionDatasetFacet

        facets["version"] = DatasetVersionDatasetFacet(datasetVersion=ds.version)
    return facets


def _column_lineage(sources: dict[str, ColumnSource | list[ColumnSource]]) -> Any:
    from openlineage.client.generated.column_lineage_dataset import (
        ColumnLineageDatasetFacet,
        Fields,
        InputField,
        Transformation,
    )

    return ColumnLineageDatasetFacet(
        fields={
            column: Fields(
                inputFields=[
                    InputField(
                        namespace=src.namespace,
                        name=src.name,
                        field=f,
                        transformations=[
                            Transformation(
                                type="DIRECT", subtype=src.subtype, description=src.description or None, masking=False
                            )
                        ],
                    )
                    for src in (srcs if isinstance(srcs, list) else [srcs])
                    for f in src.fields
                ]
            )
            for column, srcs in sources.items()
        }
    )


def _subset(partitions: list[dict[str, str]]) -> Any:
    """The partitions an output wrote, as an OutputSubsetOutputDatasetFacet."""
    from openlineage.client.generated.base_subset_dataset import (
        OutputSubsetOutputDatasetFacet,
        Partition,
        PartitionSubsetCondition,
    )

    return OutputSubsetOutputDatasetFacet(
        outputCondition=PartitionSubsetCondition(
            partitions=[
                Partition(dimensions=dict(p), identifier="/".join(f"{k}={v}" for k, v in p.items())) for p in partitions
            ]
        )
    )


def _quality_facets(ds: LineageDataset) -> dict[str, Any]:
    """DataQualityAssertions and DataQualityMetrics input facets from a gate report."""
    report = ds.quality_report
    if not report:
        return {}
    from openlineage.client.generated.data_quality_assertions_dataset import (
        Assertion,
        DataQualityAssertionsDatasetFacet,
    )
    from openlineage.client.generated.data_quality_metrics_input_dataset import (
        ColumnMetrics,
        DataQualityMetricsInputDatasetFacet,
    )

    assertions = [
        Assertion(
            assertion=check["expectation"],
            success=bool(check["success"]),
            column=check.get("kwargs", {}).get("column"),
            severity=check["severity"],
            name=check["check"],
            actual=None if check.get("unexpected_count") is None else str(check["unexpected_count"]),
        )
        for check in report.get("checks", [])
    ]
    metrics = {
        column: ColumnMetrics(
            nullCount=m.get("nullCount"),
            distinctCount=m.get("distinctCount"),
            count=m.get("count"),
            min=m.get("min") if isinstance(m.get("min"), (int, float)) else None,
            max=m.get("max") if isinstance(m.get("max"), (int, float)) else None,
        )
        for column, m in report.get("column_metrics", {}).items()
    }
    return {
        "dataQualityAssertions": DataQualityAssertionsDatasetFacet(assertions=assertions),
        "dataQualityMetrics": DataQualityMetricsInputDatasetFacet(
            columnMetrics=metrics, rowCount=report.get("rows_in")
        ),
    }


def operator_lineage(record: LineageRecord) -> Any:
    """Build the provider's ``OperatorLineage`` from a record; empty on any error."""
    try:
        from airflow.providers.common.compat.openlineage.facet import (
            InputDataset,
            OutputDataset,
            OutputStatisticsOutputDatasetFacet,
        )
        from airflow.providers.openlineage.extractors import OperatorLineage
    except ImportError:  # the provider is optional at run time
        return None
    try:
        inputs = [
            InputDataset(namespace=d.namespace, name=d.name, facets=_facets(d), inputFacets=_quality_facets(d))
            for d in record.inputs
        ]
        outputs = []
        for d in record.outputs:
            output_facets: dict[str, Any] = {}
            if d.row_count is not None:
                output_facets["outputStatistics"] = OutputStatisticsOutputDatasetFacet(
                    rowCount=d.row_count, size=d.size_bytes
                )
            if d.partitions:
                output_facets["subset"] = _subset(d.partitions)
            outputs.append(
                OutputDataset(namespace=d.namespace, name=d.name, facets=_facets(d), outputFacets=output_facets)
            )
        return OperatorLineage(inputs=inputs, outputs=outputs)
    except Exception:  # lineage must never fail the task
        log.warning("could not build OpenLineage datasets", exc_info=True)
        return OperatorLineage()
