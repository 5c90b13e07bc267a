"""The alert outbox: the rows a routed alert becomes, built once with the protocol message.

Rows are written in the transaction that stored the report; the same revisions, built here,
go to delivery (``alerts.delivery``) right after the commit, without being read back (the
delivery's sweep republishes from the rows only what a crash left undelivered). A later
report of the same incident updates a recipient's alert (same ``alert_id``, higher
``revision``) only when something a person cares about changed.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

import orjson
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from backend.alerts.channels import AlertRevision
from backend.alerts.config import AlertingConfig
from backend.alerts.models import AlertRow
from backend.alerts.routing import Recipient, RecipientKind
from backend.db.dialect import update_many
from protocol import Alert, ChildDescription, Notice, WhatSeen
from protocol.topics import station_alerts, volunteer_alerts

ALERTS = cast(Table, AlertRow.__table__)
CLAIM_AFTER_WRITE = timedelta(seconds=10)  # this process publishes right after the commit


class IncidentLike(Protocol):
    """What an alert says of its incident (an ``IncidentState`` or an ``Incident`` row)."""

    @property
    def incident_id(self) -> str: ...
    @property
    def lon(self) -> float: ...
    @property
    def lat(self) -> float: ...
    @property
    def last_at(self) -> datetime: ...
    @property
    def what_seen(self) -> str: ...
    @property
    def metro_station_id(self) -> str | None: ...
    @property
    def device_ids(self) -> Sequence[str]: ...


@dataclass(frozen=True, slots=True)
class Seen:
    """What the latest report says of the child and where in the station it was seen."""

    child: ChildDescription
    direction: str | None = None


@dataclass(frozen=True, slots=True)
class HeldAlert:
    """An outbox row as routing needs it (its payload's three compared fields read once)."""

    alert_id: str
    incident_id: str
    recipient_kind: str
    recipient_id: str
    kind: str
    revision: int
    expires_at: datetime
    reporters: int | None
    case_id: str | None
    score: float | None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.recipient_kind, self.recipient_id, self.kind)


@dataclass(frozen=True, slots=True)
class OutboxWrite:
    """One alert revision to write (a new row, or a new revision of a held one) and to hand
    to delivery after the commit."""

    is_new: bool
    row: dict[str, Any]
    revision: AlertRevision


def read_alerts(session: Session, incident_ids: Collection[str]) -> dict[str, list[HeldAlert]]:
    """The outbox rows of these incidents, by incident: one query."""
    out: dict[str, list[HeldAlert]] = {}
    if not incident_ids:
        return out
    c = ALERTS.c
    for row in session.execute(
        select(c.alert_id, c.incident_id, c.recipient_kind, c.recipient_id, c.kind, c.revision,
               c.expires_at, c.payload).where(c.incident_id.in_(sorted(incident_ids)))
    ):
        old = orjson.loads(row.payload) if row.payload else {}
        out.setdefault(row.incident_id, []).append(
            HeldAlert(row.alert_id, row.incident_id, row.recipient_kind, row.recipient_id,
                      row.kind, row.revision, row.expires_at, old.get("reporters"),
                      old.get("case_id"), old.get("score"))
        )
    return out


