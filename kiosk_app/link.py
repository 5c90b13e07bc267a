"""The one MQTT connection of the app: connection and reconnection, birth and last will,
subscriptions, the outbox pump, and dispatch of incoming messages.

No Kivy here. Everything the UI must learn is handed to ``post`` (the app passes a function
that schedules on the Kivy clock), so listeners never run on paho's thread.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from enum import StrEnum
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from kiosk_app.config import AppConfig, Mode
from kiosk_app.link_requests import AnswerListener, RequestsAndAnswers
from kiosk_app.outbox import Outbox, OutboxEntry, OutboxStats
from kiosk_app.requested_topics import notice_photos_filter
from protocol import (
    Alert,
    DeviceState,
    DeviceStatus,
    NoticeBoard,
    Receipt,
    SightingReport,
    ValidationError,
    VolunteerLocation,
    VolunteerResponse,
    topics,
)
from protocol.payloads import utc_now

log = logging.getLogger(__name__)

QOS = 1


class LinkState(StrEnum):
    CONNECTING = "connecting"
    ONLINE = "online"
    OFFLINE = "offline"
    REFUSED = "refused"  # the broker said no (credentials): retrying will not help by itself


class LinkListener(AnswerListener, Protocol):
    """What the app learns from the link. Called through ``post``, never on paho's thread."""

    def on_link_state(self, state: LinkState, detail: str) -> None: ...
    def on_outbox(self, stats: OutboxStats) -> None: ...
    def on_receipt(self, receipt: Receipt, entry: OutboxEntry | None) -> None: ...
    def on_notices(self, board: NoticeBoard) -> None: ...
    def on_notice_photo(self, case_id: str, photo: bytes) -> None: ...
    def on_alert(self, alert: Alert) -> None: ...
    def on_publish_error(self, topic: str, reason: str) -> None: ...


def call_now(fn: Callable[[], None]) -> None:
    fn()


