"""``lockgate.task_process``: a task runner's first ORM use does not import every Airflow model.

Each case runs in a fresh interpreter that configures Airflow's ORM as a worker does (importing
Airflow), optionally blocks it as the task SDK's ``_fork_main`` does, then maps one SQLAlchemy class
of its own (what pyiceberg's SQL catalog does) and reports whether Airflow's models were imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

PROBE = """
import json, sys
import airflow.sdk.execution_time.supervisor as supervisor
from sqlalchemy import Column, Integer, event
from sqlalchemy.orm import DeclarativeBase, Mapper, configure_mappers
from airflow.models import import_all_models
from lockgate.task_process import skip_airflow_model_imports

registered = event.contains(Mapper, "before_configured", import_all_models)
if sys.argv[1] == "task":
    supervisor.block_orm_access()
removed = skip_airflow_model_imports()


class Base(DeclarativeBase):
    pass


class Row(Base):
    __tablename__ = "rows"
    id = Column(Integer, primary_key=True)


configure_mappers()
print(json.dumps({
    "registered": registered,
    "removed": removed,
    "still_registered": event.contains(Mapper, "before_configured", import_all_models),
    "models_imported": "airflow.models.serialized_dag" in sys.modules,
}))
"""


def probe(kind: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", PROBE, kind], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_task_runner_maps_its_own_classes_without_importing_airflow_models() -> None:
    assert probe("task") == {
        "registered": True,
        "removed": True,
        "still_registered": False,
        "models_imported": False,
    }


def test_where_airflow_orm_is_live_the_listener_stays() -> None:
    """The control: without a blocked database nothing changes, and the first mapping imports the models."""
    assert probe("worker") == {
        "registered": True,
        "removed": False,
        "still_registered": True,
        "models_imported": True,
    }
