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


def _batch_messages(context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The queue messages of every asset event that started this dispatch run (oldest first)."""
    messages: list[dict[str, Any]] = []
    for events in context["triggering_asset_events"].values():
        for event in sorted(events, key=lambda e: e.timestamp):
            payload = (event.extra or {}).get("payload") or {}
            messages.extend(payload.get("messages") or [])
    return messages


def _drop_ingested(
    groups: dict[str, list[Any]], files: list[dict[str, Any]], lake_conn_id: str, log: Any
) -> dict[str, list[Any]]:
    """Objects whose key + ETag their date's ledger already has (SQS delivers at least once) start no run.

    The event run's ingest checks again (a run started for the same objects a moment ago may not have
    written the ledger yet): this only spares a run that would land nothing.
    """
    from lockgate.hooks.lake import LakeHook
    from lockgate.operators.ingest import ledger_key

    lake = LakeHook(lake_conn_id)
    datasets = {f["id"]: f["dataset"] for f in files}
    kept: dict[str, list[Any]] = {}
    for ds, objects in groups.items():
        ledgers: dict[str, Any] = {}
        for obj in objects:
            if obj.file not in ledgers:
                key = ledger_key(datasets[obj.file], ds, obj.file)
                ledgers[obj.file] = lake.read_json(key) if lake.exists(key) else {}
            known = ledgers[obj.file].get(obj.key)
            if not obj.removed and known is not None and known.get("etag") == obj.etag:
                log.info(
                    "message %s: %s (ETag %s) is already ingested for %s: no run", obj.message_id, obj.uri, obj.etag, ds
                )
                continue
            kept.setdefault(ds, []).append(obj)
    return kept


def dispatch_events(
    dag_id: str,
    location: Mapping[str, Any],
    files: list[dict[str, Any]],
    on_bad_event: str = "skip",
    lake_conn_id: str = "lockgate_lake",
) -> list[dict[str, Any]]:
    """Task ``dispatch_events`` of ``<dag_id>__events``: one ``TriggerDagRunOperator`` kwargs per date.

    Parses the messages of the asset events that started the run (:mod:`lockgate.events`), logs every
    bad one with its message id (``on_bad_event: fail`` then fails the dispatch, starting nothing: clear
    it once fixed), files the objects under their source file and date, drops those already ingested,
    and returns a run (id, logical date within the date, ``conf`` naming its objects) per date.
    """
    import logging

    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowFailException

    from lockgate.events import (
        KeyPattern,
        group_by_date,
        key_pattern,
        parse_batch,
        route_objects,
        run_conf,
        run_id_for,
    )

    log = logging.getLogger("lockgate.events")
    messages = _batch_messages(get_current_context())
    objects, bad = parse_batch(messages)
    root = resolve_source_root(dag_id, location)
    patterns = [KeyPattern.from_dict(f["id"], f) if "regex" in f else key_pattern(f["id"], f["path"]) for f in files]
    routed, unrouted = route_objects(objects, root, patterns)
    bad += unrouted
    for problem in bad:
        log.warning("bad event: message %s: %s", problem.message_id, problem.reason)
    if bad and on_bad_event == "fail":
        raise AirflowFailException(
            f"{len(bad)} bad event(s) (on_bad_event: fail), first: message {bad[0].message_id}: {bad[0].reason}"
        )
    groups = _drop_ingested(group_by_date(routed), files, lake_conn_id, log)
    log.info(
        "%d message(s): %d object(s), %d bad; runs for %s",
        len(messages), len(objects), len(bad), ", ".join(groups) or "no date",
    )  # fmt: skip
    runs = []
    for ds, objs in groups.items():
        run_id = run_id_for(dag_id, ds, objs)
        # (dag_id, logical_date) is unique: each event run takes its own instant of the date (ds stays the date)
        micros = 1 + int(run_id.rsplit("__", 1)[1], 16) % (86_400_000_000 - 1)
        logical = f"{ds}T{micros // 3_600_000_000:02d}:{micros // 60_000_000 % 60:02d}:"
        logical += f"{micros // 1_000_000 % 60:02d}.{micros % 1_000_000:06d}+00:00"
        runs.append({"trigger_run_id": run_id, "logical_date": logical, "conf": run_conf(objs)})
    return runs
