"""The desk's cases: scoped lists and a case with its sightings, incidents and alerts."""

from __future__ import annotations

from datetime import datetime

from geoalchemy2.shape import to_shape
from shapely.geometry import mapping
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.auth.subject import Role, Subject
from backend.cases.models import Case, CaseAreaPart
from backend.cases.photos import PHOTO_REF_PREFIX
from backend.cases.service import TRANSLATED_TEXTS, case_text_for
from backend.desk.alerts import alert_rows, history_out
from backend.desk.schemas import CaseDeskOut, CaseDetailOut
from backend.desk.scope import readable
from backend.desk.service import DeskNotFoundError, Filters, in_bbox, list_incidents, list_sightings


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
    coordinator = subject.role is Role.COORDINATOR

    def public(text: str) -> str:
        return case_text_for(subject, case, text)

    parts = session.execute(
        select(CaseAreaPart).where(CaseAreaPart.case_id == case.case_id).order_by(CaseAreaPart.id)
    ).scalars()
    return CaseDeskOut(
        case_id=case.case_id,
        status=case.status,
        title=public(case.title),
        public_description=public(case.public_description),
        **{
            name: public(text)
            for name in TRANSLATED_TEXTS
            if (text := getattr(case, name)) is not None
        },
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
        areas=[
            {"kind": p.kind, "geometry": mapping(to_shape(p.geom)), "params": p.params}
            for p in parts
        ],
        photo_ref=case.photo_ref,
        has_photo=(case.photo_ref or "").startswith(PHOTO_REF_PREFIX),
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
        stmt = stmt.where(in_bbox(Case.last_seen_lon, Case.last_seen_lat, f.bbox))
    cases = session.execute(stmt.order_by(Case.created_at.desc()).limit(f.limit)).scalars()
    return [_case_out(session, subject, c, now) for c in cases]


def case_detail(session: Session, subject: Subject, case_id: str, now: datetime) -> CaseDetailOut:
    case = session.execute(
        readable(subject, Case).where(Case.case_id == case_id)
    ).scalar_one_or_none()
    if case is None:
        raise DeskNotFoundError(f"no case {case_id!r}")
    f = Filters(case_id=case_id)
    return CaseDetailOut(
        case=_case_out(session, subject, case, now),
        sightings=list_sightings(session, subject, f),
        incidents=list_incidents(session, subject, f),
        alerts=[
            history_out(session, subject, a, i) for a, i in alert_rows(session, subject, f, now)
        ],
    )
