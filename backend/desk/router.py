"""HTTP of the desk console, ``/api/v1/desk/...``: scoped lists, map layers as GeoJSON,
alert histories and acknowledgements, cases, the fleet, a public feed of open case
notices and a live stream of changes (server-sent events); and the console's static files
at ``/desk/``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final

import anyio
from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import AwareDatetime
from sqlalchemy import select

from backend.alerts.router import station_alert_cap
from backend.auth import Role
from backend.cap import redact_phone_numbers
from backend.cases.router import change_status, create_case
from backend.cases.schemas import CaseIn, CaseOut, StatusIn
from backend.db.models import Case, ReportPhoto
from backend.deps import SessionDep
from backend.desk import geojson, service
from backend.desk.schemas import (
    AcknowledgeIn,
    AcknowledgementOut,
    AlertHistoryOut,
    AlertOut,
    CaseDeskOut,
    CaseDetailOut,
    DeadLetterDeskOut,
    DeviceOut,
    Feature,
    FeatureCollection,
    IncidentOut,
    SightingOut,
)
from backend.desk.scope import NotReadableError, readable
from backend.desk.settings import get_desk_settings
from backend.http_common import (
    BAD_BODY,
    CONFLICT,
    ID_PATTERN,
    INVALID,
    NOT_FOUND,
    PathId,
    responses,
)
from backend.people.deps import PERSON_AUTH, SubjectDep
from backend.people.router import router as people_router
from backend.people.service import PersonRole, Subject
from protocol.payloads import utc_now

STATIC_DIR: Final = Path(__file__).resolve().parent / "static"
router = APIRouter(prefix="/api/v1/desk", tags=["desk"])
public = APIRouter(prefix="/api/v1/desk/public", tags=["desk (public)"])

AUTHZ = responses(PERSON_AUTH, INVALID)
IdQuery = Annotated[str | None, Query(pattern=ID_PATTERN)]
Since = Annotated[AwareDatetime | None, Query(description="ISO 8601 time with a zone")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Bbox = Annotated[
    str | None,
    Query(
        description="min_lon,min_lat,max_lon,max_lat (WGS-84 degrees)",
        pattern=r"^-?[0-9.]+,-?[0-9.]+,-?[0-9.]+,-?[0-9.]+$",
        max_length=100,
    ),
]


class AlertStatus(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    EXPIRED = "expired"


class IncidentStatus(StrEnum):
    ESCALATING = "escalating"
    STOPPED = "stopped"


class CaseStatus(StrEnum):
    OPEN = "open"
    FOUND = "found"
    CLOSED = "closed"
    FALSE_REPORT = "false_report"


def _bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        a, b, c, d = (float(v) for v in value.split(","))
    except ValueError as exc:
        raise HTTPException(422, f"query.bbox: {value!r} is not four numbers") from exc
    if not (-180 <= a <= c <= 180 and -90 <= b <= d <= 90):
        raise HTTPException(
            422,
            "query.bbox: expected min_lon,min_lat,max_lon,max_lat with min <= max, "
            "longitudes within [-180, 180] and latitudes within [-90, 90]",
        )
    return a, b, c, d


def _filters(
    since: datetime | None,
    until: datetime | None,
    bbox: str | None,
    case_id: str | None,
    station_id: str | None,
    status: str | None,
    limit: int,
) -> service.Filters:
    return service.Filters(since, until, _bbox(bbox), case_id, station_id, status, limit)


@contextmanager
def _answers() -> Iterator[None]:
    """The desk's refusals as HTTP statuses."""
    try:
        yield
    except NotReadableError as exc:
        raise HTTPException(403, str(exc)) from exc
    except service.DeskNotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc
    except service.DeskRefusedError as exc:
        raise HTTPException(422, str(exc)) from exc


class GeoJSONResponse(JSONResponse):
    media_type = "application/geo+json"


GEOJSON_200: Final = {
    200: {
        "description": "A GeoJSON FeatureCollection (RFC 7946)",
        "content": {
            "application/geo+json": {"schema": {"$ref": "#/components/schemas/FeatureCollection"}}
        },
    }
}


