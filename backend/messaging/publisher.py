"""The publisher of committed alert revisions: hands each to every delivery channel, and
marks it delivered once all of them confirmed. Revisions committed but never confirmed
(a crash, a channel down) are handed out again by the sweep once their claim expired."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Hashable, Sequence
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.alerts.channels import AlertRevision, DeliveryChannel
from backend.alerts.models import AlertRow
from backend.db.dialect import skip_locked
from backend.messaging.health import Health

CLAIM = timedelta(seconds=30)
SWEEP_LIMIT = 200


def revision_of(row: AlertRow) -> AlertRevision:
    return AlertRevision(
        alert_id=row.alert_id,
        revision=row.revision,
        recipient_kind=row.recipient_kind,
        recipient_id=row.recipient_id,
        topic=row.topic,
        payload=row.payload.encode("utf-8"),
    )


class AlertPublisher:
    def __init__(self, sessions: sessionmaker[Session], health: Health) -> None:
        self.sessions = sessions
        self.health = health
        self.channels: Sequence[DeliveryChannel] = ()
        self._lock = threading.Lock()
        # (alert id, revision): when it was handed out, and the channels yet to confirm it
        self._waiting: dict[tuple[str, int], tuple[float, set[str]]] = {}
        self._confirmed: queue.Queue[tuple[str, int]] = queue.Queue()

    def use(self, channels: Sequence[DeliveryChannel]) -> None:
        self.channels = list(channels)

    def publish(self, alert_ids: list[str]) -> None:
        with self.sessions() as session:
            rows = session.execute(select(AlertRow).where(AlertRow.alert_id.in_(alert_ids)))
            revisions = [revision_of(row) for row in rows.scalars()]
        for revision in revisions:
            self._hand_out(revision)

    def _hand_out(self, revision: AlertRevision) -> None:
        with self._lock:
            self._waiting[(revision.alert_id, revision.revision)] = (
                time.monotonic(),
                {c.name for c in self.channels},
            )
        for channel in self.channels:
            channel.deliver(revision)
        self.health.count("sr_worker_alerts_published_total")

    def confirm(self, alert_id: str, revision: int, channel: str, ok: bool) -> None:
        """A channel's answer (any thread)."""
        if not ok:
            self.health.count("sr_worker_alert_refusals_total", channel=channel)
            return
        with self._lock:
            entry = self._waiting.get((alert_id, revision))
            if entry is None:
                return
            handed_out, waiting = entry
            waiting.discard(channel)
            if waiting:
                return
            del self._waiting[(alert_id, revision)]
        self.health.alert_delivery_seconds.observe(time.monotonic() - handed_out)
        self._confirmed.put((alert_id, revision))

    def on_mqtt_ack(self, track: Hashable, ok: bool) -> None:
        """The broker acknowledged a tracked publication: (alert id, revision, channel)."""
        if isinstance(track, tuple) and len(track) == 3:
            alert_id, revision, channel = track
            self.confirm(str(alert_id), int(revision), str(channel), ok)

    def sweep(self, now: datetime) -> None:
        """Hand out again what is committed, undelivered and no longer claimed."""
        with self.sessions.begin() as session:
            stmt = (
                select(AlertRow)
                .where(
                    AlertRow.delivered_revision < AlertRow.revision,
                    AlertRow.expires_at > now,
                    or_(AlertRow.claimed_until.is_(None), AlertRow.claimed_until < now),
                )
                .limit(SWEEP_LIMIT)
            )
            rows = session.execute(skip_locked(session, stmt)).scalars().all()
            revisions = []
            for row in rows:
                row.claimed_until = now + CLAIM
                revisions.append(revision_of(row))
        for revision in revisions:
            self._hand_out(revision)

    def mark_delivered(self, now: datetime) -> None:
        confirmed: list[tuple[str, int]] = []
        while True:
            try:
                confirmed.append(self._confirmed.get_nowait())
            except queue.Empty:
                break
        if not confirmed:
            return
        # The highest confirmed revision per alert, written with one executemany; a row
        # already marked with a later revision is left alone.
        latest: dict[str, int] = {}
        for alert_id, revision in confirmed:
            latest[alert_id] = max(revision, latest.get(alert_id, 0))
        table = cast(Table, AlertRow.__table__)
        stmt = (
            update(table)
            .where(
                table.c.alert_id == bindparam("b_alert_id"),
                table.c.delivered_revision < bindparam("b_revision"),
            )
            .values(delivered_revision=bindparam("b_revision"), delivered_at=now)
        )
        try:
            with self.sessions.begin() as session:
                session.execute(
                    stmt,
                    [{"b_alert_id": a, "b_revision": r} for a, r in sorted(latest.items())],
                )
        except Exception:
            for item in confirmed:  # keep them for the next tick
                self._confirmed.put(item)
            raise
