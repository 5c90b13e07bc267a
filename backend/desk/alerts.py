"""The desk's alerts: scoped lists, an alert's history, and a duty desk's acknowledgement."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from backend.alerts.models import AlertResponseRow, AlertRow, EscalationTimer
from backend.auth.subject import Role, Subject
from backend.desk.models import DeskAcknowledgement
from backend.desk.schemas import (
    AcknowledgementOut,
    AlertHistoryOut,
    AlertOut,
    Decision,
    ResponseOut,
)
from backend.desk.scope import NotReadableError, readable
from backend.desk.service import DeskNotFoundError, Filters, acknowledgements, in_bbox
from backend.incidents.models import Incident


def _alert_out(alert: AlertRow, incident: Incident) -> AlertOut:
    try:
        payload = json.loads(alert.payload)
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    return AlertOut(
        alert_id=alert.alert_id,
        incident_id=alert.incident_id,
        recipient_kind=alert.recipient_kind,
        recipient_id=alert.recipient_id,
        kind=alert.kind,
        revision=alert.revision,
        escalation_level=alert.escalation_level,
        case_id=alert.case_id,
        reason=payload.get("reason") if isinstance(payload.get("reason"), str) else None,
        score=payload.get("score") if isinstance(payload.get("score"), int | float) else None,
        reporters=payload.get("reporters") if isinstance(payload.get("reporters"), int) else None,
        lon=incident.lon,
        lat=incident.lat,
        created_at=alert.created_at,
        expires_at=alert.expires_at,
        delivered_revision=alert.delivered_revision,
        delivered_at=alert.delivered_at,
        response=alert.response,
        responded_at=alert.responded_at,
    )


def _alerts_stmt(subject: Subject, f: Filters, now: datetime) -> Select[AlertRow]:
    stmt = readable(subject, AlertRow)
    if f.since is not None:
        stmt = stmt.where(AlertRow.created_at >= f.since)
    if f.until is not None:
        stmt = stmt.where(AlertRow.created_at <= f.until)
    if f.case_id is not None:
        stmt = stmt.where(AlertRow.case_id == f.case_id)
    if f.station_id is not None:
        stmt = stmt.where(
            AlertRow.recipient_kind == "station", AlertRow.recipient_id == f.station_id
        )
    if f.bbox is not None:
        stmt = stmt.where(
            AlertRow.incident_id.in_(
                select(Incident.incident_id).where(in_bbox(Incident.lon, Incident.lat, f.bbox))
            )
        )
    if f.status == "open":
        stmt = stmt.where(AlertRow.response.is_(None), AlertRow.expires_at > now)
    elif f.status == "answered":
        stmt = stmt.where(AlertRow.response.is_not(None))
    elif f.status == "expired":
        stmt = stmt.where(AlertRow.response.is_(None), AlertRow.expires_at <= now)
    return stmt


def alert_rows(
    session: Session, subject: Subject, f: Filters, now: datetime
) -> list[tuple[AlertRow, Incident]]:
    """The readable alerts passing ``f``, each with its incident, newest first."""
    rows = session.execute(
        _alerts_stmt(subject, f, now)
        .add_columns(Incident)
        .join(Incident, Incident.incident_id == AlertRow.incident_id)
        .order_by(AlertRow.created_at.desc())
        .limit(f.limit)
    ).all()
    return [(alert, incident) for alert, incident in rows]


def list_alerts(session: Session, subject: Subject, f: Filters, now: datetime) -> list[AlertOut]:
    return [_alert_out(alert, incident) for alert, incident in alert_rows(session, subject, f, now)]


def _readable_alert(session: Session, subject: Subject, alert_id: str) -> AlertRow:
    """The alert if the subject may read it; another station's is not found, like one that
    never was (its existence is not revealed)."""
    found = session.execute(
        readable(subject, AlertRow).where(AlertRow.alert_id == alert_id)
    ).scalar_one_or_none()
    if found is None:
        raise DeskNotFoundError(f"no alert {alert_id!r} you may read")
    return found


def alert_history(session: Session, subject: Subject, alert_id: str) -> AlertHistoryOut:
    alert = _readable_alert(session, subject, alert_id)
    incident = session.get(Incident, alert.incident_id)
    assert incident is not None  # a foreign key
    return history_out(session, subject, alert, incident)


def history_out(
    session: Session, subject: Subject, alert: AlertRow, incident: Incident
) -> AlertHistoryOut:
    """An alert (already checked readable) with its delivery, responses and acknowledgements."""
    responses = session.execute(
        select(AlertResponseRow)
        .where(AlertResponseRow.alert_id == alert.alert_id)
        .order_by(AlertResponseRow.at)
    ).scalars()
    return AlertHistoryOut(
        alert=_alert_out(alert, incident),
        delivered=alert.delivered_revision >= alert.revision,
        responses=[
            ResponseOut(
                responder=r.volunteer_id, response=r.response, level=r.level, at=r.at, note=r.note
            )
            for r in responses
        ],
        acknowledgements=acknowledgements(
            session, subject, DeskAcknowledgement.alert_id == alert.alert_id
        ),
    )


# The desk's decision as a response kind of the escalation policy (protocol.ResponseKind):
# dispatched and no action acknowledge (nothing more is escalated), a false report ends it.
_AS_RESPONSE = {
    Decision.DISPATCHED: ("ack", "acknowledged"),
    Decision.NO_ACTION: ("ack", "acknowledged"),
    Decision.FALSE_REPORT: ("false_alarm", "false_alarm"),
}
POLICE_LEVEL = 2


def acknowledge(
    session: Session,
    subject: Subject,
    alert_id: str,
    decision: Decision,
    note: str | None,
    now: datetime,
) -> AcknowledgementOut:
    """Record a duty desk's decision on one of its station alerts and stop the incident's
    escalation (the timer row is finished here, in the same transaction, so no worker
    escalates it to the police any more)."""
    if subject.role is not Role.POLICE:
        raise NotReadableError(
            f"only a police duty desk acknowledges alerts; {subject.username} is "
            f"{subject.role.value}"
        )
    alert = _readable_alert(session, subject, alert_id)
    response, outcome = _AS_RESPONSE[decision]
    ack = DeskAcknowledgement(
        alert_id=alert.alert_id,
        incident_id=alert.incident_id,
        station_id=alert.recipient_id,
        username=subject.username,
        decision=decision.value,
        note=note,
        at=now,
    )
    session.add(ack)
    alert.response, alert.responded_at = response, now
    session.add(
        AlertResponseRow(
            alert_id=alert.alert_id,
            incident_id=alert.incident_id,
            volunteer_id=f"desk:{subject.username}"[:64],
            response=response,
            level=POLICE_LEVEL,
            at=now,
            note=f"duty desk {alert.recipient_id}: {decision.value}",
        )
    )
    timer = session.get(EscalationTimer, alert.incident_id, with_for_update=True)
    if timer is not None and not timer.done:
        timer.done, timer.due_at = True, None
        timer.outcome = (
            f"{outcome}: duty desk {alert.recipient_id} ({subject.username}) "
            f"answered {decision.value}"
        )[:200]
    session.flush()
    return AcknowledgementOut.model_validate(ack, from_attributes=True)
