"""What a fuzz run talks to besides the worker: the MQTT publishers and the receipt counter,
the worker's health endpoint, and the database's figures per family."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy import Engine, text

from tests.support.stack import WorkerProcess
from tests.system.faults.health import probe, rss_kib
from tests.system.fuzz.generators import (
    FAMILIES,
    PHOTOS,
    REPORTS,
    FuzzMessage,
)

# --------------------------------------------------------------------------- MQTT sides


class ReceiptCounter:
    """Counts receipts per device (each fuzzed reports message has a device of its own)."""

    def __init__(self, port: int) -> None:
        self.counts: Counter[str] = Counter()
        self.statuses: dict[str, str] = {}
        self.total = 0
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"fuzz-receipts-{uuid.uuid4().hex[:6]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.subscribe("sr/v1/devices/+/receipts", options=SubscribeOptions(qos=1))
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError(f"the receipt listener got no SUBACK from port {port}")

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        device = msg.topic.split("/")[3]
        try:
            status = str(json.loads(msg.payload).get("status"))
        except (ValueError, AttributeError):
            status = "unreadable"
        with self._lock:
            self.counts[device] += 1
            self.statuses[device] = status
            self.total += 1

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Publishers:
    """A few MQTT clients publishing QoS 1 in a pipeline (many messages in flight each)."""

    def __init__(self, port: int, n: int) -> None:
        self.acked = 0
        self.reason_codes: Counter[int] = Counter()
        self._lock = threading.Lock()
        self.clients = []
        for i in range(n):
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=f"fuzz-pub-{i}-{uuid.uuid4().hex[:6]}",
                protocol=mqtt.MQTTv5,
            )
            client.max_inflight_messages_set(200)
            client.max_queued_messages_set(0)
            client.on_publish = self._on_publish
            client.connect("127.0.0.1", port, keepalive=60)
            client.loop_start()
            self.clients.append(client)

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self._lock:
            self.acked += 1
            self.reason_codes[int(getattr(reason, "value", reason))] += 1

    def publish(self, i: int, msg: FuzzMessage) -> None:
        self.clients[i % len(self.clients)].publish(msg.topic, msg.payload, qos=1)

    def close(self) -> None:
        for client in self.clients:
            client.disconnect()
            client.loop_stop()


def publish_over_broker_limit(port: int, msg: FuzzMessage) -> None:
    """The broker refuses a packet over its limit by closing the connection: a throwaway
    client sends it and waits for that."""
    gone = threading.Event()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"fuzz-big-{uuid.uuid4().hex[:6]}",
        protocol=mqtt.MQTTv5,
    )
    client.on_disconnect = lambda *a: gone.set()
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    try:
        client.publish(msg.topic, msg.payload, qos=1)
        gone.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()


# --------------------------------------------------------------------------- health


class HealthWatch:
    """Probes /healthz twice a second and samples the worker's memory while the run lasts."""

    def __init__(self, worker: WorkerProcess, port: int) -> None:
        self.worker = worker
        self.port = port
        self.probes = 0
        self.failures: list[str] = []
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            answer = probe(self.port, "/healthz", timeout_s=3.0)
            self.probes += 1
            if not answer.ok:
                self.failures.append(answer.error or f"{answer.status} {answer.body}")
            self.peak_kib = max(self.peak_kib, rss_kib(self.worker.proc.pid) or 0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


# --------------------------------------------------------------------------- database


FAMILY_SQL = """
SELECT CASE
  WHEN topic LIKE 'sr/v1/devices/%/reports' THEN 'reports'
  WHEN topic LIKE 'sr/v1/devices/%/photos/%' THEN 'photos'
  WHEN topic LIKE 'sr/v1/volunteers/%/responses' THEN 'responses'
  WHEN topic LIKE 'sr/v1/volunteers/%/location' THEN 'location'
  WHEN topic LIKE 'owntracks/%' THEN 'owntracks'
  ELSE 'other' END AS family,
  count(*),
  sum(CASE WHEN CAST(reasons AS TEXT) LIKE '%quarantined%' THEN 1 ELSE 0 END)
FROM dead_letters GROUP BY 1
"""


def database_figures(engine: Engine) -> dict[str, tuple[int, int, int]]:
    """family -> (stored, dead-lettered, quarantined)."""
    with engine.connect() as conn:
        letters = {r[0]: (int(r[1]), int(r[2] or 0)) for r in conn.execute(text(FAMILY_SQL))}
        reports = int(conn.execute(text("SELECT count(*) FROM reports")).scalar_one())
        photos = int(conn.execute(text("SELECT count(*) FROM report_photos")).scalar_one())
    stored = {REPORTS: reports, PHOTOS: photos}
    return {
        f: (stored.get(f, 0), letters.get(f, (0, 0))[0], letters.get(f, (0, 0))[1])
        for f in FAMILIES
    }
