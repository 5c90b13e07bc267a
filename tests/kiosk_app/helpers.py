"""Test-side helpers for the kiosk app tests: the broker accounts, a stand-in
responder for the backend (answers reports with receipts), and waiting on conditions."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from backend.accounts import Account, AccountKind
from kiosk_app.config import AppConfig, BrokerConfig, Mode, default_config
from protocol import (
    AgeBand,
    ChildDescription,
    Colour,
    Problem,
    Receipt,
    ReceiptStatus,
    Sex,
    SightingReport,
    ValidationError,
    topics,
)
from protocol.errors import RATE_LIMITED
from protocol.payloads import utc_now

# Broker accounts of the kiosk tests (backend.accounts: each holds only its kind's topics,
# the username is the client id). The backend side is played by worker accounts, one per
# simultaneous connection: the worker process, the responder, a notices publisher.
ACCOUNTS = (
    Account("kiosk-SH-013", "kiosk-demo", AccountKind.KIOSK),
    Account("phone-demo", "phone-demo", AccountKind.PHONE),
    Account("vol-1", "volunteer-demo", AccountKind.VOLUNTEER),
    Account("intruder", "intruder", AccountKind.KIOSK),  # a real kiosk, not kiosk-SH-013
    Account("backend", "backend-secret", AccountKind.WORKER),
    Account("responder", "backend-secret", AccountKind.WORKER),
    Account("notices-publisher", "backend-secret", AccountKind.WORKER),
)
USERS = {a.username: a.password for a in ACCOUNTS}
# The child of the demo case C-2024-017, in its notice and in the alerts about it.
BOY_IN_YELLOW = ChildDescription(AgeBand.PRESCHOOL, Sex.MALE, (Colour.YELLOW,))


def wait_for(cond: Callable[[], Any], timeout_s: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def app_config(mode: Mode, port: int, data_dir: Path, **changes: Any) -> AppConfig:
    base = default_config(mode)
    broker = BrokerConfig(port=port, reconnect_min_s=1, reconnect_max_s=1, session_expiry_s=600)
    changes.setdefault("language_configured", True)  # not the test machine's locale
    return replace(
        base, broker=broker, data_dir=data_dir, retry_min_s=0.5, retry_max_s=2.0, **changes
    )


def backend_client(
    port: int,
    client_id: str = "backend",
    subscriptions: tuple[str, ...] = (),
    on_message: Callable[..., None] | None = None,
) -> mqtt.Client:
    """A backend-side client logged in as the worker account named ``client_id``."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.username_pw_set(client_id, USERS[client_id])
    client.reconnect_delay_set(1, 1)
    connected = threading.Event()

    def on_connect(c: mqtt.Client, *args: Any) -> None:
        for topic in subscriptions:  # the broker may have restarted without memory
            c.subscribe(topic, qos=1)
        connected.set()

    client.on_connect = on_connect
    if on_message is not None:
        client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    if not connected.wait(5):
        raise AssertionError("backend test client did not connect")
    return client


