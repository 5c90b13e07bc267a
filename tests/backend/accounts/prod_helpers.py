"""Clients, logins, the accounts CLI and the dynamic-security admin for the tests against
the production-configured Mosquitto."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from backend.accounts.control import BrokerAddress, DynsecControl
from backend.accounts.wait import try_login
from tests.backend.accounts.conftest import ADMIN_PASSWORD, KIOSK_PASSWORD
from tests.support.mqtt_client import TestClient
from tests.support.services import REPO, Mosquitto

NOT_AUTHORIZED = 0x87


class Watched:
    """A TLS connection whose disconnection is an event (with the reason code)."""

    def __init__(
        self,
        broker: Mosquitto,
        username: str,
        password: str,
        client_id: str | None = None,
        protocol: int = mqtt.MQTTv5,
    ) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id or username, protocol=protocol
        )
        self.client.username_pw_set(username, password)
        assert broker.ca_file is not None
        self.client.tls_set(ca_certs=broker.ca_file)
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.disconnect_reason: Any = None
        self.connack_props: Any = None
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.reconnect_delay_set(60, 120)  # no reconnection while a test watches
        self.client.connect("127.0.0.1", broker.tls_port, keepalive=30)
        self.client.loop_start()
        if not self.connected.wait(10):
            self.close()
            raise TimeoutError(f"{username} could not connect over TLS")

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            self.connack_props = props
            self.connected.set()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self.disconnect_reason = reason
        self.disconnected.set()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def tls_client(broker: Mosquitto, username: str, password: str = KIOSK_PASSWORD) -> TestClient:
    return TestClient(broker.tls_port, username, username, password, ca_file=broker.ca_file)


def login(
    broker: Mosquitto, username: str, password: str, ca_file: str | None = None
) -> str | None:
    return try_login("127.0.0.1", broker.tls_port, username, password, ca_file or broker.ca_file, 5)


def accounts_cli(broker: Mosquitto, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m backend.accounts`` against the broker's TLS listener as admin."""
    target = ["--host", "127.0.0.1", "--port", str(broker.tls_port)]
    target += ["--ca-file", str(broker.ca_file)]
    return subprocess.run(
        [sys.executable, "-m", "backend.accounts", *args, *target],
        cwd=REPO,
        env={"SR_MQTT_ADMIN_PASSWORD": ADMIN_PASSWORD, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def admin(broker: Mosquitto) -> DynsecControl:
    return DynsecControl(
        BrokerAddress("127.0.0.1", broker.tls_port, "admin", ADMIN_PASSWORD, broker.ca_file)
    )