def _geojson(collection: FeatureCollection) -> GeoJSONResponse:
    return GeoJSONResponse(collection.model_dump(mode="json"))


# --------------------------------------------------------------------------- lists


@router.get("/sightings", responses=AUTHZ, summary="Sightings (reports), newest first")
def sightings(
    session: SessionDep,
    subject: SubjectDep,
    since: Since = None,
    until: Since = None,
    bbox: Bbox = None,
    case_id: IdQuery = None,
    station_id: IdQuery = None,
    limit: Limit = 200,
) -> list[SightingOut]:
    with _answers():
        f = _filters(since, until, bbox, case_id, station_id, None, limit)
        return service.list_sightings(session, subject, f)


@router.get(
    "/incidents", responses=AUTHZ, summary="Incidents: the queue, newest and most confident first"
)
def incidents(
    session: SessionDep,
    subject: SubjectDep,
    since: Since = None,
    until: Since = None,
    bbox: Bbox = None,
    case_id: IdQuery = None,
    station_id: IdQuery = None,
    status: IncidentStatus | None = None,
    limit: Limit = 200,
) -> list[IncidentOut]:
    with _answers():
        f = _filters(since, until, bbox, case_id, station_id, status, limit)
        return service.list_incidents(session, subject, f)


@router.get("/alerts", responses=AUTHZ, summary="Alerts, newest first")
def alerts(
    session: SessionDep,
    subject: SubjectDep,
    since: Since = None,
    until: Since = None,
    bbox: Bbox = None,
    case_id: IdQuery = None,
    station_id: IdQuery = None,
    status: AlertStatus | None = None,
    limit: Limit = 200,
) -> list[AlertOut]:
    with _answers():
        f = _filters(since, until, bbox, case_id, station_id, status, limit)
        return service.list_alerts(session, subject, f, utc_now())


@router.get(
    "/alerts/{alert_id}/history",
    responses=responses(AUTHZ, NOT_FOUND),
    summary="An alert's delivery, responses and duty-desk acknowledgements",
)
def alert_history(alert_id: PathId, session: SessionDep, subject: SubjectDep) -> AlertHistoryOut:
    with _answers():
        return service.alert_history(session, subject, alert_id)


@router.post(
    "/alerts/{alert_id}/acknowledge",
    responses=responses(AUTHZ, BAD_BODY, NOT_FOUND),
    summary="A duty desk's decision (dispatched, no_action, false_report); stops escalation",
)
def acknowledge(
    alert_id: PathId, body: AcknowledgeIn, session: SessionDep, subject: SubjectDep
) -> AcknowledgementOut:
    with _answers():
        ack = service.acknowledge(session, subject, alert_id, body.decision, body.note, utc_now())
        session.commit()
        return ack


@router.get(
    "/alerts/{alert_id}/cap",
    response_class=Response,
    responses={
        200: {
            "content": {"application/cap+xml": {"schema": {"type": "string"}}},
            "description": "OASIS CAP 1.2 document (restricted scope)",
        },
        **responses(AUTHZ, NOT_FOUND),
    },
    summary="A station alert as CAP 1.2",
)
def alert_cap(alert_id: PathId, session: SessionDep, subject: SubjectDep) -> Response:
    with _answers():
        service.alert_history(session, subject, alert_id)  # scope check: 403/404
    return station_alert_cap(alert_id, session, Role.POLICE)


@router.get(
    "/sightings/{report_id}/photo",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}},
        **responses(AUTHZ, NOT_FOUND),
    },
    summary="A sighting's photo (EXIF stripped), for those who may read the sighting",
)
def sighting_photo(report_id: PathId, session: SessionDep, subject: SubjectDep) -> Response:
    with _answers():
        from backend.db.models import Report

        report = session.execute(
            readable(subject, Report).where(Report.report_id == report_id.lower())
        ).scalar_one_or_none()
        if report is None:
            raise service.DeskNotFoundError(f"no sighting {report_id!r} you may read")
        photo = session.get(ReportPhoto, report.report_id)
        if photo is None:
            raise service.DeskNotFoundError(f"sighting {report_id!r} has no photo")
    return Response(photo.jpeg, media_type="image/jpeg", headers={"Cache-Control": "private"})


