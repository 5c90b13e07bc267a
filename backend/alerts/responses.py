"""Volunteers' answers to their alerts: recorded, and the escalation timer told to decide
again at its next tick."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from backend.alerts.models import AlertResponseRow, AlertRow, EscalationTimer
from protocol import ResponseKind


class ResponseError(ValueError):
    """A response that cannot be applied; the message names the alert."""


def record_response(
    session: Session,
    volunteer_id: str,
    alert_id: str,
    response: ResponseKind,
    at: datetime,
    note: str | None,
    now: datetime,
) -> AlertRow:
    row = session.get(AlertRow, alert_id)
    if row is None or row.recipient_kind != "volunteer" or row.recipient_id != volunteer_id:
        raise ResponseError(f"volunteer {volunteer_id!r} has no alert {alert_id!r}")
    row.response, row.responded_at = response.value, at
    session.add(
        AlertResponseRow(
            alert_id=alert_id,
            incident_id=row.incident_id,
            volunteer_id=volunteer_id,
            response=response.value,
            level=row.escalation_level,
            at=at,
            note=note,
        )
    )
    timer = session.get(EscalationTimer, row.incident_id)
    if timer is not None and not timer.done:
        timer.due_at = now  # decide again at the next tick
    return row
