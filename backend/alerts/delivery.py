"""Alert delivery: committed alert revisions handed to every delivery channel (MQTT through
the worker's connection, ``alerts.channels``), marked delivered once all of them confirmed.

The report spine builds each revision once (``alerts.outbox``) and the worker hands it here
right after the commit (:meth:`AlertDelivery.deliver`): nothing is read back. Revisions
committed but never confirmed (a crash, a channel down) are handed out again by the sweep,
from the outbox rows, once their claim expired. The worker's metrics are told through
callbacks (``Counters``), so this module knows no metrics library."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Hashable, Sequence
from datetime import datetime, timedelta
from typing import Protocol, cast

from sqlalchemy import Table, or_, select
from sqlalchemy.orm import Session, sessionmaker

from backend.alerts.channels import AlertRevision, DeliveryChannel
from backend.alerts.models import AlertRow
from backend.db.dialect import skip_locked, update_many

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


class Counters(Protocol):
    """What delivery tells the worker's metrics."""

    def handed_out(self) -> None: ...
    def refused(self, channel: str) -> None: ...
    def delivered_after(self, seconds: float) -> None: ...


class AlertDelivery:
    def __init__(self, sessions: sessionmaker[Session], counters: Counters) -> None:
        self.sessions = sessions
        self.counters = counters
        self.channels: Sequence[DeliveryChannel] = ()
        self._lock = threading.Lock()
        # (alert id, revision): when it was handed out, and the channels yet to confirm it
        self._waiting: dict[tuple[str, int], tuple[float, set[str]]] = {}
        self._confirmed: queue.Queue[tuple[str, int]] = queue.Queue()

    def use(self, channels: Sequence[DeliveryChannel]) -> None:
        self.channels = list(channels)

    def deliver(self, revisions: Sequence[AlertRevision]) -> None:
        """Hand committed revisions to every channel (as built: nothing is read back)."""
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
        self.counters.handed_out()

    def confirm(self, alert_id: str, revision: int, channel: str, ok: bool) -> None:
        """A channel's answer (any thread)."""
        if not ok:
            self.counters.refused(channel)
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
        self.counters.delivered_after(time.monotonic() - handed_out)
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
        # The highest confirmed revision per alert, written with one statement; a row
        # already marked with a later revision is left alone.
        latest: dict[str, int] = {}
        for alert_id, revision in confirmed:
            latest[alert_id] = max(revision, latest.get(alert_id, 0))
        rows = [
            {"alert_id": a, "delivered_revision": r, "delivered_at": now}
            for a, r in sorted(latest.items())
        ]
        try:
            with self.sessions.begin() as session:
                update_many(session, cast(Table, AlertRow.__table__), rows, "alert_id",
                            rising="delivered_revision")
        except Exception:
            for item in confirmed:  # keep them for the next tick
                self._confirmed.put(item)
            raise
