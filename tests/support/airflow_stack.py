"""``lockgate airflow`` (api-server, scheduler with the LocalExecutor, dag-processor, triggerer) for
tests and benches: started in a fresh LOCKGATE_HOME on a free loopback port, stopped as a user stops
it (SIGINT, what Ctrl-C sends).

One place for what the browser test, the events test and the events latency bench each did: the
environment (nothing of the caller's own Airflow settings), the admin password, the process in its
own session, waiting until every component reports healthy, and finding the components to check
they are gone after the stop.

:data:`FAST_LOOP_ENV` sets the intervals a test stack runs with; what it changes and why is next
to each setting.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from lockgate.ui import launcher
from tests.support.net import LOOPBACK, free_port, request_json

T = TypeVar("T")

#: a loaded 2-core machine (the suite runs xdist workers and other stacks beside): minutes
START_TIMEOUT = 600.0

#: Intervals of a test stack (Airflow's defaults suit a production scheduler, not a 2-core test machine).
FAST_LOOP_ENV: dict[str, str] = {
    # the DAG files do not change while a test stack runs: parsed at start, not again every 30 s
    # (each parse of the YAML pipelines takes CPU the tasks under test need)
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
    # the scheduler sleeps this long when a loop found nothing to do (default 1 s)
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
    # the LocalExecutor forks this many workers from the scheduler at start (default 32); a test
    # stack never runs more than a handful of tasks at once, and 2 cores run no more anyway
    "AIRFLOW__CORE__PARALLELISM": "8",
}


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 1.0) -> T:
    """``probe()``'s first truthy value, polled every ``interval`` s; TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what}: not within {timeout:.0f}s")


def children(pid: int) -> list[int]:
    """The child processes of ``pid``, whichever of its threads started them."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(p) for p in (task / "children").read_text().split()]
    return sorted(set(found))


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie is gone for our purposes)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[-1].startswith("Z"))


@dataclass
class RunningAirflow:
    """A running ``lockgate airflow``: where it answers, its home, the admin password, its process."""

    base_url: str
    home: Path
    password: str
    process: subprocess.Popen[bytes]
    output: Path
    #: standalone and its four components, found once every component was healthy
    components: list[int] = field(default_factory=list)

    def api(self, path: str, *, token: str | None = None, body: dict[str, Any] | None = None) -> Any:
        """JSON from the api-server (``path`` below the root), as ``token``'s user when given."""
        method = "GET" if body is None else "POST"
        for attempt in range(3):
            try:
                return request_json(f"{self.base_url}{path}", method=method, token=token, body=body)[1]
            except TimeoutError:
                # SQLite has one writer: while tasks run, the api-server can be slow to answer
                if method != "GET" or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def token(self) -> str:
        answer = self.api("/auth/token", body={"username": launcher.ADMIN_USER, "password": self.password})
        return str(answer["access_token"])

    def stop(self, grace: float = launcher.STOP_GRACE_SECONDS + 30) -> int | None:
        """SIGINT (Ctrl-C); the exit status, or None when it had to be killed after ``grace`` s."""
        components = self.components or children(self.process.pid)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            for pid in [*components, self.process.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            self.process.wait(timeout=30)
            return None

    def leftovers(self) -> list[int]:
        """Components still running (after :meth:`stop`, there must be none)."""
        return [pid for pid in self.components if alive(pid)]


def start_airflow(
    root: Path,
    env: Mapping[str, str] | None = None,
    *,
    fast: bool = True,
    timeout: float = START_TIMEOUT,
) -> RunningAirflow:
    """``lockgate airflow`` with ``LOCKGATE_HOME=root/lockgate``, running in ``root``, until every
    component is healthy.

    ``env`` adds to (and wins over) a copy of this process's environment without its ``AIRFLOW*``
    and ``LOCKGATE_*`` variables (the command sets up its embedded defaults); ``fast`` adds
    :data:`FAST_LOOP_ENV` first. Stops what it started and raises when Airflow does not come up.
    """
    home = root / "lockgate"
    password = launcher.ensure_admin_password(launcher.passwords_file(home / "airflow"))
    port = free_port()
    full = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LOCKGATE_"))}
    full |= (FAST_LOOP_ENV if fast else {}) | {"LOCKGATE_HOME": str(home)} | dict(env or {})
    output = root / "lockgate-airflow.out"
    with open(output, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "lockgate.cli", "airflow", "--port", str(port)],
            env=full,
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = RunningAirflow(f"http://{LOOPBACK}:{port}", home, password, process, output)

    def started() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"lockgate airflow exited with {process.returncode}:\n{output.read_text()[-5000:]}")
        # the banner: every component healthy and the execution API warmed (else the first task pays
        # for it); when the launcher stopped waiting for it (READY_TIMEOUT_SECONDS), the health endpoint
        text = output.read_text(errors="replace")
        return launcher.UP_LINE in text or (
            launcher.NOT_UP_LINE in text and launcher.all_healthy(launcher.health(running.base_url))
        )

    try:
        wait_for("every Airflow component is healthy", started, timeout, interval=0.5)
    except BaseException:
        running.stop()
        raise
    # lockgate airflow -> airflow standalone -> its four components
    standalone = children(process.pid)
    running.components = [*standalone, *(c for s in standalone for c in children(s))]
    return running
