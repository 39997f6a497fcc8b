"""Which Spark a task runs on, from an Airflow connection, and the session to it.

The connection (default id ``lockgate_spark``) names one of:

- a Spark Connect server: host ``sc://spark.example:15002`` (or conn type ``spark_connect``), with
  the token in the password (or extra ``token``), the user in the login, extra ``use_ssl``;
- a classic master the task's driver joins: host ``spark://master:7077``, ``yarn``, ``k8s://...``;
- local mode: host ``local[N]``; and when the connection does not exist, ``local[N]`` with N the
  task's CPUs (tests and the demo need no cluster).

The token is a secret: it is registered with Airflow's secrets masker before anything can print
it, and what logs and lineage show (:attr:`SparkTarget.shown`) is the URL without it.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from lockgate.spark_engine import DEFAULT_SPARK_CONN_ID

#: Spark Connect's default port
CONNECT_PORT = 15002
#: what a secret shows as in :attr:`SparkTarget.shown`
REDACTED = "***"
#: seconds a task waits for a Spark Connect server to accept a connection: pyspark's client retries
#: an unreachable server for many minutes, and the task would sit there saying nothing
CONNECT_TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True)
class SparkTarget:
    """A resolved Spark: a Spark Connect URL (``remote``) or a master URL, with its secrets apart."""

    #: ``sc://...`` for Spark Connect, else the master (``local[2]``, ``spark://...``, ``yarn``)
    url: str
    #: Spark Connect (the driver runs in the server) or a classic master (the driver runs here)
    remote: bool
    #: the URL as logs and lineage show it: no token
    shown: str
    #: Spark settings from the connection's extra ``conf`` (a mapping of ``spark.*`` keys)
    conf: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def __repr__(self) -> str:  # a dataclass repr would print the URL with its token
        return f"SparkTarget({self.shown!r}, remote={self.remote})"


def task_cpus() -> int:
    """The CPUs this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def local_target(cpus: int | None = None) -> SparkTarget:
    """Local mode with ``cpus`` threads (default: the task's CPUs)."""
    master = f"local[{int(cpus or task_cpus())}]"
    return SparkTarget(master, remote=False, shown=master)


def spark_target(conn_id: str | None = DEFAULT_SPARK_CONN_ID) -> SparkTarget:
    """The Spark of connection ``conn_id``; local mode when it (or ``conn_id``) does not exist."""
    if not conn_id:
        return local_target()
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return local_target()
    return target_of(conn)


def target_of(conn: Any) -> SparkTarget:
    """A :class:`SparkTarget` from an Airflow connection's fields (see the module docstring)."""
    extra = dict(conn.extra_dejson or {})
    conf = {str(k): str(v) for k, v in (extra.pop("conf", None) or {}).items()}
    host = (conn.host or "").strip()
    token = conn.password or extra.get("token")
    if token:
        _mask(str(token))
    if not host or host.startswith("local"):
        return SparkTarget(host or local_target().url, remote=False, shown=host or local_target().url, conf=conf)
    connect = host.startswith("sc://") or (conn.conn_type or "").lower() == "spark_connect"
    if not connect:
        url = f"{host}:{conn.port}" if conn.port else host
        return SparkTarget(url, remote=False, shown=url, conf=conf)
    base = host if host.startswith("sc://") else f"sc://{host}"
    if conn.port and base.count(":") < 2:
        base = f"{base}:{conn.port}"
    elif base.count(":") < 2:
        base = f"{base}:{CONNECT_PORT}"
    params = []
    if conn.login:
        params.append(("user_id", conn.login))
    if str(extra.get("use_ssl", "")).lower() in ("1", "true", "yes"):
        params.append(("use_ssl", "true"))
    shown = base + "/" + "".join(f";{k}={quote(str(v), safe='')}" for k, v in params)
    if token:
        params.append(("token", str(token)))
    url = base + "/" + "".join(f";{k}={quote(str(v), safe='')}" for k, v in params)
    if token:
        _mask(url)
        shown += f";token={REDACTED}"
    return SparkTarget(url, remote=True, shown=shown.rstrip("/"), conf=conf, secrets=(str(token),) if token else ())


def _mask(secret: str) -> None:
    """Register ``secret`` with Airflow's secrets masker: every log line shows it as ``***``."""
    from airflow.sdk.log import mask_secret

    mask_secret(secret)
    quoted = quote(secret, safe="")
    if quoted != secret:
        mask_secret(quoted)


#: local-mode settings: no UI, the driver on the loopback, timestamps written as Parquet's
#: TIMESTAMP_MICROS (Spark's default INT96 is a legacy type Iceberg and DuckDB do not take alike)
LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}
#: settings every session of the engine needs: the same answers as DuckDB depend on them
ENGINE_CONF = {
    # instants are computed and written in UTC whatever the cluster's zone
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # a cast or arithmetic that cannot be done is NULL (the typing asks TRY_CAST where it matters)
    "spark.sql.ansi.enabled": "false",
    "spark.sql.parquet.compression.codec": "zstd",
}


def spark_session(target: SparkTarget, app_name: str = "lockgate") -> Any:
    """A SparkSession on ``target`` with :data:`ENGINE_CONF` (the connection's ``conf`` over it).

    A Spark Connect session comes from the Connect builder itself: pyspark's generic builder refuses
    one while a classic session runs in the process (``SESSION_ALREADY_EXIST``), and after one it
    sets ``SPARK_CONNECT_MODE_ENABLED`` in the process's environment: pyspark then builds every
    later session of the process (and of its children) as a Spark Connect one, and a local master
    fails (``CONNECT_URL_NOT_SET``).
    """
    if target.remote:
        ensure_reachable(target)
        from pyspark.sql.connect.session import SparkSession as ConnectSession

        builder: Any = ConnectSession.builder.remote(target.url).appName(app_name)
        settings = {**ENGINE_CONF, **target.conf}
    else:
        from pyspark.sql import SparkSession

        builder = SparkSession.builder.appName(app_name).master(target.url)
        settings = {**LOCAL_CONF, **ENGINE_CONF, **target.conf}
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def ensure_reachable(target: SparkTarget, timeout: float = CONNECT_TIMEOUT_SECONDS) -> None:
    """Fail at once, naming the server (never the token), when ``target``'s Spark Connect server
    does not accept a TCP connection within ``timeout`` seconds; the task's retries try again."""
    from airflow.sdk.exceptions import AirflowException

    address = urlsplit(target.url)
    host, port = address.hostname or "localhost", address.port or CONNECT_PORT
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise AirflowException(
            f"the Spark Connect server {target.shown} does not accept connections "
            f"({type(exc).__name__}: {exc.strerror or exc}); is it running and reachable from this worker?"
        ) from None
