"""A small test-side MQTT client: publish, collect what arrives, wait on conditions."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions


class TestClient:
    __test__ = False  # not a pytest class

    def __init__(
        self,
        port: int,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        protocol: int = mqtt.MQTTv5,
        ca_file: str | None = None,  # TLS, verifying the broker against this CA
    ) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol
        )
        if ca_file is not None:
            self.client.tls_set(ca_certs=ca_file)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.received: list[mqtt.MQTTMessage] = []
        self.puback_reasons: dict[int, int] = {}
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._suback = threading.Event()
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self._suback.set()
        self.client.on_publish = self._on_publish
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(5):
            self.client.loop_stop()
            raise TimeoutError(f"test client {client_id} could not connect to port {port}")

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            self._connected.set()

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append(msg)
        self.messages.put(msg)

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        self.puback_reasons[mid] = reason.value if hasattr(reason, "value") else int(reason)

    def subscribe(self, topic: str, qos: int = 1) -> None:
        self._suback.clear()
        self.client.subscribe(topic, options=SubscribeOptions(qos=qos))
        if not self._suback.wait(10):
            raise TimeoutError(f"no SUBACK for {topic}")

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(10)
        return info.mid

    def wait_for(
        self, predicate: Callable[[list[mqtt.MQTTMessage]], bool], timeout_s: float = 10.0
    ) -> list[mqtt.MQTTMessage]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                snapshot = list(self.received)
            if predicate(snapshot):
                return snapshot
            time.sleep(0.01)
        with self._lock:
            raise TimeoutError(
                f"condition not met in {timeout_s} s; got {len(self.received)} messages"
            )

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise TimeoutError(f"timed out after {timeout_s} s waiting for {what or predicate}")


def suback_codes(client: mqtt.Client, topic_filter: str, timeout_s: float = 10.0) -> list[int]:
    """Subscribe ``client`` (a connected paho client, e.g. ``TestClient.client``) to
    ``topic_filter`` and return the SUBACK reason codes (0x87: not authorized)."""
    done = threading.Event()
    codes: list[int] = []
    previous = client.on_subscribe

    def on_subscribe(c: Any, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        codes.extend(r.value for r in reasons)
        done.set()

    client.on_subscribe = on_subscribe
    try:
        client.subscribe(topic_filter, options=SubscribeOptions(qos=1))
        if not done.wait(timeout_s):
            raise TimeoutError(f"no SUBACK for {topic_filter}")
    finally:
        client.on_subscribe = previous
    return codes
