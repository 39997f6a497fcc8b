"""``lockgate airflow`` / ``make airflow``: Airflow's own ``airflow standalone`` on the embedded defaults.

``airflow standalone`` migrates the metadata database and runs the api-server, scheduler
(LocalExecutor), dag-processor and triggerer, and stops them on Ctrl-C. This module keeps only what
is ours: the environment (the embedded defaults, ``[api] base_url`` from the chosen port, the simple
auth manager with a kept admin password), the banner (URL, login, the Data health page) and the
forwarding of Ctrl-C / SIGTERM to standalone.

Two things standalone cannot be told, so they are set through the environment here: the api-server
listens on ``[api] host``/``[api] port`` (loopback and ``--port``), and the scheduler's and
triggerer's log servers, which standalone always starts on all interfaces, get a free port each
(``0``) so that two local instances (``make airflow`` beside the test suite) never collide; the
api-server reads task logs from the shared local log folder anyway.
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
from pathlib import Path
from typing import Any

ADMIN_USER = "admin"
PASSWORDS_FILE_NAME = "simple_auth_manager_passwords.json"
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
DATA_HEALTH_ROUTE = "plugin/data-health"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
#: seconds standalone gets to stop its components after Ctrl-C before the whole group is killed
STOP_GRACE_SECONDS = 30.0
#: seconds from start until every component reports healthy (the banner waits for it)
READY_TIMEOUT_SECONDS = 240.0
#: seconds a task's supervisor waits for each execution API call (Airflow's default 5)
EXECUTION_API_TIMEOUT_SECONDS = 30.0


def _echo(message: str) -> None:
    print(message, flush=True)  # shown at once even when stdout is a pipe or a file


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
    """``embedded`` (the embedded defaults) plus what ``airflow standalone`` needs to be told.

    The executor and the auth manager are set here whatever the shell says (standalone would
    otherwise switch them itself, with a warning), and the execution API must be the api-server it
    starts. ``[api] base_url`` (what alert links and the UI's own links start with) is this host and
    port unless the shell sets it (a reverse proxy in front of the api-server knows its public URL).

    ``[workers] execution_api_timeout`` is :data:`EXECUTION_API_TIMEOUT_SECONDS` unless the shell
    sets it: every component shares one machine (and SQLite's one writer), and a busy laptop can
    keep the api-server from answering for tens of seconds (48 s seen on a loaded 2-core machine);
    with Airflow's 5 s and 5 attempts the task's first call gives up, the task fails and waits out
    its retry_delay (2 minutes in air_quality_daily) instead of starting once the server answers.
    """
    airflow_home = embedded["AIRFLOW_HOME"]
    base_url = os.environ.get("AIRFLOW__API__BASE_URL") or f"http://{host}:{port}/"
    api_timeout = os.environ.get("AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT") or str(EXECUTION_API_TIMEOUT_SECONDS)
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
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": api_timeout,
        # standalone starts the log servers on every interface: a free port each, never a clash
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": "0",
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": "0",
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


#: the banner's first line, printed once every component is healthy (test stacks wait for it)
UP_LINE = "Airflow is up."
#: how the line printed instead begins when the components did not all become healthy in time
NOT_UP_LINE = "Airflow did not become healthy within"


def banner(env: Mapping[str, str], password: str) -> str:
    """Where to log in once Airflow is up (standalone never echoes a password it did not generate)."""
    base_url = f"http://{env['AIRFLOW__API__HOST']}:{env['AIRFLOW__API__PORT']}"
    return "\n".join(
        [
            "",
            UP_LINE,
            f"  URL          {base_url}/",
            f"  login        {ADMIN_USER} / {password}",
            f"               (kept in {env['AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE']})",
            f"  Data health  {base_url}/{DATA_HEALTH_ROUTE}",
            f"  lake         {env['LOCKGATE_HOME']}/lake",
            "Press Ctrl-C to stop.",
            "",
        ]
    )


def standalone_command() -> list[str]:
    """``airflow standalone`` with this interpreter (standalone starts ``airflow`` from PATH)."""
    return [sys.executable, "-m", "airflow", "standalone"]


def warm_execution_api(base_url: str, timeout: float = READY_TIMEOUT_SECONDS) -> bool:
    """One call to the api-server's execution API (the one tasks call); True when it answered.

    The api-server builds the execution API (its routes and schemas for every API version) on the
    first request to it: 17 s on a loaded 2-core machine, which the first task's start waited for.
    Made while the other components start, the call takes that wait off the first task.
    """
    try:
        with urllib.request.urlopen(f"{base_url}/execution/health", timeout=timeout) as response:  # noqa: S310
            response.read()
            return True
    except (OSError, urllib.error.URLError, ValueError):
        return False


def _announce_when_ready(
    process: subprocess.Popen[bytes], base_url: str, text: str, echo: Callable[[str], None], stop: threading.Event
) -> None:
    """Print ``text`` once every component reports healthy (standalone's own banner has no login),
    the execution API warmed (:func:`warm_execution_api`) as soon as the api-server answers."""
    waited = 0.0
    warmed = False
    while not stop.wait(1.0) and process.poll() is None:
        waited += 1.0
        status = health(base_url)
        if status is not None and not warmed:
            warmed = True  # once: a task's own call says what is wrong when this one fails
            started = time.monotonic()
            warm_execution_api(base_url)
            waited += time.monotonic() - started
            continue
        if all_healthy(status):
            echo(text)
            return
        if waited >= READY_TIMEOUT_SECONDS:
            echo(f"{NOT_UP_LINE} {READY_TIMEOUT_SECONDS:.0f}s: {health(base_url)}")
            return


def _tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    return ""


def run(env: Mapping[str, str], *, echo: Callable[[str], None] = _echo) -> int:
    """Run ``airflow standalone`` with ``env``, print where to log in, stop it on Ctrl-C; the exit status.

    ``env`` comes from :func:`server_environment`; the admin password file is created when missing.
    Standalone runs in its own session, so a Ctrl-C reaches this process only: it passes one SIGINT
    on (standalone then stops its components) and kills the whole session after the grace period or
    on a second Ctrl-C.
    """
    airflow_home = Path(env["AIRFLOW_HOME"])
    log = airflow_home / "logs" / "standalone.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    password = ensure_admin_password(Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]))
    echo(f"Metadata database: {describe_metadata_db(env['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN'])}")
    echo(f"airflow standalone's output: {log}")
    # standalone starts its components as `airflow ...` from PATH: this interpreter's airflow
    path = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", os.defpath)])
    stopping = threading.Event()
    signals: list[int] = []

    def request_stop(signum: int, frame: object) -> None:
        signals.append(signum)
        stopping.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    with open(log, "ab") as out:
        process = subprocess.Popen(
            standalone_command(),
            env={**env, "PATH": path},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            # not the repository: its setuptools metadata (lockgate.egg-info) on sys.path would make
            # Airflow see the package, and so the plugin, twice
            cwd=airflow_home,
            start_new_session=True,
        )
    base_url = f"http://{env['AIRFLOW__API__HOST']}:{env['AIRFLOW__API__PORT']}"
    announcer = threading.Thread(
        target=_announce_when_ready, args=(process, base_url, banner(env, password), echo, stopping), daemon=True
    )
    announcer.start()
    try:
        while process.poll() is None and not stopping.wait(0.5):
            pass
        if process.poll() is not None:
            echo(f"airflow standalone exited with {process.returncode}; the end of {log}:\n{_tail(log)}")
            return process.returncode or 1
        echo("Stopping Airflow ...")
        _stop(process, signals)
        return 0
    finally:
        _signal_group(process, signal.SIGKILL)  # anything left in the session (task processes)
        _wait_group_gone(process)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        echo("Airflow stopped.")


def _stop(process: subprocess.Popen[bytes], signals: list[int]) -> None:
    """SIGINT to standalone (its Ctrl-C path); wait for it, or for a second Ctrl-C, then give up."""
    seen = len(signals)
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGINT)
    waited = 0.0
    while process.poll() is None and waited < STOP_GRACE_SECONDS:
        # make and uv may pass the same Ctrl-C on twice at once: only a later one forces the kill
        if len(signals) > seen + 1 or (len(signals) > seen and waited > 1.0):
            break
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.2)
        waited += 0.2
    if process.poll() is None:
        _signal_group(process, signal.SIGKILL)
        process.wait()


def _wait_group_gone(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Wait until no live process of the session is left: a SIGKILLed process may take a moment to go
    (a busy disk), and "Airflow stopped." must mean it. Zombies do not count (their parent is gone;
    whoever adopted them reaps them)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _live_members(process.pid):
        time.sleep(0.1)


def _live_members(group: int) -> list[int]:
    """The processes of process group ``group`` that are not zombies (Linux ``/proc``; elsewhere none)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[-1].split()
        except OSError:
            continue  # gone while we looked
        if len(fields) > 2 and fields[0] != "Z" and fields[2] == str(group):
            found.append(int(stat.parent.name))
    return found


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)
