"""Run Airflow's components locally on the embedded defaults: ``lockgate airflow`` / ``make airflow``.

Four processes, as in a real deployment: ``api-server`` (UI, REST and execution API), ``scheduler``
(LocalExecutor: tasks run as its subprocesses), ``dag-processor`` and ``triggerer``. Each runs in its
own session so that Ctrl-C reaches only this launcher, which then stops the components in order
(SIGTERM to each process group, SIGKILL after a grace period, at once on a second Ctrl-C).

Airflow 3.3 accepts the LocalExecutor on SQLite (``airflow standalone`` runs exactly that): tasks
reach the metadata database through the api-server's execution API, not directly, so SQLite's one
writer at a time is enough for a local instance. Servers listen on 127.0.0.1 only; the log servers
of the scheduler and triggerer are not started (``--skip-serve-logs``) because the api-server reads
task logs from the shared local log folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ADMIN_USER = "admin"
PASSWORDS_FILE_NAME = "simple_auth_manager_passwords.json"
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
DATA_HEALTH_ROUTE = "plugin/data-health"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
#: seconds the components get to stop after SIGTERM before they are killed
STOP_GRACE_SECONDS = 30.0
#: seconds from start until every component reports healthy
READY_TIMEOUT_SECONDS = 240.0


def _echo(message: str) -> None:
    print(message, flush=True)  # shown at once even when stdout is a pipe or a file


def component_commands(host: str, port: int) -> dict[str, list[str]]:
    """The ``airflow`` sub-commands of the four components, in start order."""
    return {
        "api-server": ["api-server", "--host", host, "--port", str(port)],
        "scheduler": ["scheduler", "--skip-serve-logs"],
        "dag-processor": ["dag-processor"],
        "triggerer": ["triggerer", "--skip-serve-logs"],
    }


def passwords_file(airflow_home: str | Path) -> Path:
    """Where the simple auth manager's passwords live: under ``AIRFLOW_HOME``, never in the repository."""
    return Path(airflow_home) / PASSWORDS_FILE_NAME


def ensure_admin_password(path: Path, user: str = ADMIN_USER) -> str:
    """The admin password from ``path``; a new random one is written (mode 0600) when there is none.

    The file has the simple auth manager's format (``{"user": "password"}``), so Airflow reads it
    as is; an existing password is kept, so the login stays the same from one start to the next.
    """
    passwords: dict[str, str] = {}
    if path.is_file() and path.read_text(encoding="utf-8").strip():
        passwords = json.loads(path.read_text(encoding="utf-8"))
    if not passwords.get(user):
        passwords[user] = secrets.token_urlsafe(12)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(passwords, fh)
    os.chmod(path, 0o600)
    return passwords[user]


def server_environment(embedded: Mapping[str, str], *, host: str, port: int) -> dict[str, str]:
    """``embedded`` (the embedded defaults) plus what a local multi-process Airflow needs.

    The executor, the auth manager and the addresses are set here, whatever the shell says: the
    launcher starts no Celery workers, and the execution API must be the api-server it starts.
    ``[api] base_url`` (what alert links and the UI's own links start with) is this host and port
    unless the shell sets it (a reverse proxy in front of the api-server knows its public URL).
    """
    airflow_home = embedded["AIRFLOW_HOME"]
    base_url = os.environ.get("AIRFLOW__API__BASE_URL") or f"http://{host}:{port}/"
    return {
        **embedded,
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file(airflow_home)),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{host}:{port}/execution/",
        "AIRFLOW__API__HOST": host,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": base_url,
    }


def describe_metadata_db(url: str) -> str:
    """The metadata database for a banner, without credentials."""
    scheme, _, rest = url.partition("://")
    if scheme.startswith("sqlite"):
        return "SQLite /" + rest.lstrip("/")
    host = rest.rpartition("@")[2]
    return f"{scheme.split('+')[0]} on {host}"


