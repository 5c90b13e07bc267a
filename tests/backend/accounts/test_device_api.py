"""The console's device API (/api/devices/accounts) on the real app, against a real Mosquitto
with the production configuration: create (password once), list, revoke (disconnected at
once, refused after), all without restarting the broker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient as HttpClient

from backend.api import create_app
from backend.auth.subject import Role
from backend.settings import get_settings
from protocol import topics
from tests.backend.accounts.conftest import ADMIN_PASSWORD
from tests.backend.accounts.test_production_broker import Watched, login
from tests.support.people import Caller, seed_callers
from tests.support.services import Mosquitto

OPERATOR = Caller("oper", Role.OPERATOR, "srp_operator-token-for-tests")
AUTH = OPERATOR.headers


@pytest.fixture
def api(
    prod_broker: Mosquitto, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[HttpClient]:
    seed_callers(db_url, [OPERATOR])
    monkeypatch.setenv("SR_MQTT_HOST", "127.0.0.1")
    monkeypatch.setenv("SR_MQTT_PORT", str(prod_broker.tls_port))
    monkeypatch.setenv("SR_MQTT_CA_FILE", str(prod_broker.ca_file))
    monkeypatch.setenv("SR_MQTT_ADMIN_PASSWORD", ADMIN_PASSWORD)
    get_settings.cache_clear()
    try:
        with HttpClient(create_app(db_url), raise_server_exceptions=False) as client:
            yield client
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("db_url", ["spatialite"], indirect=True)
def test_the_console_provisions_lists_and_revokes_a_device(
    api: HttpClient, prod_broker: Mosquitto
) -> None:
    assert prod_broker.proc is not None
    pid = prod_broker.proc.pid
    assert (
        api.post(
            "/api/devices/accounts", json={"username": "kiosk-SH-700", "kind": "kiosk"}
        ).status_code
        == 401
    )
    created = api.post(
        "/api/devices/accounts", json={"username": "kiosk-SH-700", "kind": "kiosk"}, headers=AUTH
    )
    assert created.status_code == 201, created.text
    password = created.json()["password"]
    again = api.post(
        "/api/devices/accounts", json={"username": "kiosk-SH-700", "kind": "kiosk"}, headers=AUTH
    )
    assert again.status_code == 409
    worker = api.post(
        "/api/devices/accounts", json={"username": "evil-worker", "kind": "worker"}, headers=AUTH
    )
    assert worker.status_code == 422  # workers and admins are not the console's to make
    listed = api.get("/api/devices/accounts", headers=AUTH).json()
    mine = next(a for a in listed if a["username"] == "kiosk-SH-700")
    assert mine["kind"] == "kiosk" and "password" not in mine
    device = Watched(prod_broker, "kiosk-SH-700", password)
    try:
        sent = device.client.publish(topics.device_reports("kiosk-SH-700"), b"{}", qos=1)
        sent.wait_for_publish(10)
        assert api.delete("/api/devices/accounts/kiosk-SH-700", headers=AUTH).status_code == 204
        assert device.disconnected.wait(5), "the revoked device stayed connected"
    finally:
        device.close()
    assert login(prod_broker, "kiosk-SH-700", password) == "CONNACK Not authorized"
    assert api.delete("/api/devices/accounts/kiosk-SH-700", headers=AUTH).status_code == 404
    assert prod_broker.proc.pid == pid and prod_broker.running


@pytest.mark.parametrize("db_url", ["spatialite"], indirect=True)
def test_the_device_api_says_when_the_broker_is_away(
    api: HttpClient, prod_broker: Mosquitto
) -> None:
    prod_broker.stop()
    answer = api.get("/api/devices/accounts", headers=AUTH)
    assert answer.status_code == 503
    assert "cannot reach the broker" in answer.json()["detail"]
