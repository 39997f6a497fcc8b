"""What became of each task of a DAG run: its state and its return value (XCom).

A DAG-level callback needs this to say what failed and what had loaded before.  Where it runs
decides how to ask:

* in the DAG processor (where Airflow 3 runs ``on_success_callback``/``on_failure_callback``) and
  in a task, through the Task SDK's supervisor channel (``GetTaskStates``, ``GetXCom``);
* in a process that owns the metadata database -- ``dag.test()``, which runs DAG callbacks in line --
  through the ORM.

Either way nothing raises: an empty answer means "unknown", and the caller says less.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

RETURN_KEY = "return_value"
FAILED_STATES = frozenset({"failed"})
NOT_RUN_STATES = frozenset({"upstream_failed", "skipped", "removed"})


@dataclass(frozen=True)
class TaskOutcome:
    """One task of a run: ``state`` (``success``, ``failed``, ``upstream_failed``...) and its XCom return value."""

    task_id: str
    state: str | None
    result: Any = None


def _state(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def task_outcomes(dag_id: str, run_id: str) -> dict[str, TaskOutcome]:
    """Every task instance of the run (unmapped ones by task id, mapped ones as ``task_id_<n>``)."""
    for source in (_from_supervisor, _from_metadata_db):
        try:
            outcomes = source(dag_id, run_id)
        except Exception as exc:  # noqa: BLE001 - try the next source; say so at debug level
            log.debug("task states of %s/%s not available from %s: %s", dag_id, run_id, source.__name__, exc)
            continue
        if outcomes is not None:
            return outcomes
    return {}


def _from_supervisor(dag_id: str, run_id: str) -> dict[str, TaskOutcome] | None:
    from airflow.sdk.execution_time import task_runner

    if getattr(task_runner, "SUPERVISOR_COMMS", None) is None:
        return None
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    states = RuntimeTaskInstance.get_task_states(dag_id=dag_id, run_ids=[run_id]).get(run_id, {})
    outcomes = {}
    for task_id, state in states.items():
        result = None
        # a failed quality gate returns its counts too (it pushes them before failing)
        if _state(state) in ("success", "failed"):
            result = _pushed_result(dag_id, run_id, task_id)
        outcomes[task_id] = TaskOutcome(task_id, _state(state), result)
    return outcomes


def _pushed_result(dag_id: str, run_id: str, task_id: str) -> Any:
    """The return value ``task_id`` pushed, or None; asks whether it pushed one before fetching it.

    The Task SDK logs every XCom it is asked for and does not find as an ERROR ("XCom not found"):
    sensors (``wait_*``) push nothing, and a mapped instance is named ``<task>_<map index>`` here
    while its XCom is keyed by the pair. Counting first (a HEAD request, silent) avoids both.
    """
    from airflow.sdk.execution_time.xcom import XCom

    if _xcom_count(dag_id, run_id, task_id):
        return XCom.get_one(key=RETURN_KEY, dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=-1)
    base, _, index = task_id.rpartition("_")
    if base and index.isdigit() and _xcom_count(dag_id, run_id, base):
        return XCom.get_one(key=RETURN_KEY, dag_id=dag_id, task_id=base, run_id=run_id, map_index=int(index))
    return None


def _xcom_count(dag_id: str, run_id: str, task_id: str) -> int:
    """How many return values (all map indexes) ``task_id`` pushed in the run."""
    from airflow.sdk.execution_time.comms import GetXComCount, XComCountResponse
    from airflow.sdk.execution_time.task_runner import SUPERVISOR_COMMS

    answer = SUPERVISOR_COMMS.send(GetXComCount(key=RETURN_KEY, dag_id=dag_id, run_id=run_id, task_id=task_id))
    return answer.len if isinstance(answer, XComCountResponse) else 0


def _from_metadata_db(dag_id: str, run_id: str) -> dict[str, TaskOutcome] | None:
    from airflow import settings

    if settings.Session is None:
        return None
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        ).all()
        xcoms: list[Any] = list(session.scalars(XComModel.get_many(run_id=run_id, key=RETURN_KEY, dag_ids=dag_id)))
        results = {(x.task_id, x.map_index): XComModel.deserialize_value(x) for x in xcoms}
        outcomes = {}
        for ti in tis:
            name = ti.task_id if ti.map_index < 0 else f"{ti.task_id}_{ti.map_index}"
            outcomes[name] = TaskOutcome(name, _state(ti.state), results.get((ti.task_id, ti.map_index)))
    return outcomes
