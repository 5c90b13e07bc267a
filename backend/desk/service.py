"""The desk's reads and decisions. Every query starts from ``scope.readable(subject, ...)``,
so a police desk's lists, layers, histories and live events only ever hold its stations'
items."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from geoalchemy2.shape import to_shape
from shapely.geometry import mapping
from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.orm import Session

from backend.cap.render import redact_phone_numbers
from backend.db.models import (
    AlertResponseRow,
    AlertRow,
    Case,
    CaseAreaPart,
    CaseMatchRow,
    DeadLetter,
    Device,
    EscalationTimer,
    Incident,
    IncidentReport,
    Report,
    Volunteer,
)
from backend.desk.models import DeskAcknowledgement
from backend.desk.schemas import (
    AcknowledgementOut,
    AlertHistoryOut,
    AlertOut,
    CaseDeskOut,
    CaseDetailOut,
    DeadLetterDeskOut,
    Decision,
    DeviceOut,
    IncidentOut,
    MatchOut,
    ResponseOut,
    SightingOut,
    TrailPoint,
)
from backend.desk.scope import NotReadableError, readable
from backend.people.service import PersonRole, Subject


class DeskNotFoundError(LookupError):
    """No such item at all (404)."""


class DeskRefusedError(ValueError):
    """A request that cannot be carried out as asked (422); the message says why."""


@dataclass(frozen=True, slots=True)
class Filters:
    since: datetime | None = None
    until: datetime | None = None
    bbox: tuple[float, float, float, float] | None = None  # min lon, min lat, max lon, max lat
    case_id: str | None = None
    station_id: str | None = None
    status: str | None = None
    limit: int = 200


def _in_bbox(lon: Any, lat: Any, bbox: tuple[float, float, float, float]) -> ColumnElement[bool]:
    return and_(lon.between(bbox[0], bbox[2]), lat.between(bbox[1], bbox[3]))


# --------------------------------------------------------------------------- sightings


def _matches_by_report(
    session: Session, subject: Subject, report_ids: list[str]
) -> dict[str, list[MatchOut]]:
    out: dict[str, list[MatchOut]] = defaultdict(list)
    if not report_ids:
        return out
    rows = session.execute(
        readable(subject, CaseMatchRow).where(CaseMatchRow.report_id.in_(report_ids))
    ).scalars()
    for m in rows:
        out[m.report_id].append(
            MatchOut(
                case_id=m.case_id,
                report_id=m.report_id,
                score=m.score,
                distance_m=m.distance_m,
                reasons=list(m.reasons),
            )
        )
    return out


def list_sightings(session: Session, subject: Subject, f: Filters) -> list[SightingOut]:
    stmt = readable(subject, Report)
    if f.since is not None:
        stmt = stmt.where(Report.observed_at >= f.since)
    if f.until is not None:
        stmt = stmt.where(Report.observed_at <= f.until)
    if f.bbox is not None:
        stmt = stmt.where(_in_bbox(Report.lon, Report.lat, f.bbox))
    if f.case_id is not None:
        stmt = stmt.where(
            Report.report_id.in_(
                select(CaseMatchRow.report_id).where(CaseMatchRow.case_id == f.case_id)
            )
        )
    if f.station_id is not None:
        stmt = stmt.where(
            Report.report_id.in_(
                select(IncidentReport.report_id)
                .join(Incident, Incident.incident_id == IncidentReport.incident_id)
                .where(Incident.station_id == f.station_id)
            )
        )
    reports = (
        session.execute(stmt.order_by(Report.observed_at.desc()).limit(f.limit)).scalars().all()
    )
    ids = [r.report_id for r in reports]
    placed = (
        {
            report_id: (incident_id, station_id)
            for report_id, incident_id, station_id in session.execute(
                select(IncidentReport.report_id, Incident.incident_id, Incident.station_id)
                .join(Incident, Incident.incident_id == IncidentReport.incident_id)
                .where(IncidentReport.report_id.in_(ids))
            )
        }
        if ids
        else {}
    )
    matches = _matches_by_report(session, subject, ids)
    return [
        SightingOut(
            report_id=r.report_id,
            device_id=r.device_id,
            observed_at=r.observed_at,
            received_at=r.received_at,
            lon=r.lon,
            lat=r.lat,
            what_seen=r.what_seen,
            age_band=r.age_band,
            sex=r.sex,
            clothing_colours=list(r.clothing_colours),
            metro_station_id=r.station_id,
            direction=r.direction,
            has_photo=r.has_photo,
            is_test=r.is_test,
            incident_id=placed.get(r.report_id, (None, None))[0],
            police_station_id=placed.get(r.report_id, (None, None))[1],
            matches=matches.get(r.report_id, []),
        )
        for r in reports
    ]


# --------------------------------------------------------------------------- incidents


def _acks(
    session: Session, subject: Subject, where: ColumnElement[bool]
) -> list[AcknowledgementOut]:
    rows = session.execute(
        readable(subject, DeskAcknowledgement).where(where).order_by(DeskAcknowledgement.at)
    ).scalars()
    return [AcknowledgementOut.model_validate(a, from_attributes=True) for a in rows]


def _incident_out(session: Session, subject: Subject, incident: Incident) -> IncidentOut:
    trail_rows = (
        session.execute(
            select(IncidentReport)
            .where(IncidentReport.incident_id == incident.incident_id)
            .order_by(IncidentReport.observed_at)
        )
        .scalars()
        .all()
    )
    matches = session.execute(
        readable(subject, CaseMatchRow)
        .where(CaseMatchRow.incident_id == incident.incident_id)
        .order_by(CaseMatchRow.score.desc())
    ).scalars()
    timer = session.get(EscalationTimer, incident.incident_id)
    return IncidentOut(
        incident_id=incident.incident_id,
        lon=incident.lon,
        lat=incident.lat,
        first_at=incident.first_at,
        last_at=incident.last_at,
        report_count=incident.report_count,
        confidence=len(set(incident.device_ids)),
        police_station_id=incident.station_id,
        metro_station_id=incident.metro_station_id,
        what_seen=incident.what_seen,
        bearing_deg=incident.bearing_deg,
        speed_m_s=incident.speed_m_s,
        trail=[
            TrailPoint(report_id=t.report_id, lon=t.lon, lat=t.lat, observed_at=t.observed_at)
            for t in trail_rows
        ],
        matches=[
            MatchOut(
                case_id=m.case_id,
                report_id=m.report_id,
                score=m.score,
                distance_m=m.distance_m,
                reasons=list(m.reasons),
            )
            for m in matches
        ],
        escalation_level=timer.level if timer else None,
        escalating=bool(timer and not timer.done),
        escalation_outcome=timer.outcome if timer else None,
        acknowledgements=_acks(
            session, subject, DeskAcknowledgement.incident_id == incident.incident_id
        ),
    )


def list_incidents(session: Session, subject: Subject, f: Filters) -> list[IncidentOut]:
    """Newest first, then the most confident (distinct reporters)."""
    stmt = readable(subject, Incident)
    if f.since is not None:
        stmt = stmt.where(Incident.last_at >= f.since)
    if f.until is not None:
        stmt = stmt.where(Incident.first_at <= f.until)
    if f.bbox is not None:
        stmt = stmt.where(_in_bbox(Incident.lon, Incident.lat, f.bbox))
    if f.station_id is not None:
        stmt = stmt.where(Incident.station_id == f.station_id)
    if f.case_id is not None:
        stmt = stmt.where(
            Incident.incident_id.in_(
                select(CaseMatchRow.incident_id).where(CaseMatchRow.case_id == f.case_id)
            )
        )
    if f.status is not None:
        escalating = select(EscalationTimer.incident_id).where(EscalationTimer.done.is_(False))
        stmt = stmt.where(
            Incident.incident_id.in_(escalating)
            if f.status == "escalating"
            else Incident.incident_id.not_in(escalating)
        )
    incidents = (
        session.execute(
            stmt.order_by(Incident.last_at.desc(), Incident.report_count.desc()).limit(f.limit)
        )
        .scalars()
        .all()
    )
    return [_incident_out(session, subject, i) for i in incidents]


# --------------------------------------------------------------------------- alerts


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


def _alerts_stmt(subject: Subject, f: Filters, now: datetime) -> Select[tuple[AlertRow]]:
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
                select(Incident.incident_id).where(_in_bbox(Incident.lon, Incident.lat, f.bbox))
            )
        )
    if f.status == "open":
        stmt = stmt.where(AlertRow.response.is_(None), AlertRow.expires_at > now)
    elif f.status == "answered":
        stmt = stmt.where(AlertRow.response.is_not(None))
    elif f.status == "expired":
        stmt = stmt.where(AlertRow.response.is_(None), AlertRow.expires_at <= now)
    return stmt


def list_alerts(session: Session, subject: Subject, f: Filters, now: datetime) -> list[AlertOut]:
    rows = session.execute(
        _alerts_stmt(subject, f, now)
        .add_columns(Incident)
        .join(Incident, Incident.incident_id == AlertRow.incident_id)
        .order_by(AlertRow.created_at.desc())
        .limit(f.limit)
    ).all()
    return [_alert_out(alert, incident) for alert, incident in rows]


def _readable_alert(session: Session, subject: Subject, alert_id: str) -> AlertRow:
    found = session.execute(
        readable(subject, AlertRow).where(AlertRow.alert_id == alert_id)
    ).scalar_one_or_none()
    if found is not None:
        return found
    if session.get(AlertRow, alert_id) is None:
        raise DeskNotFoundError(f"no alert {alert_id!r}")
    raise NotReadableError(
        f"alert {alert_id!r} is not addressed to a station {subject.username} serves"
    )


def alert_history(session: Session, subject: Subject, alert_id: str) -> AlertHistoryOut:
    alert = _readable_alert(session, subject, alert_id)
    incident = session.get(Incident, alert.incident_id)
    assert incident is not None  # a foreign key
    return _history(session, subject, alert, incident)


def _history(
    session: Session, subject: Subject, alert: AlertRow, incident: Incident
) -> AlertHistoryOut:
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
        acknowledgements=_acks(session, subject, DeskAcknowledgement.alert_id == alert.alert_id),
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
    if subject.role is not PersonRole.POLICE:
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


# --------------------------------------------------------------------------- cases


def current_radius_m(case: Case, now: datetime) -> float | None:
    """The radius of the case's expanding circle now, from its schedule
    ``[[within_s, radius_m], ...]`` (``within_s`` null = open-ended)."""
    if not case.radius_schedule:
        return None
    elapsed_s = (now - case.last_seen_at).total_seconds()
    if case.circle_max_age_s is not None and elapsed_s > case.circle_max_age_s:
        return None
    for within_s, radius_m in case.radius_schedule:
        if within_s is None or elapsed_s <= within_s:
            return radius_m
    return None


def _case_out(session: Session, subject: Subject, case: Case, now: datetime) -> CaseDeskOut:
    coordinator = subject.role is PersonRole.COORDINATOR

    def public(text: str) -> str:
        # A family's number pasted into the text is scrubbed for everyone but coordinators.
        return text if coordinator else redact_phone_numbers(text, case.relay_contact)

    parts = session.execute(
        select(CaseAreaPart).where(CaseAreaPart.case_id == case.case_id).order_by(CaseAreaPart.id)
    ).scalars()
    return CaseDeskOut(
        case_id=case.case_id,
        status=case.status,
        title=public(case.title),
        public_description=public(case.public_description),
        relay_contact=case.relay_contact,
        family_contact=case.family_contact if coordinator else None,
        age_band=case.age_band,
        sex=case.sex,
        clothing_colours=list(case.clothing_colours),
        last_seen_lon=case.last_seen_lon,
        last_seen_lat=case.last_seen_lat,
        last_seen_at=case.last_seen_at,
        last_seen_station_id=case.last_seen_station_id,
        assigned_volunteer_id=case.assigned_volunteer_id,
        radius_schedule=case.radius_schedule,
        current_radius_m=current_radius_m(case, now) if case.status == "open" else None,
        areas=[{"kind": p.kind, "geometry": mapping(to_shape(p.geom))} for p in parts],
        created_at=case.created_at,
        ended_at=case.ended_at,
    )


def list_cases(session: Session, subject: Subject, f: Filters, now: datetime) -> list[CaseDeskOut]:
    stmt = readable(subject, Case)
    if f.status is not None:
        stmt = stmt.where(Case.status == f.status)
    if f.case_id is not None:
        stmt = stmt.where(Case.case_id == f.case_id)
    if f.since is not None:
        stmt = stmt.where(Case.updated_at >= f.since)
    if f.until is not None:
        stmt = stmt.where(Case.created_at <= f.until)
    if f.bbox is not None:
        stmt = stmt.where(_in_bbox(Case.last_seen_lon, Case.last_seen_lat, f.bbox))
    cases = session.execute(stmt.order_by(Case.created_at.desc()).limit(f.limit)).scalars()
    return [_case_out(session, subject, c, now) for c in cases]


def case_detail(session: Session, subject: Subject, case_id: str, now: datetime) -> CaseDetailOut:
    case = session.execute(
        readable(subject, Case).where(Case.case_id == case_id)
    ).scalar_one_or_none()
    if case is None:
        raise DeskNotFoundError(f"no case {case_id!r}")
    f = Filters(case_id=case_id)
    alert_rows = session.execute(
        _alerts_stmt(subject, f, now)
        .add_columns(Incident)
        .join(Incident, Incident.incident_id == AlertRow.incident_id)
        .order_by(AlertRow.created_at.desc())
        .limit(f.limit)
    ).all()
    return CaseDetailOut(
        case=_case_out(session, subject, case, now),
        sightings=list_sightings(session, subject, f),
        incidents=list_incidents(session, subject, f),
        alerts=[_history(session, subject, a, i) for a, i in alert_rows],
    )


# --------------------------------------------------------------------------- fleet


def list_devices(
    session: Session, subject: Subject, offline_after_s: float, now: datetime, limit: int = 1000
) -> list[DeviceOut]:
    """The fleet; devices offline (or silent) for more than ``offline_after_s`` first, the
    longest offline at the top."""
    out = []
    for d in session.execute(readable(subject, Device).limit(limit)).scalars():
        point = to_shape(d.location) if d.location is not None else None
        offline_for = None
        if d.state != "online":
            offline_for = (now - (d.state_at or d.created_at)).total_seconds()
        out.append(
            DeviceOut(
                device_id=d.device_id,
                kind=d.kind,
                station_id=d.station_id,
                station_name=d.station_name,
                lon=point.x if point is not None else None,
                lat=point.y if point is not None else None,
                state=d.state,
                last_seen_at=d.state_at,
                offline_for_s=offline_for,
                outbox_depth=d.outbox_depth,
                app_version=d.app_version,
                long_offline=offline_for is not None and offline_for > offline_after_s,
            )
        )
    out.sort(key=lambda d: (not d.long_offline, -(d.offline_for_s or 0.0), d.device_id))
    return out


def device_dead_letters(
    session: Session, subject: Subject, device_id: str, limit: int = 100
) -> list[DeadLetterDeskOut]:
    readable(subject, Device)  # the fleet's readers only
    if session.get(Device, device_id) is None:
        raise DeskNotFoundError(f"no device {device_id!r}")
    rows = session.execute(
        readable(subject, DeadLetter)
        .where(DeadLetter.device_id == device_id)
        .order_by(DeadLetter.id.desc())
        .limit(limit)
    ).scalars()
    return [
        DeadLetterDeskOut(
            id=r.id,
            topic=r.topic,
            received_at=r.received_at,
            report_id=r.report_id,
            reasons=list(r.reasons),
            size_bytes=len(r.payload),
        )
        for r in rows
    ]


def coarse_volunteers(session: Session, subject: Subject, now: datetime) -> list[Volunteer]:
    """On-duty volunteers whose coarse (about 1 km) position has not expired; never exact."""
    return list(
        session.execute(
            readable(subject, Volunteer).where(
                Volunteer.on_duty.is_(True),
                Volunteer.coarse_lon.is_not(None),
                Volunteer.location_expires_at > now,
            )
        ).scalars()
    )


# --------------------------------------------------------------------------- live changes


def change_mark(session: Session, subject: Subject) -> list[Any]:
    """A small value that changes whenever something the subject can see changes (new
    reports, alert revisions, deliveries, responses, acknowledgements, cases)."""
    mark: list[Any] = []
    if subject.role in (PersonRole.POLICE, PersonRole.COORDINATOR):
        alerts = readable(subject, AlertRow).subquery()
        mark += list(
            session.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(alerts.c.revision), 0),
                    func.coalesce(func.sum(alerts.c.delivered_revision), 0),
                    func.count(alerts.c.response),
                ).select_from(alerts)
            ).one()
        )
        reports = readable(subject, Report).subquery()
        mark.append(session.execute(select(func.count()).select_from(reports)).scalar_one())
        acks = readable(subject, DeskAcknowledgement).subquery()
        mark.append(session.execute(select(func.count()).select_from(acks)).scalar_one())
        cases = readable(subject, Case).subquery()
        mark += [
            str(v)
            for v in session.execute(
                select(func.count(), func.max(cases.c.updated_at)).select_from(cases)
            ).one()
        ]
    if subject.role in (PersonRole.OPERATOR, PersonRole.COORDINATOR):
        devices = readable(subject, Device).subquery()
        mark += [
            str(v)
            for v in session.execute(
                select(func.count(), func.max(devices.c.state_at)).select_from(devices)
            ).one()
        ]
    return mark
