"""Pipelines declared as YAML files under dags/pipelines/, built into DAGs by a factory."""
