"""Pure transforms: no Airflow, no I/O; importable without pandas or pyarrow."""
