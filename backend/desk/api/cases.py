"""HTTP for case coordinators: file a case, edit it, end it, and its CAP 1.2 notice."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Response
from fastapi.responses import JSONResponse
from geoalchemy2.shape import to_shape
from pydantic import ValidationError
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.auth.http import CoordinatorDep
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
from backend.cases.schemas import CaseIn, CaseOut, StatusIn, explain_errors
from backend.cases.scoring import CaseDescription
from backend.cases.service import (
    TRANSLATED_TEXTS,
    CaseError,
    CaseFieldError,
    CaseTexts,
    Corridor,
    case_text_for,
    check_assigned_volunteer,
    notice_for,
    open_case,
    revise_case,
    schedule_from_json,
    set_case_status,
)
from backend.deps import SessionDep
from backend.desk.http import reading
from backend.desk.scope import readable
from backend.http_common import (
    AUTH,
    BAD_BODY,
    CONFLICT,
    INVALID,
    NOT_FOUND,
    UNAVAILABLE,
    ErrorOut,
    PathId,
    Problem,
    responses,
)
from backend.stations.metro import load_metro
from geo import GeoError
from protocol.payloads import utc_now

router = APIRouter(prefix="/api/cases", tags=["cases"])


def _out(case: Case) -> CaseOut:
    return CaseOut.model_validate(case, from_attributes=True)


class CaseRefusedError(Exception):
    """A case request refused, with one problem per field (answered as ``ErrorOut``)."""

    def __init__(self, status: int, problems: list[Problem]) -> None:
        self.status = status
        self.problems = problems
        super().__init__("; ".join(p.message for p in problems))

    def response(self) -> JSONResponse:
        body = ErrorOut(detail=str(self), problems=self.problems)
        return JSONResponse(body.model_dump(mode="json"), status_code=self.status)


def _refused(field: str, code: str, message: str, status: int = 422) -> CaseRefusedError:
    return CaseRefusedError(status, [Problem(field=field, code=code, message=message)])


def parse_case(data: Any) -> CaseIn:
    """A case body (JSON already parsed) validated as JSON, every problem one human sentence
    naming its field (``Last-seen point is missing: ...``), not pydantic's words."""
    if not isinstance(data, dict):
        raise _refused("body", "object", "The case must be a JSON object of its fields")
    try:
        return CaseIn.model_validate_json(json.dumps(data, allow_nan=False))
    except ValidationError as exc:
        found = explain_errors(exc.errors(include_url=False))
        problems = [Problem(field=f, code=c, message=m) for f, c, m in found]
        raise CaseRefusedError(422, problems) from None
    except ValueError as exc:  # NaN or Infinity in the body
        raise _refused("body", "not_json", f"The case is not JSON: {exc}") from None


