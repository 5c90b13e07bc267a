"""What a volunteer app that (re)connects may have missed, answered from the alert outbox:
every alert to that volunteer that is still live (not expired, not answered), in the order
they were made. A persistent session alone would lose an alert sent before the app ever
connected (a fresh install, a new phone); the outbox never does. And the photo of a case,
to a volunteer alerted about that case only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.alerts.models import AlertRow
from backend.cases.models import Case, CasePhoto
from protocol.requests import MAX_CATCHUP_ALERTS


@dataclass(frozen=True, slots=True)
class MissedAlert:
    alert_id: str
    topic: str  # the volunteer's alerts topic
    payload: bytes  # the current revision, as it was published


def live_alerts(session: Session, volunteer_id: str, now: datetime) -> list[MissedAlert]:
    """The volunteer's alerts not expired and not answered (ack, decline, on my way...),
    oldest first (at most ``MAX_CATCHUP_ALERTS``, the newest of them)."""
    rows = session.execute(
        select(AlertRow.alert_id, AlertRow.topic, AlertRow.payload)
        .where(
            AlertRow.recipient_kind == "volunteer",
            AlertRow.recipient_id == volunteer_id,
            AlertRow.expires_at > now,
            AlertRow.response.is_(None),
            AlertRow.payload != "",
        )
        .order_by(AlertRow.created_at.desc(), AlertRow.alert_id)
        .limit(MAX_CATCHUP_ALERTS)
    ).all()
    return [MissedAlert(a, t, p.encode("utf-8")) for a, t, p in reversed(rows)]


def case_photo_for(session: Session, volunteer_id: str, case_id: str) -> bytes:
    """The JPEG of an open case's photo when this volunteer was alerted about that case;
    empty bytes otherwise (no photo, the case ended, or not this volunteer's case: the same
    answer, so nobody learns which cases have photos)."""
    alerted = session.execute(
        select(AlertRow.alert_id)
        .where(
            AlertRow.recipient_kind == "volunteer",
            AlertRow.recipient_id == volunteer_id,
            AlertRow.case_id == case_id,
        )
        .limit(1)
    ).first()
    if alerted is None:
        return b""
    row = session.execute(
        select(CasePhoto.jpeg)
        .join(Case, Case.case_id == CasePhoto.case_id)
        .where(CasePhoto.case_id == case_id, Case.status == "open")
    ).first()
    return bytes(row[0]) if row is not None else b""
