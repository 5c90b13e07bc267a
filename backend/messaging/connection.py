"""The worker's one MQTT connection, owned: it connects in the background, reconnects forever
with backoff, subscribes on every connect, and knows which connection a message came on.

paho runs the network loop on its own thread; nothing here ever calls ``disconnect()``
except :meth:`Connection.close`, so paho's loop keeps reconnecting (an explicit disconnect
would end it for good). A message is acknowledged only on the connection it arrived on: after
a reconnect the broker redelivers whatever was not acknowledged, and acknowledging a stale
packet id would acknowledge a different message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from backend.messaging.health import MESSAGES, Health
from backend.mqtt import make_client
from protocol.topics import ParsedTopic, parse_topic

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Inbound:
    """One received message, as the handlers see it: the topic parsed once, raw bytes."""

    topic: str
    parsed: ParsedTopic | None  # None: the topic is outside the v1 grammar
    payload: bytes
    qos: int
    mid: int
    dup: bool  # redelivered: the broker sent it before without getting our acknowledgement
    generation: int  # which connection it arrived on
    # time.monotonic() at arrival: the start of the receipt-time histogram
    received: float = field(default_factory=time.monotonic, compare=False)


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    host: str
    port: int
    client_id: str
    username: str | None
    password: str | None
    session_expiry_s: int
    receive_maximum: int
    keepalive_s: int = 30


def _parse(topic: str) -> ParsedTopic | None:
    try:
        return parse_topic(topic)
    except ValueError:
        return None


class Connection:
    """Owns the paho client. ``on_inbound`` runs on paho's network thread and may block
    (that is the flow control of last resort: TCP backpressure to the broker)."""

    def __init__(
        self,
        settings: BrokerSettings,
        subscriptions: Sequence[tuple[str, int]],
        health: Health,
        on_inbound: Callable[[Inbound], None],
        on_delivered: Callable[[Hashable, bool], None],
    ) -> None:
        self.settings = settings
        self.subscriptions = list(subscriptions)
        self.health = health
        self._on_inbound = on_inbound
        self._on_delivered = on_delivered
        self.generation = 0
        self._lock = threading.Lock()
        self._pending: dict[int, Hashable | None] = {}
        self._early: dict[int, bool] = {}
        self.client = make_client(
            settings.client_id,
            username=settings.username,
            password=settings.password,
            manual_ack=True,
        )
        self.client.on_connect = self._connected
        self.client.on_disconnect = self._disconnected
        self.client.on_subscribe = self._subscribed
        self.client.on_message = self._message
        self.client.on_publish = self._published

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> None:
        s = self.settings
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = s.session_expiry_s
        # Flow control: the broker sends at most this many unacknowledged QoS 1 messages, so a
        # backlog waits at the broker (in order, persisted) instead of flooding our socket and
        # starving the writes of receipts and acknowledgements.
        props.ReceiveMaximum = s.receive_maximum
        self.client.connect_async(
            s.host, s.port, keepalive=s.keepalive_s, clean_start=False, properties=props
        )
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    # ------------------------------------------------------------------ outbound

    def current(self, generation: int) -> bool:
        with self._lock:
            return generation == self.generation and self.health.connected

    def ack(self, message: Inbound) -> bool:
        """Acknowledge `message` if it arrived on the live connection; False if stale."""
        if message.qos == 0:
            return True
        if not self.current(message.generation):
            return False
        self.client.ack(message.mid, message.qos)
        return True

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        track: Hashable | None = None,
    ) -> None:
        """Publish; when the broker acknowledges it, ``on_delivered(track, ok)`` is called
        (for tracked publications). paho keeps QoS 1 messages across reconnects."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if qos == 0:
            return
        with self._lock:
            early = self._early.pop(info.mid, None)
            if early is None:
                self._pending[info.mid] = track
        if early is not None and track is not None:
            self._on_delivered(track, early)

    # ------------------------------------------------------------------ paho callbacks

    def _connected(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        if reason.is_failure:
            log.error(
                "the broker at %s:%d refused the connection of %r: %s; retrying with backoff",
                self.settings.host,
                self.settings.port,
                self.settings.client_id,
                reason,
            )
            return
        with self._lock:
            self.generation += 1
        log.info("connected (session present: %s)", flags.session_present)
        self.health.set(connected=True)
        client.subscribe([(t, SubscribeOptions(qos=q)) for t, q in self.subscriptions])

    def _subscribed(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: list[ReasonCode], props: Any
    ) -> None:
        refused = [
            (t, str(r))
            for (t, _), r in zip(self.subscriptions, reasons, strict=False)
            if r.is_failure
        ]
        if refused:
            log.error(
                "subscription refused: %s; check this worker account's ACL (a worker needs "
                "the worker role)",
                refused,
            )
            return
        log.info("subscribed to %s", ", ".join(t for t, _ in self.subscriptions))
        self.health.set(subscribed=True)

    def _disconnected(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        self.health.set(connected=False, subscribed=False)
        log.warning("disconnected from the broker (%s); reconnecting with backoff", reason)

    def _message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            inbound = Inbound(
                topic=msg.topic,
                parsed=_parse(msg.topic),
                payload=bytes(msg.payload),
                qos=msg.qos,
                mid=msg.mid,
                dup=bool(msg.dup),
                generation=self.generation,
            )
        except Exception:  # a topic that is not UTF-8: paho raises while decoding it
            log.exception("unreadable message (mid %s); acknowledged and counted", msg.mid)
            self.health.count(MESSAGES, kind="unknown", outcome="unreadable")
            if msg.qos:
                client.ack(msg.mid, msg.qos)
            return
        self._on_inbound(inbound)

    def _published(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, props: Any
    ) -> None:
        ok = not reason.is_failure
        if not ok:
            log.error("the broker refused publication %d: %s", mid, reason)
        with self._lock:
            if mid in self._pending:
                track = self._pending.pop(mid)
            else:
                self._early[mid] = ok
                return
        if track is not None:
            self._on_delivered(track, ok)
