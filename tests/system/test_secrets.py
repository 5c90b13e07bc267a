"""Secrets fail closed: a process started outside ``make run`` with a ``change-me`` secret (from
the environment or from ``X_FILE``) exits non-zero naming the setting, never its value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from backend.secret_env import SecretError, check, is_secret
from tests.support.services import REPO, free_port


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env={"PATH": os.environ["PATH"], "HOME": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_worker_refuses_a_change_me_password() -> None:
    result = _run(
        {"SR_MQTT_USERNAME": "backend-worker-1", "SR_MQTT_PASSWORD": "change-me-worker-1"},
        "-m",
        "backend.worker",
    )
    assert result.returncode == 78, result.stderr
    assert "SR_MQTT_PASSWORD" in result.stderr and "change-me-worker-1" not in result.stderr


def test_the_api_refuses_a_change_me_database_password() -> None:
    url = "postgresql+psycopg://sr:change-me@127.0.0.1:5432/sightings"
    result = _run(
        {"SR_DATABASE_URL": url},
        "-m",
        "uvicorn",
        "backend.api:create_app",
        "--factory",
        "--port",
        str(free_port()),
    )
    assert result.returncode == 78, result.stderr
    assert "SR_DATABASE_URL" in result.stderr


def test_a_change_me_secret_from_a_file_is_refused_too(tmp_path: Path) -> None:
    secret = tmp_path / "admin"
    secret.write_text("change-me-admin\n")
    result = _run(
        {"SR_MQTT_ADMIN_PASSWORD_FILE": str(secret)}, "-m", "backend.accounts", "list"
    )
    assert result.returncode == 78 and "SR_MQTT_ADMIN_PASSWORD" in result.stderr


def test_secret_files_are_read_and_paths_left_alone(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret\n")
    env = {
        "SR_MQTT_PASSWORD_FILE": str(tmp_path / "pw"),
        "SR_MQTT_USERNAME": "backend-worker-1",
        "SR_MQTT_CA_FILE": "/etc/ca.crt",  # a path setting, not a secret's file
    }
    check(env)
    assert env["SR_MQTT_PASSWORD"] == "s3cret" and "SR_MQTT_CA" not in env
    assert is_secret("SR_EMQX_COOKIE") and not is_secret("SR_MQTT_CA_FILE")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SR_MQTT_USERNAME": "w"}, "SR_MQTT_PASSWORD"),
        ({"SR_MQTT_PASSWORD_FILE": "/nowhere/pw"}, "SR_MQTT_PASSWORD_FILE"),
        ({"SR_EMQX_API_SECRET": "CHANGE-ME"}, "SR_EMQX_API_SECRET"),
    ],
)
def test_missing_unreadable_and_placeholder_secrets_are_named(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(SecretError, match=named):
        check(dict(env))


def test_the_compose_file_names_no_default_secret() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    assert "change-me" not in text.lower()
    compose = yaml.safe_load(text)
    for name, service in compose["services"].items():
        env = service.get("environment") or {}
        for key, value in (env.items() if isinstance(env, dict) else []):
            if is_secret(key) and not key.endswith("_FILE"):
                pytest.fail(f"{name}: {key}={value!r} in the environment; use {key}_FILE")