class Responder:
    """Stands in for the backend worker: stores each report id once, answers with a receipt
    (accepted, duplicate, rejected when ``reject`` says so, or rate limited with a
    ``retry_after_s`` when ``rate_limit`` gives one for the n-th delivery of that report),
    records photos and status."""

    def __init__(
        self,
        port: int,
        reject: Callable[[SightingReport], str | None] | None = None,
        rate_limit: Callable[[SightingReport, int], float | None] | None = None,
    ) -> None:
        self.reject = reject
        self.rate_limit = rate_limit
        self.stored: dict[str, SightingReport] = {}
        self.deliveries: list[str] = []  # every report message received (duplicates too)
        self.delivered_at: list[float] = []  # time.monotonic() of each delivery
        self.raw: dict[str, dict[str, Any]] = {}  # report id -> the JSON object as received
        self.photos: dict[str, bytes] = {}
        self.status: dict[str, bytes] = {}
        self.lock = threading.Lock()
        self.client = backend_client(
            port,
            "responder",
            tuple(  # workers join the share group; a plain subscription is refused
                topics.shared("backend", t)
                for t in (
                    topics.ALL_DEVICE_REPORTS,
                    topics.ALL_DEVICE_PHOTOS,
                    topics.ALL_DEVICE_STATUS,
                )
            ),
            self._on_message,
        )

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        parsed = topics.parse_topic(msg.topic)
        if parsed.kind is topics.TopicKind.DEVICE_PHOTOS:
            with self.lock:
                self.photos[parsed.sub_id or ""] = msg.payload
            return
        if parsed.kind is topics.TopicKind.DEVICE_STATUS:
            with self.lock:
                self.status[parsed.subject_id] = msg.payload
            return
        try:
            report = SightingReport.from_json(msg.payload)
        except ValidationError as exc:
            receipt = Receipt(
                parsed.subject_id, ReceiptStatus.REJECTED, utc_now(), problems=tuple(exc.problems)
            )
            client.publish(topics.device_receipts(parsed.subject_id), receipt.to_json(), qos=1)
            return
        reason = self.reject(report) if self.reject else None
        with self.lock:
            self.deliveries.append(report.report_id)
            self.delivered_at.append(time.monotonic())
            self.raw[report.report_id] = json.loads(msg.payload)
            nth = self.deliveries.count(report.report_id)
            retry_after_s = self.rate_limit(report, nth) if self.rate_limit else None
            if retry_after_s is not None:
                receipt = Receipt(
                    report.device_id,
                    ReceiptStatus.REJECTED,
                    utc_now(),
                    report.report_id,
                    (Problem("device_id", RATE_LIMITED, "too many reports, retry later"),),
                    retry_after_s=retry_after_s,
                )
                client.publish(topics.device_receipts(report.device_id), receipt.to_json(), qos=1)
                return
            if reason:
                status = ReceiptStatus.REJECTED
                problems: tuple[Problem, ...] = (Problem("free_text", "policy", reason),)
            elif report.report_id in self.stored:
                status, problems = ReceiptStatus.DUPLICATE, ()
            else:
                self.stored[report.report_id] = report
                status, problems = ReceiptStatus.ACCEPTED, ()
        receipt = Receipt(report.device_id, status, utc_now(), report.report_id, problems)
        client.publish(topics.device_receipts(report.device_id), receipt.to_json(), qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Recorder:
    """A LinkListener that records everything, for tests of the link without a UI."""

    def __init__(self) -> None:
        self.states: list[str] = []
        self.receipts: list[Receipt] = []
        self.outbox: list[Any] = []
        self.notices: list[Any] = []
        self.alerts: list[Any] = []
        self.publish_errors: list[tuple[str, str]] = []

    def on_link_state(self, state: Any, detail: str) -> None:
        self.states.append(str(state))

    def on_outbox(self, stats: Any) -> None:
        self.outbox.append(stats)

    def on_receipt(self, receipt: Receipt, entry: Any) -> None:
        self.receipts.append(receipt)

    def on_notices(self, board: Any) -> None:
        self.notices.append(board)

    def on_notice_photo(self, case_id: str, photo: bytes) -> None:
        self.notices.append((case_id, photo))

    def on_alert(self, alert: Any) -> None:
        self.alerts.append(alert)

    def on_publish_error(self, topic: str, reason: str) -> None:
        self.publish_errors.append((topic, reason))


async def wait_ui(
    app: Any, cond: Callable[[], Any], timeout_s: float = 10.0, what: str = "condition"
) -> Any:
    """Wait on a condition while the Kivy clock keeps running (never block the loop)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        await app.async_sleep(0.03)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def make_app(settings: AppConfig, **kwargs: Any) -> Any:
    """The real App, with Kivy's test driver mixed in (touches on widgets, clock waits)."""
    from kivy.tests.async_common import UnitKivyApp

    from kiosk_app.ui.app import SightingApp

    class TestedApp(SightingApp, UnitKivyApp):
        pass

    return TestedApp(settings, **kwargs)