def case_as_input(session: Session, case: Case) -> dict[str, Any]:
    """A stored case as the body that would file it again (for PATCH: the fields not sent)."""
    parts = session.execute(
        select(CaseAreaPart).where(CaseAreaPart.case_id == case.case_id).order_by(CaseAreaPart.id)
    ).scalars()
    body: dict[str, Any] = {
        "case_id": case.case_id,
        "title": case.title,
        "public_description": case.public_description,
        "relay_contact": case.relay_contact,
        "age_band": case.age_band,
        "sex": case.sex,
        "clothing_colours": list(case.clothing_colours),
        "last_seen_lon": case.last_seen_lon,
        "last_seen_lat": case.last_seen_lat,
        "last_seen_at": case.last_seen_at.isoformat(),
        "use_circle": case.radius_schedule is not None,
        "polygons_geojson": [],
    }
    optional = {
        "title_zh": case.title_zh,
        "title_en": case.title_en,
        "description_zh": case.description_zh,
        "description_en": case.description_en,
        "family_contact": case.family_contact,
        "photo_ref": case.photo_ref,
        "height_band": case.height_band,
        "distinguishing_marks": case.distinguishing_marks,
        "last_seen_station_id": case.last_seen_station_id,
        "assigned_volunteer_id": case.assigned_volunteer_id,
        "radius_schedule": case.radius_schedule,
        "circle_max_age_s": case.circle_max_age_s,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    for part in parts:
        if part.kind == "corridor":
            body["corridor"] = dict(part.params)
        else:
            body["polygons_geojson"].append(mapping(to_shape(part.geom)))
    return json.loads(json.dumps(body))


def patched(session: Session, case_id: str, patch: Any) -> CaseIn:
    """The case as it would be after ``patch`` (fields sent replace the stored ones; an area
    field sent replaces that part of the area)."""
    case = session.get(Case, case_id)
    if case is None:
        raise _refused("path.case_id", "not_found", f"No case {case_id!r}", status=404)
    if not isinstance(patch, dict):
        raise _refused("body", "object", "The changes must be a JSON object of case fields")
    if patch.get("case_id", case_id) != case_id:
        raise _refused("body.case_id", "immutable", "Case id cannot be changed; file a new case")
    return parse_case({**case_as_input(session, case), **patch})


def _geometries(body: CaseIn) -> list[BaseGeometry]:
    polygons: list[BaseGeometry] = []
    for i, geojson in enumerate(body.polygons_as_geojson()):
        try:
            polygons.append(shape(geojson))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise _refused(
                f"body.polygons_geojson.{i}",
                "geometry",
                f"Drawn area {i + 1} is not a valid GeoJSON polygon ({exc})",
            ) from exc
    return polygons


def _fields(session: Session, body: CaseIn) -> dict[str, Any]:
    """open_case's / revise_case's keyword arguments from a validated body."""
    check_assigned_volunteer(session, body.assigned_volunteer_id)
    schedule = (
        [(math.inf if w is None else w, r) for w, r in body.radius_schedule]
        if body.radius_schedule
        else None
    )
    return {
        "title": body.title,
        "public_description": body.public_description,
        "relay_contact": body.relay_contact,
        "family_contact": body.family_contact,
        "description": CaseDescription(
            body.age_band,
            body.sex,
            tuple(body.clothing_colours),
            body.height_band,
            body.distinguishing_marks,
        ),
        "last_seen_lon": body.last_seen_lon,
        "last_seen_lat": body.last_seen_lat,
        "last_seen_at": body.last_seen_at,
        "last_seen_station_id": body.last_seen_station_id,
        "assigned_volunteer_id": body.assigned_volunteer_id,
        "radius_schedule": schedule,
        "use_circle": body.use_circle,
        "circle_max_age_s": body.circle_max_age_s,
        "polygons": _geometries(body),
        "corridor": Corridor(**body.corridor.model_dump()) if body.corridor else None,
        "texts": CaseTexts(body.title_zh, body.title_en, body.description_zh, body.description_en),
        "metro": load_metro() if body.corridor else None,
        "now": utc_now(),
    }


def case_problem(exc: CaseError | GeoError) -> CaseRefusedError:
    if isinstance(exc, CaseFieldError):
        return _refused(exc.field, "invalid", str(exc))
    return _refused("body", "refused", f"The case was refused: {exc}")


def file_case(session: Session, body: CaseIn) -> Case:
    """Store a new case from a validated body (not committed); raises CaseRefusedError."""
    if session.get(Case, body.case_id) is not None:
        raise _refused(
            "body.case_id",
            "exists",
            f"case {body.case_id!r} already exists: choose another case id",
            status=409,
        )
    try:
        fields = _fields(session, body)
        return open_case(session, case_id=body.case_id, photo_ref=body.photo_ref, **fields)
    except (CaseError, GeoError) as exc:
        raise case_problem(exc) from exc


def edit_case(session: Session, case_id: str, body: CaseIn) -> Case:
    """Replace a case's fields and area from a validated body (not committed)."""
    try:
        case = revise_case(session, case_id, **_fields(session, body))
    except (CaseError, GeoError) as exc:
        raise case_problem(exc) from exc
    case.photo_ref = case.photo_ref if body.photo_ref is None else body.photo_ref
    return case


def committed(session: Session, work: Callable[[], Case]) -> CaseOut | JSONResponse:
    try:
        case = work()
        session.commit()
    except CaseRefusedError as exc:
        session.rollback()
        return exc.response()
    return _out(case)


@router.post(
    "",
    status_code=201,
    response_model=CaseOut,
    responses=responses(AUTH, BAD_BODY, INVALID, CONFLICT),
    summary="File a case (coordinator)",
)
def create_case(body: CaseIn, session: SessionDep, _: CoordinatorDep) -> CaseOut | JSONResponse:
    return committed(session, lambda: file_case(session, body))


@router.patch(
    "/{case_id}",
    response_model=CaseOut,
    responses=responses(AUTH, BAD_BODY, INVALID, NOT_FOUND),
    summary="Edit a case (coordinator): the fields sent replace the stored ones",
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CaseIn"}}},
            "description": "Any fields of CaseIn but case_id; an area field replaces that part",
        }
    },
)
def patch_case(
    case_id: PathId,
    patch: Annotated[dict[str, Any], Body()],
    session: SessionDep,
    _: CoordinatorDep,
) -> CaseOut | JSONResponse:
    def work() -> Case:
        return edit_case(session, case_id, patched(session, case_id, patch))

    return committed(session, work)


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
            **{
                name: case_text_for(subject, case, text)
                for name in TRANSLATED_TEXTS
                if (text := getattr(case, name)) is not None
            },
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
