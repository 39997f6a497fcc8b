"""The "Data health" page: an Airflow 3 UI plugin showing per-dataset loads, quarantine and checks."""
