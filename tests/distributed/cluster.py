"""A distributed Airflow on this machine: PostgreSQL metadata, Redis broker, two Celery workers.

:class:`CeleryCluster` starts ``airflow api-server`` (UI, REST and execution API), ``scheduler``,
``dag-processor`` and two ``celery worker`` processes as children, each in its own session and
log file, all on 127.0.0.1. Every task instance records the hostname of the worker that ran it:
the workers get distinct ones through ``[core] hostname_callable`` (two processes on one machine
would otherwise both report the machine's name). Everything is stopped (SIGTERM to each process
group, SIGKILL after a grace period) and the broker's keys are deleted on :meth:`stop`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import requests

from tests.support.net import LOOPBACK, free_port

IDENTITY_MODULE = "lockgate_test_worker_identity"
IDENTITY_SOURCE = '''"""The hostname a Celery worker of the distributed test reports for its task instances."""
import os
import socket


def hostname() -> str:
    return os.environ.get("LOCKGATE_WORKER_HOSTNAME") or socket.getfqdn()
'''
WORKERS = ("lockgate-worker-a", "lockgate-worker-b")
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
STOP_GRACE_SECONDS = 20.0


class ClusterError(RuntimeError):
    """A component died or did not become ready; the message carries the tails of its logs."""


@dataclass
class CeleryCluster:
    """The components of a distributed Airflow, started by :meth:`start` and stopped by :meth:`stop`.

    :param home: a fresh folder: AIRFLOW_HOME, logs, the identity module.
    :param metadata_url: SQLAlchemy URL of an empty PostgreSQL database.
    :param broker_url: ``redis://127.0.0.1:6379/<db>``.
    :param dags_folder: the DAGs folder every component reads.
    :param extra_env: more environment (connections, LOCKGATE_HOME, ...).
    :param concurrency: task slots per worker.
    """

    home: Path
    metadata_url: str
    broker_url: str
    dags_folder: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    concurrency: int = 2
    port: int = 0
    key_prefix: str = ""
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _logs: list[IO[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.port = self.port or free_port()
        self.key_prefix = self.key_prefix or f"lockgate-test-{secrets.token_hex(4)}:"
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        (self.home / "pythonpath").mkdir(exist_ok=True)
        (self.home / "pythonpath" / f"{IDENTITY_MODULE}.py").write_text(IDENTITY_SOURCE)

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def environment(self) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST", "LOCKGATE"))}
        return {
            **inherited,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url,
            "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.metadata_url.replace("+psycopg2", ""),
            # this test's keys only, whatever else uses the same Redis database
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": self.key_prefix,
            "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__HOST": LOOPBACK,
            "AIRFLOW__API__PORT": str(self.port),
            # the REST API without a login: every request is the admin (a local test server only)
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            # runs only when triggered: no scheduled run of today's date competes with the test's
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{IDENTITY_MODULE}.hostname",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs" / "tasks"),
            "PYTHONPATH": str(self.home / "pythonpath"),
            "GX_ANALYTICS_ENABLED": "False",
            **self.extra_env,
        }

    # -------------------------------------------------------------------------------- lifecycle

    def migrate(self) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env=self.environment(),
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if result.returncode != 0:
            raise ClusterError(f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")

    def _spawn(self, name: str, args: list[str], env: Mapping[str, str]) -> None:
        log = open(self.home / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "airflow", *args],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.home,  # not the repository: its egg-info would register the plugin twice
            start_new_session=True,
        )

    def start(self, timeout: float = 90.0) -> None:
        env = self.environment()
        self._spawn("api-server", ["api-server", "--host", LOOPBACK, "--port", str(self.port), "--workers", "1"], env)
        self._spawn("scheduler", ["scheduler", "--skip-serve-logs"], env)
        self._spawn("dag-processor", ["dag-processor"], env)
        for worker in WORKERS:
            self._spawn(
                worker,
                [
                    "celery",
                    "worker",
                    "--celery-hostname",
                    f"{worker}@%h",
                    "--concurrency",
                    str(self.concurrency),
                    "--skip-serve-logs",
                    "--without-mingle",
                    "--without-gossip",
                ],
                {**env, "LOCKGATE_WORKER_HOSTNAME": worker},
            )
        self.wait_for("the api-server", lambda: self.get("/api/v2/monitor/health") is not None, timeout)

    def stop(self) -> None:
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            # the process group: task subprocesses a worker left behind
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        for log in self._logs:
            log.close()
        self._delete_broker_keys()

    def _delete_broker_keys(self) -> None:
        import redis

        with contextlib.suppress(redis.RedisError):
            client = redis.Redis.from_url(self.broker_url, socket_timeout=5)
            keys = list(client.scan_iter(match=f"{self.key_prefix}*", count=500))
            if keys:
                client.delete(*keys)

    # ------------------------------------------------------------------------------------ REST

    def get(self, path: str) -> Any:
        try:
            response = requests.get(f"{self.base_url}{path}", timeout=10)
        except requests.RequestException:
            return None
        return response.json() if response.status_code == 200 else None

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        response = requests.post(f"{self.base_url}{path}", json=dict(body), timeout=30)
        if response.status_code >= 300:
            raise ClusterError(f"POST {path}: HTTP {response.status_code} {response.text[:500]}")
        return response.json()

    def trigger(self, dag_id: str, logical_date: str, run_id: str) -> str:
        body = {"dag_run_id": run_id, "logical_date": f"{logical_date}T00:00:00Z", "conf": {}}
        return str(self.post(f"/api/v2/dags/{dag_id}/dagRuns", body)["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        run = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
        return None if run is None else str(run["state"])

    # -------------------------------------------------------------------------------- waiting

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise ClusterError(f"{name} exited with {process.returncode}\n{self.log_tail(name)}")

    def wait_for(self, what: str, ready: Callable[[], bool], timeout: float, every: float = 1.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if ready():
                return
            time.sleep(every)
        raise ClusterError(f"{what} not ready after {timeout:.0f}s\n{self.tails()}")

    def log_tail(self, name: str, lines: int = 40) -> str:
        try:
            text = (self.home / "logs" / f"{name}.log").read_text(errors="replace")
        except OSError:
            return f"--- {name}: no log"
        # the api-server's access log says nothing about a failure
        useful = [line for line in text.splitlines() if "[http.access]" not in line]
        return f"--- {name}:\n" + "\n".join(useful[-lines:])

    def tails(self) -> str:
        return "\n".join(self.log_tail(name) for name in self.processes)