# --------------------------------------------------------------------------- cases


@router.get("/cases", responses=AUTHZ, summary="Cases (the family contact for coordinators only)")
def cases(
    session: SessionDep,
    subject: SubjectDep,
    since: Since = None,
    until: Since = None,
    bbox: Bbox = None,
    case_id: IdQuery = None,
    status: CaseStatus | None = None,
    limit: Limit = 200,
) -> list[CaseDeskOut]:
    with _answers():
        f = _filters(since, until, bbox, case_id, None, status, limit)
        return service.list_cases(session, subject, f, utc_now())


@router.get(
    "/cases/{case_id}",
    responses=responses(AUTHZ, NOT_FOUND),
    summary="A case with its sightings, incidents and alert history",
)
def case_detail(case_id: PathId, session: SessionDep, subject: SubjectDep) -> CaseDetailOut:
    with _answers():
        return service.case_detail(session, subject, case_id, utc_now())


def _coordinator(subject: Subject) -> None:
    if subject.role is not PersonRole.COORDINATOR:
        raise HTTPException(
            403,
            f"only coordinators file and change cases; {subject.username} is {subject.role.value}",
        )


@router.post(
    "/cases",
    status_code=201,
    responses=responses(AUTHZ, BAD_BODY, CONFLICT),
    summary="File a case (coordinator); the body of POST /api/cases",
)
def file_case(body: CaseIn, session: SessionDep, subject: SubjectDep) -> CaseOut:
    _coordinator(subject)
    return create_case(body, session, Role.COORDINATOR)


@router.post(
    "/cases/{case_id}/status",
    responses=responses(AUTHZ, BAD_BODY, NOT_FOUND),
    summary="found, closed, false_report (or open): alerts stop, notices are withdrawn",
)
def case_status(
    case_id: PathId, body: StatusIn, session: SessionDep, subject: SubjectDep
) -> CaseOut:
    _coordinator(subject)
    return change_status(case_id, body, session, Role.COORDINATOR)


# --------------------------------------------------------------------------- fleet


@router.get("/devices", responses=AUTHZ, summary="The fleet; long-offline devices first")
def devices(
    session: SessionDep,
    subject: SubjectDep,
    offline_after_min: Annotated[float | None, Query(ge=0, le=100_000)] = None,
) -> list[DeviceOut]:
    minutes = offline_after_min
    if minutes is None:
        minutes = get_desk_settings().offline_after_min
    with _answers():
        return service.list_devices(session, subject, minutes * 60, utc_now())


@router.get(
    "/devices/{device_id}/dead-letters",
    responses=responses(AUTHZ, NOT_FOUND),
    summary="What a device sent that was refused",
)
def device_dead_letters(
    device_id: PathId, session: SessionDep, subject: SubjectDep
) -> list[DeadLetterDeskOut]:
    with _answers():
        return service.device_dead_letters(session, subject, device_id)


# --------------------------------------------------------------------------- map layers


class Layer(StrEnum):
    SIGHTINGS = "sightings"
    INCIDENTS = "incidents"
    ALERTS = "alerts"
    CASES = "cases"
    DEVICES = "devices"
    VOLUNTEERS = "volunteers"


@router.get(
    "/layers/{layer}",
    responses={**GEOJSON_200, **AUTHZ},
    response_model=FeatureCollection,
    summary="A map layer as a GeoJSON FeatureCollection (same filters as the lists)",
)
def layer(
    layer: Layer,
    session: SessionDep,
    subject: SubjectDep,
    since: Since = None,
    until: Since = None,
    bbox: Bbox = None,
    case_id: IdQuery = None,
    station_id: IdQuery = None,
    limit: Limit = 500,
) -> GeoJSONResponse:
    now = utc_now()
    with _answers():
        f = _filters(since, until, bbox, case_id, station_id, None, limit)
        builders: dict[Layer, Callable[[], FeatureCollection]] = {
            Layer.SIGHTINGS: lambda: geojson.sightings(service.list_sightings(session, subject, f)),
            Layer.INCIDENTS: lambda: geojson.incidents(service.list_incidents(session, subject, f)),
            Layer.ALERTS: lambda: geojson.alerts(service.list_alerts(session, subject, f, now)),
            Layer.CASES: lambda: geojson.cases(service.list_cases(session, subject, f, now)),
            Layer.DEVICES: lambda: geojson.devices(
                service.list_devices(
                    session, subject, get_desk_settings().offline_after_min * 60, now
                )
            ),
            Layer.VOLUNTEERS: lambda: geojson.volunteers(
                service.coarse_volunteers(session, subject, now)
            ),
        }
        return _geojson(builders[layer]())


