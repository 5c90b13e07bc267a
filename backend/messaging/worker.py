"""The backend worker process: ``python -m backend.worker``.

Four threads: paho's network thread puts messages into a bounded inbox (the broker sends at
most Receive Maximum unacknowledged QoS 1 messages, so a backlog waits at the broker, not
here), and volunteer positions into their own lane; the processor takes what has arrived as
one batch, hands it to the policy (one transaction), then publishes receipts and alert
revisions after the commit; each message is acknowledged when the broker has acknowledged
its receipts (``AnswerThenAck``), so no kill can leave a stored report unanswered; the
positions lane applies the newest position of each volunteer (``positions``), never behind
a batch of reports; the ticker publishes what the alert outbox still holds, records
deliveries, runs due escalations, follows case/volunteer/station changes and refreshes kiosk
notices.

Nothing a message does can stop this: the policy answers or dead-letters every input; a
database outage keeps the messages unacknowledged while the connection stays up and the batch
is retried with backoff; the connection reconnects forever.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Hashable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from backend.alerts.channels import AlertRevision, ChannelContext, build_channels
from backend.alerts.config import AlertingConfig
from backend.alerts.delivery import AlertDelivery
from backend.alerts.escalation_policy import EscalationPolicy
from backend.alerts.escalation_timers import run_due_escalations
from backend.alerts.routing import RoutingPolicy
from backend.cases.notices import refresh_notice_boards
from backend.db.engine import make_engine, make_sessionmaker
from backend.devices.ratelimit import DEFAULT_LIMITS, UNLIMITED
from backend.logs import configure as configure_logging
from backend.messaging.connection import BrokerSettings, Connection, Inbound
from backend.messaging.health import (
    CELL_LOCK_WAIT,
    INBOX_DEPTH,
    MESSAGES,
    POSITIONS_PENDING,
    Health,
    HealthServer,
)
from backend.messaging.policy import BACKOFF_MAX_S, DatabaseDownError, Handled, Policy
from backend.messaging.position_process import PositionProcess, PositionProcessError
from backend.messaging.positions import PositionLane
from backend.passengers.help import due_acknowledgements
from backend.pursuit.notices import cases_ahead
from backend.settings import Settings, get_settings
from backend.volunteers.service import expire_locations
from backend.world import World
from protocol.payloads import utc_now
from protocol.topics import (
    ALL_DEVICE_ADDENDA,
    ALL_DEVICE_HELP,
    ALL_DEVICE_PHOTOS,
    ALL_DEVICE_REPORT_STATUS,
    ALL_DEVICE_REPORTS,
    ALL_DEVICE_STATUS,
    ALL_OWNTRACKS,
    ALL_VOLUNTEER_CATCHUP,
    ALL_VOLUNTEER_LOCATIONS,
    ALL_VOLUNTEER_PHOTO_REQUESTS,
    ALL_VOLUNTEER_RESPONSES,
    TopicKind,
    shared,
)

log = logging.getLogger(__name__)

_POSITION_KINDS = frozenset({TopicKind.VOLUNTEER_LOCATION, TopicKind.OWNTRACKS})
_REPORT_KINDS = frozenset({TopicKind.DEVICE_REPORTS, TopicKind.DEVICE_PHOTOS})
_DEVICE_KINDS = _REPORT_KINDS | {TopicKind.DEVICE_STATUS}
REQUEST_FILTERS = (
    ALL_DEVICE_HELP,
    ALL_DEVICE_REPORT_STATUS,
    ALL_DEVICE_ADDENDA,
    ALL_VOLUNTEER_CATCHUP,
    ALL_VOLUNTEER_PHOTO_REQUESTS,
)


def _is_position(message: Inbound) -> bool:
    return message.parsed is not None and message.parsed.kind in _POSITION_KINDS


def alerting_config(settings: Settings) -> AlertingConfig:
    timeouts = tuple(timedelta(seconds=float(s)) for s in settings.escalation_timeouts_s.split(","))
    return AlertingConfig(
        routing=RoutingPolicy(k=settings.proximity_k),
        escalation=EscalationPolicy(ack_timeouts=timeouts),
        alert_ttl=timedelta(seconds=settings.alert_ttl_s),
        matches_per_report=settings.matches_per_report,
    )


def subscriptions(settings: Settings) -> list[tuple[str, int]]:
    group = settings.share_group
    return [
        (shared(group, ALL_DEVICE_REPORTS), 1),
        (shared(group, ALL_VOLUNTEER_RESPONSES), 1),
        (shared(group, ALL_DEVICE_STATUS), 1),
        (shared(group, ALL_DEVICE_PHOTOS), 1),
        # the apps' requests (backend.messaging.requests)
        *((shared(group, f), 1) for f in REQUEST_FILTERS),
        # Every worker keeps every exact volunteer position: no share group. QoS 0 on this
        # hop: a position takes no place among the reports in flight (Receive Maximum) and
        # needs no acknowledgement; the lane keeps the newest per volunteer (positions.py).
        (ALL_VOLUNTEER_LOCATIONS, 0),
        (ALL_OWNTRACKS, 0),
    ]


def broker_settings(settings: Settings) -> BrokerSettings:
    return BrokerSettings(
        host=settings.mqtt_host,
        port=settings.mqtt_port,
        # Brokers bind the client id to the account (use_username_as_clientid): a worker's
        # persistent session is its account's.
        client_id=settings.mqtt_username or settings.worker_client_id,
        username=settings.mqtt_username,
        password=settings.mqtt_password,
        session_expiry_s=settings.session_expiry_s,
        receive_maximum=settings.receive_maximum,
    )


class AnswerThenAck:
    """The answers (receipts, retained boards) of one received message: the message is
    acknowledged to the broker once the broker has acknowledged all of them.

    paho sends at most ``max_inflight_messages`` QoS 1 publications at a time and queues the
    rest inside the process, while a PUBACK of a received message goes to the socket at
    once; acknowledging right after handing receipts to paho therefore let a SIGKILL lose
    them for good (the broker had no reason to redeliver the report). A refused publication
    (``ok`` False: the broker will never take it) counts as done, or the message would come
    back for ever."""

    __slots__ = ("_left", "_lock", "message")

    def __init__(self, message: Inbound, publications: int) -> None:
        self.message = message
        self._left = publications
        self._lock = threading.Lock()

    def delivered(self, ok: bool) -> bool:
        """One answer is acknowledged; True when it was the last (acknowledge the message)."""
        if not ok:
            log.warning(
                "an answer to the message on %s was refused by the broker; acknowledging the "
                "message anyway (sending it again would be refused again)",
                self.message.topic,
            )
        with self._lock:
            self._left -= 1
            return self._left == 0


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
        self.world = World(freeze_heap=True)
        self.health = Health()
        limits = DEFAULT_LIMITS if settings.rate_limits else UNLIMITED
        self.policy = Policy(
            sessions,
            self.world,
            self.config,
            clock,
            rate_limits=limits,
            kiosk_tolerance_m=settings.kiosk_location_tolerance_m,
            on_lock_wait=lambda s: self.health.count(CELL_LOCK_WAIT, s),
        )
        self.inbox: queue.Queue[Inbound] = queue.Queue(maxsize=settings.inbox_size)
        # Positions are decoded, checked and stored in a process of their own (the lane folds
        # them here; the worker applies the fixes the child kept). With an injected clock (a
        # test's), they stay in this process: the child could not share the clock.
        self.position_process: PositionProcess | None = None
        if settings.positions_process and clock is utc_now:
            engine = sessions.kw["bind"]
            self.position_process = PositionProcess(
                engine.url.render_as_string(hide_password=False), self.config, self.world
            )
            self.positions = PositionLane(self.position_process.run, self.health)
        else:
            self.positions = PositionLane(self.policy.run, self.health)
        self.delivery = AlertDelivery(sessions, self.health)
        self.connection = Connection(
            broker_settings(settings),
            subscriptions(settings),
            self.health,
            on_inbound=self._inbound,
            on_delivered=self._delivered,
        )
        self.delivery.use(
            build_channels(
                settings.alert_channels,
                ChannelContext(publish=self._publish_on_mqtt, confirm=self.delivery.confirm),
            )
        )
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._processor = threading.Thread(target=self._process_loop, name="processor", daemon=True)
        self._ticker = threading.Thread(target=self._tick_loop, name="ticker", daemon=True)
        self._last_notice_refresh = 0.0
        self._ahead: dict[str, frozenset[str]] = {}  # pursuits' cases by metro station, shown
        self._last_attempts_cleanup = 0.0
        self.health_server: HealthServer | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self.settings.worker_health_port is not None:
            self.health_server = HealthServer(
                self.health, self.settings.worker_health_host, self.settings.worker_health_port
            )
            self.health_server.start()
            log.info(
                "health on http://%s:%d/readyz",
                self.settings.worker_health_host,
                self.health_server.port,
            )
        self.health.set(database=self.policy.probe())
        self._processor.start()
        self._ticker.start()
        if self.position_process is not None:
            try:
                self.position_process.start()
            except PositionProcessError as exc:  # the lane starts it with its first batch
                log.warning("positions process: %s; trying again with the first batch", exc)
        self.positions.start()
        self.connection.open()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self.connection.close()
        for thread in (self._processor, self._ticker):
            if thread.is_alive():
                thread.join(10)
        self.positions.stop()
        if self.position_process is not None:
            self.position_process.stop()
        if self.health_server is not None:
            self.health_server.stop()

    # ------------------------------------------------------------------ processing

    def _inbound(self, message: Inbound) -> None:
        """paho's network thread: positions to their lane, everything else to the inbox."""
        if _is_position(message):
            self.positions.offer(message)
        else:
            self.inbox.put(message)

    def _take_batch(self) -> list[Inbound]:
        """What has arrived, without waiting for more: up to ``SR_BATCH_MAX`` messages
        (reports, photos, responses, status; positions have their own lane).

        Batches are as large as the backlog, not sized to a latency target: a batch's fixed
        cost (locks, queries, the commit's flush to disk) is shared by its messages, so when
        messages wait, a larger batch gives every one of them its receipt sooner; when they
        trickle in, a batch is one message and its receipt leaves after one commit."""
        try:
            first = self.inbox.get(timeout=1.0)
        except queue.Empty:
            return []
        batch = [first]
        size = self.settings.batch_max
        while len(batch) < size:
            try:
                batch.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        return batch

    def _process_loop(self) -> None:
        backoff = 0.2
        batch: list[Inbound] = []
        batches = 0
        while not self._stop.is_set():
            self.health.beat()
            if not batch:
                batch = self._take_batch()
                if not batch:
                    continue
            # Messages of a connection that has since dropped will be redelivered: skip them.
            batch = [m for m in batch if m.qos == 0 or self.connection.current(m.generation)]
            if not batch:
                continue
            started = time.monotonic()
            try:
                handled = self.policy.run(batch)
            except DatabaseDownError as exc:
                self.health.set(database=False)
                log.warning(
                    "database unreachable (%s); %d messages wait unacknowledged; retrying in "
                    "%.1f s",
                    exc,
                    len(batch),
                    backoff,
                )
                self._stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            except Exception:  # the policy raises nothing else; never let the loop die
                log.exception("unexpected failure handling a batch; retrying it")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            took = time.monotonic() - started
            self.health.batch_seconds.observe(took)
            backoff = 0.2
            self.health.set(database=True)
            batches += 1
            batch_id = f"{self.connection.settings.client_id}-{os.getpid()}-{batches}"
            log.debug(
                "batch of %d handled in %.3f s",
                len(handled),
                took,
                extra={"batch_id": batch_id, "messages": len(handled), "seconds": round(took, 4)},
            )
            self._after_commit(handled, batch_id)
            batch = []

    def _after_commit(self, handled: list[Handled], batch_id: str = "") -> None:
        """Alerts go to delivery as the spine built them (durable: the sweep sends what a
        crash left); a
        message with receipts to send is acknowledged only when the broker has acknowledged
        every one of them (:class:`AnswerThenAck`), so a worker killed before its receipts
        have left leaves the message unacknowledged and the broker hands it out again: the
        next worker answers it (``duplicate``, with what the first answer said)."""
        alerts: list[AlertRevision] = []
        for item in handled:
            alerts += item.outcome.alerts
            kind = item.message.parsed.kind.value if item.message.parsed else "unknown"
            self.health.count(MESSAGES, kind=kind, outcome=item.outcome.label)
            _log_handled(item, kind, batch_id)
            pubs = item.outcome.publications
            if not pubs:
                self.connection.ack(item.message)
                continue
            answer = AnswerThenAck(item.message, len(pubs))
            for pub in pubs:
                self.connection.publish(
                    pub.topic, pub.payload, qos=1, retain=pub.retain, track=answer
                )
        if alerts:
            try:
                self.delivery.deliver(alerts)
            except Exception:  # committed: the ticker's sweep publishes them later
                log.exception("could not deliver %d alerts now; the sweep will", len(alerts))

    def _delivered(self, track: Hashable, ok: bool) -> None:
        """paho's network thread (or the publishing thread, for an early PUBACK): a
        publication the broker acknowledged (``ok``) or refused."""
        if isinstance(track, AnswerThenAck):
            if track.delivered(ok):
                self.connection.ack(track.message)
                self.health.receipt_seconds.observe(time.monotonic() - track.message.received)
            return
        self.delivery.on_mqtt_ack(track, ok)

    def _publish_on_mqtt(self, topic: str, payload: bytes, track: Hashable) -> None:
        self.connection.publish(topic, payload, qos=1, track=track)

    # ------------------------------------------------------------------ ticker

    def tick(self) -> None:
        now = self.clock()
        self.delivery.mark_delivered(now)
        with self.sessions.begin() as session:
            changed = self.world.refresh(session)
            to_send = run_due_escalations(session, self.world, self.config, now)
            help_answers = list(due_acknowledgements(session, now))
            ahead = cases_ahead(session, now)
        self.health.set(database=True)
        for topic, payload in help_answers:  # a desk took a kiosk's help request
            self.connection.publish(topic, payload, qos=1)
        if to_send:
            self.delivery.deliver(to_send)
        if self.health.connected:
            self.delivery.sweep(now)
        due = time.monotonic() - self._last_notice_refresh > self.settings.notice_refresh_s
        # A pursuit that starts or stops expecting a case at a station changes its kiosks'
        # boards at once, not at the next periodic refresh.
        if changed or due or ahead != self._ahead:
            self._last_notice_refresh = time.monotonic()
            with self.sessions.begin() as session:
                snapshot = self.world.snapshot
                area_index, cases = snapshot.area_index, snapshot.cases
                boards = refresh_notice_boards(session, area_index, cases, now, ahead)
                expire_locations(session, now)
            for topic, payload in boards:
                self.connection.publish(topic, payload, qos=1, retain=True)
            self._ahead = ahead
        if time.monotonic() - self._last_attempts_cleanup > 3600:
            self._last_attempts_cleanup = time.monotonic()
            self.policy.forget_old_attempts(now)
        self.health.gauge(INBOX_DEPTH, self.inbox.qsize())
        self.health.gauge(POSITIONS_PENDING, self.positions.pending())

    def _tick_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as exc:
                if not self.policy.probe():
                    self.health.set(database=False)
                    log.warning("ticker: database unreachable (%s)", str(exc).splitlines()[0])
                else:
                    log.exception("ticker failed; trying again")
            self._wake.wait(self.settings.tick_s)
            self._wake.clear()


