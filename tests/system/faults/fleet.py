"""Simulated devices that behave like the real app: a durable outbox per device, QoS 1
publishes, a persistent session, and every unreceipted report sent again after a reconnect
or when its receipt is overdue."""

from __future__ import annotations

import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from protocol import Receipt, ReceiptStatus
from protocol.example import example_report
from protocol.topics import device_receipts, device_reports


@dataclass
class _Pending:
    payload: bytes
    last_sent_s: float


@dataclass
class SimDevice:
    """One device, one MQTT connection (client id = device id, as a provisioned device)."""

    device_id: str
    port: int
    resend_after_s: float = 8.0
    keepalive_s: int = 10
    outbox: dict[str, _Pending] = field(default_factory=dict)
    sent: list[str] = field(default_factory=list)
    receipts: dict[str, list[ReceiptStatus]] = field(default_factory=lambda: defaultdict(list))
    accepted_at: dict[str, set[datetime]] = field(default_factory=lambda: defaultdict(set))
    resends: int = 0
    connects: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.device_id, protocol=mqtt.MQTTv5
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_socket_open = _nodelay
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.max_queued_messages_set(0)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 600  # receipts wait for us in the broker while we are away
        self.client.connect_async(
            "127.0.0.1", self.port, keepalive=self.keepalive_s, clean_start=False, properties=props
        )
        self.client.loop_start()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            return
        self.connects += 1
        client.subscribe(device_receipts(self.device_id), options=SubscribeOptions(qos=1))
        # As the app does: whatever has no receipt yet goes out again on every (re)connect.
        with self._lock:
            pending = list(self.outbox.items())
            now = time.monotonic()
            for _, entry in pending:
                entry.last_sent_s = now
            if self.connects > 1:
                self.resends += len(pending)
        for _, entry in pending:
            client.publish(device_reports(self.device_id), entry.payload, qos=1)

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        receipt = Receipt.from_json(bytes(msg.payload))
        with self._lock:
            self.receipts[receipt.report_id or ""].append(receipt.status)
            if receipt.status is ReceiptStatus.ACCEPTED:
                # when the worker decided: one decision delivered twice (QoS 1 is at
                # least once: a receipt the broker could not see acknowledged, e.g. while
                # it was frozen, comes again) has one time; two decisions have two
                self.accepted_at[receipt.report_id or ""].add(receipt.received_at)
            if receipt.status in (ReceiptStatus.ACCEPTED, ReceiptStatus.DUPLICATE):
                self.outbox.pop(receipt.report_id or "", None)

    def send_report(self) -> str:
        payload = example_report(self.device_id)
        report_id = payload.report_id
        with self._lock:
            self.outbox[report_id] = _Pending(payload.to_json(), time.monotonic())
            self.sent.append(report_id)
        self.client.publish(device_reports(self.device_id), payload.to_json(), qos=1)
        return report_id

    def resend_overdue(self, now_s: float) -> None:
        with self._lock:
            overdue = [
                e for e in self.outbox.values() if now_s - e.last_sent_s > self.resend_after_s
            ]
            for entry in overdue:
                entry.last_sent_s = now_s
            self.resends += len(overdue)
        if self.client.is_connected():
            for entry in overdue:
                self.client.publish(device_reports(self.device_id), entry.payload, qos=1)

    def unreceipted(self) -> list[str]:
        with self._lock:
            return list(self.outbox)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _nodelay(client: Any, userdata: Any, sock: Any) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Fleet:
    """Many devices sending a steady stream of reports, with the app's resend behaviour."""

    def __init__(self, port: int, device_ids: list[str], resend_after_s: float = 8.0) -> None:
        self.devices = [SimDevice(d, port, resend_after_s) for d in device_ids]
        self._stop = threading.Event()
        self._stream: threading.Thread | None = None
        self._resender = threading.Thread(target=self._resend_loop, daemon=True)
        self._resender.start()
        deadline = time.monotonic() + 15
        while any(d.connects == 0 for d in self.devices):
            if time.monotonic() > deadline:
                missing = [d.device_id for d in self.devices if d.connects == 0]
                raise TimeoutError(
                    f"{len(missing)} simulated devices never connected: {missing[:5]}"
                )
            time.sleep(0.02)

    def _resend_loop(self) -> None:
        while not self._stop.wait(0.5):
            now = time.monotonic()
            for device in self.devices:
                device.resend_overdue(now)

    def start_stream(
        self, per_device: int, duration_s: float, on_sent: Callable[[int], None] | None = None
    ) -> None:
        """Send ``per_device`` reports from every device, spread evenly over ``duration_s``."""
        total = per_device * len(self.devices)
        interval = duration_s / total

        def stream() -> None:
            started = time.monotonic()
            for i in range(total):
                if self._stop.is_set():
                    return
                self.devices[i % len(self.devices)].send_report()
                if on_sent is not None:
                    on_sent(i + 1)
                delay = started + (i + 1) * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)

        self._stream = threading.Thread(target=stream, daemon=True)
        self._stream.start()

    def wait_stream_done(self, timeout_s: float) -> None:
        assert self._stream is not None, "start_stream first"
        self._stream.join(timeout_s)
        if self._stream.is_alive():
            raise TimeoutError(f"the report stream did not finish in {timeout_s} s")

    def sent(self) -> dict[str, str]:
        """report id -> device id, for every report sent."""
        return {r: d.device_id for d in self.devices for r in d.sent}

    def unreceipted(self) -> list[str]:
        return [r for d in self.devices for r in d.unreceipted()]

    def wait_all_receipted(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            missing = self.unreceipted()
            if not missing:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(missing)} reports still have no receipt after {timeout_s} s "
                    f"(e.g. {missing[:3]}); resends so far: {self.resends()}"
                )
            time.sleep(0.05)

    def resends(self) -> int:
        return sum(d.resends for d in self.devices)

    def receipt_problems(self) -> list[str]:
        """Everything wrong with the receipts the devices hold, in words (empty = all good)."""
        problems = []
        for device in self.devices:
            with device._lock:
                receipts = {k: list(v) for k, v in device.receipts.items()}
                decisions = {k: len(v) for k, v in device.accepted_at.items()}
            for report_id in device.sent:
                statuses = receipts.get(report_id, [])
                if not statuses:
                    problems.append(f"{device.device_id}: no receipt for {report_id}")
                elif any(s is ReceiptStatus.REJECTED for s in statuses):
                    problems.append(f"{device.device_id}: {report_id} was rejected: {statuses}")
                elif decisions.get(report_id, 0) > 1:
                    problems.append(f"{device.device_id}: {report_id} accepted twice: {statuses}")
            strangers = set(receipts) - set(device.sent)
            if strangers:
                problems.append(f"{device.device_id}: receipts for unknown ids {sorted(strangers)}")
        return problems

    def close(self) -> None:
        self._stop.set()
        if self._stream is not None:
            self._stream.join(5)
        self._resender.join(5)
        for device in self.devices:
            device.close()
