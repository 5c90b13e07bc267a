"""HTTP for case coordinators: file a case, end it, and its CAP 1.2 notice."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response
from geoalchemy2.shape import to_shape
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select

from backend.auth.http import CoordinatorDep, reading
from backend.auth.scope import readable
from backend.auth.subject import Subject
from backend.cap import (
    CAP_SENDER,
    CapCircle,
    CapHeader,
    CapPolygon,
    case_cancel_to_cap,
    case_notice_to_cap,
    to_xml,
)
from backend.cases.models import Case, CaseAreaPart
from backend.cases.schemas import CaseIn, CaseOut, StatusIn
from backend.cases.scoring import CaseDescription
from backend.cases.service import (
    CaseError,
    Corridor,
    case_text_for,
    notice_for,
    open_case,
    schedule_from_json,
    set_case_status,
)
from backend.deps import SessionDep
from backend.http_common import (
    AUTH,
    BAD_BODY,
    CONFLICT,
    INVALID,
    NOT_FOUND,
    UNAVAILABLE,
    PathId,
    responses,
)
from backend.stations.metro import load_metro
from geo import GeoError
from protocol.payloads import utc_now

router = APIRouter(prefix="/api/cases", tags=["cases"])


def _out(case: Case) -> CaseOut:
    return CaseOut.model_validate(case, from_attributes=True)


@router.post(
    "",
    status_code=201,
    responses=responses(AUTH, BAD_BODY, INVALID, CONFLICT),
    summary="File a case (coordinator)",
)
def create_case(body: CaseIn, session: SessionDep, _: CoordinatorDep) -> CaseOut:
    if session.get(Case, body.case_id) is not None:
        raise HTTPException(409, f"case {body.case_id!r} already exists; choose another case_id")
    polygons: list[BaseGeometry] = []
    for i, geojson in enumerate(body.polygons_as_geojson()):
        try:
            polygons.append(shape(geojson))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise HTTPException(
                422, f"body.polygons_geojson.{i}: not a valid GeoJSON geometry ({exc})"
            ) from exc
    schedule = (
        [(math.inf if w is None else w, r) for w, r in body.radius_schedule]
        if body.radius_schedule
        else None
    )
    try:
        case = open_case(
            session,
            case_id=body.case_id,
            title=body.title,
            public_description=body.public_description,
            relay_contact=body.relay_contact,
            family_contact=body.family_contact,
            photo_ref=body.photo_ref,
            description=CaseDescription(
                body.age_band,
                body.sex,
                tuple(body.clothing_colours),
                body.height_band,
                body.distinguishing_marks,
            ),
            last_seen_lon=body.last_seen_lon,
            last_seen_lat=body.last_seen_lat,
            last_seen_at=body.last_seen_at,
            last_seen_station_id=body.last_seen_station_id,
            assigned_volunteer_id=body.assigned_volunteer_id,
            radius_schedule=schedule,
            use_circle=body.use_circle,
            circle_max_age_s=body.circle_max_age_s,
            polygons=polygons,
            corridor=Corridor(**body.corridor.model_dump()) if body.corridor else None,
            metro=load_metro() if body.corridor else None,
            now=utc_now(),
        )
        session.commit()
    except (CaseError, GeoError) as exc:
        session.rollback()
        raise HTTPException(422, f"the case was refused: {exc}") from exc
    return _out(case)


@router.get(
    "/{case_id}",
    responses=responses(AUTH, INVALID, NOT_FOUND),
    summary="A case, without the family contact (coordinator, police)",
)
def get_case(
    case_id: PathId, session: SessionDep, subject: Annotated[Subject, Depends(reading(Case))]
) -> CaseOut:
    case = session.execute(
        readable(subject, Case).where(Case.case_id == case_id)
    ).scalar_one_or_none()
    if case is None:
        raise HTTPException(404, f"no case {case_id!r} you may read")
    return _out(case).model_copy(
        update={
            "title": case_text_for(subject, case, case.title),
            "public_description": case_text_for(subject, case, case.public_description),
        }
    )


@router.post(
    "/{case_id}/status",
    responses=responses(AUTH, BAD_BODY, INVALID, NOT_FOUND),
    summary="Mark a case found, closed, false_report or open again (coordinator)",
)
def change_status(
    case_id: PathId, body: StatusIn, session: SessionDep, _: CoordinatorDep
) -> CaseOut:
    try:
        case = set_case_status(session, case_id, body.status, utc_now())
        session.commit()
    except CaseError as exc:
        session.rollback()
        raise HTTPException(404 if "no case" in str(exc) else 422, str(exc)) from exc
    return _out(case)


def notice_header(case: Case) -> CapHeader:
    return CapHeader(CAP_SENDER, f"sr-case-{case.case_id}-notice", case.created_at)


def _cap_areas(case: Case, parts: list[CaseAreaPart], at: datetime) -> list[CapCircle | CapPolygon]:
    areas: list[CapCircle | CapPolygon] = []
    if case.radius_schedule:
        elapsed = max(0.0, (at - case.last_seen_at).total_seconds())
        radius = schedule_from_json(case.radius_schedule).radius_m_at(elapsed)
        if radius:
            areas.append(CapCircle(case.last_seen_lat, case.last_seen_lon, radius))
    for part in parts:
        geom = to_shape(part.geom)
        for poly in getattr(geom, "geoms", [geom]):
            areas.append(CapPolygon(tuple((lat, lon) for lon, lat in poly.exterior.coords)))
    if not areas:
        areas.append(CapCircle(case.last_seen_lat, case.last_seen_lon, 0.0))
    return areas


@router.get(
    "/{case_id}/cap",
    response_class=Response,
    responses={
        200: {
            "content": {"application/cap+xml": {"schema": {"type": "string"}}},
            "description": "OASIS CAP 1.2 document",
        },
        **responses(INVALID, NOT_FOUND, UNAVAILABLE),
    },
    summary="The public case notice as CAP 1.2 (no token)",
)
def case_cap(case_id: PathId, session: SessionDep) -> Response:
    """The case's public notice as CAP 1.2: ``Alert`` while open, ``Cancel`` (referencing
    the notice) once the case has ended."""
    case = session.get(Case, case_id)
    if case is None:
        raise HTTPException(404, f"no case {case_id!r}")
    parts = list(
        session.execute(select(CaseAreaPart).where(CaseAreaPart.case_id == case_id)).scalars()
    )
    original = notice_header(case)
    desc = f"Area of case {case.case_id}"
    if case.ended_at is None:
        root = case_notice_to_cap(
            notice_for(case),
            original,
            area_desc=desc,
            areas=_cap_areas(case, parts, utc_now()),
        )
    else:
        cancel = CapHeader(CAP_SENDER, f"sr-case-{case.case_id}-cancel", case.ended_at)
        root = case_cancel_to_cap(
            case.case_id,
            cancel,
            [original],
            relay_contact=case.relay_contact,
            area_desc=desc,
            areas=_cap_areas(case, parts, case.ended_at),
        )
    return Response(to_xml(root), media_type="application/cap+xml")