def health(base_url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """``/api/v2/monitor/health`` of a running api-server, or None when it does not answer yet."""
    try:
        with urllib.request.urlopen(f"{base_url}/api/v2/monitor/health", timeout=timeout) as response:  # noqa: S310
            return dict(json.load(response))
    except (OSError, urllib.error.URLError, ValueError):
        return None


def all_healthy(status: Mapping[str, Any] | None) -> bool:
    """True when the metadata DB, scheduler, dag-processor and triggerer all report healthy."""
    if not status:
        return False
    parts = ("metadatabase", "scheduler", "dag_processor", "triggerer")
    return all((status.get(part) or {}).get("status") == "healthy" for part in parts)


@dataclass
class _Stop:
    """Counts stop requests (Ctrl-C, SIGTERM); a second one a second after the first forces a kill."""

    event: threading.Event = field(default_factory=threading.Event)
    first_at: float | None = None
    forced: bool = False

    def request(self, signum: int, frame: object) -> None:
        now = time.monotonic()
        if self.first_at is None:
            self.first_at = now
        elif now - self.first_at > 1.0:  # make and uv may pass the same Ctrl-C on twice at once
            self.forced = True
        self.event.set()


class LocalAirflow:
    """The four Airflow components as child processes, each in its own session and log file.

    :param env: the complete environment of the components (see :func:`server_environment`).
    :param log_dir: where ``<component>.log`` files go.
    :param echo: where progress messages go (stdout by default).
    """

    def __init__(self, env: Mapping[str, str], *, log_dir: Path, echo: Callable[[str], None] = _echo) -> None:
        self.env = dict(env)
        self.host = self.env["AIRFLOW__API__HOST"]
        self.port = int(self.env["AIRFLOW__API__PORT"])
        self.base_url = f"http://{self.host}:{self.port}"
        self.log_dir = log_dir
        self.echo = echo
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []
        self.stop = _Stop()

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 -- closed in shutdown()
        self._logs.append(log)
        return subprocess.Popen(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # not the repository: its setuptools metadata (lockgate.egg-info) on sys.path would make
            # Airflow see the package, and so the plugin, twice
            cwd=self.env["AIRFLOW_HOME"],
            start_new_session=True,  # Ctrl-C reaches the launcher only; it stops the components in order
        )

    def log_tail(self, name: str, lines: int = 25) -> str:
        try:
            text = (self.log_dir / f"{name}.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def migrate(self) -> bool:
        """``airflow db migrate`` (idempotent); False if it failed or a stop was requested."""
        process = self._spawn("db-migrate", ["db", "migrate"])
        while process.poll() is None:
            if self.stop.event.wait(0.5):
                self._terminate({"db-migrate": process})
                return False
        if process.returncode != 0:
            self.echo(f"airflow db migrate failed (exit {process.returncode}):\n{self.log_tail('db-migrate')}")
            return False
        return True

    def start(self) -> None:
        for name, args in component_commands(self.host, self.port).items():
            self.processes[name] = self._spawn(name, args)

    def _exited(self) -> dict[str, int]:
        return {name: code for name, p in self.processes.items() if (code := p.poll()) is not None}

    def wait_until_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> bool:
        """Block until every component reports healthy; False on timeout, a crash or a stop request."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stop.event.is_set():
                return False
            if exited := self._exited():
                self._report_exits(exited)
                return False
            if all_healthy(health(self.base_url)):
                return True
            self.stop.event.wait(1.0)
        self.echo(f"Airflow did not become healthy within {timeout:.0f}s: {health(self.base_url)}")
        return False

    def _report_exits(self, exited: Mapping[str, int]) -> None:
        for name, code in exited.items():
            self.echo(f"{name} exited with {code}; the end of {self.log_dir / (name + '.log')}:\n{self.log_tail(name)}")

    def wait(self) -> int:
        """Run until a stop request (0) or until a component exits on its own (1)."""
        while not self.stop.event.wait(1.0):
            if exited := self._exited():
                self._report_exits(exited)
                return 1
        return 0

    def _terminate(self, processes: Mapping[str, subprocess.Popen[bytes]]) -> None:
        running = {name: p for name, p in processes.items() if p.poll() is None}
        for process in running.values():
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while any(p.poll() is None for p in running.values()):
            if time.monotonic() > deadline or self.stop.forced:
                break
            time.sleep(0.2)
        for name, process in running.items():
            # the group also holds the task processes the executor started
            _signal_group(process, signal.SIGKILL)
            if process.poll() is None:
                self.echo(f"{name} did not stop within {STOP_GRACE_SECONDS:.0f}s: killed")
            process.wait()

    def shutdown(self) -> None:
        """Stop every component (SIGTERM, then SIGKILL after the grace period) and close the logs."""
        if self.processes:
            self.echo("Stopping Airflow: " + ", ".join(self.processes))
            self._terminate(self.processes)
        for log in self._logs:
            log.close()
        self._logs.clear()


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def run(env: Mapping[str, str], *, echo: Callable[[str], None] = _echo) -> int:
    """Start the components with ``env``, print where to log in, run until Ctrl-C; the exit status.

    ``env`` comes from :func:`server_environment`; the admin password file is created when missing.
    """
    airflow_home = Path(env["AIRFLOW_HOME"])
    log_dir = airflow_home / "logs" / "components"
    log_dir.mkdir(parents=True, exist_ok=True)
    password = ensure_admin_password(Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]))
    airflow = LocalAirflow(env, log_dir=log_dir, echo=echo)
    previous = {sig: signal.signal(sig, airflow.stop.request) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        echo(f"Metadata database: {describe_metadata_db(env['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN'])}")
        echo(f"Component logs: {log_dir}/<component>.log")
        echo("Migrating the metadata database ...")
        if not airflow.migrate():
            return 0 if airflow.stop.event.is_set() else 1
        echo("Starting " + ", ".join(component_commands(airflow.host, airflow.port)) + " (LocalExecutor) ...")
        airflow.start()
        if not airflow.wait_until_ready():
            return 0 if airflow.stop.event.is_set() else 1
        echo(
            "\n".join(
                [
                    "",
                    "Airflow is up.",
                    f"  URL          {airflow.base_url}/",
                    f"  login        {ADMIN_USER} / {password}",
                    f"               (kept in {env['AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE']})",
                    f"  Data health  {airflow.base_url}/{DATA_HEALTH_ROUTE}",
                    f"  lake         {env['LOCKGATE_HOME']}/lake",
                    "Press Ctrl-C to stop.",
                    "",
                ]
            )
        )
        return airflow.wait()
    finally:
        airflow.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        echo("Airflow stopped.")
