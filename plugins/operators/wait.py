"""Waiting for late source files before ingestion: a deferrable sensor with a clear timeout.

``wait_for_files(task_id, source, timeout=...)`` returns a :class:`WaitForFilesSensor` that
succeeds as soon as one file matches ``source`` - a local glob or ``s3://bucket/key-glob``, the
same patterns :class:`~lockgate.operators.ingest.IngestOperator` takes - and otherwise hands the
waiting to the triggerer (no worker slot is held while the files are late). After ``timeout`` it
fails with :class:`AirflowSensorTimeout` naming the pattern and the timeout.

Why not the providers' ``S3KeySensor`` / ``FileSensor`` as they are:

* which one applies is only known at run time: the flagship DAG and the YAML pipelines template the
  source root from the ``prepare_sources`` XCom (a folder *or* an S3 prefix), so one sensor decides
  after rendering;
* ``S3KeySensor(deferrable=True)`` runs ``S3KeyTrigger``, which needs the async S3 hook
  (``aiobotocore``, not a Lockgate dependency); :class:`FilesTrigger` polls with the same
  ``S3Hook`` the ingest uses, in a thread, and lists with the same glob rules;
* the deadline lives in the trigger too: a deferral's ``timeout`` is enforced by the scheduler,
  but ``dag.test()`` runs a trigger in-process until its first event and ignores it, so without
  this a test (or a local ``dag.test()`` run) would wait forever for a file that never comes.

Parse time: only ``airflow.sdk`` and Airflow's trigger base are imported here; the S3 hook is
imported when a poke runs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fnmatch
import glob
import os
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowSensorTimeout
from airflow.triggers.base import BaseTrigger, TriggerEvent

if TYPE_CHECKING:
    from airflow.sdk import Context

TRIGGER_PATH = "lockgate.operators.wait.FilesTrigger"
DEFAULT_POKE_SECONDS = 60.0


def _glob_match(key: str, pattern: str) -> bool:
    """Shell-glob semantics on S3 keys: ``*`` stays within one folder (as the ingest lists them)."""
    keys, patterns = key.split("/"), pattern.split("/")
    return len(keys) == len(patterns) and all(fnmatch.fnmatchcase(k, p) for k, p in zip(keys, patterns, strict=True))


def matching_files(source: str, aws_conn_id: str = "aws_default") -> list[str]:
    """The files matching ``source`` now (local glob or ``s3://bucket/key-glob``), sorted."""
    if source.startswith("s3://"):
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        bucket, _, pattern = source[len("s3://") :].partition("/")
        prefix = pattern.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0]
        keys = S3Hook(aws_conn_id=aws_conn_id).list_keys(bucket_name=bucket, prefix=prefix) or []
        return sorted(f"s3://{bucket}/{k}" for k in keys if not k.endswith("/") and _glob_match(k, pattern))
    return sorted(p for p in glob.glob(source) if os.path.isfile(p))


def timeout_message(source: str, timeout: float) -> str:
    return (
        f"no source file matched {source!r} within the wait timeout of {timeout:g} s "
        f"({dt.timedelta(seconds=int(timeout))}); the files are late or the pattern is wrong"
    )


