"""Lockgate: gated data pipelines for Apache Airflow 3 (ingest -> quality gate -> partition -> load)."""

__version__ = "0.1.0"