def _log_handled(item: Handled, kind: str, batch_id: str) -> None:
    """One line per report (and per dead letter), with its ids: what an operator searches."""
    parsed = item.message.parsed
    outcome = item.outcome
    is_report = parsed is not None and parsed.kind in _REPORT_KINDS
    if not is_report and outcome.label != "dead_lettered":
        return
    report_id = outcome.report_id
    if report_id is None and parsed is not None and parsed.kind is TopicKind.DEVICE_PHOTOS:
        report_id = parsed.sub_id
    extra = {"kind": kind, "outcome": outcome.label, "batch_id": batch_id, "report_id": report_id}
    if parsed is not None and parsed.kind in _DEVICE_KINDS:
        extra["device_id"] = parsed.subject_id
    log.info("%s %s", kind, outcome.label, extra=extra)


def main() -> None:
    configure_logging("worker")
    settings = get_settings()
    engine = make_engine(settings.database_url)
    worker = Worker(settings, make_sessionmaker(engine))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker.start()
    log.info(
        "worker %s running against %s",
        broker_settings(settings).client_id,
        settings.database_url.split("@")[-1],
    )
    threading.Thread(target=_announce_ready, args=(worker, stop), daemon=True).start()
    stop.wait()
    worker.stop()
    engine.dispose()


def _announce_ready(worker: Worker, stop: threading.Event) -> None:
    if worker.health.became_ready.wait() and not stop.is_set():
        log.info("worker ready: connected, subscribed, database reachable")
