"""The backend worker: ``python -m backend.worker``.

Reports (and volunteer responses) arrive through MQTT 5 shared subscriptions, so any number
of workers split the load. For every report: validate, store (or dead-letter), cluster into
an incident, match against open cases, route alerts into the outbox — one transaction —
then publish the receipt, then acknowledge the MQTT message. A worker killed at any point
loses nothing: an unacknowledged message is redelivered to its persistent session, and the
report id makes the second store a no-op.

Volunteer locations arrive on a plain (unshared) subscription: every worker keeps every
exact position in memory. A ticker thread publishes the alert outbox, runs due escalation
timers, rebuilds indexes when cases/volunteers/stations change, and refreshes kiosk notices.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy import or_, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from backend.alerts.escalation import EscalationPolicy
from backend.alerts.models import AlertRow
from backend.alerts.routing import RoutingPolicy
from backend.alerts.service import (
    AlertingConfig,
    ResponseError,
    handle_accepted_report,
    record_response,
    run_due_escalations,
)
from backend.cases.notices import refresh_notice_boards
from backend.db.engine import make_engine, make_sessionmaker
from backend.devices.service import check_rate, record_status
from backend.memory import Memory, Position
from backend.mqtt import connect_properties, make_client
from backend.settings import Settings, get_settings
from backend.sightings.photos import ingest_photo
from backend.sightings.service import IngestResult, ingest_report, reject
from backend.volunteers.service import expire_locations, store_coarse_location
from protocol import (
    DeviceStatus,
    Problem,
    Receipt,
    ReceiptStatus,
    ValidationError,
    VolunteerLocation,
    VolunteerResponse,
    parse_owntracks,
)
from protocol import errors as codes
from protocol.payloads import utc_now
from protocol.topics import (
    ALL_DEVICE_PHOTOS,
    ALL_DEVICE_REPORTS,
    ALL_DEVICE_STATUS,
    ALL_OWNTRACKS,
    ALL_VOLUNTEER_LOCATIONS,
    ALL_VOLUNTEER_RESPONSES,
    TopicKind,
    device_receipts,
    parse_topic,
    shared,
)

log = logging.getLogger(__name__)

MAX_DB_ATTEMPTS = 5


def alerting_config(settings: Settings) -> AlertingConfig:
    timeouts = tuple(timedelta(seconds=float(s)) for s in settings.escalation_timeouts_s.split(","))
    return AlertingConfig(
        routing=RoutingPolicy(k=settings.proximity_k),
        escalation=EscalationPolicy(ack_timeouts=timeouts),
        alert_ttl=timedelta(seconds=settings.alert_ttl_s),
    )


T = TypeVar("T")


@dataclass(frozen=True)
class _Outcome(Generic[T]):
    value: T | None  # None: the message was dead-lettered as internal
    now: datetime


@dataclass
class _Pending:
    alert_id: str
    revision: int


class Worker:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.clock = clock
        self.config = alerting_config(settings)
        self.memory = Memory()
        self.subscriptions = [
            (shared(settings.share_group, ALL_DEVICE_REPORTS), 1),
            (shared(settings.share_group, ALL_VOLUNTEER_RESPONSES), 1),
            (shared(settings.share_group, ALL_DEVICE_STATUS), 1),
            (shared(settings.share_group, ALL_DEVICE_PHOTOS), 1),
            (ALL_VOLUNTEER_LOCATIONS, 0),
            (ALL_OWNTRACKS, 0),
        ]
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
        self.client.on_publish = self._on_publish
        self.subscribed = threading.Event()
        self.processed = 0
        self._in_flight: dict[int, _Pending] = {}
        self._in_flight_lock = threading.Lock()
        self._delivered: queue.Queue[_Pending] = queue.Queue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick_loop, name="ticker", daemon=True)
        self._last_notice_refresh = 0.0

    # ------------------------------------------------------------------ MQTT callbacks

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        log.info("connected (session present: %s)", flags.session_present)
        client.subscribe([(t, SubscribeOptions(qos=q)) for t, q in self.subscriptions])

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: list[ReasonCode], props: Any
    ) -> None:
        if any(r.is_failure for r in reasons):
            log.error("subscription refused: %s", reasons)
            return
        log.info("subscribed to %s", ", ".join(t for t, _ in self.subscriptions))
        self.subscribed.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        self.subscribed.clear()
        if reason.is_failure:
            log.warning("disconnected from the broker (%s); paho reconnects", reason)

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, props: Any
    ) -> None:
        with self._in_flight_lock:
            pending = self._in_flight.pop(mid, None)
        if pending is None:
            return
        if reason.is_failure:
            log.error("broker refused alert %s: %s", pending.alert_id, reason)
            return
        self._delivered.put(pending)
        self._wake.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            kind = parse_topic(msg.topic).kind
        except ValueError:
            kind = None
        if kind is TopicKind.DEVICE_REPORTS or (kind is None and "/reports" in msg.topic):
            self._handle_report(client, msg)
        elif kind is TopicKind.VOLUNTEER_RESPONSES:
            self._handle_response(msg)
            client.ack(msg.mid, msg.qos)
        elif kind is TopicKind.DEVICE_PHOTOS:
            if self._handle_photo(msg.topic, bytes(msg.payload)):
                client.ack(msg.mid, msg.qos)
            else:
                client.disconnect()  # database unreachable: redelivered after reconnecting
        elif kind is TopicKind.DEVICE_STATUS:
            self._handle_status(msg.topic, bytes(msg.payload))
            client.ack(msg.mid, msg.qos)
        elif kind in (TopicKind.VOLUNTEER_LOCATION, TopicKind.OWNTRACKS):
            self._handle_location(msg.topic, bytes(msg.payload))
            client.ack(msg.mid, msg.qos)
        else:
            log.warning("ignoring message on unexpected topic %s", msg.topic)
            client.ack(msg.mid, msg.qos)

    # ------------------------------------------------------------------ reports

    def _handle_report(self, client: mqtt.Client, msg: mqtt.MQTTMessage) -> None:
        outcome = self.process(msg.topic, bytes(msg.payload))
        if outcome is None:
            # The database is unreachable: leave the message unacknowledged and drop the
            # connection, so the broker redelivers it once we are back.
            client.disconnect()
            return
        result, alert_ids = outcome
        if result.receipt is not None:
            receipt = result.receipt
            client.publish(device_receipts(receipt.device_id), receipt.to_json(), qos=1)
        client.ack(msg.mid, msg.qos)
        self.processed += 1
        if alert_ids:
            self.publish_alerts(alert_ids)

    def _in_transaction(
        self, topic: str, payload: bytes, work: Callable[[Session, datetime], T]
    ) -> _Outcome[T] | None:
        """Run `work` in one transaction, the same way for every durable message.

        Connection trouble: wait and try again. Any other failure: the database works, so
        the input made us fail; it is dead-lettered whole, answered, and never retried
        forever. None only when the database stays unreachable (leave the message
        unacknowledged).
        """
        for attempt in range(1, MAX_DB_ATTEMPTS + 1):
            now = self.clock()
            try:
                with self.sessions.begin() as session:
                    return _Outcome(work(session, now), now)
            except OperationalError as exc:
                log.warning("database unavailable on attempt %d for %s: %s", attempt, topic, exc)
            except Exception:  # a bug must not kill the worker or lose the message
                log.exception("could not process the message on %s", topic)
                if self._dead_letter_internal(topic, payload, now):
                    return _Outcome(None, now)
            time.sleep(min(0.2 * 2**attempt, 3.0))
        return None

    def process(self, topic: str, payload: bytes) -> tuple[IngestResult, list[str]] | None:
        """Store one report and route its alerts; None only when the database is unreachable."""

        def work(session: Session, now: datetime) -> tuple[IngestResult, list[str]]:
            result = ingest_report(
                session,
                topic,
                payload,
                now,
                rate_check=lambda device: check_rate(session, device, time.time()),
            )
            alert_ids: list[str] = []
            if result.report is not None and not result.report.test:
                self.memory.refresh(session)
                alert_ids = handle_accepted_report(
                    session, result.report, self.memory, self.config, now
                )
            return result, alert_ids

        outcome = self._in_transaction(topic, payload, work)
        if outcome is None:
            return None
        if outcome.value is None:  # dead-lettered as internal
            return IngestResult(self._internal_receipt(topic, outcome.now), None), []
        return outcome.value

    def _dead_letter_internal(self, topic: str, payload: bytes, now: datetime) -> bool:
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

    # ------------------------------------------------------------------ volunteers

    def _handle_response(self, msg: mqtt.MQTTMessage) -> None:
        volunteer_id = parse_topic(msg.topic).subject_id
        now = self.clock()
        try:
            response = VolunteerResponse.from_json(bytes(msg.payload), now=now)
            with self.sessions.begin() as session:
                record_response(
                    session,
                    volunteer_id,
                    response.alert_id,
                    response.response,
                    response.at,
                    response.note,
                    now,
                )
            log.info(
                "%s answered %s to alert %s",
                volunteer_id,
                response.response.value,
                response.alert_id,
            )
            self._wake.set()
        except (ValidationError, ResponseError) as exc:
            self._dead_letter_problems(msg.topic, bytes(msg.payload), volunteer_id, exc, now)
        except Exception:
            log.exception("could not record the response on %s", msg.topic)

    def _dead_letter_problems(
        self, topic: str, payload: bytes, subject: str, exc: Exception, now: datetime
    ) -> None:
        problems = (
            exc.problems
            if isinstance(exc, ValidationError)
            else [Problem("alert_id", codes.MISMATCH, str(exc))]
        )
        try:
            with self.sessions.begin() as session:
                reject(session, topic, payload, None, problems, now)
        except Exception:
            log.exception("could not dead-letter the message on %s", topic)

    def _handle_photo(self, topic: str, payload: bytes) -> bool:
        """Store or dead-letter a photo; False only when the database cannot be reached."""
        outcome = self._in_transaction(
            topic, payload, lambda session, now: ingest_photo(session, topic, payload, now)
        )
        return outcome is not None

    def _handle_status(self, topic: str, payload: bytes) -> None:
        """Birth message / last will of a kiosk or phone: what operators see as online."""
        device_id = parse_topic(topic).subject_id
        try:
            status = DeviceStatus.from_json(payload)
            with self.sessions.begin() as session:
                record_status(session, device_id, status)
        except ValidationError as exc:
            log.info("bad status on %s: %s", topic, exc)
        except Exception:
            log.exception("could not record the status on %s", topic)

    def _handle_location(self, topic: str, payload: bytes) -> None:
        parsed = parse_topic(topic)
        now = self.clock()
        try:
            if parsed.kind is TopicKind.OWNTRACKS:
                location = parse_owntracks(payload, now=now)
                if location is None:
                    return  # an OwnTracks message that is not a location
            else:
                location = VolunteerLocation.from_json(payload, now=now)
        except ValidationError as exc:
            log.info("bad location on %s: %s", topic, exc)
            return
        volunteer_id = parsed.subject_id
        kept = self.memory.set_position(
            volunteer_id, Position(location.lon, location.lat, location.at, location.on_duty)
        )
        if not kept:
            return
        try:
            with self.sessions.begin() as session:
                store_coarse_location(session, volunteer_id, location, now)
        except Exception:
            log.exception("could not store the coarse location of %s", volunteer_id)

    # ------------------------------------------------------------------ outbox

    def publish_alerts(self, alert_ids: list[str]) -> None:
        with self.sessions() as session:
            rows = session.execute(
                select(AlertRow).where(AlertRow.alert_id.in_(alert_ids))
            ).scalars()
            for row in rows:
                self._publish_row(row)

    def _publish_row(self, row: AlertRow) -> None:
        with self._in_flight_lock:
            info = self.client.publish(row.topic, row.payload.encode("utf-8"), qos=1)
            self._in_flight[info.mid] = _Pending(row.alert_id, row.revision)

    def _sweep_outbox(self, now: datetime) -> None:
        """Publish what is committed but undelivered and not claimed (crash recovery)."""
        with self.sessions.begin() as session:
            stmt = (
                select(AlertRow)
                .where(
                    AlertRow.delivered_revision < AlertRow.revision,
                    AlertRow.expires_at > now,
                    or_(AlertRow.claimed_until.is_(None), AlertRow.claimed_until < now),
                )
                .limit(200)
            )
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            rows = session.execute(stmt).scalars().all()
            for row in rows:
                row.claimed_until = now + timedelta(seconds=10)
        for row in rows:
            self._publish_row(row)

    def _mark_delivered(self, now: datetime) -> None:
        delivered: list[_Pending] = []
        while True:
            try:
                delivered.append(self._delivered.get_nowait())
            except queue.Empty:
                break
        if not delivered:
            return
        with self.sessions.begin() as session:
            for p in delivered:
                row = session.get(AlertRow, p.alert_id, with_for_update=True)
                if row is not None and row.delivered_revision < p.revision:
                    row.delivered_revision, row.delivered_at = p.revision, now

    # ------------------------------------------------------------------ ticker

    def tick(self) -> None:
        now = self.clock()
        self._mark_delivered(now)
        with self.sessions.begin() as session:
            changed = self.memory.refresh(session)
            to_send = run_due_escalations(session, self.memory, self.config, now)
        if to_send:
            self.publish_alerts(to_send)
        self._sweep_outbox(now)
        due = time.monotonic() - self._last_notice_refresh > self.settings.notice_refresh_s
        if changed or due:
            self._last_notice_refresh = time.monotonic()
            with self.sessions.begin() as session:
                boards = refresh_notice_boards(session, self.memory, now)
                expire_locations(session, now)
            for topic, payload in boards:
                self.client.publish(topic, payload, qos=1, retain=True)

    def _tick_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("ticker failed; trying again")
            self._wake.wait(self.settings.tick_s)
            self._wake.clear()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        s = self.settings
        with self.sessions.begin() as session:
            self.memory.refresh(session)
        self.client.connect(
            s.mqtt_host,
            s.mqtt_port,
            keepalive=30,
            clean_start=False,
            properties=connect_properties(s.session_expiry_s),
        )
        self.client.loop_start()
        self._ticker.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self.client.disconnect()
        self.client.loop_stop()
        if self._ticker.is_alive():
            self._ticker.join(5)


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
    worker = Worker(settings, make_sessionmaker(engine))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker.start()
    log.info(
        "worker %s running against %s",
        settings.worker_client_id,
        settings.database_url.split("@")[-1],
    )
    stop.wait()
    worker.stop()
    engine.dispose()


if __name__ == "__main__":
    main()
