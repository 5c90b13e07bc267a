"""The volunteer's alert inbox, duty state and location sharing schedule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from kiosk_app.i18n import N_
from protocol import Alert, AlertKind, ResponseKind, VolunteerLocation, VolunteerResponse
from protocol.payloads import utc_now


class Upsert(StrEnum):
    NEW = "new"
    UPDATED = "updated"
    STALE = "stale"  # same alert, not a higher revision: ignored


@dataclass
class InboxItem:
    alert: Alert
    response: ResponseKind | None = None
    unread: bool = True


class AlertInbox:
    def __init__(self) -> None:
        self._items: dict[str, InboxItem] = {}

    def upsert(self, alert: Alert) -> Upsert:
        known = self._items.get(alert.alert_id)
        if known is None:
            self._items[alert.alert_id] = InboxItem(alert)
            return Upsert.NEW
        if alert.revision <= known.alert.revision:
            return Upsert.STALE
        known.alert = alert
        known.unread = True
        return Upsert.UPDATED

    def items(self, now: datetime | None = None) -> list[InboxItem]:
        """Open alerts first (newest first), then answered or expired ones."""
        moment = now or utc_now()

        def key(item: InboxItem) -> tuple[bool, float]:
            closed = item.response is not None or item.alert.expires_at <= moment
            return (closed, -item.alert.sent_at.timestamp())

        return sorted(self._items.values(), key=key)

    def get(self, alert_id: str) -> InboxItem | None:
        return self._items.get(alert_id)

    def respond(
        self,
        alert_id: str,
        kind: ResponseKind,
        note: str | None = None,
        now: datetime | None = None,
    ) -> VolunteerResponse:
        item = self._items[alert_id]
        item.response = ResponseKind(kind)
        item.unread = False
        return VolunteerResponse(
            alert_id=alert_id, response=item.response, at=now or utc_now(), note=note
        )

    @property
    def unread(self) -> int:
        return sum(1 for i in self._items.values() if i.unread)


KIND_TEXT = {
    AlertKind.ASSIGNED_CASE: N_("Your case"),
    AlertKind.PROXIMITY: N_("Near you"),
    AlertKind.STATION_SIGHTING: N_("Station sighting"),
    AlertKind.ESCALATION: N_("Escalation"),
}

RESPONSE_TEXT = {
    ResponseKind.ACK: N_("Acknowledge"),
    ResponseKind.ON_MY_WAY: N_("On my way"),
    ResponseKind.DECLINE: N_("Decline"),
    ResponseKind.RESOLVED: N_("Resolved"),
    ResponseKind.FALSE_ALARM: N_("False alarm"),
}


class Duty:
    """On duty: share location every ``interval_s``; off duty: share nothing (one last
    off-duty message so the backend stops routing at once)."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.on_duty = False
        self._last_sent: float | None = None

    def toggle(self) -> bool:
        self.on_duty = not self.on_duty
        self._last_sent = None
        return self.on_duty

    def due(self, now_s: float) -> bool:
        return self.on_duty and (
            self._last_sent is None or now_s - self._last_sent >= self.interval_s
        )

    def sent(self, now_s: float) -> None:
        self._last_sent = now_s

    def location(
        self, lat: float, lon: float, accuracy_m: float | None, at: datetime | None = None
    ) -> VolunteerLocation:
        return VolunteerLocation(
            lat=lat, lon=lon, at=at or utc_now(), accuracy_m=accuracy_m, on_duty=self.on_duty
        )
