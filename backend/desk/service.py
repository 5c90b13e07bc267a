"""The desk's reads of sightings and incidents, and the filters and errors every desk read
shares. Every query starts from ``scope.readable(subject, ...)``, so a police desk only ever
sees its stations' items."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from backend.alerts.models import EscalationTimer
from backend.auth.subject import Subject
from backend.cases.models import Case, CaseMatchRow
from backend.desk.models import DeskAcknowledgement
from backend.desk.schemas import (
    AcknowledgementOut,
    AddendumOut,
    IncidentCaseOut,
    IncidentOut,
    IncidentReportOut,
    IncidentStateOut,
    MatchOut,
    SightingOut,
    StationOut,
    TrailPoint,
)
from backend.desk.scope import readable
from backend.desk.states import IncidentState, incident_states
from backend.incidents.models import Incident, IncidentReport
from backend.passengers.models import ReportAddendumRow
from backend.sightings.models import Report, ReportPhoto
from backend.stations.metro import load_metro
from backend.stations.models import PoliceStation
from protocol.payloads import utc_now


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


def in_bbox(lon: Any, lat: Any, bbox: tuple[float, float, float, float]) -> ColumnElement[bool]:
    """The condition that the point column pair ``(lon, lat)`` lies in ``bbox``."""
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
        stmt = stmt.where(in_bbox(Report.lon, Report.lat, f.bbox))
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
    photos = stored_photos(session, ids)
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
            has_photo=r.report_id in photos,
            is_test=r.is_test,
            incident_id=placed.get(r.report_id, (None, None))[0],
            police_station_id=placed.get(r.report_id, (None, None))[1],
            matches=matches.get(r.report_id, []),
        )
        for r in reports
    ]


# --------------------------------------------------------------------------- incidents


def acknowledgements(
    session: Session, subject: Subject, where: ColumnElement[bool]
) -> list[AcknowledgementOut]:
    """The duty desks' acknowledgements matching ``where`` that the subject may read, oldest
    first."""
    rows = session.execute(
        readable(subject, DeskAcknowledgement).where(where).order_by(DeskAcknowledgement.at)
    ).scalars()
    return [AcknowledgementOut.model_validate(a, from_attributes=True) for a in rows]


@lru_cache(maxsize=1)
def metro_names() -> dict[str, str]:
    """Metro station id -> name (the project's metro GeoJSON, read once)."""
    stations, _routes = load_metro()
    return {s.station_id: s.name for s in stations}


def readable_stations(session: Session, subject: Subject) -> list[StationOut]:
    """The police stations the subject may read (a duty desk: the ones it serves), by id."""
    rows = session.execute(readable(subject, PoliceStation).order_by(PoliceStation.station_id))
    return [StationOut(station_id=r.station_id, name=r.name) for r in rows.scalars()]


def _state_out(state: IncidentState) -> IncidentStateOut:
    return IncidentStateOut(
        code=state.code.value,
        level=state.level,
        by=state.by,
        by_kind=state.by_kind,
        at=state.at,
        decision=state.decision,
        note=state.note,
        due_at=state.due_at,
    )


def _incident_reports(
    session: Session, subject: Subject, incident_id: str, limit: int = 20
) -> list[IncidentReportOut]:
    reports = session.execute(
        readable(subject, Report)
        .where(
            Report.report_id.in_(
                select(IncidentReport.report_id).where(IncidentReport.incident_id == incident_id)
            )
        )
        .order_by(Report.observed_at.desc())
        .limit(limit)
    ).scalars()
    reports = list(reports)
    names = metro_names()
    ids = [r.report_id for r in reports]
    added = addenda_of(session, subject, ids)
    photos = stored_photos(session, ids)
    return [
        IncidentReportOut(
            report_id=r.report_id,
            device_id=r.device_id,
            observed_at=r.observed_at,
            metro_station_id=r.station_id,
            metro_station_name=names.get(r.station_id) if r.station_id else None,
            direction=r.direction,
            note=r.free_text,
            has_photo=r.report_id in photos,
            addenda=added.get(r.report_id, []),
        )
        for r in reports
    ]


def stored_photos(session: Session, ids: list[str]) -> set[str]:
    """Which of these report (or addendum) ids have a stored photo: a phone may send a
    report's photo after the report, so ``has_photo`` in the report says too little."""
    if not ids:
        return set()
    return set(
        session.execute(select(ReportPhoto.report_id).where(ReportPhoto.report_id.in_(ids)))
        .scalars()
        .all()
    )


def addenda_of(
    session: Session, subject: Subject, report_ids: list[str]
) -> dict[str, list[AddendumOut]]:
    """What the reporters added to these reports, oldest first, by report id."""
    out: dict[str, list[AddendumOut]] = defaultdict(list)
    if not report_ids:
        return out
    rows = list(
        session.execute(
            readable(subject, ReportAddendumRow)
            .where(ReportAddendumRow.report_id.in_(report_ids))
            .order_by(ReportAddendumRow.received_at)
        ).scalars()
    )
    photos = stored_photos(session, [a.addendum_id for a in rows if a.has_photo])
    for a in rows:
        out[a.report_id].append(
            AddendumOut(
                addendum_id=a.addendum_id,
                report_id=a.report_id,
                received_at=a.received_at,
                note=a.note,
                has_photo=a.addendum_id in photos,
            )
        )
    return out


def _incident_cases(
    session: Session, subject: Subject, matches: list[MatchOut]
) -> list[IncidentCaseOut]:
    """One entry per matched case (its best report), best first, with the case's title."""
    best: dict[str, MatchOut] = {}
    for m in matches:
        if m.case_id not in best or m.score > best[m.case_id].score:
            best[m.case_id] = m
    cases = (
        {
            c.case_id: c
            for c in session.execute(
                readable(subject, Case).where(Case.case_id.in_(sorted(best)))
            ).scalars()
        }
        if best
        else {}
    )
    return [
        IncidentCaseOut(
            case_id=m.case_id,
            title=cases[m.case_id].title if m.case_id in cases else None,
            status=cases[m.case_id].status if m.case_id in cases else None,
            score=m.score,
            distance_m=m.distance_m,
            reasons=m.reasons,
        )
        for m in sorted(best.values(), key=lambda m: -m.score)
    ]


def _incident_out(
    session: Session,
    subject: Subject,
    incident: Incident,
    state: IncidentState,
    station_names: dict[str, str],
) -> IncidentOut:
    trail_rows = (
        session.execute(
            select(IncidentReport)
            .where(IncidentReport.incident_id == incident.incident_id)
            .order_by(IncidentReport.observed_at)
        )
        .scalars()
        .all()
    )
    matches = [
        MatchOut(
            case_id=m.case_id,
            report_id=m.report_id,
            score=m.score,
            distance_m=m.distance_m,
            reasons=list(m.reasons),
        )
        for m in session.execute(
            readable(subject, CaseMatchRow)
            .where(CaseMatchRow.incident_id == incident.incident_id)
            .order_by(CaseMatchRow.score.desc())
        ).scalars()
    ]
    timer = session.get(EscalationTimer, incident.incident_id)
    metro = incident.metro_station_id
    return IncidentOut(
        incident_id=incident.incident_id,
        lon=incident.lon,
        lat=incident.lat,
        first_at=incident.first_at,
        last_at=incident.last_at,
        report_count=incident.report_count,
        confidence=len(set(incident.device_ids)),
        police_station_id=incident.station_id,
        metro_station_id=metro,
        what_seen=incident.what_seen,
        bearing_deg=incident.bearing_deg,
        speed_m_s=incident.speed_m_s,
        trail=[
            TrailPoint(report_id=t.report_id, lon=t.lon, lat=t.lat, observed_at=t.observed_at)
            for t in trail_rows
        ],
        matches=matches,
        escalation_level=timer.level if timer else None,
        escalating=bool(timer and not timer.done),
        escalation_outcome=timer.outcome if timer else None,
        acknowledgements=acknowledgements(
            session, subject, DeskAcknowledgement.incident_id == incident.incident_id
        ),
        state=_state_out(state),
        police_station_name=station_names.get(incident.station_id or ""),
        metro_station_name=metro_names().get(metro) if metro else None,
        reports=_incident_reports(session, subject, incident.incident_id),
        cases=_incident_cases(session, subject, matches),
    )


def incidents_out(
    session: Session, subject: Subject, incidents: list[Incident], now: datetime
) -> list[IncidentOut]:
    """The incidents (read through ``readable``) as the desk shows them, each with its state
    (``backend.desk.states``)."""
    states = incident_states(session, [i.incident_id for i in incidents], now)
    names = {s.station_id: s.name for s in readable_stations(session, subject)}
    return [_incident_out(session, subject, i, states[i.incident_id], names) for i in incidents]


def list_incidents(
    session: Session, subject: Subject, f: Filters, now: datetime | None = None
) -> list[IncidentOut]:
    """Newest first, then the most confident (distinct reporters); states at ``now`` (the
    time now when None)."""
    stmt = readable(subject, Incident)
    if f.since is not None:
        stmt = stmt.where(Incident.last_at >= f.since)
    if f.until is not None:
        stmt = stmt.where(Incident.first_at <= f.until)
    if f.bbox is not None:
        stmt = stmt.where(in_bbox(Incident.lon, Incident.lat, f.bbox))
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
    return incidents_out(session, subject, list(incidents), now or utc_now())