def build_alert(
    incident: IncidentLike,
    recipient: Recipient,
    held: HeldAlert | None,
    seen: Seen,
    now: datetime,
    config: AlertingConfig,
    level: int,
    notice: Notice | None = None,
) -> OutboxWrite | None:
    """The revision to send ``recipient`` (None: nothing a person would want to be woken
    for). ``notice``: the matched case's public notice (:func:`case_notice`): its title,
    text, photo reference and the child as the case describes them go into the alert."""
    reporters = len(incident.device_ids)
    if held is not None:
        if (
            held.reporters == reporters
            and held.case_id == recipient.case_id
            and (held.score or 0.0) >= (recipient.score or 0.0)
        ):
            return None
        revision, alert_id, expires_at = held.revision + 1, held.alert_id, held.expires_at
    else:
        revision, alert_id, expires_at = 1, str(uuid.uuid4()), now + config.alert_ttl
    case = notice if recipient.case_id is not None and notice is not None else None
    alert = Alert(
        alert_id=alert_id,
        kind=recipient.alert_kind,
        recipient_id=recipient.recipient_id,
        incident_id=incident.incident_id,
        lat=incident.lat,
        lon=incident.lon,
        observed_at=incident.last_at,
        what_seen=WhatSeen(incident.what_seen),
        reporters=reporters,
        sent_at=now,
        expires_at=expires_at,
        reason=recipient.reason[:500],
        case_id=recipient.case_id,
        score=None if recipient.score is None else round(recipient.score, 3),
        distance_m=None if recipient.distance_m is None else round(recipient.distance_m, 1),
        station_id=incident.metro_station_id,
        child=seen.child,
        direction=seen.direction,
        escalation_level=level,
        revision=revision,
        photo_ref=case.photo_ref if case is not None else None,
        case_title=case.title if case is not None else None,
        case_description=(case.description or None) if case is not None else None,
        case_child=case.child if case is not None else None,
        case_title_zh=case.title_zh if case is not None else None,
        case_title_en=case.title_en if case is not None else None,
        case_description_zh=case.description_zh if case is not None else None,
        case_description_en=case.description_en if case is not None else None,
    )
    topic = (
        volunteer_alerts(recipient.recipient_id)
        if recipient.kind is RecipientKind.VOLUNTEER
        else station_alerts(recipient.recipient_id)
    )
    payload = alert.to_json()
    row: dict[str, Any] = {
        "alert_id": alert_id,
        "revision": revision,
        "payload": payload.decode("utf-8"),
        "case_id": recipient.case_id,
        "claimed_until": now + CLAIM_AFTER_WRITE,
    }
    if held is None:
        row |= {
            "incident_id": incident.incident_id,
            "recipient_kind": recipient.kind.value,
            "recipient_id": recipient.recipient_id,
            "kind": recipient.alert_kind.value,
            "topic": topic,
            "escalation_level": level,
            "created_at": now,
            "expires_at": expires_at,
            "delivered_revision": 0,
        }
    delivered = AlertRevision(
        alert_id=alert_id,
        revision=revision,
        recipient_kind=recipient.kind.value,
        recipient_id=recipient.recipient_id,
        topic=topic,
        payload=payload,
    )
    return OutboxWrite(held is None, row, delivered)


def held_after(held: HeldAlert | None, write: OutboxWrite, incident: IncidentLike,
               recipient: Recipient) -> HeldAlert:
    """The held alert as ``write`` leaves it (a second revision in one pass compares with it)."""
    return HeldAlert(
        write.revision.alert_id,
        incident.incident_id,
        recipient.kind.value,
        recipient.recipient_id,
        recipient.alert_kind.value,
        write.revision.revision,
        held.expires_at if held is not None else write.row["expires_at"],
        len(incident.device_ids),
        recipient.case_id,
        None if recipient.score is None else round(recipient.score, 3),
    )


def write_alerts(session: Session, writes: Sequence[OutboxWrite]) -> None:
    """The batch's outbox rows: new ones with one INSERT, revisions with one executemany.
    Several revisions of one alert in a batch: the last one is written."""
    last: dict[str, OutboxWrite] = {}
    created: set[str] = set()
    for w in writes:
        if w.is_new:
            created.add(w.revision.alert_id)
        last[w.revision.alert_id] = w
    new_rows: list[dict[str, Any]] = []
    revised: list[dict[str, Any]] = []
    first_rows = {w.revision.alert_id: w.row for w in writes if w.is_new}
    for alert_id, w in last.items():
        if alert_id in created:
            new_rows.append(first_rows[alert_id] | {k: w.row[k] for k in _REVISED})
        else:
            revised.append({k: w.row[k] for k in ("alert_id", *_REVISED)})
    if new_rows:
        session.execute(ALERTS.insert(), new_rows)
    update_many(session, ALERTS, revised, "alert_id")


_REVISED = ("revision", "payload", "case_id", "claimed_until")


def held_by_key(alerts: Sequence[HeldAlert]) -> dict[tuple[str, str, str], HeldAlert]:
    return {a.key: a for a in alerts}


def case_notice(cases: Mapping[str, Any], case_id: str | None) -> Notice | None:
    """The public notice of an open case in the worker's snapshot (None without one)."""
    case = cases.get(case_id) if case_id is not None else None
    return case.notice if case is not None else None
