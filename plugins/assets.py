"""The Airflow assets Lockgate's loads emit, named once for the Python DAGs and the YAML pipelines.

Names only: a URI scheme would make Airflow load every provider's URI handlers (boto3 included) at
DAG parse time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.sdk import Asset


def warehouse_asset(table: str) -> Asset:
    """The asset of a warehouse table a load writes."""
    from airflow.sdk import Asset

    return Asset(name=f"lockgate.warehouse.{table}")


def dataset_asset(dataset: str) -> Asset:
    """The asset a dataset's load emits (partition_key = the date) and ``after: <dataset>`` waits for."""
    from airflow.sdk import Asset

    return Asset(name=f"lockgate.dataset.{dataset}")


def load_outlets(dataset: str, table: str) -> list[Asset]:
    """What a load of ``dataset`` into ``table`` emits: the table's asset and the dataset's."""
    return [warehouse_asset(table), dataset_asset(dataset)]
