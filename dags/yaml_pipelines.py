"""
### YAML pipelines — one Airflow DAG per file in `dags/pipelines/`

Data engineers add a pipeline by pull request: a reviewed YAML file (sources, contracts,
preprocessing, routing, load mode and table, schedule, owners, alerts), validated against
`include/pipeline.schema.json`. `lockgate new-pipeline NAME` scaffolds one with a contract, sample
data and an end-to-end test. The factory (`lockgate.pipelines.factory`) builds each file on its
own: a broken file stands in as a paused `broken-spec` DAG showing its error, and never hides the
other pipelines.
"""

from __future__ import annotations

from pathlib import Path

from lockgate.pipelines.factory import register_pipelines

PIPELINES_DIR = Path(__file__).resolve().with_name("pipelines")

register_pipelines(PIPELINES_DIR, globals())
