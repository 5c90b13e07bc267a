"""The ingest worker: ``python -m backend.worker``.

Subscribes with an MQTT 5 shared subscription, so any number of workers split the load.
For every message: validate and store (or dead-letter) in one transaction, commit, publish
the receipt, and only then acknowledge the MQTT message. A worker killed at any point
loses nothing: an unacknowledged message is redelivered to the persistent session (or to
another member of the share group), and the report id makes the second store a no-op.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from backend.db.engine import make_engine, make_sessionmaker
from backend.mqtt import connect_properties, make_client
from backend.settings import Settings, get_settings
from backend.sightings.service import IngestResult, ingest_report, reject
from protocol import Problem, Receipt, ReceiptStatus
from protocol import errors as codes
from protocol.payloads import utc_now
from protocol.topics import ALL_DEVICE_REPORTS, device_receipts, shared

log = logging.getLogger(__name__)

MAX_DB_ATTEMPTS = 5


class IngestWorker:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.clock = clock
        self.subscription = shared(settings.share_group, ALL_DEVICE_REPORTS)
        self.client = make_client(
            settings.worker_client_id,
            username=settings.mqtt_username,
            password=settings.mqtt_password,
            manual_ack=True,
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.subscribed = threading.Event()
        self.processed = 0

    # ------------------------------------------------------------------ MQTT callbacks

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        log.info(
            "connected (session present: %s); subscribing %s",
            flags.session_present,
            self.subscription,
        )
        client.subscribe(self.subscription, options=SubscribeOptions(qos=1))

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: list[ReasonCode], props: Any
    ) -> None:
        if any(r.is_failure for r in reasons):
            log.error("subscription to %s refused: %s", self.subscription, reasons)
            return
        log.info("subscribed to %s", self.subscription)
        self.subscribed.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        self.subscribed.clear()
        if reason.is_failure:
            log.warning("disconnected from the broker (%s); paho reconnects", reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        result = self.process(msg.topic, bytes(msg.payload))
        if result is None:
            # The database is unreachable: leave the message unacknowledged and drop the
            # connection, so the broker redelivers it once we are back.
            client.disconnect()
            return
        if result.receipt is not None:
            client.publish(
                device_receipts(result.receipt.device_id), result.receipt.to_json(), qos=1
            )
        client.ack(msg.mid, msg.qos)
        self.processed += 1

    # ------------------------------------------------------------------ processing

    def process(self, topic: str, payload: bytes) -> IngestResult | None:
        """Store one message; return None only when the database cannot be reached."""
        for attempt in range(1, MAX_DB_ATTEMPTS + 1):
            now = self.clock()
            try:
                with self.sessions.begin() as session:
                    return ingest_report(session, topic, payload, now)
            except SQLAlchemyError as exc:
                log.warning("database error on attempt %d for %s: %s", attempt, topic, exc)
                if self._dead_letter_internal(topic, payload, exc, now):
                    # The database works, so the input made us fail: it is kept, answered,
                    # and never retried forever.
                    return IngestResult(receipt=self._internal_receipt(topic, now), report=None)
                time.sleep(min(0.2 * 2**attempt, 3.0))
            except Exception as exc:  # a bug must not kill the worker or lose the message
                log.exception("unexpected error while ingesting %s", topic)
                if self._dead_letter_internal(topic, payload, exc, now):
                    return IngestResult(receipt=self._internal_receipt(topic, now), report=None)
                time.sleep(min(0.2 * 2**attempt, 3.0))
        return None

    def _dead_letter_internal(
        self, topic: str, payload: bytes, exc: Exception, now: datetime
    ) -> bool:
        try:
            with self.sessions.begin() as session:
                reject(session, topic, payload, _device_of(topic), [_internal()], now)
            return True
        except Exception:
            log.exception("could not write the dead letter either")
            return False

    def _internal_receipt(self, topic: str, now: datetime) -> Receipt | None:
        device = _device_of(topic)
        if device is None:
            return None
        return Receipt(
            device_id=device,
            status=ReceiptStatus.REJECTED,
            received_at=now,
            problems=(_internal(),),
        )

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        s = self.settings
        self.client.connect(
            s.mqtt_host,
            s.mqtt_port,
            keepalive=30,
            clean_start=False,
            properties=connect_properties(s.session_expiry_s),
        )
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _internal() -> Problem:
    return Problem(
        "",
        codes.INTERNAL,
        "the server could not process this message; it has been kept for review",
    )


def _device_of(topic: str) -> str | None:
    parts = topic.split("/")
    if len(parts) == 5 and parts[:3] == ["sr", "v1", "devices"]:
        return parts[3]
    return None


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = get_settings()
    engine = make_engine(settings.database_url)
    worker = IngestWorker(settings, make_sessionmaker(engine))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker.start()
    log.info(
        "ingest worker %s running against %s",
        settings.worker_client_id,
        settings.database_url.split("@")[-1],
    )
    stop.wait()
    worker.stop()
    engine.dispose()


if __name__ == "__main__":
    main()
