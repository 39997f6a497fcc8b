"""docker-compose.yaml, validated without a Docker engine: ``docker-compose config`` and its content.

``docker-compose config`` (Debian's docker-compose; ``.ci/run`` installs it) parses, interpolates
and checks the file like ``docker compose up`` would. The tests then read the resolved
configuration: every service the README names is there, Airflow runs on Celery with two workers,
all components share the execution API's secret, the connections point at services that exist.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.requires import unavailable

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yaml"
README = REPO / "README.md"
AIRFLOW_COMMANDS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker-1": "celery worker",
    "airflow-worker-2": "celery worker",
}


def docker_compose() -> str:
    found = shutil.which("docker-compose")
    if found:
        return found
    unavailable("docker-compose is not installed", "apt-get install docker-compose")


def run_config(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [docker_compose(), "-f", str(COMPOSE), "--project-directory", str(REPO), "config", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    result = run_config()
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


@pytest.fixture(scope="module")
def services(config: dict[str, Any]) -> dict[str, Any]:
    return config["services"]


def env(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {k: str(v) for k, v in environment.items()}


def readme_services() -> set[str]:
    """The services named in the README's docker-compose table (first column, in backticks)."""
    text = README.read_text()
    section = text.split("## Deploy with docker-compose", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            names.update(re.findall(r"`([a-z0-9-]+)`", line.split("|")[1]))
    return names


def test_docker_compose_config_accepts_the_file(config: dict[str, Any]) -> None:
    assert set(config["volumes"]) >= {"postgres-data", "s3-data"}
    quiet = run_config("--quiet")
    assert quiet.returncode == 0, quiet.stderr


def test_every_service_the_readme_names_is_there_and_no_other(services: dict[str, Any]) -> None:
    named = readme_services()
    assert named, "README has no service table under '## Deploy with docker-compose'"
    assert named == set(services)


def test_airflow_components_run_on_celery_with_two_workers(services: dict[str, Any]) -> None:
    for name, command in AIRFLOW_COMMANDS.items():
        service = services[name]
        cmd = service["command"]
        assert (" ".join(cmd) if isinstance(cmd, list) else cmd) == command, name
        variables = env(service)
        assert variables["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert variables["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:6379/")
        assert variables["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].split("@")[1].startswith("postgres:5432/airflow")
        # the execution API: where tasks report, and the one secret its tokens are signed with
        assert variables["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        assert variables["AIRFLOW__API_AUTH__JWT_SECRET"]
        # the project, mounted and installed (the image's build installs it)
        assert any(str(v).endswith(":/opt/lockgate") or _target(v) == "/opt/lockgate" for v in service["volumes"])
        assert variables["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/lockgate/dags"
        assert service["build"]["dockerfile"].endswith("deploy/Dockerfile")
    secrets = {env(services[n])["AIRFLOW__API_AUTH__JWT_SECRET"] for n in AIRFLOW_COMMANDS}
    assert len(secrets) == 1
    hostnames = {services[n].get("hostname") for n in ("airflow-worker-1", "airflow-worker-2")}
    assert len(hostnames) == 2
    assert None not in hostnames
    assert "8080:8080" in str(services["airflow-apiserver"]["ports"]) or any(
        str(p.get("published")) == "8080" for p in services["airflow-apiserver"]["ports"] if isinstance(p, dict)
    )
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    assert "FROM apache/airflow:3.3." in dockerfile
    assert "pip install --no-cache-dir -e /opt/lockgate" in dockerfile


def _target(volume: Any) -> str:
    return volume.get("target", "") if isinstance(volume, dict) else str(volume).split(":")[1]


def test_connections_point_at_services_that_exist(services: dict[str, Any]) -> None:
    variables = env(services["airflow-scheduler"])
    aws = json.loads(variables["AIRFLOW_CONN_LOCKGATE_AWS"])
    assert aws["extra"]["endpoint_url"] == "http://s3:8333"
    lake = json.loads(variables["AIRFLOW_CONN_LOCKGATE_LAKE"])
    bucket = lake["extra"]["url"].removeprefix("s3://").split("/")[0]
    assert lake["extra"]["aws_conn_id"] == "lockgate_aws"
    # the bucket the lake uses is the one s3-init creates at start
    assert f"s3 mb s3://{bucket}" in " ".join(services["s3-init"]["command"])
    assert services["s3-init"]["depends_on"]["s3"]["condition"] == "service_healthy"
    warehouse = variables["AIRFLOW_CONN_LOCKGATE_WAREHOUSE"]
    assert re.match(r"postgres://warehouse:[^@]+@postgres:5432/warehouse$", warehouse)
    lineage = json.loads(variables["AIRFLOW_CONN_LOCKGATE_LINEAGE"])
    assert (lineage["host"], lineage["port"]) == ("marquez", 5000)
    transport = json.loads(variables["AIRFLOW__OPENLINEAGE__TRANSPORT"])
    assert transport["type"] == "http"
    assert transport["url"] == "http://marquez:5000"
    for host in ("s3", "postgres", "marquez", "redis"):
        assert host in services
    init = (REPO / "deploy" / "postgres-init.sh").read_text()
    assert "CREATE DATABASE warehouse" in init
    assert "CREATE DATABASE marquez" in init
    assert env(services["marquez"])["POSTGRES_HOST"] == "postgres"
    assert env(services["marquez-web"])["MARQUEZ_HOST"] == "marquez"
    assert "3000:3000" in str(services["marquez-web"]["ports"]) or any(
        str(p.get("published")) == "3000" for p in services["marquez-web"]["ports"] if isinstance(p, dict)
    )


def test_dependencies_name_existing_services_and_start_in_order(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for dependency in service.get("depends_on") or {}:
            assert dependency in services, f"{name} depends on unknown {dependency}"
    for name in AIRFLOW_COMMANDS:
        depends = services[name]["depends_on"]
        assert depends["airflow-init"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"
    assert "db migrate" in " ".join(services["airflow-init"]["command"])


def test_secrets_come_from_the_environment(tmp_path: Path) -> None:
    """Every password is a development default that the environment (or an .env file) overrides."""
    result = run_config(env={"LOCKGATE_WAREHOUSE_PASSWORD": "s3cr3t-from-env", "AIRFLOW_JWT_SECRET": "jwt-from-env"})
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)["services"]
    scheduler = env(resolved["airflow-scheduler"])
    assert (
        scheduler["AIRFLOW_CONN_LOCKGATE_WAREHOUSE"] == "postgres://warehouse:s3cr3t-from-env@postgres:5432/warehouse"
    )
    assert scheduler["AIRFLOW__API_AUTH__JWT_SECRET"] == "jwt-from-env"
    assert env(resolved["postgres"])["LOCKGATE_WAREHOUSE_PASSWORD"] == "s3cr3t-from-env"
