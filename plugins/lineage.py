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


@dataclass
class LineageRecord:
    """What one execution read and wrote."""

    inputs: list[LineageDataset] = field(default_factory=list)
    outputs: list[LineageDataset] = field(default_factory=list)


def _facets(ds: LineageDataset) -> dict[str, Any]:
    from airflow.providers.common.compat.openlineage.facet import SchemaDatasetFacet, SchemaDatasetFacetFields

    if not ds.columns:
        return {}
    fields = [
        SchemaDatasetFacetFields(name=c.name, type=_FIELD_TYPES[c.type], description=c.description or None)
        for c in ds.columns
    ]
    return {"schema": SchemaDatasetFacet(fields=fields)}


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
        inputs = [InputDataset(namespace=d.namespace, name=d.name, facets=_facets(d)) for d in record.inputs]
        outputs = []
        for d in record.outputs:
            output_facets: dict[str, Any] = {}
            if d.row_count is not None:
                output_facets["outputStatistics"] = OutputStatisticsOutputDatasetFacet(
                    rowCount=d.row_count, size=d.size_bytes
                )
            outputs.append(
                OutputDataset(namespace=d.namespace, name=d.name, facets=_facets(d), outputFacets=output_facets)
            )
        return OperatorLineage(inputs=inputs, outputs=outputs)
    except Exception:  # lineage must never fail the task
        log.warning("could not build OpenLineage datasets", exc_info=True)
        return OperatorLineage()
