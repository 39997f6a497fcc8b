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
    assert "pip install --no-cache-dir --no-deps -e /opt/lockgate" in dockerfile


def _target(volume: Any) -> str:
    return volume.get("target", "") if isinstance(volume, dict) else str(volume).split(":")[1]


def test_connections_point_at_services_that_exist(services: dict[str, Any]) -> None:
    variables = env(services["airflow-scheduler"])
    aws = json.loads(variables["AIRFLOW_CONN_LOCKGATE_AWS"])
    assert aws["extra"]["endpoint_url"] == "http://s3:8333"
    lake = json.loads(variables["AIRFLOW_CONN_LOCKGATE_LAKE"])
    bucket = lake["extra"]["url"].removeprefix("s3://").split("/")[0]
    assert lake["extra"]["aws_conn_id"] == "lockgate_aws"
    assert lake["conn_type"] == "lockgate_lake"  # Lockgate's own connection type (a form in the UI)
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


# -- pins, health checks, workers' shutdown, the image's dependencies --------------------------------

#: the health check each Airflow component gets in Airflow's official docker-compose.yaml
HEALTH_CHECKS = {
    "airflow-apiserver": "curl --fail http://localhost:8080/api/v2/monitor/health",
    "airflow-scheduler": "curl --fail http://localhost:8974/health",
    "airflow-dag-processor": "airflow jobs check --job-type DagProcessorJob",
    "airflow-triggerer": "airflow jobs check --job-type TriggererJob",
    "airflow-worker-1": "celery --app airflow.providers.celery.executors.celery_executor.app inspect ping",
    "airflow-worker-2": "celery --app airflow.providers.celery.executors.celery_executor.app inspect ping",
}
WORKERS = ("airflow-worker-1", "airflow-worker-2")


def _pinned(image: str) -> bool:
    """``name:tag`` whose tag is a version (has a digit), not ``latest``; a digest pins too."""
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag != "latest" and any(c.isdigit() for c in tag)


def test_every_image_is_pinned_to_a_version(services: dict[str, Any]) -> None:
    images = {name: service["image"] for name, service in services.items()}
    assert set(images) == set(services), "every service names its image"
    unpinned = {name: image for name, image in images.items() if not _pinned(image)}
    assert unpinned == {}
    base = re.findall(r"^FROM\s+(\S+)", (REPO / "deploy" / "Dockerfile").read_text(), re.MULTILINE)
    assert base
    assert all(_pinned(image) for image in base), base
    # the pin check itself: what it must refuse
    assert not any(_pinned(i) for i in ("redis", "redis:latest", "redis:alpine", "localhost:5000/redis"))


def test_airflow_components_have_the_official_health_checks(services: dict[str, Any]) -> None:
    for name, command in HEALTH_CHECKS.items():
        check = services[name]["healthcheck"]
        test = check["test"]
        text = " ".join(test[1:]) if isinstance(test, list) else str(test)
        assert command in text, name
        assert check["retries"] >= 3
        assert check["interval"]
        assert check["timeout"]
    for name in ("airflow-dag-processor", "airflow-triggerer", *WORKERS):
        # the job (or celery node) of this container, not any of them
        assert "HOSTNAME" in " ".join(services[name]["healthcheck"]["test"]), name
    # the scheduler answers /health only with its health server on
    assert env(services["airflow-scheduler"])["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"].lower() == "true"


def test_components_start_once_the_api_server_is_healthy(services: dict[str, Any]) -> None:
    for name in ("airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", *WORKERS):
        depends = services[name]["depends_on"]
        assert depends["airflow-apiserver"]["condition"] == "service_healthy", name
        assert depends["airflow-init"]["condition"] == "service_completed_successfully", name
    assert "airflow-apiserver" not in services["airflow-apiserver"]["depends_on"]


def test_celery_workers_shut_down_warm(services: dict[str, Any]) -> None:
    for name in WORKERS:
        variables = env(services[name])
        assert variables["DUMB_INIT_SETSID"] == "0", name
        # the worker keeps every setting the other components have
        assert variables["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert (
            variables["AIRFLOW_CONN_LOCKGATE_WAREHOUSE"]
            == env(services["airflow-scheduler"])["AIRFLOW_CONN_LOCKGATE_WAREHOUSE"]
        )
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        assert "DUMB_INIT_SETSID" not in env(services[name]), name


def test_the_image_installs_the_locked_versions_the_tests_ran() -> None:
    """The Dockerfile's own ``uv export`` command, run here: every package it installs is the version
    installed in this test environment (which ``uv sync --frozen`` made from the same uv.lock)."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.markers import Marker

    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    command = re.search(r"^\s*(?:RUN|&&)\s+uv export ([^\n&]*)", dockerfile, re.MULTILINE)
    assert command, "the Dockerfile exports uv.lock"
    args = command.group(1).split()
    assert "--frozen" in args
    assert "--extra" in args
    assert args[args.index("--extra") + 1] == "celery"
    args = [a for a in args if a not in ("--output-file", "/tmp/requirements.txt", "\\")]
    uv = [found] if (found := shutil.which("uv")) else ["python3", "-m", "uv"]  # as the Makefile runs it
    exported = subprocess.run(
        [*uv, "export", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert exported.returncode == 0, exported.stderr
    pins: dict[str, str] = {}
    for name, pinned, marker in re.findall(
        r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^ ;\\]+)(?: ; ([^\\\n]+))?", exported.stdout, re.MULTILINE
    ):
        if not marker or Marker(marker.strip()).evaluate():  # what pip installs on this Python/platform
            pins[name] = pinned
    assert len(pins) > 100, exported.stdout[:2000]  # the whole dependency tree, not a parse of nothing
    assert pins["apache-airflow"] == re.search(r"apache/airflow:([0-9.]+)-", dockerfile).group(1)
    assert "apache-airflow-providers-celery" in pins
    assert "celery" in pins
    assert "pytest" not in pins  # no dev group in the image
    assert "lockgate" not in pins  # the project: installed editable from the mount
    different: dict[str, tuple[str, str | None]] = {}
    for name, pinned in pins.items():
        try:
            installed: str | None = version(name)
        except PackageNotFoundError:
            installed = None
        if installed != pinned:
            different[name] = (pinned, installed)
    assert different == {}
    assert "--require-hashes -r /tmp/requirements.txt" in dockerfile
