"""What a task process does not need to pay for: Airflow's ORM set-up inherited from the worker.

An Airflow worker configures Airflow's ORM (``airflow.settings.configure_orm``), which registers
``airflow.models.import_all_models`` as a once-only ``before_configured`` listener on every SQLAlchemy
``Mapper``; the task runner forked from it inherits the listener but blocks Airflow's database
(``block_orm_access`` in ``airflow.sdk.execution_time.supervisor``). The first SQLAlchemy ORM a task
uses - pyiceberg's SQL catalog, when a task opens the curated zone - then imports every Airflow model
(about 0.5 s of CPU, seconds of wall time on a busy worker) that the task can never use.
"""

from __future__ import annotations

import sys


def skip_airflow_model_imports() -> bool:
    """In a task runner (Airflow's database blocked), drop Airflow's import-all-models mapper listener.

    Call before a task first uses a SQLAlchemy ORM of its own. Wherever Airflow's ORM is live
    (scheduler, API server, a test with Airflow's database) the listener stays: it makes Airflow's
    mapped classes known before SQLAlchemy configures their relationships. True when it was removed.
    """
    if "airflow.settings" not in sys.modules or "sqlalchemy.orm" not in sys.modules:
        return False  # no Airflow ORM set up in this process: nothing registered
    from airflow import settings

    try:
        from airflow.sdk.execution_time.supervisor import BlockedDBSession
    except ImportError:  # an Airflow without the task SDK's supervisor: leave it alone
        return False
    if getattr(settings, "Session", None) is not BlockedDBSession:
        return False
    from airflow.models import import_all_models
    from sqlalchemy import event
    from sqlalchemy.orm import Mapper

    if not event.contains(Mapper, "before_configured", import_all_models):
        return False
    event.remove(Mapper, "before_configured", import_all_models)
    return True