# --------------------------------------------------------------------------- live


async def _changes(request: Request, subject: Subject, max_s: float | None) -> AsyncIterator[str]:
    poll_s = get_desk_settings().events_poll_s
    sessions = request.app.state.sessions

    def mark() -> str:
        with sessions() as session:
            return json.dumps(service.change_mark(session, subject), default=str)

    started = anyio.current_time()
    last = None
    yield "retry: 2000\n\n"
    while max_s is None or anyio.current_time() - started < max_s:
        if await request.is_disconnected():
            return
        current = await anyio.to_thread.run_sync(mark)
        if current != last:
            yield f"event: change\ndata: {current}\n\n"
            last = current
        await anyio.sleep(poll_s)


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "Server-sent events: `change` whenever something you can see changed",
        },
        **AUTHZ,
    },
    summary="Live updates (server-sent events)",
)
async def events(
    request: Request,
    subject: SubjectDep,
    max_s: Annotated[float | None, Query(gt=0, le=86_400)] = None,
) -> StreamingResponse:
    return StreamingResponse(
        _changes(request, subject, max_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# --------------------------------------------------------------------------- public


@public.get(
    "/notices.geojson",
    response_model=FeatureCollection,
    responses=GEOJSON_200,
    summary="Open case notices (no login): privacy-safe fields only",
)
def public_notices(session: SessionDep) -> GeoJSONResponse:
    """Title and description (phone numbers other than the relay's removed), the relay
    contact, the time last seen and a last-seen point rounded to about 100 m. Never the
    family contact, photos, sightings or the assigned volunteer."""
    rows = session.execute(
        select(Case).where(Case.status == "open").order_by(Case.created_at.desc()).limit(500)
    ).scalars()
    features = [
        Feature(
            id=c.case_id,
            geometry={
                "type": "Point",
                "coordinates": [round(c.last_seen_lon, 3), round(c.last_seen_lat, 3)],
            },
            properties={
                "case_id": c.case_id,
                "title": redact_phone_numbers(c.title, c.relay_contact),
                "description": redact_phone_numbers(c.public_description, c.relay_contact),
                "relay_contact": c.relay_contact,
                "age_band": c.age_band,
                "sex": c.sex,
                "clothing_colours": list(c.clothing_colours),
                "last_seen_at": c.last_seen_at.isoformat(),
            },
        )
        for c in rows
    ]
    return _geojson(FeatureCollection(features=features))


@public.get("/config", summary="The console's map settings (no login)")
def console_config() -> dict[str, Any]:
    s = get_desk_settings()
    return {
        "tile_url": s.tile_url,
        "tile_attribution": s.tile_attribution,
        "offline_after_min": s.offline_after_min,
    }


@public.get(
    "/metro.geojson",
    response_model=FeatureCollection,
    responses=GEOJSON_200,
    summary="The offline base map: Shanghai metro lines and stations",
)
def metro() -> GeoJSONResponse:
    return _geojson(geojson.metro())


# --------------------------------------------------------------------------- mounting


def install_desk(app: FastAPI) -> None:
    """The people and desk routers, the console at /desk/ and Leaflet from node_modules/."""
    app.include_router(people_router)
    app.include_router(router)
    app.include_router(public)
    vendor = get_desk_settings().vendor_dir / "leaflet" / "dist"
    if vendor.is_dir():
        app.mount("/desk/vendor/leaflet", StaticFiles(directory=vendor), name="desk-leaflet")

    app.mount("/desk", StaticFiles(directory=STATIC_DIR, html=True), name="desk")
