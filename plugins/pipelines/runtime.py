"""What the generated DAGs' own small tasks do at run time: find the sources, list a big day's files.

These run inside tasks (``prepare_sources``, ``list_<id>_files``), never at parse time, so they
may import what they need.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: how many files one fanned-out ingest may list before the run refuses (a runaway glob)
MAX_FAN_OUT = 1000


def resolve_source_root(dag_id: str, location: Mapping[str, Any], ds: str | None = None) -> str:
    """The root folder or ``s3://bucket/prefix`` of today's source files.

    In order: the Airflow Variable named by ``location.variable`` when it is set, ``location.url``,
    then the sample (a generator called for the date, writing under ``$LOCKGATE_HOME/sources/<dag>``,
    or a folder below ``include/``).
    """
    from airflow.sdk import Variable
    from airflow.sdk.exceptions import AirflowFailException

    variable = location.get("variable")
    if variable:
        configured = Variable.get(variable, default=None)
        if configured:
            return str(configured).rstrip("/")
    if location.get("url"):
        return str(location["url"]).rstrip("/")
    sample = location.get("sample") or {}
    if "generator" in sample:
        import importlib

        from lockgate.config import lockgate_home

        module, _, function = str(sample["generator"]).partition(":")
        generate = getattr(importlib.import_module(module), function)
        out = lockgate_home() / "sources" / dag_id
        generate(str(ds), out)
        return str(out)
    if "folder" in sample:
        from lockgate.config import include_dir

        return str(include_dir() / sample["folder"])
    where = f"the Airflow Variable {variable!r}" if variable else "sources.location.url"
    raise AirflowFailException(f"{dag_id}: no source location for ds={ds}: set {where}")


def list_source_files(
    root: str,
    pattern: str,
    source_id: str,
    aws_conn_id: str = "aws_default",
    allow_empty: bool = False,
) -> list[dict[str, str]]:
    """One ``{"source": uri, "source_name": name}`` per file matching ``root/pattern``, sorted.

    The names are the file names without extension, so each mapped ingest task writes its own
    raw-zone folder and a rerun writes to the same ones.
    """
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    from lockgate.sources.files import FileSource

    full = f"{root.rstrip('/')}/{pattern.lstrip('/')}"
    # the ingest's own listing: each mapped task then finds exactly the one file it was given
    uris = FileSource(full, aws_conn_id=aws_conn_id).list()
    if not uris and not allow_empty:
        # the files may simply be late: a plain AirflowException lets the task retry
        raise AirflowException(f"{source_id}: no source files match {full!r}")
    if len(uris) > MAX_FAN_OUT:
        raise AirflowFailException(f"{source_id}: {len(uris)} files match {full!r}; more than {MAX_FAN_OUT}")
    names = [posixpath.basename(u).split(".", 1)[0] for u in uris]
    if len(set(names)) != len(names):
        # the same file name in several folders: keep the folders in the name
        names = [Path(u).as_posix().replace("/", "_").replace(":", "_")[-120:] for u in uris]
    return [{"source": uri, "source_name": f"{source_id}/{name}"} for uri, name in zip(uris, names, strict=True)]