class FilesTrigger(BaseTrigger):
    """Polls for files matching a local glob or S3 pattern until one appears or the deadline passes.

    Fires one event: ``{"status": "found", "files": [...]}`` or ``{"status": "timeout"}``.

    :param deadline: epoch seconds after which the trigger gives up.
    """

    def __init__(self, source: str, aws_conn_id: str, poke_interval: float, deadline: float, timeout: float) -> None:
        super().__init__()
        self.source = source
        self.aws_conn_id = aws_conn_id
        self.poke_interval = poke_interval
        self.deadline = deadline
        self.timeout = timeout

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            TRIGGER_PATH,
            {
                "source": self.source,
                "aws_conn_id": self.aws_conn_id,
                "poke_interval": self.poke_interval,
                "deadline": self.deadline,
                "timeout": self.timeout,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from asgiref.sync import sync_to_async

        # the S3 hook is synchronous: run it off the triggerer's event loop
        listing = sync_to_async(matching_files)
        while True:
            files = await listing(self.source, self.aws_conn_id)
            if files:
                yield TriggerEvent({"status": "found", "files": files[:100]})
                return
            left = self.deadline - time.time()
            if left <= 0:
                yield TriggerEvent({"status": "timeout"})
                return
            await asyncio.sleep(min(self.poke_interval, left))


class WaitForFilesSensor(BaseSensorOperator):
    """Wait (deferred) until at least one file matches ``source``; fail after ``timeout`` seconds.

    :param source: a local glob or ``s3://bucket/key-glob``. Templated.
    :param aws_conn_id: aws connection for S3 sources.
    :param timeout: seconds to wait in all (from the first try), then :class:`AirflowSensorTimeout`.
    :param poke_interval: seconds between two looks.
    """

    template_fields = ("source",)
    ui_color = "#fff7e6"

    def __init__(
        self,
        *,
        source: str,
        aws_conn_id: str = "aws_default",
        timeout: float = 6 * 3600,
        poke_interval: float = DEFAULT_POKE_SECONDS,
        deferrable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(timeout=timeout, poke_interval=poke_interval, **kwargs)
        self.source = source
        self.aws_conn_id = aws_conn_id
        self.deferrable = deferrable

    def poke(self, context: Context) -> bool:
        files = matching_files(self.source, self.aws_conn_id)
        if files:
            self.log.info("%d file(s) match %s, e.g. %s", len(files), self.source, files[0])
        return bool(files)

    def execute(self, context: Context) -> None:
        if not self.deferrable:
            try:
                super().execute(context)
            except AirflowSensorTimeout:
                raise AirflowSensorTimeout(timeout_message(self.source, self.timeout)) from None
            return
        if self.poke(context):
            return
        self.log.info("no file matches %s yet: deferring for up to %g s", self.source, self.timeout)
        self.defer(
            trigger=FilesTrigger(
                self.source, self.aws_conn_id, float(self.poke_interval), time.time() + self.timeout, self.timeout
            ),
            method_name="execute_complete",
            # the triggerer's own limit, a little later than the trigger's: the trigger's event
            # (with the clear message) normally comes first
            timeout=dt.timedelta(seconds=self.timeout + max(float(self.poke_interval), 5.0)),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> None:
        if not event or event.get("status") != "found":
            raise AirflowSensorTimeout(timeout_message(self.source, self.timeout))
        self.log.info("%d file(s) match %s, e.g. %s", len(event["files"]), self.source, event["files"][0])

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except AirflowSensorTimeout as exc:
            if "within the wait timeout" in str(exc):
                raise
            # the deferral timed out in the scheduler before the trigger said so
            raise AirflowSensorTimeout(timeout_message(self.source, self.timeout)) from exc


def wait_for_files(
    task_id: str,
    source: str,
    *,
    timeout: dt.timedelta | float,
    poke_interval: dt.timedelta | float = DEFAULT_POKE_SECONDS,
    aws_conn_id: str = "aws_default",
    **kwargs: Any,
) -> WaitForFilesSensor:
    """A deferrable wait for ``source`` (local glob or S3 pattern) that fails after ``timeout``.

    Retries come from the DAG's defaults like any task's: each try waits ``timeout`` again, so the
    longest wait is ``(retries + 1) * timeout`` plus the retry delays.
    """
    seconds = timeout.total_seconds() if isinstance(timeout, dt.timedelta) else float(timeout)
    interval = poke_interval.total_seconds() if isinstance(poke_interval, dt.timedelta) else float(poke_interval)
    return WaitForFilesSensor(
        task_id=task_id,
        source=source,
        aws_conn_id=aws_conn_id,
        timeout=seconds,
        poke_interval=interval,
        **kwargs,
    )