class MqttLink(RequestsAndAnswers):
    def __init__(
        self,
        config: AppConfig,
        outbox: Outbox,
        listener: LinkListener,
        post: Callable[[Callable[[], None]], None] = call_now,
    ) -> None:
        self.config = config
        self.outbox = outbox
        self.listener = listener
        self.post = post
        self.state = LinkState.CONNECTING
        self.state_detail = ""
        self._connected = threading.Event()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._mids_lock = threading.Lock()
        self._mids: dict[int, tuple[str, str | None]] = {}  # mid -> (topic, report_id)
        self._early_acks: dict[int, ReasonCode] = {}  # PUBACKs that beat _publish's bookkeeping
        self._last_stats: OutboxStats | None = None
        self._pump: threading.Thread | None = None
        self.client = self._make_client()
        self._handlers: dict[str, Callable[[bytes], None]] = {}
        device = config.device_id
        if config.mode is Mode.VOLUNTEER:
            self._subscriptions = [topics.volunteer_alerts(device)]
            self._handlers[topics.volunteer_alerts(device)] = self._handle_alert
        else:
            self._subscriptions = [topics.device_receipts(device)]
            self._handlers[topics.device_receipts(device)] = self._handle_receipt
            if config.mode is Mode.KIOSK:
                self._subscriptions.append(topics.device_notices(device))
                self._handlers[topics.device_notices(device)] = self._handle_notices
                self._subscriptions.append(notice_photos_filter(device))
        self._route_requests()

    @property
    def has_status(self) -> bool:
        """Devices (kiosk, phone) keep a retained status; volunteers have no status topic."""
        return self.config.mode is not Mode.VOLUNTEER

    # ------------------------------------------------------------------ lifecycle

    def _make_client(self) -> mqtt.Client:
        cfg = self.config
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=cfg.device_id,
            protocol=mqtt.MQTTv5,
            reconnect_on_failure=True,
        )
        client.username_pw_set(cfg.device_id, cfg.password)
        if cfg.broker.ca_file:  # TLS, verifying the broker's certificate and host name
            client.tls_set(ca_certs=cfg.broker.ca_file)
        client.reconnect_delay_set(
            max(1, int(cfg.broker.reconnect_min_s)), max(1, int(cfg.broker.reconnect_max_s))
        )
        client.max_queued_messages_set(1000)
        client.on_socket_open = _set_nodelay
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        if self.has_status:
            self._set_will(client)
        return client

    def _set_will(self, client: mqtt.Client) -> None:
        stats = self.outbox.stats()
        client.will_set(
            topics.device_status(self.config.device_id),
            self._status(DeviceState.OFFLINE, stats).to_json(),
            qos=QOS,
            retain=True,
        )

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.config.broker.session_expiry_s
        self._set_state(LinkState.CONNECTING, "")
        self.client.connect_async(
            self.config.broker.host,
            self.config.broker.port,
            keepalive=self.config.broker.keepalive_s,
            clean_start=False,
            properties=props,
        )
        self.client.loop_start()
        self._pump = threading.Thread(target=self._pump_loop, name="outbox-pump", daemon=True)
        self._pump.start()
        self._notify_outbox(force=True)

    def stop(self, *, timeout_s: float = 3.0) -> None:
        """Say goodbye (retained offline status with the outbox depth), then disconnect."""
        self._stopping.set()
        self._wake.set()
        if self._pump is not None:
            self._pump.join(timeout_s)
        if self._connected.is_set() and self.has_status:
            info = self.client.publish(
                topics.device_status(self.config.device_id),
                self._status(DeviceState.OFFLINE, self.outbox.stats()).to_json(),
                qos=QOS,
                retain=True,
            )
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout_s)
        self.client.disconnect()
        self.client.loop_stop()
        self._connected.clear()

    def wake(self) -> None:
        self._wake.set()

    # ------------------------------------------------------------------ sending

    def submit(self, report: SightingReport, photo: bytes | None = None) -> OutboxEntry:
        """Write to the outbox first; the pump sends it as soon as it can."""
        entry = self.outbox.add(report, photo)
        self._notify_outbox()
        self._wake.set()
        return entry

    def publish_response(self, response: VolunteerResponse) -> bool:
        return self._publish(
            topics.volunteer_responses(self.config.device_id), response.to_json(), None
        )

    def publish_location(self, location: VolunteerLocation) -> bool:
        return self._publish(
            topics.volunteer_location(self.config.device_id), location.to_json(), None
        )

    def _publish(
        self, topic: str, payload: bytes, report_id: str | None, *, retain: bool = False
    ) -> bool:
        """QoS 1; paho keeps it queued across a reconnect. False if not even queued.

        No lock of ours is held while paho publishes: paho calls ``on_publish`` with its
        own message lock held, so holding ours here as well deadlocks (ABBA) the moment a
        PUBACK arrives while another thread publishes. A PUBACK that beats the registration
        below is parked in ``_early_acks`` and settled here.
        """
        info = self.client.publish(topic, payload, qos=QOS, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            return False
        with self._mids_lock:
            early = self._early_acks.pop(info.mid, None)
            if early is None:
                self._mids[info.mid] = (topic, report_id)
        if early is not None:
            self._settle(topic, report_id, early)
        return True

    def _send_entry(self, entry: OutboxEntry) -> None:
        device = self.config.device_id
        if entry.photo is not None:
            self._publish(
                topics.device_photos(device, entry.report_id), entry.photo, entry.report_id
            )
        self._publish(topics.device_reports(device), entry.payload, entry.report_id)
        self.outbox.mark_sent(entry.report_id)

    def _pump_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                if self._connected.is_set():
                    for entry in self.outbox.due():
                        if not self._connected.is_set() or self._stopping.is_set():
                            break
                        self._send_entry(entry)
                    self._notify_outbox()
                due_in = self.outbox.next_due_in()
            except Exception:  # the pump must survive anything one row can do
                log.exception("outbox pump")
                due_in = 1.0
            timeout = 1.0 if due_in is None else min(1.0, max(0.05, due_in))
            self._wake.wait(timeout)
            self._wake.clear()

    # ------------------------------------------------------------------ status

    def _status(self, state: DeviceState, stats: OutboxStats) -> DeviceStatus:
        return DeviceStatus(
            device_id=self.config.device_id,
            state=state,
            at=utc_now(),
            app_version=self.config.app_version,
            mode=self.config.mode.value,
            outbox_depth=stats.pending,
            oldest_pending_s=round(stats.oldest_pending_s, 1)
            if stats.oldest_pending_s is not None
            else None,
        )

    def _publish_birth(self, stats: OutboxStats) -> None:
        if self.has_status:
            self._publish(
                topics.device_status(self.config.device_id),
                self._status(DeviceState.ONLINE, stats).to_json(),
                None,
                retain=True,
            )

    def _notify_outbox(self, *, force: bool = False) -> None:
        stats = self.outbox.stats()
        last = self._last_stats
        changed = last is None or (last.pending, last.rejected) != (stats.pending, stats.rejected)
        self._last_stats = stats
        if changed and self._connected.is_set():
            self._publish_birth(stats)  # the retained status carries the current depth
        if changed or force:
            self.post(lambda: self.listener.on_outbox(stats))

    def _set_state(self, state: LinkState, detail: str) -> None:
        self.state = state
        self.state_detail = detail
        self.post(lambda: self.listener.on_link_state(state, detail))

    # ------------------------------------------------------------------ paho callbacks

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: Any,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self._connected.clear()
            self._set_state(LinkState.REFUSED, str(reason_code))
            return
        for topic in self._subscriptions:
            client.subscribe(topic, qos=QOS)
        self._connected.set()
        stats = self.outbox.stats()
        self._last_stats = stats
        self._publish_birth(stats)
        self.outbox.reschedule_all_now()
        if self.config.mode is Mode.VOLUNTEER:
            self._ask_catchup()
        self._set_state(LinkState.ONLINE, "")
        self._wake.set()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._connected.clear()
        if self.state is not LinkState.REFUSED:
            self._set_state(LinkState.OFFLINE, "broker unreachable")

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: Any,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connected.clear()
        if self.has_status and not self._stopping.is_set():
            self._set_will(client)  # the will the broker gets next time carries today's depth
        if not self._stopping.is_set() and self.state is not LinkState.REFUSED:
            self._set_state(LinkState.OFFLINE, str(reason_code))

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._mids_lock:
            known = self._mids.pop(mid, None)
            if known is None:
                self._early_acks[mid] = reason_code
                return
        self._settle(known[0], known[1], reason_code)

    def _settle(self, topic: str, report_id: str | None, reason_code: ReasonCode) -> None:
        if reason_code.is_failure:  # e.g. 0x87 Not authorized: the ACL refused this topic
            reason = f"{reason_code} ({reason_code.value:#04x})"
            log.warning("broker refused publish on %s: %s", topic, reason)
            if report_id is not None:
                self.outbox.mark_error(report_id, f"broker refused: {reason}")
            self.post(lambda: self.listener.on_publish_error(topic, reason))

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        handler = self._handlers.get(message.topic)
        if handler is None and topics.topic_matches(
            notice_photos_filter(self.config.device_id), message.topic
        ):
            case_id = message.topic.split("/")[-2]
            payload = bytes(message.payload)
            self.post(lambda: self.listener.on_notice_photo(case_id, payload))
            return
        if handler is None and self._case_photo(message.topic, bytes(message.payload)):
            return
        if handler is None:
            log.warning("message on unexpected topic %s", message.topic)
            return
        try:
            handler(message.payload)
        except ValidationError as exc:
            log.warning("bad payload on %s: %s", message.topic, exc)
        except Exception:  # one bad message must never kill the network loop
            log.exception("handling %s", message.topic)

    def _handle_receipt(self, payload: bytes) -> None:
        receipt = Receipt.from_json(payload)
        entry = self.outbox.apply_receipt(receipt)
        self.post(lambda: self.listener.on_receipt(receipt, entry))
        self._notify_outbox()

    def _handle_notices(self, payload: bytes) -> None:
        board = NoticeBoard.from_json(payload)
        self.post(lambda: self.listener.on_notices(board))

    def _handle_alert(self, payload: bytes) -> None:
        alert = Alert.from_json(payload)
        self.post(lambda: self.listener.on_alert(alert))


def _set_nodelay(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    # websockets or TLS wrappers may not expose the option
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
