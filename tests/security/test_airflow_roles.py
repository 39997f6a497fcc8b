"""Airflow roles against the local auth manager: an analyst (viewer) sees runs but cannot trigger
them or read connections; an engineer (user) triggers; an operator (op) also manages connections.

A real api-server is started on 127.0.0.1 with Airflow's SimpleAuthManager and four users, on a
private Airflow home whose metadata holds the ``lake_maintenance`` DAG; every call goes through the
public REST API with the user's own JWT from ``POST /auth/token``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lockgate.ui import launcher
from tests.support.net import LOOPBACK, free_port, request_json

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

#: ``airflow db migrate`` then ``airflow dags reserialize``, in one interpreter: Airflow is imported once,
#: not twice (4-5 s of the setup on a loaded 2-core machine)
PREPARE = """
import sys
from airflow.__main__ import main
for command in (["db", "migrate"], ["dags", "reserialize"]):
    sys.argv = ["airflow", *command]
    main()
"""

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "lake_maintenance"
USERS = {"analyst": "viewer", "engineer": "user", "operator": "op", "platform": "admin"}
START_TIMEOUT = 180.0


@dataclass
class ApiServer:
    base_url: str
    passwords: dict[str, str]

    def call(self, method: str, path: str, *, token: str | None = None, body: Any = None) -> tuple[int, Any]:
        """(status, JSON body) of one request; HTTP errors are returned, not raised."""
        try:
            return request_json(f"{self.base_url}{path}", method=method, token=token, body=body)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def token(self, user: str) -> str:
        status, answer = self.call("POST", "/auth/token", body={"username": user, "password": self.passwords[user]})
        assert status in (200, 201), answer
        return str(answer["access_token"])


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    root = tmp_path_factory.mktemp("roles")
    home = root / "airflow"
    dags = root / "dags"
    dags.mkdir(parents=True)
    shutil.copy(REPO / "dags" / f"{DAG_ID}.py", dags)
    passwords = {user: f"pw-{user}-{os.urandom(6).hex()}" for user in USERS}
    home.mkdir()
    (home / launcher.PASSWORDS_FILE_NAME).write_text(json.dumps(passwords))
    port = free_port()
    # nothing of the test session's own Airflow: a private home, SQLite metadata, this DAG only
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LOCKGATE_"))}
    env |= {
        "AIRFLOW_HOME": str(home),
        "LOCKGATE_HOME": str(root / "lockgate"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__AUTH_MANAGER": launcher.SIMPLE_AUTH_MANAGER,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in USERS.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / launcher.PASSWORDS_FILE_NAME),
        "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(16).hex(),
        "AIRFLOW__OPENLINEAGE__DISABLED": "True",
    }
    subprocess.run([sys.executable, "-c", PREPARE], env=env, cwd=root, check=True, capture_output=True)
    output = root / "api-server.log"
    with open(output, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server", "--host", LOOPBACK, "--port", str(port)],
            env=env,
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base_url = f"http://{LOOPBACK}:{port}"
        deadline = time.monotonic() + START_TIMEOUT
        while launcher.health(base_url) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the api-server did not come up:\n{output.read_text()[-5000:]}")
            time.sleep(1)
        yield ApiServer(base_url, passwords)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def trigger(server: ApiServer, token: str, run_id: str) -> tuple[int, Any]:
    return server.call(
        "POST",
        f"/api/v2/dags/{DAG_ID}/dagRuns",
        token=token,
        body={"dag_run_id": run_id, "logical_date": None, "conf": {"dry_run": True}},
    )


def test_a_viewer_sees_runs_but_cannot_trigger_them(api_server: ApiServer) -> None:
    analyst = api_server.token("analyst")
    status, runs = api_server.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns", token=analyst)
    assert status == 200, runs
    status, _ = api_server.call("GET", f"/api/v2/dags/{DAG_ID}", token=analyst)
    assert status == 200
    status, answer = trigger(api_server, analyst, "manual__by_the_analyst")
    assert status == 403, answer
    # nor may an analyst read connections (where the secrets are)
    assert api_server.call("GET", "/api/v2/connections", token=analyst)[0] == 403
    # and no run was created by the refused request
    platform = api_server.token("platform")
    _, runs = api_server.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns", token=platform)
    assert "manual__by_the_analyst" not in {r["dag_run_id"] for r in runs["dag_runs"]}


def test_an_engineer_and_an_operator_can_trigger(api_server: ApiServer) -> None:
    for user in ("engineer", "operator"):
        token = api_server.token(user)
        status, run = trigger(api_server, token, f"manual__by_the_{user}")
        assert status == 200, run
        assert run["dag_run_id"] == f"manual__by_the_{user}"
        status, seen = api_server.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/manual__by_the_{user}", token=token)
        assert status == 200
        assert seen["conf"] == {"dry_run": True}


def test_only_operators_and_admins_manage_connections(api_server: ApiServer) -> None:
    assert api_server.call("GET", "/api/v2/connections", token=api_server.token("engineer"))[0] == 403
    assert api_server.call("GET", "/api/v2/connections", token=api_server.token("operator"))[0] == 200


def test_no_token_no_access(api_server: ApiServer) -> None:
    assert api_server.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns")[0] == 401
    status, _ = api_server.call("POST", "/auth/token", body={"username": "analyst", "password": "wrong"})
    assert status == 401
