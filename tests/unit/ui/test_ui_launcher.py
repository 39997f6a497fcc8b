"""lockgate.ui.launcher: what ``lockgate airflow`` sets up before it starts the components."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from lockgate.cli import embedded_environment, main
from lockgate.ui import launcher


def test_the_admin_password_is_generated_once_and_kept(tmp_path: Path) -> None:
    path = launcher.passwords_file(tmp_path / "airflow")
    first = launcher.ensure_admin_password(path)
    assert len(first) >= 16
    assert json.loads(path.read_text()) == {"admin": first}  # the simple auth manager's own format
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert launcher.ensure_admin_password(path) == first


def test_an_existing_password_file_is_respected(tmp_path: Path) -> None:
    path = tmp_path / "passwords.json"
    path.write_text(json.dumps({"admin": "chosen", "viewer": "v"}))
    assert launcher.ensure_admin_password(path) == "chosen"
    assert json.loads(path.read_text()) == {"admin": "chosen", "viewer": "v"}


def test_server_environment_runs_local_components_on_the_embedded_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")  # the launcher starts no workers
    monkeypatch.delenv("AIRFLOW__API__BASE_URL", raising=False)
    embedded = embedded_environment(tmp_path / "home")
    env = launcher.server_environment(embedded, host="127.0.0.1", port=18080)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("SimpleAuthManager")
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == str(
        launcher.passwords_file(embedded["AIRFLOW_HOME"])
    )
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    # alert links and the UI's links point at the port the user chose (make airflow PORT=...)
    assert env["AIRFLOW__API__BASE_URL"] == "http://127.0.0.1:18080/"
    # everything else is the embedded defaults
    assert {k: env[k] for k in embedded} == embedded


def test_a_base_url_set_in_the_shell_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com/")
    env = launcher.server_environment(embedded_environment(tmp_path / "home"), host="127.0.0.1", port=18080)
    assert env["AIRFLOW__API__BASE_URL"] == "https://airflow.example.com/"


def test_tasks_wait_for_a_busy_api_server_unless_the_shell_says_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT", raising=False)
    env = launcher.server_environment(embedded_environment(tmp_path / "home"), host="127.0.0.1", port=18080)
    assert float(env["AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT"]) == launcher.EXECUTION_API_TIMEOUT_SECONDS == 30.0
    monkeypatch.setenv("AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT", "7")
    env = launcher.server_environment(embedded_environment(tmp_path / "home"), host="127.0.0.1", port=18080)
    assert env["AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT"] == "7"


def test_standalone_is_told_the_loopback_address_and_gets_free_log_server_ports(tmp_path: Path) -> None:
    env = launcher.server_environment(embedded_environment(tmp_path / "home"), host="127.0.0.1", port=18080)
    # airflow standalone has no --host/--port: the api-server reads them from [api]
    assert (env["AIRFLOW__API__HOST"], env["AIRFLOW__API__PORT"]) == ("127.0.0.1", "18080")
    # standalone always starts the log servers; port 0 keeps two local instances from clashing
    assert env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] == "0"
    assert env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"] == "0"
    assert launcher.standalone_command()[-3:] == ["-m", "airflow", "standalone"]


def test_the_banner_names_the_url_the_login_and_data_health(tmp_path: Path) -> None:
    env = launcher.server_environment(embedded_environment(tmp_path / "home"), host="127.0.0.1", port=18080)
    text = launcher.banner(env, "s3cret")
    assert "http://127.0.0.1:18080/" in text
    assert "admin / s3cret" in text
    assert "http://127.0.0.1:18080/plugin/data-health" in text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("sqlite:////tmp/x/airflow.db", "SQLite /tmp/x/airflow.db"),
        ("postgresql+psycopg://airflow:s3cret@db.internal:5432/airflow", "postgresql on db.internal:5432/airflow"),
    ],
)
def test_the_banner_names_the_metadata_db_without_credentials(url: str, shown: str) -> None:
    assert launcher.describe_metadata_db(url) == shown


@pytest.mark.parametrize(
    ("status", "healthy"),
    [
        (None, False),
        ({"metadatabase": {"status": "healthy"}, "scheduler": {"status": "unhealthy"}}, False),
        ({k: {"status": "healthy"} for k in ("metadatabase", "scheduler", "dag_processor", "triggerer")}, True),
    ],
)
def test_ready_only_when_every_component_is_healthy(status: dict | None, healthy: bool) -> None:
    assert launcher.all_healthy(status) is healthy


def test_the_cli_has_an_airflow_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["airflow", "--help"])
    assert done.value.code == 0
    assert "--port" in capsys.readouterr().out
