"""Wait until a broker accepts an account's login (docker-compose starts workers after it).

Whichever broker is configured (Mosquitto or an EMQX node): a CONNECT that gets a successful
CONNACK proves the broker is up, the account exists there and its password is right.
"""

from __future__ import annotations

import ssl
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from backend.accounts.control import apply_tls


def try_login(
    host: str, port: int, username: str, password: str, ca_file: str | None, timeout_s: float
) -> str | None:
    """None when the broker accepted the login, else why not."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=username, protocol=mqtt.MQTTv5)
    client.username_pw_set(username, password)
    apply_tls(client, ca_file)
    done = threading.Event()
    outcome: list[str | None] = []

    def on_connect(c: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        outcome.append(f"CONNACK {reason}" if reason.is_failure else None)
        done.set()

    client.on_connect = on_connect
    try:
        client.connect(host, port, keepalive=10)
    except (OSError, ssl.SSLError) as exc:
        return f"{type(exc).__name__}: {exc}"
    client.loop_start()
    try:
        if not done.wait(timeout_s):
            return f"no CONNACK in {timeout_s} s"
        return outcome[0]
    finally:
        client.disconnect()
        client.loop_stop()


def wait_for_login(
    host: str,
    port: int,
    username: str,
    password: str,
    ca_file: str | None = None,
    timeout_s: float = 300.0,
) -> None:
    """Retry every second until ``username`` can log in; TimeoutError with the last reason."""
    deadline = time.monotonic() + timeout_s
    last: str | None = "not tried"
    while time.monotonic() < deadline:
        last = try_login(host, port, username, password, ca_file, min(10.0, timeout_s))
        if last is None:
            return
        time.sleep(1.0)
    raise TimeoutError(
        f"{host}:{port} did not accept {username} in {timeout_s} s; last: {last}. Check the "
        "broker, the account (python -m backend.accounts list) and the password"
    )
